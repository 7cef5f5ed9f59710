"""``mrf recon``: reconstruct the subspace images (TSMI) of a raw MRF scan.

Options of the chosen method come from the method registry (``--option name=value``,
repeatable; ``--list-options`` prints them), so a new method needs no change here.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from mrfcore.cli._common import TerminalProgress, add_device_argument

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "recon",
        help="reconstruct subspace images (TSMI) from a raw ISMRMRD scan",
        description="Reconstruct the subspace images of an MRF scan with one of the "
        "registered methods and write them as .h5 (with the basis) or complex NIfTI "
        "(x, y, z, s) with a JSON sidecar.",
    )
    parser.add_argument("scan", nargs="?", help="ISMRMRD raw-data file (.h5)")
    parser.add_argument("--method", default="lrtv", help="reconstruction method (default lrtv)")
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a method option (repeatable); see --list-options",
    )
    parser.add_argument("--rank", type=int, default=10, help="subspace rank s (default 10)")
    parser.add_argument(
        "--grid",
        default=None,
        help="dictionary grid preset for the basis (default: the dictionary's default)",
    )
    add_device_argument(parser)
    parser.add_argument("--out", help="output file: .h5, .nii or .nii.gz")
    parser.add_argument(
        "--list-options", action="store_true", help="list the method's options and exit"
    )
    parser.set_defaults(handler=run)


def parse_option_value(spec: Any, text: str) -> Any:
    """Convert ``text`` to the type an :class:`~mrfcore.methods.OptionSpec` declares."""
    where = f"option '{spec.name}'"
    if spec.type is bool:
        lowered = text.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError(f"{where} must be true or false, got {text!r}")
    if spec.type is int:
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{where} must be a whole number, got {text!r}") from None
        if not value.is_integer():
            raise ValueError(f"{where} must be a whole number, got {text!r}")
        return int(value)
    if spec.type is float:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"{where} must be a number, got {text!r}") from None
    return text


def options_from_arguments(info: Any, pairs: list[str]) -> Any:
    """The method's options object from ``NAME=VALUE`` strings (validated)."""
    from mrfcore.methods import options_from_dict

    specs = {spec.name: spec for spec in info.options}
    values: dict[str, Any] = {}
    for pair in pairs:
        name, separator, text = pair.partition("=")
        name = name.strip().replace("-", "_")
        if not separator or not name:
            raise ValueError(f"--option expects NAME=VALUE, got {pair!r}")
        if name not in specs:
            raise ValueError(
                f"method '{info.name}' has no option {name!r}; options: {sorted(specs)}"
            )
        values[name] = parse_option_value(specs[name], text)
    return options_from_dict(info.options_type, values)


def describe_options(info: Any) -> str:
    lines = [f"{info.name}: {info.label}", f"  {info.description}", ""]
    for spec in info.options:
        limits = []
        if spec.choices is not None:
            limits.append("choices: " + ", ".join(str(c) for c in spec.choices))
        if spec.minimum is not None:
            limits.append(f"min {spec.minimum:g}")
        if spec.maximum is not None:
            limits.append(f"max {spec.maximum:g}")
        unit = f" [{spec.unit}]" if spec.unit else ""
        extra = f" ({'; '.join(limits)})" if limits else ""
        lines.append(f"  {spec.name}={spec.default!r}{unit}{extra}")
        lines.append(f"      {spec.label}. {spec.help}".rstrip())
    return "\n".join(lines)


def write_images(series: Any, path: str | Path) -> Path:
    """Write subspace images atomically: .h5 (images, basis, geometry, provenance) or
    NIfTI complex64 (x, y, z, s) with a JSON sidecar."""
    import numpy as np

    from mrfcore.io.atomic import atomic_path, atomic_write_text
    from mrfcore.io.export import to_json_compatible

    path = Path(path)
    name = path.name.lower()
    record = {
        "Description": "MRF subspace images (TSMI); time series = basis @ images",
        "Components": int(series.data.shape[0]),
        "Sequence": series.sequence.name if series.sequence is not None else None,
        "Source": series.source,
        "Provenance": to_json_compatible(series.provenance),
    }
    if name.endswith((".nii", ".nii.gz")):
        import nibabel

        from mrfcore.io.nifti import sidecar_path

        data = np.moveaxis(series.data, 0, -1)  # (x, y[, z], s)
        if data.ndim == 3:
            data = data[:, :, None, :]
        image = nibabel.Nifti1Image(data.astype(np.complex64), series.geometry.affine)
        image.header.set_xyzt_units("mm")
        with atomic_path(path) as temporary:
            nibabel.save(image, str(temporary))
        if series.basis is not None:
            record["Basis"] = {
                "real": series.basis.real.tolist(),
                "imag": series.basis.imag.tolist(),
            }
        atomic_write_text(sidecar_path(path), json.dumps(record, indent=1))
        return path
    if name.endswith((".h5", ".hdf5")):
        import h5py

        with atomic_path(path) as temporary, h5py.File(temporary, "w") as handle:
            handle.create_dataset("images", data=series.data.astype(np.complex64))
            if series.basis is not None:
                handle.create_dataset("basis", data=series.basis.astype(np.complex64))
            handle.create_dataset("affine", data=series.geometry.affine)
            handle.attrs["matrix"] = np.asarray(series.geometry.matrix)
            handle.attrs["voxel_size_mm"] = np.asarray(series.geometry.voxel_size_mm)
            handle.attrs["record"] = json.dumps(record)
            if series.sequence is not None:
                handle.attrs["sequence"] = json.dumps(to_json_compatible(series.sequence))
        return path
    raise ValueError(f"{path}: output must end in .h5, .nii or .nii.gz")


def run(args: argparse.Namespace) -> int:
    from mrfcore.methods import RECONSTRUCTION, ReconstructionInputs

    info = RECONSTRUCTION.get(args.method)
    if args.list_options:
        print(describe_options(info))
        return 0
    if not args.scan or not args.out:
        raise ValueError("give a scan file and --out (or --list-options)")
    options = options_from_arguments(info, args.option)
    out = Path(args.out)
    if not out.name.lower().endswith((".h5", ".hdf5", ".nii", ".nii.gz")):
        raise ValueError(f"{out}: output must end in .h5, .nii or .nii.gz")
    if args.rank < 1:
        raise ValueError(f"--rank must be ≥ 1, got {args.rank}")

    from mrfcore.dictionary import grid_preset, load_or_build_dictionary
    from mrfcore.io.ismrmrd import read_ismrmrd

    kspace = read_ismrmrd(args.scan)
    terminal = TerminalProgress()
    grid = grid_preset(args.grid) if args.grid else None
    dictionary = load_or_build_dictionary(
        kspace.sequence, grid, rank=args.rank, device=args.device, progress=terminal.progress()
    )
    inputs = ReconstructionInputs(kspace, dictionary.basis, args.device)
    series = info.run(inputs, options, terminal.progress())
    written = write_images(series, out)
    timings = series.provenance.get("timings_s", {})
    total = sum(float(v) for v in timings.values())
    extra = ""
    if "iterations" in series.provenance:
        extra = f", {series.provenance['iterations']} iterations"
    print(
        f"{info.label}: {series.data.shape[0]} subspace images {series.geometry.matrix} "
        f"in {total:.1f} s{extra} → {written}"
    )
    return 0
