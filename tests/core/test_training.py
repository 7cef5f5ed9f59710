"""The shared training recipe: noisy copies, DM labels, optimisation, cancel, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mrfcore.dictionary import ParameterGrid, build_dictionary
from mrfcore.inference.models import find_models, load_model
from mrfcore.inference.training import NoisyCopies, TrainingSettings, train_model
from mrfcore.progress import Cancelled, CancelToken, Progress
from mrfcore.sequences import builtin_sequence, write_sequence


def short_sequence(every: int = 16):
    full = builtin_sequence("ir-ramp-880")
    return full.replace(
        flip_angle_deg=full.flip_angle_deg[::every], tr_ms=full.tr_ms[::every],
        te_ms=full.te_ms[::every], phase_deg=full.phase_deg[::every],
        name=f"ir-ramp-880-every{every}",
    )


SEQUENCE = short_sequence()  # 55 frames
GRID = ParameterGrid.regular((100, 3000, 100), (20, 400, 20))  # 600 atoms


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def dictionary():
    return build_dictionary(SEQUENCE, GRID, rank=6, device="cpu")


def test_noisy_copies_have_the_stated_noise_and_dm_labels(dictionary):
    data = NoisyCopies(dictionary, noise=0.05, device=torch.device("cpu"), seed=1)
    batch = data.sample(4000, seed=2)
    clean = dictionary.atoms[batch.source.numpy()] / dictionary.norms[batch.source.numpy(), None]
    noise = batch.signals.numpy() - clean
    # E|n_k|² = σ² per coefficient, real and imaginary parts alike.
    assert np.mean(np.abs(noise) ** 2) == pytest.approx(0.05**2, rel=0.05)
    assert np.var(noise.real) == pytest.approx(np.var(noise.imag), rel=0.1)
    # Labels are the atoms that matching picks for the noisy copy: independent check.
    unit = dictionary.atoms / dictionary.norms[:, None]
    correlation = np.abs(batch.signals.numpy().astype(np.complex128) @ unit.conj().T)
    chosen = correlation[np.arange(len(batch)), batch.label.numpy()]
    np.testing.assert_allclose(chosen, correlation.max(axis=1), rtol=1e-5)
    # At this noise level matching often picks a neighbour, not the source atom.
    assert 0.05 < float((batch.label == batch.source).float().mean()) < 0.95


def test_the_training_set_is_labelled_once_and_revisited_each_epoch(dictionary):
    data = NoisyCopies(dictionary, noise=0.05, device=torch.device("cpu"), seed=0,
                       match_chunk=500)
    data.build(3)
    assert data.size == 3 * dictionary.n_atoms
    first, second = (
        {(int(s), int(lab), tuple(np.round(x.numpy(), 6)))
         for b in data.epoch(128) for s, lab, x in zip(b.source, b.label, b.signals.real,
                                                       strict=True)}
        for _ in range(2)
    )
    # The same copies with the same labels, in another order.
    assert first == second and len(first) == 3 * dictionary.n_atoms
    counts = np.bincount([s for s, _, _ in first], minlength=dictionary.n_atoms)
    assert np.all(counts == 3)
    order_one = [int(s) for b in data.epoch(128) for s in b.source[:3]]
    order_two = [int(s) for b in data.epoch(128) for s in b.source[:3]]
    assert order_one != order_two


def test_truth_labels_are_the_source_atoms_and_need_no_matching(dictionary, monkeypatch):
    data = NoisyCopies(dictionary, noise=0.05, device=torch.device("cpu"), seed=0,
                       labels="truth")
    monkeypatch.setattr(data, "label", lambda signals: pytest.fail("matched a copy"))
    data.build(2)
    batches = list(data.epoch(200))
    assert sum(len(b) for b in batches) == 2 * dictionary.n_atoms
    for batch in batches:
        assert torch.equal(batch.label, batch.source)
        # Still noisy copies of their source atoms, with the stated noise.
        clean = torch.from_numpy(dictionary.atoms / dictionary.norms[:, None])[batch.source]
        assert float((batch.signals - clean).abs().square().mean()) == pytest.approx(
            0.05**2, rel=0.2)
    with pytest.raises(ValueError, match="labels"):
        NoisyCopies(dictionary, noise=0.05, device=torch.device("cpu"), labels="oracle")


def test_the_manifest_records_how_the_model_departs_from_the_published_recipe(dictionary):
    from mrfcore.inference.training import recipe_deviations

    settings = TrainingSettings(epochs=1, copies=2, batch_size=300, decoder_batch=32,
                                labels="truth", test_samples=200)
    model = train_model("mrfresnet", SEQUENCE, dictionary, settings, device="cpu")
    training = model.manifest.training
    assert training["labels"] == "truth" and training["decoder_batch"] == 32
    assert training["deviations_from_published"] == [
        "epochs 1 (published 20)", "copies 2 (published 50)", "labels truth (published dm)",
        "decoder_batch 32 (published 0)",
    ]
    assert "not the published recipe" in training["labels_description"]
    # targets="auto": log outputs for MRFResnet (better maps), recorded as such.
    assert training["targets"] == "log" and model.manifest.targets["kind"] == "log"
    assert recipe_deviations(TrainingSettings().to_dict()) == []
    # The kernel machine has no epochs, learning rate or decoder batch to depart from.
    assert recipe_deviations({**TrainingSettings().to_dict(), "epochs": 1}, "km") == []
    # Grid range and echo time are recorded for clamping and for messages.
    assert model.manifest.grid["t1_extent_ms"] == [100.0, 3000.0]
    assert model.manifest.grid["t2_extent_ms"] == [20.0, 400.0]
    assert model.manifest.sequence_te_ms == pytest.approx(float(SEQUENCE.te_ms[0]))


def test_mrfresnet_training_reduces_the_loss_and_beats_a_constant(dictionary):
    settings = TrainingSettings(epochs=3, copies=12, batch_size=64, test_samples=2000,
                                final_learning_rate=1e-3)
    model = train_model("mrfresnet", SEQUENCE, dictionary, settings, device="cpu")
    losses = model.manifest.training["epoch_losses"]
    assert len(losses) == 3 and losses[-1] < 0.2 * losses[0]
    errors = model.manifest.test_errors["vs_truth"]
    # Predicting the grid's mean T1 / T2 for everything gives MAPEs of ~100 %.
    t1_constant = np.mean(np.abs(dictionary.t1_ms.mean() - dictionary.t1_ms) / dictionary.t1_ms)
    assert errors["t1_mape_percent"] < 0.3 * 100 * t1_constant
    assert errors["t2_mape_percent"] < 30
    assert model.manifest.test_errors["decoder_nrmse_percent"] < 30


def test_kernel_machine_fits_in_closed_form(dictionary):
    settings = TrainingSettings(epochs=1, copies=4, test_samples=2000)
    model = train_model("km", SEQUENCE, dictionary, settings, device="cpu")
    errors = model.manifest.test_errors["vs_truth"]
    assert errors["t1_mape_percent"] < 25 and errors["t2_mape_percent"] < 25
    assert model.manifest.test_errors["decoder_nrmse_percent"] < 40
    assert model.manifest.targets["kind"] == "log"  # targets="auto" for KM
    selection = model.manifest.training["selection"]
    assert set(selection) == {"encoder_0", "encoder_1", "decoder"}
    assert model.manifest.n_parameters > 20_000


def test_rescnn_trains_a_step_on_a_tiny_problem(dictionary):
    settings = TrainingSettings(epochs=1, copies=1, batch_size=100, test_samples=100,
                                learning_rate=1e-3, final_learning_rate=1e-3)
    model = train_model("rescnn", SEQUENCE, dictionary, settings, device="cpu")
    assert model.manifest.kind == "rescnn" and model.manifest.input == "real+imag"
    assert np.isfinite(model.manifest.training["epoch_losses"][0])
    assert model.manifest.training["macs_per_fingerprint"] > 0
    weights = model.state_dict["head.weight"]
    assert torch.isfinite(weights).all()


def test_training_can_be_cancelled_from_the_progress_callback(dictionary):
    calls = []

    def callback(step, total, message):
        calls.append(step)
        return len(calls) < 3  # stop at the third report

    settings = TrainingSettings(epochs=50, copies=10, batch_size=32)
    with pytest.raises(Cancelled):
        train_model("mrfresnet", SEQUENCE, dictionary, settings, device="cpu",
                    progress=Progress(callback))
    assert len(calls) == 3


def test_training_can_be_cancelled_by_a_token(dictionary):
    token = CancelToken()

    def callback(step, total, message):
        if step > 0:
            token.cancel()

    with pytest.raises(Cancelled):
        train_model("km", SEQUENCE, dictionary, TrainingSettings(epochs=20, copies=10),
                    device="cpu", progress=Progress(callback, token))


def test_settings_and_arguments_are_checked(dictionary):
    with pytest.raises(ValueError, match="epochs"):
        TrainingSettings(epochs=0)
    with pytest.raises(ValueError, match="targets"):
        TrainingSettings(targets="cubic")
    with pytest.raises(ValueError, match="labels"):
        TrainingSettings(labels="oracle")
    with pytest.raises(ValueError, match="decoder_batch"):
        TrainingSettings(decoder_batch=-1)
    with pytest.raises(ValueError, match="unknown model kind"):
        train_model("svm", SEQUENCE, dictionary)
    with pytest.raises(ValueError, match="simulated for sequence hash"):
        train_model("km", builtin_sequence("fisp-jiang2015"), dictionary)


@pytest.mark.slow
def test_mrf_train_writes_a_model_the_methods_find(tmp_path, capsys):
    from mrfcore.cli import main

    schedule = write_sequence(short_sequence(40), tmp_path / "short.csv")
    code = main(["train", "--sequence", str(schedule), "--model", "km", "--grid", "coarse",
                 "--rank", "5", "--epochs", "1", "--copies", "1", "--test-samples", "500",
                 "--device", "cpu"])
    assert code == 0
    output = capsys.readouterr().out
    assert "kernel machine" in output and "wrote" in output
    sequence_hash = short_sequence(40).content_hash()
    entries = find_models("km", sequence_hash)
    assert len(entries) == 1 and not entries[0].shipped
    manifest = json.loads(entries[0].path.with_suffix(".json").read_text())
    assert manifest["training"]["epochs"] == 1 and manifest["grid"]["kind"] == "coarse"
    assert load_model(entries[0].path).manifest.rank == 5
