"""Find DICOM images (folder, DICOMDIR or list of files) and group them into series.

Only headers are read here (``stop_before_pixels``); pixels are read once a series has
been chosen.  Files that are not DICOM images are skipped with a note naming them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mrfcore.io._dicom_frames import FrameRecord, frame_records

__all__ = ["DicomScan", "DicomSeriesInfo", "IDENTIFIER_KEYWORDS", "scan_dicom"]

IDENTIFIER_KEYWORDS = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "PatientAge",
    "StudyInstanceUID",
    "StudyID",
    "StudyDate",
    "StudyTime",
    "StudyDescription",
    "AccessionNumber",
    "ReferringPhysicianName",
    "FrameOfReferenceUID",
)
"""Patient and study attributes carried over to exported maps (never into JSON sidecars)."""

_ACQUISITION_KEYWORDS = (
    "Modality",
    "Manufacturer",
    "ManufacturerModelName",
    "MagneticFieldStrength",
    "ProtocolName",
    "SequenceName",
    "RepetitionTime",
    "EchoTime",
    "InversionTime",
    "FlipAngle",
)
_NON_IMAGE_MODALITIES = {"SEG", "RTSTRUCT", "RTPLAN", "RTRECORD", "SR", "PR", "KO", "REG"}
_DIRECTORY_CLASS = "1.2.840.10008.1.3.10"


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _json_value(value: Any) -> Any:
    """Header values as plain numbers or strings."""
    if value is None:
        return None
    try:
        if isinstance(value, str | bytes):
            raise TypeError
        number = float(value)
        return int(number) if number.is_integer() else number
    except (TypeError, ValueError):
        return str(value)


@dataclass
class DicomSeriesInfo:
    """One series (or a magnitude series with its paired phase series) found by a scan."""

    uid: str
    number: int | None
    description: str
    files: list[Path]
    records: list[FrameRecord]
    identifiers: dict[str, str] = field(default_factory=dict)
    acquisition: dict[str, Any] = field(default_factory=dict)
    paired_uids: tuple[str, ...] = ()
    mosaic: bool = False

    @property
    def components(self) -> tuple[str, ...]:
        return tuple(sorted({r.component for r in self.records}))

    @property
    def name(self) -> str:
        label = f"series {self.number}" if self.number is not None else f"series {self.uid}"
        if self.description:
            label += f" '{self.description}'"
        folder = self.files[0].parent if self.files else ""
        return f"{folder}: {label}"

    def summary(self) -> dict[str, Any]:
        """What ``mrf info`` prints: sizes, geometry and acquisition, no patient data."""
        from mrfcore.io._dicom_layout import arrange

        result: dict[str, Any] = {
            "series_uid": self.uid,
            "series_number": self.number,
            "description": self.description,
            "files": len(self.files),
            "images": len(self.records),
            "components": list(self.components),
            **{k: v for k, v in self.acquisition.items() if v is not None},
        }
        if self.paired_uids:
            result["paired_series"] = list(self.paired_uids)
        try:
            layout = arrange(self.records, self.name)
        except ValueError as error:
            result["problem"] = str(error)
        else:
            result.update(
                matrix=list(layout.geometry.matrix),
                voxel_size_mm=[round(v, 4) for v in layout.geometry.voxel_size_mm],
                frames=layout.n_frames,
                slices=layout.n_slices,
            )
        return result

    def describe(self) -> str:
        return "\n".join(f"{key}: {value}" for key, value in self.summary().items())


@dataclass
class DicomScan:
    """Every series found under a source, and the files skipped with the reason."""

    source: str
    series: list[DicomSeriesInfo]
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "series": [s.summary() for s in self.series],
            "skipped": list(self.skipped),
            "notes": list(self.notes),
        }

    def describe(self) -> str:
        lines = [f"{self.source}: {len(self.series)} series"]
        for info in self.series:
            lines.append(f"- {info.name.split(': ', 1)[-1]}: {len(info.records)} images")
        lines += [f"skipped {s}" for s in self.skipped]
        return "\n".join(lines)

    def select(self, series: str | int | None = None) -> DicomSeriesInfo:
        """The series with this SeriesInstanceUID or SeriesNumber; the only one if None.

        Raises
        ------
        ValueError
            Listing the series found when the choice is missing or matches nothing.
        """
        listing = "; ".join(
            f"{s.uid} (number {s.number}, '{s.description}', {len(s.records)} images)"
            for s in self.series
        )
        if series is None:
            if len(self.series) == 1:
                return self.series[0]
            raise ValueError(
                f"{self.source}: holds {len(self.series)} series; choose one by "
                f"SeriesInstanceUID or SeriesNumber: {listing}"
            )
        for info in self.series:
            if str(series) == info.uid or str(series) in info.paired_uids:
                return info
        matches = [s for s in self.series if s.number is not None and str(s.number) == str(series)]
        if len(matches) == 1:
            return matches[0]
        problem = "several series have" if matches else "no series has"
        raise ValueError(f"{self.source}: {problem} the number or UID {series!r}; found {listing}")


def _read_header(path: Path) -> tuple[Any | None, str]:
    """The header dataset, or None and why the file was skipped."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        return pydicom.dcmread(path, stop_before_pixels=True), ""
    except InvalidDicomError:
        pass
    except Exception as error:  # pydicom raises many kinds on damaged files
        return None, f"unreadable DICOM ({type(error).__name__}: {error})"
    # Files without the 128-byte preamble are still DICOM if they parse into an image
    # header; anything else is not DICOM.
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    except Exception:
        return None, "not a DICOM file"
    if "SOPClassUID" in ds and "Rows" in ds:
        return ds, ""
    return None, "not a DICOM file"


def _dicomdir_files(path: Path, notes: list[str]) -> list[Path]:
    import pydicom

    try:
        ds = pydicom.dcmread(path)
    except Exception as error:
        raise ValueError(f"{path}: cannot read the DICOMDIR: {error}") from None
    if "DirectoryRecordSequence" not in ds:
        raise ValueError(f"{path}: not a DICOMDIR (no DirectoryRecordSequence)")
    files = []
    for record in ds.DirectoryRecordSequence:
        parts = record.get("ReferencedFileID")
        if not parts:
            continue
        parts = [parts] if isinstance(parts, str) else list(parts)
        file = path.parent.joinpath(*[str(p) for p in parts])
        if file.is_file():
            files.append(file)
        else:
            notes.append(f"{file}: listed in {path.name} but missing")
    if not files:
        raise ValueError(f"{path}: the DICOMDIR lists no image files that exist")
    return files


def _is_dicomdir(path: Path) -> bool:
    return path.name.upper() == "DICOMDIR"


def _collect(source: str | Path | Iterable[str | Path], notes: list[str]) -> tuple[list[Path], str]:
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.exists():
            raise ValueError(f"{path}: no such file or folder")
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
            if not files:
                raise ValueError(f"{path}: the folder is empty")
            return files, str(path)
        if _is_dicomdir(path):
            return _dicomdir_files(path, notes), str(path)
        return [path], str(path)
    files = []
    for item in source:
        path = Path(item)
        if path.is_dir():
            files += sorted(
                p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")
            )
        elif path.is_file():
            files.append(path)
        else:
            raise ValueError(f"{path}: no such file")
    if not files:
        raise ValueError("no DICOM files given (the list is empty)")
    name = str(files[0].parent) if len(files) > 1 else str(files[0])
    return files, name


def _signature(info: DicomSeriesInfo) -> tuple:
    """What a magnitude series and its phase series share: study, size and positions."""
    positions = sorted(
        tuple(np.round(r.position, 2)) if r.position is not None else () for r in info.records
    )
    first = info.records[0]
    return (
        info.identifiers.get("StudyInstanceUID", ""),
        first.rows,
        first.columns,
        len(info.records),
        tuple(positions),
    )


def _pair_magnitude_phase(series: list[DicomSeriesInfo], notes: list[str]) -> list[DicomSeriesInfo]:
    """Merge each phase-only series into the one magnitude-only series that matches it."""
    magnitudes = [s for s in series if s.components == ("magnitude",)]
    phases = [s for s in series if s.components == ("phase",)]
    merged: set[str] = set()
    for phase in phases:
        candidates = [
            m for m in magnitudes if m.uid not in merged and _signature(m) == _signature(phase)
        ]
        if len(candidates) > 1 and phase.number is not None:
            distance = [abs((m.number or 0) - phase.number) for m in candidates]
            best = [m for m, d in zip(candidates, distance, strict=True) if d == min(distance)]
            candidates = best
        if len(candidates) != 1:
            if candidates:
                notes.append(f"{phase.name}: several magnitude series match; not paired")
            continue
        magnitude = candidates[0]
        magnitude.records = magnitude.records + phase.records
        magnitude.files = magnitude.files + phase.files
        magnitude.paired_uids = (phase.uid,)
        merged.add(magnitude.uid)
        merged.add(phase.uid)
        notes.append(f"{magnitude.name}: combined with phase {phase.name}")
    return [s for s in series if not (s.components == ("phase",) and s.uid in merged)]


def scan_dicom(source: str | Path | Iterable[str | Path], pair_phase: bool = True) -> DicomScan:
    """Group the DICOM images under ``source`` into series.

    Parameters
    ----------
    source
        A folder (searched recursively), a DICOMDIR file, one file, or a list of files.
    pair_phase
        Merge a phase-only series into the magnitude-only series with the same study,
        image size and slice positions (scanners often store them as two series).

    Raises
    ------
    ValueError
        Naming the source when it does not exist, is empty or holds no DICOM images.
    """
    notes: list[str] = []
    files, name = _collect(source, notes)
    skipped: list[str] = []
    groups: dict[str, DicomSeriesInfo] = {}
    for path in files:
        ds, reason = _read_header(path)
        if ds is None:
            skipped.append(f"{path}: {reason}")
            continue
        if "DirectoryRecordSequence" in ds or str(ds.get("SOPClassUID", "")) == _DIRECTORY_CLASS:
            skipped.append(f"{path}: a DICOMDIR index, not an image")
            continue
        modality = str(ds.get("Modality", "") or "")
        if "Rows" not in ds or "Columns" not in ds or modality in _NON_IMAGE_MODALITIES:
            skipped.append(f"{path}: DICOM without image pixels ({modality or 'no modality'})")
            continue
        try:
            records = frame_records(ds, path)
        except ValueError as error:
            skipped.append(str(error))
            continue
        uid = str(ds.get("SeriesInstanceUID", "") or f"(no SeriesInstanceUID) {path.parent}")
        info = groups.get(uid)
        if info is None:
            number = ds.get("SeriesNumber")
            info = DicomSeriesInfo(
                uid=uid,
                number=int(number) if number not in (None, "") else None,
                description=_text(ds.get("SeriesDescription")),
                files=[],
                records=[],
                identifiers={k: _text(ds.get(k)) for k in IDENTIFIER_KEYWORDS if k in ds},
                acquisition={k: _json_value(ds.get(k)) for k in _ACQUISITION_KEYWORDS},
            )
            groups[uid] = info
        info.files.append(path)
        info.records.extend(records)
        image_type = [str(v).upper() for v in (ds.get("ImageType") or [])]
        info.mosaic = info.mosaic or "MOSAIC" in image_type
    if not groups:
        detail = "; ".join(skipped[:5]) + (" …" if len(skipped) > 5 else "")
        raise ValueError(f"{name}: no DICOM images found ({detail})")
    series = sorted(groups.values(), key=lambda s: (s.number is None, s.number or 0, s.uid))
    if pair_phase:
        series = _pair_magnitude_phase(series, notes)
    return DicomScan(name, series, skipped, notes)
