"""ISMRMRD (HDF5) raw data: MRF Studio's one raw format, read and written.

Layout written by :func:`write_ismrmrd` (and what :func:`read_ismrmrd` expects)
---------------------------------------------------------------------------------
``/dataset/xml``
    The ISMRMRD XML header (built with the ``ismrmrd`` package's own schema classes):

    - ``encoding``: encoded = recon space, matrix (N, N, 1) and field of view (mm);
      trajectory type (spiral / radial / cartesian) and a ``trajectoryDescription``
      with the design parameters; encoding limits of ``kspace_encoding_step_1``
      (interleaf) and ``repetition`` (frame).
    - ``acquisitionSystemInformation``: field strength, ``receiverChannels`` = coils.
    - ``sequenceParameters``, the MRF schedule, one value per frame: ``TR``, ``TE``
      (ms), ``flipAngle_deg``; ``TI`` (ms) holds the one inversion time when there is an
      inversion and is absent otherwise; ``sequence_type`` is ``"FISP"`` (spoiled) or
      ``"TrueFISP"`` (balanced).  A reader of other files accepts one TR or TE for all
      frames, never one flip angle.
    - ``userParameters``: ``trajectory_units`` = ``"cycles/FOV"`` (k in units of 1/FOV,
      the edge of the matrix at ±N/2); ``mrf_readout`` (``fisp``/``bssfp``),
      ``mrf_rf_phase_deg`` (the RF phase of every frame, space-separated: the schema has
      no per-frame phase), ``mrf_sequence_name``, ``mrf_sequence_description``,
      ``mrf_frame_counter`` = ``repetition``, ``mrf_interleaf_counter`` =
      ``kspace_encode_step_1``.

``/dataset/data``
    One acquisition per (frame, interleaf), all coils in it, in frame-major order:
    ``idx.repetition`` = frame, ``idx.kspace_encode_step_1`` = interleaf; the trajectory
    (readout, 2) in cycles/FOV; FIRST/LAST_IN_REPETITION and LAST_IN_MEASUREMENT flags;
    ``acquisition_time_stamp`` in the usual 2.5 ms ticks from the start of the schedule.
    Simulated scans with noise start with one noise-only readout flagged
    ACQ_IS_NOISE_MEASUREMENT.  The compound dataset is written in one go with h5py in
    the exact on-disk type of the ``ismrmrd`` package, whose ``Dataset``/``File``
    readers open it (tested); appending acquisition by acquisition was far slower.

``/dataset/mrf_studio/ground_truth`` (simulated scans)
    ``t1_ms``, ``t2_ms``, ``pd``, ``labels`` (x, y) and the attribute ``label_names``
    (JSON).  ``/dataset/mrf_studio/simulation`` holds the true ``coil_sensitivities``,
    the ``b1_map`` when used, and the attribute ``parameters`` (JSON: SNR, noise SD,
    seed, phantom, trajectory design, recipe).

The reader is in two parts so it can grow to scanners' files: :func:`parse_header`
turns the XML into an :class:`IsmrmrdHeaderInfo` (tolerant ElementTree parsing, no
schema strictness), and the acquisition reader honours noise/calibration flags,
``discard_pre``/``discard_post`` and the frame/interleaf counters the header names.
Trajectory units ``cycles/FOV``, ``normalized`` (±0.5) and ``radians`` (±π) are
understood; without a ``trajectory_units`` parameter they are detected from max |k|.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mrfcore.data import Geometry, GroundTruth, KSpaceData
from mrfcore.io.atomic import atomic_path

if TYPE_CHECKING:
    from mrfcore.sequences import Sequence

__all__ = [
    "IsmrmrdHeaderInfo",
    "MrfSchedule",
    "is_ismrmrd",
    "parse_header",
    "read_header",
    "read_ismrmrd",
    "write_ismrmrd",
]

TRAJECTORY_UNITS = "cycles/FOV"
STUDIO_GROUP = "mrf_studio"
_GYROMAGNETIC_HZ_PER_T = 42.577478e6
_TICK_MS = 2.5  # ISMRMRD time stamps count 2.5 ms ticks by convention

# Acquisition flags (ISMRMRD bit numbers, 1-based as in ismrmrd.constants).
_FIRST_IN_REPETITION = 13
_LAST_IN_REPETITION = 14
_NOISE = 19
_LAST_IN_MEASUREMENT = 25
_NOT_IMAGING = (19, 20, 23, 24, 26, 27, 28, 29, 30, 31)  # noise, calibration, navigators …

_COUNTERS = (
    "kspace_encode_step_1",
    "kspace_encode_step_2",
    "average",
    "slice",
    "contrast",
    "phase",
    "repetition",
    "set",
    "segment",
)
_BALANCED_NAMES = {"truefisp", "trufi", "bssfp", "ssfp", "balanced", "fiesta", "bffe"}
_SPOILED_NAMES = {"fisp", "mrf-fisp", "spoiled", "flash", "gre", "spgr", "ffe"}


def _flag(bit: int) -> int:
    return 1 << (bit - 1)


# ============================================================================ header


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
        Recon-space matrix (x, y, z) and field of view in mm (x, y, z).
    encoded_matrix, encoded_fov_mm
        Encoded-space matrix and field of view.
    trajectory_type
        The encoding's trajectory (``"spiral"``, ``"radial"``, ...).
    trajectory_parameters
        The trajectoryDescription's identifier and user parameters.
    n_coils, field_strength_t
        From acquisitionSystemInformation (None when absent).
    schedule
        The MRF schedule from sequenceParameters, None when there is none.
    user_parameters
        userParameters by name (Long/Double as numbers, String as text).
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


def _floats(element: ElementTree.Element | None, name: str, source: str) -> list[float]:
    values = []
    for child in _children(element, name):
        try:
            values.append(float(child.text))
        except (TypeError, ValueError):
            raise ValueError(
                f"{source}: header value {name} = {child.text!r} is not a number"
            ) from None
    return values


def _user_parameters(element: ElementTree.Element | None, source: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for kind, convert in (
        ("userParameterLong", int),
        ("userParameterDouble", float),
        ("userParameterString", str),
    ):
        for item in _children(element, kind):
            name, value = _text(item, "name"), _text(item, "value")
            if name is None:
                continue
            try:
                values[name] = convert(value) if value is not None else None
            except ValueError:
                raise ValueError(
                    f"{source}: header parameter {name} = {value!r} is not a {kind[13:]}"
                ) from None
    return values


def _space(encoding: ElementTree.Element | None, name: str, source: str):
    space = _child(encoding, name)
    matrix_element = _child(space, "matrixSize")
    fov_element = _child(space, "fieldOfView_mm")
    if matrix_element is None or fov_element is None:
        raise ValueError(f"{source}: the header's encoding has no {name} matrix and FOV")
    try:
        matrix = tuple(int(_text(matrix_element, axis) or 1) for axis in "xyz")
        fov = tuple(float(_text(fov_element, axis) or 0) for axis in "xyz")
    except ValueError:
        raise ValueError(f"{source}: the header's {name} matrix or FOV is not numeric") from None
    return matrix, fov


def parse_header(xml: str | bytes, source: str = "ISMRMRD header") -> IsmrmrdHeaderInfo:
    """Parse an ISMRMRD XML header (tolerant of unknown elements).

    Raises
    ------
    ValueError
        Naming ``source`` when the XML is malformed or lacks the encoding.
    """
    text = xml.decode("utf-8", errors="replace") if isinstance(xml, bytes) else str(xml)
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as error:
        raise ValueError(f"{source}: the ISMRMRD header is not valid XML ({error})") from None
    encodings = _children(root, "encoding")
    if not encodings:
        raise ValueError(f"{source}: the ISMRMRD header has no encoding section")
    encoding = encodings[0]
    encoded_matrix, encoded_fov = _space(encoding, "encodedSpace", source)
    recon = _child(encoding, "reconSpace")
    matrix, fov = (
        _space(encoding, "reconSpace", source)
        if recon is not None
        else (encoded_matrix, encoded_fov)
    )
    description = _child(encoding, "trajectoryDescription")
    trajectory_parameters = _user_parameters(description, source)
    if description is not None:
        trajectory_parameters["identifier"] = _text(description, "identifier")
        comment = _text(description, "comment")
        if comment:
            trajectory_parameters["comment"] = comment
    system = _child(root, "acquisitionSystemInformation")
    channels = _text(system, "receiverChannels")
    field_text = _text(system, "systemFieldStrength_T")
    user = _user_parameters(_child(root, "userParameters"), source)

    schedule = None
    sequence_element = _child(root, "sequenceParameters")
    if sequence_element is not None:
        flips = _floats(sequence_element, "flipAngle_deg", source)
        if flips:
            phases = user.get("mrf_rf_phase_deg")
            try:
                phase_list = None if phases is None else [float(v) for v in str(phases).split()]
            except ValueError:
                raise ValueError(f"{source}: mrf_rf_phase_deg is not a list of numbers") from None
            schedule = MrfSchedule(
                tr_ms=_floats(sequence_element, "TR", source),
                te_ms=_floats(sequence_element, "TE", source),
                ti_ms=_floats(sequence_element, "TI", source),
                flip_angle_deg=flips,
                sequence_type=_text(sequence_element, "sequence_type"),
                phase_deg=phase_list,
                readout=user.get("mrf_readout"),
                name=user.get("mrf_sequence_name")
                or _text(_child(root, "measurementInformation"), "sequenceName"),
                description=str(user.get("mrf_sequence_description", "")),
            )
    return IsmrmrdHeaderInfo(
        matrix=matrix,  # type: ignore[arg-type]
        fov_mm=fov,  # type: ignore[arg-type]
        encoded_matrix=encoded_matrix,  # type: ignore[arg-type]
        encoded_fov_mm=encoded_fov,  # type: ignore[arg-type]
        trajectory_type=_text(encoding, "trajectory") or "other",
        trajectory_parameters=trajectory_parameters,
        n_coils=int(channels) if channels else None,
        field_strength_t=float(field_text) if field_text else None,
        schedule=schedule,
        user_parameters=user,
        protocol_name=_text(_child(root, "measurementInformation"), "protocolName"),
        xml=text,
    )


def _readout_kind(schedule: MrfSchedule, source: str) -> str:
    if schedule.readout in ("fisp", "bssfp"):
        return schedule.readout
    kind = (schedule.sequence_type or "").strip().lower()
    if kind in _BALANCED_NAMES:
        return "bssfp"
    if kind in _SPOILED_NAMES:
        return "fisp"
    raise ValueError(
        f"{source}: the header's sequence_type {schedule.sequence_type!r} does not say "
        "whether the readout is spoiled (FISP) or balanced (TrueFISP); name a sequence"
    )


def header_sequence(info: IsmrmrdHeaderInfo, n_frames: int, source: str) -> Sequence:
    """The MRF schedule of a header as a :class:`~mrfcore.sequences.Sequence`.

    TR and TE may be single values (constant); flip angles must be given per frame.
    """
    from mrfcore.sequences import Sequence

    schedule = info.schedule
    if schedule is None:
        raise ValueError(f"{source}: no MRF schedule in the header; name a sequence")

    def per_frame(values: list[float], name: str, constant_ok: bool) -> np.ndarray:
        if len(values) == n_frames:
            return np.asarray(values, dtype=np.float64)
        if constant_ok and len(values) == 1:
            return np.full(n_frames, values[0])
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
    if len(set(schedule.ti_ms)) > 1:
        raise ValueError(
            f"{source}: the header gives several inversion times {schedule.ti_ms}; "
            "MRF Studio handles one inversion before the first frame"
        )
    try:
        return Sequence(
            flip_angle_deg=flips,
            tr_ms=tr,
            te_ms=te,
            phase_deg=phase,
            readout=_readout_kind(schedule, source),
            ti_ms=schedule.ti_ms[0] if schedule.ti_ms else None,
            name=schedule.name or info.protocol_name or Path(source).stem,
            description=schedule.description,
        )
    except ValueError as error:
        raise ValueError(f"{source}: the header's MRF schedule is invalid: {error}") from None


# ============================================================================ reading


def is_ismrmrd(path: str | Path, dataset: str = "dataset") -> bool:
    """True when ``path`` is an HDF5 file with an ISMRMRD header in ``dataset``."""
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            return f"{dataset}/xml" in handle
    except OSError:
        return False


def _open(path: Path):
    import h5py

    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        return h5py.File(path, "r")
    except OSError as error:
        raise ValueError(f"{path}: not an HDF5 (ISMRMRD) file ({error})") from None


def _header_xml(handle, dataset: str, source: str) -> bytes:
    if dataset not in handle:
        raise ValueError(
            f"{source}: no ISMRMRD dataset group '/{dataset}' (groups: {sorted(handle)})"
        )
    group = handle[dataset]
    if "xml" not in group:
        raise ValueError(f"{source}: no ISMRMRD header ('/{dataset}/xml')")
    value = group["xml"][0]
    return value if isinstance(value, bytes) else str(value).encode()


def read_header(path: str | Path, dataset: str = "dataset") -> IsmrmrdHeaderInfo:
    """Parse the header of an ISMRMRD file without reading its acquisitions."""
    path = Path(path)
    with _open(path) as handle:
        return parse_header(_header_xml(handle, dataset, str(path)), str(path))


def _trajectory_scale(
    trajectory: np.ndarray, info: IsmrmrdHeaderInfo, source: str
) -> tuple[np.ndarray, str, str]:
    """Trajectory in cycles per recon FOV, the units found and where they came from."""
    units = info.user_parameters.get("trajectory_units")
    origin = "header"
    encoded = np.asarray(info.encoded_matrix[:2], dtype=np.float64)
    if units is None:
        # Detect from the extent: ±0.5 is normalised, ±π radians, else cycles/FOV.
        extent = float(np.abs(trajectory).max()) if trajectory.size else 0.0
        half = encoded.max() / 2
        origin = "detected"
        if extent <= 0.5 + 1e-3:
            units = "normalized"
        elif abs(extent - np.pi) < 0.05 and half > 4:
            units = "radians"
        elif 0.25 * half <= extent <= 1.05 * half:
            units = TRAJECTORY_UNITS
        else:
            raise ValueError(
                f"{source}: cannot tell the trajectory units (max |k| = {extent:g} for a "
                f"{info.encoded_matrix[0]}-point matrix) and the header names none "
                "(userParameterString 'trajectory_units')"
            )
    scale = {
        TRAJECTORY_UNITS: np.ones(2),
        "normalized": encoded,
        "radians": encoded / (2 * np.pi),
    }.get(str(units))
    if scale is None:
        raise ValueError(
            f"{source}: unknown trajectory_units {units!r} "
            f"(known: {TRAJECTORY_UNITS}, normalized, radians)"
        )
    # cycles per encoded FOV → cycles per recon FOV.
    ratio = np.asarray(info.fov_mm[:2]) / np.asarray(info.encoded_fov_mm[:2])
    return (trajectory * (scale * ratio)).astype(np.float32), str(units), origin


def _read_acquisitions(group, info: IsmrmrdHeaderInfo, source: str) -> dict[str, Any]:
    if "data" not in group:
        raise ValueError(f"{source}: the file has no acquisitions ('/data')")
    raw = group["data"][()]
    if raw.size == 0:
        raise ValueError(f"{source}: the file has no acquisitions")
    head = raw["head"]
    flags = head["flags"].astype(np.uint64)
    not_imaging = np.uint64(sum(_flag(bit) for bit in _NOT_IMAGING))
    imaging = np.flatnonzero((flags & not_imaging) == 0)
    noise = np.flatnonzero((flags & np.uint64(_flag(_NOISE))) != 0)
    if imaging.size == 0:
        raise ValueError(f"{source}: the file has no imaging acquisitions")

    frame_counter = str(info.user_parameters.get("mrf_frame_counter", "repetition"))
    interleaf_counter = str(
        info.user_parameters.get("mrf_interleaf_counter", "kspace_encode_step_1")
    )
    for counter in (frame_counter, interleaf_counter):
        if counter not in _COUNTERS:
            raise ValueError(f"{source}: unknown acquisition counter {counter!r} in the header")
    frames = head["idx"][frame_counter][imaging].astype(np.int64)
    slots = head["idx"][interleaf_counter][imaging].astype(np.int64)

    def uniform(name: str) -> int:
        values = np.unique(head[name][imaging])
        if values.size != 1:
            raise ValueError(
                f"{source}: acquisitions differ in {name} ({values.tolist()[:5]}); "
                "MRF Studio needs the same for every readout"
            )
        return int(values[0])

    n_samples, n_channels = uniform("number_of_samples"), uniform("active_channels")
    n_dims = uniform("trajectory_dimensions")
    discard_pre, discard_post = uniform("discard_pre"), uniform("discard_post")
    if n_dims != 2:
        raise ValueError(
            f"{source}: trajectories have {n_dims} dimensions; only 2D non-Cartesian MRF "
            "(2 trajectory dimensions) is supported so far"
        )
    n_readout = n_samples - discard_pre - discard_post
    if n_readout <= 0:
        raise ValueError(f"{source}: discard_pre/discard_post leave no samples")
    n_frames, n_interleaves = int(frames.max()) + 1, int(slots.max()) + 1
    filled = np.zeros((n_frames, n_interleaves), dtype=np.int64)
    np.add.at(filled, (frames, slots), 1)
    if np.any(filled != 1):
        frame, slot = np.argwhere(filled != 1)[0]
        count = filled[frame, slot]
        raise ValueError(
            f"{source}: frame {frame} ({frame_counter}) interleaf {slot} "
            f"({interleaf_counter}) has {count} acquisitions, expected exactly 1 "
            f"(data for {n_frames} frames × {n_interleaves} interleaves)"
        )
    samples = np.empty((n_channels, n_frames, n_interleaves, n_readout), dtype=np.complex64)
    trajectory = np.empty((n_frames, n_interleaves, n_readout, 2), dtype=np.float32)
    keep = slice(discard_pre, n_samples - discard_post)
    for index, frame, slot in zip(imaging, frames, slots, strict=True):
        data = np.asarray(raw["data"][index], dtype=np.float32)
        traj = np.asarray(raw["traj"][index], dtype=np.float32)
        if data.size != 2 * n_channels * n_samples or traj.size != n_dims * n_samples:
            raise ValueError(f"{source}: acquisition {index} holds the wrong number of values")
        samples[:, frame, slot] = data.view(np.complex64).reshape(n_channels, n_samples)[:, keep]
        trajectory[frame, slot] = traj.reshape(n_samples, n_dims)[keep]
    # Noise readouts with the imaging channel count, side by side: (channels, samples).
    noise_blocks = [
        np.asarray(raw["data"][i], np.float32).view(np.complex64).reshape(n_channels, -1)
        for i in noise
        if int(head["active_channels"][i]) == n_channels
    ]
    noise_samples = np.concatenate(noise_blocks, axis=1) if noise_blocks else None
    return {
        "samples": samples,
        "trajectory": trajectory,
        "noise_samples": noise_samples,
        "n_noise_acquisitions": int(noise.size),
        "skipped_acquisitions": int(raw.size - imaging.size),
        "sample_time_us": float(np.median(head["sample_time_us"][imaging])),
    }


def _read_studio_group(group, source: str) -> tuple[GroundTruth | None, dict[str, Any]]:
    if STUDIO_GROUP not in group:
        return None, {}
    studio = group[STUDIO_GROUP]
    truth = None
    extra: dict[str, Any] = {}
    if "ground_truth" in studio:
        node = studio["ground_truth"]
        missing = [n for n in ("t1_ms", "t2_ms", "pd", "labels") if n not in node]
        if missing:
            raise ValueError(f"{source}: the ground-truth group lacks {missing}")
        names = json.loads(node.attrs.get("label_names", "{}"))
        truth = GroundTruth(
            t1_ms=node["t1_ms"][()],
            t2_ms=node["t2_ms"][()],
            pd=node["pd"][()],
            labels=node["labels"][()],
            label_names={int(k): v for k, v in names.items()},
        )
    if "simulation" in studio:
        node = studio["simulation"]
        extra["simulation"] = json.loads(node.attrs.get("parameters", "{}"))
        for name in ("coil_sensitivities", "b1_map"):
            if name in node:
                extra[name] = node[name][()]
    return truth, extra


def read_ismrmrd(
    path: str | Path, sequence: Sequence | None = None, dataset: str = "dataset"
) -> KSpaceData:
    """Read MRF raw data from an ISMRMRD file.

    Parameters
    ----------
    path
        The .h5 file.
    sequence
        The MRF schedule, when the header has none (or to override it).
    dataset
        HDF5 group of the ISMRMRD dataset.

    Returns
    -------
    KSpaceData
        samples (coils, frames, interleaves, readout), trajectory in cycles/FOV of the
        recon matrix, the sequence, geometry (recon matrix and FOV, centred), ground
        truth when the file has it, ``source``; ``metadata`` holds the parsed
        ``header`` (:class:`IsmrmrdHeaderInfo`), ``trajectory_type``,
        ``trajectory_units`` (+ ``trajectory_units_source``), ``noise_samples``,
        ``field_strength_t``, and for simulated scans ``simulation``,
        ``coil_sensitivities``, ``b1_map``.

    Raises
    ------
    ValueError
        Naming the file and what it cannot interpret.
    """
    path = Path(path)
    source = str(path)
    with _open(path) as handle:
        info = parse_header(_header_xml(handle, dataset, source), source)
        group = handle[dataset]
        acquisitions = _read_acquisitions(group, info, source)
        truth, extra = _read_studio_group(group, source)
    samples = acquisitions["samples"]
    n_frames = samples.shape[1]
    if info.matrix[2] > 1:
        raise ValueError(f"{source}: 3D encodings ({info.matrix}) are not supported yet")
    if sequence is None:
        sequence = header_sequence(info, n_frames, source)
    elif sequence.n_frames != n_frames:
        raise ValueError(
            f"{source}: the data has {n_frames} frames but sequence '{sequence.name}' has "
            f"{sequence.n_frames}"
        )
    trajectory, units, units_source = _trajectory_scale(acquisitions["trajectory"], info, source)
    matrix = info.matrix[:2]
    voxel = tuple(f / n for f, n in zip(info.fov_mm[:2], matrix, strict=True))
    if not all(v > 0 for v in voxel):
        raise ValueError(f"{source}: the header's field of view {info.fov_mm} is not positive")
    geometry = Geometry(matrix=matrix, voxel_size_mm=voxel)
    if info.fov_mm[2] > 0:
        geometry.affine[2, 2] = info.fov_mm[2]  # slice thickness
    if truth is not None and truth.t1_ms.shape != tuple(matrix):
        raise ValueError(
            f"{source}: the ground truth has shape {truth.t1_ms.shape}, the matrix is {matrix}"
        )
    if info.n_coils is not None and info.n_coils != samples.shape[0]:
        extra["header_receiver_channels"] = info.n_coils
    metadata = {
        "format": "ISMRMRD",
        "header": info,
        "trajectory_type": info.trajectory_type,
        "trajectory_parameters": info.trajectory_parameters,
        "trajectory_units": units,
        "trajectory_units_source": units_source,
        "field_strength_t": info.field_strength_t,
        "noise_samples": acquisitions["noise_samples"],
        "n_noise_acquisitions": acquisitions["n_noise_acquisitions"],
        "skipped_acquisitions": acquisitions["skipped_acquisitions"],
        "sample_time_us": acquisitions["sample_time_us"],
        **extra,
    }
    return KSpaceData(
        samples=samples,
        trajectory=trajectory,
        sequence=sequence,
        geometry=geometry,
        ground_truth=truth,
        source=source,
        metadata=metadata,
    )


# ============================================================================ writing


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _sequence_type(sequence: Sequence) -> str:
    return "TrueFISP" if sequence.readout == "bssfp" else "FISP"


def _build_header(data: KSpaceData) -> str:
    from ismrmrd import xsd

    sequence = data.sequence
    matrix = data.geometry.matrix
    fov = data.geometry.fov_mm
    slice_mm = float(abs(data.geometry.affine[2, 2]))
    info = dict(data.metadata.get("trajectory") or {})
    kind = str(info.get("kind", data.metadata.get("trajectory_type", "other")))
    field = data.metadata.get("field_strength_t") or 1.5

    def space() -> Any:
        return xsd.encodingSpaceType(
            matrixSize=xsd.matrixSizeType(x=matrix[0], y=matrix[1], z=1),
            fieldOfView_mm=xsd.fieldOfViewMm(x=fov[0], y=fov[1], z=slice_mm),
        )

    def string(name: str, value: Any) -> Any:
        return xsd.userParameterStringType(name=name, value=str(value))

    numbers_long, numbers_double, strings = [], [], []
    for name, value in info.items():
        if name == "kind" or value is None:
            continue
        if isinstance(value, bool | str):
            strings.append(string(name, value))
        elif isinstance(value, int | np.integer):
            numbers_long.append(xsd.userParameterLongType(name=name, value=int(value)))
        elif isinstance(value, float | np.floating):
            numbers_double.append(xsd.userParameterDoubleType(name=name, value=float(value)))
    trajectory_type = {
        "spiral": xsd.trajectoryType.SPIRAL,
        "radial": xsd.trajectoryType.RADIAL,
        "cartesian": xsd.trajectoryType.CARTESIAN,
    }.get(kind, xsd.trajectoryType.OTHER)
    encoding = xsd.encodingType(
        encodedSpace=space(),
        reconSpace=space(),
        encodingLimits=xsd.encodingLimitsType(
            kspace_encoding_step_1=xsd.limitType(
                minimum=0, maximum=data.n_interleaves - 1, center=0
            ),
            repetition=xsd.limitType(minimum=0, maximum=data.n_frames - 1, center=0),
        ),
        trajectory=trajectory_type,
        trajectoryDescription=xsd.trajectoryDescriptionType(
            identifier=f"mrf-studio {kind}",
            userParameterLong=numbers_long,
            userParameterDouble=numbers_double,
            userParameterString=strings,
            comment="k-space coordinates in cycles/FOV: the matrix edge is at ±N/2",
        ),
    )
    user = xsd.userParametersType(
        userParameterString=[
            string("trajectory_units", TRAJECTORY_UNITS),
            string("mrf_readout", sequence.readout),
            string("mrf_rf_phase_deg", " ".join(f"{v:.6g}" for v in sequence.phase_deg)),
            string("mrf_sequence_name", sequence.name),
            string("mrf_sequence_description", sequence.description),
            string("mrf_frame_counter", "repetition"),
            string("mrf_interleaf_counter", "kspace_encode_step_1"),
        ]
    )
    header = xsd.ismrmrdHeader(
        version=2,
        measurementInformation=xsd.measurementInformationType(
            patientPosition=xsd.patientPositionType.HFS,
            protocolName=f"MRF {sequence.name}",
            sequenceName=sequence.name,
        ),
        acquisitionSystemInformation=xsd.acquisitionSystemInformationType(
            systemVendor="MRF Studio",
            systemModel="simulation" if "simulation" in data.metadata else None,
            systemFieldStrength_T=float(field),
            receiverChannels=data.n_coils,
        ),
        experimentalConditions=xsd.experimentalConditionsType(
            H1resonanceFrequency_Hz=int(round(_GYROMAGNETIC_HZ_PER_T * float(field)))
        ),
        encoding=[encoding],
        sequenceParameters=xsd.sequenceParametersType(
            TR=[float(v) for v in sequence.tr_ms],
            TE=[float(v) for v in sequence.te_ms],
            TI=[] if sequence.ti_ms is None else [float(sequence.ti_ms)],
            flipAngle_deg=[float(v) for v in sequence.flip_angle_deg],
            sequence_type=_sequence_type(sequence),
        ),
        userParameters=user,
    )
    # UTF-8: sequence descriptions carry symbols such as ° and →.
    return xsd.ToXML(header, encoding="utf-8")


def _acquisition_table(data: KSpaceData) -> np.ndarray:
    """All acquisitions as one array of the ``ismrmrd`` package's HDF5 compound type."""
    from ismrmrd.hdf5 import acquisition_dtype

    n_coils, n_frames, n_interleaves, n_readout = data.samples.shape
    noise = data.metadata.get("noise_samples")
    noise = None if noise is None else np.asarray(noise, dtype=np.complex64)
    if noise is not None and (noise.ndim != 2 or noise.shape[0] != n_coils):
        raise ValueError(f"noise_samples must have shape ({n_coils}, samples), got {noise.shape}")
    n_noise = 0 if noise is None else 1
    n_imaging = n_frames * n_interleaves
    table = np.zeros(n_noise + n_imaging, dtype=acquisition_dtype)
    head = table["head"]
    head["version"] = 1
    head["available_channels"] = n_coils
    head["active_channels"] = n_coils
    mask = np.zeros(16, dtype=np.uint64)
    for channel in range(n_coils):
        mask[channel // 64] |= np.uint64(1) << np.uint64(channel % 64)
    head["channel_mask"] = mask
    head["read_dir"] = (1.0, 0.0, 0.0)
    head["phase_dir"] = (0.0, 1.0, 0.0)
    head["slice_dir"] = (0.0, 0.0, 1.0)
    head["scan_counter"] = np.arange(1, table.size + 1)
    dwell = (data.metadata.get("trajectory") or {}).get("dwell_time_us")
    dwell = float(dwell or data.metadata.get("sample_time_us") or 0.0)
    head["sample_time_us"] = dwell
    if noise is not None:
        head["flags"][0] = _flag(_NOISE)
        head["number_of_samples"][0] = noise.shape[1]
        table["data"][0] = np.ascontiguousarray(noise).view(np.float32).ravel()
        table["traj"][0] = np.zeros(0, dtype=np.float32)

    imaging = head[n_noise:]
    frame = np.repeat(np.arange(n_frames), n_interleaves)
    slot = np.tile(np.arange(n_interleaves), n_frames)
    imaging["number_of_samples"] = n_readout
    imaging["trajectory_dimensions"] = 2
    imaging["idx"]["repetition"] = frame
    imaging["idx"]["kspace_encode_step_1"] = slot
    # Spirals start at the centre; spokes and lines cross it half-way.
    centre = np.argmin(np.linalg.norm(data.trajectory[0, 0], axis=-1))
    imaging["center_sample"] = int(centre)
    start_ms = np.concatenate([[0.0], np.cumsum(data.sequence.tr_ms)[:-1]])
    start_ms += data.sequence.ti_ms or 0.0
    imaging["acquisition_time_stamp"] = np.round(start_ms[frame] / _TICK_MS).astype(np.uint32)
    flags = np.zeros(n_imaging, dtype=np.uint64)
    flags[slot == 0] |= np.uint64(_flag(_FIRST_IN_REPETITION))
    flags[slot == n_interleaves - 1] |= np.uint64(_flag(_LAST_IN_REPETITION))
    flags[-1] |= np.uint64(_flag(_LAST_IN_MEASUREMENT))
    imaging["flags"] = flags  # field access gives views: this writes into the table

    per_acquisition = np.ascontiguousarray(np.moveaxis(data.samples, 0, 2))  # (F, I, C, R)
    values = per_acquisition.view(np.float32).reshape(n_imaging, -1)
    coords = np.ascontiguousarray(data.trajectory, dtype=np.float32).reshape(n_imaging, -1)
    data_column, traj_column = table["data"], table["traj"]
    for index in range(n_imaging):
        data_column[n_noise + index] = values[index]
        traj_column[n_noise + index] = coords[index]
    return table


def write_ismrmrd(data: KSpaceData, path: str | Path, dataset: str = "dataset") -> Path:
    """Write MRF raw data (and ground truth, when present) as an ISMRMRD HDF5 file.

    The layout is described in the module docstring.  The file is written atomically
    (a temporary file renamed into place).

    Returns
    -------
    Path
        The file written.
    """
    import h5py

    path = Path(path)
    if data.geometry.ndim != 2:
        raise ValueError(f"{path}: only 2D scans can be written so far")
    xml = _build_header(data)
    table = _acquisition_table(data)
    with atomic_path(path) as temporary, h5py.File(temporary, "w") as handle:
        group = handle.create_group(dataset)
        header = group.create_dataset("xml", shape=(1,), dtype=h5py.special_dtype(vlen=bytes))
        header[0] = xml.encode("utf-8")
        group.create_dataset("data", data=table, maxshape=(None,), chunks=True)
        studio = group.create_group(STUDIO_GROUP)
        truth = data.ground_truth
        if truth is not None:
            node = studio.create_group("ground_truth")
            for name in ("t1_ms", "t2_ms", "pd", "labels"):
                node.create_dataset(
                    name, data=np.asarray(getattr(truth, name)), compression="gzip", shuffle=True
                )
            node.attrs["label_names"] = json.dumps(
                {str(k): v for k, v in truth.label_names.items()}
            )
            node.attrs["units"] = json.dumps({"t1_ms": "ms", "t2_ms": "ms", "pd": "a.u."})
        if "simulation" in data.metadata:
            node = studio.create_group("simulation")
            parameters = {
                **data.metadata["simulation"],
                "trajectory": data.metadata.get("trajectory"),
                "recipe": data.metadata.get("recipe"),
                "recipe_hash": data.metadata.get("recipe_hash"),
            }
            node.attrs["parameters"] = json.dumps(parameters, default=_json_default)
            for name in ("coil_sensitivities", "b1_map"):
                value = data.metadata.get(name)
                if value is not None:
                    node.create_dataset(name, data=np.asarray(value), compression="gzip")
    return path
