"""Siemens raw data (twix ``.dat``, VB and VD/VE) through the optional ``twixtools``.

Install with ``pip install 'mrf-studio[twix]'``.  What a twix file gives and what it
does not:

- **k-space**: the readouts of the last measurement in the file (the image scan of a
  multi-raid file; earlier ones are adjustments), every channel; noise-adjust readouts
  become ``metadata["noise_samples"]``.  ``CutOff`` pre/post samples are dropped.
- **frames**: the loop counter holding the MRF frame is chosen as for ISMRMRD (the
  first of Rep, Lin, Eco, Seg, Set, Phs, Ida … with as many values as the schedule has
  frames; see :func:`mrfcore.io._raw_layout.assign_frames`), or named by the user.
- **geometry**: base resolution and field of view from the protocol (``MeasYaps``:
  ``sKSpace.lBaseResolution``, ``sSliceArray.asSlice[0].dReadoutFOV`` / ``dPhaseFOV``
  / ``dThickness``), or given.
- **the MRF schedule is not taken from the file**: MRF sequences keep their flip-angle
  and TR lists in sequence-specific places (special cards, external files), so the user
  names a built-in or a schedule file.
- **the trajectory is not taken from the file**: spiral and radial gradients are
  designed inside the sequence and rarely stored; their parameters in the protocol do
  not determine the k-space positions in general.  The user gives the trajectory as a
  BART ``.cfl`` or NumPy ``.npy`` file with one position per stored sample (after
  readout oversampling, before or after the cut-off samples); its units are detected
  or stated (see :mod:`mrfcore.io.trajectory`).
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mrfcore.data import Geometry, KSpaceData
from mrfcore.io._raw_layout import assign_frames
from mrfcore.io.trajectory import load_trajectory, normalise_trajectory, shape_trajectory

if TYPE_CHECKING:
    from mrfcore.sequences import Sequence

__all__ = [
    "TWIX_COUNTERS",
    "kspace_from_readouts",
    "read_twix_kspace",
    "twix_geometry",
    "twix_summary",
    "twixtools_available",
]

TWIX_COUNTERS = (
    "Lin",
    "Ave",
    "Sli",
    "Par",
    "Eco",
    "Phs",
    "Rep",
    "Set",
    "Seg",
    "Ida",
    "Idb",
    "Idc",
    "Idd",
    "Ide",
)
_FRAME_ORDER = ("Rep", "Lin", "Eco", "Seg", "Set", "Phs", "Ida", "Idb", "Idc", "Idd", "Ide")
_INSTALL = "install the optional twix support: pip install 'mrf-studio[twix]'"


def twixtools_available() -> bool:
    """True when the optional ``twixtools`` package can be imported."""
    try:
        import twixtools  # noqa: F401
    except ImportError:
        return False
    return True


def _twixtools(path: Path):
    try:
        import twixtools
    except ImportError:
        raise ValueError(
            f"{path}: reading Siemens twix (.dat) files needs twixtools; {_INSTALL}"
        ) from None
    return twixtools


def _read_scans(path: Path) -> list[dict[str, Any]]:
    twixtools = _twixtools(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        # twixtools prints warnings and progress on stdout; the caller reports instead.
        with contextlib.redirect_stdout(io.StringIO()):
            scans = twixtools.read_twix(
                str(path),
                parse_pmu=False,
                parse_geometry=False,
                verbose=False,
                keep_syncdata=False,
            )
    except Exception as error:  # noqa: BLE001 - any parse failure means "not readable twix"
        raise ValueError(f"{path}: not a Siemens twix file twixtools can read ({error})") from None
    scans = [scan for scan in scans if isinstance(scan, dict)]
    if not scans:
        raise ValueError(f"{path}: the twix file holds no measurement")
    return scans


def _protocol_value(header: dict[str, Any], *keys: Any) -> Any:
    node: Any = header.get("MeasYaps", {})
    for key in keys:
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def twix_geometry(header: dict[str, Any], source: str) -> tuple[tuple[int, int], tuple[float, ...]]:
    """(matrix, field of view in mm (x, y, slice)) from a twix protocol header.

    The matrix is the base resolution along the readout and scaled by the phase/readout
    FOV ratio along y (square pixels).
    """
    base = _protocol_value(header, "sKSpace", "lBaseResolution")
    readout_fov = _protocol_value(header, "sSliceArray", "asSlice", 0, "dReadoutFOV")
    phase_fov = _protocol_value(header, "sSliceArray", "asSlice", 0, "dPhaseFOV") or readout_fov
    thickness = _protocol_value(header, "sSliceArray", "asSlice", 0, "dThickness") or 0.0
    if not base or not readout_fov:
        raise ValueError(
            f"{source}: the protocol gives no base resolution (sKSpace.lBaseResolution) or "
            "field of view (sSliceArray.asSlice[0].dReadoutFOV); give the matrix and FOV"
        )
    ny = max(1, int(round(int(base) * float(phase_fov) / float(readout_fov))))
    return (int(base), ny), (float(readout_fov), float(phase_fov), float(thickness))


def kspace_from_readouts(
    readouts: list[np.ndarray],
    counters: dict[str, np.ndarray],
    sequence: Sequence,
    trajectory: np.ndarray,
    *,
    matrix: tuple[int, int],
    fov_mm: tuple[float, ...],
    source: str,
    cut: tuple[int, int] = (0, 0),
    trajectory_units: str | None = None,
    units_origin: str = "given",
    frame_counter: str | None = None,
    interleaf_counter: str | None = None,
    noise: np.ndarray | None = None,
    metadata: dict[str, Any] | None = None,
) -> KSpaceData:
    """Assemble MRF k-space from readouts and their loop counters (the twix mapping).

    Parameters
    ----------
    readouts
        One complex array (channels, samples) per imaging readout, in acquisition order.
    counters
        Counter name (:data:`TWIX_COUNTERS`) → int array (readouts,).
    sequence
        The MRF schedule; its frame count decides the frame counter when none is named.
    trajectory
        Coordinates, any shape :func:`mrfcore.io.trajectory.shape_trajectory` accepts,
        with ``samples`` or ``samples − cut`` points per readout.
    matrix, fov_mm
        Image matrix (x, y) and field of view (mm; x, y[, slice thickness]).
    cut
        Samples to drop at the start and end of every readout (twix CutOff).
    trajectory_units, units_origin
        Units of ``trajectory`` (None: detect) and who said so.
    noise
        Noise-only samples (channels, n), kept in the metadata.

    Returns
    -------
    KSpaceData
        samples (coils, frames, interleaves, readout), trajectory in cycles/FOV.
    """
    if not readouts:
        raise ValueError(f"{source}: no imaging readouts")
    shapes = {np.shape(r) for r in readouts}
    if len(shapes) != 1:
        raise ValueError(
            f"{source}: readouts differ in (channels, samples): {sorted(shapes)[:4]}; MRF "
            "Studio needs the same for every readout"
        )
    n_channels, n_samples = shapes.pop()
    layout = assign_frames(
        counters,
        source,
        frame_order=_FRAME_ORDER,
        interleaf_default=None,
        never_interleaf=("Sli", "Ave", "Par"),
        frame_counter=frame_counter,
        interleaf_counter=interleaf_counter,
        n_frames=sequence.n_frames,
    )
    if layout.n_frames != sequence.n_frames:
        raise ValueError(
            f"{source}: the data has {layout.n_frames} frames ({layout.description}) but "
            f"sequence '{sequence.name}' has {sequence.n_frames}"
        )
    pre, post = (int(c) for c in cut)
    n_readout = n_samples - pre - post
    if n_readout <= 0:
        raise ValueError(f"{source}: the cut-off samples ({pre} + {post}) leave no samples")
    samples = np.empty(
        (n_channels, layout.n_frames, layout.n_interleaves, n_readout), dtype=np.complex64
    )
    for values, frame, slot in zip(readouts, layout.frames, layout.slots, strict=True):
        samples[:, frame, slot] = np.asarray(values)[:, pre : n_samples - post]
    coords = np.asarray(trajectory, dtype=np.float64)
    if coords.ndim >= 2 and coords.shape[-2] == n_samples and n_samples != n_readout:
        coords = coords[..., pre : n_samples - post, :]
    coords = shape_trajectory(
        coords, layout.n_frames, layout.n_interleaves, n_readout, f"{source}: the trajectory"
    )
    normalised, convention = normalise_trajectory(
        coords, matrix, fov_mm, trajectory_units, origin=units_origin, source=source
    )
    voxel = (fov_mm[0] / matrix[0], fov_mm[1] / matrix[1])
    geometry = Geometry(matrix=tuple(matrix), voxel_size_mm=voxel)
    if len(fov_mm) > 2 and fov_mm[2] > 0:
        geometry.affine[2, 2] = fov_mm[2]
    return KSpaceData(
        samples=samples,
        trajectory=normalised,
        sequence=sequence,
        geometry=geometry,
        source=source,
        metadata={
            "format": "Siemens twix",
            "trajectory_units": convention.units,
            "trajectory_units_source": convention.origin,
            "trajectory_convention": convention.describe(),
            "acquisition_layout": layout.description,
            "sequence_source": "given",
            "noise_samples": noise,
            **(metadata or {}),
        },
    )


def _counters(mdbs: list[Any]) -> dict[str, np.ndarray]:
    return {
        name: np.array([getattr(m.mdh.Counter, name) for m in mdbs], dtype=np.int64)
        for name in TWIX_COUNTERS
    }


def read_twix_kspace(
    path: str | Path,
    sequence: Sequence,
    trajectory: str | Path | np.ndarray,
    *,
    trajectory_units: str | None = None,
    frame_counter: str | None = None,
    interleaf_counter: str | None = None,
    matrix: tuple[int, int] | None = None,
    fov_mm: tuple[float, ...] | None = None,
) -> KSpaceData:
    """MRF k-space from a Siemens twix file; the schedule and trajectory come from the user.

    Parameters
    ----------
    path
        The ``.dat`` file.
    sequence
        The MRF schedule (twix headers do not carry it reliably).
    trajectory
        BART ``.cfl``/NumPy ``.npy`` path or an array (see the module docstring).
    trajectory_units
        Units of the trajectory; BART files are cycles/FOV, others are detected.
    frame_counter, interleaf_counter
        Twix loop counters (``"Rep"``, ``"Lin"`` ...) when the automatic choice is wrong.
    matrix, fov_mm
        Override the protocol's matrix and field of view.

    Raises
    ------
    ValueError
        Naming the file: twixtools missing ("install mrf-studio[twix]"), not a twix
        file, readouts that do not fit the sequence or the trajectory.
    """
    path = Path(path)
    source = str(path)
    if sequence is None:
        raise ValueError(
            f"{source}: twix files do not carry the MRF schedule reliably; name a sequence "
            "(a built-in or a schedule file)"
        )
    if trajectory is None:
        raise ValueError(
            f"{source}: twix files do not carry the spiral/radial k-space positions; give "
            "the trajectory as a BART .cfl or NumPy .npy file (--trajectory)"
        )
    scans = _read_scans(path)
    scan = scans[-1]
    header = scan.get("hdr", {})
    images = [m for m in scan["mdb"] if m.is_image_scan()]
    if not images:
        raise ValueError(f"{source}: the last measurement holds no imaging readouts")
    noise_mdbs = [m for s in scans for m in s["mdb"] if m.is_flag_set("NOISEADJSCAN")]
    channels = images[0].mdh.UsedChannels
    noise_blocks = [np.asarray(m.data) for m in noise_mdbs if m.mdh.UsedChannels == channels]
    cuts = {(m.mdh.CutOff.Pre, m.mdh.CutOff.Post) for m in images}
    if len(cuts) != 1:
        raise ValueError(f"{source}: readouts differ in their cut-off samples {sorted(cuts)}")
    if matrix is None or fov_mm is None:
        header_matrix, header_fov = twix_geometry(header, source)
        matrix = matrix or header_matrix
        fov_mm = fov_mm or header_fov
    units, origin = trajectory_units, "given"
    if isinstance(trajectory, np.ndarray):
        coords = trajectory
    else:
        coords, format_units = load_trajectory(trajectory)
        if units is None and format_units is not None:
            units, origin = format_units, "format"
    field = header.get("Dicom", {}).get("flMagneticFieldStrength")
    return kspace_from_readouts(
        [np.asarray(m.data) for m in images],
        _counters(images),
        sequence,
        coords,
        matrix=matrix,
        fov_mm=fov_mm,
        source=source,
        cut=cuts.pop(),
        trajectory_units=units,
        units_origin=origin,
        frame_counter=frame_counter,
        interleaf_counter=interleaf_counter,
        noise=np.concatenate(noise_blocks, axis=1) if noise_blocks else None,
        metadata={
            "field_strength_t": float(field) if field else None,
            "protocol_name": _protocol_value(header, "tProtocolName"),
            "trajectory_source": "given: "
            + ("array" if isinstance(trajectory, np.ndarray) else str(trajectory)),
            "n_measurements": len(scans),
        },
    )


def twix_summary(path: str | Path) -> dict[str, str]:
    """What ``mrf info`` shows about a twix file without a schedule or trajectory."""
    path = Path(path)
    scans = _read_scans(path)
    scan = scans[-1]
    header = scan.get("hdr", {})
    images = [m for m in scan["mdb"] if m.is_image_scan()]
    counters = _counters(images) if images else {}
    varying = {
        name: int(np.unique(values).size)
        for name, values in counters.items()
        if np.unique(values).size > 1
    }
    rows = {
        "kind": "raw k-space (Siemens twix)",
        "source": path.name,
        "measurements": str(len(scans)),
        "imaging readouts": str(len(images)),
    }
    if images:
        rows["coils"] = str(images[0].mdh.UsedChannels)
        rows["samples per readout"] = str(images[0].mdh.SamplesInScan)
    spans = ", ".join(f"{name} ({count} values)" for name, count in varying.items())
    rows["loop counters"] = spans or "none vary"
    try:
        matrix, fov = twix_geometry(header, str(path))
        rows["matrix"] = f"{matrix[0]} × {matrix[1]}"
        rows["field of view"] = f"{fov[0]:g} × {fov[1]:g} mm, slice {fov[2]:g} mm"
    except ValueError as error:
        rows["geometry"] = str(error).split(": ", 1)[-1]
    protocol = _protocol_value(header, "tProtocolName")
    if protocol:
        rows["protocol"] = str(protocol)
    rows["sequence"] = "not in twix files: name one with --sequence"
    rows["trajectory"] = "not in twix files: give one with --trajectory (.cfl or .npy)"
    return rows
