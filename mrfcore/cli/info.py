"""``mrf info FILE_OR_FOLDER``: what a file or folder holds, before anything runs.

Raw files are described even when they lack what a run needs (a schedule, a
trajectory): the missing piece is named instead of being an error.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "info",
        help="describe a raw file, DICOM folder or NIfTI file",
        description="Print what was found: kind, size, coils, frames, sequence, geometry, "
        "trajectory convention, and the series of a DICOM folder.",
    )
    parser.add_argument(
        "path", help="ISMRMRD .h5, BART .cfl, Siemens twix .dat, NIfTI, DICOM file/folder/DICOMDIR"
    )
    parser.add_argument("--sequence", help="schedule for data that carries none")
    parser.add_argument("--trajectory", metavar="FILE", help="trajectory (.cfl/.npy) for raw data")
    parser.add_argument("--trajectory-units", metavar="UNITS", help="units of the trajectory")
    parser.add_argument("--series", help="DICOM series (UID or number) to describe in detail")
    parser.set_defaults(handler=run)


def _print_block(title: str, rows: dict) -> None:
    print(title)
    width = max((len(k) for k in rows), default=0)
    for key, value in rows.items():
        print(f"  {key.ljust(width)}  {value}")


def _raw_rows(data) -> dict[str, str]:
    """Facts about raw k-space beyond what :func:`describe_input` shows."""
    metadata = data.metadata
    rows: dict[str, str] = {}
    if metadata.get("format"):
        rows["format"] = str(metadata["format"])
    if metadata.get("trajectory_convention"):
        rows["trajectory units"] = str(metadata["trajectory_convention"])
    if metadata.get("trajectory_source"):
        rows["trajectory from"] = str(metadata["trajectory_source"])
    if metadata.get("acquisition_layout"):
        rows["frame layout"] = str(metadata["acquisition_layout"])
    if metadata.get("sequence_source"):
        rows["sequence from"] = str(metadata["sequence_source"])
    noise = metadata.get("noise_samples")
    if noise is not None:
        rows["noise samples"] = f"{noise.shape[1]} per coil"
    if metadata.get("header_missing"):
        rows["header lacks"] = ", ".join(metadata["header_missing"])
    if metadata.get("field_strength_t"):
        rows["field strength"] = f"{metadata['field_strength_t']:g} T"
    if data.ground_truth is not None:
        rows["ground truth"] = "T1, T2, PD and labels (simulated scan)"
    return rows


def _dicom(args: argparse.Namespace) -> bool:
    """Print the series of a DICOM source; True when one series is to be described."""
    from mrfcore.io.dicom import scan_dicom

    scan = scan_dicom(args.path)
    print(f"{args.path} (dicom): {len(scan.series)} series")
    for info in scan.series:
        summary = info.summary()
        rows = {
            "description": summary.get("description") or "(none)",
            "images": summary["images"],
            "matrix": " × ".join(str(n) for n in summary.get("matrix", [])) or "?",
            "frames": summary.get("frames", "?"),
            "series UID": summary["series_uid"],
        }
        if "problem" in summary:
            rows["problem"] = summary["problem"]
        _print_block(f"- series {summary['series_number']}", rows)
    for skipped in scan.skipped:
        print(f"skipped {skipped}")
    return len(scan.series) == 1 or args.series is not None


def run(args: argparse.Namespace) -> int:
    from mrfcore.data import KSpaceData
    from mrfcore.io.loading import input_kind, open_input
    from mrfcore.pipeline import describe_input

    kind = input_kind(args.path)
    needs_both = args.sequence is None or args.trajectory is None
    if kind == "dicom" and not _dicom(args):
        return 0
    if kind == "bart" and needs_both:
        from mrfcore.io.bart import inspect_cfl

        summary = inspect_cfl(args.path).summary()
        rows = {
            "kind": "BART array (.cfl/.hdr)",
            "dimensions": " ".join(str(d) for d in summary["dims"]),
            "non-singleton": ", ".join(f"{k} {v}" for k, v in summary["non_singleton"].items()),
            "size": f"{summary['size_bytes']} bytes",
            "to read as MRF k-space": "give --sequence and --trajectory",
        }
        _print_block(f"{args.path} (bart)", rows)
        return 0
    if kind == "twix" and needs_both:
        from mrfcore.io.twix import twix_summary

        _print_block(f"{args.path} (twix)", twix_summary(args.path))
        return 0
    try:
        data = open_input(
            args.path,
            sequence=args.sequence,
            series=args.series,
            trajectory=args.trajectory,
            trajectory_units=args.trajectory_units,
        )
    except ValueError as error:
        if kind != "ismrmrd":
            raise
        # Describe what is there and name what a run would still need.
        from mrfcore.io.ismrmrd import ismrmrd_summary

        rows = ismrmrd_summary(args.path)
        rows["not ready to run"] = str(error).removeprefix(f"{Path(args.path)}: ")
        _print_block(f"{args.path} ({kind})", rows)
        return 0
    rows = describe_input(data)
    if isinstance(data, KSpaceData):
        rows.update(_raw_rows(data))
    _print_block(f"{args.path} ({kind})", rows)
    return 0
