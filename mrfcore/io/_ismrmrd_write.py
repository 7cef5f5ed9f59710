"""Writing MRF Studio's own scans as ISMRMRD; the layout is described in
:mod:`mrfcore.io.ismrmrd`.  The ``ismrmrd`` package is imported only when writing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mrfcore.data import KSpaceData
from mrfcore.io.atomic import atomic_path

if TYPE_CHECKING:
    from mrfcore.sequences import Sequence

__all__ = ["STUDIO_GROUP", "TRAJECTORY_UNITS", "flag", "write_ismrmrd"]

TRAJECTORY_UNITS = "cycles/FOV"
STUDIO_GROUP = "mrf_studio"
_GYROMAGNETIC_HZ_PER_T = 42.577478e6
_TICK_MS = 2.5  # ISMRMRD time stamps count 2.5 ms ticks by convention

# Acquisition flags (ISMRMRD bit numbers, 1-based as in ismrmrd.constants).
FIRST_IN_REPETITION = 13
LAST_IN_REPETITION = 14
NOISE = 19
LAST_IN_MEASUREMENT = 25
NOT_IMAGING = (19, 20, 23, 24, 26, 27, 28, 29, 30, 31)  # noise, calibration, navigators …


def flag(bit: int) -> int:
    """The mask of a 1-based ISMRMRD flag bit."""
    return 1 << (bit - 1)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _sequence_type(sequence: Sequence) -> str:
    return "TrueFISP" if sequence.readout == "bssfp" else "FISP"


def _build_header(data: KSpaceData) -> str:
    from ismrmrd import xsd

    sequence = data.sequence
    matrix = data.geometry.matrix
    fov = data.geometry.fov_mm
    slice_mm = float(abs(data.geometry.affine[2, 2]))
    info = dict(data.metadata.get("trajectory") or {})
    kind = str(info.get("kind", data.metadata.get("trajectory_type", "other")))
    field = data.metadata.get("field_strength_t") or 1.5

    def space() -> Any:
        return xsd.encodingSpaceType(
            matrixSize=xsd.matrixSizeType(x=matrix[0], y=matrix[1], z=1),
            fieldOfView_mm=xsd.fieldOfViewMm(x=fov[0], y=fov[1], z=slice_mm),
        )

    def string(name: str, value: Any) -> Any:
        return xsd.userParameterStringType(name=name, value=str(value))

    numbers_long, numbers_double, strings = [], [], []
    for name, value in info.items():
        if name == "kind" or value is None:
            continue
        if isinstance(value, bool | str):
            strings.append(string(name, value))
        elif isinstance(value, int | np.integer):
            numbers_long.append(xsd.userParameterLongType(name=name, value=int(value)))
        elif isinstance(value, float | np.floating):
            numbers_double.append(xsd.userParameterDoubleType(name=name, value=float(value)))
    trajectory_type = {
        "spiral": xsd.trajectoryType.SPIRAL,
        "radial": xsd.trajectoryType.RADIAL,
        "cartesian": xsd.trajectoryType.CARTESIAN,
    }.get(kind, xsd.trajectoryType.OTHER)
    encoding = xsd.encodingType(
        encodedSpace=space(),
        reconSpace=space(),
        encodingLimits=xsd.encodingLimitsType(
            kspace_encoding_step_1=xsd.limitType(
                minimum=0, maximum=data.n_interleaves - 1, center=0
            ),
            repetition=xsd.limitType(minimum=0, maximum=data.n_frames - 1, center=0),
        ),
        trajectory=trajectory_type,
        trajectoryDescription=xsd.trajectoryDescriptionType(
            identifier=f"mrf-studio {kind}",
            userParameterLong=numbers_long,
            userParameterDouble=numbers_double,
            userParameterString=strings,
            comment="k-space coordinates in cycles/FOV: the matrix edge is at ±N/2",
        ),
    )
    user = xsd.userParametersType(
        userParameterString=[
            string("trajectory_units", TRAJECTORY_UNITS),
            string("mrf_readout", sequence.readout),
            string("mrf_rf_phase_deg", " ".join(f"{v:.6g}" for v in sequence.phase_deg)),
            string("mrf_sequence_name", sequence.name),
            string("mrf_sequence_description", sequence.description),
            string("mrf_frame_counter", "repetition"),
            string("mrf_interleaf_counter", "kspace_encode_step_1"),
        ]
    )
    header = xsd.ismrmrdHeader(
        version=2,
        measurementInformation=xsd.measurementInformationType(
            patientPosition=xsd.patientPositionType.HFS,
            protocolName=f"MRF {sequence.name}",
            sequenceName=sequence.name,
        ),
        acquisitionSystemInformation=xsd.acquisitionSystemInformationType(
            systemVendor="MRF Studio",
            systemModel="simulation" if "simulation" in data.metadata else None,
            systemFieldStrength_T=float(field),
            receiverChannels=data.n_coils,
        ),
        experimentalConditions=xsd.experimentalConditionsType(
            H1resonanceFrequency_Hz=int(round(_GYROMAGNETIC_HZ_PER_T * float(field)))
        ),
        encoding=[encoding],
        sequenceParameters=xsd.sequenceParametersType(
            TR=[float(v) for v in sequence.tr_ms],
            TE=[float(v) for v in sequence.te_ms],
            TI=[] if sequence.ti_ms is None else [float(sequence.ti_ms)],
            flipAngle_deg=[float(v) for v in sequence.flip_angle_deg],
            sequence_type=_sequence_type(sequence),
        ),
        userParameters=user,
    )
    # UTF-8: sequence descriptions carry symbols such as ° and →.
    return xsd.ToXML(header, encoding="utf-8")


def _acquisition_table(data: KSpaceData) -> np.ndarray:
    """All acquisitions as one array of the ``ismrmrd`` package's HDF5 compound type."""
    from ismrmrd.hdf5 import acquisition_dtype

    n_coils, n_frames, n_interleaves, n_readout = data.samples.shape
    noise = data.metadata.get("noise_samples")
    noise = None if noise is None else np.asarray(noise, dtype=np.complex64)
    if noise is not None and (noise.ndim != 2 or noise.shape[0] != n_coils):
        raise ValueError(f"noise_samples must have shape ({n_coils}, samples), got {noise.shape}")
    n_noise = 0 if noise is None else 1
    n_imaging = n_frames * n_interleaves
    table = np.zeros(n_noise + n_imaging, dtype=acquisition_dtype)
    head = table["head"]
    head["version"] = 1
    head["available_channels"] = n_coils
    head["active_channels"] = n_coils
    mask = np.zeros(16, dtype=np.uint64)
    for channel in range(n_coils):
        mask[channel // 64] |= np.uint64(1) << np.uint64(channel % 64)
    head["channel_mask"] = mask
    head["read_dir"] = (1.0, 0.0, 0.0)
    head["phase_dir"] = (0.0, 1.0, 0.0)
    head["slice_dir"] = (0.0, 0.0, 1.0)
    head["scan_counter"] = np.arange(1, table.size + 1)
    dwell = (data.metadata.get("trajectory") or {}).get("dwell_time_us")
    dwell = float(dwell or data.metadata.get("sample_time_us") or 0.0)
    head["sample_time_us"] = dwell
    if noise is not None:
        head["flags"][0] = flag(NOISE)
        head["number_of_samples"][0] = noise.shape[1]
        table["data"][0] = np.ascontiguousarray(noise).view(np.float32).ravel()
        table["traj"][0] = np.zeros(0, dtype=np.float32)

    imaging = head[n_noise:]
    frame = np.repeat(np.arange(n_frames), n_interleaves)
    slot = np.tile(np.arange(n_interleaves), n_frames)
    imaging["number_of_samples"] = n_readout
    imaging["trajectory_dimensions"] = 2
    imaging["idx"]["repetition"] = frame
    imaging["idx"]["kspace_encode_step_1"] = slot
    # Spirals start at the centre; spokes and lines cross it half-way.
    centre = np.argmin(np.linalg.norm(data.trajectory[0, 0], axis=-1))
    imaging["center_sample"] = int(centre)
    start_ms = np.concatenate([[0.0], np.cumsum(data.sequence.tr_ms)[:-1]])
    start_ms += data.sequence.ti_ms or 0.0
    imaging["acquisition_time_stamp"] = np.round(start_ms[frame] / _TICK_MS).astype(np.uint32)
    flags = np.zeros(n_imaging, dtype=np.uint64)
    flags[slot == 0] |= np.uint64(flag(FIRST_IN_REPETITION))
    flags[slot == n_interleaves - 1] |= np.uint64(flag(LAST_IN_REPETITION))
    flags[-1] |= np.uint64(flag(LAST_IN_MEASUREMENT))
    imaging["flags"] = flags  # field access gives views: this writes into the table

    per_acquisition = np.ascontiguousarray(np.moveaxis(data.samples, 0, 2))  # (F, I, C, R)
    values = per_acquisition.view(np.float32).reshape(n_imaging, -1)
    coords = np.ascontiguousarray(data.trajectory, dtype=np.float32).reshape(n_imaging, -1)
    data_column, traj_column = table["data"], table["traj"]
    for index in range(n_imaging):
        data_column[n_noise + index] = values[index]
        traj_column[n_noise + index] = coords[index]
    return table


def write_ismrmrd(data: KSpaceData, path: str | Path, dataset: str = "dataset") -> Path:
    """Write MRF raw data (and ground truth, when present) as an ISMRMRD HDF5 file.

    The layout is described in the module docstring.  The file is written atomically
    (a temporary file renamed into place).

    Returns
    -------
    Path
        The file written.
    """
    import h5py

    path = Path(path)
    if data.geometry.ndim != 2:
        raise ValueError(f"{path}: only 2D scans can be written so far")
    xml = _build_header(data)
    table = _acquisition_table(data)
    with atomic_path(path) as temporary, h5py.File(temporary, "w") as handle:
        group = handle.create_group(dataset)
        header = group.create_dataset("xml", shape=(1,), dtype=h5py.special_dtype(vlen=bytes))
        header[0] = xml.encode("utf-8")
        group.create_dataset("data", data=table, maxshape=(None,), chunks=True)
        studio = group.create_group(STUDIO_GROUP)
        truth = data.ground_truth
        if truth is not None:
            node = studio.create_group("ground_truth")
            for name in ("t1_ms", "t2_ms", "pd", "labels"):
                node.create_dataset(
                    name, data=np.asarray(getattr(truth, name)), compression="gzip", shuffle=True
                )
            node.attrs["label_names"] = json.dumps(
                {str(k): v for k, v in truth.label_names.items()}
            )
            node.attrs["units"] = json.dumps({"t1_ms": "ms", "t2_ms": "ms", "pd": "a.u."})
        if "simulation" in data.metadata:
            node = studio.create_group("simulation")
            parameters = {
                **data.metadata["simulation"],
                "trajectory": data.metadata.get("trajectory"),
                "recipe": data.metadata.get("recipe"),
                "recipe_hash": data.metadata.get("recipe_hash"),
            }
            node.attrs["parameters"] = json.dumps(parameters, default=_json_default)
            for name in ("coil_sensitivities", "b1_map"):
                value = data.metadata.get(name)
                if value is not None:
                    node.create_dataset(name, data=np.asarray(value), compression="gzip")
    return path
