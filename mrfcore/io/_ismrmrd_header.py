"""The ISMRMRD XML header, read leniently, and the MRF schedule it may carry.

Headers from scanners and other tools often break the schema (required elements
missing, unknown elements, a namespace or none), so the XML is read with ElementTree,
never the ``ismrmrd`` package's strict parser: whatever is there is used, what is
missing is listed in :attr:`IsmrmrdHeaderInfo.missing`, and only what MRF Studio cannot
do without (a matrix and a field of view) is an error.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from mrfcore.sequences import Sequence

__all__ = [
    "IsmrmrdHeaderInfo",
    "MrfSchedule",
    "header_sequence",
    "parse_header",
    "readout_from_name",
]

# Schema-required elements a reader can live without; reported by ``mrf info``.
_OPTIONAL_IN_PRACTICE = (
    ("encoding/encodingLimits", "encodingLimits"),
    ("encoding/reconSpace", "reconSpace"),
    ("acquisitionSystemInformation", "acquisitionSystemInformation"),
    ("experimentalConditions", "experimentalConditions"),
    ("sequenceParameters", "sequenceParameters"),
)
_BALANCED_TOKENS = ("truefisp", "trufi", "bssfp", "balanced", "fiesta", "bffe", "truessfp")
_SPOILED_TOKENS = (
    "unbalanced",
    "fisp",
    "flash",
    "spgr",
    "spoiled",
    "gre",
    "ffe",
    "ssfpfid",
    "fastfield",
)


def readout_from_name(name: str | None) -> str | None:
    """``"fisp"`` or ``"bssfp"`` from a sequence-type name, None when it does not say.

    Vendor and paper names are recognised: TrueFISP, TRUFI, bSSFP, balanced SSFP,
    FIESTA, bFFE (balanced); FISP, MRF-FISP, FLASH, SPGR, spoiled GRE, FFE, SSFP-FID,
    unbalanced SSFP (spoiled).  A bare "SSFP" is ambiguous and gives None.
    """
    if not name:
        return None
    key = re.sub(r"[^a-z0-9]", "", name.lower())
    if key in ("fisp", "bssfp"):
        return key
    if "unbalanced" not in key and any(token in key for token in _BALANCED_TOKENS):
        return "bssfp"
    if any(token in key for token in _SPOILED_TOKENS):
        return "fisp"
    return None


@dataclass
class MrfSchedule:
    """The schedule lists as the header gives them (before matching the frame count)."""

    tr_ms: list[float]
    te_ms: list[float]
    ti_ms: list[float]
    flip_angle_deg: list[float]
    sequence_type: str | None
    phase_deg: list[float] | None = None
    readout: str | None = None
    name: str | None = None
    description: str = ""


@dataclass
class IsmrmrdHeaderInfo:
    """What MRF Studio reads from an ISMRMRD XML header.

    Attributes
    ----------
    matrix, fov_mm
        Recon-space matrix (x, y, z) and field of view in mm (x, y, z); the encoded
        space's when the header has no reconSpace.
    encoded_matrix, encoded_fov_mm
        Encoded-space matrix and field of view (the recon space's when absent).
    trajectory_type
        The encoding's trajectory (``"spiral"``, ``"radial"``, ``"cartesian"``, ...).
    trajectory_parameters
        The trajectoryDescription's identifier and user parameters.
    n_coils, field_strength_t
        From acquisitionSystemInformation (None when absent).
    schedule
        The MRF schedule from sequenceParameters, None when there is none.
    user_parameters
        userParameters by name (Long/Double as numbers, String as text).
    encoding_limits
        Counter name → {"minimum", "maximum", "center"} from encodingLimits.
    missing
        Schema-required elements the header lacks but the reader did without.
    n_encodings
        Number of encodings in the header (the first is used).
    xml
        The header text.
    """

    matrix: tuple[int, int, int]
    fov_mm: tuple[float, float, float]
    encoded_matrix: tuple[int, int, int]
    encoded_fov_mm: tuple[float, float, float]
    trajectory_type: str
    trajectory_parameters: dict[str, Any] = field(default_factory=dict)
    n_coils: int | None = None
    field_strength_t: float | None = None
    schedule: MrfSchedule | None = None
    user_parameters: dict[str, Any] = field(default_factory=dict)
    protocol_name: str | None = None
    encoding_limits: dict[str, dict[str, int]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    n_encodings: int = 1
    xml: str = ""


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(element: ElementTree.Element | None, name: str) -> ElementTree.Element | None:
    if element is None:
        return None
    for child in element:
        if _local(child.tag) == name:
            return child
    return None


def _children(element: ElementTree.Element | None, name: str) -> list[ElementTree.Element]:
    if element is None:
        return []
    return [child for child in element if _local(child.tag) == name]


def _text(element: ElementTree.Element | None, name: str) -> str | None:
    child = _child(element, name)
    return None if child is None or child.text is None else child.text.strip()


def _number(text: str | None, name: str, source: str, kind: type = float) -> Any:
    if text is None or text == "":
        return None
    try:
        return kind(float(text)) if kind is int else kind(text)
    except ValueError:
        raise ValueError(f"{source}: header value {name} = {text!r} is not a number") from None


def _floats(element: ElementTree.Element | None, name: str, source: str) -> list[float]:
    values = []
    for child in _children(element, name):
        # Some writers put a whole list in one element, space-separated.
        for part in (child.text or "").split():
            values.append(_number(part, name, source))
    return values


def _user_parameters(element: ElementTree.Element | None, source: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for kind, convert in (
        ("userParameterLong", int),
        ("userParameterDouble", float),
        ("userParameterString", str),
        ("userParameterBase64", str),
    ):
        for item in _children(element, kind):
            name, value = _text(item, "name"), _text(item, "value")
            if name is None:
                continue
            if convert is str or value is None:
                values[name] = value
            else:
                values[name] = _number(value, name, source, convert)
    return values


def _space(encoding: ElementTree.Element | None, name: str, source: str):
    """(matrix, fov) of an encoding space, None when the header lacks it."""
    space = _child(encoding, name)
    matrix_element = _child(space, "matrixSize")
    fov_element = _child(space, "fieldOfView_mm")
    if matrix_element is None or fov_element is None:
        return None
    matrix = tuple(
        _number(_text(matrix_element, axis), f"{name} matrixSize {axis}", source, int) or 1
        for axis in "xyz"
    )
    fov = tuple(
        _number(_text(fov_element, axis), f"{name} fieldOfView_mm {axis}", source) or 0.0
        for axis in "xyz"
    )
    return matrix, fov


def _limits(encoding: ElementTree.Element | None, source: str) -> dict[str, dict[str, int]]:
    limits: dict[str, dict[str, int]] = {}
    element_list = _child(encoding, "encodingLimits")
    for element in [] if element_list is None else list(element_list):
        values = {
            key: _number(_text(element, key), f"encodingLimits {key}", source, int)
            for key in ("minimum", "maximum", "center")
        }
        limits[_local(element.tag)] = {k: v for k, v in values.items() if v is not None}
    return limits


def _schedule(root, user: dict[str, Any], source: str) -> MrfSchedule | None:
    element = _child(root, "sequenceParameters")
    flips = _floats(element, "flipAngle_deg", source)
    if element is None or not flips:
        return None
    phases = user.get("mrf_rf_phase_deg")
    try:
        phase_list = None if phases is None else [float(v) for v in str(phases).split()]
    except ValueError:
        raise ValueError(f"{source}: mrf_rf_phase_deg is not a list of numbers") from None
    return MrfSchedule(
        tr_ms=_floats(element, "TR", source),
        te_ms=_floats(element, "TE", source),
        ti_ms=_floats(element, "TI", source),
        flip_angle_deg=flips,
        sequence_type=_text(element, "sequence_type"),
        phase_deg=phase_list,
        readout=user.get("mrf_readout"),
        name=user.get("mrf_sequence_name")
        or _text(_child(root, "measurementInformation"), "sequenceName"),
        description=str(user.get("mrf_sequence_description") or ""),
    )


def parse_header(xml: str | bytes, source: str = "ISMRMRD header") -> IsmrmrdHeaderInfo:
    """Parse an ISMRMRD XML header leniently (unknown elements ignored, most missing
    elements tolerated and listed in ``missing``).

    Raises
    ------
    ValueError
        Naming ``source`` when the XML is malformed, has no encoding, or gives neither
        the encoded nor the recon matrix with its field of view.
    """
    text = xml.decode("utf-8", errors="replace") if isinstance(xml, bytes) else str(xml)
    text = text.strip("\x00 \r\n\t")
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as error:
        raise ValueError(f"{source}: the ISMRMRD header is not valid XML ({error})") from None
    encodings = _children(root, "encoding")
    if not encodings:
        raise ValueError(f"{source}: the ISMRMRD header has no encoding section")
    encoding = encodings[0]
    encoded = _space(encoding, "encodedSpace", source)
    recon = _space(encoding, "reconSpace", source)
    if encoded is None and recon is None:
        raise ValueError(
            f"{source}: the header's encoding gives neither an encodedSpace nor a reconSpace "
            "with matrixSize and fieldOfView_mm, so the image size is unknown"
        )
    missing = [name for path, name in _OPTIONAL_IN_PRACTICE if root.find(_any_ns(path)) is None]
    if encoded is None:
        missing.append("encodedSpace")
    encoded_matrix, encoded_fov = encoded or recon  # type: ignore[misc]
    matrix, fov = recon or encoded  # type: ignore[misc]
    description = _child(encoding, "trajectoryDescription")
    trajectory_parameters = _user_parameters(description, source)
    if description is not None:
        trajectory_parameters["identifier"] = _text(description, "identifier")
        comment = _text(description, "comment")
        if comment:
            trajectory_parameters["comment"] = comment
    system = _child(root, "acquisitionSystemInformation")
    channels = _number(_text(system, "receiverChannels"), "receiverChannels", source, int)
    field_strength = _number(_text(system, "systemFieldStrength_T"), "field strength", source)
    user = _user_parameters(_child(root, "userParameters"), source)
    schedule = _schedule(root, user, source)
    if _child(root, "sequenceParameters") is not None and schedule is None:
        missing.append("sequenceParameters/flipAngle_deg")
    return IsmrmrdHeaderInfo(
        matrix=matrix,
        fov_mm=fov,
        encoded_matrix=encoded_matrix,
        encoded_fov_mm=encoded_fov,
        trajectory_type=(_text(encoding, "trajectory") or "other").lower(),
        trajectory_parameters=trajectory_parameters,
        n_coils=channels,
        field_strength_t=field_strength,
        schedule=schedule,
        user_parameters=user,
        protocol_name=_text(_child(root, "measurementInformation"), "protocolName"),
        encoding_limits=_limits(encoding, source),
        missing=missing,
        n_encodings=len(encodings),
        xml=text,
    )


def _any_ns(path: str) -> str:
    return "/".join(f"{{*}}{part}" for part in path.split("/"))


def _readout_kind(schedule: MrfSchedule, source: str) -> str:
    if schedule.readout in ("fisp", "bssfp"):
        return schedule.readout
    kind = readout_from_name(schedule.sequence_type)
    if kind is not None:
        return kind
    said = (
        f"sequence_type {schedule.sequence_type!r} does not say"
        if schedule.sequence_type
        else "sequenceParameters have no sequence_type to say"
    )
    raise ValueError(
        f"{source}: the header's {said} whether the readout is spoiled (FISP) or balanced "
        "(bSSFP/TrueFISP); name a sequence (a built-in or a schedule file)"
    )


def _inversion_time(
    schedule: MrfSchedule, tr_ms: np.ndarray, n_frames: int, source: str
) -> float | None:
    """The one inversion time: TI as one value, the same for every frame, or per frame
    counted from one inversion (TI[t] = TI[0] + TR[0] + … + TR[t-1])."""
    values = np.asarray(schedule.ti_ms, dtype=np.float64)
    if values.size == 0:
        return None
    if values.size == 1 or np.allclose(values, values[0], atol=1e-3):
        return float(values[0])
    if values.size == n_frames:
        since_first = values[0] + np.concatenate([[0.0], np.cumsum(tr_ms)[:-1]])
        if np.allclose(values, since_first, atol=1e-3, rtol=1e-6):
            return float(values[0])
        raise ValueError(
            f"{source}: the header gives {n_frames} different inversion times that are not "
            "one inversion followed by the TRs; MRF Studio handles one inversion before "
            "the first frame"
        )
    raise ValueError(
        f"{source}: the header gives {values.size} TI values but the data has {n_frames} "
        f"frames (expected 1 or {n_frames})"
    )


def header_sequence(info: IsmrmrdHeaderInfo, n_frames: int, source: str) -> Sequence:
    """The MRF schedule of a header as a :class:`~mrfcore.sequences.Sequence`.

    TR, TE and TI may be single values (the same for every frame) or one per frame;
    flip angles must be given per frame.  The readout comes from ``mrf_readout`` or
    from ``sequence_type`` (see :func:`readout_from_name`).

    Raises
    ------
    ValueError
        Naming ``source``: no schedule, a list whose length is neither 1 nor the number
        of frames (both numbers are given), an unknown readout, invalid values.
    """
    from mrfcore.sequences import Sequence

    schedule = info.schedule
    if schedule is None:
        raise ValueError(
            f"{source}: no MRF schedule in the header; name a sequence (a built-in or a "
            "schedule file): the header has no sequenceParameters with flip angles"
        )

    def per_frame(values: list[float], name: str, constant_ok: bool) -> np.ndarray:
        if len(values) == n_frames:
            return np.asarray(values, dtype=np.float64)
        if constant_ok and len(values) == 1:
            return np.full(n_frames, values[0])
        if not values:
            raise ValueError(f"{source}: the header's sequenceParameters have no {name}")
        expected = f"{n_frames}" + (" (or 1)" if constant_ok else "")
        raise ValueError(
            f"{source}: the header gives {len(values)} {name} values but the data has "
            f"{n_frames} frames (expected {expected}); name a sequence"
        )

    flips = per_frame(schedule.flip_angle_deg, "flipAngle_deg", constant_ok=False)
    tr = per_frame(schedule.tr_ms, "TR", constant_ok=True)
    te = per_frame(schedule.te_ms, "TE", constant_ok=True)
    phase = (
        None
        if schedule.phase_deg is None
        else per_frame(schedule.phase_deg, "mrf_rf_phase_deg", constant_ok=True)
    )
    ti = _inversion_time(schedule, tr, n_frames, source)
    readout = _readout_kind(schedule, source)
    try:
        return Sequence(
            flip_angle_deg=flips,
            tr_ms=tr,
            te_ms=te,
            phase_deg=phase,
            readout=readout,
            ti_ms=ti,
            name=schedule.name or info.protocol_name or Path(source).stem,
            description=schedule.description,
        )
    except ValueError as error:
        raise ValueError(f"{source}: the header's MRF schedule is invalid: {error}") from None
