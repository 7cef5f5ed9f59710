"""The temporal subspace: s coefficient images → T time frames."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from mrfcore.operators.base import LinearOperator

__all__ = ["SubspaceOp"]


class SubspaceOp(LinearOperator):
    """``X ↦ x_t = Σ_s V[t, s] X_s``: expand subspace images into a time series.

    Parameters
    ----------
    basis
        V, complex, shape (frames, s) (orthonormal columns for an MRF subspace, though
        the operator does not require it).
    image_shape
        N, the image axes after the component axis: (s, *N) → (frames, *N).
    device
        Where V lives.
    """

    def __init__(
        self,
        basis: np.ndarray | torch.Tensor,
        image_shape: Sequence[int],
        device: str | torch.device = "cpu",
    ) -> None:
        self.basis = torch.as_tensor(basis, dtype=torch.complex64, device=device)
        if self.basis.ndim != 2:
            raise ValueError(f"basis must have shape (frames, s), got {tuple(self.basis.shape)}")
        frames, rank = self.basis.shape
        image = tuple(int(n) for n in image_shape)
        super().__init__((frames, *image), (rank, *image))

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(x.shape[0], -1)
        return (self.basis @ flat).reshape(self.oshape)

    def _adjoint(self, y: torch.Tensor) -> torch.Tensor:
        flat = y.reshape(y.shape[0], -1)
        return (self.basis.conj().T @ flat).reshape(self.ishape)
