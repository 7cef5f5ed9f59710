"""Receive-coil sensitivities, transmit (B1+) fields and measurement noise.

SNR convention used throughout MRF Studio's simulations
-------------------------------------------------------
``SNR = S / σ`` where

- ``S`` is the mean over the object's voxels and over all frames of the noise-free
  magnetisation magnitude ``|x_t(v)| = |Σ_k f_k(v) · PD_k · B_k(t)|`` (the TSMI the
  scan is simulated from, before coils), and
- ``σ`` is the standard deviation of the complex noise of one k-space sample of one
  coil: ``E|n|² = σ²``, real and imaginary parts each with SD ``σ/√2``, independent
  between samples and coils (white noise, identity coil covariance).

Because the NUFFT is orthonormal (``mrfcore.nufft``) and the coil maps are normalised
to ``Σ_c |S_c|² = 1``, ``σ`` is also the noise SD of the image of one fully sampled
Cartesian frame after coil combination with the true sensitivities.  So the SNR is the
per-frame image SNR a fully sampled acquisition of one frame would have; undersampled
non-Cartesian frames are noisier after gridding, and combining frames (the subspace
projection) averages noise down.  The object is where the proton density is at least
10 % of its maximum.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "add_noise",
    "birdcage_sensitivities",
    "noise_sd_for_snr",
    "object_mask",
    "smooth_b1_map",
]

OBJECT_THRESHOLD = 0.1
"""Voxels with PD ≥ this fraction of the maximum PD form the object (SNR definition)."""


def birdcage_sensitivities(
    n_coils: int, matrix: tuple[int, int], radius: float = 1.5
) -> np.ndarray:
    """Simulated birdcage receive sensitivities, normalised voxel by voxel.

    Parameters
    ----------
    n_coils
        Number of receive coils (≥ 1), evenly spaced on a ring.
    matrix
        Image shape (nx, ny).
    radius
        Ring radius relative to half the FOV (``sigpy.mri.birdcage_maps``' ``r``).

    Returns
    -------
    numpy.ndarray
        complex64, shape (coils, nx, ny), with ``Σ_c |S_c|² = 1`` in every voxel (so a
        coil-combined image has the magnetisation's own scale; the intensity variation
        of real coils is left to the reconstruction's coil estimate).  One coil gives
        ones (an ideal body coil).
    """
    if n_coils < 1:
        raise ValueError(f"the number of coils must be ≥ 1, got {n_coils}")
    shape = tuple(int(n) for n in matrix)
    if n_coils == 1:
        return np.ones((1, *shape), dtype=np.complex64)
    maps = _birdcage_maps(n_coils, shape, radius)
    norm = np.sqrt(np.sum(np.abs(maps) ** 2, axis=0, keepdims=True))
    return (maps / norm).astype(np.complex64)


def _birdcage_maps(n_coils: int, shape: tuple[int, int], radius: float) -> np.ndarray:
    """``sigpy.mri.birdcage_maps((n_coils, *shape), r=radius)`` (2D case), complex128.

    The same arithmetic as sigpy 0.1.27 (BSD-3-Clause), transcribed so that simulating a
    scan does not import sigpy (1.5–2.4 s here); tests/core/test_sigpy_ports.py checks
    the two agree.  sigpy names the axes (coil, y, x); the arrays are the same.
    """
    nc, ny, nx = n_coils, *shape
    c, y, x = np.mgrid[:nc, :ny, :nx]
    coilx = radius * np.cos(c * (2 * np.pi / nc))
    coily = radius * np.sin(c * (2 * np.pi / nc))
    coil_phs = -c * (2 * np.pi / nc)
    x_co = (x - nx / 2.0) / (nx / 2.0) - coilx
    y_co = (y - ny / 2.0) / (ny / 2.0) - coily
    rr = np.sqrt(x_co**2 + y_co**2)
    phi = np.arctan2(x_co, -y_co) + coil_phs
    out = (1.0 / rr) * np.exp(1j * phi)
    return out / np.sum(np.abs(out) ** 2, axis=0) ** 0.5


def smooth_b1_map(matrix: tuple[int, int], amplitude: float = 0.2, tilt: float = 0.3) -> np.ndarray:
    """A smooth transmit-field map (relative flip-angle scale), float32 (nx, ny).

    A centre-bright dome, as a body coil at 3 T gives, with a slight left-right tilt:
    ``1 + amplitude · (1 - 2r²) + amplitude · tilt · x`` with r and x scaled to the
    half-FOV, so the map spans roughly ``1 ± amplitude`` over the FOV and is 1 + amplitude
    at the centre.  ``amplitude = 0`` gives a uniform map of ones.
    """
    if not 0 <= amplitude < 0.9:
        raise ValueError(f"B1 amplitude must be in [0, 0.9), got {amplitude}")
    nx, ny = (int(n) for n in matrix)
    x = (np.arange(nx) - (nx - 1) / 2) / (nx / 2)
    y = (np.arange(ny) - (ny - 1) / 2) / (ny / 2)
    xx, yy = np.meshgrid(x, y, indexing="ij")
    r2 = np.minimum(xx**2 + yy**2, 1.0)
    b1 = 1 + amplitude * (1 - 2 * r2) + amplitude * tilt * xx
    return b1.astype(np.float32)


def object_mask(pd: np.ndarray) -> np.ndarray:
    """Voxels with PD ≥ 10 % of the maximum: the object of the SNR definition."""
    pd = np.abs(np.asarray(pd))
    peak = pd.max() if pd.size else 0.0
    if peak <= 0:
        raise ValueError("the proton-density map is zero everywhere: there is no object")
    return pd >= OBJECT_THRESHOLD * peak


def noise_sd_for_snr(mean_signal: float, snr: float) -> float:
    """σ of the complex k-space noise for a given SNR (module docstring): S / SNR."""
    if not snr > 0:
        raise ValueError(f"SNR must be > 0 (use None for no noise), got {snr}")
    return float(mean_signal) / float(snr)


def add_noise(samples: np.ndarray, sd: float, rng: np.random.Generator) -> np.ndarray:
    """``samples`` plus white complex Gaussian noise with ``E|n|² = sd²``, in place.

    Returns the same (complex64) array.
    """
    scale = np.float32(sd / np.sqrt(2.0))
    noise = rng.standard_normal(samples.shape + (2,), dtype=np.float32)
    noise *= scale
    samples += noise.view(np.complex64)[..., 0]
    return samples
