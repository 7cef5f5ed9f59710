"""Joint NUFFTs spread over the cores by Python threads, one finufft thread each.

finufft's own OpenMP threads spin while they wait; on a busy machine (other programs,
or several of our own transforms) that made a 2-thread call 10× slower than a
1-thread one here.  So big joint transforms are split into independent pieces – by
output vector when there are several, else by points (linearity: the adjoint of a
split point set is the sum of the parts) – and run on :func:`mrfcore.nufft.map_parallel`.
"""

from __future__ import annotations

import numpy as np

from mrfcore import nufft


def split(count: int, parts: int) -> list[slice]:
    """``count`` items as at most ``parts`` contiguous, nearly equal slices."""
    bounds = np.linspace(0, count, parts + 1).round().astype(int)
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]


def adjoint(
    values: np.ndarray,
    coords: np.ndarray,
    shape: tuple[int, ...],
    eps: float,
    in_order: bool = False,
    upsampfac: float | None = None,
) -> np.ndarray:
    """:func:`mrfcore.nufft.adjoint` of (n, points) values → (n, *shape), in parallel."""
    workers = nufft.worker_count()
    n, points = values.shape
    options = {"eps": eps, "in_order": in_order, "upsampfac": upsampfac}
    if workers <= 1:
        return nufft.adjoint(values, coords, shape, **options)
    if n >= workers:
        pieces = split(n, workers)
        parts = nufft.map_parallel(
            lambda part: nufft.adjoint(values[part], coords, shape, **options), pieces
        )
        return np.concatenate(parts)
    pieces = split(points, workers)
    parts = nufft.map_parallel(
        lambda part: nufft.adjoint(
            np.ascontiguousarray(values[:, part]), coords[part], shape, **options
        ),
        pieces,
    )
    return np.sum(parts, axis=0)


def forward(images: np.ndarray, coords: np.ndarray, eps: float) -> np.ndarray:
    """:func:`mrfcore.nufft.forward` of (n, *shape) images → (n, points), in parallel."""
    workers = nufft.worker_count()
    if workers <= 1:
        return nufft.forward(images, coords, eps=eps)
    pieces = split(coords.shape[0], workers)
    parts = nufft.map_parallel(lambda part: nufft.forward(images, coords[part], eps=eps), pieces)
    return np.concatenate(parts, axis=-1)
