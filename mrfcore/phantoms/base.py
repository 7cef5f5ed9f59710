"""The phantom data object, its ground truth, ROI helpers and shared geometry.

Conventions (all phantoms)
--------------------------
* Arrays are indexed (x, y) like every image in MRF Studio (NIfTI order): x runs from the
  subject's/phantom's left to right, y from posterior to anterior.  Voxel (i, j) has its
  centre at ``((i - (nx - 1) / 2) * dx, (j - (ny - 1) / 2) * dy)`` mm, the image centre
  being the scanner origin, as ``Geometry.default_affine`` says.  Shown as ``a.T`` with
  the origin at the lower left (``origin="lower"`` in matplotlib; pyqtgraph's default
  ImageItem/ViewBox does the same for (x, y) arrays), anterior is up.
* Compartment ``k`` (0-based, ``tissue_names[k]``) has label value ``k + 1``; label 0 is
  background (no signal).
* ``fractions[k]`` is the area fraction of each voxel covered by compartment ``k``; the
  remainder ``1 - fractions.sum(0)`` is background.  Fractions are exact box averages of
  a finer description (the 0.5 mm label map, or the analytic disc of a sphere/vial), so
  boundary voxels hold partial-volume mixtures and pure voxels hold exactly 1.0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from mrfcore.data import Geometry, GroundTruth

__all__ = [
    "Phantom",
    "ReferenceRow",
    "disc_fractions",
    "dominant_labels",
    "make_geometry",
    "reference_table",
    "roi_masks",
    "voxel_centres_mm",
]

# Voxels whose fraction is this close to 0 or 1 are snapped there: the area averages
# are sums of floats and pure voxels should be exactly pure.
_SNAP = 1e-6


class ReferenceRow(NamedTuple):
    """One row of :func:`reference_table` (unpacks as (label, name, t1_ms, t2_ms))."""

    label: int
    name: str
    t1_ms: float
    t2_ms: float


@dataclass
class Phantom:
    """A 2D numerical phantom with known relaxation parameters.

    Attributes
    ----------
    name
        ``"brain"``, ``"nist"`` or ``"eurospin"``.
    geometry
        2D geometry, ``matrix == (nx, ny)``, voxel size in mm.
    tissue_names
        Names of the K compartments (tissues, spheres or vials; background excluded).
    tissue_t1_ms, tissue_t2_ms
        float (K,), relaxation times of each compartment in ms.
    tissue_pd
        float (K,), relative proton density (water = 1).
    fractions
        float32 (K, nx, ny), area fraction of each compartment per voxel; sum ≤ 1.
    labels
        int (nx, ny), dominant compartment label value ``k + 1`` (0 = background), see
        :func:`dominant_labels`.
    label_names
        Name of each label value, 0 included.
    references
        Where the values and the geometry come from (citations, files, field, batch,
        temperature, choices made).
    tissue_t1_sd_ms, tissue_t2_sd_ms
        float (K,) reference uncertainties in ms (NaN where unknown), or None.
    is_reference
        bool (K,): compartments whose values are reference values (e.g. not the NIST
        phantom's filling fluid); None means all.
    roi_erode_voxels
        Default erosion of :func:`roi_masks` for this phantom.
    """

    name: str
    geometry: Geometry
    tissue_names: list[str]
    tissue_t1_ms: np.ndarray
    tissue_t2_ms: np.ndarray
    tissue_pd: np.ndarray
    fractions: np.ndarray
    labels: np.ndarray
    label_names: dict[int, str]
    references: dict[str, Any] = field(default_factory=dict)
    tissue_t1_sd_ms: np.ndarray | None = None
    tissue_t2_sd_ms: np.ndarray | None = None
    is_reference: np.ndarray | None = None
    roi_erode_voxels: int = 0

    def __post_init__(self) -> None:
        k = len(self.tissue_names)
        self.tissue_t1_ms = np.asarray(self.tissue_t1_ms, dtype=np.float64)
        self.tissue_t2_ms = np.asarray(self.tissue_t2_ms, dtype=np.float64)
        self.tissue_pd = np.asarray(self.tissue_pd, dtype=np.float64)
        self.fractions = np.asarray(self.fractions, dtype=np.float32)
        self.labels = np.asarray(self.labels, dtype=np.int32)
        for name in ("tissue_t1_ms", "tissue_t2_ms", "tissue_pd"):
            if getattr(self, name).shape != (k,):
                raise ValueError(f"{name} must have shape ({k},), got {getattr(self, name).shape}")
        matrix = tuple(self.geometry.matrix)
        if len(matrix) != 2:
            raise ValueError(f"phantoms are 2D, got matrix {matrix}")
        if self.fractions.shape != (k, *matrix):
            raise ValueError(
                f"fractions must have shape {(k, *matrix)}, got {self.fractions.shape}"
            )
        if self.labels.shape != matrix:
            raise ValueError(f"labels must have shape {matrix}, got {self.labels.shape}")
        if self.is_reference is None:
            self.is_reference = np.ones(k, dtype=bool)
        self.is_reference = np.asarray(self.is_reference, dtype=bool)

    @property
    def n_compartments(self) -> int:
        return len(self.tissue_names)

    def pd_map(self) -> np.ndarray:
        """Proton density, float32 (nx, ny): ``sum_k fractions[k] * pd[k]``."""
        return np.tensordot(self.tissue_pd, self.fractions, axes=1).astype(np.float32)

    def ground_truth(self) -> GroundTruth:
        """Ground-truth maps on the phantom's grid.

        T1 and T2 are the values of the voxel's dominant compartment (its label), 0 where
        the label is background or the compartment has no proton density.  We do not
        average relaxation times: a two-compartment voxel's signal is the PD-weighted sum
        of two fingerprints, not the fingerprint of an averaged (T1, T2), and an average
        invents values no tissue has (a CSF/WM voxel would get T1 ≈ 2500 ms).  With the
        dominant value, the truth is exact in every pure voxel and constant inside each
        label, so ROI statistics compare against the tables directly, and errors at
        boundaries read as what they are, partial volume.  PD is the exact
        ``sum_k fractions[k] * pd[k]``, since PD does add linearly.
        """
        index = np.clip(self.labels - 1, 0, None)
        has_signal = (self.labels > 0) & (self.tissue_pd[index] > 0)
        t1 = np.where(has_signal, self.tissue_t1_ms[index], 0.0).astype(np.float32)
        t2 = np.where(has_signal, self.tissue_t2_ms[index], 0.0).astype(np.float32)
        return GroundTruth(
            t1_ms=t1,
            t2_ms=t2,
            pd=self.pd_map(),
            labels=self.labels.copy(),
            label_names=dict(self.label_names),
        )

    def tissue_masks(self, min_fraction: float = 0.5) -> dict[str, np.ndarray]:
        """bool (nx, ny) per compartment: voxels holding at least ``min_fraction`` of it."""
        return {name: self.fractions[k] >= min_fraction for k, name in enumerate(self.tissue_names)}


def make_geometry(matrix: int | tuple[int, int], fov_mm: float | tuple[float, float]) -> Geometry:
    """2D geometry of ``matrix`` voxels over ``fov_mm``, centred on the scanner origin."""
    nx, ny = (matrix, matrix) if np.isscalar(matrix) else tuple(matrix)
    fx, fy = (fov_mm, fov_mm) if np.isscalar(fov_mm) else tuple(fov_mm)
    if int(nx) != nx or int(ny) != ny or nx < 1 or ny < 1:
        raise ValueError(f"matrix must be a positive integer or a pair of them, got {matrix!r}")
    if not (np.isfinite(fx) and np.isfinite(fy) and fx > 0 and fy > 0):
        raise ValueError(f"fov_mm must be positive, got {fov_mm!r}")
    return Geometry(matrix=(int(nx), int(ny)), voxel_size_mm=(fx / nx, fy / ny))


def voxel_centres_mm(geometry: Geometry) -> tuple[np.ndarray, np.ndarray]:
    """Voxel-centre coordinates along x and y in mm (1D arrays), image centre at 0."""
    (nx, ny), (dx, dy) = geometry.matrix, geometry.voxel_size_mm
    return (np.arange(nx) - (nx - 1) / 2) * dx, (np.arange(ny) - (ny - 1) / 2) * dy


def disc_fractions(
    geometry: Geometry, centre_mm: tuple[float, float], radius_mm: float, supersample: int = 16
) -> np.ndarray:
    """Area fraction of each voxel covered by a disc, float64 (nx, ny).

    Voxels entirely inside get exactly 1, entirely outside 0; voxels the edge crosses are
    estimated on a ``supersample``² grid of sub-voxel points (error ≲ 1/supersample²·perimeter).
    """
    xs, ys = voxel_centres_mm(geometry)
    dx, dy = geometry.voxel_size_mm
    cx, cy = centre_mm
    out = np.zeros(geometry.matrix, dtype=np.float64)
    ix = np.flatnonzero(np.abs(xs - cx) < radius_mm + dx)
    iy = np.flatnonzero(np.abs(ys - cy) < radius_mm + dy)
    if ix.size == 0 or iy.size == 0:
        return out
    ax = np.abs(xs[ix] - cx)[:, None]
    ay = np.abs(ys[iy] - cy)[None, :]
    far = np.hypot(ax + dx / 2, ay + dy / 2)
    near = np.hypot(np.maximum(ax - dx / 2, 0.0), np.maximum(ay - dy / 2, 0.0))
    block = np.where(far <= radius_mm, 1.0, 0.0)
    edge = (far > radius_mm) & (near < radius_mm)
    if edge.any():
        ex, ey = np.nonzero(edge)
        offsets = (np.arange(supersample) + 0.5) / supersample - 0.5
        px = (xs[ix][ex] - cx)[:, None, None] + offsets[None, :, None] * dx
        py = (ys[iy][ey] - cy)[:, None, None] + offsets[None, None, :] * dy
        block[ex, ey] = np.mean(px**2 + py**2 <= radius_mm**2, axis=(1, 2))
    out[np.ix_(ix, iy)] = block
    return out


def snap_fractions(fractions: np.ndarray) -> np.ndarray:
    """Clean float noise: snap to 0/1 within 1e-6 and rescale voxels whose sum exceeds 1."""
    fractions = np.where(fractions < _SNAP, 0.0, fractions)
    fractions = np.where(fractions > 1 - _SNAP, 1.0, fractions)
    total = fractions.sum(axis=0)
    over = total > 1.0
    if over.any():
        fractions = fractions / np.where(over, total, 1.0)[None]
    return fractions.astype(np.float32)


def dominant_labels(fractions: np.ndarray) -> np.ndarray:
    """Label map, int32 (nx, ny): ``k + 1`` of the largest fraction, 0 where less than half
    the voxel is covered by compartments (ties go to the lower label)."""
    covered = fractions.sum(axis=0)
    labels = np.argmax(fractions, axis=0).astype(np.int32) + 1
    labels[covered < 0.5] = 0
    return labels


def roi_masks(
    phantom: Phantom,
    erode_voxels: int | None = None,
    min_fraction: float = 0.99,
    references_only: bool = True,
) -> dict[str, np.ndarray]:
    """ROI masks free of partial volume, one per compartment, keyed by its name.

    Parameters
    ----------
    phantom
        The phantom.
    erode_voxels
        Voxels removed from the edge of each pure region (4-connected erosion) so that
        blurring by a reconstruction does not reach the ROI; default
        ``phantom.roi_erode_voxels`` (1 for the sphere/vial phantoms, 0 for the brain,
        whose cortex is only a few voxels thick).
    min_fraction
        A voxel belongs to a compartment's ROI when its fraction is at least this.
    references_only
        Leave out compartments that have no reference value (the NIST filling fluid).

    Returns
    -------
    dict[str, np.ndarray]
        bool (nx, ny) per compartment, in compartment order; a mask may be empty when the
        compartment is thinner than the erosion.
    """
    from scipy.ndimage import binary_erosion

    erode = phantom.roi_erode_voxels if erode_voxels is None else int(erode_voxels)
    if erode < 0:
        raise ValueError(f"erode_voxels must be ≥ 0, got {erode}")
    if not 0 < min_fraction <= 1:
        raise ValueError(f"min_fraction must be in (0, 1], got {min_fraction}")
    masks = {}
    for k, name in enumerate(phantom.tissue_names):
        if references_only and not phantom.is_reference[k]:
            continue
        mask = phantom.fractions[k] >= np.float32(min_fraction)
        if erode:
            mask = binary_erosion(mask, iterations=erode, border_value=0)
        masks[name] = mask
    return masks


def reference_table(phantom: Phantom, references_only: bool = True) -> list[ReferenceRow]:
    """(label, name, t1_ms, t2_ms) of every compartment with a reference value."""
    return [
        ReferenceRow(k + 1, name, float(phantom.tissue_t1_ms[k]), float(phantom.tissue_t2_ms[k]))
        for k, name in enumerate(phantom.tissue_names)
        if phantom.is_reference[k] or not references_only
    ]
