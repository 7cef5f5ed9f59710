"""The subspace least-squares reconstructions (LR, LRTV) on the Toeplitz normal operator.

Solves ``min_X ½‖W^{½}(y − F S V X)‖² + Σ_i λ_i TV(X_i)`` by FISTA (:mod:`.fista`), where
W is either the density compensation D ("density" weighting, the default) or the
identity ("none").  With D the normal operator is close to the identity on smooth
images, so FISTA needs far fewer iterations and ``A^H D y`` is the ZF image itself
(one adjoint transform less); without it the data term is the maximum-likelihood one
for white noise.  ``mrf bench recon`` compares both.

:func:`build_problem` does the one-time work (data preparation, ``A^H W y``, Toeplitz
kernel, step size, warm start); :func:`solve` runs FISTA on it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from mrfcore.data import ImageSeries
from mrfcore.device import select_device
from mrfcore.methods import ReconstructionInputs
from mrfcore.operators.toeplitz import ToeplitzNormal, toeplitz_kernel
from mrfcore.progress import Progress
from mrfcore.recon._common import PreparedScan, make_series, prepare, subspace_adjoint
from mrfcore.recon._options import IterativeOptions
from mrfcore.recon.fista import FistaResult, estimate_lipschitz, fista
from mrfcore.recon.tv import TVProx, total_variation

# The Toeplitz kernel's finufft accuracy: the operator then matches the explicit NUFFT
# pair to ≤ 5e-6 relative (tests/core/test_toeplitz.py cases), ten times under the
# 1e-4 it must meet, and the build is ~10 % faster than at 1e-6.
KERNEL_EPS = 1e-5

__all__ = ["SubspaceProblem", "build_problem", "reconstruct_subspace", "solve"]


@dataclass
class SubspaceProblem:
    """``min ½⟨X, N X⟩ − Re⟨X, b⟩ + c`` (+ TV), ready for FISTA on ``device``.

    Attributes
    ----------
    prepared
        The prepared scan (maps, density, frame groups).
    normal
        N = A^H W A (Toeplitz).
    rhs
        b = A^H W y, (s, *N).
    zf
        Density-compensated ZF images (s, *N) (= b with density weighting).
    normal_zf
        N X_zf.
    constant
        c = ½‖y‖²_W.
    lipschitz
        Estimate of ‖N‖ (power iteration).
    gain
        κ = Re⟨X_zf, b⟩/‖X_zf‖²: how the data term scales image content relative to the
        ZF images (1 with density weighting).
    alpha
        Minimiser of the data term along X_zf: the warm start is α X_zf.
    device
        Where the iterations run.
    timings
        Seconds of the set-up steps.
    """

    prepared: PreparedScan
    normal: ToeplitzNormal
    rhs: torch.Tensor
    zf: torch.Tensor
    normal_zf: torch.Tensor
    constant: float
    lipschitz: float
    gain: float
    alpha: float
    device: torch.device
    timings: dict[str, float] = field(default_factory=dict)

    def tv_lambda(self, relative: float) -> float:
        """The absolute TV weight of a relative one (see :func:`reconstruct_subspace`)."""
        peak = float(self.zf[0].abs().max()) if self.zf.numel() else 0.0
        return relative * abs(self.gain) * peak


def _dot(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.vdot(a.flatten(), b.flatten()).real)


def build_problem(
    inputs: ReconstructionInputs, options: IterativeOptions, progress: Progress
) -> SubspaceProblem:
    """Prepare the data and build everything FISTA needs; progress 0 → 1."""
    device = select_device(inputs.device)
    prepared = prepare(inputs, options, progress.stage(0.0, 0.45, "prepare"))
    if options.weighting == "density" and prepared.density is None:
        raise ValueError(
            "weighting 'density' needs density compensation; choose density 'auto' or "
            "'pipe-menon', or weighting 'none'"
        )
    weighted = options.weighting == "density"
    timings: dict[str, float] = {}

    start = time.perf_counter()
    rhs_np = subspace_adjoint(prepared, use_density=weighted, progress=progress.stage(0.45, 0.7))
    if not weighted and prepared.density is not None:
        zf_np = subspace_adjoint(prepared, use_density=True, progress=progress.stage(0.7, 0.8))
    else:
        zf_np = rhs_np
    timings["adjoint"] = time.perf_counter() - start

    start = time.perf_counter()
    kernel = toeplitz_kernel(
        prepared.groups,
        prepared.basis,
        prepared.shape,
        density=prepared.density if weighted else None,
        eps=KERNEL_EPS,
        progress=progress.stage(0.8, 0.93, "Toeplitz kernel"),
    )
    maps = prepared.maps if prepared.maps.shape[0] > 1 else None
    normal = ToeplitzNormal(kernel, maps, device)
    del kernel
    rhs = torch.from_numpy(rhs_np).to(device)
    zf = rhs if zf_np is rhs_np else torch.from_numpy(zf_np).to(device)
    # ‖S^H K S‖ ≤ ‖K‖ · max Σ_c|S_c|²: estimate ‖K‖ on one coil, C times cheaper.
    gain = float((normal.maps.abs() ** 2).sum(0).max()) if normal.maps is not None else 1.0
    single_coil = ToeplitzNormal(normal.kernel, None, device)
    lipschitz = estimate_lipschitz(single_coil, rhs, progress=progress.stage(0.93, 0.99)) * gain
    normal_zf = normal(zf)
    timings["kernel"] = time.perf_counter() - start

    density = prepared.density if weighted else None
    squared = np.abs(prepared.samples) ** 2
    constant = 0.5 * float(
        (squared * density[None]).sum(dtype=np.float64)
        if density is not None
        else squared.sum(dtype=np.float64)
    )
    # Along X_zf the data term is ½⟨X, N X⟩ − Re⟨X, b⟩ + c: its minimiser α X_zf is the
    # warm start; κ rescales the TV weight when b is not the ZF itself (no weighting).
    energy, along, projection = _dot(zf, zf), _dot(zf, normal_zf), _dot(zf, rhs)
    gain = projection / energy if energy > 0 else 0.0
    alpha = projection / along if along > 0 else 0.0
    progress(1, 1, "set-up done")
    return SubspaceProblem(
        prepared,
        normal,
        rhs,
        zf,
        normal_zf,
        constant,
        lipschitz,
        gain,
        alpha,
        device,
        timings,
    )


def solve(
    problem: SubspaceProblem,
    options: IterativeOptions,
    progress: Progress,
    tv_weight: float = 0.0,
    tv_iterations: int = 10,
    callback: Callable[[int, torch.Tensor], None] | None = None,
) -> FistaResult:
    """FISTA on a built problem, with the TV weight relative as in :func:`reconstruct_subspace`."""
    if options.warm_start:
        x0, normal_x0 = problem.alpha * problem.zf, problem.alpha * problem.normal_zf
    else:
        x0, normal_x0 = torch.zeros_like(problem.rhs), torch.zeros_like(problem.rhs)
    prox = penalty = None
    if tv_weight > 0:
        ndim = len(problem.prepared.shape)
        lam = problem.tv_lambda(tv_weight)
        weights = torch.full((problem.prepared.rank,), lam, device=problem.device)
        tv = TVProx(ndim, tv_iterations)

        def prox(z: torch.Tensor, step: float) -> torch.Tensor:
            return tv(z, step * weights)

        def penalty(x: torch.Tensor) -> float:
            return float((weights * total_variation(x, ndim)).sum())

    return fista(
        problem.normal,
        problem.rhs,
        x0,
        step=1.0 / (1.1 * problem.lipschitz) if problem.lipschitz > 0 else 1.0,
        constant=problem.constant,
        normal_x0=normal_x0,
        prox=prox,
        penalty=penalty,
        max_iterations=options.max_iterations,
        tolerance=options.tolerance,
        progress=progress,
        callback=callback,
    )


def reconstruct_subspace(
    inputs: ReconstructionInputs,
    options: IterativeOptions,
    progress: Progress,
    method: str,
    tv_weight: float = 0.0,
    tv_iterations: int = 10,
) -> ImageSeries:
    """Run LR (``tv_weight == 0``) or LRTV and return the subspace images.

    ``tv_weight`` is λ relative to the ZF images: every component gets

        λ_i = tv_weight · κ · max_r |X_zf,1(r)|,   κ = Re⟨X_zf, A^H W y⟩ / ‖X_zf‖²,

    with X_zf,1 the first (highest-energy) component of the density-compensated ZF
    images.  κ is 1 with density weighting (then A^H W y is X_zf) and otherwise the
    factor by which the data term scales image content.  So λ is a fraction of the
    image peak in the units of a denoising problem ½‖X − X̂‖² + λ TV(X), whatever the
    weighting, coil count or scale of the data.  One λ for all components because the
    noise is the same in every component of an orthonormal subspace.
    """
    problem = build_problem(inputs, options, progress.stage(0.0, 0.5, "set-up"))
    result = solve(
        problem, options, progress.stage(0.5, 1.0, method.upper()), tv_weight, tv_iterations
    )
    timings = dict(problem.timings, iterations=result.seconds)
    return make_series(
        result.x.detach().to("cpu").numpy(),
        inputs,
        problem.prepared,
        method,
        options,
        timings_s=timings,
        device=str(problem.device),
        iterations=result.iterations,
        converged=result.converged,
        objective=result.objective,
        data_term=result.data_term,
        relative_change=result.relative_change,
        step=result.step,
        lipschitz_estimate=problem.lipschitz,
        normal_applications=result.normal_applications,
        tv_lambda=problem.tv_lambda(tv_weight) if tv_weight > 0 else 0.0,
        data_gain=problem.gain,
        warm_start_scale=problem.alpha,
    )
