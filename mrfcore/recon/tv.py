"""Isotropic total variation of complex images and its proximal operator (torch).

``TV(u) = Σ_r sqrt(Σ_d |∇_d u(r)|²)`` with forward differences (zero past the last
voxel) and the modulus of the complex difference, so the real and imaginary parts are
regularised jointly.  The proximal map

    prox(z) = argmin_u ½‖u − z‖² + μ TV(u)

is computed by fast gradient projection on the dual (Beck & Teboulle, IEEE TIP 2009,
"FGP"), batched over images with one μ per image.  The dual variable is kept between
calls: inside FISTA consecutive calls see nearly the same z, and a warm dual makes a
few inner iterations enough.  The inner loop works on real views of the complex
images with preallocated buffers and in-place operations (it is memory-bound).
"""

from __future__ import annotations

import torch

__all__ = ["TVProx", "divergence", "gradient", "total_variation"]


def gradient(u: torch.Tensor, ndim: int) -> torch.Tensor:
    """Forward differences over the last ``ndim`` axes: (..., *N) → (ndim, ..., *N)."""
    out = torch.zeros((ndim, *u.shape), dtype=u.dtype, device=u.device)
    _gradient_into(out, u, ndim, u.ndim - ndim)
    return out


def divergence(p: torch.Tensor, ndim: int) -> torch.Tensor:
    """``−∇^H p``: the negative adjoint of :func:`gradient`, (ndim, ..., *N) → (..., *N)."""
    out = torch.empty_like(p[0])
    _divergence_into(out, p, ndim, p.ndim - 1 - ndim)
    return out


def _gradient_into(out: torch.Tensor, u: torch.Tensor, ndim: int, first: int) -> None:
    """``out[d] = ∇_d u`` for spatial axes ``first … first+ndim-1`` of u."""
    for axis in range(ndim):
        dim = first + axis
        length = u.shape[dim] - 1
        target = out[axis]
        torch.sub(
            u.narrow(dim, 1, length), u.narrow(dim, 0, length), out=target.narrow(dim, 0, length)
        )
        target.narrow(dim, length, 1).zero_()


def _divergence_into(out: torch.Tensor, p: torch.Tensor, ndim: int, first: int) -> None:
    # (∇^H q)[i] = q[i-1] − q[i], with q's last entry zero by construction.
    out.zero_()
    for axis in range(ndim):
        dim = first + axis
        q = p[axis]
        length = q.shape[dim] - 1
        head = q.narrow(dim, 0, length)
        out.narrow(dim, 0, length).add_(head)
        out.narrow(dim, 1, length).sub_(head)


def total_variation(u: torch.Tensor, ndim: int) -> torch.Tensor:
    """TV of each image: (n, *N) → (n,), real."""
    magnitude = torch.sqrt((gradient(u, ndim).abs() ** 2).sum(0))
    return magnitude.reshape(u.shape[0], -1).sum(1)


class TVProx:
    """Batched TV proximal operator with a persistent dual variable.

    Parameters
    ----------
    ndim
        Number of spatial axes (2 or 3); images are (n, *N), complex.
    iterations
        FGP iterations per call.
    """

    def __init__(self, ndim: int, iterations: int = 10) -> None:
        self.ndim = ndim
        self.iterations = iterations
        self.dual: torch.Tensor | None = None

    def __call__(self, z: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """``prox`` of ``weights[i] · TV`` at each image ``z[i]``; weights (n,) ≥ 0."""
        ndim = self.ndim
        if not bool((weights > 0).any()):
            return z
        # Real views: (n, *N, 2); the real/imaginary axis is last, spatial axes 1…ndim.
        real = torch.view_as_real(z.contiguous())
        shape = (-1, *([1] * (ndim + 1)))
        mu = weights.to(real.dtype).reshape(shape)
        # Dual step 1/(‖∇‖² μ), ‖∇‖² ≤ 4·ndim; images with μ = 0 keep p = 0.
        step = torch.where(mu > 0, 1.0 / (4.0 * ndim * mu.clamp_min(1e-30)), 0.0)
        if self.dual is None or self.dual.shape[1:] != real.shape:
            self.dual = torch.zeros((ndim, *real.shape), dtype=real.dtype, device=real.device)
        p = self.dual
        r = p.clone()
        q = torch.empty_like(p)
        u = torch.empty_like(real)
        norm = torch.empty((ndim, *real.shape[:-1]), dtype=real.dtype, device=real.device)
        t = 1.0
        for _ in range(self.iterations):
            _divergence_into(u, r, ndim, 1)
            u.mul_(mu).add_(real)  # u = z − μ ∇^H r
            _gradient_into(q, u, ndim, 1)
            q.mul_(step).add_(r)  # q = r + step · ∇u
            # Project every voxel's (d, re/im) vector onto the unit ball.
            torch.sum(q * q, dim=-1, out=norm)
            magnitude = norm.sum(0).sqrt_().clamp_min_(1.0).unsqueeze(-1)
            q.div_(magnitude)
            t_next = (1.0 + (1.0 + 4.0 * t * t) ** 0.5) / 2.0
            beta = (t - 1.0) / t_next
            # r = q + β (q − p); then p ← q (swap buffers, no copies).
            torch.add(q, q - p, alpha=beta, out=r)
            p, q = q, p
            t = t_next
        self.dual = p
        _divergence_into(u, p, ndim, 1)
        u.mul_(mu).add_(real)
        return torch.view_as_complex(u)
