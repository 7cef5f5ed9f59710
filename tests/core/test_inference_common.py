import numpy as np
import pytest
import torch
from matching_fixtures import image_series, make_dictionary, noisy_voxels

from mrfcore.data import Geometry, ImageSeries
from mrfcore.inference.common import (
    EXTRA_PD_PHASE,
    VoxelBatch,
    maps_from_estimates,
    phase_align,
    prepare_voxels,
    project_to_dictionary_subspace,
    signal_mask,
)
from mrfcore.methods import InferenceInputs

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def dictionary():
    return make_dictionary()


def test_projection_of_time_frames_equals_the_subspace_images(dictionary):
    signals, _, _ = noisy_voxels(dictionary, 12, 0.0)
    subspace = image_series(dictionary, signals, (3, 4))
    frames = image_series(dictionary, signals, (3, 4), time_frames=True)
    assert frames.data.shape[0] == dictionary.n_frames
    from_frames = project_to_dictionary_subspace(frames, dictionary)
    as_is = project_to_dictionary_subspace(subspace, dictionary)
    assert from_frames.shape == (dictionary.rank, 3, 4) and from_frames.dtype == np.complex64
    np.testing.assert_allclose(from_frames, subspace.data, atol=1e-5)
    np.testing.assert_array_equal(as_is, subspace.data)


def test_projection_from_another_basis_changes_basis(dictionary):
    rng = np.random.default_rng(3)
    rotation, _ = np.linalg.qr(rng.standard_normal((6, 6)) + 1j * rng.standard_normal((6, 6)))
    other_basis = (dictionary.basis @ rotation).astype(np.complex64)
    coefficients = (rng.standard_normal((6, 2, 5)) + 1j * rng.standard_normal((6, 2, 5)))
    images = ImageSeries(coefficients.astype(np.complex64), Geometry((2, 5), (1, 1)),
                         basis=other_basis)
    projected = project_to_dictionary_subspace(images, dictionary)
    # Independent route: expand to time frames, then compress with the dictionary basis.
    frames = images.time_series().reshape(dictionary.n_frames, -1)
    expected = (dictionary.basis.conj().T @ frames).reshape(6, 2, 5)
    np.testing.assert_allclose(projected, expected, atol=1e-5)


def test_mismatched_frame_counts_raise_naming_both_numbers(dictionary):
    frames = ImageSeries(np.ones((30, 2, 2), np.complex64), Geometry((2, 2), (1, 1)),
                         source="scan.nii.gz")
    with pytest.raises(ValueError, match=r"30 time frames.*48") as error:
        project_to_dictionary_subspace(frames, dictionary)
    assert "scan.nii.gz" in str(error.value)
    subspace = ImageSeries(np.ones((6, 2, 2), np.complex64), Geometry((2, 2), (1, 1)),
                           basis=np.ones((40, 6), np.complex64))
    with pytest.raises(ValueError, match=r"40 time frames.*48"):
        project_to_dictionary_subspace(subspace, dictionary)


def test_signal_mask_threshold_is_relative_to_the_brightest_voxel():
    norms = np.array([0.0, 0.04, 0.05, 0.3, 1.0, 2.0])
    images = np.zeros((3, 6), np.complex64)
    images[1] = norms * 1j  # the norm over components is |value|
    assert signal_mask(images, 0.025).tolist() == [False, False, True, True, True, True]
    assert signal_mask(images, 0.5).tolist() == [False] * 4 + [True, True]
    assert signal_mask(images, 0.0).tolist() == [False] + [True] * 5  # zero never kept
    assert not signal_mask(np.zeros((2, 4), np.complex64), 0.1).any()
    with pytest.raises(ValueError, match="threshold"):
        signal_mask(images, 1.5)
    with pytest.raises(ValueError, match="mask method"):
        signal_mask(images, 0.1, "magic")


def test_otsu_mask_separates_background_from_tissue():
    rng = np.random.default_rng(0)
    background = rng.rayleigh(0.05, 600)
    tissue = rng.uniform(0.8, 1.2, 400)
    values = np.concatenate([background, tissue])
    images = (values * np.exp(1j * rng.uniform(0, 6, 1000)))[None].astype(np.complex64)
    mask = signal_mask(images, method="otsu")
    assert mask[600:].all() and not mask[:600].any()


def test_prepare_voxels_keeps_masked_voxels_in_order(dictionary):
    signals, _, _ = noisy_voxels(dictionary, 20, 0.01)
    signals[[2, 7]] = 0
    series = image_series(dictionary, signals, (4, 5))
    batch = prepare_voxels(InferenceInputs(series, dictionary, "cpu"), 0.0)
    assert batch.mask.shape == (4, 5) and batch.mask.sum() == 18
    assert batch.signals.dtype == torch.complex64 and batch.device.type == "cpu"
    np.testing.assert_array_equal(batch.signals.numpy(), np.delete(signals, [2, 7], axis=0))


def test_maps_from_estimates_scatters_normalises_and_keeps_phase():
    mask = np.array([[True, False, True], [True, True, False]])
    batch = VoxelBatch(torch.zeros(4, 2, dtype=torch.complex64), mask,
                       Geometry((2, 3), (1, 1)))
    pd = np.array([1.0, 2.0j, -3.0, 4.0])
    maps = maps_from_estimates(
        batch, np.array([100.0, 200, 300, 400]), torch.tensor([10.0, 20, 30, 40]), pd,
        extra={"Quality": (np.array([0.9, 0.8, 0.7, 0.6]), "")}, provenance={"method": "x"},
    )
    scale = np.percentile([1.0, 2.0, 3.0, 4.0], 99)
    assert maps.provenance["pd_scale"] == pytest.approx(scale)
    assert maps.provenance["method"] == "x" and maps.provenance["n_voxels_estimated"] == 4
    np.testing.assert_array_equal(maps.t1_ms, [[100, np.nan, 200], [300, 400, np.nan]])
    np.testing.assert_array_equal(maps.t2_ms[mask], [10, 20, 30, 40])
    np.testing.assert_allclose(maps.pd, np.array([[1, 0, 2], [3, 4, 0]]) / scale, rtol=1e-6)
    np.testing.assert_allclose(maps.extra[EXTRA_PD_PHASE][mask], [0, np.pi / 2, np.pi, 0],
                               atol=1e-6)
    assert np.isnan(maps.extra[EXTRA_PD_PHASE][~mask]).all()
    assert maps.units[EXTRA_PD_PHASE] == "rad" and np.isnan(maps.extra["Quality"][0, 1])
    assert maps.t1_ms.dtype == np.float32 and maps.pd.dtype == np.float32
    real_pd = maps_from_estimates(batch, np.ones(4), np.ones(4), np.abs(pd))
    assert EXTRA_PD_PHASE not in real_pd.extra
    with pytest.raises(ValueError, match="expected \\(4,\\)"):
        maps_from_estimates(batch, np.ones(3), np.ones(4), pd)


def test_phase_align_removes_the_global_phase_only():
    rng = np.random.default_rng(1)
    signals = torch.from_numpy(
        (rng.standard_normal((50, 6)) + 1j * rng.standard_normal((50, 6))).astype(np.complex64)
    )
    aligned = phase_align(signals)
    assert (aligned[:, 0].imag.abs() < 1e-6).all() and (aligned[:, 0].real >= 0).all()
    torch.testing.assert_close(aligned.abs(), signals.abs())
    rotated = signals * torch.exp(1j * torch.from_numpy(rng.uniform(-3, 3, (50, 1))))
    torch.testing.assert_close(phase_align(rotated.to(torch.complex64)), aligned,
                               atol=1e-5, rtol=1e-5)
    zero_first = signals.clone()
    zero_first[0, 0] = 0
    torch.testing.assert_close(phase_align(zero_first)[0], zero_first[0])
