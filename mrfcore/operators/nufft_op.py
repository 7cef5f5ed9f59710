"""Per-frame non-uniform FFT as an operator (explicit; CPU by finufft).

Each MRF frame has its own k-space points, so the operator transforms frame by frame
on a thread pool (:func:`mrfcore.nufft.map_parallel`, one finufft thread per frame).
It is the reference the fast paths are checked against and is used where a transform
is needed once; iterative reconstructions use the Toeplitz normal operator instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from mrfcore import nufft
from mrfcore.operators.base import LinearOperator

__all__ = ["NufftOp"]


class NufftOp(LinearOperator):
    """Frame-wise NUFFT: (*batch, frames, *N) images → (*batch, frames, points) samples.

    Parameters
    ----------
    coords
        float, shape (frames, points, ndim), in 1/FOV units (edge at ±N/2).
    image_shape
        N, the image grid (ndim axes).
    batch_shape
        Leading axes transformed alike, e.g. ``(coils,)``.
    eps
        finufft's requested relative accuracy.

    Notes
    -----
    Computes on the CPU: a tensor on another device is copied to the CPU and the result
    copied back (the operator is applied once per reconstruction, never in a loop).
    Orthonormal scaling, sigpy's sign convention (:mod:`mrfcore.nufft`).
    """

    def __init__(
        self,
        coords: np.ndarray,
        image_shape: Sequence[int],
        batch_shape: Sequence[int] = (),
        eps: float = 1e-6,
    ) -> None:
        coords = np.asarray(coords)
        image = tuple(int(n) for n in image_shape)
        if coords.ndim != 3 or coords.shape[-1] != len(image):
            raise ValueError(
                f"coords must have shape (frames, points, {len(image)}), got {coords.shape}"
            )
        self.coords = np.ascontiguousarray(coords, dtype=np.float32)
        self.image_shape = image
        self.eps = eps
        batch = tuple(int(n) for n in batch_shape)
        frames, points = coords.shape[:2]
        super().__init__((*batch, frames, points), (*batch, frames, *image))

    def _per_frame(self, data: torch.Tensor, transform) -> torch.Tensor:
        array = data.detach().to("cpu", torch.complex64).numpy()
        nbatch = len(self.ishape) - 1 - len(self.image_shape)
        batch = array.shape[:nbatch]
        frames = self.coords.shape[0]
        # (*batch, frames, rest) → (frames, batch, rest): each transform batches the coils.
        moved = np.moveaxis(array, nbatch, 0).reshape(frames, -1, *array.shape[nbatch + 1 :])
        stacked = np.stack(nufft.map_parallel(lambda t: transform(moved[t], t), range(frames)))
        restored = stacked.reshape(frames, *batch, *stacked.shape[2:])
        return torch.from_numpy(np.ascontiguousarray(np.moveaxis(restored, 0, nbatch))).to(
            data.device
        )

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._per_frame(
            x, lambda images, t: nufft.forward(images, self.coords[t], eps=self.eps)
        )

    def _adjoint(self, y: torch.Tensor) -> torch.Tensor:
        return self._per_frame(
            y,
            lambda values, t: nufft.adjoint(values, self.coords[t], self.image_shape, eps=self.eps),
        )
