"""MRFResnet: a compact residual encoder–decoder replacing dictionary matching.

After Golbabaee et al. ("Compressive MRI quantification using convex spatiotemporal
priors and deep encoder-decoder networks", Med Image Anal 2021):

- Encoder: the voxel's subspace coefficients, normalised to unit norm and phase-aligned
  (see :mod:`mrfcore.inference.models`: s real parts for real aligned atoms such as
  FISP's, else 2s real and imaginary parts), through 6 residual blocks of width 10 and a
  linear layer with a final ReLU to the scaled (T1, T2).
- Decoder: (T1, T2) → 300 → the clean fingerprint (M0 = 1), as its unit-norm shape in
  the reference frame ``a · exp(-i θ_ref)`` (s values: FISP atoms are real there) plus
  the log of its norm, so that ``d̂`` has the dictionary's scale and
  ``PD = <d̂, x e^{-iθ_ref}> / ||d̂||²`` is dictionary matching's PD, phase included.
  Predicting shape and log-norm separately keeps the MSE from being dominated by the
  atoms with the largest norms.
- Both standardise their inputs (fixed mean and scale from the training data,
  stored with the model); the targets are T1/1000 ms and T2/100 ms, or log T (manifest).

With s = 10 the encoder has 6 × 220 + 22 = 1,342 parameters and the decoder 4,211
(2·300 + 300 + 300·11 + 11); the encoder–decoder 5,553 (the paper's "5.2e3" matches an
encoder–decoder whose decoder outputs the s values only: 5,252).

The quality map is the fit residual ``||x − PD d̂|| / ||x||``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mrfcore.inference.learned import EncoderDecoderPredictor, LearnedMethod, LearnedOptions
from mrfcore.methods import INFERENCE
from mrfcore.progress import Progress

if TYPE_CHECKING:
    import torch

    from mrfcore.dictionary import Dictionary
    from mrfcore.inference.models import TrainedModel
    from mrfcore.inference.training import NoisyCopies, TrainingSettings
    from mrfcore.sequences import Sequence

__all__ = ["MRFResnet", "MRFResnetOptions", "MRFResnetPredictor", "train_mrfresnet"]

ARCHITECTURE = {"width": 10, "blocks": 6, "decoder_hidden": 300}


@dataclass
class MRFResnetOptions(LearnedOptions):
    """The shared options of learned methods, with their defaults."""


@INFERENCE.register("mrfresnet", label="MRFResnet", options=MRFResnetOptions)
class MRFResnet(LearnedMethod):
    """Residual encoder–decoder network (Golbabaee et al.): T1, T2 and PD in one pass,
    trained on simulated noisy fingerprints of the scan's sequence."""

    kind = "mrfresnet"

    def predictor(self) -> type:
        return MRFResnetPredictor


class MRFResnetPredictor(EncoderDecoderPredictor):
    """A loaded MRFResnet on a device.

    Parameters
    ----------
    model
        A trained model of kind ``"mrfresnet"``.
    device
        Compute device.
    dictionary
        Unused (the decoder generates the fingerprints); accepted for a uniform factory.
    """

    label = "MRFResnet"

    def __init__(self, model: TrainedModel, device: torch.device,
                 dictionary: Dictionary | None = None) -> None:
        from mrfcore.inference.architectures import MRFResnetInference, MRFResnetNet

        super().__init__(model, device)
        arch = model.manifest.architecture
        self.network = MRFResnetNet(
            model.manifest.in_features, arch["width"], arch["blocks"], arch["decoder_hidden"]
        )
        self.network.load_state_dict(model.state_dict)
        self.network.to(device).eval()
        self.fast = MRFResnetInference(self.network)

    def encode_features(self, features: torch.Tensor) -> torch.Tensor:
        return self.fast.encode(features)

    def decode_targets(self, outputs: torch.Tensor) -> torch.Tensor:
        return self.fast.decode(outputs)


def train_mrfresnet(sequence: Sequence, dictionary: Dictionary, settings: TrainingSettings,
                    device: torch.device, progress: Progress,
                    data: NoisyCopies | None = None) -> TrainedModel:
    """Train encoder and decoder together on labelled noisy copies (see
    :mod:`mrfcore.inference.training`).  The encoder learns ``copy → label parameters``,
    the decoder ``label parameters → label atom``; both with MSE, summed.

    The two losses share no parameter (and Adam scales each parameter on its own), so
    the sum trains each network on its own loss.  The decoder's targets, clean atoms,
    carry no noise: with ``settings.decoder_batch`` it sees only the first that many
    labels of each batch, which saves most of the time of large batches (the published
    recipe, 0, gives it the whole batch)."""
    import torch

    from mrfcore.inference.architectures import MRFResnetNet, count_parameters
    from mrfcore.inference.learned import decoder_targets, network_features
    from mrfcore.inference.models import TargetScaling, TrainedModel
    from mrfcore.inference.training import (
        NoisyCopies,
        choose_representation,
        decoder_test_nrmse,
        fit_by_gradient,
        new_manifest,
        test_errors,
        training_record,
    )

    started = time.perf_counter()
    choice = choose_representation(dictionary)
    representation = choice.representation
    scaling = TargetScaling(kind=settings.targets)
    torch.manual_seed(settings.seed)
    in_features = dictionary.rank * (1 if representation == "real" else 2)
    network = MRFResnetNet(in_features, **ARCHITECTURE).to(device)
    if data is None:
        data = NoisyCopies(dictionary, settings.noise, device, settings.seed,
                           settings.match_chunk, settings.labels)
    sample = data.sample(min(20000, 20 * data.n_atoms), seed=settings.seed + 1, labelled=False)
    network.encoder.standardise.fit(network_features(sample.signals, representation)[0])
    decoded_wanted = decoder_targets(data.atoms, data.norms, representation,
                                     choice.phase_reference_rad)
    targets = scaling.encode(data.t1_ms, data.t2_ms)
    network.decoder.standardise.fit(targets)

    decoder_batch = settings.decoder_batch or settings.batch_size

    def loss_of(batch) -> torch.Tensor:
        features = network_features(batch.signals, representation)[0]
        wanted = targets[batch.label]
        encoder_loss = torch.nn.functional.mse_loss(network.encoder(features), wanted)
        labels = batch.label[:decoder_batch]
        decoded = network.decoder(wanted[:decoder_batch])
        decoder_loss = torch.nn.functional.mse_loss(decoded, decoded_wanted[labels])
        return encoder_loss + decoder_loss

    history = fit_by_gradient(list(network.parameters()), loss_of, data, settings,
                              progress.stage(0.0, 0.95, "training"), network.train)
    progress(950, 1000, "measuring test errors")
    network.eval()
    model = TrainedModel(
        new_manifest("mrfresnet", sequence, dictionary, choice, scaling,
                     dict(ARCHITECTURE), count_parameters(network)),
        dictionary.basis, network.state_dict(),
    )
    predictor = MRFResnetPredictor(model, device)
    errors = test_errors(predictor.predict_ms, data, settings)
    errors["decoder_nrmse_percent"] = decoder_test_nrmse(predictor, data, settings)
    model.manifest.test_errors = errors
    model.manifest.training = training_record(
        settings, device, started, history,
        input_imaginary_fraction=choice.imaginary_fraction,
        parameters={"encoder": count_parameters(network.encoder),
                    "decoder": count_parameters(network.decoder)},
    )
    progress(1000, 1000, "MRFResnet trained")
    return model
