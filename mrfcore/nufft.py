"""Non-uniform FFTs on the CPU by finufft, in sigpy's convention.

Coordinates are in units of 1/FOV: the edge of an N-point image axis is at ±N/2, and
``coords[..., i]`` pairs with image axis ``i``.  Scaling is orthonormal (1/sqrt(prod N)),
so :func:`forward` matches ``sigpy.nufft`` and :func:`adjoint` is its exact adjoint.
finufft ran the same transforms 3–5× faster than sigpy here.

Per-frame MRF transforms have different points in every frame, so the batch dimension
is used for coils, and frames are spread over a thread pool: one OpenMP thread per
transform, one transform per core (on 2 cores, nested threading was up to 20× slower).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import finufft
import numpy as np

__all__ = ["adjoint", "forward", "map_parallel", "worker_count"]

_FORWARD = {1: finufft.nufft1d2, 2: finufft.nufft2d2, 3: finufft.nufft3d2}
_ADJOINT = {1: finufft.nufft1d1, 2: finufft.nufft2d1, 3: finufft.nufft3d1}

T = TypeVar("T")
R = TypeVar("R")


def worker_count() -> int:
    """Threads for frame-parallel transforms (``MRF_STUDIO_THREADS`` overrides)."""
    value = os.environ.get("MRF_STUDIO_THREADS")
    if value:
        return max(1, int(value))
    return max(
        1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    )


def _radians(coords: np.ndarray, shape: tuple[int, ...]) -> list[np.ndarray]:
    coords = np.asarray(coords)
    if coords.ndim != 2 or coords.shape[1] != len(shape):
        raise ValueError(f"coordinates must have shape (points, {len(shape)}), got {coords.shape}")
    dtype = np.float32 if coords.dtype == np.float32 else np.float64
    return [
        np.ascontiguousarray(coords[:, i] * (2 * np.pi / n), dtype=dtype)
        for i, n in enumerate(shape)
    ]


def forward(
    images: np.ndarray,
    coords: np.ndarray,
    eps: float = 1e-6,
    nthreads: int = 1,
    upsampfac: float | None = None,
) -> np.ndarray:
    """Type-2 NUFFT: images on the grid → samples at ``coords``.

    Parameters
    ----------
    images
        complex, shape (batch, *N) or (*N,), with ``len(N) == coords.shape[1]``.
    coords
        float, shape (points, ndim), units of 1/FOV (edge at ±N/2).
    eps
        Requested relative accuracy (complex64 input supports down to ~1e-6).
    upsampfac
        finufft's grid oversampling factor: 2.0 (its choice at small ``eps``) or 1.25
        (FFTs of (1.25 N)² instead of (2 N)²; for ``eps`` ≥ 2e-5 – at 1e-5 finufft 2.5
        narrows its kernel and prints a warning per call).  ``None`` lets finufft choose.

    Returns
    -------
    numpy.ndarray
        complex, shape (batch, points) (or (points,) for unbatched input), same
        precision as ``images``.
    """
    ndim = coords.shape[-1]
    batched = images.ndim == ndim + 1
    grid = images if batched else images[None]
    shape = grid.shape[1:]
    dtype = np.complex64 if grid.dtype == np.complex64 else np.complex128
    points = _radians(coords.astype(np.float32 if dtype == np.complex64 else np.float64), shape)
    extra = {} if upsampfac is None else {"upsampfac": float(upsampfac)}
    values = _FORWARD[ndim](
        *points,
        np.ascontiguousarray(grid, dtype=dtype),
        eps=eps,
        isign=-1,
        nthreads=nthreads,
        modeord=0,
        **extra,
    )
    values = values.reshape(grid.shape[0], -1) / np.sqrt(np.prod(shape)).astype(values.real.dtype)
    return values if batched else values[0]


def adjoint(
    values: np.ndarray,
    coords: np.ndarray,
    shape: tuple[int, ...],
    eps: float = 1e-6,
    nthreads: int = 1,
    in_order: bool = False,
    upsampfac: float | None = None,
) -> np.ndarray:
    """Type-1 NUFFT, the adjoint of :func:`forward`: samples → images on the grid.

    Parameters
    ----------
    values
        complex, shape (batch, points) or (points,).
    coords
        float, shape (points, ndim), units of 1/FOV.
    shape
        Image grid shape N.
    in_order
        The points already come in a local order (readout after readout), so finufft
        need not sort them: on MRF spirals its sort and the gather it implies took
        ~15 % of the transform.
    upsampfac
        finufft's grid oversampling (``None``: its own choice).

    Returns
    -------
    numpy.ndarray
        complex, shape (batch, *N) (or (*N,) for unbatched input).
    """
    shape = tuple(int(n) for n in shape)
    batched = values.ndim == 2
    samples = values if batched else values[None]
    dtype = np.complex64 if samples.dtype == np.complex64 else np.complex128
    points = _radians(coords.astype(np.float32 if dtype == np.complex64 else np.float64), shape)
    images = _ADJOINT[len(shape)](
        *points,
        np.ascontiguousarray(samples, dtype=dtype),
        shape,
        eps=eps,
        isign=1,
        nthreads=nthreads,
        modeord=0,
        spread_sort=0 if in_order else 2,
        **({} if upsampfac is None else {"upsampfac": float(upsampfac)}),
    )
    images = images.reshape((samples.shape[0], *shape)) / np.sqrt(np.prod(shape)).astype(
        images.real.dtype
    )
    return images if batched else images[0]


def map_parallel(
    function: Callable[[T], R], items: Iterable[T], workers: int | None = None
) -> list[R]:
    """``[function(item) for item in items]`` on a thread pool, in order.

    finufft's calls release the GIL, so single-threaded transforms of different frames
    run truly in parallel.
    """
    items = list(items)
    workers = worker_count() if workers is None else workers
    if workers <= 1 or len(items) <= 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(function, items))
