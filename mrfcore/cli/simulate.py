"""``mrf simulate``: the EPG fingerprint of one tissue (T1, T2, B1, off-resonance)."""

from __future__ import annotations

import argparse

from mrfcore.cli._common import add_device_argument, add_sequence_arguments


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="simulate one fingerprint by EPG and write it as .npy",
        description="Simulate the fingerprint (transverse magnetisation at each frame's TE, "
        "M0 = 1) of one parameter set and write it as a complex64 .npy array, one value "
        "per frame.",
    )
    add_sequence_arguments(parser)
    parser.add_argument("--t1", type=float, required=True, metavar="MS", help="T1 (ms)")
    parser.add_argument("--t2", type=float, required=True, metavar="MS", help="T2 (ms)")
    parser.add_argument(
        "--b1", type=float, default=1.0, metavar="X", help="flip-angle scale (default 1)"
    )
    parser.add_argument(
        "--df", type=float, default=0.0, metavar="HZ", help="off-resonance in Hz (default 0)"
    )
    parser.add_argument(
        "--max-states",
        type=int,
        default=None,
        metavar="K",
        help="EPG orders kept (default: chosen from T2 for an error < 1e-4)",
    )
    parser.add_argument("--out", required=True, metavar="FILE.npy", help="output file")
    add_device_argument(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import io
    from pathlib import Path

    import numpy as np

    from mrfcore.cli._common import sequence_from_args
    from mrfcore.io.atomic import atomic_write_bytes
    from mrfcore.simulation import simulate_fingerprints

    out = Path(args.out)
    if out.suffix.lower() != ".npy":
        raise ValueError(f"--out {out}: the fingerprint is written as .npy; name it *.npy")
    sequence = sequence_from_args(args)
    fingerprint = (
        simulate_fingerprints(
            sequence,
            [args.t1],
            [args.t2],
            [args.b1],
            [args.df],
            device=args.device,
            max_states=args.max_states,
        )[0]
        .cpu()
        .numpy()
        .astype(np.complex64)
    )
    buffer = io.BytesIO()
    np.save(buffer, fingerprint)
    atomic_write_bytes(out, buffer.getvalue())

    magnitude = np.abs(fingerprint)
    print(f"wrote        {out}")
    print(f"sequence     {sequence.name} ({sequence.readout}, hash {sequence.content_hash()})")
    print(
        f"parameters   T1 {args.t1:g} ms, T2 {args.t2:g} ms, B1 {args.b1:g}, "
        f"off-resonance {args.df:g} Hz"
    )
    norm = np.linalg.norm(fingerprint)
    print(f"fingerprint  {fingerprint.size} frames, complex64, norm {norm:.6g}")
    frames = sorted({0, 1, 9, 99, fingerprint.size // 2, fingerprint.size - 1})
    shown = ", ".join(f"{f + 1}: {magnitude[f]:.5f}" for f in frames if f < fingerprint.size)
    print(f"|signal|     at frames {shown}")
    print(f"max |signal| {magnitude.max():.5f} at frame {int(magnitude.argmax()) + 1}")
    return 0
