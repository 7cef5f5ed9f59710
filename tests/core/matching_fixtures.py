"""Small synthetic dictionaries and image series for the matching tests.

The fingerprints are inversion-recovery-like curves with T2 weighting that varies from
frame to frame, so that both T1 and T2 are identifiable; they do not need the EPG.
"""

from __future__ import annotations

import numpy as np

from mrfcore.data import Geometry, ImageSeries
from mrfcore.dictionary import Dictionary


def fingerprints(t1_ms, t2_ms, n_frames: int = 48, complex_atoms: bool = False) -> np.ndarray:
    """(N, T) complex128 fingerprints for M0 = 1."""
    k = np.arange(n_frames)
    recovery_ms = 15.0 + 25.0 * k
    echo_ms = 4.0 + 90.0 * ((k * 5) % 11) / 10
    flip = np.sin(np.deg2rad(10 + 50 * np.abs(np.sin(k / 7.0))))
    t1 = np.asarray(t1_ms, dtype=np.float64)[:, None]
    t2 = np.asarray(t2_ms, dtype=np.float64)[:, None]
    signal = (1 - 2 * np.exp(-recovery_ms / t1)) * np.exp(-echo_ms / t2) * flip
    if complex_atoms:
        # A frame-dependent phase that depends on T2 too, as bSSFP-like atoms would.
        signal = signal * np.exp(1j * (0.3 * np.sin(k / 5.0) + 40.0 / t2 * np.cos(k / 3.0)))
    return (-1j * signal).astype(np.complex128)  # FISP-like: real curves times -i


def make_dictionary(
    n_t1: int = 8,
    n_t2: int = 6,
    rank: int = 6,
    complex_atoms: bool = False,
    b1_values: list[float] | None = None,
    n_frames: int = 48,
) -> Dictionary:
    """A compressed dictionary on a log-spaced (T1, T2[, B1]) grid (T1-major)."""
    t1_axis = np.geomspace(150.0, 3000.0, n_t1)
    t2_axis = np.geomspace(15.0, 400.0, n_t2)
    axes = [t1_axis, t2_axis] + ([np.asarray(b1_values)] if b1_values is not None else [])
    mesh = [m.ravel() for m in np.meshgrid(*axes, indexing="ij")]
    t1, t2 = mesh[0], mesh[1]
    b1 = mesh[2] if b1_values is not None else None
    signals = fingerprints(t1, t2, n_frames, complex_atoms)
    if b1 is not None:
        signals = signals * b1[:, None] ** np.linspace(0.5, 2.0, n_frames)[None, :]
    _, singular, vh = np.linalg.svd(signals, full_matrices=False)
    basis = vh[:rank].T.astype(np.complex64)  # (T, s), orthonormal columns
    atoms = (signals @ basis.conj()).astype(np.complex64)  # V^H d_j, one row per atom
    return Dictionary(
        sequence_hash="synthetic",
        t1_ms=t1.astype(np.float32),
        t2_ms=t2.astype(np.float32),
        b1=None if b1 is None else b1.astype(np.float32),
        basis=basis,
        atoms=atoms,
        norms=np.linalg.norm(atoms, axis=1).astype(np.float32),
        singular_values=singular.astype(np.float32),
        energy_captured=float((singular[:rank] ** 2).sum() / (singular**2).sum()),
        metadata={"grid": {"kind": "synthetic"}},
    )


def noisy_voxels(
    dictionary: Dictionary, n_voxels: int, noise: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(signals (V, s) complex64, true atom index (V,), complex PD (V,)).

    Noise is complex Gaussian with standard deviation ``noise × ||x||`` per voxel
    (relative to the voxel's signal norm).
    """
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, dictionary.n_atoms, n_voxels)
    pd = rng.uniform(0.5, 2.0, n_voxels) * np.exp(1j * rng.uniform(-np.pi, np.pi, n_voxels))
    clean = dictionary.atoms[truth].astype(np.complex128) * pd[:, None]
    scale = noise * np.linalg.norm(clean, axis=1, keepdims=True) / np.sqrt(2 * dictionary.rank)
    noisy = clean + scale * (rng.standard_normal(clean.shape)
                             + 1j * rng.standard_normal(clean.shape))
    return noisy.astype(np.complex64), truth, pd


def reference_match(dictionary: Dictionary, signals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Brute force in float64 numpy: (best index (V,), sorted correlations (V, N))."""
    atoms = dictionary.atoms.astype(np.complex128)
    atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
    x = signals.astype(np.complex128)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    correlation = np.abs(x @ atoms.conj().T)
    return correlation.argmax(axis=1), np.sort(correlation, axis=1)


def image_series(dictionary: Dictionary, signals: np.ndarray, matrix: tuple[int, ...],
                 time_frames: bool = False) -> ImageSeries:
    """Voxel signals (V = prod(matrix), s) as an ImageSeries, subspace or time frames."""
    data = signals.T.reshape((signals.shape[1], *matrix))
    geometry = Geometry(matrix, (1.0,) * len(matrix))
    if time_frames:
        frames = (dictionary.basis @ data.reshape(data.shape[0], -1)).reshape(
            (dictionary.basis.shape[0], *matrix)
        )
        return ImageSeries(frames.astype(np.complex64), geometry)
    return ImageSeries(data.astype(np.complex64), geometry, basis=dictionary.basis)
