"""Operators of the MRF forward model: adjointness, composition, gridding, density."""

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

from mrfcore import nufft
from mrfcore.operators import (
    CoilOp,
    DiagonalOp,
    FrameGroups,
    Identity,
    NufftOp,
    SubspaceOp,
    annulus_density,
    frame_density,
    grid_frames,
    pipe_menon_density,
    trajectory_density,
)

N, FRAMES, RANK, COILS = 24, 30, 4, 3


def random_complex(shape, seed):
    rng = np.random.default_rng(seed)
    values = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    return torch.from_numpy(values.astype(np.complex64))


def assert_adjoint(operator, seed=0, tolerance=1e-5):
    x = random_complex(operator.ishape, seed)
    y = random_complex(operator.oshape, seed + 1)
    forward = operator(x)
    back = operator.H(y)
    assert tuple(forward.shape) == operator.oshape and tuple(back.shape) == operator.ishape
    lhs = torch.vdot(forward.flatten(), y.flatten()).to(torch.complex128)
    rhs = torch.vdot(x.flatten(), back.flatten()).to(torch.complex128)
    assert abs(lhs - rhs) <= tolerance * abs(lhs)


@pytest.fixture(scope="module")
def pieces():
    coords = radial_coords(N, FRAMES)
    return {
        "coords": coords,
        "basis": exponential_basis(FRAMES, RANK, complex_phase=True),
        "maps": coil_maps(N, COILS),
    }


def test_every_operator_is_adjoint_to_its_adjoint(pieces):
    coords, basis, maps = pieces["coords"], pieces["basis"], pieces["maps"]
    weights = np.random.default_rng(3).uniform(0.1, 2, (FRAMES, coords.shape[1]))
    operators = [
        NufftOp(coords, (N, N)),
        NufftOp(coords, (N, N), batch_shape=(COILS,)),
        CoilOp(maps),
        CoilOp(maps, inner_shape=(FRAMES,)),
        SubspaceOp(basis, (N, N)),
        DiagonalOp(weights.astype(np.float32), (FRAMES, coords.shape[1])),
        Identity((2, 5)),
    ]
    for seed, operator in enumerate(operators):
        assert_adjoint(operator, seed)
        assert_adjoint(operator.H, seed)


def test_composition_is_adjoint_and_shapes_chain(pieces):
    coords, basis, maps = pieces["coords"], pieces["basis"], pieces["maps"]
    forward = (
        NufftOp(coords, (N, N), batch_shape=(COILS,))
        @ CoilOp(maps, inner_shape=(FRAMES,))
        @ SubspaceOp(basis, (N, N))
    )
    assert forward.ishape == (RANK, N, N)
    assert forward.oshape == (COILS, FRAMES, coords.shape[1])
    assert_adjoint(forward)
    assert forward.H.H is forward
    normal = forward.N
    assert normal.ishape == normal.oshape == (RANK, N, N)
    x = random_complex(normal.ishape, 7)
    assert torch.vdot(x.flatten(), normal(x).flatten()).real > 0  # positive definite-ish
    assert_adjoint(normal, tolerance=1e-4)


def test_shape_errors_name_the_operator(pieces):
    operator = SubspaceOp(pieces["basis"], (N, N))
    with pytest.raises(ValueError, match="SubspaceOp: input has shape"):
        operator(torch.zeros((RANK + 1, N, N), dtype=torch.complex64))
    with pytest.raises(ValueError, match="cannot compose"):
        _ = operator @ operator


def test_nufft_operator_matches_the_frame_by_frame_transform(pieces):
    coords = pieces["coords"]
    x = random_complex((FRAMES, N, N), 11)
    ours = NufftOp(coords, (N, N))(x).numpy()
    for frame in (0, FRAMES // 2, FRAMES - 1):
        expected = nufft.forward(x[frame].numpy(), coords[frame])
        assert np.allclose(ours[frame], expected, atol=1e-5)


def test_frame_groups_find_repeated_trajectories_and_reduce_exactly():
    coords = spiral_coords(N, FRAMES, interleaves=7, readout=50)
    groups = FrameGroups.from_trajectory(coords)
    assert groups.n_groups == 7 and groups.counts.sum() == FRAMES
    assert np.array_equal(groups.index, np.arange(FRAMES) % 7)
    rng = np.random.default_rng(0)
    weights = rng.standard_normal((3, FRAMES)) + 1j * rng.standard_normal((3, FRAMES))
    values = rng.standard_normal((2, FRAMES, 50)) + 1j * rng.standard_normal((2, FRAMES, 50))
    reduced = groups.reduce(weights, values)
    expected = np.zeros((2, 3, 7, 50), complex)
    for t in range(FRAMES):
        expected[:, :, t % 7] += weights[None, :, t, None] * values[:, None, t]
    assert np.allclose(reduced, expected, atol=1e-4)
    assert FrameGroups.from_trajectory(radial_coords(N, FRAMES)).n_groups == FRAMES


@pytest.mark.parametrize("kind", ["radial", "spiral"])
def test_joint_gridding_equals_the_explicit_adjoint(kind):
    coords = radial_coords(N, FRAMES) if kind == "radial" else spiral_coords(N, FRAMES, 6, 4, 60)
    groups = FrameGroups.from_trajectory(coords)
    basis = random_orthonormal(FRAMES, RANK, seed=2)
    samples = random_complex((COILS, FRAMES, coords.shape[1]), 5).numpy()
    density = frame_density(pipe_menon_density(groups, (N, N)), groups)
    ours = grid_frames(samples, basis.conj().T, groups, (N, N), density, eps=1e-6)
    per_frame = NufftOp(coords, (N, N), batch_shape=(COILS,)).H(
        torch.from_numpy(samples * density[None])
    )
    expected = SubspaceOp(basis, (N, N)).H(per_frame.reshape(COILS * FRAMES, N, N)[:FRAMES])
    assert np.linalg.norm(ours[0] - expected.numpy()) < 1e-5 * np.linalg.norm(expected.numpy())
    expected_all = np.einsum("ts,ctxy->csxy", basis.conj(), per_frame.numpy())
    assert np.linalg.norm(ours - expected_all) < 1e-5 * np.linalg.norm(expected_all)


def test_pipe_menon_weights_a_fully_sampled_cartesian_grid_by_one():
    n = 32
    k = np.stack(np.meshgrid(np.arange(n) - n / 2, np.arange(n) - n / 2, indexing="ij"), -1)
    coords = k.reshape(1, -1, 2).astype(np.float32)
    weights = pipe_menon_density(FrameGroups.from_trajectory(coords), (n, n)).reshape(n, n)
    # Pipe–Menon ripples a few cells in from the edge of a square; the interior is flat.
    assert np.allclose(weights[8:-8, 8:-8], 1.0, atol=0.02)
    assert weights.sum() == pytest.approx(n * n, rel=0.05)


def test_pipe_menon_follows_the_radial_ramp_and_keeps_the_image_scale():
    n, frames = 48, 150
    coords = radial_coords(n, frames)
    groups = FrameGroups.from_trajectory(coords)
    weights = pipe_menon_density(groups, (n, n)).reshape(-1)
    radius = np.hypot(*groups.flat_points.T)
    analytic = np.pi * radius * 0.5 / frames  # each of 2·frames half-spokes, step ½
    # Golden-angle spokes are unevenly spaced, so single weights scatter; ring means
    # must follow the ramp.
    for inner in range(3, n // 2 - 3, 3):
        ring = (radius >= inner) & (radius < inner + 3)
        assert abs(weights[ring].mean() / analytic[ring].mean() - 1) < 0.05
    # Gridding a smooth disk with these weights returns it at its own scale.
    y, x = np.mgrid[:n, :n] - (n - 1) / 2
    disk = (np.hypot(x, y) < 0.35 * n).astype(np.complex128)
    points = coords.reshape(-1, 2)
    values = nufft.forward(disk, points, eps=1e-9)
    per_frame = frame_density(pipe_menon_density(groups, (n, n)), groups).reshape(-1)
    image = nufft.adjoint(values * per_frame / frames, points, (n, n), eps=1e-9).real
    inside = np.hypot(x, y) < 0.3 * n
    assert abs(image[inside].mean() - 1) < 0.04


def golden_spiral_coords(n: int, frames: int, readout: int = 120, turns: float = 3.0):
    """One spiral interleaf per frame, rotated by the golden angle (frames, readout, 2)."""
    tau = np.linspace(0, 1, readout)
    base = (n / 2) * tau * np.exp(2j * np.pi * turns * tau)
    k = base[None] * np.exp(1j * np.deg2rad(137.508) * np.arange(frames))[:, None]
    return np.stack([k.real, k.imag], -1).astype(np.float32)


def voronoi_areas(points: np.ndarray) -> np.ndarray:
    """Area of each point's Voronoi cell (NaN if unbounded); coincident points split theirs."""
    from scipy.spatial import ConvexHull, Voronoi

    unique, inverse, copies = np.unique(
        np.round(points.astype(np.float64), 6), axis=0, return_inverse=True, return_counts=True
    )
    diagram = Voronoi(unique)
    areas = np.full(len(unique), np.nan)
    for index, region in enumerate(diagram.point_region):
        vertices = diagram.regions[region]
        if vertices and -1 not in vertices:
            areas[index] = ConvexHull(diagram.vertices[vertices]).volume
    inverse = inverse.reshape(-1)
    return areas[inverse] / copies[inverse]


def test_annulus_density_is_the_rotation_average_of_the_unions_voronoi_areas():
    n, frames = 32, 260
    coords = golden_spiral_coords(n, frames, readout=80)
    groups = FrameGroups.from_trajectory(coords)
    areas = voronoi_areas(coords.reshape(-1, 2)).reshape(frames, -1)
    radius = np.hypot(*coords[0].T)
    # The outermost cells are unbounded or reach past the sampled disc.
    interior = radius < 0.8 * n / 2
    average = np.nanmean(areas[:, interior], axis=0)
    per_copy = annulus_density(groups)[interior] / frames
    # Blocks of readout points: single rotation averages still scatter a little.
    blocks = np.array_split(np.arange(interior.sum()), 10)
    ratios = [per_copy[b].sum() / average[b].sum() for b in blocks]
    assert np.allclose(ratios, 1.0, atol=0.01), ratios
    # Spokes: the ramp π·|k|·Δk per half-spoke copy, and the disc of radius Δk/2 at 0.
    spokes = FrameGroups.from_trajectory(radial_coords(n, frames))
    radius = np.hypot(*spokes.points[0].T)
    weights = annulus_density(spokes)
    ring = (radius > 0) & (radius < n / 2 - 1)
    assert np.allclose(weights[ring], np.pi * radius[ring] * 0.5, rtol=1e-5)
    assert weights[radius == 0] == pytest.approx(np.pi * 0.25**2, rel=1e-5)


def test_trajectory_density_uses_annuli_for_many_rotations_and_keeps_the_image_scale():
    n, frames = 32, 300
    coords = golden_spiral_coords(n, frames, readout=400, turns=6.0)
    groups = FrameGroups.from_trajectory(coords)
    density = trajectory_density(groups, (n, n), max_groups=256)
    assert np.array_equal(density, np.broadcast_to(annulus_density(groups), density.shape))
    # Rotations confined to half a turn are not rotationally symmetric: no annuli.
    base = coords[0, :, 0] + 1j * coords[0, :, 1]
    k = base[None] * np.exp(1j * np.linspace(0, np.pi, frames, endpoint=False))[:, None]
    half_turn = FrameGroups.from_trajectory(np.stack([k.real, k.imag], -1).astype(np.float32))
    confined = trajectory_density(half_turn, (n, n), max_groups=256)[0]
    assert not np.allclose(confined, annulus_density(half_turn), rtol=0.01)
    # Below the threshold: Pipe–Menon on the union, rotation-averaged.  Both agree
    # away from the edge.
    union = trajectory_density(groups, (n, n), max_groups=frames)
    radius = np.hypot(*coords[0].T)
    inside = (radius > 2) & (radius < 0.8 * n / 2)
    assert np.allclose(density[0, inside].sum() / union[0, inside].sum(), 1.0, atol=0.02)
    # Gridding a smooth disk with these weights returns it at its own scale.
    y, x = np.mgrid[:n, :n] - (n - 1) / 2
    disk = (np.hypot(x, y) < 0.35 * n).astype(np.complex128)
    points = coords.reshape(-1, 2)
    values = nufft.forward(disk, points, eps=1e-9)
    image = nufft.adjoint(values * density.reshape(-1) / frames, points, (n, n), eps=1e-9).real
    assert abs(image[np.hypot(x, y) < 0.3 * n].mean() - 1) < 0.04
    # Spokes keep Pipe–Menon on a subset of rotations, which rolls off below the ramp
    # where the subset leaves gaps between spokes.
    spokes = FrameGroups.from_trajectory(radial_coords(n, frames))
    radius = np.hypot(*spokes.points[0].T)
    subset = trajectory_density(spokes, (n, n), max_groups=32)[0]
    ramp = annulus_density(spokes)
    outer = (radius > 0.6 * n / 2) & (radius < n / 2 - 1)
    assert subset[outer].sum() < 0.9 * ramp[outer].sum()
