"""What the learned inference methods share when they run: inputs in the model's basis,
normalised network inputs, decoded fingerprints, PD and fit residual, batched estimation,
and the method body that turns images into maps.

Conventions shared by training and inference
--------------------------------------------
- Input of the networks: the voxel's subspace coefficients ``x`` (s complex values in
  the model's basis) divided by ``||x||`` and phase-aligned by
  :func:`~mrfcore.inference.common.phase_align` (first coefficient real ≥ 0).  With
  ``representation="real"`` the s real parts are used; with ``"real+imag"`` the 2s real
  and imaginary parts.  Training measures the atoms and picks ``"real"`` when they are
  all real up to one common phase θ_ref (mod π), as for FISP with zero RF phase, where
  the imaginary parts of an aligned voxel hold only noise (manifest ``input``).
- Decoders generate atoms (M0 = 1) in the frame ``a · exp(-i θ_ref)`` (θ_ref in the
  manifest, 0 for ``"real+imag"``), as their unit-norm shape plus the log of their norm;
  then ``PD = <d̂, x e^{-iθ_ref}> / ||d̂||²`` is DM's ``<x, a> / ||a||²``, phase included.
- Targets: ``T1 / t1_scale_ms`` and ``T2 / t2_scale_ms`` (``kind="linear"``, 1000 ms
  and 100 ms) or ``log(T / 1 ms)`` (``kind="log"``); the manifest says which (``mrf
  train`` picks each kind's better one by default, see ``training.AUTO_TARGETS``).
- Outputs are clamped to the training grid's T1 × T2 rectangle (manifest ``grid``):
  a network extrapolates without bound on inputs unlike its training fingerprints
  (aliased zero-filled or view-shared images), and its decoder is only valid inside
  the grid.  Clamped voxels are flagged in the extra map :data:`EXTRA_OUT_OF_RANGE`.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mrfcore.inference.common import MASK_METHODS
from mrfcore.inference.models import ModelManifest, TrainedModel, model_for_inputs
from mrfcore.methods import option

if TYPE_CHECKING:
    import torch

    from mrfcore.methods import InferenceInputs

__all__ = [
    "EXTRA_OUT_OF_RANGE",
    "EXTRA_RESIDUAL",
    "OutputBounds",
    "EncoderDecoderPredictor",
    "LearnedMethod",
    "LearnedOptions",
    "NetworkEstimates",
    "atoms_in_reference_frame",
    "batched",
    "decoded_atoms",
    "decoder_targets",
    "fit_decoded",
    "network_features",
    "network_inputs",
    "pd_from_decoded",
    "reference_phase",
    "row_norms",
    "run_learned_method",
    "single_thread_on",
    "to_model_basis",
]


DEFAULT_BATCH = 4096
"""Voxels per batch of the encoder–decoders: measured fastest for MRFResnet on a CPU
(40,000 voxels, one thread, CPU time: 1024 → 40 ms, 2048 → 33, 4096 → 30, 8192 → 35,
all at once → 55): the 300-wide decoder layer of a batch then stays in the cache."""


@dataclass
class LearnedOptions:
    """Options every learned method shares (a method may change a default)."""

    mask_threshold: float = option(
        0.05, label="Background threshold", unit="× max signal", minimum=0.0, maximum=1.0,
        help="voxels with a signal norm below this fraction of the brightest are skipped",
    )
    mask_method: str = option(
        "relative", label="Background mask", choices=MASK_METHODS, advanced=True,
        help="relative: the threshold above; otsu: Otsu's level of the signal histogram",
    )
    model_file: str = option(
        "", label="Model file", advanced=True,
        help="a model trained with 'mrf train'; empty: the model for the scan's sequence",
    )
    batch_size: int = option(
        DEFAULT_BATCH, label="Voxels per batch", minimum=1, advanced=True,
        help="voxels estimated together (4096 was fastest on a CPU: the 300-wide decoder "
        "layer of a batch then stays in the cache)",
    )


# Smallest cosine of the principal angles between the model's subspace and the
# dictionary's for which inputs are projected rather than refused (≈ 8°).
_MIN_SUBSPACE_COSINE = 0.99
_SAME_BASIS_TOLERANCE = 1e-4


# ------------------------------------------------------------------ inputs and bases


def to_model_basis(
    signals: torch.Tensor, signal_basis: np.ndarray, model_basis: np.ndarray,
    model_grid: str = "",
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Express subspace signals (V, s_in) in the model's basis (V, s_model).

    Returns the signals and a provenance note.  The change of basis is
    ``V_model^H V_signal``; it is skipped when that is the identity.

    Raises
    ------
    ValueError
        When the bases have different frame counts, or the signals' subspace does not
        contain the model's (smallest cosine of the principal angles below 0.99), e.g. a
        dictionary of lower rank than the model's, or on a much wider grid (measured for
        ir-ramp-880: a 'coarse' grid dictionary passes, smallest cosine 0.998; the 'log'
        grid does not, 0.73).  ``model_grid`` names the model's grid in the message.
    """
    import torch

    signal_basis = np.asarray(signal_basis)
    model_basis = np.asarray(model_basis)
    if signal_basis.shape[0] != model_basis.shape[0]:
        raise ValueError(
            f"the model works on {model_basis.shape[0]} time frames but the dictionary has "
            f"{signal_basis.shape[0]}"
        )
    # einsum rather than BLAS: this product is tiny (s × T × s), and a threaded BLAS
    # call costs more in waking threads than in arithmetic on a busy machine.
    change = np.einsum("tk,tl->kl", model_basis.conj().astype(np.complex128),
                       signal_basis.astype(np.complex128))
    if change.shape[0] == change.shape[1] and np.allclose(
        change, np.eye(change.shape[0]), atol=_SAME_BASIS_TOLERANCE
    ):
        return signals, {"basis": "the model's own"}
    cosines = np.linalg.svd(change, compute_uv=False)
    smallest = float(cosines.min()) if cosines.size else 0.0
    if change.shape[0] > change.shape[1] or smallest < _MIN_SUBSPACE_COSINE:
        grid = f" on the '{model_grid}' grid" if model_grid else ""
        raise ValueError(
            f"the dictionary's subspace (rank {signal_basis.shape[1]}) does not contain the "
            f"subspace the model was trained in (rank {model_basis.shape[1]}; smallest "
            f"principal-angle cosine {smallest:.4f}); use a dictionary of rank ≥ "
            f"{model_basis.shape[1]}{grid} for this sequence, as the model was trained with"
        )
    matrix = torch.from_numpy(change.astype(np.complex64)).to(signals.device)
    note = {"basis": f"projected onto the model's basis (smallest cosine {smallest:.5f})"}
    return signals @ matrix.T, note


def network_inputs(
    signals: torch.Tensor, representation: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Normalise and phase-align subspace signals for a network.

    Parameters
    ----------
    signals
        complex (B, s) in the model's basis.
    representation
        ``"real"`` or ``"real+imag"`` (see the module notes).

    Returns
    -------
    features
        float32 (B, s) or (B, 2s).
    aligned
        complex (B, s): unit-norm, phase-aligned signals.
    norms
        float32 (B,): ``||x||``.
    phases
        float32 (B,): the phase removed, ``arg x[0]`` (rad).
    """
    import torch

    from mrfcore.inference.common import phase_align

    norms = row_norms(signals)
    safe = torch.where(norms > 0, norms, torch.ones_like(norms))
    aligned = phase_align(signals) / safe[:, None]
    phases = torch.angle(signals[:, 0])
    if representation == "real":
        features = aligned.real
    elif representation == "real+imag":
        features = torch.cat([aligned.real, aligned.imag], dim=1)
    else:
        raise ValueError(f"unknown input representation {representation!r}")
    return features.contiguous(), aligned, norms, phases


def network_features(signals: torch.Tensor, representation: str
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """The features of :func:`network_inputs` computed in real arithmetic (what
    inference uses: ~3× faster on a CPU than the complex path, same values).

    Parameters
    ----------
    signals
        complex (B, s) in the model's basis.
    representation
        ``"real"`` or ``"real+imag"``.

    Returns
    -------
    features
        float32 (B, s) or (B, 2s).
    norms
        float32 (B,): ``||x||``.
    """
    import torch

    pairs = torch.view_as_real(signals)  # (B, s, 2)
    real, imag = pairs[..., 0], pairs[..., 1]
    norms = pairs.square().sum((1, 2)).sqrt()
    first_real, first_imag = real[:, :1], imag[:, :1]
    first_abs = torch.hypot(first_real, first_imag)
    # Multiplying by conj(x0) / (|x0| ||x||) aligns and normalises in one step; voxels
    # with x0 = 0 stay unrotated, as in phase_align.
    nonzero = first_abs > 0
    denominator = torch.where(nonzero, first_abs, torch.ones_like(first_abs)) * torch.where(
        norms > 0, norms, torch.ones_like(norms))[:, None]
    cos = torch.where(nonzero, first_real, torch.ones_like(first_real)) / denominator
    sin = torch.where(nonzero, first_imag, torch.zeros_like(first_imag)) / denominator
    aligned_real = real * cos + imag * sin
    if representation == "real":
        return aligned_real, norms
    if representation == "real+imag":
        return torch.cat([aligned_real, imag * cos - real * sin], dim=1), norms
    raise ValueError(f"unknown input representation {representation!r}")


def fit_decoded(signals: torch.Tensor, norms: torch.Tensor, decoder_output: torch.Tensor,
                representation: str, phase_reference_rad: float
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Complex PD and fit residual of signals against their decoded atoms, in real
    arithmetic: :func:`pd_from_decoded` of :func:`decoded_atoms` without forming the
    complex atoms.

    With ``u`` the decoded unit-norm shape and ``ℓ`` the log-norm (``d̂ = u e^ℓ``),
    ``PD = <u, x> e^{-iθ_ref} e^{-ℓ}`` and the residual is
    ``sqrt(1 − |<u, x>|² / ||x||²)``.

    Parameters
    ----------
    signals
        complex (B, s) in the model's basis.
    norms
        float32 (B,): ``||x||`` (from :func:`network_features`).
    decoder_output
        (B, in_features + 1): shape values and log-norm.
    """
    import cmath

    import torch

    pairs = torch.view_as_real(signals)
    real, imag = pairs[..., 0], pairs[..., 1]
    shape_values, log_norm = decoder_output[:, :-1], decoder_output[:, -1]
    length = shape_values.square().sum(1).sqrt().clamp_min(1e-12)
    if representation == "real":
        inner_real = (shape_values * real).sum(1)
        inner_imag = (shape_values * imag).sum(1)
    else:
        half = shape_values.shape[1] // 2
        u_real, u_imag = shape_values[:, :half], shape_values[:, half:]
        inner_real = (u_real * real + u_imag * imag).sum(1)
        inner_imag = (u_real * imag - u_imag * real).sum(1)
    scale = 1.0 / length
    inner_real, inner_imag = inner_real * scale, inner_imag * scale
    energy = norms.square()
    left = (1 - (inner_real.square() + inner_imag.square())
            / energy.clamp_min(1e-30)).clamp_min(0)
    residual = torch.where(energy > 0, left.sqrt(), torch.zeros_like(left))
    rotation = cmath.exp(-1j * phase_reference_rad)
    amplitude = (-log_norm).exp()
    pd = torch.complex(inner_real * amplitude, inner_imag * amplitude) * rotation
    return pd, residual


def decoded_atoms(decoder_output: torch.Tensor, representation: str) -> torch.Tensor:
    """Decoder output (B, in_features + 1) → complex atoms (B, s) for M0 = 1, in the
    model's reference frame (see :func:`atoms_in_reference_frame`): the unit-norm shape
    times ``exp(log-norm)``."""
    import torch

    shape_values, log_norm = decoder_output[:, :-1], decoder_output[:, -1]
    # The norm of [Re, Im] is the norm of the complex shape.
    length = shape_values.square().sum(1).sqrt().clamp_min(1e-12)
    scaled = shape_values * (log_norm.exp() / length)[:, None]
    if representation == "real":
        return torch.complex(scaled, torch.zeros_like(scaled))
    half = scaled.shape[1] // 2
    return torch.complex(scaled[:, :half], scaled[:, half:])


def atoms_in_reference_frame(atoms: torch.Tensor, phase_reference_rad: float) -> torch.Tensor:
    """``a · exp(-i θ_ref)``: the frame the decoders generate atoms in.  For FISP the
    atoms share one phase (mod π), so in that frame they are real, with signs."""
    import cmath

    return atoms * complex(cmath.exp(-1j * phase_reference_rad))


def decoder_targets(atoms: torch.Tensor, norms: torch.Tensor, representation: str,
                    phase_reference_rad: float) -> torch.Tensor:
    """(N, in_features + 1): the unit-norm atoms in the reference frame (real parts, or
    real and imaginary parts) and the log of their norms."""
    import torch

    unit = atoms_in_reference_frame(atoms, phase_reference_rad) / norms.clamp_min(1e-30)[:, None]
    parts = [unit.real] if representation == "real" else [unit.real, unit.imag]
    return torch.cat([*parts, norms.clamp_min(1e-30).log()[:, None]], dim=1)


def pd_from_decoded(
    signals: torch.Tensor, atoms: torch.Tensor, phase_reference_rad: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Complex proton density and fit residual from decoded atoms.

    ``PD = <d̂, y> / ||d̂||²`` with ``y = x · exp(-i θ_ref)`` the signal in the decoder's
    frame, which is DM's ``PD = <x, a> / ||a||²`` for a decoded atom equal to the true
    one; the residual is ``||y − PD d̂|| / ||y||`` (0: perfect fit; ≤ 1 always).
    """

    frame = atoms_in_reference_frame(signals, phase_reference_rad)
    energy = row_norms(atoms).square().clamp_min(1e-30)
    fit = (atoms.conj() * frame).sum(1) / energy
    signal_energy = row_norms(frame).square()
    # Least squares: ||y − PD d̂||² = ||y||² − |PD|² ||d̂||².
    left = (signal_energy - fit.abs().square() * energy).clamp_min(0)
    return fit, (left / signal_energy.clamp_min(1e-30)).sqrt()


def row_norms(values: torch.Tensor) -> torch.Tensor:
    """Euclidean norm of each row of a (B, s) tensor (complex norms through a real view,
    ~30× faster on a CPU than ``torch.linalg.vector_norm`` of a complex tensor)."""
    if values.is_complex():
        import torch

        return torch.view_as_real(values).square().sum((1, 2)).sqrt()
    return values.square().sum(1).sqrt()


def reference_phase(atoms: np.ndarray) -> tuple[float, float]:
    """The atoms' common phase modulo π (rad) and the largest imaginary fraction
    ``||Im(a e^{-iθ})|| / ||a||`` left in that frame (≈ 0 when all atoms are real up to
    that one phase and a sign, as for FISP with zero RF phase).

    The phase is taken from the first coefficients (largest singular value), averaged
    on doubled angles so that a sign flip does not count as a different phase.
    """
    atoms = np.asarray(atoms)
    first = atoms[:, 0]
    keep = np.abs(first) > 0
    if not keep.any():
        return 0.0, math.inf
    doubled = np.exp(2j * np.angle(first[keep]))
    phase = float(np.angle(np.mean(doubled)) / 2)
    rotated = atoms * np.exp(-1j * phase)
    norms = np.linalg.norm(atoms, axis=1)
    fraction = np.linalg.norm(rotated.imag, axis=1) / np.where(norms > 0, norms, 1.0)
    return phase, float(fraction.max())


# ------------------------------------------------------------------ output range


class OutputBounds:
    """The training grid's T1 × T2 rectangle in a model's scaled-target space.

    Parameters
    ----------
    manifest
        The model's manifest; its ``grid`` gives ``t1_extent_ms`` and ``t2_extent_ms``
        (or, for older manifests, the first two values of ``t1_range_ms`` and
        ``t2_range_ms``).
    device
        Where the bounds live.

    Raises
    ------
    ValueError
        When the manifest records no T1/T2 extent of its grid.
    """

    def __init__(self, manifest: ModelManifest, device: Any) -> None:
        import torch

        self.t1_ms, self.t2_ms = training_range_ms(manifest)
        low = manifest.target_scaling.encode(torch.tensor([self.t1_ms[0]]),
                                             torch.tensor([self.t2_ms[0]]))
        high = manifest.target_scaling.encode(torch.tensor([self.t1_ms[1]]),
                                              torch.tensor([self.t2_ms[1]]))
        self.low = low[0].to(device=device, dtype=torch.float32)
        self.high = high[0].to(device=device, dtype=torch.float32)

    def clamp(self, outputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Scaled targets (B, 2) clamped into the rectangle, and bool (B,): whether T1 or
        T2 had to be moved (NaN outputs are left as they are and flagged)."""
        import torch

        clamped = torch.maximum(torch.minimum(outputs, self.high), self.low)
        moved = ((clamped != outputs) | outputs.isnan()).any(dim=1)
        return clamped, moved

    def describe(self) -> dict[str, list[float]]:
        return {"t1_ms": list(self.t1_ms), "t2_ms": list(self.t2_ms)}


def training_range_ms(manifest: ModelManifest) -> tuple[tuple[float, float], ...]:
    """((T1 min, T1 max), (T2 min, T2 max)) in ms of the grid a model was trained on."""
    grid = manifest.grid or {}
    ranges = []
    for name in ("t1", "t2"):
        extent = grid.get(f"{name}_extent_ms") or (grid.get(f"{name}_range_ms") or [])[:2]
        if len(extent) != 2 or not all(math.isfinite(float(v)) for v in extent):
            raise ValueError(
                f"the {manifest.label} model for {manifest.sequence_name} records no "
                f"{name.upper()} range of its training grid (manifest 'grid'); train it again"
            )
        ranges.append((float(min(extent)), float(max(extent))))
    return tuple(ranges)


# ------------------------------------------------------------------- running a model


@dataclass
class NetworkEstimates:
    """Per-voxel results of a learned method (tensors on the compute device).

    Attributes
    ----------
    t1_ms, t2_ms
        float32 (V,) in ms.
    pd
        (V,) proton density for the voxel's signal scale, complex when the method knows
        its phase.
    residual
        float32 (V,) ``||x − PD d̂|| / ||x||`` of the fitted fingerprint, or ``None``.
    out_of_range
        bool (V,): the network's T1 or T2 lay outside the training grid and was clamped
        to its edge (see :class:`OutputBounds`), or ``None``.
    bounds
        The T1 and T2 range (ms) the estimates were clamped to, or ``None``.
    """

    t1_ms: torch.Tensor
    t2_ms: torch.Tensor
    pd: torch.Tensor
    residual: torch.Tensor | None = None
    out_of_range: torch.Tensor | None = None
    bounds: dict[str, list[float]] | None = None


class EncoderDecoderPredictor:
    """A loaded encoder–decoder model (MRFResnet, KM) on a device.

    Subclasses call this ``__init__``, build their network, and implement
    :meth:`encode_features` (network input → scaled targets) and :meth:`decode_targets`
    (scaled targets → shape values and log-norm).
    """

    label = "model"

    def __init__(self, model: TrainedModel, device: Any) -> None:
        self.manifest = model.manifest
        self.scaling = model.manifest.target_scaling
        self.device = device
        self.bounds = OutputBounds(model.manifest, device)

    def encode_features(self, features: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def decode_targets(self, outputs: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def encode(self, signals: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Scaled targets (B, 2), clamped to the training range, and the normalised
        inputs (aligned, norms, phases)."""
        features, aligned, norms, phases = network_inputs(signals, self.manifest.input)
        return self.bounds.clamp(self.encode_features(features))[0], aligned, norms, phases

    def decode(self, outputs: torch.Tensor) -> torch.Tensor:
        """Scaled targets (B, 2) → complex phase-aligned atoms (B, s) for M0 = 1."""
        return decoded_atoms(self.decode_targets(outputs), self.manifest.input)

    def predict_ms(self, signals: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """T1, T2 (ms) of signals (B, s) in the model's basis."""
        import torch

        with torch.inference_mode():
            features = network_features(signals, self.manifest.input)[0]
            return self.scaling.decode(self.bounds.clamp(self.encode_features(features))[0])

    def estimate(self, signals: torch.Tensor, batch_size: int = DEFAULT_BATCH,
                 progress: Any = None) -> NetworkEstimates:
        """T1, T2, PD and fit residual of signals (V, s) in the model's basis; T1 and T2
        clamped to the training grid's range (``out_of_range`` flags the voxels)."""
        import torch

        count = int(signals.shape[0])
        t1 = torch.empty(count, device=self.device)
        t2 = torch.empty(count, device=self.device)
        pd = torch.empty(count, device=self.device, dtype=torch.complex64)
        residual = torch.empty(count, device=self.device)
        outside = torch.empty(count, device=self.device, dtype=torch.bool)
        bounds, representation = self.bounds, self.manifest.input
        with torch.inference_mode(), single_thread_on(self.device):
            for part in batched(count, batch_size):
                if progress is not None:
                    progress(part.start, count, f"{self.label}: voxel {part.start:,} of {count:,}")
                x = signals[part]
                features, norms = network_features(x, representation)
                outputs, outside[part] = bounds.clamp(self.encode_features(features))
                t1[part], t2[part] = self.scaling.decode(outputs)
                pd[part], residual[part] = fit_decoded(
                    x, norms, self.decode_targets(outputs), representation,
                    self.manifest.phase_reference_rad,
                )
        if progress is not None:
            progress(count, count, f"{self.label} done")
        return NetworkEstimates(t1, t2, pd, residual, outside, bounds.describe())

    def decoder_nrmse(self, outputs: torch.Tensor, clean_atoms: torch.Tensor) -> float:
        """NRMSE (%) of the fingerprints decoded from ``outputs`` against the clean atoms
        they should be: ``||d̂ − a|| / ||a||`` over the whole set (both in the model's
        reference frame, on the dictionary's scale, M0 = 1)."""
        import torch

        with torch.inference_mode():
            decoded = self.decode(outputs)
            reference = atoms_in_reference_frame(clean_atoms,
                                                 self.manifest.phase_reference_rad)
            error = row_norms(decoded - reference).square().sum().sqrt()
            return float(100 * error / row_norms(reference).square().sum().sqrt())


EXTRA_OUT_OF_RANGE = "Out of range"
"""Extra map of the learned methods: 1 where the network's T1 or T2 fell outside the
training grid and was clamped to its edge, 0 elsewhere (NaN outside the mask)."""

EXTRA_RESIDUAL = "Fit residual"
"""Extra map of the learned methods: ``||x − PD d̂|| / ||x||``, with d̂ the fingerprint
the method generates for its estimate (0 = perfect fit)."""


def run_learned_method(
    kind: str,
    inputs: InferenceInputs,
    options: Any,
    progress: Any,
    predictor_factory: Any,
) -> Any:
    """What the learned methods' ``run`` share: find the model, mask and project the
    voxels, estimate in batches, and build the maps.

    ``predictor_factory(model, device, dictionary)`` returns an object with
    ``estimate(signals, batch_size, progress) -> NetworkEstimates``; ``options`` has
    ``mask_threshold``, ``mask_method``, ``model_file`` and ``batch_size``.
    """
    import time

    from mrfcore import __version__
    from mrfcore.device import select_device
    from mrfcore.inference.common import maps_from_estimates, prepare_voxels

    started = time.perf_counter()
    model = model_for_inputs(kind, inputs, options.model_file)
    device = select_device(inputs.device)
    batch = prepare_voxels(inputs, options.mask_threshold, device, options.mask_method)
    signals, basis_note = to_model_basis(batch.signals, inputs.dictionary.basis, model.basis,
                                         str(model.manifest.grid.get("kind", "")))
    prepared = time.perf_counter()
    predictor = _predictor(predictor_factory, model, device, inputs.dictionary)
    estimates = predictor.estimate(signals, options.batch_size, progress)
    if device.type == "cuda":
        import torch

        torch.cuda.synchronize(device)
    finished = time.perf_counter()
    manifest = model.manifest
    extra = {}
    if estimates.residual is not None:
        extra[EXTRA_RESIDUAL] = (estimates.residual, "fraction of ||x||")
    range_note = {}
    if estimates.out_of_range is not None:
        flags = estimates.out_of_range
        extra[EXTRA_OUT_OF_RANGE] = (flags.float(), "1 = clamped to the training range")
        clamped = int(flags.sum())
        range_note = {"out_of_range": {
            "voxels_clamped": clamped,
            "fraction_clamped": round(clamped / max(int(flags.numel()), 1), 6),
            "training_range_ms": estimates.bounds,
        }}
    provenance = {
        "method": kind,
        "software_version": __version__,
        "device": str(device),
        "model_file": None if model.path is None else str(model.path),
        "model": {
            "kind": manifest.kind,
            "sequence_name": manifest.sequence_name,
            "sequence_hash": manifest.sequence_hash,
            "created_utc": manifest.created_utc,
            "software_version": manifest.software_version,
            "test_errors": manifest.test_errors.get("vs_truth"),
        },
        **basis_note,
        **range_note,
        "timings_s": {
            "prepare": round(prepared - started, 4),
            "estimate": round(finished - prepared, 4),
        },
    }
    return maps_from_estimates(batch, estimates.t1_ms, estimates.t2_ms, estimates.pd,
                               extra=extra, provenance=provenance)


_PREDICTORS: dict[tuple, Any] = {}


def _predictor(factory: Any, model: Any, device: Any, dictionary: Any) -> Any:
    """``factory(model, device, dictionary)``, remembered for the latest arguments (the
    same model object comes back from the model cache while its file is unchanged), so
    that running a method again skips building the network (~10 ms)."""
    key = (factory, id(model), str(device), id(dictionary))
    entry = _PREDICTORS.get(key)
    # The objects themselves are kept in the entry, so their ids cannot be reused.
    if entry is None or entry[0] is not model or entry[1] is not dictionary:
        _PREDICTORS.clear()
        entry = (model, dictionary, factory(model, device, dictionary))
        _PREDICTORS[key] = entry
    return entry[2]


@contextlib.contextmanager
def single_thread_on(device: Any) -> Iterator[None]:
    """Run torch on one CPU thread inside (no effect on a GPU).

    The encoder–decoders' layers (B × 10, B × 300) are too small to share between
    threads; on a busy machine a second thread only contends (measured here with other
    jobs running: MRFResnet on 40,000 voxels 0.3 s on one thread, 1.5–14 s on two).
    """
    import torch

    if getattr(device, "type", str(device)) != "cpu":
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def batched(count: int, size: int) -> list[slice]:
    """Slices of ``size`` covering ``range(count)``."""
    if size < 1:
        raise ValueError(f"batch size must be ≥ 1, got {size}")
    return [slice(start, min(start + size, count)) for start in range(0, count, size)]


class LearnedMethod:
    """What every learned inference method does alike; a subclass sets ``kind`` (the
    model kind in model manifests) and returns its predictor class from
    :meth:`predictor`."""

    kind: str

    @classmethod
    def available_for(cls, sequence_hash: str | None) -> bool:
        """Whether a trained model of this kind exists for the sequence (reads JSON only)."""
        from mrfcore.inference.models import model_available

        return model_available(cls.kind, sequence_hash)

    def predictor(self) -> type:
        raise NotImplementedError

    def run(self, inputs: InferenceInputs, options: Any, progress: Any) -> Any:
        return run_learned_method(self.kind, inputs, options, progress, self.predictor())
