"""Dictionaries: grids, subspace compression against a direct SVD, files, cache, CLI."""

from __future__ import annotations

import json
import logging

import h5py
import numpy as np
import pytest

from mrfcore.dictionary import (
    FORMAT_VERSION,
    Dictionary,
    ParameterGrid,
    build_dictionary,
    dictionary_cache_key,
    dictionary_cache_path,
    grid_preset,
    load_or_build_dictionary,
)
from mrfcore.progress import Cancelled, CancelToken, Progress
from mrfcore.sequences import builtin_sequence, write_sequence


def _short_sequence(name: str = "ir-ramp-880", every: int = 8):
    """Every ``every``-th frame of a built-in: the whole flip-angle course, few frames."""
    full = builtin_sequence(name)
    return full.replace(
        flip_angle_deg=full.flip_angle_deg[::every],
        tr_ms=full.tr_ms[::every],
        te_ms=full.te_ms[::every],
        phase_deg=full.phase_deg[::every],
        name=f"{name}-short",
    )


SEQUENCE = _short_sequence()  # 110 frames
SMALL_GRID = ParameterGrid.regular((200, 3000, 200), (20, 380, 40), t2_le_t1=True)
MEDIUM_GRID = ParameterGrid.regular((100, 4000, 100), (20, 600, 20))  # 40 × 30 = 1200


def _direct_fingerprints(sequence, grid) -> np.ndarray:
    from mrfcore.simulation import simulate_fingerprints

    return (
        simulate_fingerprints(sequence, grid.t1_ms, grid.t2_ms, grid.b1, device="cpu").cpu().numpy()
    )


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def small_dictionary() -> Dictionary:
    return build_dictionary(SEQUENCE, SMALL_GRID, rank=6, device="cpu")


@pytest.fixture(scope="module")
def medium_fingerprints() -> np.ndarray:
    return _direct_fingerprints(SEQUENCE, MEDIUM_GRID)


# ------------------------------------------------------------------------------ grids


def test_paper_grid_count_and_axes():
    grid = ParameterGrid.paper()
    assert grid.n_atoms == 391 * 291 == 113_781
    assert grid.t1_ms.dtype == np.float32 and grid.b1 is None
    assert np.unique(grid.t1_ms).size == 391 and np.unique(grid.t2_ms).size == 291
    assert (grid.t1_ms.min(), grid.t1_ms.max()) == (100, 4000)
    assert (grid.t2_ms.min(), grid.t2_ms.max()) == (20, 600)
    assert np.any(grid.t2_ms > grid.t1_ms)  # T2 ≤ T1 is not applied in the paper grid
    description = grid.describe()
    json.dumps(description)
    assert description["kind"] == "paper" and description["n_atoms"] == 113_781


def test_regular_grid_inclusive_stop_and_t2_le_t1_against_brute_force():
    grid = ParameterGrid.regular((0.1, 0.3, 0.1), (0.1, 0.3, 0.1))
    assert grid.n_atoms == 9  # float steps must not lose the inclusive stop
    t1_axis, t2_axis = np.arange(100, 1001, 50), np.arange(40, 801, 20)
    grid = ParameterGrid.regular((100, 1000, 50), (40, 800, 20), t2_le_t1=True)
    expected = [(a, b) for a in t1_axis for b in t2_axis if b <= a]
    assert grid.n_atoms == len(expected)
    assert set(zip(grid.t1_ms.tolist(), grid.t2_ms.tolist(), strict=True)) == {
        (float(a), float(b)) for a, b in expected
    }


def test_log_spaced_grid_with_b1_axis():
    grid = ParameterGrid.log_spaced(10, 1000, 5, 10, 1000, 5, b1_values=[0.9, 1.1])
    t1_axis = np.unique(grid.t1_ms)
    np.testing.assert_allclose(t1_axis, [10, 31.6228, 100, 316.228, 1000], rtol=1e-5)
    assert grid.n_atoms == 15 * 2  # 15 pairs with T2 ≤ T1, times two B1 values
    assert np.all(grid.t2_ms <= grid.t1_ms)
    np.testing.assert_allclose(np.unique(grid.b1), [0.9, 1.1], rtol=1e-6)
    assert grid_preset("coarse", b1_values=[0.8, 1.0]).n_atoms == 2 * grid_preset("coarse").n_atoms


def test_grid_descriptions_distinguish_grids_and_bad_input_is_rejected():
    a = ParameterGrid.regular((100, 1000, 100), (20, 200, 20))
    b = ParameterGrid.regular((100, 1000, 100), (20, 200, 20), b1_values=[1.0])
    assert a.describe()["content_hash"] != b.describe()["content_hash"]
    with pytest.raises(ValueError, match="t2_ms has 2 values"):
        ParameterGrid(np.array([100.0, 200.0, 300.0]), np.array([10.0, 20.0]))
    with pytest.raises(ValueError, match="t1_range"):
        ParameterGrid.regular((1000, 100, 10), (20, 200, 20))
    with pytest.raises(ValueError, match="finite and > 0"):
        ParameterGrid(np.array([100.0, -1.0]), np.array([10.0, 20.0]))
    with pytest.raises(ValueError, match="unknown grid"):
        grid_preset("nonsense")


# ------------------------------------------------------------------- the subspace


def test_basis_orthonormal_and_atoms_are_projected_fingerprints(small_dictionary):
    d = small_dictionary
    assert d.basis.dtype == np.complex64 and d.atoms.dtype == np.complex64
    assert d.basis.shape == (SEQUENCE.n_frames, 6) and d.atoms.shape == (SMALL_GRID.n_atoms, 6)
    np.testing.assert_allclose(d.basis.conj().T @ d.basis, np.eye(6), atol=1e-5)
    fingerprints = _direct_fingerprints(SEQUENCE, SMALL_GRID)
    scale = np.abs(fingerprints).max()
    np.testing.assert_allclose(d.atoms, fingerprints @ d.basis.conj(), atol=1e-5 * scale)
    np.testing.assert_allclose(d.compress(fingerprints), d.atoms, atol=1e-5 * scale)
    np.testing.assert_allclose(d.norms, np.linalg.norm(d.atoms, axis=1), rtol=1e-5)
    assert d.norms.dtype == np.float32
    np.testing.assert_array_equal(d.parameters()[:, 0], SMALL_GRID.t1_ms)
    assert d.parameter_names() == ["t1_ms", "t2_ms"] and d.parameters().shape == (d.n_atoms, 2)


def test_exact_path_matches_numpy_svd(small_dictionary):
    fingerprints = _direct_fingerprints(SEQUENCE, SMALL_GRID).astype(np.complex128)
    singular = np.linalg.svd(fingerprints, compute_uv=False)
    expected = (singular[:6] ** 2).sum() / (singular**2).sum()
    assert small_dictionary.energy_captured == pytest.approx(expected, abs=1e-6)
    np.testing.assert_allclose(small_dictionary.singular_values[:6], singular[:6], rtol=1e-4)
    assert small_dictionary.metadata["method"] == "exact SVD"


def test_pilot_subspace_captures_the_full_svd_energy(medium_fingerprints, monkeypatch):
    # 150 pilot atoms out of 1200: the pilot basis alone and the refined one must both
    # capture (within 1e-3) the energy of the optimal rank-s subspace of the full matrix.
    import mrfcore.simulation

    simulated = []
    simulate = mrfcore.simulation.simulate_fingerprints

    def counting(sequence, t1_ms, t2_ms, *args, **kwargs):
        simulated.extend(zip(np.asarray(t1_ms).tolist(), np.asarray(t2_ms).tolist(), strict=True))
        return simulate(sequence, t1_ms, t2_ms, *args, **kwargs)

    monkeypatch.setattr(mrfcore.simulation, "simulate_fingerprints", counting)
    rank = 5
    d = build_dictionary(SEQUENCE, MEDIUM_GRID, rank, device="cpu", pilot_atoms=150, chunk_size=256)
    # one pass: every atom simulated exactly once, the pilot's included
    assert sorted(simulated) == sorted(
        zip(MEDIUM_GRID.t1_ms.tolist(), MEDIUM_GRID.t2_ms.tolist(), strict=True)
    )
    singular = np.linalg.svd(medium_fingerprints.astype(np.complex128), compute_uv=False)
    optimum = (singular[:rank] ** 2).sum() / (singular**2).sum()
    assert d.metadata["pilot_atoms"] == 150
    assert optimum - 1e-3 <= d.metadata["energy_captured_pilot_basis"] <= optimum + 1e-6
    assert optimum - 1e-3 <= d.energy_captured <= optimum + 1e-6
    assert d.energy_captured >= d.metadata["energy_captured_pilot_basis"] - 1e-7
    # the reported figure is the exact captured energy of the returned basis
    projected = medium_fingerprints @ d.basis.conj()
    direct = (np.abs(projected) ** 2).sum() / (np.abs(medium_fingerprints) ** 2).sum()
    assert d.energy_captured == pytest.approx(direct, abs=1e-6)
    np.testing.assert_allclose(d.atoms, projected, atol=1e-5 * np.abs(projected).max())


def test_b1_axis_changes_the_atoms():
    grid = ParameterGrid.regular((500, 1500, 500), (50, 150, 50), b1_values=[0.8, 1.2])
    d = build_dictionary(SEQUENCE, grid, rank=4, device="cpu")
    assert d.parameter_names() == ["t1_ms", "t2_ms", "b1"] and d.parameters().shape == (18, 3)
    fingerprints = _direct_fingerprints(SEQUENCE, grid)
    np.testing.assert_allclose(
        d.atoms, fingerprints @ d.basis.conj(), atol=1e-5 * np.abs(fingerprints).max()
    )
    low, high = d.atoms[d.b1 == np.float32(0.8)], d.atoms[d.b1 == np.float32(1.2)]
    assert np.abs(low - high).max() > 0.05 * np.abs(d.atoms).max()


def test_rank_is_validated():
    with pytest.raises(ValueError, match="rank"):
        build_dictionary(SEQUENCE, SMALL_GRID, rank=0)
    with pytest.raises(ValueError, match="rank"):
        build_dictionary(SEQUENCE, SMALL_GRID, rank=SEQUENCE.n_frames + 1)


def test_progress_reports_monotonically_and_cancel_stops(tmp_path):
    calls = []
    build_dictionary(
        SEQUENCE,
        SMALL_GRID,
        4,
        device="cpu",
        chunk_size=16,
        progress=lambda step, total, message: calls.append((step, total, message)),
    )
    fractions = [step / total for step, total, _ in calls]
    assert len(calls) >= SMALL_GRID.n_atoms // 16
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    seen = []

    def stop_on_second_call(step, total, message):
        seen.append(step)
        return len(seen) < 2

    with pytest.raises(Cancelled):
        load_or_build_dictionary(
            SEQUENCE, SMALL_GRID, 4, device="cpu", progress=stop_on_second_call
        )
    assert not dictionary_cache_path(SEQUENCE, SMALL_GRID, 4).exists()
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        build_dictionary(SEQUENCE, SMALL_GRID, 4, progress=Progress(token=token))


# ------------------------------------------------------------------------ files


def test_save_load_round_trip(small_dictionary, tmp_path):
    path = small_dictionary.save(tmp_path / "dictionary.h5")
    loaded = Dictionary.load(path)
    for name in ("t1_ms", "t2_ms", "basis", "atoms", "norms", "singular_values"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(small_dictionary, name))
        assert getattr(loaded, name).dtype == getattr(small_dictionary, name).dtype
    assert loaded.b1 is None
    assert loaded.sequence_hash == SEQUENCE.content_hash()
    assert loaded.energy_captured == small_dictionary.energy_captured
    assert loaded.metadata == small_dictionary.metadata
    assert loaded.metadata["grid"]["content_hash"] == SMALL_GRID.content_hash()
    assert not list(tmp_path.glob(".dictionary*"))  # no temporary left behind


def test_load_rejects_other_files_with_the_file_name(small_dictionary, tmp_path):
    text = tmp_path / "notes.h5"
    text.write_text("not a dictionary")
    with pytest.raises(ValueError, match="notes.h5"):
        Dictionary.load(text)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as file:
        file["x"] = np.zeros(3)
    with pytest.raises(ValueError, match="other.h5: not an MRF Studio dictionary"):
        Dictionary.load(other)
    newer = small_dictionary.save(tmp_path / "newer.h5")
    with h5py.File(newer, "a") as file:
        file.attrs["format_version"] = FORMAT_VERSION + 1
    with pytest.raises(ValueError, match="newer.h5: .*format version"):
        Dictionary.load(newer)
    truncated = small_dictionary.save(tmp_path / "truncated.h5")
    with h5py.File(truncated, "a") as file:
        del file["atoms"]
    with pytest.raises(ValueError, match="truncated.h5"):
        Dictionary.load(truncated)
    with pytest.raises(FileNotFoundError):
        Dictionary.load(tmp_path / "missing.h5")


# ------------------------------------------------------------------------ cache


def test_cache_hit_loads_without_simulating(monkeypatch):
    first = load_or_build_dictionary(SEQUENCE, SMALL_GRID, 4, device="cpu")
    assert first.metadata["cache"] == "built"

    def fail(*args, **kwargs):
        raise AssertionError("the cache hit must not simulate")

    monkeypatch.setattr("mrfcore.simulation.simulate_fingerprints", fail)
    second = load_or_build_dictionary(SEQUENCE, SMALL_GRID, 4, device="cpu")
    assert second.metadata["cache"] == "hit"
    np.testing.assert_array_equal(second.atoms, first.atoms)
    np.testing.assert_array_equal(second.basis, first.basis)
    with pytest.raises(AssertionError, match="must not simulate"):
        load_or_build_dictionary(SEQUENCE, SMALL_GRID, 4, device="cpu", cache=False)


def test_cache_key_follows_sequence_grid_rank_and_b1():
    key = dictionary_cache_key(SEQUENCE, SMALL_GRID, 10)
    assert key == dictionary_cache_key(_short_sequence(), SMALL_GRID, 10)
    other_grid = ParameterGrid.regular((200, 3000, 200), (20, 380, 40))  # no T2 ≤ T1
    with_b1 = ParameterGrid.regular((200, 3000, 200), (20, 380, 40), [1.0], t2_le_t1=True)
    variants = [
        dictionary_cache_key(SEQUENCE.with_te(1.0), SMALL_GRID, 10),
        dictionary_cache_key(_short_sequence("fisp-jiang2015"), SMALL_GRID, 10),
        dictionary_cache_key(SEQUENCE, other_grid, 10),
        dictionary_cache_key(SEQUENCE, with_b1, 10),
        dictionary_cache_key(SEQUENCE, SMALL_GRID, 8),
        dictionary_cache_key(SEQUENCE, SMALL_GRID, 10, max_states=20),
    ]
    assert len({key, *variants}) == len(variants) + 1


def test_corrupt_cache_file_is_rebuilt(caplog):
    path = dictionary_cache_path(SEQUENCE, SMALL_GRID, 3)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + b"garbage" * 50)
    with caplog.at_level(logging.WARNING, logger="mrfcore.dictionary"):
        rebuilt = load_or_build_dictionary(SEQUENCE, SMALL_GRID, 3, device="cpu")
    assert rebuilt.metadata["cache"] == "built"
    assert "rebuilding" in caplog.text and path.name in caplog.text
    assert Dictionary.load(path).rank == 3


# -------------------------------------------------------------------------- CLI


def test_cli_builds_then_loads_from_cache(tmp_path, capsys):
    from mrfcore.cli import main

    schedule = write_sequence(SEQUENCE, tmp_path / "short.csv")
    arguments = [
        "dictionary",
        "--sequence",
        str(schedule),
        "--rank",
        "5",
        "--t1",
        "200:3000:200",
        "--t2",
        "20:380:40",
        "--t2-le-t1",
        "--device",
        "cpu",
    ]
    assert main(arguments + ["--out", str(tmp_path / "copy.h5")]) == 0
    output = capsys.readouterr().out
    assert f"{SMALL_GRID.n_atoms:,} atoms" in output and "rank             5" in output
    assert "built, cached in" in output and "energy captured" in output
    copy = Dictionary.load(tmp_path / "copy.h5")
    assert copy.n_atoms == SMALL_GRID.n_atoms and copy.rank == 5
    assert main(arguments) == 0
    assert "loaded from cache" in capsys.readouterr().out
    assert main(["dictionary", "--sequence", str(schedule), "--grid", "nonsense"]) == 1
    assert "unknown grid" in capsys.readouterr().err
