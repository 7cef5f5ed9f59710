"""KM: the shallow kernel-machine baseline of the MRFResnet paper.

Random Fourier features (Rahimi & Recht 2007) approximating a Gaussian kernel, read out
by ridge regression solved in closed form:

- Encoder: for each target (T1, T2) its own map of 1000 random features of the
  normalised, phase-aligned subspace coefficients (the same inputs as MRFResnet, see
  :mod:`mrfcore.inference.models`), with its own bandwidth, and a ridge read-out.
- Decoder: 500 random features of the scaled (T1, T2) and a ridge read-out to the
  atom's unit-norm shape and log-norm (as MRFResnet's decoder), for PD.

Bandwidths and ridge weights are chosen on a held-out set of labelled noisy copies from
a few candidates; the final read-outs are then fitted on the whole stream of copies by
accumulating ``Z^T Z`` and ``Z^T y`` (never the feature matrix itself).  The ridge
problem, with an unpenalised intercept c::

    min_W,c  ||Z W + 1 cᵀ − Y||² + λ n ||W||²

is solved from centred sums: ``W = (Z_cᵀ Z_c + λ n I)⁻¹ Z_cᵀ Y_c``, ``c = ȳ − z̄ W``.
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

__all__ = ["KernelMachine", "KMOptions", "KMPredictor", "RidgeAccumulator",
           "train_kernel_machine"]

ARCHITECTURE = {"encoder_features": 1000, "decoder_features": 500}
ENCODER_BANDWIDTH_FACTORS = (0.02, 0.05, 0.1, 0.2, 0.5)
"""Encoder bandwidth candidates, × the median distance between inputs."""
DECODER_BANDWIDTHS = (0.05, 0.1, 0.2, 0.5, 1.0)
"""Decoder bandwidth candidates, × the standard deviation of each scaled target."""
RIDGE_CANDIDATES = (1e-9, 1e-7, 1e-5, 1e-3)
"""λ candidates (per sample: the penalty is λ n ||W||²)."""


@dataclass
class KMOptions(LearnedOptions):
    """The shared options of learned methods, with their defaults."""


@INFERENCE.register("km", label="Kernel machine (KM)", options=KMOptions)
class KernelMachine(LearnedMethod):
    """Kernel machine (random Fourier features + ridge regression): the shallow baseline
    of the MRFResnet paper, trained on simulated noisy fingerprints of the sequence."""

    kind = "km"

    def predictor(self) -> type:
        return KMPredictor


class KMPredictor(EncoderDecoderPredictor):
    """A loaded kernel machine on a device (``dictionary`` is unused)."""

    label = "KM"

    def __init__(self, model: TrainedModel, device: torch.device,
                 dictionary: Dictionary | None = None) -> None:
        from mrfcore.inference.architectures import KernelMachine as Machine

        super().__init__(model, device)
        arch = model.manifest.architecture
        self.machine = Machine(model.manifest.in_features, arch["encoder_features"],
                               arch["decoder_features"])
        self.machine.load_state_dict(model.state_dict)
        self.machine.restore_bandwidths()
        self.machine.to(device).eval()

    def encode_features(self, features: torch.Tensor) -> torch.Tensor:
        return self.machine.encode(features)

    def decode_targets(self, outputs: torch.Tensor) -> torch.Tensor:
        return self.machine.decode(outputs)


class RidgeAccumulator:
    """Sums for ridge regression with an unpenalised intercept, fed batch by batch.

    Parameters
    ----------
    n_features, n_outputs
        Columns of Z and of Y.
    device
        Where the (float64) sums live.
    """

    def __init__(self, n_features: int, n_outputs: int, device: torch.device | str = "cpu"
                 ) -> None:
        import torch

        kwargs = {"dtype": torch.float64, "device": device}
        self.count = 0
        self.sum_z = torch.zeros(n_features, **kwargs)
        self.sum_y = torch.zeros(n_outputs, **kwargs)
        self.zz = torch.zeros(n_features, n_features, **kwargs)
        self.zy = torch.zeros(n_features, n_outputs, **kwargs)

    def add(self, z: torch.Tensor, y: torch.Tensor) -> None:
        """Add rows ``z`` (B, D) with targets ``y`` (B, O)."""
        z64, y64 = z.to(self.zz.dtype), y.to(self.zz.dtype)
        self.count += int(z.shape[0])
        self.sum_z += z64.sum(0)
        self.sum_y += y64.sum(0)
        self.zz += z64.T @ z64
        self.zy += z64.T @ y64

    def solve(self, ridge: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Weights (D, O) and intercept (O,) minimising
        ``||Z W + 1 cᵀ − Y||² + ridge · n · ||W||²``."""
        import torch

        if self.count == 0:
            raise ValueError("no samples were added to the ridge regression")
        n = self.count
        mean_z, mean_y = self.sum_z / n, self.sum_y / n
        gram = self.zz - n * torch.outer(mean_z, mean_z)
        cross = self.zy - n * torch.outer(mean_z, mean_y)
        eye = torch.eye(gram.shape[0], dtype=gram.dtype, device=gram.device)
        weights = torch.linalg.solve(gram + ridge * n * eye, cross)
        return weights, mean_y - mean_z @ weights


def _median_distance(x: torch.Tensor, count: int = 2000) -> float:
    import torch

    sample = x[:count]
    distances = torch.cdist(sample, sample)
    upper = distances[torch.triu(torch.ones_like(distances, dtype=torch.bool), 1)]
    return float(upper.median().clamp_min(1e-6))


def _select(maps_and_targets, validation, factors_or_values, base: float):
    """Pick (bandwidth, ridge) for one random-feature map by validation MSE.

    ``maps_and_targets = (rff, train_x, train_y)``; ``validation = (x, y)``.
    """
    rff, train_x, train_y = maps_and_targets
    valid_x, valid_y = validation
    best = (float("inf"), None, None)
    for factor in factors_or_values:
        bandwidth = base * factor
        rff.set_bandwidth(bandwidth)
        accumulator = RidgeAccumulator(rff.n_features, train_y.shape[1], train_x.device)
        accumulator.add(rff(train_x), train_y)
        valid_z = rff(valid_x).double()
        for ridge in RIDGE_CANDIDATES:
            weights, intercept = accumulator.solve(ridge)
            error = float(((valid_z @ weights + intercept - valid_y.double()) ** 2).mean())
            if error < best[0]:
                best = (error, bandwidth, ridge)
    rff.set_bandwidth(best[1])
    return best


def _first_copies(data, pilot_count: int, check_count: int):
    """Two disjoint sets of labelled copies from the training set (for selection)."""
    import torch

    from mrfcore.inference.training import LabelledBatch

    parts, have = [], 0
    for batch in data.epoch(4096):
        parts.append(batch)
        have += len(batch)
        if have >= pilot_count + check_count:
            break
    joined = LabelledBatch(*(torch.cat([getattr(p, name) for p in parts])
                             for name in ("signals", "source", "label")))
    pilot_count = min(pilot_count, len(joined) * 4 // 5)
    first = slice(0, pilot_count)
    second = slice(pilot_count, pilot_count + check_count)
    return (LabelledBatch(joined.signals[first], joined.source[first], joined.label[first]),
            LabelledBatch(joined.signals[second], joined.source[second], joined.label[second]))


def train_kernel_machine(sequence: Sequence, dictionary: Dictionary,
                         settings: TrainingSettings, device: torch.device,
                         progress: Progress,
                         data: NoisyCopies | None = None) -> TrainedModel:
    """Fit the kernel machine on DM-labelled noisy copies (see the module notes and
    :mod:`mrfcore.inference.training`): ``copies`` copies per atom, each seen once (a
    closed-form fit has no epochs; the epoch and learning-rate settings are unused)."""
    import torch

    from mrfcore.inference.architectures import KernelMachine as Machine
    from mrfcore.inference.architectures import count_parameters
    from mrfcore.inference.learned import decoder_targets, network_features
    from mrfcore.inference.models import TargetScaling, TrainedModel
    from mrfcore.inference.training import (
        NoisyCopies,
        choose_representation,
        decoder_test_nrmse,
        new_manifest,
        test_errors,
        training_record,
    )

    started = time.perf_counter()
    choice = choose_representation(dictionary)
    representation = choice.representation
    scaling = TargetScaling(kind=settings.targets)
    in_features = dictionary.rank * (1 if representation == "real" else 2)
    machine = Machine(in_features, ARCHITECTURE["encoder_features"],
                      ARCHITECTURE["decoder_features"], seed=settings.seed).to(device)
    if data is None:
        data = NoisyCopies(dictionary, settings.noise, device, settings.seed,
                           settings.match_chunk, settings.labels)
    targets = scaling.encode(data.t1_ms, data.t2_ms)
    decoded_wanted = decoder_targets(data.atoms, data.norms, representation,
                                     choice.phase_reference_rad)

    # 1. Label the copies; choose bandwidths and ridge weights on part of them.
    if data.size == 0:
        data.build(settings.copies, progress.stage(0.0, 0.8, "labels"))
    progress(800, 1000, "choosing bandwidths")
    pilot_count = min(20000, max(1000, data.size * 4 // 5))
    pilot, check = _first_copies(data, pilot_count, max(500, pilot_count // 4))
    machine.standardise.fit(network_features(pilot.signals, representation)[0])
    pilot_x = machine.standardise(network_features(pilot.signals, representation)[0])
    check_x = machine.standardise(network_features(check.signals, representation)[0])
    base = _median_distance(pilot_x)
    choices = {}
    for index, rff in enumerate(machine.encoder_maps):
        error, bandwidth, ridge = _select(
            (rff, pilot_x, targets[pilot.label][:, index : index + 1]),
            (check_x, targets[check.label][:, index : index + 1]),
            ENCODER_BANDWIDTH_FACTORS, base,
        )
        choices[f"encoder_{index}"] = {"bandwidth": bandwidth, "ridge": ridge,
                                       "validation_mse": error}
        progress.check()
    order = torch.randperm(data.n_atoms, generator=torch.Generator().manual_seed(settings.seed))
    order = order.to(device)
    split = max(1, int(0.8 * data.n_atoms))
    fit_atoms, check_atoms = order[:split], order[split:] if split < data.n_atoms else order
    target_spread = float(targets.std(0).mean())
    error, bandwidth, ridge = _select(
        (machine.decoder_map, targets[fit_atoms], decoded_wanted[fit_atoms]),
        (targets[check_atoms], decoded_wanted[check_atoms]),
        DECODER_BANDWIDTHS, target_spread,
    )
    choices["decoder"] = {"bandwidth": bandwidth, "ridge": ridge, "validation_mse": error}
    machine.sync_bandwidths()

    # 2. Encoder read-outs on all labelled copies (one pass: the sums are the fit).
    accumulators = [RidgeAccumulator(rff.n_features, 1, device) for rff in machine.encoder_maps]
    stage = progress.stage(0.85, 0.95, "ridge sums")
    done = 0
    for batch in data.epoch(max(settings.batch_size, 4096)):
        stage(done, data.size, f"ridge sums: {done:,} of {data.size:,} copies")
        features = machine.standardise(network_features(batch.signals, representation)[0])
        wanted = targets[batch.label]
        for index, (rff, accumulator) in enumerate(
            zip(machine.encoder_maps, accumulators, strict=True)
        ):
            accumulator.add(rff(features), wanted[:, index : index + 1])
        done += len(batch)
    for index, (head, accumulator) in enumerate(
        zip(machine.encoder_heads, accumulators, strict=True)
    ):
        weights, intercept = accumulator.solve(choices[f"encoder_{index}"]["ridge"])
        head.weights.copy_(weights.float())
        head.intercept.copy_(intercept.float())

    # 3. Decoder read-out on every atom (clean: it maps parameters to fingerprints).
    accumulator = RidgeAccumulator(machine.decoder_map.n_features, decoded_wanted.shape[1],
                                   device)
    for start in range(0, data.n_atoms, 16384):
        part = slice(start, start + 16384)
        accumulator.add(machine.decoder_map(targets[part]), decoded_wanted[part])
    weights, intercept = accumulator.solve(choices["decoder"]["ridge"])
    machine.decoder_head.weights.copy_(weights.float())
    machine.decoder_head.intercept.copy_(intercept.float())

    progress(950, 1000, "measuring test errors")
    model = TrainedModel(
        new_manifest("km", sequence, dictionary, choice, scaling, dict(ARCHITECTURE),
                     count_parameters(machine, include_buffers=True)),
        dictionary.basis, machine.state_dict(),
    )
    predictor = KMPredictor(model, device)
    errors = test_errors(predictor.predict_ms, data, settings)
    errors["decoder_nrmse_percent"] = decoder_test_nrmse(predictor, data, settings)
    model.manifest.test_errors = errors
    model.manifest.training = training_record(
        settings, device, started, None, kind="km",
        optimiser="closed-form ridge regression (epochs and learning rates unused)",
        input_imaginary_fraction=choice.imaginary_fraction,
        selection={k: {n: (float(f"{v:.4g}") if isinstance(v, float) else v)
                       for n, v in c.items()} for k, c in choices.items()},
        selection_samples={"pilot": len(pilot), "validation": len(check)},
    )
    progress(1000, 1000, "KM fitted")
    return model

