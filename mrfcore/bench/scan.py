"""Simulated scan: EPG + NUFFT + noise time, ISMRMRD write/read time (target ≤ 30 s
for 200×200, T = 880, 8 coils, spiral on 2 CPU cores)."""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--phantom", default="brain", choices=["brain", "nist", "eurospin"])
    parser.add_argument("--sequence", default="ir-ramp-880")
    parser.add_argument("--trajectory", default="spiral", choices=["spiral", "radial", "cartesian"])
    parser.add_argument("--matrix", type=int, default=200)
    parser.add_argument(
        "--frames", type=int, default=None, help="use only the first N frames of the sequence"
    )
    parser.add_argument("--coils", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--append-count",
        type=int,
        default=200,
        metavar="N",
        help="acquisitions written one by one with ismrmrd.Dataset "
        "(extrapolated to the whole scan)",
    )


def _first_frames(sequence, n: int | None):
    if n is None or n >= sequence.n_frames:
        return sequence
    return sequence.replace(
        flip_angle_deg=sequence.flip_angle_deg[:n],
        tr_ms=sequence.tr_ms[:n],
        te_ms=sequence.te_ms[:n],
        phase_deg=sequence.phase_deg[:n],
    )


def run(args: argparse.Namespace) -> int:
    import ismrmrd
    import numpy as np

    from mrfcore.acquisition import make_trajectory, simulate_scan
    from mrfcore.bench._table import machine_description, print_table
    from mrfcore.io.ismrmrd import read_ismrmrd, write_ismrmrd
    from mrfcore.nufft import worker_count
    from mrfcore.phantoms import PHANTOMS
    from mrfcore.sequences import load_sequence

    phantom = PHANTOMS[args.phantom](matrix=args.matrix, fov_mm=200.0)
    sequence = _first_frames(load_sequence(args.sequence), args.frames)
    trajectory = make_trajectory(args.trajectory, sequence.n_frames, matrix=args.matrix)
    print(f"machine: {machine_description()}; NUFFT threads {worker_count()}")
    print(
        f"load average before: {os.getloadavg()[0]:.1f} (other work on these cores "
        "inflates wall times; CPU time is given too)"
    )
    print(
        f"scan: {args.phantom} {args.matrix}×{args.matrix}, {sequence.name} "
        f"T = {sequence.n_frames}, {args.trajectory} {trajectory.n_readout} samples × "
        f"{trajectory.n_interleaves}, {args.coils} coils"
    )

    # One untimed run loads torch and warms the EPG and finufft.
    simulate_scan(phantom, sequence, trajectory, coils=args.coils)
    walls, cpus, parts = [], [], []
    data = None
    for _ in range(args.repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        data = simulate_scan(phantom, sequence, trajectory, coils=args.coils, seed=0)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        parts.append(data.metadata["simulation"]["timings"])
    assert data is not None
    rows = [
        [
            "simulate_scan total",
            statistics.median(walls),
            statistics.median(cpus),
            "target ≤ 30 s wall",
        ],
        ["  EPG fingerprints", statistics.median(p["epg_s"] for p in parts), "", ""],
        [
            "  TSMI + NUFFT",
            statistics.median(p["nufft_s"] for p in parts),
            "",
            f"{sequence.n_frames} frames × {args.coils} coils",
        ],
        ["  noise", statistics.median(p["noise_s"] for p in parts), "", ""],
    ]

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "scan.h5"
        write_s, read_s = [], []
        for _ in range(args.repeats):
            start = time.perf_counter()
            write_ismrmrd(data, path)
            write_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            read_ismrmrd(path)
            read_s.append(time.perf_counter() - start)
        size_mb = path.stat().st_size / 1e6
        n_acq = data.n_frames * data.n_interleaves
        rows.append(
            [
                "write_ismrmrd (h5py, one go)",
                statistics.median(write_s),
                "",
                f"{n_acq} acquisitions, {size_mb:.0f} MB",
            ]
        )
        rows.append(["read_ismrmrd", statistics.median(read_s), "", ""])

        count = min(args.append_count, n_acq)
        reference = ismrmrd.Dataset(path, "dataset", create_if_needed=False)
        acquisitions = [reference.read_acquisition(i + 1) for i in range(count)]
        start = time.perf_counter()
        for i in range(count):
            reference.read_acquisition(i + 1)
        read_one = (time.perf_counter() - start) / count
        reference.close()
        other = Path(folder) / "append.h5"
        appender = ismrmrd.Dataset(other, "dataset", create_if_needed=True)
        start = time.perf_counter()
        for acquisition in acquisitions:
            appender.append_acquisition(acquisition)
        append_one = (time.perf_counter() - start) / count
        appender.close()
        rows.append(
            [
                "ismrmrd.Dataset.append_acquisition",
                append_one * n_acq,
                "",
                f"extrapolated from {count}",
            ]
        )
        rows.append(
            ["ismrmrd.Dataset.read_acquisition", read_one * n_acq, "", f"extrapolated from {count}"]
        )
        check = np.array_equal(acquisitions[0].data, data.samples[:, 0, 0])
    print_table(
        f"mrf bench scan (median of {args.repeats}; seconds)",
        ["step", "wall s", "CPU s", "note"],
        rows,
    )
    print(f"ismrmrd package reads the same samples: {check}")
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    return 0
