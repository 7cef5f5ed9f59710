"""The papers' in-silico table end to end: simulated brain scan → reconstruction → inference.

For each trajectory (spiral, radial) the BrainWeb brain slice is scanned in silico with
the ``ir-ramp-880`` schedule (TE 0.46 ms spiral, 2.08 ms radial, one interleaf per
frame), every chosen reconstruction method is run once, and every chosen inference
method on each reconstruction; the maps are compared with the ground truth.  Methods come
from the registries only; one that is not registered, or cannot run for the sequence
(e.g. a network with no trained model for it), is reported as an "n/a (reason)" row.

Set-up, as close to the papers' in-silico experiment as we know it
-----------------------------------------------------------------
- Phantom: :func:`mrfcore.phantoms.brain_phantom`, 200 × 200 over 200 mm, BrainWeb's
  1.5 T relaxation values (inside the paper grid; skull and vessels have no signal).
  By default one tissue per voxel (the dominant label; BrainWeb's discrete model, as the
  papers simulated it); ``--partial-volume`` keeps the area fractions at boundaries.
- Noise: complex Gaussian at ``--snr`` (default 50) in the convention of
  :mod:`mrfcore.acquisition.coils` (mean |TSMI| over the object and frames / k-space
  noise SD).  The papers' own noise level is not restated here: treat the SNR as ours.
- Single coil (``--coils``: birdcage coils, sensitivities estimated by each method).
- Dictionary: ``grid_preset("paper")`` (113,781 atoms), rank 10, one per TE.

Metrics (:mod:`mrfcore.analysis.metrics`)
----------------------------------------
- Evaluation mask: voxels whose true T1 and T2 are > 0, i.e. every labelled tissue with
  signal (background, skull and vessels excluded: BrainWeb gives them no proton
  density).  ``--region brain`` keeps CSF, grey and white matter only.  A voxel the
  method left out (NaN) counts as a 100 % error.
- T1, T2: MAPE over the mask.
- PD: arbitrary units, so the estimate is first scaled by the least-squares factor
  ``c = <pd_est, pd_true> / <pd_est, pd_est>`` over the mask; then NRMSE over the mask.
- TSMI: PSNR of the reconstruction's subspace images (all s components, whole field of
  view) against the exact noise-free subspace TSMI ``V^H x`` of the phantom, peak
  = max |V^H x|.  The papers do not say how their PSNR was normalised and their values
  (8–15 dB) are on another scale: compare differences between methods, not levels.
- Orderings (:func:`paper_orderings`): "better" means lower T1 *and* T2 MAPE; "≈ DM"
  means within 25 % (or 1 point) of DM's T1 and T2 MAPE on the same reconstruction.

Times are single wall-clock runs (recon: the whole ``run`` including coil maps, density
and kernel builds; inference: the whole ``run``), not medians.
"""

from __future__ import annotations

import argparse
import math
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from mrfcore.acquisition import TissueSignalModel
    from mrfcore.data import GroundTruth, ImageSeries, QuantitativeMaps
    from mrfcore.phantoms import Phantom
    from mrfcore.progress import Progress

__all__ = [
    "PAPER_TABLE",
    "MapErrors",
    "PipelineConfig",
    "PipelineRow",
    "add_arguments",
    "crisp_phantom",
    "evaluation_mask",
    "map_errors",
    "paper_orderings",
    "quick_config",
    "run",
    "run_benchmark",
    "tsmi_psnr",
]

SEQUENCE = "ir-ramp-880"
# Echo times of the papers' in-silico scans (ms): spiral readouts start at the centre
# of k-space, radial spokes reach it half-way through.
TRAJECTORY_TE_MS = {"spiral": 0.46, "radial": 2.08}
REGIONS = {
    "head": "every tissue with signal (true T1, T2 > 0)",
    "brain": "CSF, grey and white matter (true T1, T2 > 0)",
}
_BRAIN_TISSUES = ("CSF", "grey matter", "white matter")

# Golbabaee et al. (LRTV + MRFResnet), in-silico brain, single coil: (T1 MAPE %,
# T2 MAPE %, PD NRMSE %, TSMI PSNR dB) for spiral and radial (DESIGN.md).
PAPER_TABLE: dict[tuple[str, str], dict[str, tuple[float, float, float, float]]] = {
    ("zf", "dm"): {"spiral": (5.2, 12.6, 29.9, 11.4), "radial": (13.8, 47.6, 50.1, 8.6)},
    ("zf", "mrfresnet"): {"spiral": (5.5, 12.1, 49.5, 11.4), "radial": (15.6, 51.4, 60.7, 8.6)},
    ("vs", "mrfresnet"): {"spiral": (8.6, 46.0, 33.2, 14.0), "radial": (11.3, 48.4, 37.8, 13.1)},
    ("lr", "mrfresnet"): {"spiral": (7.7, 12.7, 25.8, 13.6), "radial": (11.6, 20.7, 30.6, 12.6)},
    ("lrtv", "dm"): {"spiral": (3.2, 9.6, 12.2, 14.8), "radial": (3.9, 11.0, 18.4, 14.6)},
    ("lrtv", "km"): {"spiral": (3.4, 33.0, 23.2, 14.8), "radial": (4.3, 36.2, 31.8, 14.6)},
    ("lrtv", "mrfresnet"): {
        "spiral": (3.2, 9.7, 12.3, 14.8),
        "radial": (4.0, 11.1, 18.8, 14.6),
    },
}


@dataclass(frozen=True)
class PipelineConfig:
    """What the benchmark simulates and runs.

    ``frames`` keeps only the first frames of the schedule (None: all 880);
    ``method_options`` maps a method name to ``name=value`` option strings.
    """

    trajectories: tuple[str, ...] = ("spiral", "radial")
    recon: tuple[str, ...] = ("zf", "lr", "vs", "lrtv")
    inference: tuple[str, ...] = ("dm", "mrfresnet", "km")
    matrix: int = 200
    fov_mm: float = 200.0
    frames: int | None = None
    grid: str = "paper"
    rank: int = 10
    coils: int = 1
    snr: float | None = 50.0
    seed: int = 0
    device: str = "auto"
    region: str = "head"
    partial_volume: bool = False
    per_tissue: bool = False
    method_options: dict[str, tuple[str, ...]] = field(default_factory=dict)


def quick_config(**changes: Any) -> PipelineConfig:
    """A small configuration for tests and smoke runs: 64 × 64, 200 frames, coarse grid."""
    return replace(PipelineConfig(matrix=64, frames=200, grid="coarse"), **changes)


@dataclass
class MapErrors:
    """Errors of one set of maps against the truth (percent), and the PD scale fitted."""

    t1_mape: float
    t2_mape: float
    pd_nrmse: float
    pd_scale: float
    n_voxels: int


@dataclass
class PipelineRow:
    """One line of the table; metrics are NaN where the pipeline did not run.

    ``status`` is ``"ok"``, ``"n/a (reason)"`` (not registered / not available for the
    sequence) or ``"failed (error)"`` (an unexpected error, also printed in full).
    """

    trajectory: str
    recon: str
    inference: str
    status: str
    t1_mape: float = math.nan
    t2_mape: float = math.nan
    pd_nrmse: float = math.nan
    tsmi_psnr: float = math.nan
    recon_s: float = math.nan
    inference_s: float = math.nan
    per_tissue: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


# ------------------------------------------------------------------------ evaluation


def crisp_phantom(phantom: Phantom) -> Phantom:
    """The phantom with one tissue per voxel: its dominant label at full fraction."""
    import numpy as np

    fractions = np.zeros_like(phantom.fractions)
    for k in range(phantom.n_compartments):
        fractions[k] = phantom.labels == k + 1
    return replace(
        phantom,
        fractions=fractions,
        references={**phantom.references, "partial_volume": "none (dominant label per voxel)"},
    )


def evaluation_mask(truth: GroundTruth, region: str = "head") -> np.ndarray:
    """bool (nx, ny): the voxels the errors are computed over (see :data:`REGIONS`)."""
    import numpy as np

    if region not in REGIONS:
        raise ValueError(f"region must be one of {sorted(REGIONS)}, got {region!r}")
    mask = (truth.t1_ms > 0) & (truth.t2_ms > 0)
    if region == "brain":
        wanted = [v for v, name in truth.label_names.items() if name in _BRAIN_TISSUES]
        mask &= np.isin(truth.labels, wanted)
    if not mask.any():
        raise ValueError(f"the evaluation region {region!r} holds no voxel")
    return mask


def map_errors(maps: QuantitativeMaps, truth: GroundTruth, mask: np.ndarray) -> MapErrors:
    """T1/T2 MAPE and scale-fitted PD NRMSE (percent) of ``maps`` over ``mask``.

    PD is in arbitrary units: the estimate is scaled by the least-squares factor
    ``<pd, pd_true> / <pd, pd>`` over the mask first (voxels the method left out count
    as 0, for the fit and the error).
    """
    import numpy as np

    from mrfcore.analysis.metrics import mape, nrmse

    pd = np.nan_to_num(np.abs(np.asarray(maps.pd, dtype=np.float64)), nan=0.0)
    true_pd = np.asarray(truth.pd, dtype=np.float64)
    energy = float(np.sum(pd[mask] ** 2))
    scale = float(np.sum(pd[mask] * true_pd[mask]) / energy) if energy > 0 else 0.0
    return MapErrors(
        t1_mape=mape(maps.t1_ms, truth.t1_ms, mask),
        t2_mape=mape(maps.t2_ms, truth.t2_ms, mask),
        pd_nrmse=nrmse(scale * pd, true_pd, mask),
        pd_scale=scale,
        n_voxels=int(mask.sum()),
    )


def tissue_errors(
    maps: QuantitativeMaps, truth: GroundTruth, mask: np.ndarray
) -> dict[str, tuple[float, float]]:
    """(T1 MAPE %, T2 MAPE %) per tissue label inside ``mask``."""
    from mrfcore.analysis.metrics import mape

    result = {}
    for value, name in sorted(truth.label_names.items()):
        voxels = mask & (truth.labels == value)
        if value == 0 or not voxels.any():
            continue
        result[name] = (
            mape(maps.t1_ms, truth.t1_ms, voxels),
            mape(maps.t2_ms, truth.t2_ms, voxels),
        )
    return result


def tsmi_psnr(images: ImageSeries, signal_model: TissueSignalModel) -> float:
    """PSNR (dB) of reconstructed images against the phantom's noise-free TSMI.

    In the images' own subspace (``V^H x``, exact) when they have one, else frame by
    frame; all components and the whole field of view.
    """
    from mrfcore.analysis.metrics import psnr

    if images.in_subspace:
        truth = signal_model.subspace(images.basis)
    else:
        truth = signal_model.frames()
    return psnr(images.data, truth)


# ------------------------------------------------------------------------ the run


def _log_default(text: str) -> None:
    print(text, flush=True)


def _first_frames(sequence, n: int | None):
    if n is None or n >= sequence.n_frames:
        return sequence
    if n < 2:
        raise ValueError(f"--frames must be ≥ 2, got {n}")
    return sequence.replace(
        flip_angle_deg=sequence.flip_angle_deg[:n],
        tr_ms=sequence.tr_ms[:n],
        te_ms=sequence.te_ms[:n],
        phase_deg=sequence.phase_deg[:n],
        name=f"{sequence.name}[:{n}]",
    )


def _options_for(info, config: PipelineConfig):
    from mrfcore.cli._common import parse_method_options

    return parse_method_options(info, list(config.method_options.get(info.name, ())))


def _short_reason(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _registered(registry, names: Sequence[str]) -> dict[str, Any]:
    """name → MethodInfo, or an "n/a (...)" status for unregistered names."""
    available = registry.names()
    return {
        name: registry.get(name)
        if name in available
        else f"n/a (not registered; {registry.kind} methods: {', '.join(available) or 'none'})"
        for name in names
    }


def run_benchmark(
    config: PipelineConfig,
    progress: Progress | None = None,
    log: Callable[[str], None] = _log_default,
) -> list[PipelineRow]:
    """Simulate, reconstruct, infer and evaluate every chosen pipeline.

    Returns one :class:`PipelineRow` per (trajectory, recon, inference); ``log`` gets
    one line per step (set-up, dictionary, timings) and the tracebacks of failures.
    """
    from mrfcore.acquisition import make_trajectory, simulate_scan, tissue_signal_model
    from mrfcore.device import select_device
    from mrfcore.dictionary import grid_preset, load_or_build_dictionary
    from mrfcore.methods import INFERENCE, RECONSTRUCTION
    from mrfcore.phantoms import brain_phantom
    from mrfcore.progress import Progress
    from mrfcore.sequences import load_sequence

    progress = Progress() if progress is None else progress
    unknown = [t for t in config.trajectories if t not in TRAJECTORY_TE_MS]
    if unknown:
        raise ValueError(f"trajectories must be among {sorted(TRAJECTORY_TE_MS)}, got {unknown}")
    if config.region not in REGIONS:
        raise ValueError(f"region must be one of {sorted(REGIONS)}, got {config.region!r}")
    device = select_device(config.device)
    recon_methods = _registered(RECONSTRUCTION, config.recon)
    inference_methods = _registered(INFERENCE, config.inference)
    # Bad method options fail now, before minutes of simulation.
    recon_options = {
        n: _options_for(i, config) for n, i in recon_methods.items() if not isinstance(i, str)
    }
    inference_options = {
        n: _options_for(i, config) for n, i in inference_methods.items() if not isinstance(i, str)
    }

    phantom = brain_phantom(
        matrix=config.matrix,
        fov_mm=config.fov_mm,
        field_strength_t=1.5,
        relaxation_values="brainweb",
    )
    if not config.partial_volume:
        phantom = crisp_phantom(phantom)
    truth = phantom.ground_truth()
    mask = evaluation_mask(truth, config.region)
    log(
        f"phantom: brain {config.matrix}×{config.matrix} over {config.fov_mm:g} mm, BrainWeb "
        f"1.5 T values, {'partial volume' if config.partial_volume else 'one tissue per voxel'}"
        f"; evaluation region '{config.region}' ({REGIONS[config.region]}): "
        f"{int(mask.sum())} voxels"
    )
    snr_text = "none (noise-free)" if config.snr is None else f"{config.snr:g}"
    log(
        f"scan: {config.coils} coil(s), SNR {snr_text} (mean |TSMI| over the object / "
        f"k-space noise SD), noise seed {config.seed}; device {device}"
    )

    rows: list[PipelineRow] = []
    n_traj = len(config.trajectories)
    for t_index, kind in enumerate(config.trajectories):
        stage = progress.stage(t_index / n_traj, (t_index + 1) / n_traj, kind)
        sequence = _first_frames(
            load_sequence(SEQUENCE, te_ms=TRAJECTORY_TE_MS[kind]), config.frames
        )
        start = time.perf_counter()
        dictionary = load_or_build_dictionary(
            sequence,
            grid_preset(config.grid),
            config.rank,
            device=device,
            progress=stage.stage(0.0, 0.2, "dictionary"),
        )
        log(
            f"[{kind}] {sequence.name}, T = {sequence.n_frames}, TE {TRAJECTORY_TE_MS[kind]} ms; "
            f"dictionary '{config.grid}' {dictionary.n_atoms:,} atoms, s = {dictionary.rank} "
            f"({dictionary.metadata.get('cache')}, {time.perf_counter() - start:.1f} s)"
        )
        trajectory = make_trajectory(
            kind, sequence.n_frames, matrix=config.matrix, fov_mm=config.fov_mm
        )
        start = time.perf_counter()
        signal_model = tissue_signal_model(phantom, sequence, device=device)
        kspace = simulate_scan(
            phantom,
            sequence,
            trajectory,
            coils=config.coils,
            snr=config.snr,
            seed=config.seed,
            signal_model=signal_model,
            device=device,
            progress=stage.stage(0.2, 0.3, "scan"),
        )
        log(
            f"[{kind}] scan simulated in {time.perf_counter() - start:.1f} s: "
            f"{kspace.n_interleaves} interleaf × {kspace.n_readout} samples per frame"
        )

        scan = _SimulatedScan(
            kind,
            kspace,
            dictionary,
            signal_model,
            truth,
            mask,
            config,
            recon_options,
            inference_methods,
            inference_options,
            log,
        )
        n_recon = len(recon_methods)
        for r_index, (recon_name, recon_info) in enumerate(recon_methods.items()):
            recon_stage = stage.stage(
                0.3 + 0.7 * r_index / n_recon, 0.3 + 0.7 * (r_index + 1) / n_recon, recon_name
            )
            rows.extend(_one_reconstruction(scan, recon_name, recon_info, recon_stage))
    progress(1, 1, "done")
    return rows


@dataclass
class _SimulatedScan:
    """One trajectory's scan with everything needed to run and score pipelines on it."""

    kind: str
    kspace: Any
    dictionary: Any
    signal_model: Any
    truth: Any
    mask: Any
    config: PipelineConfig
    recon_options: dict[str, Any]
    inference_methods: dict[str, Any]
    inference_options: dict[str, Any]
    log: Callable[[str], None]


def _one_reconstruction(
    scan: _SimulatedScan, recon_name: str, recon_info: Any, progress: Progress
) -> list[PipelineRow]:
    """Rows of one reconstruction followed by each inference method."""
    from mrfcore.methods import InferenceInputs, ReconstructionInputs
    from mrfcore.progress import Cancelled

    kind, log, inference_methods = scan.kind, scan.log, scan.inference_methods

    def rows_with(status: str, **values: Any) -> list[PipelineRow]:
        return [PipelineRow(kind, recon_name, name, status, **values) for name in inference_methods]

    if isinstance(recon_info, str):
        return rows_with(recon_info)
    inputs = ReconstructionInputs(
        kspace=scan.kspace, basis=scan.dictionary.basis, device=scan.config.device
    )
    start = time.perf_counter()
    try:
        options = scan.recon_options[recon_name]
        images = recon_info.run(inputs, options, progress.stage(0.0, 0.7, recon_name))
    except Cancelled:
        raise
    except ValueError as error:
        return rows_with(f"n/a ({_short_reason(error)})")
    except Exception as error:  # reported in the table and in full in the log
        log(f"[{kind}] {recon_name} failed:\n{traceback.format_exc()}")
        return rows_with(f"failed ({type(error).__name__}: {_short_reason(error)})")
    recon_s = time.perf_counter() - start
    psnr_db = tsmi_psnr(images, scan.signal_model)
    log(f"[{kind}] {recon_name}: {recon_s:.1f} s, TSMI PSNR {psnr_db:.1f} dB")
    inference_inputs = InferenceInputs(
        images=images, dictionary=scan.dictionary, device=scan.config.device
    )

    rows = []
    for i_index, (name, info) in enumerate(inference_methods.items()):
        row = PipelineRow(kind, recon_name, name, "ok", tsmi_psnr=psnr_db, recon_s=recon_s)
        rows.append(row)
        if isinstance(info, str):
            row.status = info
            continue
        stage = progress.stage(
            0.7 + 0.3 * i_index / len(inference_methods),
            0.7 + 0.3 * (i_index + 1) / len(inference_methods),
            name,
        )
        start = time.perf_counter()
        try:
            maps = info.run(inference_inputs, scan.inference_options[name], stage)
        except Cancelled:
            raise
        except ValueError as error:
            row.status = f"n/a ({_short_reason(error)})"
            continue
        except Exception as error:
            log(f"[{kind}] {recon_name}-{name} failed:\n{traceback.format_exc()}")
            row.status = f"failed ({type(error).__name__}: {_short_reason(error)})"
            continue
        row.inference_s = time.perf_counter() - start
        errors = map_errors(maps, scan.truth, scan.mask)
        row.t1_mape, row.t2_mape, row.pd_nrmse = errors.t1_mape, errors.t2_mape, errors.pd_nrmse
        if scan.config.per_tissue:
            row.per_tissue = tissue_errors(maps, scan.truth, scan.mask)
    return rows


# ------------------------------------------------------------------ paper comparison


def _paper_values(row: PipelineRow) -> tuple[float, float, float, float] | None:
    return PAPER_TABLE.get((row.recon, row.inference), {}).get(row.trajectory)


def paper_orderings(rows: Sequence[PipelineRow]) -> list[str]:
    """The papers' qualitative claims, checked on our rows where both sides ran.

    LRTV well ahead of ZF, LR and VS (T1 and T2 MAPE, same inference); MRFResnet close
    to DM (same reconstruction); KM poor on T2 (against DM on the same reconstruction).
    """
    by_key = {(r.trajectory, r.recon, r.inference): r for r in rows if r.ok}
    lines = []
    for trajectory in dict.fromkeys(r.trajectory for r in rows):
        for inference in dict.fromkeys(r.inference for r in rows):
            best = by_key.get((trajectory, "lrtv", inference))
            if best is None:
                continue
            for other in ("zf", "lr", "vs"):
                row = by_key.get((trajectory, other, inference))
                if row is None:
                    continue
                holds = best.t1_mape < row.t1_mape and best.t2_mape < row.t2_mape
                lines.append(
                    f"{trajectory}: LRTV-{inference} better than {other.upper()}-{inference} "
                    f"(T1 {best.t1_mape:.1f} vs {row.t1_mape:.1f} %, T2 {best.t2_mape:.1f} vs "
                    f"{row.t2_mape:.1f} %): {'yes' if holds else 'NO'}"
                )
        for recon in dict.fromkeys(r.recon for r in rows):
            dm = by_key.get((trajectory, recon, "dm"))
            if dm is None:
                continue
            for learned, claim in (("mrfresnet", "≈ DM"), ("km", "T2 worse than DM")):
                row = by_key.get((trajectory, recon, learned))
                if row is None:
                    continue
                if learned == "km":
                    holds = row.t2_mape > dm.t2_mape
                else:
                    holds = abs(row.t1_mape - dm.t1_mape) <= max(1.0, 0.25 * dm.t1_mape) and abs(
                        row.t2_mape - dm.t2_mape
                    ) <= max(1.0, 0.25 * dm.t2_mape)
                lines.append(
                    f"{trajectory}: {recon.upper()}-{learned} {claim} (T1 {row.t1_mape:.1f} vs "
                    f"{dm.t1_mape:.1f} %, T2 {row.t2_mape:.1f} vs {dm.t2_mape:.1f} %): "
                    f"{'yes' if holds else 'NO'}"
                )
    return lines


# ------------------------------------------------------------------------ CLI


def _names(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise argparse.ArgumentTypeError("give at least one name")
    return names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quick",
        action="store_true",
        help="64×64, first 200 frames, coarse grid (a smoke run in seconds)",
    )
    parser.add_argument(
        "--trajectories",
        type=_names,
        default=("spiral", "radial"),
        help="comma-separated: spiral,radial (default both)",
    )
    parser.add_argument(
        "--recon",
        type=_names,
        default=("zf", "lr", "vs", "lrtv"),
        help="comma-separated reconstruction methods (default zf,lr,vs,lrtv)",
    )
    parser.add_argument(
        "--inference",
        type=_names,
        default=("dm", "mrfresnet", "km"),
        help="comma-separated inference methods (default dm,mrfresnet,km)",
    )
    parser.add_argument("--coils", type=int, default=1, help="receive coils (default 1)")
    parser.add_argument(
        "--snr",
        type=float,
        default=50.0,
        help="per-frame image SNR (default 50); 0 or inf: no noise",
    )
    parser.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    parser.add_argument("--device", default="auto", help="compute device (default auto)")
    parser.add_argument(
        "--matrix", type=int, default=None, help="image matrix (default 200; 64 with --quick)"
    )
    parser.add_argument(
        "--frames",
        type=int,
        default=None,
        help="use the first N frames only (default all; 200 with --quick)",
    )
    parser.add_argument(
        "--grid", default=None, help="dictionary grid preset (default paper; coarse with --quick)"
    )
    parser.add_argument(
        "--region",
        choices=sorted(REGIONS),
        default="head",
        help="evaluation voxels: " + "; ".join(f"{k}: {v}" for k, v in REGIONS.items()),
    )
    parser.add_argument(
        "--partial-volume",
        action="store_true",
        help="keep the phantom's partial-volume fractions at tissue boundaries",
    )
    parser.add_argument(
        "--per-tissue", action="store_true", help="also print T1/T2 MAPE per tissue"
    )
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="METHOD:NAME=VALUE",
        help="a method option, e.g. lrtv:lam=0.05 (repeatable)",
    )


def config_from_args(args: argparse.Namespace) -> PipelineConfig:
    """The :class:`PipelineConfig` of parsed command-line arguments."""
    base = quick_config() if args.quick else PipelineConfig()
    method_options: dict[str, tuple[str, ...]] = {}
    for text in args.option:
        method, sep, pair = text.partition(":")
        if not sep or "=" not in pair:
            raise ValueError(f"--option {text!r}: write METHOD:NAME=VALUE, e.g. lrtv:lam=0.05")
        method_options[method.strip()] = (*method_options.get(method.strip(), ()), pair)
    snr = None if args.snr is None or args.snr <= 0 or math.isinf(args.snr) else args.snr
    changes: dict[str, Any] = dict(
        trajectories=args.trajectories,
        recon=args.recon,
        inference=args.inference,
        coils=args.coils,
        snr=snr,
        seed=args.seed,
        device=args.device,
        region=args.region,
        partial_volume=args.partial_volume,
        per_tissue=args.per_tissue,
        method_options=method_options,
    )
    for name in ("matrix", "frames", "grid"):
        if getattr(args, name) is not None:
            changes[name] = getattr(args, name)
    return replace(base, **changes)


def _number(value: float, digits: int = 1) -> str:
    return "—" if math.isnan(value) else f"{value:.{digits}f}"


def print_results(rows: Sequence[PipelineRow], config: PipelineConfig) -> None:
    """The table (with the paper's values alongside), per-tissue errors and orderings."""
    from mrfcore.bench._table import print_table

    table = []
    notes: dict[str, int] = {}  # long "n/a (...)" reasons become numbered footnotes
    for row in rows:
        paper = _paper_values(row)
        note = "" if row.ok else f"[{notes.setdefault(row.status, len(notes) + 1)}]"
        table.append(
            [
                row.trajectory,
                row.recon,
                row.inference,
                _number(row.t1_mape),
                _number(row.t2_mape),
                _number(row.pd_nrmse),
                _number(row.tsmi_psnr),
                _number(row.recon_s, 2),
                _number(row.inference_s, 2),
                " / ".join(f"{v:.1f}" for v in paper) if paper else "—",
                note,
            ]
        )
    print_table(
        f"In-silico brain, {config.matrix}×{config.matrix}, {config.coils} coil(s), SNR "
        f"{'∞' if config.snr is None else f'{config.snr:g}'}, region '{config.region}' "
        "(errors vs ground truth; times: one run each)",
        [
            "trajectory",
            "recon",
            "inference",
            "T1 MAPE %",
            "T2 MAPE %",
            "PD NRMSE %",
            "TSMI PSNR dB",
            "recon s",
            "inference s",
            "paper T1/T2/PD/PSNR",
            "note",
        ],
        table,
    )
    for status, number in notes.items():
        print(f"  [{number}] {status}")
    if config.per_tissue:
        tissue_rows = [
            [row.trajectory, f"{row.recon}-{row.inference}", name, _number(t1), _number(t2)]
            for row in rows
            if row.ok
            for name, (t1, t2) in row.per_tissue.items()
        ]
        print_table(
            "Per tissue",
            ["trajectory", "pipeline", "tissue", "T1 MAPE %", "T2 MAPE %"],
            tissue_rows,
        )
    orderings = paper_orderings(rows)
    if orderings:
        print("\nThe papers' orderings on our numbers:")
        for line in orderings:
            print(f"  {line}")


def run(args: argparse.Namespace) -> int:
    from mrfcore.bench._table import machine_description
    from mrfcore.cli._common import TerminalProgress

    config = config_from_args(args)
    print(f"machine: {machine_description()}")
    start = time.perf_counter()
    rows = run_benchmark(config, TerminalProgress().progress())
    print_results(rows, config)
    print(f"\ntotal {time.perf_counter() - start:.0f} s")
    failed = [r for r in rows if r.status.startswith("failed")]
    return 1 if failed else 0
