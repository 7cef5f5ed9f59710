"""Existing T1/T2/PD maps (a vendor's, another tool's) loaded as a run to compare with.

Units of relaxation-time maps, first rule that applies:

1. the ``t1_unit`` / ``t2_unit`` argument;
2. the unit the file declares: DICOM Real World Value Mapping units (UCUM ``ms``,
   ``s``), else a RescaleType naming a time unit; NIfTI sidecar ``Units``;
3. the values: a median of the positive values below 10 means seconds, else ms
   (:data:`mrfcore.io._values.SECONDS_MEDIAN_LIMIT`).  So NIfTI maps are taken as ms
   unless the sidecar or the values say seconds (BIDS ``*_T1map`` files are in seconds
   and are recognised by their values even without a sidecar).

Everything is converted to ms.  PD is taken as it is (arbitrary units).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from mrfcore.data import Geometry, QuantitativeMaps
from mrfcore.io._values import guess_time_unit, normalise_time_unit, time_factor_to_ms

__all__ = ["load_map_values", "load_maps"]

MapSource = str | Path | Iterable[str | Path]
_AFFINE_TOLERANCE_MM = 1e-2


def _describe(source: MapSource) -> str:
    if isinstance(source, str | Path):
        return str(source)
    items = [str(s) for s in source]
    return items[0] if len(items) == 1 else f"{items[0]} (+{len(items) - 1} files)"


def load_map_values(
    source: MapSource, series: str | int | None = None
) -> tuple[np.ndarray, Geometry, str | None, dict[str, Any]]:
    """Values (x, y[, z]), geometry, declared unit and reader details of one map file.

    NIfTI by suffix (.nii, .nii.gz); anything else is read as DICOM.
    """
    from mrfcore.io.nifti import is_nifti_path, read_nifti_values

    if isinstance(source, str | Path) and is_nifti_path(source):
        found = read_nifti_values(source)
        details = {"format": "nifti", "source": found.source, "notes": found.notes}
        return found.values, found.geometry, found.unit, details
    from mrfcore.io.dicom import read_dicom_values

    if not isinstance(source, str | Path):
        source = list(source)
    found = read_dicom_values(source, series)
    details = {
        "format": "dicom",
        "source": found.source,
        "series_uid": found.series.uid,
        "notes": found.notes,
        "dicom_identifiers": dict(found.series.identifiers),
    }
    return found.values, found.geometry, found.unit, details


def _to_ms(
    values: np.ndarray, declared: str | None, given: str | None, where: str
) -> tuple[np.ndarray, dict[str, Any]]:
    if given is not None:
        unit = normalise_time_unit(given)
        if unit is None:
            raise ValueError(f"{where}: unknown time unit {given!r}; use 'ms' or 's'")
        reason = f"unit {given!r} given"
    elif declared is not None and normalise_time_unit(declared):
        unit = normalise_time_unit(declared)
        reason = f"unit {declared!r} declared by the file"
    else:
        unit, reason = guess_time_unit(values)
        if declared:
            reason = f"declared unit {declared!r} is not a time; {reason}"
    return values * time_factor_to_ms(unit), {"unit": unit, "reason": reason}


def _check_same_grid(
    name: str, geometry: Geometry, reference: Geometry, where: str, reference_where: str
) -> None:
    if tuple(geometry.matrix) != tuple(reference.matrix):
        raise ValueError(
            f"{where}: the {name} map is {geometry.matrix} voxels but the T1 map "
            f"{reference_where} is {reference.matrix}"
        )
    if not np.allclose(geometry.affine, reference.affine, atol=_AFFINE_TOLERANCE_MM):
        raise ValueError(
            f"{where}: the {name} map is not on the same voxel grid as the T1 map "
            f"{reference_where} (affines differ)"
        )


def load_maps(
    t1: MapSource,
    t2: MapSource,
    pd: MapSource | None = None,
    *,
    t1_unit: str | None = None,
    t2_unit: str | None = None,
    series: dict[str, str | int] | None = None,
) -> QuantitativeMaps:
    """Load T1, T2 (and PD) maps from DICOM or NIfTI as :class:`QuantitativeMaps`.

    Parameters
    ----------
    t1, t2, pd
        A NIfTI file, or a DICOM file, folder, DICOMDIR or list of files, one per map.
    t1_unit, t2_unit
        Override the unit of the stored values ('ms' or 's').
    series
        SeriesInstanceUID or SeriesNumber per map name ('t1', 't2', 'pd') for DICOM
        sources holding several series.

    Returns
    -------
    QuantitativeMaps
        T1 and T2 in ms, NaN outside the mask (finite, positive T1 and T2); PD as stored,
        all NaN when no PD map is given; geometry of the T1 map.

    Raises
    ------
    ValueError
        Naming the file when a map cannot be read or is not on the T1 map's grid.
    """
    series = series or {}
    where = {
        name: _describe(src)
        for name, src in (("t1", t1), ("t2", t2), ("pd", pd))
        if src is not None
    }
    t1_raw, geometry, t1_declared, t1_details = load_map_values(t1, series.get("t1"))
    t2_raw, t2_geometry, t2_declared, t2_details = load_map_values(t2, series.get("t2"))
    _check_same_grid("T2", t2_geometry, geometry, where["t2"], where["t1"])
    t1_ms, t1_units = _to_ms(t1_raw, t1_declared, t1_unit, where["t1"])
    t2_ms, t2_units = _to_ms(t2_raw, t2_declared, t2_unit, where["t2"])
    inputs = {"t1": t1_details | {"units": t1_units}, "t2": t2_details | {"units": t2_units}}
    if pd is not None:
        pd_values, pd_geometry, pd_declared, pd_details = load_map_values(pd, series.get("pd"))
        _check_same_grid("PD", pd_geometry, geometry, where["pd"], where["t1"])
        inputs["pd"] = pd_details | {"declared_unit": pd_declared}
    else:
        pd_values = np.full(geometry.matrix, np.nan)
    mask = np.isfinite(t1_ms) & np.isfinite(t2_ms) & (t1_ms > 0) & (t2_ms > 0)
    t1_ms = np.where(mask, t1_ms, np.nan).astype(np.float32)
    t2_ms = np.where(mask, t2_ms, np.nan).astype(np.float32)
    identifiers = next(
        (d.pop("dicom_identifiers") for d in inputs.values() if "dicom_identifiers" in d), None
    )
    for details in inputs.values():
        details.pop("dicom_identifiers", None)
    provenance: dict[str, Any] = {
        "reader": "maps",
        "input_file": where["t1"],
        "inputs": inputs,
        "pd_given": pd is not None,
    }
    if identifiers:
        provenance["dicom_identifiers"] = identifiers
    return QuantitativeMaps(
        t1_ms=t1_ms,
        t2_ms=t2_ms,
        pd=np.asarray(pd_values, dtype=np.float32),
        mask=mask,
        geometry=geometry,
        provenance=provenance,
    )
