"""ISMRMRD (HDF5) raw data: MRF Studio's own scans and files from scanners and other tools.

Layout written by :func:`write_ismrmrd` (MRF Studio's simulated scans)
----------------------------------------------------------------------
``/dataset/xml``
    The ISMRMRD XML header (built with the ``ismrmrd`` package's own schema classes):

    - ``encoding``: encoded = recon space, matrix (N, N, 1) and field of view (mm);
      trajectory type (spiral / radial / cartesian) and a ``trajectoryDescription``
      with the design parameters; encoding limits of ``kspace_encoding_step_1``
      (interleaf) and ``repetition`` (frame).
    - ``acquisitionSystemInformation``: field strength, ``receiverChannels`` = coils.
    - ``sequenceParameters``, the MRF schedule, one value per frame: ``TR``, ``TE``
      (ms), ``flipAngle_deg``; ``TI`` (ms) holds the one inversion time when there is an
      inversion and is absent otherwise; ``sequence_type`` is ``"FISP"`` (spoiled) or
      ``"TrueFISP"`` (balanced).
    - ``userParameters``: ``trajectory_units`` = ``"cycles/FOV"`` (k in units of 1/FOV,
      the edge of the matrix at ±N/2); ``mrf_readout`` (``fisp``/``bssfp``),
      ``mrf_rf_phase_deg`` (the RF phase of every frame, space-separated: the schema has
      no per-frame phase), ``mrf_sequence_name``, ``mrf_sequence_description``,
      ``mrf_frame_counter`` = ``repetition``, ``mrf_interleaf_counter`` =
      ``kspace_encode_step_1``.

``/dataset/data``
    One acquisition per (frame, interleaf), all coils in it, in frame-major order:
    ``idx.repetition`` = frame, ``idx.kspace_encode_step_1`` = interleaf; the trajectory
    (readout, 2) in cycles/FOV; FIRST/LAST_IN_REPETITION and LAST_IN_MEASUREMENT flags;
    ``acquisition_time_stamp`` in the usual 2.5 ms ticks from the start of the schedule.
    Simulated scans with noise start with one noise-only readout flagged
    ACQ_IS_NOISE_MEASUREMENT.  The compound dataset is written in one go with h5py in
    the exact on-disk type of the ``ismrmrd`` package, whose ``Dataset``/``File``
    readers open it (tested).

``/dataset/mrf_studio/ground_truth`` (simulated scans)
    ``t1_ms``, ``t2_ms``, ``pd``, ``labels`` (x, y) and the attribute ``label_names``
    (JSON).  ``/dataset/mrf_studio/simulation`` holds the true ``coil_sensitivities``,
    the ``b1_map`` when used, and the attribute ``parameters`` (JSON).

Files from other writers
------------------------
The reader takes what real files hold, and says what is missing when it cannot:

- **Header**: read leniently (:mod:`mrfcore.io._ismrmrd_header`): missing
  encodingLimits, reconSpace, acquisitionSystemInformation or sequenceParameters are
  tolerated (listed in ``metadata["header_missing"]``); without sequenceParameters the
  schedule must be named.  TR, TE and TI may be one value or one per frame; the readout
  kind comes from ``sequence_type`` (FISP, TrueFISP, bSSFP, balanced ...).
- **Acquisition table**: fields are read by name, so older compound layouts work:
  ``data`` as a list of floats (ISMRMRD ≥ 1.4) or of ``{real, imag}`` pairs (the C
  library of ISMRMRD 1.0–1.3); a missing ``idx``, ``number_of_samples``,
  ``active_channels``, ``trajectory_dimensions``, ``discard_*`` or ``flags`` is
  inferred or taken as 0.  A group other than ``/dataset`` is found when it is the only
  one with a header.
- **Frames**: the counter holding the MRF frame is ``mrf_frame_counter`` when the header
  names it, else the first of repetition, contrast, phase, set, segment,
  kspace_encode_step_1 that has as many values as the schedule has frames (see
  :func:`mrfcore.io._raw_layout.assign_frames`); interleaves need not use the same
  counter values in every frame (rotating spiral arms).
- **Trajectory**: in the acquisitions (2 dimensions; a third column of zeros is dropped
  and a non-negative third column is taken as density weights, as Gadgetron writes
  spirals), or given separately (``trajectory=``: BART .cfl or NumPy .npy), or — for a
  ``cartesian`` encoding without one — built from ``kspace_encode_step_1`` (line) and
  ``center_sample``.  A spiral/radial file without a trajectory is refused: its
  gradient design is not recorded in a standard form.
- **Units**: ``trajectory_units`` in userParameters (or the trajectoryDescription), or
  given by the caller, else detected from max |k| (:mod:`mrfcore.io.trajectory`):
  cycles/FOV, normalized (±0.5), radians (±π), 1/m, rad/m.  Reported in
  ``metadata["trajectory_units"]`` and ``metadata["trajectory_convention"]``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mrfcore.data import Geometry, GroundTruth, KSpaceData
from mrfcore.io._ismrmrd_header import (
    IsmrmrdHeaderInfo,
    MrfSchedule,
    header_sequence,
    parse_header,
    readout_from_name,
)
from mrfcore.io._ismrmrd_write import (
    NOISE,
    NOT_IMAGING,
    STUDIO_GROUP,
    TRAJECTORY_UNITS,
    flag,
    write_ismrmrd,
)
from mrfcore.io._raw_layout import AcquisitionLayout, assign_frames
from mrfcore.io.trajectory import (
    TrajectoryConvention,
    load_trajectory,
    normalise_trajectory,
    shape_trajectory,
)

if TYPE_CHECKING:
    from mrfcore.sequences import Sequence

__all__ = [
    "TRAJECTORY_UNITS",
    "IsmrmrdHeaderInfo",
    "MrfSchedule",
    "header_sequence",
    "is_ismrmrd",
    "ismrmrd_summary",
    "parse_header",
    "read_header",
    "read_ismrmrd",
    "readout_from_name",
    "write_ismrmrd",
]

COUNTERS = (
    "kspace_encode_step_1",
    "kspace_encode_step_2",
    "average",
    "slice",
    "contrast",
    "phase",
    "repetition",
    "set",
    "segment",
)
_FRAME_ORDER = ("repetition", "contrast", "phase", "set", "segment", "kspace_encode_step_1")
_UNIT_PARAMETERS = ("trajectory_units", "trajectoryUnits", "units", "kspace_units", "k_units")


# ============================================================================ the file


def is_ismrmrd(path: str | Path, dataset: str = "dataset") -> bool:
    """True when ``path`` is an HDF5 file with an ISMRMRD header in ``dataset``."""
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            return f"{dataset}/xml" in handle
    except OSError:
        return False


def _open(path: Path):
    import h5py

    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        return h5py.File(path, "r")
    except OSError as error:
        raise ValueError(f"{path}: not an HDF5 (ISMRMRD) file ({error})") from None


def _group(handle, dataset: str, source: str):
    """The ISMRMRD group: ``dataset``, or the only group holding a header."""
    if dataset in handle:
        return handle[dataset]
    with_header = [name for name in handle if "xml" in getattr(handle[name], "keys", list)()]
    if dataset == "dataset" and len(with_header) == 1:
        return handle[with_header[0]]
    raise ValueError(f"{source}: no ISMRMRD dataset group '/{dataset}' (groups: {sorted(handle)})")


def _header_xml(group, source: str) -> bytes:
    if "xml" not in group:
        raise ValueError(f"{source}: no ISMRMRD header ('{group.name}/xml')")
    value = group["xml"][()]
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "ui":  # the text stored as a byte array
            return value.astype(np.uint8).tobytes()
        if value.size == 0:
            raise ValueError(f"{source}: the ISMRMRD header ('{group.name}/xml') is empty")
        value = value.reshape(-1)[0]
    return value if isinstance(value, bytes) else str(value).encode()


def read_header(path: str | Path, dataset: str = "dataset") -> IsmrmrdHeaderInfo:
    """Parse the header of an ISMRMRD file without reading its acquisitions."""
    path = Path(path)
    with _open(path) as handle:
        return parse_header(_header_xml(_group(handle, dataset, str(path)), str(path)), str(path))


# ============================================================================ acquisitions


def _has(table: np.ndarray, name: str) -> bool:
    return bool(table.dtype.names) and name in table.dtype.names


def _field(table: np.ndarray, name: str, default: Any = 0) -> np.ndarray:
    """A column by name, or ``default`` for every row when the layout lacks it."""
    return table[name] if _has(table, name) else np.full(table.shape[0], default)


def _complex(values: Any) -> np.ndarray:
    """complex64 samples from one acquisition's stored data, whatever its element type."""
    array = np.asarray(values)
    if array.dtype.names:  # {real, imag} pairs (ISMRMRD 1.0–1.3 C library)
        real, imag = array.dtype.names[:2]
        return (array[real] + 1j * array[imag]).astype(np.complex64)
    if np.iscomplexobj(array):
        return array.astype(np.complex64).ravel()
    return np.ascontiguousarray(array, dtype=np.float32).view(np.complex64).ravel()


def _uniform(values: np.ndarray, name: str, source: str) -> int:
    unique = np.unique(values)
    if unique.size != 1:
        raise ValueError(
            f"{source}: acquisitions differ in {name} ({unique.tolist()[:5]}); "
            "MRF Studio needs the same for every readout"
        )
    return int(unique[0])


def _sizes(head, data_column, imaging, info, source) -> tuple[int, int]:
    """(samples, channels) per readout; one inferred from the data length when the
    layout lacks it."""
    values = np.array([_complex(data_column[i]).size for i in imaging[:64]])
    channels = None
    for name in ("active_channels", "available_channels"):
        if channels is None and _has(head, name):
            channels = _uniform(head[name][imaging], name, source)
    samples = None
    if _has(head, "number_of_samples"):
        samples = _uniform(head["number_of_samples"][imaging], "number_of_samples", source)
    if channels is None and samples is None:
        if info.n_coils is None:
            raise ValueError(
                f"{source}: the acquisition headers give neither number_of_samples nor "
                "active_channels and the XML header has no receiverChannels, so the data "
                "cannot be split into coils"
            )
        channels = info.n_coils
    if samples is None:
        samples = _uniform(values // max(channels, 1), "data length / channels", source)
    if channels is None:
        channels = _uniform(values // max(samples, 1), "data length / samples", source)
    return samples, channels


def _read_acquisitions(
    group, info: IsmrmrdHeaderInfo, source: str, n_frames: int | None, frame_counter: str | None
) -> dict[str, Any]:
    if "data" not in group:
        raise ValueError(f"{source}: the file has no acquisitions ('{group.name}/data')")
    try:
        raw = group["data"][()]
    except (OSError, TypeError, ValueError) as error:
        raise ValueError(f"{source}: cannot read the acquisitions ({error})") from None
    if raw.size == 0:
        raise ValueError(f"{source}: the file has no acquisitions")
    names = raw.dtype.names or ()
    if "data" not in names:
        raise ValueError(f"{source}: the acquisitions have no 'data' field (fields: {list(names)})")
    head = raw["head"] if "head" in names else raw
    data_column = raw["data"]
    traj_column = raw["traj"] if "traj" in names else None
    flags = _field(head, "flags").astype(np.uint64)
    not_imaging = np.uint64(sum(flag(bit) for bit in NOT_IMAGING))
    usable = (flags & not_imaging) == 0
    if info.n_encodings > 1:
        usable &= _field(head, "encoding_space_ref") == 0
    imaging = np.flatnonzero(usable)
    noise = np.flatnonzero((flags & np.uint64(flag(NOISE))) != 0)
    if imaging.size == 0:
        raise ValueError(f"{source}: the file has no imaging acquisitions")

    idx = head["idx"] if head.dtype.names and "idx" in head.dtype.names else None
    counters = {
        name: (np.zeros(raw.size, np.int64) if idx is None else _field(idx, name))[imaging]
        for name in COUNTERS
    }
    layout = assign_frames(
        counters,
        source,
        frame_order=_FRAME_ORDER,
        interleaf_default="kspace_encode_step_1",
        never_interleaf=("slice", "average", "kspace_encode_step_2"),
        frame_counter=frame_counter or info.user_parameters.get("mrf_frame_counter"),
        interleaf_counter=info.user_parameters.get("mrf_interleaf_counter"),
        n_frames=n_frames,
    )
    n_samples, n_channels = _sizes(head, data_column, imaging, info, source)
    discard_pre = _uniform(_field(head, "discard_pre")[imaging], "discard_pre", source)
    discard_post = _uniform(_field(head, "discard_post")[imaging], "discard_post", source)
    n_readout = n_samples - discard_pre - discard_post
    if n_readout <= 0:
        raise ValueError(f"{source}: discard_pre/discard_post leave no samples")
    keep = slice(discard_pre, n_samples - discard_post)
    if _has(head, "trajectory_dimensions"):
        n_dims = _uniform(head["trajectory_dimensions"][imaging], "trajectory_dimensions", source)
    else:  # an old layout: infer from the stored length
        n_dims = 0 if traj_column is None else np.size(traj_column[imaging[0]]) // n_samples

    shape = (layout.n_frames, layout.n_interleaves)
    samples = np.empty((n_channels, *shape, n_readout), dtype=np.complex64)
    trajectory = np.empty((*shape, n_readout, n_dims), dtype=np.float32) if n_dims else None
    for index, frame, slot in zip(imaging, layout.frames, layout.slots, strict=True):
        values = _complex(data_column[index])
        if values.size != n_channels * n_samples:
            raise ValueError(
                f"{source}: acquisition {index} holds {values.size} samples, expected "
                f"{n_channels} channels × {n_samples}"
            )
        samples[:, frame, slot] = values.reshape(n_channels, n_samples)[:, keep]
        if trajectory is not None:
            coords = np.asarray(traj_column[index], dtype=np.float32)
            if coords.size != n_dims * n_samples:
                raise ValueError(
                    f"{source}: acquisition {index} holds {coords.size} trajectory values, "
                    f"expected {n_samples} samples × {n_dims} dimensions"
                )
            trajectory[frame, slot] = coords.reshape(n_samples, n_dims)[keep]
    # Noise readouts with the imaging channel count, side by side: (channels, samples).
    noise_blocks = [_complex(data_column[i]) for i in noise]
    noise_blocks = [b.reshape(n_channels, -1) for b in noise_blocks if b.size % n_channels == 0]
    centre = _field(head, "center_sample")[imaging]
    return {
        "samples": samples,
        "trajectory": trajectory,
        "layout": layout,
        "step_1": _ordered(counters["kspace_encode_step_1"], layout),
        "n_samples": n_samples,
        "keep": keep,
        "center_sample": int(np.median(centre)) if centre.size else 0,
        "noise_samples": np.concatenate(noise_blocks, axis=1) if noise_blocks else None,
        "n_noise_acquisitions": int(noise.size),
        "skipped_acquisitions": int(raw.size - imaging.size),
        "sample_time_us": float(np.median(_field(head, "sample_time_us", 0.0)[imaging])),
    }


def _ordered(values: np.ndarray, layout: AcquisitionLayout) -> np.ndarray:
    grid = np.zeros((layout.n_frames, layout.n_interleaves), dtype=np.int64)
    grid[layout.frames, layout.slots] = values
    return grid


# ============================================================================ trajectory


def _stated_units(info: IsmrmrdHeaderInfo) -> str | None:
    for parameters in (info.user_parameters, info.trajectory_parameters):
        for name in _UNIT_PARAMETERS:
            if parameters.get(name):
                return str(parameters[name])
    return None


def _cartesian_lines(acquisitions: dict[str, Any], info: IsmrmrdHeaderInfo) -> np.ndarray:
    """Cartesian k-space positions (frames, lines, readout, 2) in cycles/encoded FOV:
    kx from the sample index around ``center_sample``, ky from kspace_encode_step_1
    around the encoding limits' centre."""
    n_samples = acquisitions["n_samples"]
    centre_x = acquisitions["center_sample"] or n_samples // 2
    limits = info.encoding_limits.get("kspace_encoding_step_1", {})
    centre_y = limits.get("center") or info.encoded_matrix[1] // 2
    # Sample spacing in cycles/FOV: the readout spans the encoded matrix.
    spacing = info.encoded_matrix[0] / n_samples
    kx = (np.arange(n_samples)[acquisitions["keep"]] - centre_x) * spacing
    ky = acquisitions["step_1"].astype(np.float64) - centre_y
    lines = np.empty((*ky.shape, kx.size, 2), dtype=np.float32)
    lines[..., 0] = kx
    lines[..., 1] = ky[..., None]
    return lines


def _trajectory(
    acquisitions: dict[str, Any],
    info: IsmrmrdHeaderInfo,
    source: str,
    given: str | Path | np.ndarray | None,
    units: str | None,
) -> tuple[np.ndarray, np.ndarray | None, TrajectoryConvention, str]:
    """(trajectory in cycles/recon FOV, density or None, convention, where it came from)."""
    samples = acquisitions["samples"]
    n_frames, n_interleaves, n_readout = samples.shape[1:]
    encoded, encoded_fov = info.encoded_matrix[:2], info.encoded_fov_mm[:2]
    origin = "given" if units is not None else "header"
    units = units if units is not None else _stated_units(info)
    density = None
    if given is not None:
        where = str(given) if not isinstance(given, np.ndarray) else "the given trajectory"
        coords, format_units = (
            (given, None) if isinstance(given, np.ndarray) else load_trajectory(given)
        )
        if units is None and format_units is not None:
            units, origin = format_units, "format"
        stored = shape_trajectory(coords, n_frames, n_interleaves, n_readout, where)
        found_in = f"given: {where}"
    elif acquisitions["trajectory"] is not None:
        stored = acquisitions["trajectory"]
        n_dims = stored.shape[-1]
        if n_dims == 3 and info.encoded_matrix[2] <= 1:
            third = stored[..., 2]
            if np.any(third != 0):
                if np.any(third < 0):
                    raise ValueError(
                        f"{source}: the trajectories have a third coordinate (kz) but the "
                        "encoding is 2D; only 2D MRF is supported"
                    )
                density = third.copy()  # Gadgetron stores spiral density weights there
            stored = stored[..., :2]
        elif n_dims != 2:
            raise ValueError(
                f"{source}: trajectories have {n_dims} dimensions; only 2D non-Cartesian "
                "MRF (2 trajectory dimensions) is supported so far"
            )
        found_in = "acquisitions"
        if density is not None:
            found_in += " (third column: density weights)"
    elif info.trajectory_type == "cartesian":
        lines = _cartesian_lines(acquisitions, info)
        ratio = np.asarray(info.fov_mm[:2]) / np.asarray(encoded_fov)
        fraction = float(np.abs(lines).reshape(-1, 2).max(0).max() / (max(encoded) / 2))
        convention = TrajectoryConvention(
            TRAJECTORY_UNITS, "built", float(np.abs(lines).max()), fraction
        )
        found_in = "built from kspace_encode_step_1 (Cartesian lines)"
        return (lines * ratio).astype(np.float32), None, convention, found_in
    else:
        raise ValueError(
            f"{source}: the acquisitions carry no trajectory (trajectory_dimensions = 0) and "
            f"the header's trajectory is '{info.trajectory_type}'; the k-space positions of "
            "a non-Cartesian readout cannot be rebuilt from the header (its gradient design "
            "is not recorded in a standard form). Give the trajectory as a file (BART .cfl "
            "or NumPy .npy; --trajectory)"
        )
    trajectory, convention = normalise_trajectory(
        stored, encoded, encoded_fov, units, origin=origin, source=source
    )
    # cycles per encoded FOV → cycles per recon FOV.
    ratio = np.asarray(info.fov_mm[:2]) / np.asarray(encoded_fov)
    return (trajectory * ratio).astype(np.float32), density, convention, found_in


# ============================================================================ extras


def _read_studio_group(group, source: str) -> tuple[GroundTruth | None, dict[str, Any]]:
    if STUDIO_GROUP not in group:
        return None, {}
    studio = group[STUDIO_GROUP]
    truth = None
    extra: dict[str, Any] = {}
    if "ground_truth" in studio:
        node = studio["ground_truth"]
        missing = [n for n in ("t1_ms", "t2_ms", "pd", "labels") if n not in node]
        if missing:
            raise ValueError(f"{source}: the ground-truth group lacks {missing}")
        names = json.loads(node.attrs.get("label_names", "{}"))
        truth = GroundTruth(
            t1_ms=node["t1_ms"][()],
            t2_ms=node["t2_ms"][()],
            pd=node["pd"][()],
            labels=node["labels"][()],
            label_names={int(k): v for k, v in names.items()},
        )
    if "simulation" in studio:
        node = studio["simulation"]
        extra["simulation"] = json.loads(node.attrs.get("parameters", "{}"))
        for name in ("coil_sensitivities", "b1_map"):
            if name in node:
                extra[name] = node[name][()]
    return truth, extra


# ============================================================================ reading


def read_ismrmrd(
    path: str | Path,
    sequence: Sequence | None = None,
    dataset: str = "dataset",
    *,
    trajectory: str | Path | np.ndarray | None = None,
    trajectory_units: str | None = None,
    frame_counter: str | None = None,
) -> KSpaceData:
    """Read MRF raw data from an ISMRMRD file (ours, a scanner's or another tool's).

    Parameters
    ----------
    path
        The .h5 file.
    sequence
        The MRF schedule, when the header has none (or to override it).
    dataset
        HDF5 group of the ISMRMRD dataset.
    trajectory
        The trajectory, for files without one (or to override it): a BART ``.cfl``
        or NumPy ``.npy`` path or an array; see :func:`mrfcore.io.trajectory.shape_trajectory`.
    trajectory_units
        Units of the trajectory (see :data:`mrfcore.io.trajectory.TRAJECTORY_UNITS`),
        overriding the header; detected when neither says.
    frame_counter
        The acquisition counter holding the MRF frame, overriding the header and the
        automatic choice.

    Returns
    -------
    KSpaceData
        samples (coils, frames, interleaves, readout), trajectory in cycles/FOV of the
        recon matrix, the sequence, geometry (recon matrix and FOV, centred), ground
        truth when the file has it, ``source``.  ``metadata`` holds the parsed
        ``header`` (:class:`IsmrmrdHeaderInfo`), ``header_missing``,
        ``trajectory_type``, ``trajectory_units`` (+ ``trajectory_units_source``,
        ``trajectory_convention``, ``trajectory_source``), ``acquisition_layout``,
        ``sequence_source``, ``noise_samples``, ``field_strength_t``, and for
        simulated scans ``simulation``, ``coil_sensitivities``, ``b1_map``.

    Raises
    ------
    ValueError
        Naming the file and what it cannot interpret.
    """
    path = Path(path)
    source = str(path)
    with _open(path) as handle:
        group = _group(handle, dataset, source)
        info = parse_header(_header_xml(group, source), source)
        if info.matrix[2] > 1 or info.encoded_matrix[2] > 1:
            raise ValueError(f"{source}: 3D encodings ({info.matrix}) are not supported yet")
        expected = (
            sequence.n_frames
            if sequence is not None
            else (len(info.schedule.flip_angle_deg) if info.schedule else None)
        )
        acquisitions = _read_acquisitions(group, info, source, expected, frame_counter)
        truth, extra = _read_studio_group(group, source)
    samples = acquisitions["samples"]
    n_frames = samples.shape[1]
    if sequence is None:
        sequence = header_sequence(info, n_frames, source)
        sequence_source = "header"
    elif sequence.n_frames != n_frames:
        raise ValueError(
            f"{source}: the data has {n_frames} frames but sequence '{sequence.name}' has "
            f"{sequence.n_frames}"
        )
    else:
        sequence_source = "given"
    coords, density, convention, found_in = _trajectory(
        acquisitions, info, source, trajectory, trajectory_units
    )
    matrix = info.matrix[:2]
    voxel = tuple(f / n for f, n in zip(info.fov_mm[:2], matrix, strict=True))
    if not all(v > 0 for v in voxel):
        raise ValueError(f"{source}: the header's field of view {info.fov_mm} is not positive")
    geometry = Geometry(matrix=matrix, voxel_size_mm=voxel)
    if info.fov_mm[2] > 0:
        geometry.affine[2, 2] = info.fov_mm[2]  # slice thickness
    if truth is not None and truth.t1_ms.shape != tuple(matrix):
        raise ValueError(
            f"{source}: the ground truth has shape {truth.t1_ms.shape}, the matrix is {matrix}"
        )
    if info.n_coils is not None and info.n_coils != samples.shape[0]:
        extra["header_receiver_channels"] = info.n_coils
    metadata = {
        "format": "ISMRMRD",
        "header": info,
        "header_missing": list(info.missing),
        "trajectory_type": info.trajectory_type,
        "trajectory_parameters": info.trajectory_parameters,
        "trajectory_units": convention.units,
        "trajectory_units_source": convention.origin,
        "trajectory_convention": convention.describe(),
        "trajectory_source": found_in,
        "acquisition_layout": acquisitions["layout"].description,
        "sequence_source": sequence_source,
        "field_strength_t": info.field_strength_t,
        "noise_samples": acquisitions["noise_samples"],
        "n_noise_acquisitions": acquisitions["n_noise_acquisitions"],
        "skipped_acquisitions": acquisitions["skipped_acquisitions"],
        "sample_time_us": acquisitions["sample_time_us"],
        **extra,
    }
    return KSpaceData(
        samples=samples,
        trajectory=coords,
        sequence=sequence,
        geometry=geometry,
        density=density,
        ground_truth=truth,
        source=source,
        metadata=metadata,
    )


def ismrmrd_summary(path: str | Path, dataset: str = "dataset") -> dict[str, str]:
    """What ``mrf info`` shows about an ISMRMRD file, even one that lacks what a run
    needs (a schedule, a trajectory): header facts and the acquisitions' layout.

    Raises
    ------
    ValueError
        When the header or the acquisition table cannot be read at all.
    """
    path = Path(path)
    source = str(path)
    with _open(path) as handle:
        group = _group(handle, dataset, source)
        info = parse_header(_header_xml(group, source), source)
        expected = len(info.schedule.flip_angle_deg) if info.schedule else None
        acquisitions = _read_acquisitions(group, info, source, expected, None)
    coils, frames, interleaves, readout = acquisitions["samples"].shape
    stored = acquisitions["trajectory"]
    rows = {
        "kind": "raw k-space (ISMRMRD)",
        "source": path.name,
        "matrix": " × ".join(str(n) for n in info.matrix[:2]),
        "field of view": " × ".join(f"{v:g}" for v in info.fov_mm[:2]) + " mm",
        "coils": str(coils),
        "frames": str(frames),
        "interleaves per frame": str(interleaves),
        "readout samples": str(readout),
        "frame layout": acquisitions["layout"].description,
        "trajectory": f"{info.trajectory_type}, "
        + ("in the acquisitions" if stored is not None else "not in the file"),
    }
    units = _stated_units(info)
    if units:
        rows["trajectory units"] = f"{units} (header)"
    if info.schedule is None:
        rows["sequence"] = "none in the header: name one (--sequence)"
    else:
        rows["sequence"] = (
            f"in the header: {len(info.schedule.flip_angle_deg)} flip angles, "
            f"sequence_type {info.schedule.sequence_type!r}"
        )
    if info.field_strength_t:
        rows["field strength"] = f"{info.field_strength_t:g} T"
    if info.missing:
        rows["header lacks"] = ", ".join(info.missing)
    return rows
