"""k-space trajectories for MRF: variable-density spiral, radial and Cartesian.

Every trajectory is a base *interleaf* (one spiral arm, one radial spoke, one Cartesian
line) repeated at different rotations (or line positions) from frame to frame.  The
coordinates are in units of 1/FOV, so the k-space edge of an N-point matrix is at ±N/2,
as :mod:`mrfcore.nufft` and :class:`mrfcore.data.KSpaceData` expect.

Defaults for a 200 × 200 matrix and a 200 mm FOV (chosen here; see each function):

- spiral: a variable-density spiral arm from ``sigpy.mri.spiral`` (Kim et al. 2003)
  whose 24 rotated copies sample the edge of k-space at the Nyquist rate (the centre is
  oversampled, density exponent α = 1.5), gradients ≤ 24 mT/m and slew ≤ 120 T/m/s:
  about 1500 samples (readout ≈ 3 ms, dwell ≈ 2 µs).  One arm per frame is 24-fold
  undersampling.
- radial: full-diameter spokes of 2N = 400 samples (2× readout oversampling), passing
  through the centre; ⌈πN/2⌉ = 315 spokes sample the edge at the Nyquist rate.
- Cartesian: lines of N samples at ky = -N/2 … N/2-1; N lines are full sampling.

Ordering from frame to frame: ``"golden"`` rotates every new interleaf by the golden
angle (360°·(1 - 1/φ) ≈ 137.5° for spirals, 180°/φ ≈ 111.2° for spokes; a golden-ratio
sequence of lines for Cartesian), ``"cycle"`` steps through ``n_rotations`` evenly spaced
positions, one per frame (the classic MRF ordering; the LRTV paper cycled a spiral
through 377 rotations, ``n_rotations=377``).  The interleaves of one frame are spread
evenly over the positions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

__all__ = [
    "GOLDEN_RATIO",
    "ORDERINGS",
    "TRAJECTORY_KINDS",
    "SpiralDesign",
    "Trajectory",
    "analytic_density",
    "cartesian_trajectory",
    "make_trajectory",
    "radial_trajectory",
    "spiral_trajectory",
]

GOLDEN_RATIO = (1.0 + math.sqrt(5.0)) / 2.0
TRAJECTORY_KINDS = ("spiral", "radial", "cartesian")
ORDERINGS = ("golden", "cycle")
_GYROMAGNETIC_RAD_PER_T_S = 2.678e8  # sigpy's default (¹H)


@dataclass(frozen=True)
class SpiralDesign:
    """Parameters of the variable-density spiral arm (Kim et al., MRM 49:1057, 2003).

    Attributes
    ----------
    full_interleaves
        Number of evenly rotated arms that sample the edge of k-space at the Nyquist
        rate (the arm is designed for this many interleaves at no undersampling).
        None: 24, or N/2 - 2 for matrices N < 52 (the design needs fewer than N/2).
    alpha
        Variable-density exponent: 1 is an Archimedean (uniform) spiral, larger values
        sample the centre more densely.
    max_gradient_mt_per_m, max_slew_t_per_m_per_s
        Hardware limits of the design.
    readout_oversampling
        Samples per Nyquist interval along the arm where it moves fastest (1 = Nyquist).
    """

    full_interleaves: int | None = None
    alpha: float = 1.5
    max_gradient_mt_per_m: float = 24.0
    max_slew_t_per_m_per_s: float = 120.0
    readout_oversampling: float = 1.0


@dataclass
class Trajectory:
    """Sampling positions of every frame.

    Attributes
    ----------
    kind
        ``"spiral"``, ``"radial"`` or ``"cartesian"``.
    coords
        float32, shape (frames, interleaves, readout, 2), units of 1/FOV (edge at ±N/2);
        column 0 pairs with image axis x, column 1 with y.
    matrix
        Image matrix (N, N) the coordinates refer to.
    fov_mm
        Field of view (mm), the same on both axes.
    ordering
        ``"golden"`` or ``"cycle"``.
    full_interleaves
        Interleaves that sample the whole k-space disc (or square) at the Nyquist rate.
    positions
        float64, shape (frames, interleaves): rotation angle in radians (spiral,
        radial) or line index 0 … N-1 (Cartesian) of every interleaf.
    n_rotations
        Number of distinct positions cycled through (``"cycle"`` only), else None.
    dwell_time_us, readout_duration_ms
        Sampling interval and readout length implied by the design.
    parameters
        Design parameters for the record (written into the raw-data header).
    """

    kind: str
    coords: np.ndarray
    matrix: tuple[int, int]
    fov_mm: float
    ordering: str
    full_interleaves: int
    positions: np.ndarray
    n_rotations: int | None = None
    dwell_time_us: float = 0.0
    readout_duration_ms: float = 0.0
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return int(self.coords.shape[0])

    @property
    def n_interleaves(self) -> int:
        return int(self.coords.shape[1])

    @property
    def n_readout(self) -> int:
        return int(self.coords.shape[2])

    @property
    def undersampling_factor(self) -> float:
        """Per-frame undersampling: Nyquist interleaves / interleaves acquired per frame."""
        return self.full_interleaves / self.n_interleaves

    def describe(self) -> dict[str, Any]:
        """Plain-value summary for headers and provenance."""
        return {
            "kind": self.kind,
            "ordering": self.ordering,
            "interleaves_per_frame": self.n_interleaves,
            "readout_samples": self.n_readout,
            "full_interleaves": self.full_interleaves,
            "undersampling_factor": self.undersampling_factor,
            "n_rotations": self.n_rotations,
            "dwell_time_us": self.dwell_time_us,
            "readout_duration_ms": self.readout_duration_ms,
            **self.parameters,
        }


# ------------------------------------------------------------------------ orderings


def _positions(
    n_frames: int,
    interleaves: int,
    ordering: str,
    n_rotations: int,
    golden_step: float,
    period: float,
) -> np.ndarray:
    """Position (angle in [0, period), or index for period None) of every interleaf."""
    frame = np.arange(n_frames)[:, None]
    slot = np.arange(interleaves)[None, :]
    if ordering == "golden":
        return np.mod((frame * interleaves + slot) * golden_step, period)
    index = np.mod(frame + np.round(slot * n_rotations / interleaves), n_rotations)
    return index * (period / n_rotations)


def _check_common(
    n_frames: int, matrix: int, fov_mm: float, interleaves: int, ordering: str
) -> None:
    if n_frames < 1:
        raise ValueError(f"the number of frames must be ≥ 1, got {n_frames}")
    if matrix < 8:
        raise ValueError(f"matrix must be at least 8 voxels, got {matrix}")
    if not fov_mm > 0:
        raise ValueError(f"fov_mm must be > 0 mm, got {fov_mm}")
    if interleaves < 1:
        raise ValueError(f"interleaves per frame must be ≥ 1, got {interleaves}")
    if ordering not in ORDERINGS:
        raise ValueError(f"ordering must be one of {ORDERINGS}, got {ordering!r}")


def _rotate(base: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """Rotate a complex base readout (readout,) by angles (frames, interleaves)."""
    rotated = base[None, None, :] * np.exp(1j * angles)[..., None]
    return np.stack([rotated.real, rotated.imag], axis=-1).astype(np.float32)


# ---------------------------------------------------------------------------- spiral


def _spiral_readout_duration_s(fov_m: float, matrix: int, design: SpiralDesign) -> float:
    # The same time axis as sigpy.mri.spiral (Kim 2003, eqs. 6-10): slew-limited start,
    # then gradient-limited; the arm ends at Tend.
    lam = 0.5 * matrix / fov_m
    alpha = design.alpha
    assert design.full_interleaves is not None
    gm = design.max_gradient_mt_per_m * 1e-3
    sm = design.max_slew_t_per_m_per_s
    gamma = _GYROMAGNETIC_RAD_PER_T_S
    turns = 1 / (1 - (1 - design.full_interleaves / fov_m / lam) ** (1 / alpha))
    w = 2 * np.pi * turns
    tea = lam * w / gamma / gm / (alpha + 1)
    tes = np.sqrt(lam * w**2 / sm / gamma) / (alpha / 2 + 1)
    ts2a = (tes ** ((alpha + 1) / (alpha / 2 + 1)) * (alpha / 2 + 1) / tea / (alpha + 1)) ** (
        1 + 2 / alpha
    )
    return float(tea if ts2a < tes else tes)


def _kim_spiral_arm(
    fov_m: float,
    matrix: int,
    f_sampling: float,
    ninterleaves: int,
    alpha: float,
    gm: float,
    sm: float,
    gamma: float,
) -> np.ndarray:
    """The first arm of ``sigpy.mri.spiral(fov_m, matrix, f_sampling, 1, ninterleaves,
    alpha, gm, sm, gamma)`` as complex128 (readout,) in cycles/m.

    The same arithmetic as sigpy 0.1.27 (BSD-3-Clause, Kim et al. 2003), transcribed
    because ``import sigpy.mri`` (scipy.signal, numba) took 1.5–2.4 s here – more than
    the whole trajectory design, and the only use of sigpy on the demo's first run.
    tests/core/test_sigpy_ports.py checks the two agree.
    """
    res = fov_m / matrix
    lam = 0.5 / res
    n = 1 / (1 - (1 - ninterleaves * 1.0 / fov_m / lam) ** (1 / alpha))
    w = 2 * np.pi * n
    tea = lam * w / gamma / gm / (alpha + 1)
    tes = np.sqrt(lam * w**2 / sm / gamma) / (alpha / 2 + 1)
    ts2a = (tes ** ((alpha + 1) / (alpha / 2 + 1)) * (alpha / 2 + 1) / tea / (alpha + 1)) ** (
        1 + 2 / alpha
    )
    if ts2a < tes:
        tautrans = (ts2a / tes) ** (1 / (alpha / 2 + 1))

        def tau(t):
            return (t / tes) ** (1 / (alpha / 2 + 1)) * (0 <= t) * (t <= ts2a) + (
                (t - ts2a) / tea + tautrans ** (alpha + 1)
            ) ** (1 / (alpha + 1)) * (t > ts2a) * (t <= tea) * (tes >= ts2a)

        t_end = tea
    else:

        def tau(t):
            return (t / tes) ** (1 / (alpha / 2 + 1)) * (0 <= t) * (t <= tes)

        t_end = tes

    def k(t):
        return lam * tau(t) ** alpha * np.exp(w * tau(t) * 1j)

    dt = tea * 1e-4
    step = dt * f_sampling / fov_m / abs(k(tea) - k(tea - dt))
    return k(np.linspace(0, t_end, int(t_end / step)))


def spiral_trajectory(
    n_frames: int,
    matrix: int = 200,
    fov_mm: float = 200.0,
    interleaves: int = 1,
    ordering: str = "golden",
    n_rotations: int | None = None,
    design: SpiralDesign | None = None,
) -> Trajectory:
    """Variable-density spiral, ``interleaves`` rotated arms per frame.

    Parameters
    ----------
    n_frames
        Number of frames (TRs).
    matrix, fov_mm
        Square image matrix N and field of view (mm).
    interleaves
        Arms per frame.
    ordering
        ``"golden"`` (rotate by the golden angle ≈ 137.5° per arm) or ``"cycle"``.
    n_rotations
        Evenly spaced rotations cycled through (``"cycle"``); default
        ``design.full_interleaves``.
    design
        Arm design, :class:`SpiralDesign` defaults when None.

    Returns
    -------
    Trajectory
        Starting at the k-space centre, reaching |k| = N/2 at the end of every arm.
    """
    design = design or SpiralDesign()
    _check_common(n_frames, matrix, fov_mm, interleaves, ordering)
    if design.full_interleaves is None:
        design = replace(design, full_interleaves=min(24, matrix // 2 - 2))
    if design.full_interleaves >= matrix / 2:
        raise ValueError(
            f"a spiral for a {matrix}-voxel matrix needs fewer than {matrix / 2:g} full "
            f"interleaves, got {design.full_interleaves}"
        )
    if not (design.alpha >= 1 and design.readout_oversampling > 0):
        raise ValueError("spiral design needs alpha ≥ 1 and readout_oversampling > 0")
    fov_m = fov_mm * 1e-3
    arm = _kim_spiral_arm(
        fov_m,
        matrix,
        1.0 / design.readout_oversampling,
        design.full_interleaves,
        design.alpha,
        design.max_gradient_mt_per_m * 1e-3,
        design.max_slew_t_per_m_per_s,
        _GYROMAGNETIC_RAD_PER_T_S,
    )
    n_readout = arm.shape[0]
    # The arm is in cycles/m; × FOV gives cycles/FOV.  It ends at exactly N/2 up to
    # rounding, which is pinned so the edge is where the NUFFT expects it.
    base = arm * fov_m
    base *= (matrix / 2) / np.abs(base).max()
    rotations = n_rotations or design.full_interleaves
    angles = _positions(
        n_frames, interleaves, ordering, rotations, 2 * np.pi * (1 - 1 / GOLDEN_RATIO), 2 * np.pi
    )
    duration_s = _spiral_readout_duration_s(fov_m, matrix, design)
    return Trajectory(
        kind="spiral",
        coords=_rotate(base, angles),
        matrix=(matrix, matrix),
        fov_mm=float(fov_mm),
        ordering=ordering,
        full_interleaves=design.full_interleaves,
        positions=angles,
        n_rotations=rotations if ordering == "cycle" else None,
        dwell_time_us=1e6 * duration_s / max(n_readout - 1, 1),
        readout_duration_ms=1e3 * duration_s,
        parameters={
            "design": "variable-density spiral (sigpy.mri.spiral, Kim 2003)",
            "alpha": design.alpha,
            "max_gradient_mt_per_m": design.max_gradient_mt_per_m,
            "max_slew_t_per_m_per_s": design.max_slew_t_per_m_per_s,
            "readout_oversampling": design.readout_oversampling,
        },
    )


# ---------------------------------------------------------------------------- radial


def radial_trajectory(
    n_frames: int,
    matrix: int = 200,
    fov_mm: float = 200.0,
    interleaves: int = 1,
    ordering: str = "golden",
    n_rotations: int | None = None,
    readout_oversampling: float = 2.0,
    dwell_time_us: float = 2.5,
) -> Trajectory:
    """Full-diameter radial spokes through the centre.

    Each spoke has ``round(readout_oversampling · N)`` samples spaced ``1/oversampling``
    apart from -N/2, with one sample exactly at the centre (for an even count).
    ``"golden"`` rotates every spoke by 180°/φ ≈ 111.25°; ``"cycle"`` steps through
    ``n_rotations`` (default ⌈πN/2⌉) evenly spaced angles over 180°.
    """
    _check_common(n_frames, matrix, fov_mm, interleaves, ordering)
    n_readout = int(round(readout_oversampling * matrix))
    if n_readout < 2:
        raise ValueError(f"readout_oversampling {readout_oversampling} gives no samples")
    step = matrix / n_readout
    base = (np.arange(n_readout) - n_readout // 2) * step + 0j
    full = int(math.ceil(math.pi * matrix / 2))
    rotations = n_rotations or full
    angles = _positions(n_frames, interleaves, ordering, rotations, np.pi / GOLDEN_RATIO, np.pi)
    return Trajectory(
        kind="radial",
        coords=_rotate(base, angles),
        matrix=(matrix, matrix),
        fov_mm=float(fov_mm),
        ordering=ordering,
        full_interleaves=full,
        positions=angles,
        n_rotations=rotations if ordering == "cycle" else None,
        dwell_time_us=float(dwell_time_us),
        readout_duration_ms=1e-3 * dwell_time_us * n_readout,
        parameters={"design": "radial spokes", "readout_oversampling": readout_oversampling},
    )


# ------------------------------------------------------------------------- Cartesian


def cartesian_trajectory(
    n_frames: int,
    matrix: int = 200,
    fov_mm: float = 200.0,
    interleaves: int = 1,
    ordering: str = "golden",
    n_rotations: int | None = None,
    dwell_time_us: float = 5.0,
) -> Trajectory:
    """Cartesian lines (kx readout at fixed ky), ``interleaves`` lines per frame.

    ``"golden"`` picks line ``floor(N · frac(j/φ))`` for the j-th line overall;
    ``"cycle"`` takes lines ``t, t + N/m, …`` (mod N) in frame t, so N/m frames of m
    lines fill k-space.  ``n_rotations`` is accepted for a uniform call signature and
    must be N (or None).
    """
    _check_common(n_frames, matrix, fov_mm, interleaves, ordering)
    if n_rotations not in (None, matrix):
        raise ValueError(f"Cartesian cycling runs through all {matrix} lines; got {n_rotations}")
    if ordering == "golden":
        j = np.arange(n_frames)[:, None] * interleaves + np.arange(interleaves)[None, :]
        lines = np.floor(matrix * np.mod(j / GOLDEN_RATIO, 1.0))
    else:
        lines = _positions(n_frames, interleaves, "cycle", matrix, 0.0, float(matrix))
    lines = lines.astype(np.float64)
    kx = np.arange(matrix) - matrix // 2
    coords = np.empty((n_frames, interleaves, matrix, 2), dtype=np.float32)
    coords[..., 0] = kx
    coords[..., 1] = (lines - matrix // 2)[..., None]
    return Trajectory(
        kind="cartesian",
        coords=coords,
        matrix=(matrix, matrix),
        fov_mm=float(fov_mm),
        ordering=ordering,
        full_interleaves=matrix,
        positions=lines,
        n_rotations=matrix if ordering == "cycle" else None,
        dwell_time_us=float(dwell_time_us),
        readout_duration_ms=1e-3 * dwell_time_us * matrix,
        parameters={"design": "Cartesian lines"},
    )


_FACTORIES = {
    "spiral": spiral_trajectory,
    "radial": radial_trajectory,
    "cartesian": cartesian_trajectory,
}


def make_trajectory(
    kind: str,
    n_frames: int,
    matrix: int = 200,
    fov_mm: float = 200.0,
    interleaves: int = 1,
    ordering: str = "golden",
    n_rotations: int | None = None,
    **design: Any,
) -> Trajectory:
    """A trajectory by kind name; ``design`` goes to the kind's own function
    (spiral: ``design=SpiralDesign(...)``)."""
    try:
        factory = _FACTORIES[kind]
    except KeyError:
        raise ValueError(f"trajectory must be one of {TRAJECTORY_KINDS}, got {kind!r}") from None
    return factory(
        n_frames,
        matrix=matrix,
        fov_mm=fov_mm,
        interleaves=interleaves,
        ordering=ordering,
        n_rotations=n_rotations,
        **design,
    )


# ------------------------------------------------------------------ density weights


def analytic_density(trajectory: Trajectory) -> np.ndarray:
    """Analytic density-compensation weights, float32 (frames, interleaves, readout).

    Radial: |k| (the centre sample gets a quarter of one step); spiral: the Jacobian
    of the (readout time, arm rotation) → k map, |k · dk| (|k| for a spoke too), with
    the centre sample given its share of the central disc; Cartesian: ones.  For golden-
    angle or cycled rotations these are the weights of the union of all frames too.  Each frame's
    weights are scaled to sum to the k-space area its design covers (π(N/2)² for
    spiral/radial, N·lines for Cartesian), so that gridding one frame, or averaging
    the gridded frames, keeps the image scale of the orthonormal NUFFT.
    """
    coords = trajectory.coords.astype(np.float64)
    n = trajectory.matrix[0]
    if trajectory.kind == "cartesian":
        return np.ones(coords.shape[:3], dtype=np.float32)
    radius = np.linalg.norm(coords, axis=-1)
    if trajectory.kind == "radial":
        step = n / trajectory.n_readout
        weights = np.maximum(radius, step / 4)
    else:
        # The arms are rotated copies, so the samples are a grid in (readout time t,
        # rotation θ): the area each one stands for is the Jacobian |∂k/∂t × ∂k/∂θ| =
        # |k · dk/dt| (∂k/∂θ is k turned by 90°), the radial speed times the radius.
        delta = np.gradient(coords, axis=2)
        weights = np.abs(np.sum(coords * delta, axis=-1))
        # The Jacobian vanishes where every arm starts; that sample stands for the disc
        # up to half-way to the next one, shared by all arms: π(r₁/2)² / 2π per radian.
        start = radius[..., 0] < 1e-6
        weights[..., 0] = np.where(start, radius[..., 1] ** 2 / 8, weights[..., 0])
    area = np.pi * (n / 2) ** 2
    weights *= area / weights.sum(axis=(1, 2), keepdims=True)
    return weights.astype(np.float32)
