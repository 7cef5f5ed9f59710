"""One record per 2D image frame of a DICOM series, whatever file layout it came in.

Single-frame files give one record each; enhanced multi-frame files give one record per
frame, with position, orientation, spacing, rescale and complex component looked up in
the per-frame functional groups, then the shared ones, then the top-level dataset.
Legacy multi-frame files without functional groups give one record per frame at the
file's position: their frames are taken as time frames.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["FrameRecord", "RealWorldMapping", "frame_records"]

# ImageType values (classic objects) and ComplexImageComponent values (enhanced) that
# name the complex part an image holds.
_COMPONENT_WORDS = {
    "M": "magnitude",
    "MAG": "magnitude",
    "MAGNITUDE": "magnitude",
    "P": "phase",
    "PHA": "phase",
    "PHASE": "phase",
    "R": "real",
    "REAL": "real",
    "I": "imaginary",
    "IMAG": "imaginary",
    "IMAGINARY": "imaginary",
}
# GE puts the component in a private element (0043,102F): 0 magnitude, 1 phase, 2 real,
# 3 imaginary.
_GE_COMPONENTS = {0: "magnitude", 1: "phase", 2: "real", 3: "imaginary"}


@dataclass(frozen=True)
class RealWorldMapping:
    """A linear Real World Value Mapping: value = stored × slope + intercept, in ``unit``."""

    slope: float
    intercept: float
    unit: str
    label: str = ""


@dataclass
class FrameRecord:
    """Everything needed to place one 2D frame and turn its stored values into numbers.

    ``position`` and ``orientation`` are in DICOM patient coordinates (LPS, mm);
    ``pixel_spacing`` is (spacing between rows, spacing between columns) in mm, as in the
    PixelSpacing attribute.
    """

    path: Path
    frame: int | None
    series_uid: str
    rows: int
    columns: int
    position: np.ndarray | None
    orientation: np.ndarray | None
    pixel_spacing: tuple[float, float] | None
    slice_thickness: float | None
    spacing_between_slices: float | None
    order_key: tuple[float, ...]
    component: str
    rescale: tuple[float, float]
    real_world: RealWorldMapping | None
    bits_stored: int
    signed: bool

    def representable(self) -> tuple[float, float, float]:
        """(lowest, highest, step) of the values the stored integers can take after rescale."""
        if self.signed:
            low, high = -(2 ** (self.bits_stored - 1)), 2 ** (self.bits_stored - 1) - 1
        else:
            low, high = 0, 2**self.bits_stored - 1
        slope, intercept = self.rescale
        ends = sorted((low * slope + intercept, high * slope + intercept))
        return ends[0], ends[1], abs(slope)


def _float(value: Any, default: float | None = None) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def _floats(value: Any, count: int) -> np.ndarray | None:
    try:
        array = np.array([float(v) for v in value], dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return array if array.size == count and np.all(np.isfinite(array)) else None


def _seconds_of_day(time_text: Any) -> float:
    """DICOM TM (HHMMSS.frac) as seconds; 0 when missing or unreadable."""
    text = str(time_text or "").strip().replace(":", "")
    if not text:
        return 0.0
    try:
        hours = int(text[0:2])
        minutes = int(text[2:4]) if len(text) >= 4 else 0
        seconds = float(text[4:]) if len(text) > 4 else 0.0
    except ValueError:
        return 0.0
    return hours * 3600 + minutes * 60 + seconds


def _datetime_seconds(text: Any) -> float:
    """DICOM DT (YYYYMMDDHHMMSS.frac) as seconds since the epoch; 0 when unreadable."""
    value = str(text or "").strip()
    if len(value) < 8:
        return 0.0
    try:
        day = _dt.datetime.strptime(value[:8], "%Y%m%d").replace(tzinfo=_dt.UTC)
    except ValueError:
        return 0.0
    return day.timestamp() + _seconds_of_day(value[8:].split("+")[0].split("-")[0])


def _component_from_words(words: Any) -> str | None:
    """Complex part named in ImageType; its first two values (ORIGINAL/DERIVED,
    PRIMARY/SECONDARY) never name one."""
    if words is None:
        return None
    words = [words] if isinstance(words, str) else list(words)
    for word in words[2:]:
        component = _COMPONENT_WORDS.get(str(word).strip().upper())
        if component:
            return component
    return None


def _ge_component(ds: Any) -> str | None:
    try:
        block = ds.private_block(0x0043, "GEMS_PARM_01")
        value = block[0x2F].value
    except (KeyError, ValueError, AttributeError):
        return None
    try:
        return _GE_COMPONENTS.get(int(value[0] if isinstance(value, bytes | list) else value))
    except (TypeError, ValueError):
        return None


def _real_world(item: Any) -> RealWorldMapping | None:
    """The linear mapping of a RealWorldValueMappingSequence item; None for LUT mappings."""
    if item is None or "RealWorldValueSlope" not in item:
        return None
    unit = ""
    codes = item.get("MeasurementUnitsCodeSequence")
    if codes:
        unit = str(codes[0].get("CodeValue", "") or "")
    return RealWorldMapping(
        slope=_float(item.RealWorldValueSlope, 1.0) or 1.0,
        intercept=_float(item.get("RealWorldValueIntercept"), 0.0) or 0.0,
        unit=unit,
        label=str(item.get("LUTLabel", "") or ""),
    )


def _first(sequence: Any) -> Any:
    return sequence[0] if sequence else None


class _Groups:
    """Functional-group look-up for one frame: per-frame, then shared, then top level."""

    def __init__(self, ds: Any, frame: int | None) -> None:
        self.ds = ds
        per_frame = ds.get("PerFrameFunctionalGroupsSequence")
        shared = ds.get("SharedFunctionalGroupsSequence")
        self.items = []
        if frame is not None and per_frame and frame < len(per_frame):
            self.items.append(per_frame[frame])
        if shared:
            self.items.append(shared[0])

    def item(self, sequence_name: str) -> Any:
        for group in self.items:
            found = _first(group.get(sequence_name))
            if found is not None:
                return found
        return None

    def value(self, sequence_name: str, attribute: str) -> Any:
        item = self.item(sequence_name)
        if item is not None and attribute in item:
            return item.get(attribute)
        return self.ds.get(attribute)


def frame_records(ds: Any, path: Path) -> list[FrameRecord]:
    """One :class:`FrameRecord` per frame of a header-only dataset.

    Raises
    ------
    ValueError
        For colour images (only greyscale is supported).
    """
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    if samples != 1:
        raise ValueError(f"{path}: colour images ({samples} samples per pixel) are not supported")
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    enhanced = "PerFrameFunctionalGroupsSequence" in ds or "SharedFunctionalGroupsSequence" in ds
    multi = n_frames > 1 or enhanced
    common = {
        "path": path,
        "series_uid": str(ds.get("SeriesInstanceUID", "") or ""),
        "rows": int(ds.Rows),
        "columns": int(ds.Columns),
        "bits_stored": int(ds.get("BitsStored", ds.get("BitsAllocated", 16)) or 16),
        "signed": int(ds.get("PixelRepresentation", 0) or 0) == 1,
    }
    instance = _float(ds.get("InstanceNumber"), 0.0) or 0.0
    classic_component = (
        _component_from_words(ds.get("ImageType")) or _ge_component(ds) or "magnitude"
    )
    records = []
    for frame in range(n_frames):
        groups = _Groups(ds, frame if multi else None)
        position = _floats(groups.value("PlanePositionSequence", "ImagePositionPatient"), 3)
        orientation = _floats(
            groups.value("PlaneOrientationSequence", "ImageOrientationPatient"), 6
        )
        spacing = _floats(groups.value("PixelMeasuresSequence", "PixelSpacing"), 2)
        thickness = _float(groups.value("PixelMeasuresSequence", "SliceThickness"))
        between = _float(groups.value("PixelMeasuresSequence", "SpacingBetweenSlices"))
        slope = _float(groups.value("PixelValueTransformationSequence", "RescaleSlope"), 1.0)
        intercept = _float(
            groups.value("PixelValueTransformationSequence", "RescaleIntercept"), 0.0
        )
        real_world = _real_world(groups.item("RealWorldValueMappingSequence")) or _real_world(
            _first(ds.get("RealWorldValueMappingSequence"))
        )
        if enhanced:
            frame_type = groups.item("MRImageFrameTypeSequence")
            word = None
            if frame_type is not None:
                word = frame_type.get("ComplexImageComponent")
            word = word or ds.get("ComplexImageComponent")
            component = _COMPONENT_WORDS.get(str(word or "").upper(), classic_component)
            content = groups.item("FrameContentSequence")
            temporal = _float(content.get("TemporalPositionIndex") if content else None, 0.0)
            acquired = _datetime_seconds(content.get("FrameAcquisitionDateTime")) if content else 0
            order_key = (temporal or 0.0, instance, float(frame), acquired)
        else:
            component = classic_component
            order_key = (
                _float(ds.get("TemporalPositionIdentifier"), 0.0) or 0.0,
                instance,
                float(frame),
                _float(ds.get("TriggerTime"), 0.0) or 0.0,
                _seconds_of_day(ds.get("AcquisitionTime") or ds.get("ContentTime")),
            )
        records.append(
            FrameRecord(
                frame=frame if multi else None,
                position=position,
                orientation=orientation,
                pixel_spacing=None if spacing is None else (float(spacing[0]), float(spacing[1])),
                slice_thickness=thickness,
                spacing_between_slices=between,
                order_key=order_key,
                component=component,
                rescale=(slope if slope else 1.0, intercept or 0.0),
                real_world=real_world,
                **common,
            )
        )
    return records
