"""Coil sensitivity maps from the time-averaged data, and coil compression.

All frames of an MRF scan together sample k-space nearly fully, so the density-
compensated adjoint NUFFT of all data gives one well-sampled image per coil (see
:func:`mrfcore.recon._common.prepare`); these functions turn such coil images into maps.

Conventions: maps are normalised to ``Σ_c |S_c|² = 1`` where they are defined (so the
coil combination ``Σ_c conj(S_c) x_c`` has unit gain), and their common phase is
referenced to a virtual body coil (the whole image's principal coil combination), which
is smooth and does not vanish over the object, unlike any single coil's phase.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage

if TYPE_CHECKING:
    from mrfcore.operators.frames import FrameGroups

__all__ = [
    "CoilCompression",
    "calibration_images",
    "choose_virtual_coils",
    "compress_coils",
    "espirit_maps",
    "reference_phase",
    "upsample_maps",
    "walsh_maps",
]


def calibration_images(
    samples: np.ndarray,
    groups: FrameGroups,
    density: np.ndarray,
    size: int,
    eps: float = 1e-4,
) -> np.ndarray:
    """Low-resolution time-averaged coil images from the centre of k-space.

    Sensitivities are smooth, so they are estimated on a ``size``-point grid over the
    same FOV: only samples with ``|k_i| < size/2`` are gridded, tapered by a Hann window
    in ``|k|`` against ringing.  Far cheaper than full-resolution coil images, and what
    ESPIRiT's calibration region needs anyway.

    Parameters
    ----------
    samples
        complex (coils, frames, points).
    groups
        :class:`~mrfcore.operators.frames.FrameGroups` of the trajectory.
    density
        Per-frame density weights (frames, points) of the full trajectory.
    size
        Grid points per axis of the calibration images.

    Returns
    -------
    numpy.ndarray
        complex64 (coils, size, ..., size).
    """
    from mrfcore.operators import _parallel

    ndim = groups.points.shape[-1]
    frames = groups.n_frames
    # The taper vanishes outside |k| = size/2: only the readout points that fall inside
    # for some frame are weighted and summed (a fraction of the readout for spirals and
    # spokes, which is most of the saving over gridding everything).
    radius = np.linalg.norm(groups.points, axis=-1)  # (groups, points)
    columns = np.flatnonzero((radius < size / 2).any(axis=0))
    points = groups.points[:, columns]
    radius = radius[:, columns]
    inside = radius < size / 2
    taper = np.where(inside, 0.5 + 0.5 * np.cos(np.pi * radius / (size / 2)), 0)
    # Sum each group's frames in k-space first (one point set per group), weighted by
    # density and taper: the time average of the gridded frames.
    weights = (density[:, columns] * taper[groups.index] / frames).astype(np.float32)
    values = groups.reduce(
        np.ones((1, frames), np.complex64), samples[:, :, columns] * weights[None]
    )[:, 0]
    keep = inside.reshape(-1)
    coords = points.reshape(-1, ndim)[keep]
    flat = np.ascontiguousarray(values.reshape(values.shape[0], -1)[:, keep])
    images = _parallel.adjoint(flat, coords, (size,) * ndim, eps)
    # Same FOV, fewer points: the orthonormal scaling differs by sqrt(N_low / N_high)
    # per axis, which does not matter for normalised maps.
    return images.astype(np.complex64)


def upsample_maps(maps: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Interpolate maps (coils, *n) from a coarse grid to ``shape`` over the same FOV,
    linearly, and renormalise to unit norm over coils where they are not zero."""
    from scipy.ndimage import map_coordinates

    coarse = maps.shape[1:]
    axes = [
        (np.arange(fine) - fine // 2) * (small / fine) + small // 2
        for fine, small in zip(shape, coarse, strict=True)
    ]
    grid = np.meshgrid(*axes, indexing="ij")
    out = np.empty((maps.shape[0], *shape), np.complex64)
    for coil, coil_map in enumerate(maps):
        real = map_coordinates(coil_map.real, grid, order=1, mode="nearest")
        imag = map_coordinates(coil_map.imag, grid, order=1, mode="nearest")
        out[coil] = real + 1j * imag
    norm = np.sqrt((np.abs(out) ** 2).sum(0, keepdims=True))
    return np.where(norm > 0, out / np.maximum(norm, 1e-30), 0).astype(np.complex64)


def _check_images(coil_images: np.ndarray) -> np.ndarray:
    coil_images = np.asarray(coil_images)
    if coil_images.ndim not in (3, 4):
        raise ValueError(
            f"coil images must have shape (coils, *N) with 2 or 3 image axes, "
            f"got {coil_images.shape}"
        )
    return coil_images.astype(np.complex64, copy=False)


def _principal_coil_weights(coil_images: np.ndarray) -> np.ndarray:
    flat = coil_images.reshape(coil_images.shape[0], -1)
    _, vectors = np.linalg.eigh(flat @ flat.conj().T)
    return vectors[:, -1]


def reference_phase(maps: np.ndarray, coil_images: np.ndarray) -> np.ndarray:
    """Remove from ``maps`` the phase of the virtual body coil ``Σ_c conj(w_c) S_c``.

    ``w`` is the principal coil combination of the whole image; multiplying every coil
    by one phase per voxel keeps the maps valid sensitivities.
    """
    weights = _principal_coil_weights(coil_images)
    virtual = np.tensordot(weights.conj(), maps, axes=1)
    phase = np.exp(-1j * np.angle(virtual)).astype(np.complex64)
    return (maps * phase[None]).astype(np.complex64)


def walsh_maps(coil_images: np.ndarray, window: int = 7) -> np.ndarray:
    """Adaptive coil combination (Walsh et al., MRM 2000): maps from local coil covariance.

    Parameters
    ----------
    coil_images
        complex, shape (coils, *N), e.g. time-averaged gridded images.
    window
        Edge (voxels) of the box over which the coil covariance is averaged.

    Returns
    -------
    numpy.ndarray
        complex64, shape (coils, *N): the dominant eigenvector of the local covariance
        at every voxel, unit norm over coils, phase referenced to a virtual body coil.
    """
    coil_images = _check_images(coil_images)
    coils = coil_images.shape[0]
    image_shape = coil_images.shape[1:]
    if coils == 1:
        return np.ones_like(coil_images)
    covariance = np.empty((*image_shape, coils, coils), np.complex64)
    for a in range(coils):
        for b in range(a, coils):
            product = coil_images[a] * coil_images[b].conj()
            smoothed = ndimage.uniform_filter(product.real, window) + 1j * ndimage.uniform_filter(
                product.imag, window
            )
            covariance[..., a, b] = smoothed
            covariance[..., b, a] = smoothed.conj()
    _, vectors = np.linalg.eigh(covariance)
    maps = np.moveaxis(vectors[..., -1], -1, 0)
    return reference_phase(maps, coil_images)


def espirit_maps(
    coil_images: np.ndarray,
    calib_width: int = 24,
    threshold: float = 0.02,
    kernel_width: int = 6,
    crop: float = 0.95,
) -> np.ndarray:
    """ESPIRiT maps (Uecker et al., MRM 2014) by sigpy's ``EspiritCalib``.

    The Cartesian k-space it calibrates on is the FFT of ``coil_images``; its central
    ``calib_width`` lines in every direction are the calibration region.

    Returns
    -------
    numpy.ndarray
        complex64, shape (coils, *N): unit norm over coils where the ESPIRiT eigenvalue
        exceeds ``crop``, zero elsewhere; phase referenced to a virtual body coil.
    """
    import sigpy as sp
    from sigpy.mri.app import EspiritCalib

    coil_images = _check_images(coil_images)
    if coil_images.shape[0] == 1:
        return np.ones_like(coil_images)
    axes = tuple(range(1, coil_images.ndim))
    kspace = sp.fft(coil_images, axes=axes)
    width = min(calib_width, *coil_images.shape[1:])
    maps = EspiritCalib(
        kspace,
        calib_width=width,
        thresh=threshold,
        kernel_width=min(kernel_width, width),
        crop=crop,
        show_pbar=False,
    ).run()
    return reference_phase(np.asarray(maps, np.complex64), coil_images)


@dataclass
class CoilCompression:
    """A coil compression: ``virtual = matrix @ physical`` over the coil axis.

    Attributes
    ----------
    matrix
        complex64, shape (virtual coils, physical coils), orthonormal rows.
    energy
        Fraction of the data's energy the virtual coils keep.
    """

    matrix: np.ndarray
    energy: float


def _coil_energies(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    flat = samples.reshape(samples.shape[0], -1)
    values, vectors = np.linalg.eigh(flat @ flat.conj().T)
    order = np.argsort(values)[::-1]
    return np.maximum(values[order], 0), vectors[:, order]


def choose_virtual_coils(samples: np.ndarray, energy: float = 0.999) -> int:
    """The fewest virtual coils whose principal components keep ``energy`` of the data.

    Noise spreads evenly over the components, so noisy data keep more coils: the rule
    only drops components that hold (almost) no signal.
    """
    values, _ = _coil_energies(samples)
    total = values.sum()
    if total <= 0:
        return 1
    kept = np.cumsum(values) / total
    return int(min(len(values), np.searchsorted(kept, energy - 1e-12) + 1))


def compress_coils(samples: np.ndarray, virtual_coils: int) -> tuple[np.ndarray, CoilCompression]:
    """Compress the coil axis by its SVD (principal components of the raw data).

    Parameters
    ----------
    samples
        complex, shape (coils, ...).
    virtual_coils
        How many virtual coils to keep (≥ 1; more than the physical coils is an error).

    Returns
    -------
    (numpy.ndarray, CoilCompression)
        Compressed samples (virtual coils, ...) and the compression used.
    """
    coils = samples.shape[0]
    if not 1 <= virtual_coils <= coils:
        raise ValueError(
            f"virtual_coils must be between 1 and the {coils} physical coils, got {virtual_coils}"
        )
    flat = samples.reshape(coils, -1)
    values, vectors = _coil_energies(samples)
    matrix = vectors[:, :virtual_coils].conj().T.astype(np.complex64)
    energy = float(values[:virtual_coils].sum() / max(values.sum(), np.finfo(float).tiny))
    compressed = (matrix @ flat).reshape(virtual_coils, *samples.shape[1:])
    return compressed.astype(np.complex64), CoilCompression(matrix, energy)
