"""FISTA with backtracking for ``min_X ½‖W^{½}(y − A X)‖² + g(X)``, via A^H W A only.

The data term is a quadratic ``f(X) = ½⟨X, N X⟩ − Re⟨X, b⟩ + c`` with ``N = A^H W A``
(the Toeplitz operator), ``b = A^H W y`` and ``c = ½‖y‖²_W``, so the gradient and the
objective need one application of N per iteration: N of the momentum point is a linear
combination of the N of the last two iterates, which are kept.  The step follows Beck &
Teboulle's backtracking (SIAM J. Imaging Sci. 2009): it is halved until the sufficient-
decrease test holds.  Momentum restarts when the objective goes up (O'Donoghue &
Candès 2015), which keeps the objective (nearly) monotone.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from mrfcore.operators.base import LinearOperator
from mrfcore.progress import Progress

__all__ = ["FistaResult", "estimate_lipschitz", "fista"]


@dataclass
class FistaResult:
    """Solution and history of a FISTA run.

    Attributes
    ----------
    x
        The last iterate.
    objective
        Objective after each iteration (data term + penalty).
    data_term
        ``½‖W^{½}(y − A X)‖²`` after each iteration.
    relative_change
        ``‖X_k − X_{k−1}‖ / ‖X_k‖`` per iteration.
    iterations
        Iterations done.
    converged
        Whether the relative change fell below the tolerance (else the cap was hit).
    step
        The final step size.
    normal_applications
        Applications of N (including the first and any backtracking).
    seconds
        Wall time of the iterations.
    """

    x: torch.Tensor
    objective: list[float] = field(default_factory=list)
    data_term: list[float] = field(default_factory=list)
    relative_change: list[float] = field(default_factory=list)
    iterations: int = 0
    converged: bool = False
    step: float = 0.0
    normal_applications: int = 0
    seconds: float = 0.0


def _real_dot(a: torch.Tensor, b: torch.Tensor) -> float:
    # Objectives subtract nearly equal numbers near convergence, and a float32 sum's
    # rounding would fail the backtracking test at random: sum in double precision.
    return float(
        torch.vdot(a.flatten().to(torch.complex128), b.flatten().to(torch.complex128)).real
    )


def estimate_lipschitz(
    normal: LinearOperator,
    like: torch.Tensor,
    iterations: int = 12,
    progress: Progress | None = None,
) -> float:
    """Largest eigenvalue of a positive semi-definite ``normal`` by power iteration.

    Started from a fixed pseudo-random tensor so results repeat.  Power iteration
    approaches the largest eigenvalue from below: callers add a margin (and FISTA's
    backtracking catches the rest).  ``progress`` is told after every application, so
    a cancel is honoured within one.
    """
    generator = torch.Generator(device="cpu").manual_seed(0)
    x = torch.randn(like.shape, generator=generator, dtype=like.dtype).to(like.device)
    x /= torch.linalg.vector_norm(x)
    value = 0.0
    for iteration in range(iterations):
        y = normal(x)
        value = float(torch.linalg.vector_norm(y))
        if value == 0.0:
            return 0.0
        x = y / value
        if progress is not None:
            progress(iteration + 1, iterations, "step size")
    return value


def fista(
    normal: LinearOperator,
    rhs: torch.Tensor,
    x0: torch.Tensor,
    step: float,
    *,
    constant: float = 0.0,
    normal_x0: torch.Tensor | None = None,
    prox: Callable[[torch.Tensor, float], torch.Tensor] | None = None,
    penalty: Callable[[torch.Tensor], float] | None = None,
    max_iterations: int = 30,
    tolerance: float = 1e-3,
    backtracking: float = 0.5,
    progress: Progress | None = None,
    callback: Callable[[int, torch.Tensor], None] | None = None,
) -> FistaResult:
    """Minimise ``f(X) + g(X)`` by FISTA.

    Parameters
    ----------
    normal
        N = A^H W A, self-adjoint positive semi-definite.
    rhs
        b = A^H W y, shape ``normal.ishape``.
    x0
        Starting point.
    step
        Initial step (≤ 1/‖N‖ never needs backtracking).
    constant
        c = ½‖y‖²_W, so that the reported data term is the true one.
    normal_x0
        ``N x0`` when the caller has it already (saves one application).
    prox
        ``prox(z, t)`` of ``t·g`` (``None``: g = 0, plain accelerated gradient).
    penalty
        ``g(X)`` for the reported objective.
    max_iterations, tolerance
        Stop after this many iterations, or when ``‖X_k − X_{k−1}‖/‖X_k‖ < tolerance``.
    backtracking
        Factor the step is multiplied by when the sufficient-decrease test fails.
    progress
        Called each iteration with the objective in the message.
    callback
        ``callback(iteration, x)`` after each iteration (previews, studies).
    """
    progress = Progress() if progress is None else progress
    prox = prox if prox is not None else (lambda z, t: z)
    penalty = penalty if penalty is not None else (lambda x: 0.0)
    start = time.perf_counter()
    result = FistaResult(x=x0, step=step)

    def quadratic(x: torch.Tensor, nx: torch.Tensor) -> float:
        return 0.5 * _real_dot(x, nx) - _real_dot(x, rhs)

    x_previous = x0
    n_previous = normal(x0) if normal_x0 is None else normal_x0
    result.normal_applications = 1 if normal_x0 is None else 0
    objective_previous = quadratic(x0, n_previous) + constant + penalty(x0)
    z, nz = x_previous, n_previous
    tau = 1.0
    for iteration in range(1, max_iterations + 1):
        gradient = nz - rhs
        f_z = quadratic(z, nz)
        while True:
            x = prox(z - step * gradient, step)
            nx = normal(x)
            result.normal_applications += 1
            f_x = quadratic(x, nx)
            difference = x - z
            bound = (
                f_z
                + _real_dot(gradient, difference)
                + _real_dot(difference, difference) / (2 * step)
            )
            if f_x <= bound + 1e-6 * (abs(f_z) + abs(constant)) or step < 1e-12:
                break
            step *= backtracking
        objective = f_x + constant + penalty(x)
        norm = float(torch.linalg.vector_norm(x))
        change = float(torch.linalg.vector_norm(x - x_previous)) / max(norm, 1e-30)
        result.objective.append(objective)
        result.data_term.append(f_x + constant)
        result.relative_change.append(change)
        if objective > objective_previous:
            tau = 1.0  # restart: drop the momentum that overshot
        tau_next = (1.0 + math.sqrt(1.0 + 4.0 * tau * tau)) / 2.0
        beta = (tau - 1.0) / tau_next
        z = x + beta * (x - x_previous)
        nz = nx + beta * (nx - n_previous)
        x_previous, n_previous, tau = x, nx, tau_next
        objective_previous = objective
        result.iterations = iteration
        if callback is not None:
            callback(iteration, x)
        progress(
            iteration,
            max_iterations,
            f"iteration {iteration}: objective {objective:.6g}, change {change:.2e}",
        )
        if change < tolerance:
            result.converged = True
            break
    result.x = x_previous
    result.step = step
    result.seconds = time.perf_counter() - start
    return result
