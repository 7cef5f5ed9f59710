"""Coil sensitivities as an operator: one image → one image per coil."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from mrfcore.operators.base import LinearOperator

__all__ = ["CoilOp"]


class CoilOp(LinearOperator):
    """``x ↦ (S_c · x)_c``: multiply by every coil map.

    Parameters
    ----------
    maps
        Coil sensitivities, complex, shape (coils, *N).
    inner_shape
        Axes between the coil axis and the image axes that the maps broadcast over,
        e.g. ``(frames,)``: the operator maps (*inner_shape, *N) → (coils, *inner_shape, *N).
    device
        Where the maps live (and the operator computes).
    """

    def __init__(
        self,
        maps: np.ndarray | torch.Tensor,
        inner_shape: Sequence[int] = (),
        device: str | torch.device = "cpu",
    ) -> None:
        self.maps = torch.as_tensor(maps, dtype=torch.complex64, device=device)
        if self.maps.ndim < 2:
            raise ValueError(f"coil maps must have shape (coils, *N), got {tuple(self.maps.shape)}")
        coils, *image = self.maps.shape
        inner = tuple(int(n) for n in inner_shape)
        super().__init__((coils, *inner, *image), (*inner, *image))
        self._broadcast = self.maps.reshape(coils, *([1] * len(inner)), *image)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._broadcast * x.unsqueeze(0)

    def _adjoint(self, y: torch.Tensor) -> torch.Tensor:
        return (self._broadcast.conj() * y).sum(dim=0)
