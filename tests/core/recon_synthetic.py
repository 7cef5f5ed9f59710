"""Small synthetic MRF scans for the operator and reconstruction tests.

Independent of mrfcore.acquisition and mrfcore.dictionary: trajectories, basis, phantom
and coils are written here from first principles so the tests check the
reconstruction code against something it did not produce.
"""

from __future__ import annotations

import numpy as np

from mrfcore.data import Geometry, KSpaceData
from mrfcore.sequences import Sequence

GOLDEN_ANGLE = np.pi * (3 - np.sqrt(5))  # tiny golden angle in radians (~137.5°)


def radial_coords(n: int, frames: int, spokes: int = 1, readout: int | None = None) -> np.ndarray:
    """Golden-angle radial spokes through the centre, (frames, spokes·readout, 2)."""
    readout = 2 * n if readout is None else readout
    radius = (np.arange(readout) - readout / 2) * (n / readout)
    angles = np.arange(frames * spokes) * (np.pi / ((1 + np.sqrt(5)) / 2))
    kx = radius[None] * np.cos(angles)[:, None]
    ky = radius[None] * np.sin(angles)[:, None]
    coords = np.stack([kx, ky], -1).reshape(frames, spokes * readout, 2)
    return coords.astype(np.float32)


def spiral_coords(
    n: int, frames: int, interleaves: int = 8, turns: float = 4.0, readout: int = 400
) -> np.ndarray:
    """One uniform-density spiral interleaf per frame, cycling through ``interleaves``
    rotations (frames share trajectories), (frames, readout, 2)."""
    tau = np.linspace(0, 1, readout)
    radius = (n / 2) * tau
    theta = 2 * np.pi * turns * tau
    base = radius * np.exp(1j * theta)
    rotations = np.exp(2j * np.pi * (np.arange(frames) % interleaves) / interleaves)
    k = base[None] * rotations[:, None]
    return np.stack([k.real, k.imag], -1).astype(np.float32)


def exponential_basis(frames: int, rank: int, complex_phase: bool = False) -> np.ndarray:
    """Orthonormal (frames, rank) basis from an SVD of inversion-recovery-like curves."""
    t = np.arange(frames) / frames * 3000.0  # ms
    t1 = np.linspace(200, 3000, 60)
    t2 = np.linspace(20, 300, 7)
    curves = [
        (1 - 2 * np.exp(-t / a)) * np.exp(-((np.arange(frames) % 50) / 50.0) * 20 / b)
        for a in t1
        for b in t2
    ]
    matrix = np.array(curves).T
    if complex_phase:
        matrix = matrix * np.exp(1j * 0.02 * np.arange(frames))[:, None]
    u, _, _ = np.linalg.svd(matrix, full_matrices=False)
    return u[:, :rank].astype(np.complex64)


def random_orthonormal(frames: int, rank: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(
        rng.standard_normal((frames, rank)) + 1j * rng.standard_normal((frames, rank))
    )
    return q.astype(np.complex64)


def phantom_series(n: int, frames: int, blur: float = 0.0) -> np.ndarray:
    """A disk phantom with three tissues, time series (frames, n, n) complex64; ``blur``
    (voxels) smooths the edges so the object is nearly band-limited."""
    y, x = np.mgrid[:n, :n] - (n - 1) / 2
    r = np.hypot(x, y) / (n / 2)
    t = np.arange(frames) / frames * 3000.0
    tissues = [
        (r < 0.8, 1.0, 900.0),
        (np.hypot(x - n * 0.15, y) / (n / 2) < 0.25, 0.8, 2500.0),
        (np.hypot(x + n * 0.2, y + n * 0.15) / (n / 2) < 0.2, 0.6, 400.0),
    ]
    series = np.zeros((frames, n, n), np.complex64)
    for mask, pd, t1 in tissues:
        curve = pd * (1 - 2 * np.exp(-t / t1))
        series[:, mask] = curve[:, None]
    if blur:
        from scipy.ndimage import gaussian_filter

        series = gaussian_filter(series.real, (0, blur, blur)).astype(np.complex64)
    return series


def coil_maps(n: int, coils: int) -> np.ndarray:
    """Birdcage sensitivities normalised to Σ_c |S_c|² = 1, (coils, n, n)."""
    if coils == 1:
        return np.ones((1, n, n), np.complex64)
    import sigpy.mri

    maps = sigpy.mri.birdcage_maps((coils, n, n), r=1.2)
    maps = maps / np.sqrt((np.abs(maps) ** 2).sum(0, keepdims=True))
    return maps.astype(np.complex64)


def sequence(frames: int) -> Sequence:
    return Sequence(
        flip_angle_deg=np.full(frames, 10.0),
        tr_ms=np.full(frames, 10.0),
        te_ms=2.0,
        name="test",
    )


def simulate(
    coords: np.ndarray, series: np.ndarray, maps: np.ndarray, noise: float = 0.0, seed: int = 0
) -> KSpaceData:
    """Per-frame NUFFT of the coil images: samples (coils, frames, 1, points)."""
    from mrfcore import nufft

    frames, n = series.shape[0], series.shape[-1]
    samples = np.stack(
        [
            nufft.forward((maps * series[t][None]).astype(np.complex128), coords[t], eps=1e-9)
            for t in range(frames)
        ],
        1,
    )
    if noise:
        rng = np.random.default_rng(seed)
        samples = samples + noise * (
            rng.standard_normal(samples.shape) + 1j * rng.standard_normal(samples.shape)
        )
    return KSpaceData(
        samples=samples[:, :, None].astype(np.complex64),
        trajectory=coords[:, None].astype(np.float32),
        sequence=sequence(frames),
        geometry=Geometry((n, n), (1.0, 1.0)),
    )
