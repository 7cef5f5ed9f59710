"""Arrange the frames of one DICOM series into (component, time frame, slice) and work out
the voxel → RAS affine.

Conventions (checked against nibabel in the tests):

- DICOM patient coordinates are LPS; NIfTI and :class:`mrfcore.data.Geometry` use RAS,
  so x and y change sign.
- ``pixel_array`` is (rows, columns).  Our image axes are (x, y[, z]) = (column index,
  row index[, slice index]), so a frame is stored transposed.
- ImageOrientationPatient holds the direction of increasing column index (along a row)
  first, then that of increasing row index.  PixelSpacing holds the spacing between rows
  first (a step in y), then between columns (a step in x).
- Slices are sorted by their position along the normal row × column, ascending, so the
  z axis of the affine is that normal times the slice spacing.
- Within a slice, frames are sorted by TemporalPositionIdentifier (or the enhanced
  TemporalPositionIndex), then InstanceNumber, frame number, TriggerTime, AcquisitionTime.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from mrfcore.data import Geometry
from mrfcore.io._dicom_frames import FrameRecord

__all__ = ["LPS_TO_RAS", "Layout", "arrange"]

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
_ORIENTATION_TOLERANCE = 1e-3  # direction cosines
_POSITION_TOLERANCE_MM = 0.01  # DS values carry ~7 significant digits
_SPACING_TOLERANCE = 0.01  # relative irregularity of slice spacing accepted


@dataclass
class Layout:
    """The frames of one series in order, and where the voxels are.

    ``slots[component][frame][slice]`` is the record of that image.
    """

    slots: dict[str, list[list[FrameRecord]]]
    geometry: Geometry
    n_frames: int
    n_slices: int
    notes: list[str] = field(default_factory=list)


def _describe_sizes(records: list[FrameRecord]) -> str:
    counts = Counter((r.rows, r.columns) for r in records)
    return ", ".join(f"{rows}×{cols} ({n} images)" for (rows, cols), n in counts.most_common())


def _cluster(values: np.ndarray, tolerance: float) -> np.ndarray:
    """Cluster index of each value, clusters numbered in ascending order of value."""
    order = np.argsort(values, kind="stable")
    labels = np.empty(values.size, dtype=np.int64)
    label, start = 0, values[order[0]]
    for index in order:
        if values[index] - start > tolerance:
            label += 1
            start = values[index]
        labels[index] = label
    return labels


def arrange(records: list[FrameRecord], name: str) -> Layout:
    """Sort the frames of a series into time frames and slices.

    Parameters
    ----------
    records
        Every frame of one series (all components).
    name
        How to name the series in error messages (its folder or description).

    Raises
    ------
    ValueError
        Mixed image sizes or orientations, slices shifted in-plane, irregular slice
        spacing, or slices holding different numbers of frames.
    """
    if not records:
        raise ValueError(f"{name}: the series has no images")
    notes: list[str] = []
    if len({(r.rows, r.columns) for r in records}) > 1:
        raise ValueError(
            f"{name}: images of different sizes (rows×columns): {_describe_sizes(records)}"
        )
    located = [r.orientation is not None and r.position is not None for r in records]
    if any(located) and not all(located):
        raise ValueError(
            f"{name}: {located.count(False)} of {len(records)} images lack "
            "ImagePositionPatient/ImageOrientationPatient"
        )
    first = records[0]
    if all(located):
        orientation = first.orientation
        spread = max(np.max(np.abs(r.orientation - orientation)) for r in records)
        if spread > _ORIENTATION_TOLERANCE:
            n_orient = len({tuple(np.round(r.orientation, 3)) for r in records})
            raise ValueError(
                f"{name}: the images have {n_orient} different orientations (a localizer or "
                "a mixed series?); a volume needs one orientation"
            )
        row_dir = orientation[:3] / np.linalg.norm(orientation[:3])
        col_dir = orientation[3:] / np.linalg.norm(orientation[3:])
        normal = np.cross(row_dir, col_dir)
        positions = np.array([r.position for r in records])
        along = positions @ normal
        labels = _cluster(along, _POSITION_TOLERANCE_MM)
    else:
        notes.append("no ImagePositionPatient/ImageOrientationPatient: nominal geometry")
        row_dir, col_dir, normal = np.eye(3)
        positions = np.zeros((len(records), 3))
        along = np.zeros(len(records))
        labels = np.zeros(len(records), dtype=np.int64)

    n_slices = int(labels.max()) + 1
    if first.pixel_spacing is None:
        notes.append("no PixelSpacing: 1 mm assumed")
        row_spacing = col_spacing = 1.0
    else:
        row_spacing, col_spacing = first.pixel_spacing
    in_plane_tolerance = _POSITION_TOLERANCE_MM + 0.05 * min(row_spacing, col_spacing)
    origin = positions[labels == 0][0]
    offsets = positions - origin
    in_plane = offsets - np.outer(offsets @ normal, normal)
    if np.max(np.linalg.norm(in_plane, axis=1)) > in_plane_tolerance:
        raise ValueError(
            f"{name}: images are shifted in-plane from one another by up to "
            f"{np.max(np.linalg.norm(in_plane, axis=1)):.3g} mm; they do not form one volume"
        )

    centres = np.array([along[labels == k].mean() for k in range(n_slices)])
    if n_slices > 1:
        gaps = np.diff(centres)
        slice_spacing = float((centres[-1] - centres[0]) / (n_slices - 1))
        irregular = np.max(np.abs(gaps - slice_spacing))
        if irregular > _SPACING_TOLERANCE * slice_spacing + _POSITION_TOLERANCE_MM:
            raise ValueError(
                f"{name}: slice spacing is irregular (gaps from {gaps.min():.4g} to "
                f"{gaps.max():.4g} mm); missing slices or several stacks in one series?"
            )
    else:
        slice_spacing = first.spacing_between_slices or first.slice_thickness or 0.0
        if slice_spacing <= 0:
            slice_spacing = max(row_spacing, col_spacing)
            notes.append("no slice thickness: in-plane spacing used for the third axis")

    components = sorted({r.component for r in records})
    slots: dict[str, list[list[FrameRecord]]] = {}
    n_frames = None
    for component in components:
        per_slice = []
        for k in range(n_slices):
            members = [
                r
                for r, lab in zip(records, labels, strict=True)
                if lab == k and r.component == component
            ]
            members.sort(key=lambda r: (r.order_key, str(r.path)))
            per_slice.append(members)
        counts = {len(m) for m in per_slice}
        if len(counts) > 1 or (n_frames is not None and counts != {n_frames}):
            detail = ", ".join(
                f"{c}: " + "/".join(str(len(m)) for m in slots_c)
                for c, slots_c in list(slots.items()) + [(component, per_slice)]
            )
            raise ValueError(
                f"{name}: slices hold different numbers of images ({detail} per slice); "
                "is the series incomplete?"
            )
        n_frames = counts.pop()
        slots[component] = [[per_slice[k][t] for k in range(n_slices)] for t in range(n_frames)]

    affine_lps = np.eye(4)
    affine_lps[:3, 0] = row_dir * col_spacing
    affine_lps[:3, 1] = col_dir * row_spacing
    affine_lps[:3, 2] = normal * slice_spacing
    affine_lps[:3, 3] = origin
    affine = LPS_TO_RAS @ affine_lps
    if n_slices > 1:
        geometry = Geometry(
            (first.columns, first.rows, n_slices),
            (col_spacing, row_spacing, abs(slice_spacing)),
            affine,
        )
    else:
        geometry = Geometry((first.columns, first.rows), (col_spacing, row_spacing), affine)
    return Layout(slots, geometry, int(n_frames or 0), n_slices, notes)
