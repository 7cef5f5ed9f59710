"""k-space trajectory units as other writers store them, and trajectories from files.

MRF Studio keeps trajectories in **cycles per field of view** (``"cycles/FOV"``): the
edge of an N-point matrix is at ±N/2 (BART's and sigpy's convention).  Writers differ:

============  ====================================  ==================================
units         the matrix edge is at                  to cycles/FOV multiply by
============  ====================================  ==================================
cycles/FOV    ±N/2 (BART, sigpy, MRF Studio)         1
normalized    ±0.5 (cycles per pixel; Gadgetron)     N
radians       ±π (radians per pixel)                 N / 2π
1/m           ±N / (2 FOV)   (cycles per metre)      FOV in m
rad/m         ±π N / FOV     (γ∫G dt in rad/m)       FOV in m / 2π
============  ====================================  ==================================

N and FOV are those of the *encoded* space the trajectory was designed for.  When a
file does not say which units it uses they are **detected** from the largest |k|: for
each convention the coordinates are converted and the fraction of the matrix edge they
reach is computed; a real trajectory reaches close to the edge (fraction ≈ 1), so a
convention is accepted when exactly one lands in [0.25, 1.1] or one lands within ±20 %
of 1 and every other one far from it.  Otherwise the reader refuses and asks for the
units.  Stated units are checked the same way and refused when the data contradicts
them (reaching less than 5 % or more than 160 % of the edge).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "CYCLES_PER_FOV",
    "TRAJECTORY_UNITS",
    "TrajectoryConvention",
    "canonical_units",
    "load_trajectory",
    "normalise_trajectory",
    "shape_trajectory",
]

CYCLES_PER_FOV = "cycles/FOV"

TRAJECTORY_UNITS: dict[str, str] = {
    CYCLES_PER_FOV: "cycles per field of view, matrix edge at ±N/2",
    "normalized": "cycles per pixel, matrix edge at ±0.5",
    "radians": "radians per pixel, matrix edge at ±π",
    "1/m": "cycles per metre, matrix edge at ±N/(2·FOV)",
    "rad/m": "radians per metre, matrix edge at ±π·N/FOV",
}
"""Every convention understood, with what it means."""

_ALIASES = {
    CYCLES_PER_FOV: (
        "cycles/fov",
        "cyclesperfov",
        "1/fov",
        "fov",
        "pixels",
        "pixel",
        "n/2",
        "+-n/2",
        "bart",
        "sigpy",
        "cycles/fov(n/2)",
        "k*fov",
        "kfov",
        "matrix",
    ),
    "normalized": (
        "normalized",
        "normalised",
        "cycles/pixel",
        "cyclesperpixel",
        "cycles/sample",
        "+-0.5",
        "-0.5..0.5",
        "[-0.5,0.5]",
        "unit",
        "gadgetron",
    ),
    "radians": ("radians", "radian", "rad", "rad/pixel", "radians/pixel", "+-pi", "[-pi,pi]"),
    "1/m": ("1/m", "m^-1", "m-1", "/m", "cycles/m", "cyclespermetre", "cyclespermeter"),
    "rad/m": ("rad/m", "radians/m", "radianspermetre", "radianspermeter", "rad*m^-1"),
}
_LOOKUP = {alias.replace(" ", ""): name for name, aliases in _ALIASES.items() for alias in aliases}
_LOOKUP.update({name.lower(): name for name in TRAJECTORY_UNITS})

_DETECT_WINDOW = (0.25, 1.1)
_STATED_WINDOW = (0.05, 1.6)


def canonical_units(text: str | None) -> str | None:
    """The convention a units string names (``"1/m"``, ``"rad"`` ...), None if unknown."""
    if text is None:
        return None
    return _LOOKUP.get(str(text).strip().lower().replace(" ", ""))


@dataclass
class TrajectoryConvention:
    """How a file's trajectory was interpreted.

    Attributes
    ----------
    units
        A key of :data:`TRAJECTORY_UNITS`.
    origin
        ``"header"`` (the file says so), ``"given"`` (the user said so), ``"detected"``
        (from max |k|), ``"format"`` (the format defines it, e.g. BART) or ``"built"``
        (the reader made the trajectory, e.g. Cartesian lines).
    max_k
        The largest |coordinate| as stored.
    edge_fraction
        Largest |k| after conversion, as a fraction of the matrix edge N/2 (≈ 1 for a
        trajectory that samples up to the edge of the encoded matrix).
    """

    units: str
    origin: str
    max_k: float
    edge_fraction: float

    def describe(self) -> str:
        meaning = TRAJECTORY_UNITS.get(self.units, "")
        return (
            f"{self.units} ({meaning}; {self.origin}); max |k| {self.max_k:.4g} = "
            f"{100 * self.edge_fraction:.0f} % of the matrix edge"
        )


def _scales(
    matrix: tuple[int, ...], fov_mm: tuple[float, ...], ndim: int
) -> dict[str, np.ndarray | None]:
    counts = np.asarray(matrix[:ndim], dtype=np.float64)
    fov_m = np.asarray(fov_mm[:ndim], dtype=np.float64) / 1000.0
    metric = bool(np.all(fov_m > 0))
    return {
        CYCLES_PER_FOV: np.ones(ndim),
        "normalized": counts,
        "radians": counts / (2 * np.pi),
        "1/m": fov_m if metric else None,
        "rad/m": fov_m / (2 * np.pi) if metric else None,
    }


def _edge_fraction(trajectory: np.ndarray, scale: np.ndarray, matrix: tuple[int, ...]) -> float:
    ndim = scale.size
    flat = np.abs(trajectory.reshape(-1, ndim)).max(axis=0) if trajectory.size else np.zeros(ndim)
    half = np.maximum(np.asarray(matrix[:ndim], dtype=np.float64), 1.0) / 2
    return float(np.max(flat * scale / half))


def normalise_trajectory(
    trajectory: np.ndarray,
    matrix: tuple[int, ...],
    fov_mm: tuple[float, ...],
    units: str | None = None,
    *,
    origin: str = "header",
    source: str = "trajectory",
) -> tuple[np.ndarray, TrajectoryConvention]:
    """Convert trajectory coordinates to cycles/FOV, detecting the units when not given.

    Parameters
    ----------
    trajectory
        float (..., ndim) coordinates as stored, ndim = 2 or 3.
    matrix, fov_mm
        The encoded matrix and field of view (mm) the trajectory refers to, per axis.
    units
        Any name :func:`canonical_units` understands, or None to detect.
    origin
        Where ``units`` came from (``"header"``, ``"given"``, ``"format"``).
    source
        Named in error messages (the file).

    Returns
    -------
    (numpy.ndarray, TrajectoryConvention)
        float32 coordinates in cycles/FOV, and what was found.

    Raises
    ------
    ValueError
        Unknown units, units that need a field of view the file lacks, units the data
        contradicts, or units that cannot be told apart.
    """
    trajectory = np.asarray(trajectory, dtype=np.float64)
    ndim = trajectory.shape[-1]
    scales = _scales(matrix, fov_mm, ndim)
    max_k = float(np.abs(trajectory).max()) if trajectory.size else 0.0
    if max_k == 0.0:
        raise ValueError(f"{source}: every trajectory coordinate is 0")
    if units is not None:
        name = canonical_units(units)
        if name is None:
            raise ValueError(
                f"{source}: unknown trajectory units {units!r} "
                f"(known: {', '.join(TRAJECTORY_UNITS)})"
            )
        scale = scales[name]
        if scale is None:
            raise ValueError(
                f"{source}: trajectory units {name} need the field of view, but it is "
                f"{fov_mm[:ndim]} mm"
            )
        fraction = _edge_fraction(trajectory, scale, matrix)
        low, high = _STATED_WINDOW
        if not low <= fraction <= high:
            raise ValueError(
                f"{source}: the trajectory is said to be in {name} ({origin}), but then its "
                f"largest |k| ({max_k:.4g}) would reach {100 * fraction:.0f} % of the edge "
                f"of the {'×'.join(str(n) for n in matrix[:ndim])} matrix; the units or the "
                "matrix are wrong"
            )
        convention = TrajectoryConvention(name, origin, max_k, fraction)
        return (trajectory * scale).astype(np.float32), convention

    fractions = {
        name: _edge_fraction(trajectory, scale, matrix)
        for name, scale in scales.items()
        if scale is not None
    }
    low, high = _DETECT_WINDOW
    candidates = sorted(
        (name for name, f in fractions.items() if low <= f <= high),
        key=lambda name: abs(math.log(fractions[name])),
    )
    chosen = None
    if len(candidates) == 1:
        chosen = candidates[0]
    elif len(candidates) > 1:
        best, second = (abs(math.log(fractions[name])) for name in candidates[:2])
        if best < math.log(1.2) and second > 0.5:
            chosen = candidates[0]
    if chosen is None:
        readings = ", ".join(f"{name} → {100 * f:.0f} %" for name, f in fractions.items())
        problem = "could be any of " + ", ".join(candidates) if candidates else "fits none"
        raise ValueError(
            f"{source}: cannot tell the trajectory units: max |k| = {max_k:.4g} for a "
            f"{'×'.join(str(n) for n in matrix[:ndim])} matrix and a "
            f"{'×'.join(f'{v:g}' for v in fov_mm[:ndim])} mm FOV {problem} (reach of the "
            f"matrix edge if the units were: {readings}); state the units (ISMRMRD "
            "userParameterString 'trajectory_units', or --trajectory-units)"
        )
    convention = TrajectoryConvention(chosen, "detected", max_k, fractions[chosen])
    return (trajectory * scales[chosen]).astype(np.float32), convention


def shape_trajectory(
    coordinates: np.ndarray, n_frames: int, n_interleaves: int, n_readout: int, source: str
) -> np.ndarray:
    """Bring a trajectory array to (frames, interleaves, readout, ndim).

    Accepted shapes: (frames, interleaves, readout, d); (1, interleaves, readout, d) or
    (interleaves, readout, d), the same for every frame; (frames·interleaves, readout, d)
    in acquisition order; (readout, d), one readout for all.  d = 2, or 3 with a z
    column of zeros (dropped).
    """
    array = np.asarray(coordinates)
    if np.iscomplexobj(array):
        raise ValueError(f"{source}: trajectory coordinates must be real numbers")
    if array.ndim < 2 or array.shape[-1] not in (2, 3):
        raise ValueError(
            f"{source}: a trajectory array needs a last axis of 2 or 3 coordinates, got "
            f"shape {array.shape}"
        )
    if array.shape[-1] == 3:
        if np.any(array[..., 2] != 0):
            raise ValueError(f"{source}: the trajectory has kz ≠ 0; only 2D MRF is supported")
        array = array[..., :2]
    if array.ndim == 2:
        array = array[None, None]
    elif array.ndim == 3:
        if array.shape[0] == n_frames * n_interleaves and n_frames > 1:
            array = array.reshape(n_frames, n_interleaves, *array.shape[1:])
        else:
            array = array[None]
    elif array.ndim != 4:
        raise ValueError(f"{source}: a trajectory array has 2 to 4 axes, got {array.shape}")
    expected = (n_frames, n_interleaves, n_readout)
    if array.shape[0] not in (1, n_frames) or array.shape[1:3] != expected[1:]:
        raise ValueError(
            f"{source}: trajectory of shape {array.shape[:3]} (frames, interleaves, readout) "
            f"does not fit data with {n_frames} frames × {n_interleaves} interleaves × "
            f"{n_readout} samples"
        )
    return np.ascontiguousarray(np.broadcast_to(array, (*expected, 2)), dtype=np.float64)


def load_trajectory(path: str | Path) -> tuple[np.ndarray, str | None]:
    """Coordinates from a file, and the units its format defines (None: detect).

    ``.npy``: any shape :func:`shape_trajectory` accepts (units detected).  BART
    ``.cfl``/``.hdr``: [3, readout, spokes, 1, 1, frames] as ``bart traj`` writes it,
    frames in dimension 5 or 10, or all spokes of all frames in dimension 2 (BART's
    units, cycles/FOV).

    Returns
    -------
    (numpy.ndarray, str | None)
        Coordinates (..., readout, 3 or 2) and the units of the format.
    """
    path = Path(path)
    name = path.name.lower()
    if name.endswith(".npy"):
        if not path.is_file():
            raise ValueError(f"{path}: no such trajectory file")
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise ValueError(f"{path}: not a NumPy trajectory file ({error})") from None
        return np.asarray(array, dtype=np.float64), None
    from mrfcore.io.bart import TE_DIM, TIME_DIM, read_cfl

    array = read_cfl(path)
    dims = list(array.shape) + [1] * (16 - array.ndim)
    if dims[0] != 3:
        raise ValueError(
            f"{path}: a BART trajectory holds 3 coordinates in dimension 0, got {dims[0]}"
        )
    if np.max(np.abs(array.imag), initial=0.0) > 1e-6 * max(1.0, np.abs(array.real).max()):
        raise ValueError(f"{path}: trajectory coordinates must be real")
    padded = array.real.reshape(dims)
    frame_dims = [d for d in (TE_DIM, TIME_DIM) if dims[d] > 1]
    others = [i for i in range(3, 16) if i not in frame_dims and dims[i] != 1]
    if len(frame_dims) > 1 or others:
        raise ValueError(
            f"{path}: unexpected BART trajectory dimensions {dims[:11]}; expected "
            "[3, readout, spokes, 1, 1, frames]"
        )
    if frame_dims:
        moved = np.moveaxis(padded, (frame_dims[0], 2, 1, 0), (0, 1, 2, 3))
        return moved.reshape(dims[frame_dims[0]], dims[2], dims[1], 3), "cycles/FOV"
    return np.transpose(padded.reshape(3, dims[1], dims[2]), (2, 1, 0)), "cycles/FOV"
