"""ISMRMRD: round trip through our reader and the ``ismrmrd`` package, foreign files,
ground truth, and clear errors."""

import h5py
import ismrmrd
import numpy as np
import pytest
from ismrmrd import xsd

from mrfcore.acquisition import make_trajectory, simulate_scan, smooth_b1_map
from mrfcore.io.ismrmrd import parse_header, read_header, read_ismrmrd, write_ismrmrd
from mrfcore.phantoms import PHANTOMS, nist_phantom
from mrfcore.phantoms.eurospin import eurospin_vial_centres_mm
from mrfcore.phantoms.nist import nist_sphere_centres_mm
from mrfcore.sequences import Sequence, builtin_sequence

MATRIX = 32


def first_frames(sequence, n):
    return sequence.replace(
        flip_angle_deg=sequence.flip_angle_deg[:n],
        tr_ms=sequence.tr_ms[:n],
        te_ms=sequence.te_ms[:n],
        phase_deg=sequence.phase_deg[:n],
    )


@pytest.fixture(scope="module")
def scan():
    # Balanced readout with 0°/180° RF phases, two interleaves per frame, a B1 map:
    # every part of the header and the extras is exercised.
    phantom = nist_phantom(matrix=MATRIX)
    sequence = first_frames(builtin_sequence("ir-bssfp-ma2013"), 12)
    trajectory = make_trajectory("radial", 12, matrix=MATRIX, interleaves=2)
    b1 = smooth_b1_map(phantom.geometry.matrix, 0.1)
    return simulate_scan(phantom, sequence, trajectory, coils=3, snr=40, seed=1, b1_map=b1)


@pytest.fixture(scope="module")
def written(scan, tmp_path_factory):
    return write_ismrmrd(scan, tmp_path_factory.mktemp("raw") / "scan.h5")


def test_round_trip_with_our_reader(scan, written):
    data = read_ismrmrd(written)
    np.testing.assert_array_equal(data.samples, scan.samples)
    np.testing.assert_array_equal(data.trajectory, scan.trajectory)
    assert data.sequence == scan.sequence  # physics hash: flips, phases, TR, TE, TI, readout
    np.testing.assert_array_equal(data.sequence.phase_deg[:4], [0, 180, 0, 180])
    assert data.sequence.readout == "bssfp" and data.sequence.ti_ms == scan.sequence.ti_ms
    assert data.sequence.name == scan.sequence.name
    assert data.geometry.matrix == scan.geometry.matrix
    np.testing.assert_allclose(data.geometry.voxel_size_mm, scan.geometry.voxel_size_mm)
    assert data.source == str(written)
    for name in ("t1_ms", "t2_ms", "pd", "labels"):
        np.testing.assert_array_equal(
            getattr(data.ground_truth, name), getattr(scan.ground_truth, name)
        )
    assert data.ground_truth.label_names == scan.ground_truth.label_names
    meta = data.metadata
    np.testing.assert_array_equal(meta["coil_sensitivities"], scan.metadata["coil_sensitivities"])
    np.testing.assert_array_equal(meta["b1_map"], scan.metadata["b1_map"])
    np.testing.assert_array_equal(meta["noise_samples"], scan.metadata["noise_samples"])
    assert meta["simulation"]["noise_sd"] == pytest.approx(scan.metadata["simulation"]["noise_sd"])
    assert meta["trajectory_type"] == "radial" and meta["trajectory_units"] == "cycles/FOV"
    assert meta["trajectory_parameters"]["undersampling_factor"] == pytest.approx(
        scan.metadata["trajectory"]["undersampling_factor"]
    )
    assert meta["field_strength_t"] == 1.5
    # What was read can be written again unchanged.
    again = read_ismrmrd(write_ismrmrd(data, written.with_name("again.h5")))
    np.testing.assert_array_equal(again.samples, scan.samples)
    np.testing.assert_array_equal(again.metadata["noise_samples"], meta["noise_samples"])
    assert again.sequence == scan.sequence and again.metadata["trajectory_type"] == "radial"
    assert again.metadata["sample_time_us"] == pytest.approx(meta["sample_time_us"])


def test_the_ismrmrd_package_reads_the_same(scan, written):
    with ismrmrd.Dataset(str(written), "dataset", create_if_needed=False) as dataset:
        header = xsd.CreateFromDocument(dataset.read_xml_header())
        count = dataset.number_of_acquisitions()
        assert count == 1 + 12 * 2
        noise = dataset.read_acquisition(0)
        assert noise.is_flag_set(ismrmrd.ACQ_IS_NOISE_MEASUREMENT)
        np.testing.assert_array_equal(noise.data, scan.metadata["noise_samples"])
        for index in range(1, count):
            acquisition = dataset.read_acquisition(index)
            frame, slot = acquisition.idx.repetition, acquisition.idx.kspace_encode_step_1
            assert (frame, slot) == divmod(index - 1, 2)
            np.testing.assert_array_equal(acquisition.data, scan.samples[:, frame, slot])
            np.testing.assert_array_equal(acquisition.traj, scan.trajectory[frame, slot])
            assert acquisition.is_flag_set(ismrmrd.ACQ_FIRST_IN_REPETITION) == (slot == 0)
        assert acquisition.is_flag_set(ismrmrd.ACQ_LAST_IN_MEASUREMENT)
    sequence = header.sequenceParameters
    assert sequence.sequence_type == "TrueFISP"
    np.testing.assert_allclose(sequence.flipAngle_deg, scan.sequence.flip_angle_deg)
    np.testing.assert_allclose(sequence.TR, scan.sequence.tr_ms)
    np.testing.assert_allclose(sequence.TI, [scan.sequence.ti_ms])
    encoding = header.encoding[0]
    assert (encoding.encodedSpace.matrixSize.x, encoding.encodedSpace.matrixSize.y) == (32, 32)
    assert encoding.encodedSpace.fieldOfView_mm.x == pytest.approx(200.0)
    assert encoding.trajectory == xsd.trajectoryType.RADIAL
    assert encoding.encodingLimits.repetition.maximum == 11
    assert header.acquisitionSystemInformation.receiverChannels == 3
    with ismrmrd.File(str(written), "r") as handle:
        acquisitions = handle["dataset"].acquisitions
        np.testing.assert_array_equal(acquisitions[5].data, scan.samples[:, 2, 0])


def _foreign_file(path, with_schedule=True, drop=None):
    """An MRF file as another tool might write it with the ismrmrd package: one
    acquisition at a time in shuffled order, normalised (±0.5) trajectory, one TR and
    TE for all frames, ADC padding to discard, a noise readout, no MRF extras."""
    frames, coils, readout, pad = 6, 2, 40, 3
    rng = np.random.default_rng(4)
    flips = np.linspace(5, 60, frames)
    space = xsd.encodingSpaceType(
        matrixSize=xsd.matrixSizeType(x=20, y=20, z=1),
        fieldOfView_mm=xsd.fieldOfViewMm(x=240.0, y=240.0, z=5.0),
    )
    header = xsd.ismrmrdHeader(
        experimentalConditions=xsd.experimentalConditionsType(H1resonanceFrequency_Hz=127000000),
        encoding=[
            xsd.encodingType(
                encodedSpace=space,
                reconSpace=space,
                encodingLimits=xsd.encodingLimitsType(),
                trajectory=xsd.trajectoryType.SPIRAL,
            )
        ],
        sequenceParameters=xsd.sequenceParametersType(
            TR=[10.0],
            TE=[2.0],
            TI=[20.0],
            flipAngle_deg=[float(f) for f in flips],
            sequence_type="FISP",
        )
        if with_schedule
        else None,
    )
    samples = (
        rng.standard_normal((coils, frames, readout))
        + 1j * rng.standard_normal((coils, frames, readout))
    ).astype(np.complex64)
    trajectory = rng.uniform(-0.5, 0.5, (frames, readout, 2)).astype(np.float32)
    dataset = ismrmrd.Dataset(str(path), "dataset", create_if_needed=True)
    dataset.write_xml_header(xsd.ToXML(header))
    noise = ismrmrd.Acquisition.from_array(np.ones((coils, 16), np.complex64))
    noise.set_flag(ismrmrd.ACQ_IS_NOISE_MEASUREMENT)
    dataset.append_acquisition(noise)
    for frame in rng.permutation(frames):
        if frame == drop:
            continue
        data = np.zeros((coils, readout + 2 * pad), np.complex64)
        data[:, pad:-pad] = samples[:, frame]
        traj = np.zeros((readout + 2 * pad, 2), np.float32)
        traj[pad:-pad] = trajectory[frame]
        acquisition = ismrmrd.Acquisition.from_array(data, traj, discard_pre=pad, discard_post=pad)
        acquisition.idx.repetition = int(frame)
        dataset.append_acquisition(acquisition)
    dataset.close()
    return samples, trajectory, flips


def test_reads_a_foreign_file(tmp_path):
    path = tmp_path / "foreign.h5"
    samples, trajectory, flips = _foreign_file(path)
    data = read_ismrmrd(path)
    np.testing.assert_array_equal(data.samples[:, :, 0], samples)
    np.testing.assert_allclose(data.trajectory[:, 0], trajectory * 20, rtol=1e-6)
    assert data.metadata["trajectory_units"] == "normalized"
    assert data.metadata["trajectory_units_source"] == "detected"
    np.testing.assert_allclose(data.sequence.flip_angle_deg, flips)
    np.testing.assert_allclose(data.sequence.tr_ms, 10.0)
    assert data.sequence.ti_ms == 20.0 and data.sequence.readout == "fisp"
    assert data.geometry.voxel_size_mm == (12.0, 12.0)
    assert data.ground_truth is None
    assert data.metadata["noise_samples"].shape == (2, 16)


def test_clear_errors(tmp_path):
    no_schedule = tmp_path / "no_schedule.h5"
    _foreign_file(no_schedule, with_schedule=False)
    with pytest.raises(ValueError, match="no MRF schedule in the header; name a sequence") as error:
        read_ismrmrd(no_schedule)
    assert str(no_schedule) in str(error.value)
    given = Sequence(flip_angle_deg=np.full(6, 10.0), tr_ms=10.0 * np.ones(6), te_ms=2.0)
    assert read_ismrmrd(no_schedule, sequence=given).sequence == given
    with pytest.raises(ValueError, match="6 frames"):
        read_ismrmrd(no_schedule, sequence=first_frames(given, 5))

    missing = tmp_path / "missing.h5"
    _foreign_file(missing, drop=3)
    with pytest.raises(ValueError, match="frame 3 .* 0 acquisitions"):
        read_ismrmrd(missing)

    text = tmp_path / "notes.h5"
    text.write_text("not hdf5")
    with pytest.raises(ValueError, match="not an HDF5"):
        read_ismrmrd(text)
    empty = tmp_path / "empty.h5"
    with h5py.File(empty, "w") as handle:
        handle.create_group("dataset")
    with pytest.raises(ValueError, match="no ISMRMRD header"):
        read_ismrmrd(empty)
    with pytest.raises(FileNotFoundError):
        read_ismrmrd(tmp_path / "absent.h5")


def test_header_parsing_problems(written):
    xml = read_header(written).xml
    three_flips = xml.replace(
        "<flipAngle_deg>", "<flipAngle_deg>1</flipAngle_deg><flipAngle_deg>", 1
    )
    from mrfcore.io.ismrmrd import header_sequence

    info = parse_header(three_flips, "edited.h5")
    with pytest.raises(ValueError, match="edited.h5: the header gives 13 flipAngle_deg"):
        header_sequence(info, 12, "edited.h5")
    with pytest.raises(ValueError, match="not valid XML"):
        parse_header("<ismrmrdHeader>", "broken.h5")
    unknown = xml.replace("<mrf_readout>", "<x>").replace(">TrueFISP<", ">EPI<")
    unknown = unknown.replace("<value>bssfp</value>", "<value>?</value>")
    with pytest.raises(ValueError, match="sequence_type 'EPI'"):
        header_sequence(parse_header(unknown, "epi.h5"), 12, "epi.h5")


@pytest.mark.parametrize(
    "name, centres",
    [
        ("nist", nist_sphere_centres_mm()),
        ("eurospin", eurospin_vial_centres_mm()),
    ],
)
def test_ground_truth_matches_the_tables_at_vial_centres(name, centres, tmp_path):
    matrix = 64
    phantom = PHANTOMS[name](matrix=matrix)
    sequence = first_frames(builtin_sequence("ir-ramp-880"), 4)
    trajectory = make_trajectory("radial", 4, matrix=matrix)
    scan = simulate_scan(phantom, sequence, trajectory, coils=1, snr=None)
    truth = read_ismrmrd(write_ismrmrd(scan, tmp_path / f"{name}.h5")).ground_truth
    voxel = phantom.geometry.voxel_size_mm[0]
    for k, (x, y) in enumerate(centres):
        i, j = (int(round(c / voxel + (matrix - 1) / 2)) for c in (x, y))
        assert truth.labels[i, j] == k + 1
        assert truth.t1_ms[i, j] == pytest.approx(phantom.tissue_t1_ms[k], rel=1e-6)
        assert truth.t2_ms[i, j] == pytest.approx(phantom.tissue_t2_ms[k], rel=1e-6)
        assert truth.pd[i, j] == pytest.approx(phantom.tissue_pd[k], rel=1e-6)
        assert truth.label_names[k + 1] == phantom.tissue_names[k]
