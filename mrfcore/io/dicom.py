"""DICOM image series → :class:`~mrfcore.data.ImageSeries` (time frames) or a value map.

Accepts a folder, a DICOMDIR, one file or a list of files; groups the images by
SeriesInstanceUID (:func:`scan_dicom`), orders single-frame images into time frames and
slices, reads enhanced multi-frame files (with or without functional groups), applies
the rescale slope/intercept, combines magnitude with phase (or real with imaginary)
into complex data, and builds the voxel → RAS affine from orientation, position and
spacing.  See :mod:`mrfcore.io._dicom_layout` for the ordering and axis conventions.

A TSMI given as DICOM images is returned in the time domain (``basis=None``); the
inference code projects it onto its subspace.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mrfcore.data import Geometry, ImageSeries
from mrfcore.io._dicom_frames import FrameRecord
from mrfcore.io._dicom_layout import Layout, arrange
from mrfcore.io._dicom_scan import (
    IDENTIFIER_KEYWORDS,
    DicomScan,
    DicomSeriesInfo,
    scan_dicom,
)
from mrfcore.io._values import normalise_time_unit, phase_to_radians
from mrfcore.progress import Progress, ProgressCallback, ensure_progress

__all__ = [
    "IDENTIFIER_KEYWORDS",
    "DicomScan",
    "DicomSeriesInfo",
    "DicomValues",
    "read_dicom",
    "read_dicom_values",
    "scan_dicom",
]

Source = str | Path | Iterable[str | Path]


@dataclass
class DicomValues:
    """A single-frame-per-slice DICOM series as real numbers (a map).

    Attributes
    ----------
    values
        float64, shape ``geometry.matrix`` (x, y[, z]).
    unit
        The unit the file declares (Real World Value Mapping units, else RescaleType when
        it names a time unit), or None when it declares none.
    notes
        How values and units were found.
    """

    values: np.ndarray
    geometry: Geometry
    unit: str | None
    source: str
    series: DicomSeriesInfo
    notes: list[str] = field(default_factory=list)


def _pixels(path: Path) -> np.ndarray:
    import pydicom

    try:
        ds = pydicom.dcmread(path)
        return ds.pixel_array
    except Exception as error:
        syntax = ""
        try:
            syntax = f" (transfer syntax {ds.file_meta.TransferSyntaxUID.name})"
        except Exception:
            pass
        raise ValueError(f"{path}: cannot decode the pixel data{syntax}: {error}") from None


def _assemble(
    layout: Layout, transform: str, progress: Progress, name: str
) -> dict[str, np.ndarray]:
    """Per component, an array (frames, x, y, slices) of values.

    ``transform`` is ``'rescale'`` (modality rescale) or ``'real_world'`` (Real World
    Value Mapping where present, else rescale).
    """
    geometry = layout.geometry
    nx, ny = geometry.matrix[0], geometry.matrix[1]
    slot_of: dict[int, tuple[str, int, int]] = {}
    by_file: dict[Path, list[FrameRecord]] = defaultdict(list)
    for component, frames in layout.slots.items():
        for t, slices in enumerate(frames):
            for k, record in enumerate(slices):
                slot_of[id(record)] = (component, t, k)
                by_file[record.path].append(record)
    arrays = {
        component: np.zeros((layout.n_frames, nx, ny, layout.n_slices), dtype=np.float32)
        for component in layout.slots
    }
    for done, (path, records) in enumerate(by_file.items()):
        progress(done, len(by_file), f"reading {path.name}")
        pixels = _pixels(path)
        for record in records:
            if pixels.ndim == 3:
                image = pixels[record.frame or 0]
            elif pixels.ndim == 2 and (record.frame or 0) == 0:
                image = pixels
            else:
                raise ValueError(
                    f"{path}: pixel data of shape {pixels.shape} does not hold frame "
                    f"{(record.frame or 0) + 1}"
                )
            if image.shape != (record.rows, record.columns):
                raise ValueError(
                    f"{path}: pixel data is {image.shape}, header says "
                    f"{(record.rows, record.columns)}"
                )
            mapping = record.real_world if transform == "real_world" else None
            if mapping is not None:
                values = image * mapping.slope + mapping.intercept
            else:
                slope, intercept = record.rescale
                values = image * slope + intercept
            component, t, k = slot_of[id(record)]
            arrays[component][t, :, :, k] = values.T
    progress(len(by_file), len(by_file), f"read {name}")
    return arrays


def _squeeze_slices(array: np.ndarray, layout: Layout) -> np.ndarray:
    return array[..., 0] if layout.n_slices == 1 else array


def _combine(
    arrays: dict[str, np.ndarray], layout: Layout, name: str, phase_scale: float | None
) -> tuple[np.ndarray, str, list[str]]:
    notes: list[str] = []
    present = set(arrays)
    if {"real", "imaginary"} <= present:
        data = arrays["real"] + 1j * arrays["imaginary"]
        return data.astype(np.complex64), "real + imaginary", notes
    if {"magnitude", "phase"} <= present:
        phase = arrays["phase"]
        if phase_scale is not None:
            radians = phase * phase_scale
            notes.append(f"phase scaled by {phase_scale:g} to radians (given)")
        else:
            record = layout.slots["phase"][0][0]
            unit = record.real_world.unit if record.real_world else None
            radians, note = phase_to_radians(
                phase, unit, record.representable(), record.bits_stored
            )
            notes.append(note)
        data = arrays["magnitude"] * np.exp(1j * radians)
        return data.astype(np.complex64), "magnitude + phase", notes
    for single in ("magnitude", "real"):
        if single in present:
            if present - {single}:
                notes.append(f"used {single} images only; ignored {sorted(present - {single})}")
            return arrays[single].astype(np.complex64), single, notes
    raise ValueError(
        f"{name}: only {' and '.join(sorted(present))} images; the magnitude (or real) "
        "images are missing — give the magnitude series too"
    )


def _provenance(
    info: DicomSeriesInfo, scan: DicomScan, layout: Layout, notes: list[str]
) -> dict[str, Any]:
    return {
        "reader": "dicom",
        "source": scan.source,
        "series": {
            "series_uid": info.uid,
            "series_number": info.number,
            "description": info.description,
            "files": len(info.files),
            "frames": layout.n_frames,
            "slices": layout.n_slices,
            "components": list(info.components),
            **{k: v for k, v in info.acquisition.items() if v is not None},
        },
        "skipped": list(scan.skipped),
        "notes": scan.notes + layout.notes + notes,
        # Patient/study identifiers for DICOM export; sidecar writers leave them out.
        "dicom_identifiers": dict(info.identifiers),
    }


def read_dicom(
    source: Source,
    series: str | int | None = None,
    *,
    phase: Source | None = None,
    phase_scale: float | None = None,
    progress: Progress | ProgressCallback | None = None,
) -> ImageSeries:
    """Read a DICOM image series as time frames.

    Parameters
    ----------
    source
        Folder, DICOMDIR, file or list of files.
    series
        SeriesInstanceUID or SeriesNumber; may be left out when ``source`` holds one
        series (a magnitude series and its matching phase series count as one).
    phase
        Phase images given separately, when they are not found automatically.
    phase_scale
        Multiplier from rescaled phase values to radians; by default it is inferred
        (see :func:`mrfcore.io._values.phase_to_radians`).
    progress
        Called while pixel data is read.

    Returns
    -------
    ImageSeries
        ``data`` complex64 of shape (frames, x, y[, z]); ``basis`` None; geometry with
        the RAS affine.  ``provenance`` holds the reader's summary and notes.

    Raises
    ------
    ValueError
        Naming the file or series and what is wrong.
    """
    progress = ensure_progress(progress)
    scan = scan_dicom(source)
    info = scan.select(series)
    records = list(info.records)
    if phase is not None:
        phase_info = scan_dicom(phase, pair_phase=False).select(None)
        if set(phase_info.components) != {"phase"}:
            # Some writers do not label phase images; trust the caller.
            for record in phase_info.records:
                record.component = "phase"
        records += phase_info.records
    if info.mosaic:
        raise ValueError(
            f"{info.name}: Siemens mosaic images (several slices tiled in one image) are not "
            "supported; convert them to NIfTI first (e.g. with dcm2niix)"
        )
    layout = arrange(records, info.name)
    arrays = _assemble(layout, "rescale", progress, info.name)
    data, kind, notes = _combine(arrays, layout, info.name, phase_scale)
    data = _squeeze_slices(data, layout)
    provenance = _provenance(info, scan, layout, notes)
    provenance["series"]["data"] = kind
    return ImageSeries(
        data=np.ascontiguousarray(data),
        geometry=layout.geometry,
        basis=None,
        source=scan.source,
        provenance=provenance,
    )


def read_dicom_values(source: Source, series: str | int | None = None) -> DicomValues:
    """Read a DICOM map series (one image per slice) as real values.

    Values come from the Real World Value Mapping when every image has a linear one,
    else from the modality rescale (slope/intercept).

    Raises
    ------
    ValueError
        When the series holds several frames per slice or complex components.
    """
    scan = scan_dicom(source, pair_phase=False)
    info = scan.select(series)
    layout = arrange(info.records, info.name)
    if len(layout.slots) != 1:
        raise ValueError(
            f"{info.name}: holds {', '.join(layout.slots)} images; a map has one component"
        )
    if layout.n_frames != 1:
        raise ValueError(f"{info.name}: holds {layout.n_frames} images per slice; a map has one")
    notes = list(layout.notes) + list(scan.notes)
    use_real_world = all(r.real_world is not None for r in info.records)
    arrays = _assemble(
        layout, "real_world" if use_real_world else "rescale", ensure_progress(None), info.name
    )
    values = _squeeze_slices(next(iter(arrays.values()))[0], layout).astype(np.float64)
    unit = None
    first = info.records[0]
    if use_real_world:
        unit = first.real_world.unit or None
        notes.append(f"values from the Real World Value Mapping (unit {unit or 'not given'})")
    else:
        import pydicom

        header = pydicom.dcmread(first.path, stop_before_pixels=True)
        rescale_type = header.get("RescaleType")
        if normalise_time_unit(rescale_type):
            unit = str(rescale_type)
            notes.append(f"unit from RescaleType {rescale_type!r}")
        notes.append("values from the rescale slope/intercept")
    return DicomValues(values, layout.geometry, unit, scan.source, info, notes)
