"""Maps → DICOM, one MR Image Storage series per map, so they can go back to PACS.

Written with plain pydicom (highdicom is not a dependency) as classic MR Image Storage
(1.2.840.10008.5.1.4.1.1.4), one instance per slice, Explicit VR Little Endian.  Values
are stored as 16-bit integers with RescaleSlope/RescaleIntercept, and the same linear
mapping is given as a Real World Value Mapping whose units are UCUM codes ('ms' for T1
and T2, "[arb'U]" for PD), so viewers that understand units show milliseconds.  The
slope is 1, 2 or 5 times a power of ten (0.1 ms for T1 up to 6.5 s).  NaN (outside the
mask) is stored as 0.  Slices are ordered by position when read back, so a left-handed
voxel grid (x flipped, radiological order) returns with its z axis reversed — the same
voxels in the same places.

Patient and study identifiers are copied from the source when it was DICOM (a pydicom
Dataset, a dict of those attributes, or the ``dicom_identifiers`` the DICOM reader put
in the provenance); the maps of one export share a new FrameOfReferenceUID unless the
source has one.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import math
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from mrfcore.data import QuantitativeMaps
from mrfcore.io._dicom_scan import IDENTIFIER_KEYWORDS
from mrfcore.io.atomic import _UMASK

__all__ = ["export_dicom", "quantise"]

MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
_UNIT_CODES = {
    "ms": ("ms", "millisecond"),
    "s": ("s", "second"),
    "": ("[arb'U]", "arbitrary unit"),
    "a.u.": ("[arb'U]", "arbitrary unit"),
    "arbitrary": ("[arb'U]", "arbitrary unit"),
    "%": ("%", "percent"),
}
_ORTHOGONALITY_TOLERANCE = 1e-4  # |cos| of the angle between voxel axes
_IMAGE_TYPE_VALUE3 = {"T1": "T1_MAP", "T2": "T2_MAP", "PD": "PD_MAP"}


def _nice_step(minimum: float) -> float:
    """The smallest of 1, 2, 5 × 10^k that is ≥ ``minimum`` (exact as a decimal string)."""
    exponent = math.floor(math.log10(minimum))
    for mantissa in (1, 2, 5, 10):
        step = float(f"{mantissa}e{exponent}")
        if step >= minimum:
            return step
    return float(f"1e{exponent + 1}")


def quantise(values: np.ndarray) -> tuple[np.ndarray, float, bool]:
    """Integers for ``values``: (stored, slope, signed) with value ≈ stored × slope.

    uint16 when no value is negative, else int16; the slope is the smallest 1, 2 or 5
    times a power of ten that fits the largest magnitude; NaN is stored as 0.
    """
    finite = values[np.isfinite(values)]
    signed = bool(finite.size and finite.min() < 0)
    limit = 32767 if signed else 65535
    largest = float(np.max(np.abs(finite))) if finite.size else 0.0
    slope = 1.0 if largest == 0 else _nice_step(largest / limit)
    stored = np.rint(np.where(np.isfinite(values), values, 0.0) / slope)
    stored = np.clip(stored, -limit - 1 if signed else 0, limit)
    return stored.astype(np.int16 if signed else np.uint16), slope, signed


def _decimal(value: float) -> str:
    """A DS string of at most 16 characters."""
    text = f"{value:.10g}"
    return text if len(text) <= 16 else f"{value:.8e}"


@contextlib.contextmanager
def _atomic_directory(path: Path) -> Iterator[Path]:
    """A temporary folder beside ``path`` that replaces ``path`` on success."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    os.chmod(temporary, 0o777 & ~_UMASK)  # mkdtemp makes 0700
    try:
        yield temporary
        if path.exists():
            old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.old."))
            os.replace(path, old / path.name)
            os.replace(temporary, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(temporary, path)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise


def _identifiers(source: Any, maps: QuantitativeMaps) -> dict[str, str]:
    if source is None:
        source = maps.provenance.get("dicom_identifiers")
    if source is None:
        return {}
    if isinstance(source, Mapping):
        return {k: str(source[k]) for k in IDENTIFIER_KEYWORDS if k in source}
    return {k: str(source.get(k)) for k in IDENTIFIER_KEYWORDS if source.get(k) is not None}


def _slice_datasets(
    values: np.ndarray,
    name: str,
    unit: str,
    maps: QuantitativeMaps,
    common: dict[str, Any],
    series_number: int,
) -> list[Any]:
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    import mrfcore

    volume = values if values.ndim == 3 else values[:, :, None]
    stored, slope, signed = quantise(np.asarray(volume, dtype=np.float64))
    affine = _LPS_TO_RAS @ maps.geometry.affine  # RAS→LPS is the same sign flip
    step_x, step_y, step_z = (np.linalg.norm(affine[:3, i]) for i in range(3))
    row_dir = affine[:3, 0] / step_x
    col_dir = affine[:3, 1] / step_y
    normal = np.cross(row_dir, col_dir)
    cosines = np.abs(affine[:3, :3].T @ affine[:3, :3]) / np.outer(
        (step_x, step_y, step_z), (step_x, step_y, step_z)
    )
    if np.max(cosines - np.eye(3)) > _ORTHOGONALITY_TOLERANCE:
        raise ValueError(
            f"the {name} map's voxel axes are not perpendicular (sheared affine); DICOM "
            "images cannot represent that geometry — export NIfTI instead"
        )
    code_value, code_meaning = _UNIT_CODES.get(unit, (unit or "1", unit or "no units"))
    finite = volume[np.isfinite(volume)]
    low, high = np.percentile(finite, [1, 99]) if finite.size else (0.0, 1.0)
    series_uid = generate_uid()
    now = _dt.datetime.now()
    datasets = []
    for k in range(volume.shape[2]):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = MR_IMAGE_STORAGE
        ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SpecificCharacterSet = "ISO_IR 192"
        ds.SOPClassUID = MR_IMAGE_STORAGE
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
        for keyword, value in common.items():
            setattr(ds, keyword, value)
        ds.Modality = "MR"
        ds.SeriesInstanceUID = series_uid
        ds.SeriesNumber = series_number
        ds.SeriesDescription = f"MRF {name} map ({unit or 'a.u.'})"[:64]
        ds.ImageType = ["DERIVED", "PRIMARY", _IMAGE_TYPE_VALUE3.get(name, name.upper()[:16])]
        ds.Manufacturer = "MRF Studio"
        ds.SoftwareVersions = mrfcore.__version__
        ds.ContentDate = now.strftime("%Y%m%d")
        ds.ContentTime = now.strftime("%H%M%S")
        ds.InstanceCreationDate, ds.InstanceCreationTime = ds.ContentDate, ds.ContentTime
        ds.DerivationDescription = f"{name} map estimated by MR fingerprinting (MRF Studio)"
        ds.InstanceNumber = k + 1
        ds.ScanningSequence = "RM"
        ds.SequenceVariant = "NONE"
        ds.ScanOptions = ""
        ds.MRAcquisitionType = "3D" if values.ndim == 3 else "2D"
        ds.EchoTime = ""
        ds.RepetitionTime = ""
        ds.EchoTrainLength = ""
        ds.PositionReferenceIndicator = ""
        position = (affine @ np.array([0.0, 0.0, k, 1.0]))[:3]
        ds.ImagePositionPatient = [_decimal(v) for v in position]
        ds.ImageOrientationPatient = [_decimal(v) for v in (*row_dir, *col_dir)]
        ds.PixelSpacing = [_decimal(step_y), _decimal(step_x)]
        ds.SliceThickness = _decimal(step_z)
        if volume.shape[2] > 1:
            ds.SpacingBetweenSlices = _decimal(step_z)
        ds.SliceLocation = _decimal(float(position @ normal))
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows, ds.Columns = volume.shape[1], volume.shape[0]
        ds.BitsAllocated = ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1 if signed else 0
        ds.RescaleIntercept = "0"
        ds.RescaleSlope = _decimal(slope)
        ds.RescaleType = "US"
        ds.WindowCenter = _decimal((low + high) / 2)
        ds.WindowWidth = _decimal(max(high - low, slope))
        mapping = Dataset()
        mapping.LUTExplanation = f"{name} ({unit or 'a.u.'})"
        mapping.LUTLabel = name[:16]
        vr = "SS" if signed else "US"
        mapping.add_new("RealWorldValueFirstValueMapped", vr, int(stored.min()))
        mapping.add_new("RealWorldValueLastValueMapped", vr, int(stored.max()))
        mapping.RealWorldValueIntercept = 0.0
        mapping.RealWorldValueSlope = float(slope)
        units = Dataset()
        units.CodeValue = code_value
        units.CodingSchemeDesignator = "UCUM"
        units.CodeMeaning = code_meaning
        mapping.MeasurementUnitsCodeSequence = pydicom.Sequence([units])
        ds.RealWorldValueMappingSequence = pydicom.Sequence([mapping])
        # Frames are (rows, columns) = (y, x): our (x, y) slice transposed.
        ds.PixelData = (
            np.ascontiguousarray(stored[:, :, k].T).astype("<u2" if not signed else "<i2").tobytes()
        )
        datasets.append(ds)
    return datasets


def _save(ds: Any, path: Path) -> None:
    try:
        ds.save_as(path, enforce_file_format=True)
    except TypeError:  # pydicom < 3
        ds.is_little_endian, ds.is_implicit_VR = True, False
        ds.save_as(path, write_like_original=False)


def export_dicom(
    maps: QuantitativeMaps,
    folder: str | Path,
    *,
    source: Any = None,
    prefix: str = "",
    series_number: int = 9001,
    include_extra: bool = False,
) -> dict[str, Path]:
    """Write each map as a DICOM MR image series, one sub-folder per map.

    Parameters
    ----------
    maps
        T1 and T2 are written in ms, PD in arbitrary units; extra maps with their units
        when ``include_extra``.
    folder
        Parent folder; series go to ``<folder>/<prefix>T1map`` etc.
    source
        The DICOM source of the scan (pydicom Dataset or dict of attributes) whose
        patient and study identifiers are carried over; by default those recorded in
        ``maps.provenance['dicom_identifiers']``, else none (new study, empty patient
        fields: fill them in before sending to PACS).
    series_number
        SeriesNumber of the first map; the others follow.

    Returns
    -------
    dict
        Series folder by map name.
    """
    from pydicom.uid import generate_uid

    folder = Path(folder)
    identifiers = _identifiers(source, maps)
    common: dict[str, Any] = {
        "PatientName": "",
        "PatientID": "",
        "PatientBirthDate": "",
        "PatientSex": "",
        "StudyDate": "",
        "StudyTime": "",
        "StudyID": "",
        "AccessionNumber": "",
        "ReferringPhysicianName": "",
    }
    common.update(identifiers)
    common.setdefault("StudyInstanceUID", generate_uid())
    common.setdefault("FrameOfReferenceUID", generate_uid())
    wanted = [("T1", maps.t1_ms, "ms"), ("T2", maps.t2_ms, "ms"), ("PD", maps.pd, "")]
    if include_extra:
        wanted += [(name, values, maps.units.get(name, "")) for name, values in maps.extra.items()]
    written: dict[str, Path] = {}
    with contextlib.ExitStack() as stack:
        for index, (name, values, unit) in enumerate(wanted):
            target = folder / f"{prefix}{name}map"
            temporary = stack.enter_context(_atomic_directory(target))
            datasets = _slice_datasets(values, name, unit, maps, common, series_number + index)
            for k, ds in enumerate(datasets):
                _save(ds, temporary / f"IM{k + 1:04d}.dcm")
            written[name] = target
    return written
