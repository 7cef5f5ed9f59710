import numpy as np
import pytest
import torch
from matching_fixtures import image_series, make_dictionary, noisy_voxels, reference_match

from mrfcore.inference.fgm import FGMOptions
from mrfcore.inference.grouping import atom_groups, build_groups, normalised_atoms
from mrfcore.inference.matching import match_dense, match_grouped
from mrfcore.methods import INFERENCE, InferenceInputs

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def dictionary():
    return make_dictionary(n_t1=40, n_t2=30, rank=8)


@pytest.fixture(scope="module")
def groups(dictionary):
    return build_groups(normalised_atoms(dictionary), 24)


def test_groups_partition_the_atoms_with_correct_radii(dictionary, groups):
    assert sorted(groups.order.tolist()) == list(range(dictionary.n_atoms))
    assert groups.starts[0] == 0 and groups.starts[-1] == dictionary.n_atoms
    assert (groups.sizes() > 0).all() and groups.n_groups == 24
    atoms = normalised_atoms(dictionary)
    np.testing.assert_allclose(np.linalg.norm(groups.centres, axis=1), 1.0, atol=1e-5)
    for g in range(groups.n_groups):
        members = atoms[groups.order[groups.starts[g] : groups.starts[g + 1]]]
        angles = np.arccos(np.clip(np.abs(members @ groups.centres[g].conj()), 0, 1))
        assert groups.radius_rad[g] == pytest.approx(angles.max(), abs=1e-5)
        # k-means: each atom is closest (in |correlation|) to its own centre, up to the
        # last reassignment of an iteration cap.
        all_fit = np.abs(members @ groups.centres.conj().T)
        assert (all_fit.argmax(axis=1) == g).mean() > 0.95


def test_fgm_agrees_with_exhaustive_matching_on_mildly_noisy_voxels(dictionary, groups):
    signals, _, _ = noisy_voxels(dictionary, 2000, 0.05, seed=11)
    x = torch.from_numpy(signals)
    atoms = torch.from_numpy(normalised_atoms(dictionary))
    exhaustive, _ = reference_match(dictionary, signals)
    fast = match_grouped(x, atoms, groups, groups_searched=2)
    agreement = (fast.indices.numpy() == exhaustive).mean()
    assert agreement >= 0.99
    # ... while scoring a fraction of the voxel-atom pairs.
    assert fast.pairs_scored < 0.5 * len(signals) * dictionary.n_atoms
    one_group = match_grouped(x, atoms, groups, groups_searched=1)
    assert one_group.pairs_scored < fast.pairs_scored


def test_fgm_equals_dm_when_every_group_is_searched(dictionary, groups):
    signals, _, _ = noisy_voxels(dictionary, 500, 0.3, seed=12)
    x = torch.from_numpy(signals)
    atoms = torch.from_numpy(normalised_atoms(dictionary))
    dense = match_dense(x, atoms)
    every_group = match_grouped(x, atoms, groups, groups_searched=groups.n_groups)
    torch.testing.assert_close(every_group.indices, dense.indices, rtol=0, atol=0)
    torch.testing.assert_close(every_group.correlation, dense.correlation)


def test_fgm_method_reports_its_agreement_with_dm(dictionary):
    signals, truth, _ = noisy_voxels(dictionary, 400, 0.05, seed=13)
    series = image_series(dictionary, signals, (20, 20))
    info = INFERENCE.get("fgm")
    options = FGMOptions(n_groups=20, groups_searched=3, check_exhaustive=True)
    maps = info.run(InferenceInputs(series, dictionary, "cpu"), options)
    assert maps.provenance["agreement_with_dm"] >= 0.99
    assert maps.provenance["method"] == "fgm" and "3 of 20 groups" in maps.provenance["search"]
    # Mild noise: most voxels land on their true atom, the rest on a neighbour.
    assert np.mean(maps.t1_ms.ravel() == dictionary.t1_ms[truth]) > 0.8
    noiseless, truth, _ = noisy_voxels(dictionary, 100, 0.0, seed=14)
    maps = info.run(InferenceInputs(image_series(dictionary, noiseless, (10, 10)), dictionary,
                                    "cpu"), FGMOptions(n_groups=20, groups_searched=1))
    np.testing.assert_array_equal(maps.t2_ms.ravel(), dictionary.t2_ms[truth])


def test_grouping_is_cached_in_memory_and_on_disk(dictionary, tmp_path):
    first = atom_groups(dictionary, 12, tmp_path)
    assert atom_groups(dictionary, 12, tmp_path) is first
    files = list(tmp_path.glob("groups_*_12_v*.npz"))
    assert len(files) == 1
    copy = make_dictionary(n_t1=40, n_t2=30, rank=8)  # same atoms, another object
    loaded = atom_groups(copy, 12, tmp_path)
    assert loaded is not first
    np.testing.assert_array_equal(loaded.order, first.order)
    np.testing.assert_array_equal(loaded.centres, first.centres)
    files[0].write_bytes(b"damaged")
    rebuilt = atom_groups(make_dictionary(n_t1=40, n_t2=30, rank=8), 12, tmp_path)
    np.testing.assert_array_equal(rebuilt.order, first.order)  # deterministic k-means
    tiny = make_dictionary(n_t1=3, n_t2=4)
    assert atom_groups(tiny, 10**6).n_groups == tiny.n_atoms == 12


@pytest.fixture
def two_threads():
    # The CPU matching splits its work over torch's thread count (Python threads with
    # one intra-op thread each); the module runs with 1 thread, so this path needs 2.
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(1)


def _boundary_reference(dictionary, groups, signals, limit, margin):
    """Float64 numpy FGM with the boundary margin: (best atom (V,), its ρ (V,), the
    second-best ρ among the searched atoms (V,))."""
    atoms = normalised_atoms(dictionary).astype(np.complex128)
    x = signals.astype(np.complex128)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    centres = groups.centres.astype(np.complex128)
    squared = np.abs(x @ centres.conj().T) ** 2  # (V, G)
    separation = np.sqrt(np.clip(1 - np.abs(centres.conj() @ centres.T) ** 2, 0, 1))
    best_group = squared.argmax(axis=1)
    gap = squared.max(axis=1, keepdims=True) - squared
    searched = gap <= np.sin(2 * margin) * separation[best_group]
    rank = np.argsort(np.argsort(-squared, axis=1), axis=1)
    searched &= rank < limit
    label = np.empty(dictionary.n_atoms, int)
    for g in range(groups.n_groups):
        label[groups.order[groups.starts[g] : groups.starts[g + 1]]] = g
    correlation = np.abs(x @ atoms.conj().T) * searched[:, label]  # unsearched atoms: 0
    ordered = np.sort(correlation, axis=1)
    return correlation.argmax(axis=1), ordered[:, -1], ordered[:, -2], searched


@pytest.mark.parametrize("margin,limit", [(0.0, 4), (0.01, 4), (0.05, 2), (0.8, 3)])
def test_boundary_margin_searches_the_groups_of_an_independent_reference(
    dictionary, groups, margin, limit
):
    signals, _, _ = noisy_voxels(dictionary, 600, 0.1, seed=21)
    expected, best, second, searched = _boundary_reference(dictionary, groups, signals,
                                                           limit, margin)
    result = match_grouped(torch.from_numpy(signals), torch.from_numpy(
        normalised_atoms(dictionary)), groups, limit, margin=margin)
    clear = best - second > 1e-5  # no near-tie among the searched atoms
    assert clear.mean() > 0.9
    np.testing.assert_array_equal(result.indices.numpy()[clear], expected[clear])
    np.testing.assert_allclose(result.correlation.numpy(), best, atol=2e-6)
    # The same groups searched, but for a voxel or two on the edge of float32 round-off.
    searched_atoms = int((searched.astype(float) @ groups.sizes()).sum())
    expected_pairs = len(signals) * groups.n_groups + searched_atoms
    assert abs(result.pairs_scored - expected_pairs) <= 2 * groups.sizes().max()
    if margin == 0.0:
        assert (searched.sum(axis=1) == 1).all()


def test_boundary_margin_beats_a_fixed_number_of_groups(dictionary, groups):
    signals, _, _ = noisy_voxels(dictionary, 2000, 0.1, seed=22)
    x = torch.from_numpy(signals)
    atoms = torch.from_numpy(normalised_atoms(dictionary))
    exhaustive, _ = reference_match(dictionary, signals)
    # Coarse groups (50 atoms) need a wider margin than the paper grid's (570 atoms).
    adaptive = match_grouped(x, atoms, groups, 4, margin=0.02)
    fixed = match_grouped(x, atoms, groups, 2)
    one = match_grouped(x, atoms, groups, 4, margin=0.0)
    agreement = {name: (r.indices.numpy() == exhaustive).mean()
                 for name, r in [("adaptive", adaptive), ("fixed", fixed), ("one", one)]}
    assert agreement["adaptive"] >= 0.99 and agreement["adaptive"] > agreement["one"] + 0.02
    assert agreement["adaptive"] >= agreement["fixed"] - 0.002
    assert one.pairs_scored < adaptive.pairs_scored < fixed.pairs_scored


def test_zero_and_nan_voxels_do_not_break_fgm(dictionary, groups):
    signals, truth, _ = noisy_voxels(dictionary, 40, 0.0, seed=23)
    signals[3] = 0
    signals[7, 2] = np.nan
    result = match_grouped(torch.from_numpy(signals),
                           torch.from_numpy(normalised_atoms(dictionary)), groups, 4,
                           margin=0.01)
    assert result.indices.shape == (40,) and result.correlation[3] == 0
    keep = np.ones(40, bool)
    keep[[3, 7]] = False
    np.testing.assert_array_equal(result.indices.numpy()[keep], truth[keep])
    nothing = match_grouped(torch.from_numpy(signals[:0]),
                            torch.from_numpy(normalised_atoms(dictionary)), groups, 4,
                            margin=0.01)
    assert nothing.indices.shape == (0,) and nothing.pairs_scored == 0


def test_work_split_over_threads_gives_the_same_atoms(dictionary, groups, two_threads):
    signals, _, _ = noisy_voxels(dictionary, 3000, 0.2, seed=24)
    x = torch.from_numpy(signals)
    atoms = torch.from_numpy(normalised_atoms(dictionary))
    runs = {}
    for threads in (2, 1):
        torch.set_num_threads(threads)
        runs[threads] = [match_dense(x, atoms), match_grouped(x, atoms, groups),
                         match_grouped(x, atoms, groups, 4, margin=0.01),
                         match_grouped(x, atoms, groups, 2)]
        assert torch.get_num_threads() == threads  # restored after the split
    for split, single in zip(runs[2], runs[1], strict=True):
        torch.testing.assert_close(split.indices, single.indices, rtol=0, atol=0)
        torch.testing.assert_close(split.correlation, single.correlation)
        assert split.pairs_scored == single.pairs_scored


def test_cancelling_stops_the_threads_and_restores_the_thread_count(dictionary, groups,
                                                                    two_threads):
    from mrfcore.progress import Cancelled, Progress

    signals, _, _ = noisy_voxels(dictionary, 3000, 0.2, seed=25)
    calls = []

    def cancel_midway(step, total, message):
        calls.append(step)
        return len(calls) < 3

    with pytest.raises(Cancelled):
        match_grouped(torch.from_numpy(signals), torch.from_numpy(normalised_atoms(
            dictionary)), groups, 4, Progress(cancel_midway), margin=0.01)
    assert torch.get_num_threads() == 2 and len(calls) == 3


def test_in_parallel_keeps_order_and_raises_the_first_failure(two_threads):
    import threading
    import time

    from mrfcore.inference.parallel import cpu_workers, in_parallel, torch_threads

    seen = set()

    def task(value):
        def run(in_caller):
            seen.add(threading.get_ident())
            time.sleep(0.005)  # long enough for every thread to take some tasks
            return value * value, in_caller
        return run

    def fail(in_caller):
        raise ValueError("task 2 failed")

    with torch_threads(1):
        results = in_parallel([task(v) for v in range(9)], 3)
        assert [r[0] for r in results] == [v * v for v in range(9)]
        assert 0 < sum(r[1] for r in results) < 9 and len(seen) == 3
        with pytest.raises(ValueError, match="task 2 failed"):
            in_parallel([task(0), task(1), fail, task(3)], 2)
        assert in_parallel([task(5)], 4) == [(25, True)]
        assert cpu_workers(torch.device("cpu")) == torch.get_num_threads() + 1 == 2
    assert torch.get_num_threads() == 2 == cpu_workers(torch.device("cpu"))
    assert cpu_workers(torch.device("meta")) == 1


def test_k_means_assignment_is_the_closest_centre(dictionary, groups):
    from mrfcore.inference.grouping import _closest_centres

    atoms = normalised_atoms(dictionary)
    rows = torch.from_numpy(np.concatenate([atoms.real, atoms.imag], axis=1))
    fit, labels = _closest_centres(rows, torch.from_numpy(groups.centres))
    expected = np.abs(atoms.astype(np.complex128) @ groups.centres.conj().T) ** 2
    np.testing.assert_allclose(fit.numpy(), expected.max(axis=1), atol=1e-5)
    best = expected.max(axis=1)
    chosen = expected[np.arange(len(atoms)), labels.numpy()]
    np.testing.assert_allclose(chosen, best, atol=1e-5)  # ties may pick either
