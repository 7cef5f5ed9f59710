"""An independent isochromat Bloch simulation, the reference for the EPG tests.

numpy, float64, no code shared with :mod:`mrfcore.simulation`.  Each voxel is a set of
isochromats; RF pulses are right-handed rotations about the transverse axis
(cos φ, sin φ, 0) built by Rodrigues' formula; free precession is a right-handed
rotation about z; relaxation is exact.

For spoiled (FISP) readouts the isochromats are spread uniformly over 2π of gradient
dephasing per TR.  With N isochromats the ensemble mean sees the EPG orders k ≡ 0 mod N,
so it is exact (no aliasing) as long as no order ≥ N has formed and come back, which is
guaranteed when N > number of frames.  For bSSFP a single isochromat is used.
"""

from __future__ import annotations

import numpy as np


def rf_rotation(flip_rad: float, phase_rad: float) -> np.ndarray:
    """3×3 right-handed rotation by ``flip_rad`` about (cos φ, sin φ, 0)."""
    axis = np.array([np.cos(phase_rad), np.sin(phase_rad), 0.0])
    cross = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
    return (
        np.cos(flip_rad) * np.eye(3)
        + np.sin(flip_rad) * cross
        + (1.0 - np.cos(flip_rad)) * np.outer(axis, axis)
    )


def _precess(m: np.ndarray, angle: np.ndarray | float) -> np.ndarray:
    """Right-handed rotation about z of every isochromat (rows of m) by angle (rad)."""
    c, s = np.cos(angle), np.sin(angle)
    x, y = m[..., 0].copy(), m[..., 1].copy()
    m[..., 0] = c * x - s * y
    m[..., 1] = s * x + c * y
    return m


def _relax(m: np.ndarray, t_ms: float, t1_ms: float, t2_ms: float) -> np.ndarray:
    e1, e2 = np.exp(-t_ms / t1_ms), np.exp(-t_ms / t2_ms)
    m[..., 0] *= e2
    m[..., 1] *= e2
    m[..., 2] = 1.0 + (m[..., 2] - 1.0) * e1
    return m


def bloch_fingerprint(
    flip_angle_deg: np.ndarray,
    phase_deg: np.ndarray,
    tr_ms: np.ndarray,
    te_ms: np.ndarray,
    t1_ms: float,
    t2_ms: float,
    *,
    ti_ms: float | None = None,
    spoiled: bool = True,
    b1: float = 1.0,
    off_resonance_hz: float = 0.0,
    n_isochromats: int | None = None,
) -> np.ndarray:
    """Mean transverse magnetisation Mx + iMy at each TE (complex128, shape (T,)).

    ``n_isochromats`` defaults to T + 1 for spoiled readouts (exact, see the module
    docstring) and is 1 for balanced ones.
    """
    n_frames = len(flip_angle_deg)
    if spoiled:
        count = n_frames + 1 if n_isochromats is None else n_isochromats
        dephasing = 2.0 * np.pi * np.arange(count) / count
    else:
        count = 1
        dephasing = np.zeros(1)
    m = np.zeros((count, 3))
    m[:, 2] = 1.0
    if ti_ms is not None:
        m[:, 2] = -m[:, 2]
        m = _relax(m, ti_ms, t1_ms, t2_ms)
    signal = np.empty(n_frames, dtype=np.complex128)
    omega = 2.0 * np.pi * off_resonance_hz * 1e-3  # rad per ms
    for n in range(n_frames):
        rotation = rf_rotation(np.deg2rad(flip_angle_deg[n]) * b1, np.deg2rad(phase_deg[n]))
        m = m @ rotation.T
        m = _relax(m, te_ms[n], t1_ms, t2_ms)
        m = _precess(m, omega * te_ms[n])
        signal[n] = np.mean(m[:, 0]) + 1j * np.mean(m[:, 1])
        rest = tr_ms[n] - te_ms[n]
        m = _relax(m, rest, t1_ms, t2_ms)
        m = _precess(m, omega * rest + dephasing)
    return signal


def sequence_fingerprint(sequence, t1_ms, t2_ms, **kwargs) -> np.ndarray:
    """:func:`bloch_fingerprint` for a :class:`mrfcore.sequences.Sequence`."""
    return bloch_fingerprint(
        sequence.flip_angle_deg,
        sequence.phase_deg,
        sequence.tr_ms,
        sequence.te_ms,
        t1_ms,
        t2_ms,
        ti_ms=sequence.ti_ms,
        spoiled=sequence.readout == "fisp",
        **kwargs,
    )
