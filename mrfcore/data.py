"""Typed data objects that flow through MRF Studio: file → k-space → images → maps.

Arrays are numpy arrays on the CPU at these boundaries; methods move them to their
compute device internally.  Spatial axes are ordered (x, y[, z]) as in NIfTI, matching
the columns (kx, ky[, kz]) of trajectories.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from mrfcore.sequences import Sequence

__all__ = ["Geometry", "GroundTruth", "ImageSeries", "KSpaceData", "QuantitativeMaps"]


@dataclass
class Geometry:
    """Where the voxels are.

    Attributes
    ----------
    matrix
        Image size (nx, ny) or (nx, ny, nz) in voxels.
    voxel_size_mm
        Voxel edge lengths in mm, one per axis of ``matrix``.
    affine
        4×4 voxel-index → scanner (RAS+, mm) matrix, as in NIfTI.  For 2D images the
        third axis is a single slice of thickness ``voxel_size_mm[2]`` when given, else
        the in-plane voxel size.
    """

    matrix: tuple[int, ...]
    voxel_size_mm: tuple[float, ...]
    affine: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self.matrix = tuple(int(n) for n in self.matrix)
        self.voxel_size_mm = tuple(float(v) for v in self.voxel_size_mm)
        if len(self.matrix) not in (2, 3):
            raise ValueError(f"matrix must have 2 or 3 axes, got {self.matrix}")
        if len(self.voxel_size_mm) != len(self.matrix):
            raise ValueError(
                f"voxel_size_mm {self.voxel_size_mm} does not match matrix {self.matrix}"
            )
        if self.affine is None:
            self.affine = self.default_affine(self.matrix, self.voxel_size_mm)
        self.affine = np.asarray(self.affine, dtype=np.float64)
        if self.affine.shape != (4, 4):
            raise ValueError(f"affine must be 4×4, got {self.affine.shape}")

    @staticmethod
    def default_affine(matrix: tuple[int, ...], voxel_size_mm: tuple[float, ...]) -> np.ndarray:
        """Scaling affine with the image centre at the scanner origin."""
        sizes = list(voxel_size_mm) + [voxel_size_mm[-1]] * (3 - len(voxel_size_mm))
        counts = list(matrix) + [1] * (3 - len(matrix))
        affine = np.diag(sizes + [1.0])
        affine[:3, 3] = [-(n - 1) / 2 * s for n, s in zip(counts, sizes, strict=True)]
        return affine

    @property
    def ndim(self) -> int:
        return len(self.matrix)

    @property
    def fov_mm(self) -> tuple[float, ...]:
        return tuple(n * v for n, v in zip(self.matrix, self.voxel_size_mm, strict=True))


@dataclass
class GroundTruth:
    """Known truth of a simulated scan (phantoms), in the image geometry.

    Attributes
    ----------
    t1_ms, t2_ms
        Relaxation times in ms, shape ``geometry.matrix``; 0 where there is no signal.
    pd
        Proton density, arbitrary units, shape ``geometry.matrix``.
    labels
        Integer label map (tissue or vial), shape ``geometry.matrix``.
    label_names
        Name of each label value.
    """

    t1_ms: np.ndarray
    t2_ms: np.ndarray
    pd: np.ndarray
    labels: np.ndarray
    label_names: dict[int, str] = field(default_factory=dict)


@dataclass
class KSpaceData:
    """Raw non-Cartesian MRF data.

    Attributes
    ----------
    samples
        complex64, shape (coils, frames, interleaves, readout).
    trajectory
        float32, shape (frames, interleaves, readout, ndim), in units of 1/FOV: the
        k-space edge of the image matrix is at ±matrix/2 (sigpy's convention).
    sequence
        The MRF schedule; ``sequence.n_frames == samples.shape[1]``.
    geometry
        Image geometry the trajectory refers to.
    density
        Optional density-compensation weights, shape (frames, interleaves, readout).
    ground_truth
        Present for simulated scans.
    source
        Path of the file this came from, if any.
    metadata
        Anything else a reader found (header fields, conventions detected).
    """

    samples: np.ndarray
    trajectory: np.ndarray
    sequence: Sequence
    geometry: Geometry
    density: np.ndarray | None = None
    ground_truth: GroundTruth | None = None
    source: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.samples.ndim != 4:
            raise ValueError(
                f"samples must have shape (coils, frames, interleaves, readout), "
                f"got {self.samples.shape}"
            )
        if self.trajectory.shape[:3] != self.samples.shape[1:]:
            raise ValueError(
                f"trajectory shape {self.trajectory.shape} does not match samples "
                f"{self.samples.shape} (expected (frames, interleaves, readout, ndim))"
            )
        if self.sequence.n_frames != self.samples.shape[1]:
            raise ValueError(
                f"the sequence has {self.sequence.n_frames} frames but the data has "
                f"{self.samples.shape[1]}"
            )

    @property
    def n_coils(self) -> int:
        return self.samples.shape[0]

    @property
    def n_frames(self) -> int:
        return self.samples.shape[1]

    @property
    def n_interleaves(self) -> int:
        return self.samples.shape[2]

    @property
    def n_readout(self) -> int:
        return self.samples.shape[3]


@dataclass
class ImageSeries:
    """A time series of magnetisation images (TSMI), in time or in a subspace.

    Attributes
    ----------
    data
        complex64, shape (components, *geometry.matrix): ``components`` is the subspace
        rank s when ``basis`` is given, else the number of time frames.
    geometry
        Voxel geometry.
    basis
        Temporal subspace V, complex64, shape (frames, s), orthonormal columns;
        the time series is ``V @ data`` over the first axis.  ``None`` for time frames.
    sequence
        The schedule the series was acquired with, when known.
    source
        Path of the file this came from, if any.
    provenance
        Methods, options and timings that produced it.
    """

    data: np.ndarray
    geometry: Geometry
    basis: np.ndarray | None = None
    sequence: Sequence | None = None
    source: str | None = None
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if tuple(self.data.shape[1:]) != tuple(self.geometry.matrix):
            raise ValueError(
                f"image data shape {self.data.shape} does not match geometry matrix "
                f"{self.geometry.matrix} (expected (components, *matrix))"
            )
        if self.basis is not None and self.basis.shape[1] != self.data.shape[0]:
            raise ValueError(
                f"basis shape {self.basis.shape} does not match {self.data.shape[0]} "
                "subspace components"
            )

    @property
    def in_subspace(self) -> bool:
        return self.basis is not None

    def time_series(self) -> np.ndarray:
        """The full series, complex64 (frames, *matrix)."""
        if self.basis is None:
            return self.data
        flat = self.data.reshape(self.data.shape[0], -1)
        return (self.basis @ flat).reshape((self.basis.shape[0], *self.data.shape[1:]))


@dataclass
class QuantitativeMaps:
    """T1, T2 and PD maps with whatever per-voxel quality measures the method has.

    Attributes
    ----------
    t1_ms, t2_ms
        float32 in ms, shape ``geometry.matrix``; NaN outside ``mask``.
    pd
        Proton density, float32, arbitrary units (normalised), shape ``geometry.matrix``.
    mask
        bool, voxels where the maps were estimated.
    geometry
        Voxel geometry (shared with the input images).
    extra
        Additional maps by name, e.g. ``{"b1": ..., "match_correlation": ...}``.
    units
        Unit of each entry of ``extra``.
    provenance
        Input file, sequence, methods, options, software version, device and timings.
    """

    t1_ms: np.ndarray
    t2_ms: np.ndarray
    pd: np.ndarray
    mask: np.ndarray
    geometry: Geometry
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("t1_ms", "t2_ms", "pd", "mask"):
            shape = getattr(self, name).shape
            if tuple(shape) != tuple(self.geometry.matrix):
                raise ValueError(f"map {name} has shape {shape}, expected {self.geometry.matrix}")

    def maps(self) -> dict[str, tuple[np.ndarray, str]]:
        """Every map by name with its unit, T1/T2/PD first."""
        result = {"T1": (self.t1_ms, "ms"), "T2": (self.t2_ms, "ms"), "PD": (self.pd, "a.u.")}
        for name, values in self.extra.items():
            result[name] = (values, self.units.get(name, ""))
        return result
