"""A small linear-operator algebra on torch tensors.

An operator maps tensors of shape ``ishape`` to tensors of shape ``oshape`` and knows its
adjoint.  Operators compose with ``@`` (``(A @ B)(x) == A(B(x))``), and ``A.H`` and
``A.N`` are the adjoint and normal (``A.H @ A``) views, as in sigpy.  Subclasses define
:meth:`LinearOperator._forward` and :meth:`LinearOperator._adjoint`; a subclass with a
faster normal operator (the Toeplitz one) overrides :attr:`LinearOperator.N`.

Every operator takes and returns ``torch.Tensor``; the ones that compute on the CPU
(the NUFFT) say so and return their result on the input's device.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = ["Adjoint", "Compose", "Identity", "LinearOperator"]


def _shape(shape: Sequence[int]) -> tuple[int, ...]:
    return tuple(int(n) for n in shape)


class LinearOperator:
    """Base class: a linear map from ``ishape`` tensors to ``oshape`` tensors.

    Parameters
    ----------
    oshape, ishape
        Output and input shapes (sigpy's order: output first).
    """

    def __init__(self, oshape: Sequence[int], ishape: Sequence[int]) -> None:
        self.oshape = _shape(oshape)
        self.ishape = _shape(ishape)

    # Subclasses implement these two; shapes are checked by the public wrappers.
    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _adjoint(self, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``A x`` for ``x`` of shape ``ishape``; returns shape ``oshape``."""
        _check(self, "input", x, self.ishape)
        return self._forward(x)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """``A^H y`` for ``y`` of shape ``oshape``; returns shape ``ishape``."""
        _check(self, "adjoint input", y, self.oshape)
        return self._adjoint(y)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward(x)

    def __matmul__(self, other: LinearOperator) -> LinearOperator:
        if not isinstance(other, LinearOperator):
            return NotImplemented
        return Compose(self, other)

    @property
    def H(self) -> LinearOperator:  # noqa: N802 - the conventional name
        """The adjoint operator, a view sharing this operator's data."""
        return Adjoint(self)

    @property
    def N(self) -> LinearOperator:  # noqa: N802 - the conventional name
        """The normal operator ``A^H A``."""
        return Compose(self.H, self)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.ishape} -> {self.oshape}>"


def _check(operator: LinearOperator, what: str, x: torch.Tensor, shape: tuple[int, ...]) -> None:
    if tuple(x.shape) != shape:
        raise ValueError(
            f"{type(operator).__name__}: {what} has shape {tuple(x.shape)}, expected {shape}"
        )


class Adjoint(LinearOperator):
    """``A.H``: swaps the roles of forward and adjoint."""

    def __init__(self, operator: LinearOperator) -> None:
        super().__init__(operator.ishape, operator.oshape)
        self.operator = operator

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.operator._adjoint(x)

    def _adjoint(self, y: torch.Tensor) -> torch.Tensor:
        return self.operator._forward(y)

    @property
    def H(self) -> LinearOperator:  # noqa: N802
        return self.operator

    def __repr__(self) -> str:
        return f"{self.operator!r}.H"


class Compose(LinearOperator):
    """``A @ B``: apply ``B`` first, then ``A``."""

    def __init__(self, outer: LinearOperator, inner: LinearOperator) -> None:
        if outer.ishape != inner.oshape:
            raise ValueError(
                f"cannot compose {outer!r} @ {inner!r}: input shape {outer.ishape} "
                f"!= output shape {inner.oshape}"
            )
        super().__init__(outer.oshape, inner.ishape)
        self.outer = outer
        self.inner = inner

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.outer._forward(self.inner._forward(x))

    def _adjoint(self, y: torch.Tensor) -> torch.Tensor:
        return self.inner._adjoint(self.outer._adjoint(y))

    def __repr__(self) -> str:
        return f"({self.outer!r} @ {self.inner!r})"


class Identity(LinearOperator):
    """The identity on tensors of ``shape``."""

    def __init__(self, shape: Sequence[int]) -> None:
        super().__init__(shape, shape)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def _adjoint(self, y: torch.Tensor) -> torch.Tensor:
        return y

    @property
    def N(self) -> LinearOperator:  # noqa: N802
        return self
