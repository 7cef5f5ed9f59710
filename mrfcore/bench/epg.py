"""EPG throughput (atoms × frames per second) and truncation error, CPU and CUDA.

For each device, batch size and ``max_states`` ("auto" = the per-chunk default), the
median of several runs of :func:`mrfcore.simulation.simulate_fingerprints` on random
(T1, T2) from the paper's grid ranges, the throughput, the projected time for the
paper's dictionary (113,781 atoms × the sequence's frames), and the largest error of
the signal against an untruncated simulation of a few of the hardest atoms (T2 600 ms).
"""

from __future__ import annotations

import argparse
import time

PAPER_ATOMS = 113_781


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sequence", default="fisp-jiang2015", help="built-in name or file")
    parser.add_argument(
        "--atoms", default="2048,8192", help="comma-separated batch sizes (default 2048,8192)"
    )
    parser.add_argument(
        "--states",
        default="auto,32,64,128",
        help="comma-separated max_states values; 'auto' is the default rule",
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per row (median)")
    parser.add_argument(
        "--device", default="all", help="cpu, cuda, or all (CPU, plus CUDA when present)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU chunks run side by side (default torch.get_num_threads())",
    )


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from mrfcore.bench._table import machine_description, print_table, time_call
    from mrfcore.sequences import load_sequence
    from mrfcore.simulation import simulate_fingerprints

    sequence = load_sequence(args.sequence)
    batch_sizes = [int(v) for v in args.atoms.split(",") if v.strip()]
    states = [None if v.strip() == "auto" else int(v) for v in args.states.split(",") if v.strip()]
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    if "cuda" in devices and not torch.cuda.is_available():
        if args.device != "all":
            raise ValueError("--device cuda: no CUDA GPU is available")
        devices.remove("cuda")

    rng = np.random.default_rng(0)
    hard_t1 = np.array([100.0, 800.0, 4000.0, 1500.0])
    hard_t2 = np.full(4, 600.0)
    exact = simulate_fingerprints(
        sequence, hard_t1, hard_t2, device="cpu", max_states=sequence.n_frames
    ).numpy()

    rows = []
    frames = sequence.n_frames
    for device in devices:
        for n_atoms in batch_sizes:
            t1 = rng.uniform(100.0, 4000.0, n_atoms)
            t2 = rng.uniform(20.0, 600.0, n_atoms)
            for max_states in states:

                def simulate(t1=t1, t2=t2, device=device, max_states=max_states):
                    result = simulate_fingerprints(
                        sequence,
                        t1,
                        t2,
                        device=device,
                        max_states=max_states,
                        n_threads=args.threads,
                    )
                    if result.device.type == "cuda":
                        torch.cuda.synchronize()
                    return result

                cpu_start = time.process_time()
                seconds, _ = time_call(simulate, repeats=args.repeats, warmup=1)
                cpu_seconds = (time.process_time() - cpu_start) / (args.repeats + 1)
                rate = n_atoms * frames / seconds
                error = np.abs(
                    simulate_fingerprints(
                        sequence, hard_t1, hard_t2, device=device, max_states=max_states
                    )
                    .cpu()
                    .numpy()
                    - exact
                ).max()
                rows.append(
                    [
                        device,
                        n_atoms,
                        "auto" if max_states is None else max_states,
                        seconds,
                        cpu_seconds if device == "cpu" else "-",
                        rate / 1e6,
                        PAPER_ATOMS * frames / rate,
                        PAPER_ATOMS / n_atoms * cpu_seconds if device == "cpu" else "-",
                        f"{error:.1e}",
                    ]
                )
    print(f"machine: {machine_description()}")
    print(
        f"sequence: {sequence.name} ({frames} frames, {sequence.readout}); "
        f"median of {args.repeats} runs"
    )
    print_table(
        "EPG simulation throughput",
        [
            "device",
            "atoms",
            "max_states",
            "median s",
            "CPU s",
            "M atom·frames/s",
            f"projected s for {PAPER_ATOMS}×{frames}",
            "projected CPU s",
            "max |error| T2=600",
        ],
        rows,
    )
    return 0
