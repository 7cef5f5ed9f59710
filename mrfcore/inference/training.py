"""The training recipe shared by the learned inference methods.

As published for MRFResnet (Golbabaee et al.): a dictionary on the paper grid (T1
100:10:4000 ms, T2 20:2:600 ms), rank s = 10; noisy copies of its atoms, each labelled by
dictionary matching *of the noisy copy* (so a network learns the DM projection, not a
denoiser); Adam on the mean squared error, 20 epochs, learning rate 0.01 with decay.

Noisy copies, exactly
---------------------
A copy of atom j is ``x = a_j / ||a_j|| + n`` in the dictionary's subspace, with n
i.i.d. circular complex Gaussian, ``E|n_k|² = σ²`` per coefficient (real and imaginary
parts each of standard deviation σ/√2).  Because the basis V has orthonormal columns this
is exactly the subspace projection of a unit-norm time course with the same noise added
to each of its T frames: our reading of the papers' "i.i.d. N(0, 0.01)" noise on
normalised fingerprints, with 0.01 taken as σ (as a variance it would be σ = 0.1).
The training set is ``copies`` noisy copies of every atom, labelled once; each of the
``epochs`` passes over it in a new random order, as in the paper (50 copies, 20 epochs).
The copies themselves are never stored: chunk c of the set is regenerated on the
compute device from its own seed whenever it is needed, so only the atom indices and
labels (a few bytes per copy) are kept, nothing of size copies × s, let alone × T.

The label of a copy is the atom that exhaustive dictionary matching picks for it,
``argmax_j |<x, a_j>| / ||a_j||``, searched as the DM method searches
(:mod:`mrfcore.inference.dm`: dense on a GPU, branch and bound over atom groups on a
CPU, which provably finds the same atom up to float32 ties); the copy's own atom is kept
too, for test errors against the truth.  With the pruned search, labelling takes about
40 µs per copy against the 113,781 atoms of the paper grid on a 2-core CPU, so the
paper's 50 copies per atom (5.7 million) are labelled in about 4 minutes.

Labels other than the published ones
------------------------------------
A DM label is the grid point nearest (in angle) to the noisy copy, so a network trained
on DM labels can at best reproduce dictionary matching's own errors against the true
parameters.  ``labels="truth"`` labels each copy with the atom it was made from instead:
under MSE the network then learns the conditional mean of the (log) parameters given the
noisy fingerprint, a denoising estimator, which is what off-grid tests against the truth
reward; and no matching is needed, so the paper's 50 copies cost nothing to label.  It
is not the published recipe (the default stays ``"dm"``); manifests record the choice.

Measured for MRFResnet (ir-ramp-880, 20,000 off-grid noisy test fingerprints, T1 / T2
MAPE; DM on the same: about 2.0 / 3.0 %): DM labels, 3 copies, 20 epochs, batch 256,
log targets 2.42 / 3.30 %; the same with truth labels 2.48 / 3.27 % (no gain: the
network, not the labels, limited it); truth, 50 copies, 10 epochs, batch 4096, lr 0.01
2.66 / 3.37 % (too few steps); truth, 10 copies, 20 epochs, batch 1024, lr 0.02: log
targets 2.38 / 3.19 %, linear 2.23 / 3.16 %; truth, 50 copies, 4 epochs, linear: batch
1024, lr 0.02 2.22 / 3.17 %; batch 512, lr 0.014 2.12 / 3.09 %; batch 1024, lr 0.02,
8 epochs 2.13 / 3.10 %.  A width-32 encoder (not the paper's) reached 2.16 / 3.03 %
with 3 copies: the width-10 network's capacity, not data, is the main limit.  With 50
copies, 4 epochs, batch 512, lr 0.014 and log targets, on 100,000 off-grid
fingerprints: DM labels 2.17 / 3.05 % against the truth and 0.82 / 0.91 % against DM's
own estimates; truth labels 2.20 / 3.04 % and 1.02 / 1.12 %.  So the published labels
cost nothing against the truth here, and the shipped models use them.
"""


from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mrfcore.progress import Progress, ProgressCallback, ensure_progress

if TYPE_CHECKING:
    import torch

    from mrfcore.dictionary import Dictionary
    from mrfcore.inference.models import TrainedModel
    from mrfcore.sequences import Sequence

__all__ = [
    "LabelledBatch",
    "NoisyCopies",
    "InputChoice",
    "TrainingSettings",
    "choose_representation",
    "fit_by_gradient",
    "parameter_errors",
    "train_model",
]

TRAINERS = {
    "mrfresnet": "mrfcore.inference.mrfresnet:train_mrfresnet",
    "rescnn": "mrfcore.inference.rescnn:train_rescnn",
    "km": "mrfcore.inference.kernel_machine:train_kernel_machine",
}

AUTO_TARGETS = {"mrfresnet": "log", "km": "log", "rescnn": "log"}
"""The targets ``"auto"`` gives each model kind.  On 20,000 noisy fingerprints of
ir-ramp-880 (truth labels, otherwise equal settings) T1 / T2 MAPE were: MRFResnet
linear 2.23 / 3.16 %, log 2.38 / 3.19 %; KM (3 copies) linear 3.23 / 7.78 %, log
4.05 / 4.14 % (on-grid test copies).  For MRFResnet the maps decide: on the simulated
brain after LRTV (``mrf bench pipeline``, 50 copies) log targets gave T1/T2 MAPE
2.0/2.9 % (spiral) and 3.0/4.1 % (radial) against linear 3.2/2.3 and 3.7/5.0 %: an
error relative to T1 is what MAPE and readers of short-T1 tissue care about, and MSE on
log T approximates it.  (On strongly aliased radial ZF input log outputs run to the
clamping bounds more often.)  With DM labels on the radial scans (TE 2.08 ms) that
decided it the other way: log targets gave ZF / VS-MRFResnet T1 MAPE 52.7 / 28.7 %
against DM's 13.9 / 13.7 %, linear 16.0 / 13.9 %, and after LRTV linear was better too
(3.3 / 3.7 % against 3.9 / 3.8 %), so the shipped radial model has linear targets.  On
the spiral, log stayed better (LRTV-MRFResnet 1.9 / 2.4 % against linear 2.0 / 3.6 %).
ResCNN: not measured (log, as before)."""

LABEL_KINDS = ("dm", "truth")
"""Training labels: DM of the noisy copy (published) or the copy's own atom."""

# Atoms whose imaginary parts, in their common-phase frame, hold less than this fraction
# of their norm are treated as real (FISP with a real basis: only round-off remains).
_REAL_INPUT_TOLERANCE = 1e-3


@dataclass
class TrainingSettings:
    """How a model is trained (recorded in its manifest).

    Attributes
    ----------
    epochs
        Passes over the labelled training set (the paper: 20).
    copies
        Noisy copies of every atom in the training set, each labelled once (the
        paper: 50).
    noise
        σ of the complex noise on unit-norm fingerprints (the paper: 0.01).
    batch_size
        Copies per optimiser step (networks) or per Gram update (KM).
    decoder_batch
        Labels of each batch the MRFResnet decoder learns from (0: all, as published;
        its targets are clean atoms, so far fewer suffice with large batches).
    learning_rate, final_learning_rate
        Adam's step size decays exponentially, step by step, from the first to the second.
    targets
        Network outputs: ``"linear"`` (T1/1000 ms, T2/100 ms), ``"log"`` (log T/ms), or
        ``"auto"`` (the default): each model kind's better one as measured on
        ir-ramp-880 (:data:`AUTO_TARGETS`); :func:`train_model` resolves it.
    labels
        ``"dm"`` (published: the atom dictionary matching picks for the noisy copy) or
        ``"truth"`` (the atom the copy was made from; see the module notes).
    test_samples
        Fresh noisy copies of random atoms for the test errors in the manifest.
    seed
        Seeds noise, order and initialisation: the same settings give the same model on
        the same device.
    match_chunk
        Copies labelled by dictionary matching at a time (memory ∝ match_chunk × atoms).
    """

    epochs: int = 20
    copies: int = 50
    noise: float = 0.01
    batch_size: int = 256
    decoder_batch: int = 0
    learning_rate: float = 0.01
    final_learning_rate: float = 1e-4
    targets: str = "auto"
    labels: str = "dm"
    test_samples: int = 20000
    seed: int = 0
    match_chunk: int = 4096

    def __post_init__(self) -> None:
        for name in ("epochs", "copies", "batch_size", "test_samples", "match_chunk"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"training setting {name} must be a whole number ≥ 1, "
                                 f"got {value!r}")
        if (isinstance(self.decoder_batch, bool) or not isinstance(self.decoder_batch, int)
                or self.decoder_batch < 0):
            raise ValueError(f"training setting decoder_batch must be a whole number ≥ 0, "
                             f"got {self.decoder_batch!r}")
        for name in ("noise", "learning_rate", "final_learning_rate"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ValueError(f"training setting {name} must be a number ≥ 0, got {value!r}")
        if self.learning_rate <= 0 or self.final_learning_rate <= 0:
            raise ValueError("learning rates must be > 0")
        if self.targets not in ("auto", "linear", "log"):
            raise ValueError(f"targets must be 'auto', 'linear' or 'log', got {self.targets!r}")
        if self.labels not in LABEL_KINDS:
            raise ValueError(f"labels must be one of {LABEL_KINDS}, got {self.labels!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LabelledBatch:
    """Noisy copies with their labels, all on the compute device.

    Attributes
    ----------
    signals
        complex64 (B, s): noisy copies in the dictionary's subspace.
    source
        int64 (B,): the atom each copy was made from (the truth).
    label
        int64 (B,): the atom dictionary matching picks for the copy (the training label).
    """

    signals: torch.Tensor
    source: torch.Tensor
    label: torch.Tensor

    def __len__(self) -> int:
        return int(self.signals.shape[0])

    def split(self, size: int) -> Iterator[LabelledBatch]:
        for start in range(0, len(self), size):
            part = slice(start, start + size)
            yield LabelledBatch(self.signals[part], self.source[part], self.label[part])


class NoisyCopies:
    """Noisy copies of a dictionary's atoms, labelled by matching (see the module notes).

    Parameters
    ----------
    dictionary
        Atoms, parameters and basis; copies are made in its subspace.
    noise
        σ of the complex noise per subspace coefficient (unit-norm atoms).
    device
        Where copies are made and matched.
    seed
        Seeds the noise and the order.
    match_chunk
        Copies matched (and regenerated) at a time.
    labels
        ``"dm"``: each copy is labelled by dictionary matching; ``"truth"``: by the atom
        it was made from (no matching).
    """

    def __init__(self, dictionary: Dictionary, noise: float, device: torch.device,
                 seed: int = 0, match_chunk: int = 4096, labels: str = "dm") -> None:
        import torch

        if labels not in LABEL_KINDS:
            raise ValueError(f"labels must be one of {LABEL_KINDS}, got {labels!r}")
        self.labels = labels
        self.dictionary = dictionary
        self.noise = float(noise)
        self.device = device
        self.seed = int(seed)
        self.match_chunk = int(match_chunk)
        atoms = torch.from_numpy(np.ascontiguousarray(dictionary.atoms)).to(device)
        norms = torch.from_numpy(np.asarray(dictionary.norms, np.float32)).to(device)
        self.atoms = atoms
        self.unit_atoms = atoms / norms.clamp_min(1e-30)[:, None]
        self.norms = norms
        self.t1_ms = torch.from_numpy(np.asarray(dictionary.t1_ms, np.float32)).to(device)
        self.t2_ms = torch.from_numpy(np.asarray(dictionary.t2_ms, np.float32)).to(device)
        self.generator = torch.Generator(device=device).manual_seed(self.seed)
        self._matcher = _matcher(dictionary, self.unit_atoms, device)
        self._sources: list[torch.Tensor] = []
        self._labels: list[torch.Tensor] = []

    @property
    def n_atoms(self) -> int:
        return int(self.atoms.shape[0])

    @property
    def size(self) -> int:
        """Copies in the labelled training set (0 before :meth:`build`)."""
        return sum(int(part.numel()) for part in self._sources)

    def copies_of(self, source: torch.Tensor, generator: torch.Generator | None = None
                  ) -> torch.Tensor:
        """complex64 (B, s): noisy copies of the unit-norm atoms ``source``."""
        import torch

        clean = self.unit_atoms[source]
        noise = torch.randn((*clean.shape, 2), generator=generator or self.generator,
                            device=self.device) * (self.noise / math.sqrt(2.0))
        return clean + torch.view_as_complex(noise)

    def label(self, signals: torch.Tensor) -> torch.Tensor:
        """int64 (B,): the dictionary-matching atom of each signal."""
        return self._matcher(signals)

    def _chunk_generator(self, chunk: int) -> torch.Generator:
        import torch

        return torch.Generator(device=self.device).manual_seed(
            self.seed * 1_000_003 + 7919 * chunk + 1)

    def build(self, copies: int, progress: Progress | None = None) -> None:
        """Draw ``copies`` copies of every atom (random order) and label them all
        (by matching, or with their own atoms for ``labels="truth"``)."""
        import torch

        total = self.n_atoms * copies
        order = torch.cat([
            torch.randperm(self.n_atoms, generator=self.generator, device=self.device)
            for _ in range(copies)
        ])
        self._sources, self._labels = [], []
        for index, start in enumerate(range(0, total, self.match_chunk)):
            if progress is not None:
                progress(start, total, f"labelling noisy copies by matching: {start:,} of "
                         f"{total:,}")
            source = order[start : start + self.match_chunk]
            self._sources.append(source)
            if self.labels == "truth":
                self._labels.append(source.to(torch.int32))
                continue
            signals = self.copies_of(source, self._chunk_generator(index))
            self._labels.append(self.label(signals).to(torch.int32))
        if progress is not None:
            progress(total, total, f"{total:,} noisy copies labelled")

    def epoch(self, batch_size: int) -> Iterator[LabelledBatch]:
        """One pass over the labelled set in a new random order, in batches."""
        import torch

        if not self._sources:
            raise RuntimeError("NoisyCopies.build() must run before epoch()")
        chunks = torch.randperm(len(self._sources), generator=self.generator,
                                device=self.device).tolist()
        for index in chunks:
            source = self._sources[index]
            signals = self.copies_of(source, self._chunk_generator(index))
            shuffle = torch.randperm(source.numel(), generator=self.generator,
                                     device=self.device)
            chunk = LabelledBatch(signals[shuffle], source[shuffle],
                                  self._labels[index][shuffle].long())
            yield from chunk.split(batch_size)

    def sample(self, count: int, seed: int, labelled: bool = True) -> LabelledBatch:
        """``count`` copies of random atoms with their own seed (test sets); without
        ``labelled`` the labels are the source atoms (no matching is done)."""
        import torch

        generator = torch.Generator(device=self.device).manual_seed(int(seed))
        source = torch.randint(0, self.n_atoms, (count,), generator=generator,
                               device=self.device)
        parts = []
        for start in range(0, count, self.match_chunk):
            part = source[start : start + self.match_chunk]
            signals = self.copies_of(part, generator)
            parts.append(LabelledBatch(signals, part,
                                       self.label(signals) if labelled else part))
        return LabelledBatch(
            torch.cat([p.signals for p in parts]),
            torch.cat([p.source for p in parts]),
            torch.cat([p.label for p in parts]),
        )


_SMALL_NETWORK = 200_000
"""Networks with fewer parameters train on one CPU thread: their layers are far too small
to share between threads, and on a busy machine extra threads only contend (measured
here: 48 ms per MRFResnet step on one thread, 1.5 s on two, with other jobs running)."""

_GROUPED_MATCHING_ATOMS = 20_000
"""From this many atoms on, a CPU labels copies by the pruned exhaustive search."""


def _matcher(dictionary: Dictionary, unit_atoms: torch.Tensor,
             device: torch.device) -> Callable:
    """Dictionary matching of signals in the dictionary's subspace, as the DM method does
    it (:mod:`mrfcore.inference.dm`): the dense search on a GPU, the pruned exhaustive
    search over atom groups on a CPU (same atoms; groupings cached where DM keeps them)."""
    from mrfcore.inference.dm import DMOptions, device_atoms
    from mrfcore.inference.grouping import atom_groups
    from mrfcore.inference.matching import match_dense, match_grouped
    from mrfcore.resources import cache_dir

    normalised = device_atoms(dictionary, device)["normalised"]
    if device.type != "cpu" or dictionary.n_atoms < _GROUPED_MATCHING_ATOMS:
        return lambda signals: match_dense(signals, normalised).indices
    # DM's own group count, so that both use one cached grouping.
    groups = atom_groups(dictionary, DMOptions().n_groups, cache_dir() / "matching")
    return lambda signals: match_grouped(signals, normalised, groups).indices


@dataclass(frozen=True)
class InputChoice:
    """How a dictionary's fingerprints are presented to a model.

    Attributes
    ----------
    representation
        ``"real"`` when every atom is real up to one common phase (mod π) — FISP with
        zero RF phase — else ``"real+imag"``.
    phase_reference_rad
        That common phase (0 for ``"real+imag"``): decoders generate atoms in the frame
        ``a · exp(-i θ_ref)``.
    imaginary_fraction
        Largest ``||Im(a e^{-iθ_ref})|| / ||a||`` over the atoms (measured).
    """

    representation: str
    phase_reference_rad: float
    imaginary_fraction: float


def choose_representation(dictionary: Dictionary) -> InputChoice:
    """Measure the atoms and choose the input representation (see :class:`InputChoice`);
    "real" needs an imaginary fraction below 1e-3."""
    from mrfcore.inference.learned import reference_phase

    phase, fraction = reference_phase(dictionary.atoms)
    if fraction < _REAL_INPUT_TOLERANCE:
        return InputChoice("real", phase, fraction)
    return InputChoice("real+imag", 0.0, fraction)


def fit_by_gradient(
    parameters: list[torch.nn.Parameter],
    loss_of: Callable[[LabelledBatch], torch.Tensor],
    data: NoisyCopies,
    settings: TrainingSettings,
    progress: Progress,
    set_training: Callable[[bool], None] | None = None,
) -> list[float]:
    """Adam on ``loss_of(batch)`` for ``settings.epochs`` passes over the labelled set
    (built here if needed: ``settings.copies`` copies per atom).

    The learning rate decays exponentially per step from ``learning_rate`` to
    ``final_learning_rate``.  Returns the mean loss of each epoch.  The first fifth of
    ``progress`` is the labelling; cancelling raises
    :class:`~mrfcore.progress.Cancelled` between batches.
    """
    import torch

    from mrfcore.inference.learned import single_thread_on

    if data.size == 0:
        data.build(settings.copies, progress.stage(0.0, 0.2, "labels"))
    training = progress.stage(0.2, 1.0, "training")
    per_epoch = data.size
    steps = settings.epochs * sum(math.ceil(p.numel() / settings.batch_size)
                                  for p in data._sources)
    optimiser = torch.optim.Adam(parameters, lr=settings.learning_rate)
    gamma = (settings.final_learning_rate / settings.learning_rate) ** (1.0 / max(steps, 1))
    schedule = torch.optim.lr_scheduler.ExponentialLR(optimiser, gamma)
    total = settings.epochs * per_epoch
    history: list[float] = []
    small = sum(p.numel() for p in parameters) < _SMALL_NETWORK
    threads = single_thread_on(data.device) if small else contextlib.nullcontext()
    threads.__enter__()
    if set_training is not None:
        set_training(True)
    try:
        for epoch in range(settings.epochs):
            running, count = 0.0, 0
            for batch in data.epoch(settings.batch_size):
                training(epoch * per_epoch + count, total,
                         f"epoch {epoch + 1}/{settings.epochs}, loss "
                         f"{running / max(count, 1):.3g}")
                loss = loss_of(batch)
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                schedule.step()
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise FloatingPointError(
                        f"training diverged (loss {value}) in epoch {epoch + 1}; try a "
                        "smaller learning rate"
                    )
                running += value * len(batch)
                count += len(batch)
            history.append(running / max(count, 1))
    finally:
        threads.__exit__(None, None, None)
        if set_training is not None:
            set_training(False)
    training(total, total, f"trained, final loss {history[-1]:.3g}")
    return history


def parameter_errors(
    t1_ms: np.ndarray, t2_ms: np.ndarray, true_t1_ms: np.ndarray, true_t2_ms: np.ndarray
) -> dict[str, float]:
    """MAE (ms) and MAPE (%) of T1 and T2 estimates."""
    t1, t2 = np.asarray(t1_ms, np.float64), np.asarray(t2_ms, np.float64)
    r1, r2 = np.asarray(true_t1_ms, np.float64), np.asarray(true_t2_ms, np.float64)
    return {
        "t1_mae_ms": float(np.mean(np.abs(t1 - r1))),
        "t1_mape_percent": float(100 * np.mean(np.abs(t1 - r1) / r1)),
        "t2_mae_ms": float(np.mean(np.abs(t2 - r2))),
        "t2_mape_percent": float(100 * np.mean(np.abs(t2 - r2) / r2)),
    }


def test_errors(
    predict: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
    data: NoisyCopies,
    settings: TrainingSettings,
) -> dict[str, Any]:
    """Errors of ``predict(signals) -> (t1_ms, t2_ms)`` on fresh noisy copies of random
    atoms: against the atoms' true parameters and against the DM labels."""
    test = data.sample(settings.test_samples, seed=settings.seed + 10_007)
    t1, t2 = predict(test.signals)
    t1, t2 = t1.detach().cpu().numpy(), t2.detach().cpu().numpy()
    true_t1, true_t2 = (data.t1_ms[test.source].cpu().numpy(),
                        data.t2_ms[test.source].cpu().numpy())
    dm_t1, dm_t2 = data.t1_ms[test.label].cpu().numpy(), data.t2_ms[test.label].cpu().numpy()
    return {
        "description": (
            f"{settings.test_samples} fresh noisy copies (σ = {settings.noise:g}) of random "
            "dictionary atoms (on the grid)"
        ),
        "vs_truth": parameter_errors(t1, t2, true_t1, true_t2),
        "vs_dm_labels": parameter_errors(t1, t2, dm_t1, dm_t2),
        "dm_vs_truth": parameter_errors(dm_t1, dm_t2, true_t1, true_t2),
    }


def decoder_test_nrmse(predictor: Any, data: NoisyCopies, settings: TrainingSettings) -> float:
    """Decoder NRMSE (%) on fresh noisy copies: the fingerprints decoded from the
    encoder's estimates against the clean atoms the copies were made from."""
    import torch

    test = data.sample(min(settings.test_samples, 20000), seed=settings.seed + 20_011,
                       labelled=False)
    with torch.inference_mode():
        outputs = predictor.encode(test.signals)[0]
    return predictor.decoder_nrmse(outputs, data.atoms[test.source])


LABEL_DESCRIPTIONS = {
    "dm": "dm: dictionary matching of each noisy copy (exhaustive, compressed dictionary)",
    "truth": "truth: the atom each noisy copy was made from (not the published recipe)",
}


PUBLISHED = {"epochs": 20, "copies": 50, "noise": 0.01, "learning_rate": 0.01,
             "labels": "dm", "decoder_batch": 0}
"""The published recipe's settings (Golbabaee et al.), as far as the papers give them."""


def recipe_deviations(settings: dict[str, Any], kind: str = "mrfresnet") -> list[str]:
    """How training settings (a manifest's ``training`` entry) differ from the
    published recipe, e.g. ``["copies 3 (published 50)"]``; epochs, learning rate and
    decoder batch do not apply to the kernel machine (a closed-form fit)."""
    skipped = {"epochs", "learning_rate", "decoder_batch"} if kind == "km" else set()
    deviations = []
    for name, published in PUBLISHED.items():
        if name in skipped or name not in settings:
            continue
        value = settings[name]
        if value != published:
            deviations.append(f"{name} {value:g} (published {published:g})"
                              if isinstance(value, int | float) and not isinstance(value, bool)
                              else f"{name} {value} (published {published})")
    return deviations


def training_record(settings: TrainingSettings, device: torch.device, started: float,
                    history: list[float] | None = None, kind: str = "mrfresnet",
                    **extra: Any) -> dict[str, Any]:
    """The ``training`` entry of a manifest."""
    record = {
        **settings.to_dict(),
        "deviations_from_published": recipe_deviations(settings.to_dict(), kind),
        "labels_description": LABEL_DESCRIPTIONS[settings.labels],
        "noise_model": "x = a/||a|| + n, n circular complex Gaussian, E|n_k|^2 = noise^2 per "
        "subspace coefficient (= per time frame)",
        "optimiser": "Adam, MSE, learning rate decayed exponentially per step",
        "device": str(device),
        "duration_s": round(time.perf_counter() - started, 1),
        **extra,
    }
    if history is not None:
        record["epoch_losses"] = [float(f"{v:.6g}") for v in history]
    return record


def new_manifest(kind: str, sequence: Sequence, dictionary: Dictionary, choice: InputChoice,
                 scaling: Any, architecture: dict[str, Any], n_parameters: int,
                 notes: str = "") -> Any:
    """A manifest for a model trained on ``dictionary`` (training and test entries are
    filled in by the trainer)."""
    from mrfcore import __version__
    from mrfcore.inference.models import ModelManifest, basis_hash, now_utc

    grid = dict(dictionary.metadata.get("grid") or {})
    grid.setdefault("n_atoms", dictionary.n_atoms)
    # The range outputs are clamped to at inference (see OutputBounds).
    grid.setdefault("t1_extent_ms", [float(np.min(dictionary.t1_ms)),
                                     float(np.max(dictionary.t1_ms))])
    grid.setdefault("t2_extent_ms", [float(np.min(dictionary.t2_ms)),
                                     float(np.max(dictionary.t2_ms))])
    return ModelManifest(
        kind=kind,
        sequence_name=sequence.name,
        sequence_hash=sequence.content_hash(),
        n_frames=dictionary.n_frames,
        rank=dictionary.rank,
        basis_hash=basis_hash(dictionary.basis),
        input=choice.representation,
        targets=asdict(scaling),
        architecture=architecture,
        grid=grid,
        n_parameters=int(n_parameters),
        phase_reference_rad=choice.phase_reference_rad,
        software_version=__version__,
        created_utc=now_utc(),
        notes=notes,
        sequence_te_ms=(float(sequence.te_ms[0]) if np.ptp(sequence.te_ms) == 0 else None),
    )


def train_model(
    kind: str,
    sequence: Sequence,
    dictionary: Dictionary,
    settings: TrainingSettings | None = None,
    device: str | torch.device | None = None,
    progress: Progress | ProgressCallback | None = None,
    data: NoisyCopies | None = None,
) -> TrainedModel:
    """Train a model of ``kind`` (``"mrfresnet"``, ``"rescnn"`` or ``"km"``) for a
    sequence from its dictionary; the result can be saved with
    :func:`mrfcore.inference.models.save_model`.

    ``data`` may pass a labelled set already built (:meth:`NoisyCopies.build`) to train
    several models on the same copies; its noise and size then override
    ``settings.noise`` and ``settings.copies`` (the manifest records what was used).

    Raises
    ------
    ValueError
        For an unknown kind, or a dictionary simulated for another sequence.
    """
    import importlib

    from mrfcore.device import select_device

    if kind not in TRAINERS:
        raise ValueError(f"unknown model kind {kind!r}; choose one of {sorted(TRAINERS)}")
    if dictionary.sequence_hash != sequence.content_hash():
        raise ValueError(
            f"the dictionary was simulated for sequence hash {dictionary.sequence_hash}, "
            f"not for {sequence.name} (hash {sequence.content_hash()})"
        )
    module_name, function_name = TRAINERS[kind].split(":")
    trainer = getattr(importlib.import_module(module_name), function_name)
    settings = settings or TrainingSettings()
    if settings.targets == "auto":
        settings = TrainingSettings(**{**settings.to_dict(), "targets": AUTO_TARGETS[kind]})
    if data is not None:
        if data.dictionary is not dictionary:
            raise ValueError("the labelled copies were made from another dictionary")
        copies = max(1, data.size // dictionary.n_atoms) if data.size else settings.copies
        settings = TrainingSettings(**{**settings.to_dict(), "noise": data.noise,
                                       "copies": copies, "seed": data.seed,
                                       "labels": data.labels})
    return trainer(sequence, dictionary, settings, select_device(device),
                   ensure_progress(progress), data=data)
