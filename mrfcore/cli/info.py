"""``mrf info FILE_OR_FOLDER``: what a file or folder holds, before anything runs."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "info",
        help="describe a raw file, DICOM folder or NIfTI file",
        description="Print what was found: kind, size, coils, frames, sequence, geometry, "
        "trajectory convention, and the series of a DICOM folder.",
    )
    parser.add_argument("path", help="ISMRMRD .h5, BART .cfl, NIfTI, DICOM file/folder/DICOMDIR")
    parser.add_argument("--sequence", help="schedule for data that carries none")
    parser.set_defaults(handler=run)


def _print_block(title: str, rows: dict) -> None:
    print(title)
    width = max((len(k) for k in rows), default=0)
    for key, value in rows.items():
        print(f"  {key.ljust(width)}  {value}")


def run(args: argparse.Namespace) -> int:
    from mrfcore.io.loading import input_kind, open_input
    from mrfcore.pipeline import describe_input

    kind = input_kind(args.path)
    if kind == "dicom":
        from mrfcore.io.dicom import scan_dicom

        scan = scan_dicom(args.path)
        print(scan.describe())
        if len(scan.series) != 1:
            return 0
    elif kind == "bart":
        from mrfcore.io.bart import inspect_cfl

        print(inspect_cfl(args.path))
        return 0
    data = open_input(args.path, sequence=args.sequence)
    rows = describe_input(data)
    metadata = getattr(data, "metadata", {}) or {}
    if "trajectory_units" in metadata:
        source = metadata.get("trajectory_units_source", "")
        rows["trajectory units"] = f"{metadata['trajectory_units']} ({source})" if source else \
            metadata["trajectory_units"]
    if metadata.get("trajectory_type"):
        rows["trajectory"] = str(metadata["trajectory_type"])
    if metadata.get("field_strength_t"):
        rows["field strength"] = f"{metadata['field_strength_t']:g} T"
    if getattr(data, "ground_truth", None) is not None:
        rows["ground truth"] = "T1, T2, PD and labels (simulated scan)"
    _print_block(f"{args.path} ({kind})", rows)
    return 0
