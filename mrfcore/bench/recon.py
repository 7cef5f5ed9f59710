"""Reconstruction: TSMI accuracy (PSNR against the simulated truth) and speed of ZF, VS,
LR and LRTV on simulated brain scans (200×200, ir-ramp-880, spiral and radial, 1 and 8
coils; ``--quick``: 64×64, 1 and 4 coils).

Accuracy.  The true subspace TSMI is ``X = V^H x`` of the phantom's noise-free TSMI x
(:meth:`mrfcore.acquisition.TissueSignalModel.subspace`).  PSNR = 20·log10(max|X| /
RMSE) over the object (PD ≥ 10 % of its maximum, the SNR definition of the
simulation), all s components together, after matching each voxel's common phase to
the truth: multi-coil data define the image phase only up to a smooth per-voxel phase
(the coil maps' reference), which dictionary matching ignores anyway.  The paper's
ordering requires LRTV ≥ ZF + 3 dB.

Speed.  Median wall time (and CPU time, the steadier figure on a shared machine) of
``--repeats`` runs of each method after one warm-up, its stages (density compensation
and coil maps, adjoint, Toeplitz kernel, iterations), iterations to convergence, time
per iteration, and the peak resident memory sampled during the runs.  Goals for
200×200, T = 880, s = 10, 8 coils on 2 cores: ZF ≤ 2 s, VS ≤ 5 s, LRTV ≤ 10 s, ≤ 4 GB.
The basis comes from the dictionary of the ``--grid`` preset (default ``coarse``, so a
first run does not spend minutes building the paper grid; the subspace barely changes).
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from typing import Any

DEFAULT_METHODS = ("zf", "vs", "lr", "lrtv")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="64×64, 1 and 4 coils, 1 repeat")
    parser.add_argument(
        "--trajectories", nargs="+", default=["spiral", "radial"], choices=["spiral", "radial"]
    )
    parser.add_argument("--coils", nargs="+", type=int, default=None, help="default 1 8")
    parser.add_argument("--matrix", type=int, default=None, help="default 200 (64 quick)")
    parser.add_argument("--snr", type=float, default=50.0, help="per-frame SNR (default 50)")
    parser.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS))
    parser.add_argument("--rank", type=int, default=10)
    parser.add_argument("--grid", default="coarse", help="dictionary grid preset for V")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs (default 3)")
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="METHOD.NAME=VALUE",
        help="override a method option, e.g. lrtv.lam=0.005 (repeatable)",
    )
    parser.add_argument(
        "--lams",
        nargs="+",
        type=float,
        default=None,
        help="also run LRTV with each of these λ (accuracy only)",
    )


class _PeakMemory:
    """Peak resident memory (MB) of this process while the ``with`` block runs."""

    def __enter__(self) -> _PeakMemory:
        self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()

    def _poll(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._rss())

    @staticmethod
    def _rss() -> float:
        try:
            with open("/proc/self/statm") as handle:
                pages = int(handle.read().split()[1])
            return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
        except (OSError, ValueError):
            from mrfcore.bench._table import peak_memory_mb

            return peak_memory_mb()


def psnr_aligned(estimate, truth, mask) -> float:
    """PSNR (dB) over ``mask`` after matching each voxel's common phase to the truth."""
    import numpy as np

    inner = (estimate.conj() * truth).sum(0)
    aligned = estimate * np.exp(1j * np.angle(inner))[None]
    error = (aligned - truth)[:, mask]
    rmse = np.sqrt(np.mean(np.abs(error) ** 2))
    return float(20 * np.log10(np.abs(truth[:, mask]).max() / rmse))


def _overrides(pairs: list[str]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for pair in pairs:
        method, dot, rest = pair.partition(".")
        if not dot or "=" not in rest:
            raise ValueError(f"--option expects METHOD.NAME=VALUE, got {pair!r}")
        result.setdefault(method, []).append(rest)
    return result


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from mrfcore.acquisition import make_trajectory, object_mask, simulate_scan
    from mrfcore.acquisition.scan import tissue_signal_model
    from mrfcore.bench._table import machine_description, print_table
    from mrfcore.cli.recon import options_from_arguments
    from mrfcore.dictionary import grid_preset, load_or_build_dictionary
    from mrfcore.methods import RECONSTRUCTION, ReconstructionInputs
    from mrfcore.phantoms import PHANTOMS
    from mrfcore.sequences import load_sequence

    matrix = args.matrix or (64 if args.quick else 200)
    coil_counts = args.coils or ([1, 4] if args.quick else [1, 8])
    repeats = args.repeats or (1 if args.quick else 3)
    overrides = _overrides(args.option)
    print(f"machine: {machine_description()}")
    print(f"load average before: {os.getloadavg()[0]:.1f} (other work inflates wall times)")

    sequence = load_sequence("ir-ramp-880")
    phantom = PHANTOMS["brain"](matrix=matrix, fov_mm=200.0, field_strength_t=1.5)
    start = time.perf_counter()
    basis = load_or_build_dictionary(sequence, grid_preset(args.grid), rank=args.rank).basis
    model = tissue_signal_model(phantom, sequence)
    truth = model.subspace(basis)
    mask = object_mask(phantom.pd_map())
    print(
        f"brain {matrix}×{matrix}, {sequence.name} T = {sequence.n_frames}, s = {args.rank} "
        f"({args.grid} grid), SNR {args.snr:g}; set-up {time.perf_counter() - start:.1f} s"
    )

    variants: list[tuple[str, str, Any, bool]] = []  # (label, method, options, timed)
    for name in args.methods:
        info = RECONSTRUCTION.get(name)
        variants.append((name, name, options_from_arguments(info, overrides.get(name, [])), True))
    for lam in args.lams or []:
        info = RECONSTRUCTION.get("lrtv")
        pairs = [*overrides.get("lrtv", []), f"lam={lam}"]
        variants.append((f"lrtv λ={lam:g}", "lrtv", options_from_arguments(info, pairs), False))

    accuracy_rows, speed_rows, verdicts = [], [], []
    for kind in args.trajectories:
        trajectory = make_trajectory(kind, sequence.n_frames, matrix=matrix, fov_mm=200.0)
        for coils in coil_counts:
            scenario = f"{kind} {trajectory.n_readout}×1, {coils} coil{'s' * (coils > 1)}"
            scan = simulate_scan(
                phantom, sequence, trajectory, coils=coils, snr=args.snr, signal_model=model
            )
            inputs = ReconstructionInputs(scan, basis, args.device)
            psnrs: dict[str, float] = {}
            for label, name, options, timed in variants:
                info = RECONSTRUCTION.get(name)
                series = info.run(inputs, options)  # warm-up, and the accuracy run
                psnrs[label] = psnr_aligned(series.data, truth, mask)
                record = series.provenance
                accuracy_rows.append(
                    [
                        scenario,
                        label,
                        psnrs[label],
                        psnrs[label] - psnrs.get("zf", np.nan),
                        record.get("iterations", "–"),
                    ]
                )
                if not timed:
                    continue
                walls, cpus = [], []
                with _PeakMemory() as memory:
                    for _ in range(repeats):
                        wall, cpu = time.perf_counter(), time.process_time()
                        series = info.run(inputs, options)
                        walls.append(time.perf_counter() - wall)
                        cpus.append(time.process_time() - cpu)
                stages = series.provenance["timings_s"]
                iterations = series.provenance.get("iterations")
                per_iteration = stages["iterations"] / iterations if iterations else float("nan")
                speed_rows.append(
                    [
                        scenario,
                        label,
                        statistics.median(walls),
                        statistics.median(cpus),
                        stages.get("density", 0.0) + stages.get("coil_maps", 0.0),
                        stages.get("adjoint", 0.0),
                        stages.get("kernel", float("nan")),
                        iterations or "–",
                        per_iteration,
                        memory.peak,
                    ]
                )
            if "zf" in psnrs and "lrtv" in psnrs:
                gain = psnrs["lrtv"] - psnrs["zf"]
                verdicts.append(
                    f"{scenario}: LRTV − ZF = {gain:+.1f} dB "
                    f"({'meets' if gain >= 3 else 'MISSES'} the paper's ≥ 3 dB)"
                )

    print_table(
        "TSMI accuracy (PSNR over the object, per-voxel phase matched)",
        ["scan", "method", "PSNR dB", "vs ZF dB", "iterations"],
        accuracy_rows,
    )
    print_table(
        f"Speed (median of {repeats}; stages from the last run, s)",
        [
            "scan",
            "method",
            "wall s",
            "CPU s",
            "dcf+maps",
            "adjoint",
            "kernel",
            "iterations",
            "s/iteration",
            "peak RSS MB",
        ],
        speed_rows,
    )
    print()
    for line in verdicts:
        print(line)
    return 0
