"""ResCNN-1D: a residual 1-D convolutional network over the whole temporal signature.

Input: the voxel's time course in the model's subspace, ``V c`` with c the unit-norm,
phase-aligned subspace coefficients (:func:`~mrfcore.inference.models.network_inputs`),
as two channels (real and imaginary parts) of T frames.  Architecture
(:class:`~mrfcore.inference.architectures.ResCNN1D`): two convolutions of 32 channels,
4 residual blocks (two convolutions, channels doubling up to 512, max-pooling by 2),
kernel 7, global average pooling, a linear layer to the scaled (T1, T2).  About 3.8 M
parameters and 0.58 GMAC per fingerprint of 880 frames: heavy on a CPU, so voxels are
estimated in batches under ``torch.inference_mode`` with progress and cancel.

The network predicts T1 and T2 only.  PD (and the fit residual) come from the dictionary
atom nearest to the estimate in (log T1, log T2) (nominal B1 when the dictionary has a
B1 axis): ``PD = <a, x> / ||a||²``, as dictionary matching does for its match.

No trained ResCNN ships with MRF Studio (training it needs a GPU); ``mrf train
--model rescnn`` makes one, and the method says so when none exists for a sequence.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mrfcore.inference.learned import LearnedMethod, LearnedOptions
from mrfcore.methods import INFERENCE, option
from mrfcore.progress import Progress

if TYPE_CHECKING:
    import torch

    from mrfcore.dictionary import Dictionary
    from mrfcore.inference.learned import LearnedOptions, NetworkEstimates
    from mrfcore.inference.models import TrainedModel
    from mrfcore.inference.training import NoisyCopies, TrainingSettings
    from mrfcore.sequences import Sequence

__all__ = ["ResCNN", "ResCNNOptions", "ResCNNPredictor", "time_course_inputs", "train_rescnn"]

ARCHITECTURE = {"in_channels": 2, "stem_channels": 32, "blocks": 4, "kernel": 7,
                "max_channels": 512}


@dataclass
class ResCNNOptions(LearnedOptions):
    batch_size: int = option(
        512, label="Voxels per batch", minimum=1, advanced=True,
        help="voxels estimated together (activations: ~0.25 MB per voxel of 880 frames)",
    )


@INFERENCE.register("rescnn", label="ResCNN-1D", options=ResCNNOptions)
class ResCNN(LearnedMethod):
    """Residual 1-D CNN over the whole time course: T1 and T2 from the temporal
    signature, PD from the nearest dictionary atom; needs a model trained for the
    sequence (``mrf train --model rescnn``, best on a GPU)."""

    kind = "rescnn"

    def predictor(self) -> type:
        return ResCNNPredictor


def time_course_inputs(aligned: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """Unit-norm aligned coefficients (B, s) and basis (T, s) → float32 (B, 2, T):
    real and imaginary parts of the time course ``V c``."""
    import torch

    course = aligned @ basis.T
    return torch.stack([course.real, course.imag], dim=1).contiguous()


class _NearestAtom:
    """The dictionary atom nearest to (T1, T2) in log space (nominal B1 only)."""

    def __init__(self, dictionary: Dictionary, model_basis: np.ndarray,
                 device: torch.device) -> None:
        import torch
        from scipy.spatial import cKDTree

        keep = np.ones(dictionary.n_atoms, dtype=bool)
        if dictionary.b1 is not None:
            distance = np.abs(dictionary.b1 - 1.0)
            keep = distance == distance.min()
        self.indices = np.flatnonzero(keep)
        points = np.log(np.stack([dictionary.t1_ms[keep], dictionary.t2_ms[keep]], axis=1))
        self.tree = cKDTree(points.astype(np.float64))
        change = model_basis.conj().T @ np.asarray(dictionary.basis)
        atoms = np.asarray(dictionary.atoms)[keep] @ change.T.astype(np.complex64)
        self.atoms = torch.from_numpy(np.ascontiguousarray(atoms, np.complex64)).to(device)

    def __call__(self, t1_ms: torch.Tensor, t2_ms: torch.Tensor) -> torch.Tensor:
        import torch

        points = torch.stack([t1_ms, t2_ms], dim=1).clamp_min(1e-3).log().cpu().numpy()
        _, nearest = self.tree.query(points.astype(np.float64))
        return self.atoms[torch.from_numpy(nearest).to(self.atoms.device)]


class ResCNNPredictor:
    """A loaded ResCNN on a device; ``dictionary`` supplies the atoms for PD."""

    label = "ResCNN-1D"

    def __init__(self, model: TrainedModel, device: torch.device,
                 dictionary: Dictionary | None = None) -> None:
        import torch

        from mrfcore.inference.architectures import ResCNN1D
        from mrfcore.inference.learned import OutputBounds

        self.manifest = model.manifest
        self.bounds = OutputBounds(model.manifest, device)
        self.scaling = model.manifest.target_scaling
        self.network = ResCNN1D(**model.manifest.architecture)
        self.network.load_state_dict(model.state_dict)
        self.network.to(device).eval()
        self.device = device
        self.basis = torch.from_numpy(np.ascontiguousarray(model.basis)).to(device)
        self.nearest = None if dictionary is None else _NearestAtom(dictionary, model.basis,
                                                                     device)

    def encode_unclamped(self, signals: torch.Tensor) -> torch.Tensor:
        """Scaled targets (B, 2) of signals (B, s) in the model's basis, as the network
        gives them."""
        from mrfcore.inference.learned import network_inputs

        aligned = network_inputs(signals, "real+imag")[1]
        return self.network(time_course_inputs(aligned, self.basis))

    def encode(self, signals: torch.Tensor) -> torch.Tensor:
        """Scaled targets (B, 2), clamped to the training grid's range."""
        return self.bounds.clamp(self.encode_unclamped(signals))[0]

    def predict_ms(self, signals: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        import torch

        with torch.inference_mode():
            return self.scaling.decode(self.encode(signals))

    def estimate(self, signals: torch.Tensor, batch_size: int = 512,
                 progress: Progress | None = None) -> NetworkEstimates:
        """T1, T2 (network) and PD, fit residual (nearest atom) of signals (V, s)."""
        import torch

        from mrfcore.inference.learned import NetworkEstimates, batched, pd_from_decoded

        if self.nearest is None:
            raise ValueError("ResCNN needs the dictionary for PD")
        count = int(signals.shape[0])
        t1 = torch.empty(count, device=self.device)
        t2 = torch.empty(count, device=self.device)
        pd = torch.empty(count, device=self.device, dtype=torch.complex64)
        residual = torch.empty(count, device=self.device)
        outside = torch.empty(count, device=self.device, dtype=torch.bool)
        with torch.inference_mode():
            for part in batched(count, batch_size):
                if progress is not None:
                    progress(part.start, count, f"ResCNN: voxel {part.start:,} of {count:,}")
                x = signals[part]
                outputs, outside[part] = self.bounds.clamp(self.encode_unclamped(x))
                t1[part], t2[part] = self.scaling.decode(outputs)
                atoms = self.nearest(t1[part], t2[part])
                pd[part], residual[part] = pd_from_decoded(x, atoms, 0.0)
        if progress is not None:
            progress(count, count, "ResCNN done")
        return NetworkEstimates(t1, t2, pd, residual, outside, self.bounds.describe())


def train_rescnn(sequence: Sequence, dictionary: Dictionary, settings: TrainingSettings,
                 device: torch.device, progress: Progress,
                 data: NoisyCopies | None = None) -> TrainedModel:
    """Train the CNN on DM-labelled noisy copies (see :mod:`mrfcore.inference.training`)
    with MSE on the scaled (T1, T2) of the labels."""
    import torch

    from mrfcore.inference.architectures import ResCNN1D, count_parameters, rescnn_macs
    from mrfcore.inference.learned import network_inputs
    from mrfcore.inference.models import TargetScaling, TrainedModel
    from mrfcore.inference.training import (
        InputChoice,
        NoisyCopies,
        fit_by_gradient,
        new_manifest,
        test_errors,
        training_record,
    )

    started = time.perf_counter()
    scaling = TargetScaling(kind=settings.targets)
    torch.manual_seed(settings.seed)
    network = ResCNN1D(**ARCHITECTURE).to(device)
    basis = torch.from_numpy(np.ascontiguousarray(dictionary.basis)).to(device)
    if data is None:
        data = NoisyCopies(dictionary, settings.noise, device, settings.seed,
                           settings.match_chunk, settings.labels)
    targets = scaling.encode(data.t1_ms, data.t2_ms)

    def loss_of(batch) -> torch.Tensor:
        aligned = network_inputs(batch.signals, "real+imag")[1]
        outputs = network(time_course_inputs(aligned, basis))
        return torch.nn.functional.mse_loss(outputs, targets[batch.label])

    history = fit_by_gradient(list(network.parameters()), loss_of, data, settings,
                              progress.stage(0.0, 0.95, "training"), network.train)
    progress(950, 1000, "measuring test errors")
    network.eval()
    model = TrainedModel(
        new_manifest("rescnn", sequence, dictionary, InputChoice("real+imag", 0.0, math.nan),
                     scaling, dict(ARCHITECTURE),
                     count_parameters(network)),
        dictionary.basis, network.state_dict(),
    )
    predictor = ResCNNPredictor(model, device)
    model.manifest.test_errors = test_errors(predictor.predict_ms, data, settings)
    model.manifest.training = training_record(
        settings, device, started, history,
        macs_per_fingerprint=rescnn_macs(network, dictionary.n_frames),
    )
    progress(1000, 1000, "ResCNN trained")
    return model
