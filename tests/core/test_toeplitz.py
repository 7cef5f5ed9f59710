"""The Toeplitz normal operator against the explicit NUFFT pair."""

import numpy as np
import pytest
import torch
from recon_synthetic import (
    coil_maps,
    exponential_basis,
    radial_coords,
    random_orthonormal,
    spiral_coords,
)

from mrfcore.operators import (
    CoilOp,
    DiagonalOp,
    FrameGroups,
    NufftOp,
    SubspaceOp,
    ToeplitzNormal,
    frame_density,
    pipe_menon_density,
    toeplitz_kernel,
)
from mrfcore.recon.fista import estimate_lipschitz

N, FRAMES, RANK = 32, 60, 4


def random_images(seed, shape=(RANK, N, N)):
    rng = np.random.default_rng(seed)
    return torch.from_numpy(
        (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)
    )


def explicit_normal(coords, basis, maps, density):
    coils = maps.shape[0]
    forward = (
        NufftOp(coords, (N, N), batch_shape=(coils,))
        @ CoilOp(maps, inner_shape=(FRAMES,))
        @ SubspaceOp(basis, (N, N))
    )
    if density is None:
        return forward.N
    weights = DiagonalOp(np.broadcast_to(density, forward.oshape).copy(), forward.oshape)
    return forward.H @ weights @ forward


@pytest.mark.parametrize(
    "kind, basis_kind, coils, weighted",
    [
        ("radial", "real", 1, False),
        ("radial", "complex", 3, True),
        ("spiral", "real", 3, True),
        ("spiral", "random", 2, False),
    ],
)
def test_toeplitz_matches_the_explicit_nufft_pair(kind, basis_kind, coils, weighted):
    coords = radial_coords(N, FRAMES) if kind == "radial" else spiral_coords(N, FRAMES, 12, 5, 160)
    basis = (
        random_orthonormal(FRAMES, RANK, seed=4)
        if basis_kind == "random"
        else exponential_basis(FRAMES, RANK, complex_phase=basis_kind == "complex")
    )
    maps = coil_maps(N, coils)
    groups = FrameGroups.from_trajectory(coords)
    assert (groups.n_groups < FRAMES) == (kind == "spiral")
    density = frame_density(pipe_menon_density(groups, (N, N)), groups) if weighted else None
    kernel = toeplitz_kernel(groups, basis, (N, N), density=density)
    fast = ToeplitzNormal(kernel, maps if coils > 1 else None)
    slow = explicit_normal(coords, basis, maps, density)
    x = random_images(1)
    expected = slow(x)
    error = torch.linalg.norm(fast(x) - expected) / torch.linalg.norm(expected)
    assert error <= 1e-4


def test_kernel_is_hermitian_and_bounds_the_operator():
    coords = radial_coords(N, FRAMES)
    groups = FrameGroups.from_trajectory(coords)
    basis = exponential_basis(FRAMES, RANK, complex_phase=True)
    kernel = toeplitz_kernel(groups, basis, (N, N))
    per_frequency = kernel.reshape(RANK, RANK, -1).permute(2, 0, 1)
    assert torch.allclose(per_frequency, per_frequency.conj().transpose(1, 2), atol=1e-6)
    operator = ToeplitzNormal(kernel, coil_maps(N, 3))
    largest = estimate_lipschitz(operator, random_images(0), iterations=30)
    assert 0 < largest <= operator.largest_eigenvalue_bound() * (1 + 1e-5)
    # Self-adjoint: <N x, y> = <x, N y>.
    x, y = random_images(2), random_images(3)
    lhs = torch.vdot(operator(x).flatten(), y.flatten())
    rhs = torch.vdot(x.flatten(), operator(y).flatten())
    assert abs(lhs - rhs) <= 1e-5 * abs(lhs)
    assert operator.H is operator


def test_kernel_of_a_rotated_basis_rotates():
    # V → V·U for a unitary U changes K̂ to U^H K̂ U: a check of the pairing of real and
    # imaginary weight vectors that does not rely on the explicit operator.
    coords = spiral_coords(N, FRAMES, 10, 5, 160)
    groups = FrameGroups.from_trajectory(coords)
    basis = exponential_basis(FRAMES, RANK)
    rotation = random_orthonormal(RANK, RANK, seed=9)
    kernel = toeplitz_kernel(groups, basis, (N, N))
    rotated = toeplitz_kernel(groups, basis @ rotation, (N, N))
    u = torch.from_numpy(rotation)
    expected = torch.einsum("ab,bcf,cd->adf", u.conj().T, kernel.reshape(RANK, RANK, -1), u)
    assert torch.allclose(rotated.reshape(RANK, RANK, -1), expected, atol=1e-5 * kernel.abs().max())


def test_mismatched_inputs_are_refused():
    coords = radial_coords(N, FRAMES)
    groups = FrameGroups.from_trajectory(coords)
    with pytest.raises(ValueError, match="frames"):
        toeplitz_kernel(groups, exponential_basis(FRAMES + 1, RANK), (N, N))
    kernel = toeplitz_kernel(groups, exponential_basis(FRAMES, RANK), (N, N))
    with pytest.raises(ValueError, match="coil maps"):
        ToeplitzNormal(kernel, coil_maps(N + 2, 2))
