"""Simulated multi-coil MRF raw data of a phantom.

The model, per coil c and frame t::

    y[c, t] = NUFFT_t( S_c · x_t ) + n,      x_t(v) = Σ_k f_k(v) · PD_k · B_k(t; B1(v))

with f_k the partial-volume fractions of the phantom's K compartments, B_k their EPG
fingerprints (M0 = 1, signal at TE) and n white complex Gaussian noise at the SNR of
:mod:`mrfcore.acquisition.coils`.

Fingerprints are simulated once per compartment, not per voxel.  With a B1 map, B1 is
rounded to steps of ``b1_step`` (default 0.01, so at most 0.5 % flip-angle error) and
each compartment is simulated at every level present in the object; a voxel uses the
fingerprint of its level.  Off-resonance is not modelled.

One NUFFT per frame, batched over coils, frames spread over threads
(:func:`mrfcore.nufft.map_parallel`).  A low-rank alternative (transform each
compartment image once per coil, at all frames' points, then mix with B_k(t)) was
measured here and was no faster: the brain has ~10 compartments, so it trades T·C
FFTs for ~10·T·C interpolations of the same cost each.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mrfcore.acquisition.coils import (
    add_noise,
    birdcage_sensitivities,
    noise_sd_for_snr,
    object_mask,
    smooth_b1_map,
)
from mrfcore.data import KSpaceData
from mrfcore.progress import Progress, ProgressCallback, ensure_progress

if TYPE_CHECKING:
    from mrfcore.acquisition.trajectories import Trajectory
    from mrfcore.phantoms import Phantom
    from mrfcore.sequences import Sequence

__all__ = [
    "ScanRecipe",
    "TissueSignalModel",
    "simulate_recipe",
    "simulate_scan",
    "tissue_signal_model",
]

_FRAMES_PER_BLOCK = 32  # frames between progress reports / cancellation checks

# Accuracy of the simulation's forward NUFFT.  The data are complex64 (float32 cannot
# resolve much below 1e-6 anyway) and carry noise, so finufft's 1e-6 on a 2× grid was
# more than needed: per frame only ~1500 points are sampled, so the (2N)² FFTs
# dominated.  eps 1e-4 on a 1.25× grid halved the transform's CPU time (8.7 → 4.7 ms per
# frame of 8 coils, 200², demo spiral).  Against a float64 transform at eps 1e-12 on
# the demo brain (every 9th frame, 8 coils) the relative L2 error went from 4.8e-6
# (eps 1e-6, 2×) to 1.2e-5; its RMS is 1.6e-3 of the noise SD at SNR 50 (largest single
# error 5 % of the noise SD), so the noisy data are statistically the same.  (eps 1e-5
# with 1.25, no slower, makes finufft 2.5 narrow its kernel and print a warning per call.)
_SIMULATION_EPS = 1e-4
_SIMULATION_UPSAMPFAC = 1.25


@dataclass
class TissueSignalModel:
    """The noise-free TSMI of a phantom in compact form.

    ``x_t(v) = Σ_k weights[k, v] · fingerprints[k, level_index[v], t]``.

    Attributes
    ----------
    fingerprints
        complex64 (K, L, T): compartment k at B1 level l (M0 = 1).
    weights
        float32 (K, nx, ny): partial-volume fraction × proton density.
    level_index
        int32 (nx, ny): each voxel's B1 level.
    b1_levels
        float64 (L,): the B1 scale of each level.
    """

    fingerprints: np.ndarray
    weights: np.ndarray
    level_index: np.ndarray
    b1_levels: np.ndarray

    @property
    def n_frames(self) -> int:
        return int(self.fingerprints.shape[2])

    @property
    def matrix(self) -> tuple[int, int]:
        return tuple(self.weights.shape[1:])  # type: ignore[return-value]

    def frames(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """TSMI frames ``start … stop-1``, complex64 (frames, nx, ny)."""
        stop = self.n_frames if stop is None else stop
        return self._combine(self.fingerprints[:, :, start:stop])

    def frame(self, index: int) -> np.ndarray:
        """One TSMI frame, complex64 (nx, ny)."""
        return self._combine(self.fingerprints[:, :, index : index + 1])[0]

    def subspace(self, basis: np.ndarray) -> np.ndarray:
        """The TSMI projected on a temporal basis V (T, s): ``V^H x``, complex64 (s, nx, ny).

        Exact and cheap: the projection is applied to the K·L fingerprints only.
        """
        basis = np.asarray(basis)
        if basis.shape[0] != self.n_frames:
            raise ValueError(f"basis has {basis.shape[0]} frames but the TSMI has {self.n_frames}")
        projected = np.einsum("klt,ts->kls", self.fingerprints, basis.conj())
        return self._combine(projected.astype(np.complex64))

    def time_average(self) -> np.ndarray:
        """Mean over frames of the TSMI, complex64 (nx, ny)."""
        mean = self.fingerprints.mean(axis=2, keepdims=True)
        return self._combine(mean.astype(np.complex64))[0]

    def _combine(self, values: np.ndarray) -> np.ndarray:
        # values: (K, L, n) → (n, nx, ny), gathering each voxel's B1 level.
        n = values.shape[2]
        out = np.zeros((n, *self.matrix), dtype=np.complex64)
        single_level = values.shape[1] == 1
        for k in range(values.shape[0]):
            if single_level:
                out += values[k, 0][:, None, None] * self.weights[k][None]
            else:
                out += values[k].T[:, self.level_index] * self.weights[k][None]
        return out


@contextlib.contextmanager
def _single_torch_thread_for_small_cpu_work(device: Any, n_atoms: int) -> Iterator[None]:
    """Run a few dozen EPG atoms on one torch thread.

    Tensors of ~10 atoms are far too small to split, and torch's intra-op threads then
    only wait on each other: measured here, 11 atoms × 880 frames took 0.05 s CPU on
    one thread against 0.6 s CPU and 2–30 s wall on two (the more so when other
    programs share the cores).  The setting is process-wide, so it is restored after.
    """
    import torch

    from mrfcore.device import select_device

    if select_device(device).type != "cpu" or n_atoms > 1024:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def tissue_signal_model(
    phantom: Phantom,
    sequence: Sequence,
    b1_map: np.ndarray | None = None,
    b1_step: float = 0.01,
    device: Any = None,
    progress: Progress | ProgressCallback | None = None,
) -> TissueSignalModel:
    """EPG fingerprints of the phantom's compartments (at the B1 levels present).

    Compartments without proton density or without any voxel are left out.
    """
    from mrfcore.simulation import simulate_fingerprints

    weights = phantom.fractions * phantom.tissue_pd.astype(np.float32)[:, None, None]
    keep = np.flatnonzero((phantom.tissue_pd > 0) & (weights.reshape(len(weights), -1).max(1) > 0))
    if keep.size == 0:
        raise ValueError(f"phantom '{phantom.name}' has no compartment with signal")
    weights = weights[keep]
    if b1_map is None:
        levels = np.ones(1)
        level_index = np.zeros(phantom.geometry.matrix, dtype=np.int32)
    else:
        b1_map = np.asarray(b1_map, dtype=np.float64)
        if b1_map.shape != tuple(phantom.geometry.matrix):
            raise ValueError(
                f"the B1 map has shape {b1_map.shape}, the phantom {phantom.geometry.matrix}"
            )
        if not b1_step > 0:
            raise ValueError(f"b1_step must be > 0, got {b1_step}")
        steps = np.round(b1_map / b1_step).astype(np.int64)
        present = np.unique(steps[weights.max(axis=0) > 0])
        levels = present * b1_step
        if np.any(levels < 0):
            raise ValueError("the B1 map is negative inside the object")
        # Voxels outside the object keep index 0: their weights are zero anyway.
        level_index = np.clip(np.searchsorted(present, steps), 0, len(present) - 1)
        level_index = level_index.astype(np.int32)
    t1 = np.repeat(phantom.tissue_t1_ms[keep], len(levels))
    t2 = np.repeat(phantom.tissue_t2_ms[keep], len(levels))
    b1 = np.tile(levels, len(keep))
    with _single_torch_thread_for_small_cpu_work(device, t1.size):
        signals = simulate_fingerprints(sequence, t1, t2, b1=b1, device=device, progress=progress)
    fingerprints = signals.cpu().numpy().astype(np.complex64)
    return TissueSignalModel(
        fingerprints=fingerprints.reshape(len(keep), len(levels), sequence.n_frames),
        weights=np.ascontiguousarray(weights, dtype=np.float32),
        level_index=level_index,
        b1_levels=levels.astype(np.float64),
    )


def simulate_scan(
    phantom: Phantom,
    sequence: Sequence,
    trajectory: Trajectory,
    *,
    coils: int = 8,
    snr: float | None = 50.0,
    seed: int = 0,
    b1_map: np.ndarray | None = None,
    b1_step: float = 0.01,
    coil_sensitivities: np.ndarray | None = None,
    signal_model: TissueSignalModel | None = None,
    device: Any = None,
    progress: Progress | ProgressCallback | None = None,
) -> KSpaceData:
    """Simulate the multi-coil raw data of an MRF scan of a phantom.

    Parameters
    ----------
    phantom
        A :class:`mrfcore.phantoms.Phantom` (square matrix N × N).
    sequence
        The MRF schedule; its frame count must match the trajectory's.
    trajectory
        Sampling positions (:mod:`mrfcore.acquisition.trajectories`) for the phantom's
        matrix and FOV.
    coils
        Number of birdcage receive coils (ignored when ``coil_sensitivities`` is given).
    snr
        Per-frame image SNR as defined in :mod:`mrfcore.acquisition.coils`; None or
        ``inf`` for noise-free data.
    seed
        Seed of the noise (the only random part of the simulation).
    b1_map
        Optional transmit-field scale (nx, ny), see :func:`tissue_signal_model`.
    coil_sensitivities
        complex (coils, nx, ny) maps to use instead of birdcage ones.
    signal_model
        The phantom's :func:`tissue_signal_model` for this sequence (and B1 map), when
        already computed (several scans of one phantom); ``b1_map`` is then only
        recorded, not applied again.
    device
        Device for the EPG simulation.
    progress
        Progress reporter; raises :class:`~mrfcore.progress.Cancelled` when stopped.

    Returns
    -------
    KSpaceData
        samples complex64 (coils, frames, interleaves, readout), the trajectory, the
        sequence, the phantom's geometry and ground truth; ``metadata`` holds
        ``"trajectory"`` (design summary), ``"simulation"`` (SNR, noise SD, mean signal,
        seed, phantom ...), ``"coil_sensitivities"``, ``"b1_map"`` (or None) and
        ``"noise_samples"`` (complex64 (coils, readout) noise-only readout, or None).
    """
    from mrfcore import __version__, nufft

    progress = ensure_progress(progress)
    matrix = tuple(phantom.geometry.matrix)
    if tuple(trajectory.matrix) != matrix:
        raise ValueError(
            f"the trajectory is for a {trajectory.matrix} matrix, the phantom is {matrix}"
        )
    fov = phantom.geometry.fov_mm
    if any(abs(f - trajectory.fov_mm) > 1e-3 * trajectory.fov_mm for f in fov):
        raise ValueError(
            f"the trajectory is for a {trajectory.fov_mm:g} mm FOV, the phantom's is {fov} mm"
        )
    if trajectory.n_frames != sequence.n_frames:
        raise ValueError(
            f"the trajectory has {trajectory.n_frames} frames, sequence "
            f"'{sequence.name}' has {sequence.n_frames}"
        )
    if snr is not None and not (snr > 0):
        raise ValueError(f"SNR must be > 0 (or None for no noise), got {snr}")
    if coil_sensitivities is None:
        sensitivities = birdcage_sensitivities(coils, matrix)
    else:
        sensitivities = np.asarray(coil_sensitivities, dtype=np.complex64)
        if sensitivities.ndim != 3 or sensitivities.shape[1:] != matrix:
            raise ValueError(
                f"coil sensitivities must have shape (coils, {matrix[0]}, {matrix[1]}), "
                f"got {sensitivities.shape}"
            )
    n_coils = sensitivities.shape[0]
    timings: dict[str, float] = {}

    start = time.perf_counter()
    if signal_model is None:
        model = tissue_signal_model(
            phantom, sequence, b1_map, b1_step, device, progress.stage(0.0, 0.1, "EPG")
        )
    else:
        model = signal_model
        if model.n_frames != sequence.n_frames or model.matrix != matrix:
            raise ValueError(
                f"the signal model has {model.n_frames} frames on a {model.matrix} matrix; "
                f"the scan needs {sequence.n_frames} on {matrix}"
            )
    timings["epg_s"] = time.perf_counter() - start

    start = time.perf_counter()
    mask = object_mask(phantom.pd_map())
    n_frames, n_interleaves, n_readout = trajectory.coords.shape[:3]
    samples = np.empty((n_coils, n_frames, n_interleaves, n_readout), dtype=np.complex64)
    frame_means = np.empty(n_frames)
    coords = trajectory.coords

    def transform(frame: int) -> None:
        image = model.frame(frame)
        frame_means[frame] = np.abs(image[mask]).mean()
        values = nufft.forward(
            sensitivities * image[None],
            coords[frame].reshape(-1, 2),
            eps=_SIMULATION_EPS,
            upsampfac=_SIMULATION_UPSAMPFAC,
        )
        samples[:, frame] = values.reshape(n_coils, n_interleaves, n_readout)

    stage = progress.stage(0.1, 0.97, "NUFFT")
    for block in range(0, n_frames, _FRAMES_PER_BLOCK):
        frames = range(block, min(block + _FRAMES_PER_BLOCK, n_frames))
        stage(block, n_frames, f"frames {block + 1}–{frames[-1] + 1} of {n_frames}")
        nufft.map_parallel(transform, frames)
    stage(n_frames, n_frames, "done")
    timings["nufft_s"] = time.perf_counter() - start

    start = time.perf_counter()
    mean_signal = float(frame_means.mean())
    noise_sd = 0.0
    noise_samples = None
    if snr is not None and np.isfinite(snr):
        noise_sd = noise_sd_for_snr(mean_signal, snr)
        rng = np.random.default_rng(seed)
        add_noise(samples, noise_sd, rng)
        # A separate noise-only readout, as scanners record before imaging (for
        # noise statistics / prewhitening downstream).
        noise_samples = add_noise(np.zeros((n_coils, n_readout), np.complex64), noise_sd, rng)
    timings["noise_s"] = time.perf_counter() - start
    progress(1000, 1000, "scan simulated")

    return KSpaceData(
        samples=samples,
        trajectory=trajectory.coords,
        sequence=sequence,
        geometry=phantom.geometry,
        ground_truth=phantom.ground_truth(),
        metadata={
            "trajectory": trajectory.describe(),
            "field_strength_t": phantom.references.get("field_strength_t"),
            "simulation": {
                "phantom": phantom.name,
                "coils": n_coils,
                "snr": None if snr is None or not np.isfinite(snr) else float(snr),
                "snr_definition": "mean |TSMI| over object and frames / k-space noise SD",
                "noise_sd": noise_sd,
                "mean_signal": mean_signal,
                "seed": int(seed),
                "b1_step": float(b1_step) if b1_map is not None else None,
                "b1_levels": len(model.b1_levels),
                "compartments": int(model.fingerprints.shape[0]),
                "software": f"mrf-studio {__version__}",
                "timings": timings,
            },
            "coil_sensitivities": sensitivities,
            "noise_samples": noise_samples,
            "b1_map": None if b1_map is None else np.asarray(b1_map, dtype=np.float32),
        },
    )


@dataclass(frozen=True)
class ScanRecipe:
    """Everything that defines a simulated phantom scan (CLI, demo, benchmark).

    ``sequence`` is a built-in name or a schedule file; ``te_ms`` overrides its TE.
    ``b1_amplitude`` > 0 adds :func:`~mrfcore.acquisition.coils.smooth_b1_map`.
    ``snr`` None means noise-free.
    """

    phantom: str = "brain"
    sequence: str = "ir-ramp-880"
    te_ms: float | None = None
    trajectory: str = "spiral"
    interleaves: int = 1
    ordering: str = "golden"
    n_rotations: int | None = None
    matrix: int = 200
    fov_mm: float = 200.0
    coils: int = 8
    snr: float | None = 50.0
    seed: int = 0
    field_strength_t: float = 1.5
    b1_amplitude: float = 0.0

    def content_hash(self) -> str:
        """16 hex digits identifying the recipe (the sequence by its physics)."""
        from mrfcore.sequences import load_sequence

        values = asdict(self)
        values["sequence"] = load_sequence(self.sequence, te_ms=self.te_ms).content_hash()
        text = json.dumps(values, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def simulate_recipe(
    recipe: ScanRecipe,
    device: Any = None,
    progress: Progress | ProgressCallback | None = None,
) -> KSpaceData:
    """Build the phantom, sequence and trajectory of a recipe and simulate the scan."""
    from mrfcore.acquisition.trajectories import make_trajectory
    from mrfcore.phantoms import PHANTOMS
    from mrfcore.sequences import load_sequence

    try:
        factory = PHANTOMS[recipe.phantom]
    except KeyError:
        raise ValueError(
            f"no phantom named {recipe.phantom!r}; phantoms: {sorted(PHANTOMS)}"
        ) from None
    phantom = factory(
        matrix=recipe.matrix, fov_mm=recipe.fov_mm, field_strength_t=recipe.field_strength_t
    )
    sequence = load_sequence(recipe.sequence, te_ms=recipe.te_ms)
    trajectory = make_trajectory(
        recipe.trajectory,
        sequence.n_frames,
        matrix=recipe.matrix,
        fov_mm=recipe.fov_mm,
        interleaves=recipe.interleaves,
        ordering=recipe.ordering,
        n_rotations=recipe.n_rotations,
    )
    b1_map = (
        smooth_b1_map(phantom.geometry.matrix, recipe.b1_amplitude)
        if recipe.b1_amplitude > 0
        else None
    )
    data = simulate_scan(
        phantom,
        sequence,
        trajectory,
        coils=recipe.coils,
        snr=recipe.snr,
        seed=recipe.seed,
        b1_map=b1_map,
        device=device,
        progress=progress,
    )
    data.metadata["recipe"] = asdict(recipe)
    data.metadata["recipe_hash"] = recipe.content_hash()
    return data
