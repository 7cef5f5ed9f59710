"""Small synthetic DICOM files written with pydicom, for the reader tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom import Sequence
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"
ENHANCED_MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4.1"
STUDY_UID = generate_uid()


def _base(sop_class: str, series_uid: str, rows: int, columns: int, signed: bool) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "MR"
    ds.PatientName = "Test^Phantom"
    ds.PatientID = "PHANTOM-1"
    ds.StudyInstanceUID = STUDY_UID
    ds.SeriesInstanceUID = series_uid
    ds.Rows, ds.Columns = rows, columns
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1 if signed else 0
    return ds


def mr_image(
    pixels: np.ndarray,
    *,
    series_uid: str,
    position=(0.0, 0.0, 0.0),
    orientation=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    spacing=(1.0, 1.0),
    thickness: float = 2.0,
    instance: int = 1,
    series_number: int = 1,
    image_type=("ORIGINAL", "PRIMARY", "M", "ND"),
    slope: float | None = None,
    intercept: float | None = None,
    bits_stored: int = 16,
    **attributes,
) -> Dataset:
    """A classic MR Image; ``pixels`` is (rows, columns) of stored values."""
    pixels = np.asarray(pixels)
    signed = pixels.dtype.kind == "i"
    ds = _base(MR_IMAGE, series_uid, *pixels.shape, signed)
    ds.SeriesNumber = series_number
    ds.InstanceNumber = instance
    ds.ImageType = list(image_type)
    ds.ImagePositionPatient = [f"{v:.6f}" for v in position]
    ds.ImageOrientationPatient = [f"{v:.6f}" for v in orientation]
    ds.PixelSpacing = [f"{v:g}" for v in spacing]
    ds.SliceThickness = thickness
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    if slope is not None:
        ds.RescaleSlope = f"{slope:g}"
        ds.RescaleIntercept = f"{intercept or 0:g}"
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    ds.PixelData = pixels.astype("<i2" if signed else "<u2").tobytes()
    return ds


def _item(**attributes) -> Dataset:
    item = Dataset()
    for keyword, value in attributes.items():
        setattr(item, keyword, value)
    return item


def enhanced_mr(
    frames: list[dict],
    *,
    series_uid: str,
    rows: int,
    columns: int,
    orientation=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    spacing=(1.0, 1.0),
) -> Dataset:
    """An Enhanced MR Image; each frame dict has pixels, position, temporal, component,
    slope, intercept."""
    ds = _base(ENHANCED_MR_IMAGE, series_uid, rows, columns, signed=False)
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.NumberOfFrames = len(frames)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "T1", "NONE"]
    shared = _item(
        PixelMeasuresSequence=Sequence([_item(PixelSpacing=list(spacing), SliceThickness=2.0)]),
        PlaneOrientationSequence=Sequence([_item(ImageOrientationPatient=list(orientation))]),
    )
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    per_frame = []
    for frame in frames:
        per_frame.append(
            _item(
                PlanePositionSequence=Sequence(
                    [_item(ImagePositionPatient=list(frame["position"]))]
                ),
                FrameContentSequence=Sequence([_item(TemporalPositionIndex=frame["temporal"])]),
                PixelValueTransformationSequence=Sequence(
                    [
                        _item(
                            RescaleSlope=frame.get("slope", 1.0),
                            RescaleIntercept=frame.get("intercept", 0.0),
                            RescaleType="US",
                        )
                    ]
                ),
                MRImageFrameTypeSequence=Sequence(
                    [_item(ComplexImageComponent=frame.get("component", "MAGNITUDE"))]
                ),
            )
        )
    ds.PerFrameFunctionalGroupsSequence = Sequence(per_frame)
    stack = np.stack([np.asarray(f["pixels"], dtype="<u2") for f in frames])
    ds.PixelData = stack.tobytes()
    return ds


def save(ds: Dataset, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path
