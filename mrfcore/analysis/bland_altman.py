"""Bland-Altman analysis of agreement between two measurement methods.

Bland & Altman, Lancet 1986; confidence intervals of the limits of agreement by the
approximate standard error sd·sqrt(1/n + z²/(2(n−1))) of Bland & Altman 1999
(Stat Methods Med Res 8:135), with Student-t quantiles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BlandAltman:
    """Result of :func:`bland_altman`.

    Attributes
    ----------
    mean, difference
        Per pair: (reference + measured)/2 and measured − reference (in percent of the
        pair mean when ``percentage``).
    bias, sd
        Mean and standard deviation (n−1) of the differences.
    lower, upper
        Limits of agreement, bias ∓ z·sd (z = 1.96 for 95 %).
    bias_ci, lower_ci, upper_ci
        (low, high) confidence intervals of bias and of each limit.
    """

    mean: np.ndarray
    difference: np.ndarray
    bias: float
    sd: float
    lower: float
    upper: float
    bias_ci: tuple[float, float]
    lower_ci: tuple[float, float]
    upper_ci: tuple[float, float]
    n: int
    percentage: bool
    confidence: float


def bland_altman(
    reference: np.ndarray,
    measured: np.ndarray,
    percentage: bool = False,
    confidence: float = 0.95,
) -> BlandAltman:
    """Agreement of ``measured`` with ``reference`` (pairs with a NaN are dropped).

    Raises
    ------
    ValueError
        If the inputs differ in length or fewer than 3 finite pairs remain.
    """
    reference = np.asarray(reference, dtype=np.float64).ravel()
    measured = np.asarray(measured, dtype=np.float64).ravel()
    if reference.shape != measured.shape:
        raise ValueError(
            f"Bland-Altman needs pairs: {reference.size} reference vs "
            f"{measured.size} measured values"
        )
    keep = np.isfinite(reference) & np.isfinite(measured)
    reference, measured = reference[keep], measured[keep]
    n = reference.size
    if n < 3:
        raise ValueError(f"Bland-Altman needs at least 3 finite pairs, got {n}")
    mean = (reference + measured) / 2
    difference = measured - reference
    if percentage:
        with np.errstate(divide="ignore", invalid="ignore"):
            difference = 100 * difference / mean
        if not np.all(np.isfinite(difference)):
            raise ValueError("percentage differences need pair means that are not zero")
    from scipy import stats  # imported here: scipy.stats costs seconds at GUI start-up

    bias = float(difference.mean())
    sd = float(difference.std(ddof=1))
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    t = float(stats.t.ppf(0.5 + confidence / 2, n - 1))
    bias_half = t * sd / np.sqrt(n)
    limit_half = t * sd * np.sqrt(1 / n + z**2 / (2 * (n - 1)))
    lower, upper = bias - z * sd, bias + z * sd
    return BlandAltman(
        mean=mean,
        difference=difference,
        bias=bias,
        sd=sd,
        lower=lower,
        upper=upper,
        bias_ci=(bias - bias_half, bias + bias_half),
        lower_ci=(lower - limit_half, lower + limit_half),
        upper_ci=(upper - limit_half, upper + limit_half),
        n=int(n),
        percentage=percentage,
        confidence=confidence,
    )
