"""BART .cfl/.hdr pairs, written by hand from BART's documented format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mrfcore.io.bart import inspect_cfl, read_bart_kspace, read_cfl, write_bart_kspace, write_cfl
from mrfcore.sequences import Sequence


def _hand_written(base: Path, array: np.ndarray, header_extra: str = "") -> None:
    """What BART writes: '# Dimensions' then sizes (16, padded with 1), then other
    blocks; data complex64 in column-major order."""
    dims = list(array.shape) + [1] * (16 - array.ndim)
    header = "# Dimensions\n" + " ".join(str(d) for d in dims) + " \n" + header_extra
    base.with_suffix(".hdr").write_text(header)
    np.asfortranarray(array.astype(np.complex64)).T.copy().tofile(base.with_suffix(".cfl"))


def _sequence(n_frames: int) -> Sequence:
    return Sequence(
        flip_angle_deg=np.full(n_frames, 15.0), tr_ms=np.full(n_frames, 12.0), te_ms=2.0
    )


def test_reads_a_hand_written_array_in_column_major_order(tmp_path):
    array = np.arange(24).reshape(2, 3, 4) + 1j * np.arange(24).reshape(2, 3, 4) / 10
    _hand_written(
        tmp_path / "x", array, "# Command\nbart phantom x\n# Files\n >x\n# Creator\nBART 0.9.00\n"
    )
    read = read_cfl(tmp_path / "x")
    assert read.shape == (2, 3, 4) and read.dtype == np.complex64
    np.testing.assert_allclose(read, array, rtol=1e-6)
    # The first values in the file run along the first dimension.
    raw = np.fromfile(tmp_path / "x.cfl", dtype=np.complex64)
    np.testing.assert_allclose(raw[:2], array[:, 0, 0])
    assert inspect_cfl(tmp_path / "x.cfl").summary()["non_singleton"] == {
        "READ": 2,
        "PHS1": 3,
        "PHS2": 4,
    }


def test_write_then_read_round_trip_and_format(tmp_path):
    array = (np.random.default_rng(0).normal(size=(1, 5, 3, 2))).astype(np.complex64)
    write_cfl(tmp_path / "y", array)
    np.testing.assert_array_equal(read_cfl(tmp_path / "y"), array)
    lines = (tmp_path / "y.hdr").read_text().splitlines()
    assert lines[0] == "# Dimensions" and lines[1].split() == ["1", "5", "3", "2"]
    np.testing.assert_array_equal(
        np.fromfile(tmp_path / "y.cfl", dtype=np.complex64), array.ravel(order="F")
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["y.cfl", "y.hdr"]


def test_bad_pairs_are_refused_by_name(tmp_path):
    _hand_written(tmp_path / "short", np.ones((4, 4)))
    with open(tmp_path / "short.cfl", "r+b") as handle:
        handle.truncate(100)
    with pytest.raises(ValueError, match="short.cfl: holds 100 bytes but"):
        read_cfl(tmp_path / "short")
    with pytest.raises(ValueError, match="none.hdr: no such file"):
        read_cfl(tmp_path / "none")
    (tmp_path / "text.hdr").write_text("hello\n")
    (tmp_path / "text.cfl").write_bytes(b"")
    with pytest.raises(ValueError, match="text.hdr: no '# Dimensions'"):
        read_cfl(tmp_path / "text")
    (tmp_path / "bad.hdr").write_text("# Dimensions\n4 x 1\n")
    with pytest.raises(ValueError, match="bad.hdr: the line after '# Dimensions'"):
        read_cfl(tmp_path / "bad")


def _mrf_pair(tmp_path: Path, frame_dim: int, frames=4, readout=6, spokes=2, coils=3):
    rng = np.random.default_rng(frame_dim)
    kdims = [1, readout, spokes, coils] + [1] * 12
    kdims[frame_dim] = frames
    kspace = (rng.normal(size=kdims) + 1j * rng.normal(size=kdims)).astype(np.complex64)
    tdims = [3, readout, spokes] + [1] * 13
    tdims[frame_dim] = frames
    trajectory = np.zeros(tdims, dtype=np.complex64)
    trajectory[:2] = rng.uniform(-15.9, 15.9, size=[2] + tdims[1:])
    _hand_written(tmp_path / "ksp", kspace)
    _hand_written(tmp_path / "traj", trajectory)
    return kspace, trajectory


@pytest.mark.parametrize("frame_dim", [5, 10])
def test_mrf_kspace_dimensions_are_mapped(tmp_path, frame_dim):
    kspace, trajectory = _mrf_pair(tmp_path, frame_dim)
    data = read_bart_kspace(tmp_path / "ksp", tmp_path / "traj.cfl", _sequence(4))
    assert data.samples.shape == (3, 4, 2, 6)  # (coils, frames, interleaves, readout)
    assert data.trajectory.shape == (4, 2, 6, 2)  # 2D: every z is 0
    index = [0] * 16
    for c, t, s, r in [(0, 0, 0, 0), (2, 3, 1, 5), (1, 2, 0, 3)]:
        index[1], index[2], index[3], index[frame_dim] = r, s, c, t
        assert data.samples[c, t, s, r] == kspace[tuple(index)]
        point = list(index)
        point[3] = 0
        for axis in range(2):
            point[0] = axis
            assert data.trajectory[t, s, r, axis] == pytest.approx(trajectory[tuple(point)].real)
    assert data.geometry.matrix == (32, 32)
    assert "not in BART files" in data.metadata["voxel_size_mm"]


def test_frames_must_match_the_sequence_and_be_unambiguous(tmp_path):
    _mrf_pair(tmp_path, 5)
    with pytest.raises(ValueError, match="ksp: holds 4 frames .* has 5"):
        read_bart_kspace(tmp_path / "ksp", tmp_path / "traj", _sequence(5))
    both = np.ones([1, 6, 2, 1, 1, 4, 1, 1, 1, 1, 3], dtype=np.complex64)
    _hand_written(tmp_path / "both", both)
    with pytest.raises(ValueError, match="both TE_DIM \\(5\\) and TIME_DIM \\(10\\)"):
        read_bart_kspace(tmp_path / "both", tmp_path / "traj", _sequence(4))


def test_consecutive_spokes_form_frames_without_a_frame_dimension(tmp_path):
    rng = np.random.default_rng(7)
    kspace = rng.normal(size=(1, 5, 6, 2)).astype(np.complex64)  # 3 frames × 2 spokes
    trajectory = np.zeros((3, 5, 6), dtype=np.complex64)
    trajectory[:3] = rng.uniform(-4, 4, size=(3, 5, 6))
    _hand_written(tmp_path / "k", kspace)
    _hand_written(tmp_path / "t", trajectory)
    data = read_bart_kspace(
        tmp_path / "k",
        tmp_path / "t",
        _sequence(3),
        matrix=(8, 8, 8),
        voxel_size_mm=(2.0, 2.0, 2.0),
    )
    assert data.samples.shape == (2, 3, 2, 5) and data.trajectory.shape == (3, 2, 5, 3)
    # spoke 5 = frame 2, interleave 1
    np.testing.assert_array_equal(data.samples[:, 2, 1, :], kspace[0, :, 5, :].T)
    np.testing.assert_array_equal(data.trajectory[2, 1], trajectory[:, :, 5].real.T)
    assert data.geometry.voxel_size_mm == (2.0, 2.0, 2.0)


def test_write_bart_kspace_round_trip(tmp_path):
    _mrf_pair(tmp_path, 5)
    data = read_bart_kspace(tmp_path / "ksp", tmp_path / "traj", _sequence(4), matrix=(32, 32))
    write_bart_kspace(data, tmp_path / "out_k", tmp_path / "out_t", frame_dim=10)
    assert inspect_cfl(tmp_path / "out_k").dims[10] == 4
    again = read_bart_kspace(tmp_path / "out_k", tmp_path / "out_t", _sequence(4), matrix=(32, 32))
    np.testing.assert_array_equal(again.samples, data.samples)
    np.testing.assert_array_equal(again.trajectory, data.trajectory)
