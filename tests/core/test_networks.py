"""Learned inference methods: architectures, model files, lookup, inference on images."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mrfcore.data import Geometry, ImageSeries, QuantitativeMaps
from mrfcore.dictionary import ParameterGrid, build_dictionary
from mrfcore.inference.architectures import (
    KernelMachine,
    MRFResnetNet,
    ResCNN1D,
    count_parameters,
    rescnn_macs,
)
from mrfcore.inference.kernel_machine import RidgeAccumulator
from mrfcore.inference.learned import EXTRA_RESIDUAL
from mrfcore.inference.models import find_models, load_model, model_available, save_model
from mrfcore.inference.training import TrainingSettings, train_model
from mrfcore.methods import INFERENCE, InferenceInputs
from mrfcore.sequences import builtin_sequence


def short_sequence(name: str = "ir-ramp-880", every: int = 16):
    """Every ``every``-th frame of a built-in (55 frames of ir-ramp-880)."""
    full = builtin_sequence(name)
    return full.replace(
        flip_angle_deg=full.flip_angle_deg[::every], tr_ms=full.tr_ms[::every],
        te_ms=full.te_ms[::every], phase_deg=full.phase_deg[::every],
        name=f"{name}-every{every}",
    )


SEQUENCE = short_sequence()
OTHER_SEQUENCE = short_sequence("fisp-jiang2015", 20)
GRID = ParameterGrid.regular((100, 3000, 100), (20, 400, 20))  # 30 × 20 = 600 atoms
FAST = TrainingSettings(epochs=4, copies=16, batch_size=64, test_samples=2000,
                        learning_rate=0.01, final_learning_rate=1e-3)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def dictionary():
    return build_dictionary(SEQUENCE, GRID, rank=6, device="cpu")


@pytest.fixture(scope="module")
def mrfresnet_model(dictionary):
    return train_model("mrfresnet", SEQUENCE, dictionary, FAST, device="cpu")


def _phantom(dictionary, matrix=(6, 5)):
    """Subspace images: voxels made from known atoms with complex PD (magnitude 0.5–1.5,
    random phase); the first row is empty (background).  Returns (images, atom index,
    PD)."""
    rng = np.random.default_rng(3)
    n = matrix[0] * matrix[1]
    index = rng.choice(rng.integers(0, dictionary.n_atoms, 8), n)  # 8 atoms, repeated
    pd = rng.uniform(0.5, 1.5, n) * np.exp(1j * rng.uniform(-np.pi, np.pi, n))
    voxels = dictionary.atoms[index] * pd[:, None]
    voxels[: matrix[1]] = 0
    data = voxels.T.reshape((dictionary.rank, *matrix)).astype(np.complex64)
    images = ImageSeries(data, Geometry(matrix, (1.0, 1.0)), basis=dictionary.basis)
    return images, index.reshape(matrix), pd.reshape(matrix)


# ----------------------------------------------------------------------- architectures


def test_mrfresnet_architecture_matches_the_paper():
    network = MRFResnetNet(in_features=10)
    blocks = list(network.encoder.blocks)
    assert len(blocks) == 6
    for block in blocks:
        assert (block.first.in_features, block.first.out_features) == (10, 10)
        assert (block.second.in_features, block.second.out_features) == (10, 10)
    assert isinstance(network.encoder.input, torch.nn.Identity)
    assert network.encoder.output.out_features == 2
    assert network.decoder.layers[0].out_features == 300
    assert count_parameters(network.encoder) == 6 * 220 + 22
    assert count_parameters(network.decoder) == 2 * 300 + 300 + 300 * 11 + 11
    # The paper's 5.2e3 parameters: encoder and decoder together, within 10 %.
    assert abs(count_parameters(network) - 5.2e3) / 5.2e3 < 0.1
    outputs = network.encoder(torch.randn(7, 10))
    assert outputs.shape == (7, 2) and bool((outputs >= 0).all())
    assert network.decoder(outputs).shape == (7, 11)


def test_mrfresnet_takes_real_and_imaginary_parts_through_an_input_layer():
    network = MRFResnetNet(in_features=20)
    assert network.encoder.input.in_features == 20
    assert network.encoder(torch.randn(3, 20)).shape == (3, 2)
    assert network.decoder(torch.rand(3, 2)).shape == (3, 21)


def test_rescnn_shape_channels_and_cost():
    network = ResCNN1D().eval()
    with torch.no_grad():
        outputs = network(torch.randn(3, 2, 880))
    assert outputs.shape == (3, 2)
    assert network.out_channels == 512
    convolutions = [m for m in network.modules() if isinstance(m, torch.nn.Conv1d)]
    assert all(m.kernel_size[0] in (7, 1) for m in convolutions)
    assert [b.body[0].out_channels for b in network.blocks] == [64, 128, 256, 512]
    assert 0.5e9 < rescnn_macs(network, 880) < 0.7e9
    assert 3e6 < count_parameters(network) < 5e6


def test_kernel_machine_feature_counts():
    machine = KernelMachine(in_features=10)
    assert [m.n_features for m in machine.encoder_maps] == [1000, 1000]
    assert machine.decoder_map.n_features == 500
    assert machine.encode(torch.randn(4, 10)).shape == (4, 2)
    assert machine.decode(torch.rand(4, 2)).shape == (4, 11)


def test_ridge_sums_give_the_closed_form_solution():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(300, 12))
    y = z @ rng.normal(size=(12, 3)) + 0.7 + 0.1 * rng.normal(size=(300, 3))
    ridge = 1e-2
    accumulator = RidgeAccumulator(12, 3)
    for part in (slice(0, 100), slice(100, 250), slice(250, 300)):  # streamed
        accumulator.add(torch.from_numpy(z[part]), torch.from_numpy(y[part]))
    weights, intercept = accumulator.solve(ridge)
    # Independent reference: least squares on the augmented system [Z 1; √(λn) I 0].
    n, d = z.shape
    augmented = np.vstack([np.hstack([z, np.ones((n, 1))]),
                           np.hstack([np.sqrt(ridge * n) * np.eye(d), np.zeros((d, 1))])])
    solution = np.linalg.lstsq(augmented, np.vstack([y, np.zeros((d, 3))]), rcond=None)[0]
    np.testing.assert_allclose(weights.numpy(), solution[:d], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(intercept.numpy(), solution[d], rtol=1e-8, atol=1e-10)


# ---------------------------------------------------------------------- model files


def test_model_round_trips_through_its_file(mrfresnet_model, tmp_path):
    path = save_model(mrfresnet_model, tmp_path / "model.pt")
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["kind"] == "mrfresnet"
    assert sidecar["sequence_hash"] == SEQUENCE.content_hash()
    loaded = load_model(path)
    assert loaded.manifest == mrfresnet_model.manifest
    np.testing.assert_array_equal(loaded.basis, mrfresnet_model.basis)
    assert loaded.state_dict.keys() == mrfresnet_model.state_dict.keys()
    for key, value in mrfresnet_model.state_dict.items():
        assert torch.equal(loaded.state_dict[key], value.cpu())
    manifest = loaded.manifest
    assert manifest.rank == 6 and manifest.n_frames == SEQUENCE.n_frames
    assert manifest.input == "real"  # FISP: the aligned atoms are real
    assert manifest.training["copies"] == FAST.copies
    assert set(manifest.test_errors["vs_truth"]) >= {"t1_mape_percent", "t2_mape_percent"}


def test_damaged_or_foreign_model_files_are_refused(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="junk.pt"):
        load_model(tmp_path / "junk.pt")
    torch.save({"format": "something else"}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not an MRF Studio model"):
        load_model(tmp_path / "other.pt")
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.pt")


def test_lookup_finds_user_models_by_sequence(mrfresnet_model):
    from mrfcore.resources import data_dir

    sequence_hash = SEQUENCE.content_hash()
    assert not model_available("mrfresnet", sequence_hash)
    assert not INFERENCE.get("mrfresnet").method_type.available_for(sequence_hash)
    save_model(mrfresnet_model, data_dir() / "models" / "tiny.pt")
    assert model_available("mrfresnet", sequence_hash)
    assert INFERENCE.get("mrfresnet").method_type.available_for(sequence_hash)
    assert not INFERENCE.get("km").method_type.available_for(sequence_hash)
    assert not model_available("mrfresnet", OTHER_SEQUENCE.content_hash())
    assert [e.path.name for e in find_models("mrfresnet", sequence_hash)] == ["tiny.pt"]


# The shipped models: spiral ir-ramp-880 (its built-in TE 0.46 ms), radial ir-ramp-880
# (TE 2.08 ms, as the pipeline benchmark scans it) and fisp-jiang2015.
SHIPPED = [("ir-ramp-880", None), ("ir-ramp-880", 2.08), ("fisp-jiang2015", None)]


def test_shipped_models_are_listed_for_the_builtin_sequences():
    from mrfcore.bench.pipeline import TRAJECTORY_TE_MS
    from mrfcore.sequences import load_sequence

    assert TRAJECTORY_TE_MS == {"spiral": 0.46, "radial": 2.08}  # what SHIPPED covers
    for name, te in SHIPPED:
        sequence = load_sequence(name, te_ms=te)
        sequence_hash = sequence.content_hash()
        for kind in ("mrfresnet", "km"):
            entries = [e for e in find_models(kind, sequence_hash) if e.shipped]
            assert entries, f"no shipped {kind} for {name} TE {te}"
            manifest = entries[0].manifest
            assert manifest.rank == 10 and manifest.grid["kind"] == "paper"
            assert manifest.sequence_te_ms == pytest.approx(float(sequence.te_ms[0]))
            assert manifest.training["deviations_from_published"] is not None
        assert not model_available("rescnn", sequence_hash)  # none is shipped untrained


@pytest.mark.parametrize("kind", ["mrfresnet", "km"])
@pytest.mark.parametrize(("name", "te"), SHIPPED)
def test_shipped_models_estimate_noisy_fingerprints(kind, name, te):
    """Off-grid fingerprints simulated here, σ = 0.01 noise, through the shipped model."""
    from mrfcore.inference.kernel_machine import KMPredictor
    from mrfcore.inference.mrfresnet import MRFResnetPredictor
    from mrfcore.sequences import load_sequence
    from mrfcore.simulation import simulate_fingerprints

    sequence = load_sequence(name, te_ms=te)
    entry = next(e for e in find_models(kind, sequence.content_hash()) if e.shipped)
    model = load_model(entry.path)
    rng = np.random.default_rng(7)
    t1 = rng.uniform(300, 3000, 200)
    t2 = rng.uniform(30, 300, 200)
    signals = simulate_fingerprints(sequence, t1, t2, device="cpu").numpy()
    unit = signals / np.linalg.norm(signals, axis=1, keepdims=True)
    noisy = unit + 0.01 / np.sqrt(2) * (rng.standard_normal(unit.shape)
                                       + 1j * rng.standard_normal(unit.shape))
    pd = rng.uniform(0.5, 2.0, 200) * np.exp(1j * rng.uniform(-np.pi, np.pi, 200))
    coefficients = torch.from_numpy(((noisy * pd[:, None]) @ model.basis.conj()).astype(
        np.complex64))
    predictor = (MRFResnetPredictor if kind == "mrfresnet" else KMPredictor)(
        model, torch.device("cpu"))
    estimates = predictor.estimate(coefficients)
    t1_error = np.median(np.abs(estimates.t1_ms.numpy() - t1) / t1)
    t2_error = np.median(np.abs(estimates.t2_ms.numpy() - t2) / t2)
    limit = 0.05 if kind == "mrfresnet" else 0.10
    assert t1_error < limit and t2_error < limit
    # PD against the truth on the dictionary's scale: |PD| · ||d|| = |pd| / (1 / ||d||).
    scale = np.abs(pd) / np.linalg.norm(signals, axis=1)
    pd_error = np.median(np.abs(np.abs(estimates.pd.numpy()) - scale) / scale)
    assert pd_error < 2 * limit


# ------------------------------------------------------------------------- inference


def test_mrfresnet_maps_from_images(mrfresnet_model, dictionary, tmp_path):
    path = save_model(mrfresnet_model, tmp_path / "model.pt")
    images, index, pd = _phantom(dictionary)
    method = INFERENCE.get("mrfresnet")
    options = method.options_type(model_file=str(path), mask_threshold=0.01)
    maps = method.run(InferenceInputs(images, dictionary, "cpu"), options)
    assert isinstance(maps, QuantitativeMaps)
    assert not maps.mask[0].any() and maps.mask[1:].all()
    assert np.isnan(maps.t1_ms[0]).all() and np.isnan(maps.t2_ms[0]).all()
    assert np.isnan(maps.extra[EXTRA_RESIDUAL][0]).all()
    inside = maps.mask
    true_t1 = dictionary.t1_ms[index][inside]
    true_t2 = dictionary.t2_ms[index][inside]
    # A few epochs on a tiny grid: coarse, but far better than guessing the mean.
    for estimate, truth, grid in ((maps.t1_ms[inside], true_t1, dictionary.t1_ms),
                                  (maps.t2_ms[inside], true_t2, dictionary.t2_ms)):
        error = np.mean(np.abs(estimate - truth) / truth)
        assert error < 0.3 * np.mean(np.abs(grid.mean() - truth) / truth)
    # Voxels of one atom differ only in PD (scale and phase): their PD estimates must be
    # proportional to the true PD, whatever the model's errors.
    ratio = maps.pd[inside] / np.abs(pd[inside])
    for atom in np.unique(index[inside]):
        same = index[inside] == atom
        np.testing.assert_allclose(ratio[same], ratio[same][0], rtol=1e-4)
    # The PD phase is the voxel's own (the atoms' common phase removed), as in DM.
    phase_error = np.angle(np.exp(1j * (maps.extra["PD phase"][inside]
                                        - np.angle(pd[inside]))))
    np.testing.assert_allclose(phase_error, 0, atol=1e-3)
    residual = maps.extra[EXTRA_RESIDUAL][inside]
    # PD is the least-squares scale of the decoded atom, so 0 ≤ residual ≤ 1.
    assert np.all((residual >= 0) & (residual <= 1)) and np.median(residual) < 0.1
    assert maps.provenance["method"] == "mrfresnet"
    assert maps.provenance["model_file"] == str(path)


def test_out_of_distribution_inputs_are_clamped_to_the_grid_and_flagged(mrfresnet_model,
                                                                       dictionary, tmp_path):
    """Random complex vectors (like heavily aliased voxels) drive the network far outside
    its training grid (T1 of 0 ms, or ~1e12 ms with log targets): the maps hold the
    grid's edges instead, and exactly those voxels are flagged."""
    from mrfcore.inference.learned import EXTRA_OUT_OF_RANGE, network_features
    from mrfcore.inference.mrfresnet import MRFResnetPredictor

    rng = np.random.default_rng(5)
    atoms = dictionary.atoms[rng.integers(0, dictionary.n_atoms, 15)]
    random = rng.standard_normal((15, 6)) + 1j * rng.standard_normal((15, 6))
    voxels = np.concatenate([atoms, random]).astype(np.complex64)  # (30, 6)
    predictor = MRFResnetPredictor(mrfresnet_model, torch.device("cpu"))
    with torch.inference_mode():
        raw = predictor.encode_features(network_features(torch.from_numpy(voxels), "real")[0])
        raw_t1, raw_t2 = (t.numpy() for t in predictor.scaling.decode(raw))
    low_t1, high_t1, low_t2, high_t2 = 100.0, 3000.0, 20.0, 400.0  # GRID
    outside = (raw_t1 < low_t1) | (raw_t1 > high_t1) | (raw_t2 < low_t2) | (raw_t2 > high_t2)
    far = ((raw_t1 < 0.5 * low_t1) | (raw_t1 > 2 * high_t1) | (raw_t2 < 0.5 * low_t2)
           | (raw_t2 > 2 * high_t2))
    assert outside[15:].sum() >= 10 and far[15:].sum() >= 5
    path = save_model(mrfresnet_model, tmp_path / "model.pt")
    images = ImageSeries(voxels.T.reshape(6, 6, 5).copy(), Geometry((6, 5), (1.0, 1.0)),
                         basis=dictionary.basis)
    method = INFERENCE.get("mrfresnet")
    maps = method.run(InferenceInputs(images, dictionary, "cpu"),
                      method.options_type(model_file=str(path), mask_threshold=0.0))
    t1, t2 = maps.t1_ms.reshape(-1), maps.t2_ms.reshape(-1)
    assert np.all((t1 >= low_t1 * (1 - 1e-5)) & (t1 <= high_t1 * (1 + 1e-5)))
    assert np.all((t2 >= low_t2 * (1 - 1e-5)) & (t2 <= high_t2 * (1 + 1e-5)))
    flags = maps.extra[EXTRA_OUT_OF_RANGE].reshape(-1)
    np.testing.assert_array_equal(flags, outside.astype(np.float32))
    # Voxels inside the grid keep the network's values; the others sit on its edges.
    np.testing.assert_allclose(t1[~outside], raw_t1[~outside], rtol=1e-4)
    np.testing.assert_allclose(np.clip(raw_t1, low_t1, high_t1)[outside], t1[outside],
                               rtol=1e-4)
    np.testing.assert_allclose(np.clip(raw_t2, low_t2, high_t2)[outside], t2[outside],
                               rtol=1e-4)
    record = maps.provenance["out_of_range"]
    assert record["voxels_clamped"] == int(outside.sum())
    assert record["training_range_ms"] == {"t1_ms": [low_t1, high_t1], "t2_ms": [low_t2, high_t2]}
    # PD comes from the decoded atom at the clamped estimate, so the fit is still valid.
    residual = maps.extra[EXTRA_RESIDUAL].reshape(-1)
    assert np.all(np.isfinite(maps.pd)) and np.all((residual >= 0) & (residual <= 1))


@pytest.mark.parametrize("targets", ["linear", "log"])
def test_output_bounds_clamp_in_the_scaled_space_of_either_target_kind(mrfresnet_model,
                                                                        targets):
    from dataclasses import replace

    from mrfcore.inference.learned import OutputBounds

    manifest = replace(mrfresnet_model.manifest, targets={"kind": targets},
                       grid={"t1_extent_ms": [100.0, 3000.0], "t2_extent_ms": [20.0, 400.0]})
    bounds = OutputBounds(manifest, torch.device("cpu"))
    scaling = manifest.target_scaling
    t1 = torch.tensor([50.0, 100.0, 1000.0, 9000.0, 1000.0, 1000.0])
    t2 = torch.tensor([50.0, 50.0, 50.0, 50.0, 5.0, 1e6])
    clamped, moved = bounds.clamp(scaling.encode(t1, t2))
    back_t1, back_t2 = scaling.decode(clamped)
    torch.testing.assert_close(back_t1, torch.tensor([100.0, 100.0, 1000.0, 3000.0, 1000.0,
                                                      1000.0]), rtol=1e-5, atol=0)
    torch.testing.assert_close(back_t2, torch.tensor([50.0, 50.0, 50.0, 50.0, 20.0, 400.0]),
                               rtol=1e-5, atol=0)
    assert moved.tolist() == [True, False, False, True, True, True]
    nan_moved = bounds.clamp(torch.tensor([[float("nan"), 1.0]]))[1]
    assert nan_moved.tolist() == [True]  # NaN is flagged, never passed off as in range
    with pytest.raises(ValueError, match="records no T1 range"):
        OutputBounds(replace(manifest, grid={}), torch.device("cpu"))


@pytest.mark.parametrize("representation", ["real", "real+imag"])
def test_the_fast_inference_path_equals_the_networks(representation):
    """Inference computes features, both networks and PD without complex tensors and
    with fingerprints as columns; it must give the training modules' values."""
    from mrfcore.inference.architectures import MRFResnetInference
    from mrfcore.inference.learned import (
        decoded_atoms,
        fit_decoded,
        network_features,
        network_inputs,
        pd_from_decoded,
    )

    torch.manual_seed(2)
    signals = torch.randn(300, 6, dtype=torch.complex64)
    signals[0] = 0  # no signal
    signals[1, 0] = 0  # no first coefficient: left unrotated
    in_features = 6 if representation == "real" else 12
    network = MRFResnetNet(in_features)
    network.encoder.standardise.fit(torch.randn(100, in_features) * 0.3 + 0.1)
    network.decoder.standardise.fit(torch.rand(100, 2) * 3 + 4)
    fast = MRFResnetInference(network.eval())
    with torch.inference_mode():
        reference = network_inputs(signals, representation)[0]
        features, norms = network_features(signals, representation)
        torch.testing.assert_close(features, reference, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(norms, signals.abs().square().sum(1).sqrt())
        outputs = fast.encode(features)
        torch.testing.assert_close(outputs, network.encoder(features), rtol=1e-4, atol=1e-5)
        decoded = fast.decode(outputs)
        torch.testing.assert_close(decoded, network.decoder(outputs), rtol=1e-4, atol=1e-5)
        pd, residual = fit_decoded(signals, norms, decoded, representation, 0.4)
        pd_ref, residual_ref = pd_from_decoded(signals, decoded_atoms(decoded, representation),
                                               0.4)
    torch.testing.assert_close(pd, pd_ref, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(residual, residual_ref, rtol=1e-4, atol=1e-4)


def test_inputs_in_another_basis_or_in_time_give_the_same_maps(mrfresnet_model, dictionary,
                                                               tmp_path):
    path = str(save_model(mrfresnet_model, tmp_path / "model.pt"))
    images, _, _ = _phantom(dictionary)
    method = INFERENCE.get("mrfresnet")
    options = method.options_type(model_file=path)
    reference = method.run(InferenceInputs(images, dictionary, "cpu"), options)
    # Rotate the basis inside its own span: the same subspace, other coordinates.
    rotation, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(6, 6)))
    rotated = ImageSeries(
        np.tensordot(rotation.T, images.data, axes=1).astype(np.complex64), images.geometry,
        basis=(dictionary.basis @ rotation).astype(np.complex64),
    )
    in_time = ImageSeries(images.time_series().astype(np.complex64), images.geometry)
    for other in (rotated, in_time):
        maps = method.run(InferenceInputs(other, dictionary, "cpu"), options)
        np.testing.assert_allclose(maps.t1_ms, reference.t1_ms, rtol=1e-3)
        np.testing.assert_allclose(maps.t2_ms, reference.t2_ms, rtol=1e-3)


def test_a_model_for_another_sequence_is_refused_with_a_clear_message(mrfresnet_model,
                                                                       tmp_path):
    path = save_model(mrfresnet_model, tmp_path / "model.pt")
    other = build_dictionary(OTHER_SEQUENCE, GRID, rank=6, device="cpu")
    images, _, _ = _phantom(other)
    method = INFERENCE.get("mrfresnet")
    inputs = InferenceInputs(images, other, "cpu")
    with pytest.raises(ValueError, match="no trained MRFResnet for sequence") as error:
        method.run(inputs)
    message = str(error.value)
    assert f"for sequence {OTHER_SEQUENCE.name} (hash {OTHER_SEQUENCE.content_hash()}" in message
    assert "train one with: mrf train --sequence" in message and "--model mrfresnet" in message
    # It says which sequences do have a model (the shipped ones at least).
    assert "trained MRFResnet models exist for: " in message and "ir-ramp-880 (" in message
    with pytest.raises(ValueError, match="was trained for sequence"):
        method.run(inputs, method.options_type(model_file=str(path)))
    with pytest.raises(ValueError, match="not a kernel machine"):
        INFERENCE.get("km").run(inputs, INFERENCE.get("km").options_type(model_file=str(path)))


def test_a_dictionary_of_lower_rank_than_the_model_is_refused(mrfresnet_model, tmp_path):
    path = save_model(mrfresnet_model, tmp_path / "model.pt")
    low = build_dictionary(SEQUENCE, GRID, rank=4, device="cpu")
    images, _, _ = _phantom(low)
    method = INFERENCE.get("mrfresnet")
    with pytest.raises(ValueError, match="does not contain the subspace"):
        method.run(InferenceInputs(images, low, "cpu"), method.options_type(model_file=str(path)))


def test_the_training_hint_names_the_echo_time_of_a_builtin_schedule():
    # TE 3.1 ms: a variant of a built-in with no model (2.08 ms, radial, has one).
    variant = builtin_sequence("ir-ramp-880").with_te(3.1)
    tiny = build_dictionary(variant, ParameterGrid.regular((500, 1500, 500), (50, 150, 50)),
                            rank=3, device="cpu")
    images, _, _ = _phantom(tiny, (2, 2))
    images.sequence = variant
    with pytest.raises(ValueError, match="no trained MRFResnet") as error:
        INFERENCE.get("mrfresnet").run(InferenceInputs(images, tiny, "cpu"))
    assert "mrf train --sequence ir-ramp-880 --te 3.1 --model mrfresnet" in str(error.value)
    assert f"(hash {variant.content_hash()}, TE 3.1 ms)" in str(error.value)


def test_rescnn_without_a_model_says_how_to_train_one(dictionary):
    images, _, _ = _phantom(dictionary)
    with pytest.raises(ValueError, match="no trained ResCNN-1D for sequence") as error:
        INFERENCE.get("rescnn").run(InferenceInputs(images, dictionary, "cpu"))
    assert "--model rescnn" in str(error.value)


def test_shipped_mrfresnet_runs_on_images_with_a_coarser_dictionary():
    """The images come in the basis of a 'coarse'-grid dictionary: the method projects
    them onto the model's (paper-grid) basis and still finds T1/T2 between grid points."""
    from mrfcore.dictionary import grid_preset
    from mrfcore.simulation import simulate_fingerprints

    sequence = builtin_sequence("ir-ramp-880")
    coarse = build_dictionary(sequence, grid_preset("coarse"), rank=10, device="cpu")
    rng = np.random.default_rng(11)
    t1, t2 = rng.uniform(400, 2500, 30), rng.uniform(40, 250, 30)
    signals = simulate_fingerprints(sequence, t1, t2, device="cpu").numpy()
    data = (signals @ coarse.basis.conj()).T.reshape(10, 6, 5).astype(np.complex64)
    images = ImageSeries(data, Geometry((6, 5), (1.0, 1.0)), basis=coarse.basis,
                         sequence=sequence)
    maps = INFERENCE.get("mrfresnet").run(InferenceInputs(images, coarse, "cpu"))
    assert "projected onto the model's basis" in maps.provenance["basis"]
    assert maps.provenance["model_file"].endswith("mrfresnet_ir-ramp-880.pt")
    t1_error = np.abs(maps.t1_ms.reshape(-1) - t1) / t1
    t2_error = np.abs(maps.t2_ms.reshape(-1) - t2) / t2
    # Noise-free: the coarse grid (40 ms / 10 ms steps) alone would err by up to 10 %.
    assert np.median(t1_error) < 0.03 and np.median(t2_error) < 0.03
