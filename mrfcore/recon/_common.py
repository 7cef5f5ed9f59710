"""What every reconstruction shares: options, data preparation, coil combination, output.

:func:`prepare` turns a :class:`~mrfcore.data.KSpaceData` into flat per-frame arrays,
groups the frames that share k-space points, computes density compensation for the
time-averaged trajectory and coil maps from the time-averaged coil images.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mrfcore.data import ImageSeries
from mrfcore.methods import ReconstructionInputs, options_to_dict
from mrfcore.operators.coilmaps import (
    CoilCompression,
    calibration_images,
    choose_virtual_coils,
    compress_coils,
    espirit_maps,
    upsample_maps,
    walsh_maps,
)
from mrfcore.operators.density import sampled_cells, trajectory_density
from mrfcore.operators.frames import FrameGroups, grid_frames
from mrfcore.progress import Progress
from mrfcore.recon._options import CommonOptions

__all__ = [
    "PreparedScan",
    "coil_combine",
    "make_series",
    "prepare",
    "subspace_adjoint",
]

# Accuracy of the transforms that see the data once (gridding for ZF and VS, A^H y of
# the iterative methods, coil calibration images): MRF results are aliased at ~1e-2 of
# their peak, and finufft at 1e-3 (5e-4 relative error, measured) gridded 20 % faster
# than at 1e-4 and left the TSMI PSNR of ZF, VS, LR and LRTV unchanged to 0.01 dB
# (spiral and radial, 1 and 8 coils).
GRIDDING_EPS = 1e-3

# Coil maps are estimated on a grid of this many points per axis (or the matrix, if
# smaller) and interpolated: sensitivities are smooth, and the centre of k-space is
# where MRF's time-averaged data are densest.
CALIBRATION_SIZE = 64

# Energy the automatic coil compression keeps (see CommonOptions.coil_compression).
AUTOMATIC_COIL_ENERGY = 0.999


@dataclass
class PreparedScan:
    """A scan ready for the transforms.

    Attributes
    ----------
    shape
        Image matrix N.
    basis
        V, complex64 (frames, s).
    groups
        Distinct frame trajectories.
    samples
        complex64 (coils, frames, points) – virtual coils after compression.
    density
        Per-frame weights D (frames, points), float32, or ``None`` when off.
    maps
        Coil maps (coils, *N), complex64, ``Σ_c |S_c|² = 1`` (ones for one coil).
    compression
        The coil compression applied, if any.
    timings
        Seconds spent per preparation step.
    """

    shape: tuple[int, ...]
    basis: np.ndarray
    groups: FrameGroups
    samples: np.ndarray
    density: np.ndarray | None
    maps: np.ndarray
    compression: CoilCompression | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return self.samples.shape[1]

    @property
    def rank(self) -> int:
        return self.basis.shape[1]


def _flat_inputs(inputs: ReconstructionInputs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    kspace = inputs.kspace
    shape = tuple(kspace.geometry.matrix)
    basis = np.asarray(inputs.basis)
    if basis.ndim != 2 or basis.shape[0] != kspace.n_frames:
        raise ValueError(
            f"basis must have shape (frames, s) = ({kspace.n_frames}, s) for this scan, "
            f"got {basis.shape}"
        )
    if basis.shape[1] < 1 or basis.shape[1] > kspace.n_frames:
        raise ValueError(
            f"basis rank must be between 1 and the number of frames, got {basis.shape}"
        )
    trajectory = np.asarray(kspace.trajectory, np.float32)
    if trajectory.shape[-1] != len(shape):
        raise ValueError(
            f"trajectory has {trajectory.shape[-1]} k-space axes but the image matrix "
            f"{shape} has {len(shape)}"
        )
    extent = float(np.abs(trajectory).max(initial=0.0))
    if extent > 0.5 * max(shape) * 1.05:
        raise ValueError(
            f"trajectory reaches |k| = {extent:.3g} but the matrix {shape} ends at "
            f"±{max(shape) / 2:g}: trajectories must be in units of 1/FOV (sigpy's convention)"
        )
    frames = kspace.n_frames
    coords = trajectory.reshape(frames, -1, len(shape))
    samples = np.asarray(kspace.samples, np.complex64).reshape(kspace.n_coils, frames, -1)
    return coords, samples, basis.astype(np.complex64)


def _density(
    inputs: ReconstructionInputs,
    groups: FrameGroups,
    shape: tuple[int, ...],
    choice: str,
    progress: Progress,
) -> np.ndarray:
    provided = inputs.kspace.density
    if choice == "auto" and provided is not None:
        density = np.asarray(provided, np.float32).reshape(groups.n_frames, -1)
        if density.shape[1] != groups.points.shape[1] or not np.all(np.isfinite(density)):
            raise ValueError(
                f"the scan's density weights have shape {np.shape(provided)}; expected "
                "finite values of shape (frames, interleaves, readout)"
            )
        # Files disagree on the scale of their weights; give them ours (per-frame
        # weights summing to the sampled area, see mrfcore.operators.density).
        cells, cell_area = sampled_cells(groups.flat_points, shape)
        area = cells.shape[0] * cell_area
        total = float(density.sum())
        if total <= 0:
            raise ValueError("the scan's density weights are all zero or negative")
        return density * np.float32(groups.n_frames * area / total)
    return trajectory_density(groups, shape, progress=progress)


def prepare(
    inputs: ReconstructionInputs, options: CommonOptions, progress: Progress
) -> PreparedScan:
    """Flatten, group frames, compress coils, compensate density and estimate coil maps.

    Progress runs from 0 to 1 over the steps; the density is computed even when the
    reconstruction does not use it if coil maps need the time-averaged coil images.
    """
    timings: dict[str, float] = {}
    start = time.perf_counter()
    coords, samples, basis = _flat_inputs(inputs)
    shape = tuple(inputs.kspace.geometry.matrix)
    groups = FrameGroups.from_trajectory(coords)
    compression = None
    virtual = options.coil_compression or choose_virtual_coils(samples, AUTOMATIC_COIL_ENERGY)
    if virtual < samples.shape[0]:
        samples, compression = compress_coils(samples, virtual)
    timings["setup"] = time.perf_counter() - start
    progress(1, 10, "preparing data")

    density = None
    coils = samples.shape[0]
    if options.density != "none" or coils > 1:
        start = time.perf_counter()
        density = _density(inputs, groups, shape, options.density, progress.stage(0.1, 0.5))
        timings["density"] = time.perf_counter() - start
    maps = np.ones((1, *shape), np.complex64)
    if coils > 1:
        start = time.perf_counter()
        size = min(CALIBRATION_SIZE, *shape)
        coil_images = calibration_images(samples, groups, density, size, GRIDDING_EPS)
        progress(7, 10, f"coil maps ({options.coil_maps})")
        if options.coil_maps == "espirit":
            maps = espirit_maps(coil_images)
        else:
            maps = walsh_maps(coil_images, window=5)
        if tuple(maps.shape[1:]) != shape:
            maps = upsample_maps(maps, shape)
        timings["coil_maps"] = time.perf_counter() - start
    progress(10, 10, "data prepared")
    return PreparedScan(
        shape=shape,
        basis=basis,
        groups=groups,
        samples=samples,
        density=None if options.density == "none" else density,
        maps=maps,
        compression=compression,
        timings=timings,
    )


def coil_combine(coil_images: np.ndarray, maps: np.ndarray) -> np.ndarray:
    """``Σ_c conj(S_c) · x_c`` for coil images (coils, n, *N) → (n, *N), complex64."""
    return np.einsum("c...,cn...->n...", maps.conj(), coil_images).astype(np.complex64)


def subspace_adjoint(
    prepared: PreparedScan,
    temporal_weights: np.ndarray | None = None,
    use_density: bool = True,
    progress: Progress | None = None,
    eps: float = GRIDDING_EPS,
) -> np.ndarray:
    """``Σ_c conj(S_c) Σ_t W[i, t] F_t^H (D_t y_ct)``, (n, *N) complex64.

    ``temporal_weights`` W defaults to ``conj(V).T`` (so the result is ``A^H D y``);
    ``eps`` is the transforms' requested accuracy.
    """
    weights = prepared.basis.conj().T if temporal_weights is None else temporal_weights
    density = prepared.density if use_density else None
    images = grid_frames(
        prepared.samples, weights, prepared.groups, prepared.shape, density, eps, progress
    )
    return coil_combine(images, prepared.maps)


def make_series(
    data: np.ndarray,
    inputs: ReconstructionInputs,
    prepared: PreparedScan,
    method: str,
    options: Any,
    **provenance: Any,
) -> ImageSeries:
    """The method's result as an :class:`ImageSeries` in the basis' subspace."""
    kspace = inputs.kspace
    record = {
        "reconstruction": method,
        "options": options_to_dict(options),
        "coils": int(kspace.n_coils),
        "virtual_coils": int(prepared.samples.shape[0]),
        "frame_groups": int(prepared.groups.n_groups),
        "timings_s": dict(prepared.timings),
    }
    if prepared.compression is not None:
        record["coil_compression_energy"] = prepared.compression.energy
    for key, value in provenance.items():
        if key == "timings_s":
            record["timings_s"].update(value)
        else:
            record[key] = value
    return ImageSeries(
        data=np.ascontiguousarray(data, dtype=np.complex64),
        geometry=kspace.geometry,
        basis=prepared.basis,
        sequence=kspace.sequence,
        source=kspace.source,
        provenance=record,
    )
