"""Dictionary matching speed and accuracy: naive blocked matmul vs DM (dense and pruned)
vs fast group matching.

Voxels are noisy copies of random atoms of the dictionary itself, scaled by a random
complex PD: ``x = PD · d_j + n`` with complex Gaussian noise n of norm ≈ ``noise ×
||PD · d_j||`` (``--noise 0.1`` gives a match correlation of ~0.995, ``0.3`` ~0.95).
Accuracy columns compare each method's atoms with the exhaustive search (identical
atom; correlation within 1e-6 of the exhaustive best) and T1/T2 with the truth (MAPE).
Times are medians of ``--repeats`` runs of the matching alone (voxels already on the
device), wall clock and CPU (process) time; the naive search runs once.  Nothing is
cached between timed runs except the atom grouping and its layout on the device, which
belong to the dictionary (built once, cached in memory and on disk); the one-off
grouping is timed separately, built afresh.  The load average is printed with each
table: on a shared machine, compare CPU times.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true",
                        help="coarse grid (5,782 atoms) and 10,000 voxels")
    parser.add_argument("--voxels", type=int, default=None, help="voxels (default 40,000)")
    parser.add_argument("--sequence", default="ir-ramp-880", help="built-in sequence")
    parser.add_argument("--grid", default=None, help="grid preset (default paper; coarse "
                        "with --quick)")
    parser.add_argument("--dictionary", default=None, metavar="FILE",
                        help="use this dictionary file (.h5) instead of the cache")
    parser.add_argument("--noise", default="0.1,0.3", help="relative noise levels, comma "
                        "separated (default 0.1,0.3)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per method")
    parser.add_argument("--groups", type=int, default=200, help="atom groups (default 200)")
    parser.add_argument("--searched", type=int, default=4,
                        help="FGM: most groups searched per voxel (default 4)")
    parser.add_argument("--margins", default="0,0.01,0.015,0.02", help="FGM boundary "
                        "margins (rad), comma separated (default 0,0.01,0.015,0.02)")
    parser.add_argument("--fixed", default="2", help="FGM as published: these numbers of "
                        "best groups for every voxel, comma separated (default 2; '' none)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, auto")
    parser.add_argument("--skip-naive", action="store_true",
                        help="skip the naive blocked matmul (~30 s per run on 2 cores)")
    parser.add_argument("--skip-dense", action="store_true",
                        help="skip the dense DM (then the pruned search is the reference)")


def naive_blocked_match(signals, atoms, norms, block: int = 4096):
    """The textbook version: complex matmul per 4096 × 4096 block, |.|, running max."""
    import torch

    normalised = atoms / norms[:, None]
    best = torch.full((signals.shape[0],), -1.0, device=signals.device)
    index = torch.zeros(signals.shape[0], dtype=torch.int64, device=signals.device)
    for start in range(0, signals.shape[0], block):
        x = signals[start : start + block]
        for atom_start in range(0, atoms.shape[0], block):
            scores = (x @ normalised[atom_start : atom_start + block].conj().T).abs()
            values, where = scores.max(dim=1)
            part = slice(start, start + block)
            better = values > best[part]
            best[part] = torch.where(better, values, best[part])
            index[part] = torch.where(better, where + atom_start, index[part])
    return index


def run(args: argparse.Namespace) -> int:
    import torch

    from mrfcore.bench._table import machine_description, print_table
    from mrfcore.device import select_device
    from mrfcore.dictionary import Dictionary, grid_preset, load_or_build_dictionary
    from mrfcore.inference.grouping import atom_groups, build_groups, normalised_atoms
    from mrfcore.inference.matching import match_dense, match_grouped
    from mrfcore.resources import cache_dir
    from mrfcore.sequences import builtin_sequence

    if args.threads:
        torch.set_num_threads(args.threads)
    device = select_device(args.device)
    n_voxels = args.voxels or (10_000 if args.quick else 40_000)
    noise_levels = [float(v) for v in args.noise.split(",")]
    margins = [float(v) for v in args.margins.split(",") if v.strip()]
    fixed = [int(v) for v in args.fixed.split(",") if v.strip()]
    started = time.perf_counter()
    if args.dictionary:
        dictionary = Dictionary.load(args.dictionary)
    else:
        grid = grid_preset(args.grid or ("coarse" if args.quick else "paper"))
        dictionary = load_or_build_dictionary(builtin_sequence(args.sequence), grid, 10)
    print(f"machine: {machine_description()}; device {device}")
    print(f"dictionary: {dictionary.n_atoms:,} atoms, rank {dictionary.rank} "
          f"({time.perf_counter() - started:.1f} s to load or build)")
    mark = time.perf_counter()
    groups = atom_groups(dictionary, args.groups, cache_dir() / "matching")
    loaded = time.perf_counter() - mark
    mark, cpu = time.perf_counter(), time.process_time()
    build_groups(normalised_atoms(dictionary), args.groups)
    print(f"atom grouping: {groups.method}; built afresh in {time.perf_counter() - mark:.2f} s "
          f"({time.process_time() - cpu:.2f} s CPU), one-off per dictionary, then cached "
          f"(loaded in {loaded:.2f} s)")

    atoms = torch.from_numpy(dictionary.atoms).to(device)
    norms = torch.from_numpy(dictionary.norms).to(device)
    unit_atoms = torch.from_numpy(normalised_atoms(dictionary)).to(device)
    rng = np.random.default_rng(0)
    truth = rng.integers(0, dictionary.n_atoms, n_voxels)
    pd = rng.uniform(0.5, 2.0, n_voxels) * np.exp(1j * rng.uniform(-np.pi, np.pi, n_voxels))
    clean = dictionary.atoms[truth] * pd[:, None]
    white = rng.standard_normal(clean.shape) + 1j * rng.standard_normal(clean.shape)
    white *= np.linalg.norm(clean, axis=1, keepdims=True) / np.sqrt(2 * dictionary.rank)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    def timed(function, repeats=args.repeats, warmup=1):
        """Medians of wall and CPU (process) time: on a busy machine the CPU time shows
        the work done, the wall time what a user waits."""
        for _ in range(warmup):
            function()
        walls, cpus = [], []
        for _ in range(repeats):
            wall, cpu = time.perf_counter(), time.process_time()
            result = function()
            sync()
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        return float(np.median(walls)), float(np.median(cpus)), result

    header = ["method", "time s", "CPU s", "Mvoxel·atom/s", "same atom %", "ρ within 1e-6 %",
              "T1 MAPE %", "T2 MAPE %", "work %", "peak RSS MB"]
    for noise in noise_levels:
        signals = torch.from_numpy((clean + noise * white).astype(np.complex64)).to(device)
        methods = [] if args.skip_dense else [
            ("DM dense (blocked, real arithmetic)", lambda s=signals: match_dense(s, unit_atoms))
        ]
        methods += [("DM pruned (branch and bound)",
                     lambda s=signals: match_grouped(s, unit_atoms, groups))]
        methods += [(f"FGM margin {m:g} rad, ≤ {args.searched} of {groups.n_groups} groups",
                     lambda s=signals, m=m: match_grouped(s, unit_atoms, groups, args.searched,
                                                          margin=m))
                    for m in margins]
        methods += [(f"FGM {k} of {groups.n_groups} groups (as published)",
                     lambda s=signals, k=k: match_grouped(s, unit_atoms, groups, k))
                    for k in fixed]
        rows = []
        exhaustive = None
        now = _load()
        for label, function in methods:
            seconds, cpu, result = timed(function)
            if exhaustive is None:
                exhaustive = result
            rows.append(_row(label, seconds, cpu, result.indices, result.correlation, exhaustive,
                             dictionary, truth, result.pairs_scored, n_voxels))
        if not args.skip_naive:
            seconds, cpu, index = timed(lambda s=signals: naive_blocked_match(s, atoms, norms),
                                        repeats=1, warmup=0)
            x = signals / torch.linalg.vector_norm(signals, dim=1, keepdim=True)
            correlation = (x * unit_atoms[index].conj()).sum(1).abs()
            rows.append(_row("naive blocked matmul (complex, 4096²)", seconds, cpu, index,
                             correlation, exhaustive, dictionary, truth,
                             n_voxels * dictionary.n_atoms, n_voxels))
        mean_correlation = float(exhaustive.correlation.mean())
        print_table(
            f"{n_voxels:,} voxels × {dictionary.n_atoms:,} atoms, noise {noise:g} "
            f"(mean best correlation {mean_correlation:.4f}), {torch.get_num_threads()} "
            f"threads, median of {args.repeats}; load average {now} before, {_load()} after",
            header, rows,
        )
    return 0


def _row(label, seconds, cpu, index, correlation, exhaustive, dictionary, truth, pairs, n_voxels):
    from mrfcore.bench._table import peak_memory_mb

    index = index.cpu().numpy()
    same = float(np.mean(index == exhaustive.indices.cpu().numpy()))
    close = float(np.mean(
        (exhaustive.correlation.cpu().numpy() - correlation.cpu().numpy()) < 1e-6
    ))
    t1_error = np.abs(dictionary.t1_ms[index] - dictionary.t1_ms[truth]) / dictionary.t1_ms[truth]
    t2_error = np.abs(dictionary.t2_ms[index] - dictionary.t2_ms[truth]) / dictionary.t2_ms[truth]
    rate = n_voxels * dictionary.n_atoms / seconds / 1e6
    return [label, seconds, cpu, rate, 100 * same, 100 * close, 100 * float(t1_error.mean()),
            100 * float(t2_error.mean()), 100 * pairs / (n_voxels * dictionary.n_atoms),
            peak_memory_mb()]


def _load() -> str:
    """The 1-minute load average (other programs share the CPU), or '?'."""
    import os

    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "?"
