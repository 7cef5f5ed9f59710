"""Trajectories: scale (1/FOV, edge at ±N/2), centre, ordering, coverage, undersampling."""

import numpy as np
import pytest
from scipy.spatial import cKDTree

from mrfcore.acquisition.trajectories import (
    GOLDEN_RATIO,
    SpiralDesign,
    analytic_density,
    cartesian_trajectory,
    make_trajectory,
    radial_trajectory,
    spiral_trajectory,
)


def _largest_gap(coords: np.ndarray, matrix: int) -> float:
    """Largest distance from a grid point inside the k-space disc to the nearest sample."""
    axis = np.arange(-matrix / 2, matrix / 2 + 1)
    grid = np.stack(np.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
    grid = grid[np.linalg.norm(grid, axis=1) <= matrix / 2 - 1]
    distance, _ = cKDTree(coords.reshape(-1, 2)).query(grid)
    return float(distance.max())


def _angles(coords: np.ndarray) -> np.ndarray:
    """Direction of the last sample of every interleaf (frames, interleaves), radians."""
    end = coords[:, :, -1]
    return np.arctan2(end[..., 1], end[..., 0])


def test_spiral_default_design_for_200_matrix():
    trajectory = spiral_trajectory(5)
    radius = np.linalg.norm(trajectory.coords, axis=-1)
    assert trajectory.coords.dtype == np.float32
    assert trajectory.coords.shape[:2] == (5, 1) and trajectory.coords.shape[-1] == 2
    assert 1000 <= trajectory.n_readout <= 3000
    np.testing.assert_array_equal(radius[..., 0], 0.0)  # every arm starts at the centre
    np.testing.assert_allclose(radius.max(axis=-1), 100.0, rtol=1e-5)  # edge at N/2
    assert trajectory.undersampling_factor == 24
    assert 1.0 < trajectory.readout_duration_ms < 8.0  # fits in a 12 ms TR
    assert 1.0 < trajectory.dwell_time_us < 5.0


def test_spiral_golden_angle_rotation_and_interleaves():
    trajectory = spiral_trajectory(6, matrix=64, interleaves=3)
    assert trajectory.coords.shape[:2] == (6, 3)
    assert trajectory.undersampling_factor == pytest.approx(8.0)
    golden = 2 * np.pi * (1 - 1 / GOLDEN_RATIO)
    flat = _angles(trajectory.coords).reshape(-1)
    step = np.angle(np.exp(1j * (np.diff(flat) - golden)))
    np.testing.assert_allclose(step, 0.0, atol=1e-4)
    # Arms are rotated copies: same radius profile.
    radius = np.linalg.norm(trajectory.coords, axis=-1)
    np.testing.assert_allclose(radius, np.broadcast_to(radius[0, 0], radius.shape), atol=1e-4)


def test_spiral_cycle_repeats_with_period_and_covers_kspace():
    matrix = 64
    trajectory = spiral_trajectory(48, matrix=matrix, ordering="cycle")
    assert trajectory.n_rotations == 24
    np.testing.assert_array_equal(trajectory.coords[24:], trajectory.coords[:24])
    angles = np.sort(np.mod(trajectory.positions[:24, 0], 2 * np.pi))
    np.testing.assert_allclose(np.diff(angles), 2 * np.pi / 24, atol=1e-9)
    # 24 arms sample the disc at about the Nyquist rate; 12 leave gaps.
    assert _largest_gap(trajectory.coords[:24], matrix) < 1.0
    half = spiral_trajectory(12, matrix=matrix, ordering="cycle", n_rotations=24)
    assert _largest_gap(half.coords, matrix) > 2.0
    paper = spiral_trajectory(400, matrix=matrix, ordering="cycle", n_rotations=377)
    np.testing.assert_array_equal(paper.coords[377], paper.coords[0])


def test_spiral_design_parameters_change_readout():
    short = spiral_trajectory(1, matrix=64, design=SpiralDesign(full_interleaves=16))
    default = spiral_trajectory(1, matrix=64)
    assert short.n_readout > default.n_readout  # fewer arms → longer arms
    assert short.undersampling_factor == 16
    with pytest.raises(ValueError, match="fewer than"):
        spiral_trajectory(1, matrix=32, design=SpiralDesign(full_interleaves=20))


def test_radial_through_centre_with_2n_samples():
    trajectory = radial_trajectory(4)
    assert trajectory.n_readout == 400
    radius = np.linalg.norm(trajectory.coords, axis=-1)
    np.testing.assert_array_equal(radius[..., 200], 0.0)  # a sample exactly at the centre
    np.testing.assert_allclose(radius.max(axis=-1), 100.0, rtol=1e-5)
    # Samples are evenly spaced by half a Nyquist step along a straight line.
    step = np.linalg.norm(np.diff(trajectory.coords, axis=2), axis=-1)
    np.testing.assert_allclose(step, 0.5, atol=1e-4)
    assert trajectory.full_interleaves == int(np.ceil(np.pi * 200 / 2))
    assert trajectory.undersampling_factor == pytest.approx(315)


def test_radial_golden_angle_and_coverage():
    matrix = 64
    trajectory = radial_trajectory(101, matrix=matrix)
    # Spoke directions advance by 180°/φ (modulo 180°: a spoke has two ends).
    directions = trajectory.positions[:, 0]
    step = np.mod(np.diff(directions) - np.pi / GOLDEN_RATIO + np.pi / 2, np.pi) - np.pi / 2
    np.testing.assert_allclose(step, 0.0, atol=1e-9)
    assert _largest_gap(trajectory.coords, matrix) < 1.0
    assert _largest_gap(trajectory.coords[:50], matrix) > 1.2


def test_cartesian_lines():
    matrix = 32
    trajectory = cartesian_trajectory(8, matrix=matrix, interleaves=4, ordering="cycle")
    assert trajectory.undersampling_factor == 8
    ky = trajectory.coords[..., 0, 1]
    assert sorted(set(ky.reshape(-1).tolist())) == list(range(-16, 16))  # every line once
    assert np.abs(trajectory.coords).max() == 16
    np.testing.assert_array_equal(trajectory.coords[0, 0, :, 0], np.arange(-16, 16))
    golden = cartesian_trajectory(64, matrix=matrix)
    assert len(set(golden.coords[:, 0, 0, 1].tolist())) > 0.6 * matrix


def test_analytic_density():
    radial = radial_trajectory(3, matrix=32)
    weights = analytic_density(radial)
    radius = np.linalg.norm(radial.coords, axis=-1)
    outer = radius > 1
    np.testing.assert_allclose(
        weights[outer] / radius[outer], (weights / radius.clip(1e-9))[outer].mean(), rtol=1e-5
    )
    np.testing.assert_allclose(weights.sum(axis=(1, 2)), np.pi * 16**2, rtol=1e-5)
    spiral = analytic_density(spiral_trajectory(2, matrix=32))
    assert spiral.shape == (2, 1, spiral.shape[2]) and np.all(spiral >= 0)
    # Denser sampling at the centre of a variable-density spiral → smaller weights there.
    assert spiral[0, 0, 5:15].mean() < spiral[0, 0, -20:-5].mean()


def test_bad_arguments():
    with pytest.raises(ValueError, match="trajectory must be"):
        make_trajectory("rosette", 3)
    with pytest.raises(ValueError, match="ordering"):
        make_trajectory("radial", 3, ordering="random")
    with pytest.raises(ValueError, match="interleaves"):
        make_trajectory("spiral", 3, interleaves=0)
    with pytest.raises(ValueError, match="frames"):
        make_trajectory("radial", 0)
