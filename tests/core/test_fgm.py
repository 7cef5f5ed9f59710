import numpy as np
import pytest
import torch
from matching_fixtures import image_series, make_dictionary, noisy_voxels, reference_match

from mrfcore.inference.fgm import FGMOptions
from mrfcore.inference.grouping import atom_groups, build_groups, normalised_atoms
from mrfcore.inference.matching import match_dense, match_grouped
from mrfcore.methods import INFERENCE, InferenceInputs


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # These tests check numbers on small arrays; torch's thread pool only adds overhead
    # there (and, on a loaded 2-core CI machine, waits of milliseconds per operation).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


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
