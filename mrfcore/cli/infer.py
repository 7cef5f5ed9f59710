"""``mrf infer TSMI``: T1/T2/PD maps from reconstructed subspace images (or time frames).

Inputs it reads:

- ``.h5`` written by ``mrf recon``: datasets ``images`` (s, *matrix) complex, ``basis``
  (T, s), ``affine`` (4×4); attributes ``matrix``, ``voxel_size_mm`` and ``sequence``
  (JSON of the schedule).
- NIfTI (``.nii``/``.nii.gz``) complex (x, y[, z], s) written by ``mrf recon``, whose
  JSON sidecar holds ``Basis`` (``real``/``imag`` lists, T × s); without a basis in
  the sidecar the 4th axis is read as time frames and projected onto the dictionary's
  subspace.
- ``.npz`` with ``images`` (components, *matrix) complex, optional ``basis`` (T, s),
  ``voxel_size_mm`` and ``affine``: ``images`` are subspace images when ``basis`` is
  present, time frames otherwise.

The schedule comes from the file when it records one (``.h5``, or a built-in name in
the NIfTI sidecar's ``Sequence``), else from ``--sequence``.  Maps are written as
BIDS-named NIfTI files with JSON sidecars (``PREFIX_T1map.nii.gz`` ...).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from mrfcore.cli._common import TerminalProgress, add_device_argument


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "infer",
        help="T1/T2/PD maps from subspace images (TSMI .h5/.nii.gz/.npz)",
        description="Estimate T1, T2 and PD maps from reconstructed MRF images with a "
        "registered inference method (dm, fgm, ...) and write BIDS-named NIfTI maps.",
    )
    parser.add_argument("tsmi", nargs="?", help="subspace images: .h5, .nii(.gz) or .npz")
    parser.add_argument("--method", default="dm", help="inference method (default dm)")
    parser.add_argument(
        "--option", action="append", default=[], metavar="NAME=VALUE",
        help="a method option (repeatable); see --list-options",
    )
    parser.add_argument(
        "--sequence", default=None, metavar="NAME|FILE",
        help="built-in sequence or schedule file (when the file records none, or to "
        "override it)",
    )
    parser.add_argument(
        "--rank", type=int, default=None,
        help="dictionary rank s (default: the images' number of subspace components, "
        "10 for time frames)",
    )
    parser.add_argument("--grid", default="paper", help="dictionary grid: paper, coarse, log")
    add_device_argument(parser)
    parser.add_argument(
        "--out-prefix", metavar="PREFIX",
        help="output path prefix, e.g. maps/sub-01 → maps/sub-01_T1map.nii.gz ...",
    )
    parser.add_argument(
        "--list-options", action="store_true", help="list the method's options and exit"
    )
    parser.set_defaults(handler=run)


def read_tsmi(path: str | Path, sequence: Any | None = None):
    """Read subspace images or time frames from .h5, NIfTI or .npz (see module notes).

    Parameters
    ----------
    path
        The file.
    sequence
        A :class:`~mrfcore.sequences.Sequence` overriding the one the file records.

    Returns
    -------
    ImageSeries
        ``basis`` set for subspace images, ``None`` for time frames.

    Raises
    ------
    ValueError
        Naming the file and what is wrong with it.
    """
    import numpy as np

    from mrfcore.data import Geometry, ImageSeries

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    name = path.name.lower()
    recorded = None
    if name.endswith((".h5", ".hdf5")):
        data, basis, geometry, recorded = _read_h5(path)
    elif name.endswith((".nii", ".nii.gz")):
        return _read_nifti_tsmi(path, sequence)
    elif name.endswith(".npz"):
        try:
            with np.load(path) as file:
                if "images" not in file:
                    raise ValueError(f"{path}: no 'images' array (found {sorted(file.files)})")
                data = np.asarray(file["images"])
                basis = np.asarray(file["basis"]) if "basis" in file else None
                matrix = data.shape[1:]
                voxel = (tuple(file["voxel_size_mm"]) if "voxel_size_mm" in file
                         else (1.0,) * len(matrix))
                affine = np.asarray(file["affine"]) if "affine" in file else None
        except (OSError, EOFError) as error:
            raise ValueError(f"{path}: not a readable .npz file ({error})") from None
        geometry = Geometry(matrix, voxel, affine)
    else:
        raise ValueError(f"{path}: subspace images must be .h5, .nii, .nii.gz or .npz")
    if data.ndim not in (3, 4):
        raise ValueError(f"{path}: images have shape {data.shape}; expected (s, x, y[, z])")
    if sequence is None and recorded is not None:
        sequence = recorded
    try:
        return ImageSeries(
            data=np.ascontiguousarray(data, dtype=np.complex64),
            geometry=geometry,
            basis=None if basis is None else np.asarray(basis, dtype=np.complex64),
            sequence=sequence,
            source=str(path),
            provenance={"reader": "mrf infer", "source": str(path)},
        )
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


def _read_h5(path: Path):
    import h5py
    import numpy as np

    from mrfcore.data import Geometry
    from mrfcore.sequences import Sequence

    try:
        with h5py.File(path, "r") as handle:
            if "images" not in handle:
                raise ValueError(
                    f"{path}: no 'images' dataset; is this a TSMI written by 'mrf recon'? "
                    "(raw k-space goes to 'mrf run' or 'mrf recon')"
                )
            data = handle["images"][()]
            basis = handle["basis"][()] if "basis" in handle else None
            affine = handle["affine"][()] if "affine" in handle else None
            matrix = tuple(int(v) for v in handle.attrs.get("matrix", data.shape[1:]))
            voxel = tuple(float(v) for v in handle.attrs.get("voxel_size_mm",
                                                             (1.0,) * len(matrix)))
            text = handle.attrs.get("sequence")
    except OSError as error:
        raise ValueError(f"{path}: not a readable HDF5 file ({error})") from None
    sequence = None
    if text is not None:
        try:
            sequence = Sequence.from_dict(json.loads(text))
        except (ValueError, TypeError, KeyError) as error:
            raise ValueError(f"{path}: the recorded sequence cannot be read ({error})") from None
    return np.asarray(data), basis, Geometry(matrix, voxel, affine), sequence


def _read_nifti_tsmi(path: Path, sequence: Any | None):
    import numpy as np

    from mrfcore.data import ImageSeries
    from mrfcore.io.nifti import read_nifti, read_sidecar
    from mrfcore.sequences import BUILTIN_SEQUENCES, load_sequence

    sidecar = read_sidecar(path)
    basis_record = sidecar.get("Basis") if isinstance(sidecar, dict) else None
    if sequence is None and isinstance(sidecar, dict):
        recorded = sidecar.get("Sequence")
        if isinstance(recorded, str) and recorded in BUILTIN_SEQUENCES:
            sequence = load_sequence(recorded)
    if basis_record is None:
        # Time frames: the frame count is checked against the sequence when one is known.
        return read_nifti(path, sequence=sequence)
    series = read_nifti(path)
    try:
        basis = (np.asarray(basis_record["real"], dtype=np.float32)
                 + 1j * np.asarray(basis_record["imag"], dtype=np.float32))
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{path}: the sidecar's Basis cannot be read ({error})") from None
    if basis.ndim != 2 or basis.shape[1] != series.data.shape[0]:
        raise ValueError(
            f"{path}: the sidecar's basis has shape {basis.shape} but the file holds "
            f"{series.data.shape[0]} subspace components"
        )
    return ImageSeries(series.data, series.geometry, basis.astype(np.complex64), sequence,
                       str(path), series.provenance)


def run(args: argparse.Namespace) -> int:
    from mrfcore.cli._common import describe_options, parse_method_options
    from mrfcore.io.export import export_nifti
    from mrfcore.methods import INFERENCE
    from mrfcore.pipeline import RunRequest, run_pipeline
    from mrfcore.sequences import load_sequence

    info = INFERENCE.get(args.method)
    if args.list_options:
        print(f"{info.name}: {info.label}\n  {info.description}\n")
        print(describe_options(info))
        return 0
    if not args.tsmi or not args.out_prefix:
        raise ValueError("give a TSMI file and --out-prefix (or --list-options)")
    options = parse_method_options(info, args.option)
    out_prefix = Path(args.out_prefix)
    folder, prefix = out_prefix.parent, out_prefix.name
    sequence = load_sequence(args.sequence) if args.sequence else None
    images = read_tsmi(args.tsmi, sequence)
    if images.sequence is None:
        raise ValueError(
            f"{args.tsmi}: the file records no MRF schedule; give --sequence NAME|FILE"
        )
    rank = args.rank or (images.data.shape[0] if images.basis is not None else 10)
    request = RunRequest(
        reconstruction=None, inference=info.name, inference_options=options,
        device=args.device, rank=rank, grid=args.grid,
    )
    result = run_pipeline(images, request, TerminalProgress().progress())
    written = export_nifti(result.maps, folder, prefix)
    details = result.maps.provenance.get("method_details", {})
    timings = ", ".join(f"{k.removesuffix('_s')} {v:.2f} s" for k, v in result.timings.items())
    print(f"{info.label} on {result.provenance['device']}: "
          f"{details.get('n_voxels_estimated', '?')} voxels; {timings}")
    if "agreement_with_dm" in details:
        print(f"agreement with exhaustive DM: {100 * details['agreement_with_dm']:.2f} %")
    for path in written:
        print(f"wrote {path}")
    return 0
