"""MRF frames that share k-space points, and the joint adjoint NUFFT ("gridding").

Many MRF trajectories reuse a small set of interleaves (frame ``t`` reads interleaf
``t mod G``).  Frames that read the same points can be summed in k-space *before* any
transform, because every quantity the reconstructions need is linear in the frames:

    Σ_t w[i, t] F_t^H (D_t y_t) = Σ_g F_g^H ( Σ_{t∈g} w[i, t] D_t y_t ).

So instead of T adjoint NUFFTs (one FFT each) or one transform over all T·P points per
output, the work is one finufft call with ``n_trans`` outputs over the G·P distinct
points.  For golden-angle trajectories (no repeats) G = T and nothing is lost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mrfcore import nufft
from mrfcore.operators import _parallel
from mrfcore.progress import Progress

__all__ = ["FrameGroups", "grid_frames"]

# Frames whose coordinates agree to this many grid units (1/FOV) are one group: well
# below float32 noise in trajectory files (~1e-5 units at the k-space edge), and a
# phase error of at most π·1e-5 rad at the image edge.
_GROUP_QUANTUM = 1e-5

# Largest weighted-sample array (bytes) the joint transforms build at once: bounds the
# memory, and makes each finufft call short enough (≲ 1 s) for progress and cancel.
_CHUNK_BYTES = 128 * 2**20

# finufft picks a 1.25× grid for MRF's dense joint point sets, but spreading dominates
# there and the 2× grid's narrower kernel was 7–15 % faster (spiral and radial, eps
# 1e-3 and 1e-4, one thread) – and more accurate.
GRIDDING_UPSAMPFAC = 2.0


@dataclass
class FrameGroups:
    """The distinct k-space point sets of an MRF acquisition.

    Attributes
    ----------
    points
        float32, shape (groups, points, ndim), 1/FOV units: each distinct frame trajectory.
    index
        int64, shape (frames,): the group each frame belongs to.
    """

    points: np.ndarray
    index: np.ndarray

    @classmethod
    def from_trajectory(cls, coords: np.ndarray) -> FrameGroups:
        """Group the frames of ``coords`` (frames, points, ndim) by identical points."""
        coords = np.asarray(coords, dtype=np.float32)
        if coords.ndim != 3:
            raise ValueError(f"coords must have shape (frames, points, ndim), got {coords.shape}")
        keys = np.round(coords.reshape(coords.shape[0], -1) / _GROUP_QUANTUM).astype(np.int64)
        first: dict[bytes, int] = {}
        index = np.empty(coords.shape[0], np.int64)
        representatives = []
        for frame, key in enumerate(keys):
            group = first.setdefault(key.tobytes(), len(first))
            if group == len(representatives):
                representatives.append(frame)
            index[frame] = group
        return cls(np.ascontiguousarray(coords[representatives]), index)

    @property
    def n_groups(self) -> int:
        return self.points.shape[0]

    @property
    def n_frames(self) -> int:
        return self.index.shape[0]

    @property
    def counts(self) -> np.ndarray:
        """Frames per group, shape (groups,)."""
        return np.bincount(self.index, minlength=self.n_groups)

    @property
    def flat_points(self) -> np.ndarray:
        """All distinct points, shape (groups·points, ndim)."""
        return self.points.reshape(-1, self.points.shape[-1])

    def reduce(self, weights: np.ndarray, values: np.ndarray) -> np.ndarray:
        """``out[b, i, g, p] = Σ_{t∈g} weights[i, t] · values[b, t, p]``.

        Parameters
        ----------
        weights
            shape (n, frames).
        values
            shape (batch, frames, points).

        Returns
        -------
        numpy.ndarray
            complex64, shape (batch, n, groups, points).
        """
        # C order: a transposed (Fortran-ordered) V^H would give the broadcast product
        # below a layout that every later reshape has to copy (~0.2 s per coil here).
        weights = np.ascontiguousarray(weights, dtype=np.complex64)
        if self.n_groups == self.n_frames and np.array_equal(self.index, np.arange(self.n_frames)):
            return (weights[None, :, :, None] * values[:, None]).astype(np.complex64, copy=False)
        batch, _, points = values.shape
        out = np.empty((batch, weights.shape[0], self.n_groups, points), np.complex64)
        order = np.argsort(self.index, kind="stable")
        bounds = np.searchsorted(self.index[order], np.arange(self.n_groups + 1))
        for group in range(self.n_groups):
            frames = order[bounds[group] : bounds[group + 1]]
            # (n, k) @ (batch, k, P) → (batch, n, P): one small matmul per group.
            out[:, :, group] = np.matmul(weights[:, frames], values[:, frames])
        return out


def grid_frames(
    samples: np.ndarray,
    weights: np.ndarray,
    groups: FrameGroups,
    shape: tuple[int, ...],
    density: np.ndarray | None = None,
    eps: float = 1e-4,
    progress: Progress | None = None,
) -> np.ndarray:
    """Weighted sums of per-frame adjoint NUFFTs, by one joint transform per batch chunk.

    ``out[b, i] = Σ_t weights[i, t] · F_t^H (D_t · samples[b, t])``.

    Parameters
    ----------
    samples
        complex, shape (batch, frames, points), e.g. batch = coils.
    weights
        complex, shape (n, frames), e.g. ``conj(V).T`` for the subspace adjoint.
    groups
        The frames' distinct trajectories (:class:`FrameGroups`).
    shape
        Image grid N.
    density
        Optional per-sample weights D, shape (frames, points).
    eps
        finufft's requested accuracy.
    progress
        Called once per chunk of the batch.

    Returns
    -------
    numpy.ndarray
        complex64, shape (batch, n, *N).
    """
    batch, frames, points = samples.shape
    if frames != groups.n_frames or groups.points.shape[1] != points:
        raise ValueError(
            f"samples {samples.shape} do not match the trajectory "
            f"({groups.n_frames} frames of {groups.points.shape[1]} points)"
        )
    weights = np.asarray(weights)
    if weights.ndim != 2 or weights.shape[1] != frames:
        raise ValueError(f"weights must have shape (n, {frames}), got {weights.shape}")
    n = weights.shape[0]
    coords = groups.flat_points
    per_item = n * groups.n_groups * points * 8
    chunk = max(1, min(batch, _CHUNK_BYTES // max(per_item, 1)))
    workers = nufft.worker_count()
    pieces = _parallel.split(n, workers) if n >= workers > 1 else []
    out = np.empty((batch, n, *shape), np.complex64)
    for start in range(0, batch, chunk):
        stop = min(batch, start + chunk)
        values = samples[start:stop]
        if density is not None:
            values = values * density[None].astype(np.float32, copy=False)

        def grid(piece: slice, values: np.ndarray = values) -> np.ndarray:
            reduced = groups.reduce(weights[piece], values)
            reduced = reduced.reshape(reduced.shape[0] * reduced.shape[1], -1)
            # Readouts are stored sample after sample: already a local order.
            return nufft.adjoint(
                reduced, coords, shape, eps=eps, in_order=True, upsampfac=GRIDDING_UPSAMPFAC
            )

        if pieces:
            # One piece of the outputs per thread, weighting its own samples too: the
            # products (~0.08 s per coil here; numpy releases the GIL) then run in
            # parallel instead of before the transforms.
            parts = nufft.map_parallel(grid, pieces)
            for piece, images in zip(pieces, parts, strict=True):
                out[start:stop, piece] = images.reshape(stop - start, -1, *shape)
        else:
            reduced = groups.reduce(weights, values).reshape((stop - start) * n, -1)
            images = _parallel.adjoint(
                reduced, coords, shape, eps, in_order=True, upsampfac=GRIDDING_UPSAMPFAC
            )
            out[start:stop] = images.reshape(stop - start, n, *shape)
        if progress is not None:
            progress(stop, batch, "gridding")
    return out
