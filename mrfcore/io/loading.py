"""One entry point for every input a user can open: raw k-space or an image series.

The kind is decided from the path (folder, suffix) and, for ambiguous files, from the
content; whatever cannot be opened is refused with a ValueError naming the file.

Raw k-space: ISMRMRD (``.h5``/``.mrd``), BART ``.cfl``/``.hdr`` with a trajectory file,
Siemens twix ``.dat`` (optional ``twixtools``; schedule and trajectory from the user).
Image series: DICOM (file, folder, DICOMDIR) and NIfTI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mrfcore.data import ImageSeries, KSpaceData

__all__ = ["input_kind", "open_input"]

_RAW_SUFFIXES = (".h5", ".mrd", ".ismrmrd", ".hdf5")
_BART_SUFFIXES = (".cfl", ".hdr")
_DICOM_SUFFIXES = (".dcm", ".ima", ".dicom")
_TWIX_SUFFIXES = (".dat",)


def input_kind(path: str | Path) -> str:
    """``"ismrmrd"``, ``"bart"``, ``"twix"``, ``"nifti"`` or ``"dicom"`` for ``path``.

    Raises
    ------
    ValueError
        If the path does not exist or is of no kind MRF Studio reads.
    """
    from mrfcore.io.nifti import is_nifti_path

    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path}: no such file or folder")
    name = path.name.lower()
    if path.is_dir() or name == "dicomdir" or name.endswith(_DICOM_SUFFIXES):
        return "dicom"
    if is_nifti_path(path):
        return "nifti"
    if name.endswith(_BART_SUFFIXES):
        return "bart"
    if name.endswith(_RAW_SUFFIXES):
        return "ismrmrd"
    if name.endswith(_TWIX_SUFFIXES):
        return "twix"
    with path.open("rb") as handle:
        head = handle.read(132)
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return "ismrmrd"
    if head[128:132] == b"DICM":
        return "dicom"
    raise ValueError(
        f"{path}: not a file MRF Studio reads (ISMRMRD .h5, BART .cfl/.hdr, Siemens twix "
        ".dat, NIfTI, DICOM)"
    )


def open_input(
    path: str | Path,
    *,
    sequence: Any | None = None,
    series: str | int | None = None,
    trajectory: str | Path | None = None,
    trajectory_units: str | None = None,
) -> KSpaceData | ImageSeries:
    """Open raw k-space (ISMRMRD, BART, twix) or an image series (DICOM, NIfTI).

    Parameters
    ----------
    path
        File or folder.
    sequence
        :class:`~mrfcore.sequences.Sequence`, built-in name or schedule file, for data
        that carries no schedule (or to override the header's).
    series
        DICOM series (SeriesInstanceUID or SeriesNumber) when a folder holds several.
    trajectory
        Trajectory file (BART ``.cfl`` or NumPy ``.npy``): required for BART k-space and
        twix, optional for ISMRMRD (files without one, or to override it).
    trajectory_units
        Units of the trajectory (see :data:`mrfcore.io.trajectory.TRAJECTORY_UNITS`)
        when the file does not say and detection is not wanted.
    """
    from mrfcore.sequences import Sequence, load_sequence

    if sequence is not None and not isinstance(sequence, Sequence):
        sequence = load_sequence(sequence)
    kind = input_kind(path)
    if kind == "ismrmrd":
        from mrfcore.io.ismrmrd import read_ismrmrd

        return read_ismrmrd(
            path, sequence=sequence, trajectory=trajectory, trajectory_units=trajectory_units
        )
    if kind == "twix":
        from mrfcore.io.twix import read_twix_kspace

        if trajectory is None or sequence is None:
            raise ValueError(
                f"{path}: Siemens twix data needs a sequence and a trajectory file, which "
                "twix files do not carry reliably (give --sequence and --trajectory)"
            )
        return read_twix_kspace(path, sequence, trajectory, trajectory_units=trajectory_units)
    if kind == "bart":
        from mrfcore.io.bart import read_bart_kspace
        from mrfcore.io.trajectory import CYCLES_PER_FOV, canonical_units

        if trajectory is None or sequence is None:
            raise ValueError(
                f"{path}: BART k-space needs its trajectory file and a sequence "
                "(give --trajectory and --sequence)"
            )
        if trajectory_units is not None and canonical_units(trajectory_units) != CYCLES_PER_FOV:
            raise ValueError(
                f"{trajectory}: BART trajectories are in {CYCLES_PER_FOV} by definition; "
                f"trajectory units {trajectory_units!r} do not apply"
            )
        return read_bart_kspace(path, trajectory, sequence)
    if trajectory is not None or trajectory_units is not None:
        raise ValueError(f"{path}: a trajectory applies to raw k-space, not to {kind} images")
    if kind == "nifti":
        from mrfcore.io.nifti import read_nifti

        return read_nifti(path, sequence=sequence)
    from mrfcore.io.dicom import read_dicom

    images = read_dicom(path, series)
    if sequence is not None:
        if sequence.n_frames != images.data.shape[0]:
            raise ValueError(
                f"{path}: the series has {images.data.shape[0]} frames but sequence "
                f"'{sequence.name}' has {sequence.n_frames}"
            )
        images.sequence = sequence
    return images
