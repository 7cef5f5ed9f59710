"""Error metrics against ground truth, as the MRF papers report them."""

from __future__ import annotations

import numpy as np


def _select(
    estimate: np.ndarray, truth: np.ndarray, mask: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    estimate, truth = np.asarray(estimate), np.asarray(truth)
    if estimate.shape != truth.shape:
        raise ValueError(f"estimate shape {estimate.shape} differs from truth {truth.shape}")
    keep = np.ones(truth.shape, bool) if mask is None else np.asarray(mask, bool)
    return estimate[keep], truth[keep]


def mae(estimate: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean absolute error, in the units of the inputs (NaN estimates count as errors)."""
    e, t = _select(estimate, truth, mask)
    return float(np.mean(np.abs(np.nan_to_num(e, nan=0.0) - t)))


def mape(estimate: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean absolute percentage error, 100·mean(|e − t| / |t|) over ``mask``.

    A NaN estimate (e.g. a voxel the method masked out) counts as 100 % error, so that
    masking cannot flatter a method.
    """
    e, t = _select(estimate, truth, mask)
    if np.any(t == 0):
        raise ValueError("MAPE is undefined where the truth is 0; restrict the mask")
    return float(100 * np.mean(np.abs(np.nan_to_num(e, nan=0.0) - t) / np.abs(t)))


def nrmse(estimate: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Normalised RMSE in percent: 100·||e − t|| / ||t|| over ``mask``."""
    e, t = _select(estimate, truth, mask)
    return float(100 * np.linalg.norm(np.nan_to_num(e, nan=0.0) - t) / np.linalg.norm(t))


def psnr(estimate: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Peak signal-to-noise ratio in dB: 20·log10(max|t| / RMSE) over ``mask``.

    Complex inputs (TSMIs) use the modulus of the complex error.
    """
    e, t = _select(estimate, truth, mask)
    rmse = np.sqrt(np.mean(np.abs(e - t) ** 2))
    return float(20 * np.log10(np.max(np.abs(t)) / rmse))
