"""``mrf scan``: simulate a phantom scan and write it as an ISMRMRD file."""

from __future__ import annotations

import argparse
import math
import time

from mrfcore.cli._common import TerminalProgress, add_device_argument, add_sequence_arguments


def _snr(text: str) -> float | None:
    value = float(text)
    if math.isinf(value) or value == 0:
        return None
    if value < 0:
        raise argparse.ArgumentTypeError(f"SNR must be > 0 (0 or inf: no noise), got {text}")
    return value


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "scan",
        help="simulate a multi-coil MRF scan of a phantom and write it as ISMRMRD (.h5)",
        description="Simulate a phantom scan (EPG fingerprints, birdcage coils, NUFFT, "
        "noise) and write raw data, schedule and ground truth to an ISMRMRD file. "
        "SNR is the mean TSMI magnitude in the object over the k-space noise SD "
        "(the per-frame SNR of a fully sampled frame; see mrfcore.acquisition.coils).",
    )
    parser.add_argument("--phantom", default="brain", choices=["brain", "nist", "eurospin"])
    add_sequence_arguments(parser, required=False)
    parser.set_defaults(sequence="ir-ramp-880")
    parser.add_argument("--trajectory", default="spiral", choices=["spiral", "radial", "cartesian"])
    parser.add_argument("--interleaves", type=int, default=1, help="interleaves per frame")
    parser.add_argument(
        "--ordering",
        default="golden",
        choices=["golden", "cycle"],
        help="rotate by the golden angle, or cycle through --rotations fixed positions",
    )
    parser.add_argument(
        "--rotations",
        type=int,
        default=None,
        metavar="N",
        help="positions cycled through with --ordering cycle",
    )
    parser.add_argument("--coils", type=int, default=8)
    parser.add_argument("--matrix", type=int, default=200)
    parser.add_argument("--fov", type=float, default=200.0, metavar="MM")
    parser.add_argument("--snr", type=_snr, default=50.0, help="0 or inf for no noise")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise")
    parser.add_argument(
        "--field",
        type=float,
        default=1.5,
        metavar="T",
        help="field strength of the relaxation values (T)",
    )
    parser.add_argument(
        "--b1",
        type=float,
        default=0.0,
        metavar="AMPLITUDE",
        help="add a smooth B1 map spanning about 1 ± AMPLITUDE (0: none)",
    )
    add_device_argument(parser)
    parser.add_argument("--out", required=True, metavar="FILE.h5", help="ISMRMRD file to write")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from mrfcore.acquisition.scan import ScanRecipe, simulate_recipe
    from mrfcore.io.ismrmrd import write_ismrmrd

    recipe = ScanRecipe(
        phantom=args.phantom,
        sequence=args.sequence,
        te_ms=args.te,
        trajectory=args.trajectory,
        interleaves=args.interleaves,
        ordering=args.ordering,
        n_rotations=args.rotations,
        matrix=args.matrix,
        fov_mm=args.fov,
        coils=args.coils,
        snr=args.snr,
        seed=args.seed,
        field_strength_t=args.field,
        b1_amplitude=args.b1,
    )
    start = time.perf_counter()
    data = simulate_recipe(recipe, device=args.device, progress=TerminalProgress().progress())
    simulated = time.perf_counter() - start
    path = write_ismrmrd(data, args.out)
    written = time.perf_counter() - start - simulated
    print_summary(path, data, simulated, written)
    return 0


def print_summary(path, data, simulated_s: float, written_s: float) -> None:
    """What a scan file holds, for people."""
    trajectory = data.metadata["trajectory"]
    simulation = data.metadata["simulation"]
    sequence = data.sequence
    snr = simulation["snr"]
    print(f"wrote          {path} ({path.stat().st_size / 1e6:.1f} MB, ISMRMRD)")
    print(
        f"phantom        {simulation['phantom']}, {data.geometry.matrix[0]}×"
        f"{data.geometry.matrix[1]} over {data.geometry.fov_mm[0]:g} mm, "
        f"{simulation['compartments']} compartments"
    )
    print(
        f"sequence       {sequence.name}: {sequence.n_frames} frames, {sequence.readout}, "
        f"hash {sequence.content_hash()}"
    )
    print(
        f"trajectory     {trajectory['kind']} ({trajectory['ordering']}), "
        f"{data.n_interleaves} interleaf/frame × {data.n_readout} samples, "
        f"undersampling {trajectory['undersampling_factor']:.1f}× per frame"
    )
    print(f"coils          {data.n_coils} (birdcage)")
    noise = "none" if snr is None else f"SNR {snr:g} (noise SD {simulation['noise_sd']:.3g})"
    print(f"noise          {noise}, seed {simulation['seed']}")
    print(f"time           simulated in {simulated_s:.1f} s, written in {written_s:.1f} s")
