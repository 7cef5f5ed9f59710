"""ISMRMRD files as other tools write them: the ``ismrmrd`` package's own API
(``ismrmrd.Dataset``, ``ismrmrd.Acquisition``, ``ismrmrd.xsd``) or raw h5py with older
compound layouts.  Nothing here uses MRF Studio's writer."""

from __future__ import annotations

from pathlib import Path

import h5py
import ismrmrd
import numpy as np
from ismrmrd import xsd


def header(
    matrix=(16, 16),
    fov_mm=(240.0, 240.0),
    *,
    trajectory="spiral",
    recon_space=True,
    limits=True,
    system=True,
    schedule: dict | None = None,
    user_strings: dict | None = None,
    description_strings: dict | None = None,
    step1_center: int | None = None,
) -> str:
    """An XML header built with the ismrmrd package's schema classes; every flag that
    is False leaves out an element the schema requires."""

    def space():
        return xsd.encodingSpaceType(
            matrixSize=xsd.matrixSizeType(x=matrix[0], y=matrix[1], z=1),
            fieldOfView_mm=xsd.fieldOfViewMm(x=fov_mm[0], y=fov_mm[1], z=5.0),
        )

    encoding = xsd.encodingType(
        encodedSpace=space(),
        reconSpace=space() if recon_space else None,
        encodingLimits=(
            xsd.encodingLimitsType(
                kspace_encoding_step_1=xsd.limitType(
                    minimum=0, maximum=matrix[1] - 1, center=step1_center or 0
                )
            )
            if limits
            else None
        ),
        trajectory=xsd.trajectoryType(trajectory),
        trajectoryDescription=(
            xsd.trajectoryDescriptionType(
                identifier="vendor design",
                userParameterString=[
                    xsd.userParameterStringType(name=k, value=v)
                    for k, v in description_strings.items()
                ],
            )
            if description_strings
            else None
        ),
    )
    sequence = None
    if schedule is not None:
        sequence = xsd.sequenceParametersType(**schedule)
    user = None
    if user_strings:
        user = xsd.userParametersType(
            userParameterString=[
                xsd.userParameterStringType(name=k, value=v) for k, v in user_strings.items()
            ]
        )
    head = xsd.ismrmrdHeader(
        experimentalConditions=xsd.experimentalConditionsType(H1resonanceFrequency_Hz=63_870_000),
        acquisitionSystemInformation=(
            xsd.acquisitionSystemInformationType(receiverChannels=2, systemFieldStrength_T=1.5)
            if system
            else None
        ),
        encoding=[encoding],
        sequenceParameters=sequence,
        userParameters=user,
    )
    return xsd.ToXML(head)


def fisp_schedule(n_frames: int, *, te=(2.0,), ti=(20.0,), kind="FISP") -> dict:
    return {
        "TR": [10.0],
        "TE": [float(v) for v in te],
        "TI": [float(v) for v in ti],
        "flipAngle_deg": [float(v) for v in np.linspace(5, 60, n_frames)],
        "sequence_type": kind,
    }


def write_with_ismrmrd(
    path: Path,
    xml: str,
    samples: np.ndarray,
    trajectory: np.ndarray | None,
    *,
    counters=("repetition", "kspace_encode_step_1"),
    step_1: np.ndarray | None = None,
    center_sample: int = 0,
    noise: bool = True,
    shuffle_seed: int | None = 3,
    extra_counter: str | None = None,
) -> None:
    """One ismrmrd.Acquisition per (frame, interleaf), appended one at a time.

    samples (coils, frames, interleaves, readout); trajectory (frames, interleaves,
    readout, d) or None (trajectory_dimensions 0).  ``counters`` names the counters
    holding frame and interleaf; ``step_1`` (frames, interleaves) overrides
    kspace_encode_step_1 (Cartesian lines); ``extra_counter`` sets that counter to the
    frame parity (e.g. two slices).
    """
    coils, frames, interleaves, readout = samples.shape
    dataset = ismrmrd.Dataset(str(path), "dataset", create_if_needed=True)
    dataset.write_xml_header(xml)
    if noise:
        acquisition = ismrmrd.Acquisition.from_array(np.ones((coils, 8), np.complex64))
        acquisition.set_flag(ismrmrd.ACQ_IS_NOISE_MEASUREMENT)
        dataset.append_acquisition(acquisition)
    order = [(f, i) for f in range(frames) for i in range(interleaves)]
    if shuffle_seed is not None:
        order = [order[k] for k in np.random.default_rng(shuffle_seed).permutation(len(order))]
    for frame, slot in order:
        traj = None if trajectory is None else trajectory[frame, slot].astype(np.float32)
        acquisition = ismrmrd.Acquisition.from_array(
            np.ascontiguousarray(samples[:, frame, slot]), traj, center_sample=center_sample
        )
        setattr(acquisition.idx, counters[0], int(frame))
        if counters[1]:
            setattr(acquisition.idx, counters[1], int(slot))
        if step_1 is not None:
            acquisition.idx.kspace_encode_step_1 = int(step_1[frame, slot])
        if extra_counter:
            setattr(acquisition.idx, extra_counter, int(frame % 2))
        dataset.append_acquisition(acquisition)
    dataset.close()


# ISMRMRD 1.0–1.3 (C library): samples stored as {real, imag} pairs, and a header
# compound without some of today's fields.
OLD_COUNTERS = np.dtype(
    [("kspace_encode_step_1", "<u2"), ("average", "<u2"), ("slice", "<u2"), ("repetition", "<u2")]
)
OLD_HEAD = np.dtype(
    [
        ("version", "<u2"),
        ("flags", "<u8"),
        ("scan_counter", "<u4"),
        ("number_of_samples", "<u2"),
        ("available_channels", "<u2"),
        ("idx", OLD_COUNTERS),
    ]
)
COMPLEX_PAIR = np.dtype([("real", "<f4"), ("imag", "<f4")])


def write_old_layout(
    path: Path, xml: str, samples: np.ndarray, trajectory: np.ndarray, group: str = "dataset"
) -> None:
    """Raw h5py: an older acquisition compound (no active_channels, discard_*,
    trajectory_dimensions, center_sample ...), data as vlen {real, imag} pairs, the
    header as a scalar string."""
    coils, frames, interleaves, readout = samples.shape
    table_type = np.dtype(
        [
            ("head", OLD_HEAD),
            ("traj", h5py.vlen_dtype(np.dtype("<f4"))),
            ("data", h5py.vlen_dtype(COMPLEX_PAIR)),
        ]
    )
    table = np.zeros(frames * interleaves, dtype=table_type)
    for row, (frame, slot) in enumerate(np.ndindex(frames, interleaves)):
        values = np.ascontiguousarray(samples[:, frame, slot]).ravel()
        pairs = np.zeros(values.size, COMPLEX_PAIR)
        pairs["real"], pairs["imag"] = values.real, values.imag
        table[row]["head"]["number_of_samples"] = readout
        table[row]["head"]["available_channels"] = coils
        table[row]["head"]["idx"]["repetition"] = frame
        table[row]["head"]["idx"]["kspace_encode_step_1"] = slot
        table[row]["traj"] = trajectory[frame, slot].astype(np.float32).ravel()
        table[row]["data"] = pairs
    with h5py.File(path, "w") as handle:
        node = handle.create_group(group)
        node.create_dataset("xml", data=xml, dtype=h5py.string_dtype())
        node.create_dataset("data", data=table)


def random_samples(coils, frames, interleaves, readout, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (coils, frames, interleaves, readout)
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)


def radial_cycles_per_fov(frames, interleaves, readout, matrix) -> np.ndarray:
    """Golden-angle spokes across the whole matrix, in cycles/FOV (edge ±N/2)."""
    angles = (np.arange(frames * interleaves) * 111.246 * np.pi / 180).reshape(frames, interleaves)
    radius = np.linspace(-matrix / 2, matrix / 2, readout, endpoint=False)
    coords = np.empty((frames, interleaves, readout, 2), np.float64)
    coords[..., 0] = np.cos(angles)[..., None] * radius
    coords[..., 1] = np.sin(angles)[..., None] * radius
    return coords
