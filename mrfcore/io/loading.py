"""One entry point for every input a user can open: raw k-space or an image series.

The kind is decided from the path (folder, suffix) and, for ambiguous files, from the
content; whatever cannot be opened is refused with a ValueError naming the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mrfcore.data import ImageSeries, KSpaceData

__all__ = ["input_kind", "open_input"]

_RAW_SUFFIXES = (".h5", ".mrd", ".ismrmrd", ".hdf5")
_BART_SUFFIXES = (".cfl", ".hdr")
_DICOM_SUFFIXES = (".dcm", ".ima", ".dicom")


def input_kind(path: str | Path) -> str:
    """``"ismrmrd"``, ``"bart"``, ``"nifti"`` or ``"dicom"`` for ``path``.

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
    with path.open("rb") as handle:
        head = handle.read(132)
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return "ismrmrd"
    if head[128:132] == b"DICM":
        return "dicom"
    raise ValueError(
        f"{path}: not a file MRF Studio reads (ISMRMRD .h5, BART .cfl/.hdr, NIfTI, DICOM)"
    )


def open_input(
    path: str | Path,
    *,
    sequence: Any | None = None,
    series: str | int | None = None,
    trajectory: str | Path | None = None,
) -> KSpaceData | ImageSeries:
    """Open raw k-space (ISMRMRD, BART) or an image series (DICOM, NIfTI).

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
        BART trajectory file (``.cfl`` base) that goes with BART k-space.
    """
    from mrfcore.sequences import Sequence, load_sequence

    if sequence is not None and not isinstance(sequence, Sequence):
        sequence = load_sequence(sequence)
    kind = input_kind(path)
    if kind == "ismrmrd":
        from mrfcore.io.ismrmrd import read_ismrmrd

        return read_ismrmrd(path, sequence=sequence)
    if kind == "bart":
        from mrfcore.io.bart import read_bart_kspace

        if trajectory is None or sequence is None:
            raise ValueError(
                f"{path}: BART k-space needs its trajectory file and a sequence "
                "(give --trajectory and --sequence)"
            )
        return read_bart_kspace(path, trajectory, sequence)
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
