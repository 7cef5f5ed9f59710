"""Trained inference models: the file format, its manifest, and finding the model for a
sequence.

A model file (``*.pt``) is a torch archive of plain tensors and strings, read with
``torch.load(weights_only=True)`` (no pickled code)::

    {"format": "mrf-studio-model", "format_version": 1,
     "manifest": "<JSON text>", "state_dict": {...},
     "basis_real": (T, s) float32, "basis_imag": (T, s) float32}

Beside it, ``<same name>.json`` holds the same manifest, so that finding a model (which
the GUI does to decide which methods to offer) reads small JSON files and never imports
torch.  The manifest says what the model is for and how it was made: model kind,
sequence name and content hash, frame count, grid, subspace rank and basis hash, input
representation and target scaling, training settings, measured test errors, software
version.

Models are looked up in the user's folder (``data_dir()/models``, where ``mrf train``
writes) and then among the shipped ones (``resources/models``).  A model is used only for
the sequence it was trained for (same :meth:`Sequence.content_hash`); signals in another
basis of that sequence are projected onto the model's basis.

The conventions of the models' inputs and outputs are in
:mod:`mrfcore.inference.learned`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

    from mrfcore.methods import InferenceInputs

__all__ = [
    "MODEL_FORMAT",
    "MODEL_FORMAT_VERSION",
    "MODEL_KINDS",
    "ModelEntry",
    "ModelManifest",
    "TargetScaling",
    "TrainedModel",
    "basis_hash",
    "find_model",
    "find_models",
    "load_model",
    "load_model_cached",
    "model_available",
    "model_directories",
    "model_for_inputs",
    "save_model",
]

MODEL_FORMAT = "mrf-studio-model"
MODEL_FORMAT_VERSION = 1
MODEL_KINDS: dict[str, str] = {
    "mrfresnet": "MRFResnet",
    "rescnn": "ResCNN-1D",
    "km": "kernel machine (KM)",
}
REPRESENTATIONS = ("real", "real+imag")



# ----------------------------------------------------------------------- targets


@dataclass(frozen=True)
class TargetScaling:
    """How T1 and T2 (ms) become the networks' outputs and back."""

    kind: str = "linear"
    t1_scale_ms: float = 1000.0
    t2_scale_ms: float = 100.0

    def __post_init__(self) -> None:
        if self.kind not in ("linear", "log"):
            raise ValueError(f"target scaling must be 'linear' or 'log', got {self.kind!r}")

    def encode(self, t1_ms: torch.Tensor, t2_ms: torch.Tensor) -> torch.Tensor:
        """(B,), (B,) ms → (B, 2) network targets."""
        import torch

        if self.kind == "log":
            return torch.stack([t1_ms.log(), t2_ms.log()], dim=1)
        return torch.stack([t1_ms / self.t1_scale_ms, t2_ms / self.t2_scale_ms], dim=1)

    def decode(self, outputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 2) network outputs → T1, T2 (ms)."""
        if self.kind == "log":
            return outputs[:, 0].exp(), outputs[:, 1].exp()
        return outputs[:, 0] * self.t1_scale_ms, outputs[:, 1] * self.t2_scale_ms


# ----------------------------------------------------------------------- manifest


@dataclass
class ModelManifest:
    """What a model is for and how it was made (JSON-able; see the module notes).

    ``sequence_te_ms`` is the sequence's echo time when it is the same for every frame
    (``None`` otherwise): one schedule is used with several TEs (``ir-ramp-880``: 0.46 ms
    spiral, 2.08 ms radial), which give different sequences (hashes) and models.
    """

    kind: str
    sequence_name: str
    sequence_hash: str
    n_frames: int
    rank: int
    basis_hash: str
    input: str
    targets: dict[str, Any]
    architecture: dict[str, Any]
    grid: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    test_errors: dict[str, Any] = field(default_factory=dict)
    n_parameters: int = 0
    phase_reference_rad: float = 0.0
    software_version: str = ""
    created_utc: str = ""
    notes: str = ""
    sequence_te_ms: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in MODEL_KINDS:
            raise ValueError(f"unknown model kind {self.kind!r}; known: {sorted(MODEL_KINDS)}")
        if self.input not in REPRESENTATIONS:
            raise ValueError(f"model input must be one of {REPRESENTATIONS}, got {self.input!r}")

    @property
    def label(self) -> str:
        return MODEL_KINDS[self.kind]

    @property
    def target_scaling(self) -> TargetScaling:
        return TargetScaling(**self.targets)

    @property
    def in_features(self) -> int:
        return self.rank * (1 if self.input == "real" else 2)

    def to_dict(self) -> dict[str, Any]:
        return {"format": MODEL_FORMAT, "format_version": MODEL_FORMAT_VERSION, **asdict(self)}

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "model manifest") -> ModelManifest:
        if values.get("format") != MODEL_FORMAT:
            raise ValueError(f"{where}: not an MRF Studio model manifest")
        version = values.get("format_version")
        if version != MODEL_FORMAT_VERSION:
            raise ValueError(
                f"{where}: model format version {version}; this version of MRF Studio reads "
                f"version {MODEL_FORMAT_VERSION} (train the model again)"
            )
        known = {f for f in cls.__dataclass_fields__}
        try:
            return cls(**{k: v for k, v in values.items() if k in known})
        except TypeError as error:
            raise ValueError(f"{where}: incomplete model manifest ({error})") from None


def basis_hash(basis: np.ndarray) -> str:
    """16 hex digits of the basis values rounded to 1e-5 (informational: bases are
    compared numerically, since rebuilds on other hardware differ in the last bits)."""
    rounded = np.round(np.asarray(basis, dtype=np.complex128) * 1e5)
    digest = hashlib.sha256(np.ascontiguousarray(rounded.view(np.float64) + 0.0).tobytes())
    return digest.hexdigest()[:16]


def now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# -------------------------------------------------------------------------- files


@dataclass
class TrainedModel:
    """A model in memory: manifest, the basis it works in, and its tensors.

    Attributes
    ----------
    manifest
        See :class:`ModelManifest`.
    basis
        complex64 (T, s): the temporal subspace the model's inputs are expressed in.
    state_dict
        The network's tensors (CPU).
    path
        Where it was loaded from, if anywhere.
    """

    manifest: ModelManifest
    basis: np.ndarray
    state_dict: dict[str, Any]
    path: Path | None = None

    def __post_init__(self) -> None:
        self.basis = np.asarray(self.basis, dtype=np.complex64)
        expected = (self.manifest.n_frames, self.manifest.rank)
        if self.basis.shape != expected:
            raise ValueError(f"model basis has shape {self.basis.shape}, expected {expected}")


def sidecar_path(path: str | Path) -> Path:
    return Path(path).with_suffix(".json")


def save_model(model: TrainedModel, path: str | Path) -> Path:
    """Write ``path`` (torch archive) and its ``.json`` manifest, each atomically.

    The archive is written first: a manifest never announces a missing model.
    """
    import io

    import torch

    from mrfcore.io.atomic import atomic_write_bytes, atomic_write_text

    path = Path(path)
    if path.suffix != ".pt":
        raise ValueError(f"{path}: model files end in .pt")
    manifest = model.manifest.to_dict()
    payload = {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "manifest": json.dumps(manifest),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict.items()},
        "basis_real": torch.from_numpy(np.ascontiguousarray(model.basis.real)),
        "basis_imag": torch.from_numpy(np.ascontiguousarray(model.basis.imag)),
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write_bytes(path, buffer.getvalue())
    atomic_write_text(sidecar_path(path), json.dumps(manifest, indent=1) + "\n")
    model.path = path
    return path


def load_model(path: str | Path) -> TrainedModel:
    """Read a model written by :func:`save_model`.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ValueError
        Naming the file, if it is not an MRF Studio model, has another format version or
        is damaged.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a damaged archive
        raise ValueError(f"{path}: damaged or not a model file ({error})") from None
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        raise ValueError(f"{path}: not an MRF Studio model file")
    try:
        manifest = ModelManifest.from_dict(json.loads(payload["manifest"]), str(path))
        basis = (payload["basis_real"].numpy() + 1j * payload["basis_imag"].numpy())
        return TrainedModel(manifest, basis.astype(np.complex64), payload["state_dict"], path)
    except (KeyError, TypeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: incomplete model file ({error})") from None


# ------------------------------------------------------------------------- lookup


@dataclass(frozen=True)
class ModelEntry:
    """A model found on disk: its file and (sidecar) manifest."""

    path: Path
    manifest: ModelManifest
    shipped: bool


def model_directories() -> list[tuple[Path, bool]]:
    """``(folder, shipped)`` searched for models, user's first."""
    from mrfcore.resources import data_dir, resource_path

    folders = [(data_dir() / "models", False)]
    try:
        folders.append((resource_path("models"), True))
    except FileNotFoundError:
        pass
    return folders


def find_models(kind: str | None = None, sequence_hash: str | None = None) -> list[ModelEntry]:
    """Models whose sidecar manifests match, best first: user models before shipped
    ones, newer before older.  Unreadable manifests are skipped."""
    entries = []
    for folder, shipped in model_directories():
        if not folder.is_dir():
            continue
        for sidecar in sorted(folder.glob("*.json")):
            model_file = sidecar.with_suffix(".pt")
            if not model_file.is_file():
                continue
            try:
                manifest = ModelManifest.from_dict(json.loads(sidecar.read_text("utf-8")),
                                                   str(sidecar))
            except (OSError, ValueError):
                continue
            if kind is not None and manifest.kind != kind:
                continue
            if sequence_hash is not None and manifest.sequence_hash != sequence_hash:
                continue
            entries.append(ModelEntry(model_file, manifest, shipped))
    entries.sort(key=lambda e: (e.shipped, _negated(e.manifest.created_utc)))
    return entries


def _negated(text: str) -> tuple[int, ...]:
    return tuple(-ord(c) for c in text)


_LOADED: dict[tuple[str, int, int], TrainedModel] = {}


def load_model_cached(path: str | Path) -> TrainedModel:
    """:func:`load_model`, remembered while the file is unchanged (same path, size and
    modification time): a method run again on the same model skips the ~30 ms read.
    The returned model is shared: do not modify it."""
    path = Path(path)
    try:
        status = path.stat()
    except OSError:
        return load_model(path)
    key = (str(path.resolve()), status.st_size, status.st_mtime_ns)
    model = _LOADED.get(key)
    if model is None:
        model = load_model(path)
        _LOADED.clear()  # a few models at most are in use; keep only the latest
        _LOADED[key] = model
    return model


def _known_sequences(kind: str) -> str:
    """Sequences (name, hash, TE) with a model of ``kind``, for messages."""
    described = []
    for entry in find_models(kind):
        manifest = entry.manifest
        te = manifest.sequence_te_ms
        text = f"{manifest.sequence_name} ({manifest.sequence_hash}"
        text += ")" if te is None else f", TE {te:g} ms)"
        if text not in described:
            described.append(text)
    return ", ".join(described) or "none"


def find_model(kind: str, sequence_hash: str) -> ModelEntry | None:
    """The best model of ``kind`` for a sequence, or ``None``."""
    found = find_models(kind, sequence_hash)
    return found[0] if found else None


def model_available(kind: str, sequence_hash: str | None) -> bool:
    """Whether a trained model of ``kind`` exists for the sequence (cheap: JSON only)."""
    return sequence_hash is not None and find_model(kind, sequence_hash) is not None


def _sequence_of(inputs: InferenceInputs) -> tuple[str, str, Any]:
    """(name, content hash, sequence object or ``None``) of the sequence the inputs come
    from."""
    images, dictionary = inputs.images, inputs.dictionary
    sequence = images.sequence
    if sequence is not None:
        sequence_hash = sequence.content_hash()
        if sequence_hash != dictionary.sequence_hash:
            raise ValueError(
                f"the images were acquired with sequence '{sequence.name}' (hash "
                f"{sequence_hash}) but the dictionary is for hash {dictionary.sequence_hash}"
            )
        name = sequence.name
    else:
        name = str(dictionary.metadata.get("sequence_name", "unknown"))
        sequence_hash = dictionary.sequence_hash
    return name, sequence_hash, sequence


def _train_arguments(name: str, sequence_hash: str, sequence: Any) -> str:
    """The ``--sequence ...`` arguments of ``mrf train`` for a sequence (only needed for
    messages: hashing the built-ins costs ~15 ms)."""
    from mrfcore.sequences import BUILTIN_SEQUENCES, builtin_sequence

    arguments = f"--sequence <schedule file of {name}>"
    if name in BUILTIN_SEQUENCES:
        builtin = builtin_sequence(name)
        if builtin.content_hash() == sequence_hash:
            arguments = f"--sequence {name}"
        elif sequence is not None and np.ptp(sequence.te_ms) == 0 and (
            builtin.with_te(float(sequence.te_ms[0])).content_hash() == sequence_hash
        ):
            arguments = f"--sequence {name} --te {float(sequence.te_ms[0]):g}"
    return arguments


def model_for_inputs(kind: str, inputs: InferenceInputs, model_file: str = "") -> TrainedModel:
    """The model to use for these inputs: ``model_file`` if given, else the best found.

    Raises
    ------
    ValueError
        When no model of this kind exists for the sequence (saying how to train one), or
        ``model_file`` was trained for another sequence or is another kind of model.
    """
    name, sequence_hash, sequence = _sequence_of(inputs)
    label = MODEL_KINDS[kind]
    # Models are matched by the sequence's content hash, which the echo time is part of.
    te_text = ""
    if sequence is not None and np.ptp(sequence.te_ms) == 0:
        te_text = f", TE {float(sequence.te_ms[0]):g} ms"
    if model_file:
        model = load_model_cached(model_file)
        if model.manifest.kind != kind:
            raise ValueError(
                f"{model_file}: a {model.manifest.label} model, not a {label} model"
            )
    else:
        entry = find_model(kind, sequence_hash)
        if entry is None:
            raise ValueError(
                f"no trained {label} for sequence {name} (hash {sequence_hash}{te_text}); "
                f"trained "
                f"{label} models exist for: {_known_sequences(kind)}; train one with: mrf "
                f"train {_train_arguments(name, sequence_hash, sequence)} --model {kind}"
            )
        model = load_model_cached(entry.path)
    if model.manifest.sequence_hash != sequence_hash:
        arguments = _train_arguments(name, sequence_hash, sequence)
        raise ValueError(
            f"{model.path}: this {label} was trained for sequence "
            f"{model.manifest.sequence_name} (hash {model.manifest.sequence_hash}), not for "
            f"{name} (hash {sequence_hash}{te_text}); train one with: mrf train {arguments} "
            f"--model {kind}"
        )
    return model
