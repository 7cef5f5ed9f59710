"""``mrf run INPUT``: reconstruct (raw data), infer maps, export NIfTI with a sidecar."""

from __future__ import annotations

import argparse
import re
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="make T1/T2/PD maps from raw data or an image series and export them",
        description="Open INPUT (ISMRMRD, BART, Siemens twix, DICOM, NIfTI), reconstruct "
        "when it is raw k-space, infer T1/T2/PD and write BIDS-named NIfTI maps with a JSON "
        "sidecar.",
    )
    parser.add_argument("input", help="raw file, DICOM folder/file or NIfTI series")
    parser.add_argument("--sequence", help="built-in name or schedule file (when INPUT has none)")
    parser.add_argument("--series", help="DICOM series (UID or number) in a folder of several")
    parser.add_argument(
        "--trajectory",
        metavar="FILE",
        help="trajectory (BART .cfl or NumPy .npy): needed for BART k-space and twix, "
        "optional for ISMRMRD files without one",
    )
    parser.add_argument(
        "--trajectory-units",
        metavar="UNITS",
        help="trajectory units when the file does not say and detection fails: "
        "cycles/FOV, normalized, radians, 1/m, rad/m",
    )
    parser.add_argument("--recon", default=None, help="reconstruction method (default: lrtv)")
    parser.add_argument("--inference", default=None, help="inference method (default: dm)")
    parser.add_argument("--recon-option", action="append", metavar="NAME=VALUE", default=[])
    parser.add_argument("--inference-option", action="append", metavar="NAME=VALUE", default=[])
    parser.add_argument("--rank", type=int, default=10, help="subspace rank s (default 10)")
    parser.add_argument(
        "--grid",
        default="paper",
        help="dictionary grid: paper, coarse or log (see mrfcore.dictionary)",
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    parser.add_argument("--out-dir", default=".", help="folder for the maps (default: here)")
    parser.add_argument("--prefix", default=None, help="file name prefix (default: input name)")
    parser.add_argument("--dicom", action="store_true", help="also export DICOM maps")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from mrfcore.cli._common import TerminalProgress, parse_method_options
    from mrfcore.data import KSpaceData
    from mrfcore.io.export import export_dicom, export_nifti
    from mrfcore.io.loading import open_input
    from mrfcore.methods import INFERENCE, RECONSTRUCTION
    from mrfcore.pipeline import default_request, run_pipeline

    data = open_input(
        args.input,
        sequence=args.sequence,
        series=args.series,
        trajectory=args.trajectory,
        trajectory_units=args.trajectory_units,
    )
    request = default_request(data)
    if isinstance(data, KSpaceData):
        request.reconstruction = args.recon or request.reconstruction
        info = RECONSTRUCTION.get(request.reconstruction)
        request.reconstruction_options = parse_method_options(info, args.recon_option)
    request.inference = args.inference or request.inference
    request.inference_options = parse_method_options(
        INFERENCE.get(request.inference), args.inference_option
    )
    request.device, request.rank, request.grid = args.device, args.rank, args.grid
    result = run_pipeline(data, request, TerminalProgress().progress())

    prefix = args.prefix or _prefix_from(args.input)
    written = export_nifti(result.maps, args.out_dir, prefix)
    if args.dicom:
        written += list(export_dicom(result.maps, Path(args.out_dir) / f"{prefix}_dicom").values())
    methods = " + ".join(filter(None, [request.reconstruction, request.inference]))
    timings = ", ".join(f"{k.removesuffix('_s')} {v:.2f} s" for k, v in result.timings.items())
    print(f"{methods} on {result.provenance['device']}: {timings}")
    for path in written:
        print(f"wrote {path}")
    return 0


def _prefix_from(path: str) -> str:
    """A BIDS-safe file prefix from the input's name (``my scan.h5`` → ``my-scan``)."""
    stem = Path(path).name.split(".")[0]
    return re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-_") or "mrf"
