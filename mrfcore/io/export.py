"""Export quantitative maps: NIfTI with BIDS qMRI names and JSON sidecars, or DICOM.

NIfTI (:func:`export_nifti`)
    ``<prefix>_T1map.nii.gz``, ``<prefix>_T2map.nii.gz``, ``<prefix>_PDmap.nii.gz``,
    each with a ``.json`` sidecar, on the maps' own affine.  T1 and T2 are written in
    milliseconds, the unit everything in MRF Studio shows, and the sidecar's ``Units``
    says so; ``time_unit='s'`` writes seconds, as the BIDS qMRI appendix defines T1map
    and T2map, for pipelines that expect that.  The mask is
    ``<prefix>_desc-mrf_mask.nii.gz``.  Extra maps: a BIDS suffix where one fits
    (``b1`` → ``TB1map``, ``m0`` → ``M0map``, ``r1``/``r2`` → ``R1map``/``R2map``,
    ``t2star`` → ``T2starmap``); names starting ``t1_``/``t2_``/``pd_`` (e.g.
    ``t1_std``) → ``<prefix>_desc-<rest>_T1map`` …; anything else (quality measures
    such as ``match_correlation``) → ``<prefix>_desc-<name>_map`` — BIDS has no suffix
    for those, so that one is our convention.  Values outside the mask are NaN.

Sidecars hold ``Units``, ``Description``, the software name and version, the input
files (``Sources``) and the whole provenance of the maps (``MRFStudio``), converted to
strict JSON (numpy values, paths, dataclasses, NaN → null).  DICOM patient identifiers
in the provenance are never written into sidecars.

DICOM: :func:`export_dicom` (see :mod:`mrfcore.io._export_dicom`).

Every file is written under a temporary name and renamed when all files of the export
are complete, so an error leaves nothing half-written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import enum
import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from mrfcore.data import QuantitativeMaps
from mrfcore.io._export_dicom import export_dicom
from mrfcore.io.atomic import atomic_path

__all__ = [
    "PRIVATE_PROVENANCE_KEYS",
    "bids_label",
    "export_dicom",
    "export_nifti",
    "sidecar_for",
    "to_json_compatible",
]

PRIVATE_PROVENANCE_KEYS = ("dicom_identifiers",)
"""Provenance entries that identify a patient; kept out of sidecars."""

_MAX_JSON_ARRAY = 100_000
_EXTRA_SUFFIXES = {
    "b1": "TB1map",
    "tb1": "TB1map",
    "m0": "M0map",
    "r1": "R1map",
    "r2": "R2map",
    "t2star": "T2starmap",
    "t2starmap": "T2starmap",
}
_PARENT_SUFFIXES = {"t1": "T1map", "t2": "T2map", "pd": "PDmap"}
_TIME_UNITS = {"ms": 1.0, "s": 1e-3}
_PREFIX_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")


def to_json_compatible(value: Any, _depth: int = 0) -> Any:
    """``value`` as plain JSON types: numpy → Python, NaN/inf → None, arrays → lists.

    Arrays larger than 100,000 elements are replaced by their shape and dtype;
    objects with ``to_dict()`` (sequences) or dataclasses are expanded; anything else
    unknown becomes its ``str``.
    """
    if _depth > 50:
        return str(value)
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, complex):
        return {"real": to_json_compatible(value.real), "imag": to_json_compatible(value.imag)}
    if isinstance(value, np.generic):
        return to_json_compatible(value.item(), _depth + 1)
    if (
        isinstance(value, np.ndarray)
        or hasattr(value, "__array__")
        and not isinstance(value, Mapping)
    ):
        try:
            array = np.asarray(value)
        except Exception:
            return str(value)
        if array.dtype == object:
            return [to_json_compatible(v, _depth + 1) for v in array.ravel().tolist()]
        if array.size > _MAX_JSON_ARRAY:
            return {"omitted_array": {"shape": list(array.shape), "dtype": str(array.dtype)}}
        return to_json_compatible(array.tolist(), _depth + 1)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, _dt.datetime | _dt.date | _dt.time):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return to_json_compatible(value.value, _depth + 1)
    if isinstance(value, Mapping):
        return {str(k): to_json_compatible(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [to_json_compatible(v, _depth + 1) for v in items]
    if isinstance(value, bytes | bytearray):
        return value.hex()
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        try:
            return to_json_compatible(to_dict(), _depth + 1)
        except Exception:
            return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_json_compatible(getattr(value, f.name), _depth + 1)
            for f in dataclasses.fields(value)
        }
    return str(value)


def bids_label(name: str) -> str:
    """A BIDS entity label (letters and digits only) from a map name:
    ``match_correlation`` → ``matchCorrelation``."""
    parts = [p for p in re.split(r"[^A-Za-z0-9]+", name) if p]
    if not parts:
        raise ValueError(f"map name {name!r} has no letters or digits for a BIDS label")
    return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


def _public_provenance(provenance: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in provenance.items() if k not in PRIVATE_PROVENANCE_KEYS}


def _sources(provenance: Mapping[str, Any]) -> list[str]:
    for key in ("input_file", "input_files", "source", "input"):
        value = provenance.get(key)
        if isinstance(value, str | Path):
            return [str(value)]
        if isinstance(value, list | tuple) and all(isinstance(v, str | Path) for v in value):
            return [str(v) for v in value]
    return []


def _algorithm(provenance: Mapping[str, Any]) -> str | None:
    names = []
    for key in ("reconstruction", "inference"):
        value = provenance.get(key)
        if isinstance(value, Mapping):
            value = value.get("name") or value.get("method")
        if isinstance(value, str):
            names.append(value)
    return " + ".join(names) or None


def sidecar_for(
    maps: QuantitativeMaps, quantity: str, unit: str, description: str
) -> dict[str, Any]:
    """The JSON sidecar of one exported map, as plain JSON types."""
    import mrfcore

    provenance = _public_provenance(maps.provenance)
    sidecar: dict[str, Any] = {
        "Units": unit,
        "Description": description,
        "Quantity": quantity,
        "SoftwareName": "MRF Studio",
        "SoftwareVersion": mrfcore.__version__,
        "GeneratedBy": [{"Name": "MRF Studio", "Version": mrfcore.__version__}],
        "DateCreated": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "MaskedValue": "NaN outside the estimation mask",
    }
    sources = _sources(provenance)
    if sources:
        sidecar["Sources"] = sources
    algorithm = _algorithm(provenance)
    if algorithm:
        sidecar["EstimationAlgorithm"] = algorithm
    sidecar["MRFStudio"] = provenance
    return to_json_compatible(sidecar)


@dataclasses.dataclass
class _Output:
    stem: str
    values: np.ndarray
    unit: str
    quantity: str
    description: str


def _outputs(
    maps: QuantitativeMaps, prefix: str, time_unit: str, include_mask: bool, include_extra: bool
) -> list[_Output]:
    scale = _TIME_UNITS[time_unit]
    outputs = [
        _Output(
            f"{prefix}_T1map",
            maps.t1_ms * scale,
            time_unit,
            "T1",
            "Longitudinal relaxation time T1 estimated by MRF",
        ),
        _Output(
            f"{prefix}_T2map",
            maps.t2_ms * scale,
            time_unit,
            "T2",
            "Transverse relaxation time T2 estimated by MRF",
        ),
        _Output(
            f"{prefix}_PDmap",
            maps.pd,
            "arbitrary",
            "PD",
            "Proton density (arbitrary units) estimated by MRF",
        ),
    ]
    if include_extra:
        for name, values in maps.extra.items():
            unit = maps.units.get(name, "")
            key = name.lower()
            if key in _EXTRA_SUFFIXES:
                stem = f"{prefix}_{_EXTRA_SUFFIXES[key]}"
            elif key.split("_", 1)[0] in _PARENT_SUFFIXES and "_" in key:
                parent, rest = key.split("_", 1)
                stem = f"{prefix}_desc-{bids_label(rest)}_{_PARENT_SUFFIXES[parent]}"
            else:
                stem = f"{prefix}_desc-{bids_label(name)}_map"
            if unit == "ms":
                values, unit = values * scale, time_unit
            outputs.append(
                _Output(
                    stem, values, unit or "arbitrary", name, f"{name} estimated with the MRF maps"
                )
            )
    if include_mask:
        outputs.append(
            _Output(
                f"{prefix}_desc-mrf_mask",
                maps.mask.astype(np.uint8),
                "",
                "mask",
                "Voxels where the MRF maps were estimated",
            )
        )
    stems = [o.stem for o in outputs]
    duplicates = sorted({s for s in stems if stems.count(s) > 1})
    if duplicates:
        raise ValueError(f"extra map names give clashing file names: {duplicates}")
    return outputs


def _nifti_image(values: np.ndarray, affine: np.ndarray, description: str) -> Any:
    import nibabel as nib

    if values.dtype != np.uint8:
        values = np.asarray(values, dtype=np.float32)
    if values.ndim == 2:
        values = values[:, :, None]
    image = nib.Nifti1Image(values, affine)
    image.header.set_xyzt_units("mm", "sec")
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    image.header["descrip"] = description.encode("ascii", "replace")[:79]
    return image


def export_nifti(
    maps: QuantitativeMaps,
    folder: str | Path,
    prefix: str,
    *,
    time_unit: str = "ms",
    include_mask: bool = True,
    include_extra: bool = True,
) -> list[Path]:
    """Write the maps as NIfTI files with BIDS qMRI names and JSON sidecars.

    Parameters
    ----------
    maps
        The maps; their geometry's affine is written as sform and qform (scanner).
    folder
        Output folder (created when missing).
    prefix
        BIDS entities, e.g. ``sub-01_ses-1_acq-mrf`` (letters, digits, '-', '_').
    time_unit
        ``'ms'`` (default) or ``'s'`` (the BIDS qMRI unit) for T1, T2 and time-valued
        extras.

    Returns
    -------
    list of Path
        Every file written, images and sidecars.

    Raises
    ------
    ValueError
        For a bad prefix or unit; nothing is written then.
    """
    if not _PREFIX_PATTERN.match(prefix or ""):
        raise ValueError(
            f"prefix {prefix!r} must be BIDS entities such as 'sub-01_ses-1' (letters, "
            "digits, '-' and '_')"
        )
    if time_unit not in _TIME_UNITS:
        raise ValueError(f"time_unit must be 's' or 'ms', got {time_unit!r}")
    import nibabel as nib

    folder = Path(folder)
    outputs = _outputs(maps, prefix, time_unit, include_mask, include_extra)
    written: list[Path] = []
    # All files are written under temporary names first; the renames happen together
    # when the block ends without an error, otherwise every temporary is removed.
    with contextlib.ExitStack() as stack:
        for output in outputs:
            image_path = folder / f"{output.stem}.nii.gz"
            sidecar_path = folder / f"{output.stem}.json"
            sidecar = sidecar_for(maps, output.quantity, output.unit, output.description)
            text = json.dumps(sidecar, indent=2, allow_nan=False, ensure_ascii=False)
            temporary_image = stack.enter_context(atomic_path(image_path))
            nib.save(
                _nifti_image(output.values, maps.geometry.affine, output.description),
                str(temporary_image),
            )
            temporary_sidecar = stack.enter_context(atomic_path(sidecar_path))
            temporary_sidecar.write_text(text + "\n", encoding="utf-8")
            written += [image_path, sidecar_path]
    return written
