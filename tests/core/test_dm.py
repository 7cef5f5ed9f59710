import json

import numpy as np
import pytest
import torch
from matching_fixtures import image_series, make_dictionary, noisy_voxels, reference_match

from mrfcore.inference.common import EXTRA_B1, EXTRA_MATCH_CORRELATION, EXTRA_PD_PHASE
from mrfcore.inference.dm import DMOptions
from mrfcore.inference.grouping import build_groups, normalised_atoms
from mrfcore.inference.matching import match_dense, match_grouped
from mrfcore.methods import INFERENCE, InferenceInputs
from mrfcore.progress import Cancelled, CancelToken, Progress

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module", params=[False, True], ids=["real-atoms", "complex-atoms"])
def dictionary(request):
    return make_dictionary(n_t1=16, n_t2=12, complex_atoms=request.param)


def run_dm(dictionary, series, **options):
    return INFERENCE.get("dm").run(InferenceInputs(series, dictionary, "cpu"),
                                   DMOptions(**options))


@pytest.mark.parametrize("search", ["pruned", "dense"])
def test_noiseless_atoms_give_their_exact_parameters_and_complex_pd(dictionary, search):
    signals, truth, pd = noisy_voxels(dictionary, 60, 0.0, seed=1)
    maps = run_dm(dictionary, image_series(dictionary, signals, (6, 10)), search=search,
                  mask_threshold=0.0, n_groups=7)
    np.testing.assert_array_equal(maps.t1_ms.ravel(), dictionary.t1_ms[truth])
    np.testing.assert_array_equal(maps.t2_ms.ravel(), dictionary.t2_ms[truth])
    scale = maps.provenance["pd_scale"]
    np.testing.assert_allclose(maps.pd.ravel() * scale, np.abs(pd), rtol=1e-4)
    np.testing.assert_allclose(maps.extra[EXTRA_PD_PHASE].ravel(), np.angle(pd), atol=1e-4)
    np.testing.assert_allclose(maps.extra[EXTRA_MATCH_CORRELATION], 1.0, atol=1e-5)
    assert maps.provenance["method"] == "dm" and search in maps.provenance["search"]


@pytest.fixture(params=[1, 2], ids=["1-thread", "2-threads"])
def threads(request):
    # With 2 threads the CPU work is split over Python threads (mrfcore.inference.parallel).
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(1)


def test_noisy_matches_equal_a_float64_brute_force_reference(dictionary, threads):
    signals, _, _ = noisy_voxels(dictionary, 400, 0.15, seed=2)
    expected, sorted_correlation = reference_match(dictionary, signals)
    # Keep the comparison meaningful: no voxel has two atoms within float32 round-off.
    gap = sorted_correlation[:, -1] - sorted_correlation[:, -2]
    signals, expected = signals[gap > 1e-5], expected[gap > 1e-5]
    assert len(expected) > 350
    x = torch.from_numpy(signals)
    atoms = torch.from_numpy(normalised_atoms(dictionary))
    dense = match_dense(x, atoms)
    pruned = match_grouped(x, atoms, build_groups(atoms.numpy(), 9))
    np.testing.assert_array_equal(dense.indices.numpy(), expected)
    np.testing.assert_array_equal(pruned.indices.numpy(), expected)
    best = sorted_correlation[gap > 1e-5, -1]
    np.testing.assert_allclose(dense.correlation.numpy(), best, atol=2e-6)
    # The pruned search skipped work and still found every best atom.
    assert pruned.pairs_scored < len(expected) * dictionary.n_atoms


@pytest.mark.parametrize("block_atoms,block_voxels", [(7, 0), (64, 13), (40, 1000), (0, 50)])
def test_block_sizes_do_not_change_results(dictionary, block_atoms, block_voxels):
    signals, _, _ = noisy_voxels(dictionary, 150, 0.2, seed=4)
    x = torch.from_numpy(signals)
    atoms = torch.from_numpy(normalised_atoms(dictionary))
    reference = match_dense(x, atoms)
    blocked = match_dense(x, atoms, block_atoms=block_atoms, block_voxels=block_voxels)
    torch.testing.assert_close(blocked.indices, reference.indices, rtol=0, atol=0)
    torch.testing.assert_close(blocked.correlation, reference.correlation)


def test_masked_voxels_are_nan_and_cost_nothing():
    dictionary = make_dictionary()
    signals, truth, _ = noisy_voxels(dictionary, 30, 0.0, seed=5)
    signals[::3] *= 1e-3  # background: below 5 % of the brightest voxel
    maps = run_dm(dictionary, image_series(dictionary, signals, (5, 6)))
    background = np.zeros(30, bool)
    background[::3] = True
    assert maps.mask.ravel().tolist() == (~background).tolist()
    assert np.isnan(maps.t1_ms.ravel()[background]).all()
    assert np.isnan(maps.t2_ms.ravel()[background]).all()
    assert np.isnan(maps.extra[EXTRA_MATCH_CORRELATION].ravel()[background]).all()
    assert (maps.pd.ravel()[background] == 0).all()
    np.testing.assert_array_equal(maps.t1_ms.ravel()[~background],
                                  dictionary.t1_ms[truth[~background]])
    assert maps.provenance["n_voxels_estimated"] == 20


def test_time_frames_and_subspace_input_give_the_same_maps():
    dictionary = make_dictionary()
    signals, _, _ = noisy_voxels(dictionary, 24, 0.1, seed=6)
    from_frames = run_dm(dictionary, image_series(dictionary, signals, (4, 6), True))
    from_subspace = run_dm(dictionary, image_series(dictionary, signals, (4, 6)))
    np.testing.assert_array_equal(from_frames.t1_ms, from_subspace.t1_ms)
    np.testing.assert_array_equal(from_frames.t2_ms, from_subspace.t2_ms)


def test_b1_axis_gives_a_b1_map():
    dictionary = make_dictionary(n_t1=6, n_t2=5, b1_values=[0.8, 1.0, 1.2])
    signals, truth, _ = noisy_voxels(dictionary, 20, 0.0, seed=7)
    maps = run_dm(dictionary, image_series(dictionary, signals, (4, 5)))
    np.testing.assert_array_equal(maps.extra[EXTRA_B1].ravel(), dictionary.b1[truth])
    assert maps.units[EXTRA_B1] == "× nominal"


def test_empty_images_give_empty_maps():
    dictionary = make_dictionary()
    maps = run_dm(dictionary, image_series(dictionary, np.zeros((12, 6), np.complex64), (3, 4)))
    assert not maps.mask.any() and np.isnan(maps.t1_ms).all() and (maps.pd == 0).all()


@pytest.mark.parametrize("search", ["pruned", "dense"])
def test_progress_is_reported_and_cancel_stops_the_matching(search):
    dictionary = make_dictionary(n_t1=20, n_t2=10)
    signals, _, _ = noisy_voxels(dictionary, 64, 0.1, seed=8)
    series = image_series(dictionary, signals, (8, 8))
    info = INFERENCE.get("dm")
    options = DMOptions(search=search, n_groups=10)
    steps = []
    info.run(InferenceInputs(series, dictionary, "cpu"), options,
             Progress(lambda step, total, message: steps.append((step, total, message))))
    assert steps[-1][0] == steps[-1][1] and any("matching" in m for _, _, m in steps)
    fractions = [step / total for step, total, _ in steps]
    assert fractions == sorted(fractions)

    def stop_when_matching(step, total, message):
        return "matching" not in message

    with pytest.raises(Cancelled):
        info.run(InferenceInputs(series, dictionary, "cpu"), options,
                 Progress(stop_when_matching))
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        info.run(InferenceInputs(series, dictionary, "cpu"), options, Progress(token=token))


def test_auto_search_uses_a_cached_grouping_and_else_stays_dense():
    dictionary = make_dictionary()
    signals, _, _ = noisy_voxels(dictionary, 20, 0.05, seed=9)
    series = image_series(dictionary, signals, (4, 5))
    assert run_dm(dictionary, series).provenance["search"] == "dense"  # too few voxels
    pruned = run_dm(dictionary, series, search="pruned", n_groups=5)
    auto = run_dm(dictionary, series, n_groups=5)  # the grouping is cached now
    assert "pruned" in auto.provenance["search"] and "5 groups" in auto.provenance["grouping"]
    np.testing.assert_array_equal(auto.t1_ms, pruned.t1_ms)


@pytest.mark.parametrize("suffix", [".h5", ".nii.gz", ".npz"])
def test_mrf_infer_reads_tsmi_files_and_writes_maps(tmp_path, monkeypatch, suffix):
    import nibabel

    from mrfcore.cli import main
    from mrfcore.cli.recon import write_images
    from mrfcore.sequences import Sequence

    dictionary = make_dictionary()
    sequence = Sequence(flip_angle_deg=np.full(dictionary.n_frames, 20.0),
                        tr_ms=np.full(dictionary.n_frames, 10.0), te_ms=2.0, name="test48")
    signals, truth, _ = noisy_voxels(dictionary, 12, 0.0, seed=10)
    series = image_series(dictionary, signals, (3, 4))
    series.sequence = sequence
    path = tmp_path / f"tsmi{suffix}"
    if suffix == ".npz":
        np.savez(path, images=series.data, basis=series.basis)
    else:
        write_images(series, path)  # the format 'mrf recon' writes
    # The dictionary for the recorded sequence is the synthetic one (no EPG here).
    monkeypatch.setattr("mrfcore.dictionary.load_or_build_dictionary",
                        lambda *args, **kwargs: dictionary)
    arguments = ["infer", str(path), "--out-prefix", str(tmp_path / "maps" / "sub-01")]
    if suffix != ".h5":
        # Only the .h5 records the schedule itself (the NIfTI sidecar names it, which is
        # enough for built-ins only): without it 'mrf infer' asks for --sequence.
        assert main(arguments) == 1
        sequence_file = tmp_path / "test48.json"
        sequence_file.write_text(json.dumps(sequence.to_dict()))
        arguments += ["--sequence", str(sequence_file)]
    assert main(arguments) == 0
    t1 = nibabel.load(tmp_path / "maps" / "sub-01_T1map.nii.gz").get_fdata()
    np.testing.assert_allclose(t1[..., 0], dictionary.t1_ms[truth].reshape(3, 4), rtol=1e-6)
    sidecar = json.loads((tmp_path / "maps" / "sub-01_T1map.json").read_text())
    assert sidecar["MRFStudio"]["inference"]["method"] == "dm"
