"""Raw files MRF Studio did not write: ISMRMRD from the ``ismrmrd`` package's own API and
from raw h5py with older layouts, headers that break the schema, trajectories in other
units or absent, schedules in every form the header allows."""

from __future__ import annotations

import numpy as np
import pytest
from ismrmrd import xsd
from raw_builders import (
    fisp_schedule,
    header,
    radial_cycles_per_fov,
    random_samples,
    write_old_layout,
    write_with_ismrmrd,
)

from mrfcore.io.bart import write_cfl
from mrfcore.io.ismrmrd import header_sequence, parse_header, read_ismrmrd, readout_from_name
from mrfcore.sequences import Sequence

N, FOV = 16, 240.0
FRAMES, INTERLEAVES, READOUT, COILS = 6, 2, 20, 2


def _sequence(frames=FRAMES):
    return Sequence(flip_angle_deg=np.full(frames, 10.0), tr_ms=np.full(frames, 10.0), te_ms=2.0)


@pytest.fixture(scope="module")
def arrays():
    samples = random_samples(COILS, FRAMES, INTERLEAVES, READOUT)
    cycles = radial_cycles_per_fov(FRAMES, INTERLEAVES, READOUT, N)
    return samples, cycles


# ------------------------------------------------------------------------------ header


def test_header_missing_schema_elements_is_read_and_the_gaps_are_named(tmp_path, arrays):
    samples, cycles = arrays
    xml = header(recon_space=False, limits=False, system=False)
    with pytest.raises(TypeError):  # the ismrmrd package's strict parser refuses it
        xsd.CreateFromDocument(xml)
    path = tmp_path / "sparse.h5"
    write_with_ismrmrd(path, xml, samples, cycles / N)
    with pytest.raises(ValueError, match="no MRF schedule in the header; name a sequence") as error:
        read_ismrmrd(path)
    assert str(path) in str(error.value)
    data = read_ismrmrd(path, sequence=_sequence())
    np.testing.assert_array_equal(data.samples, samples)
    np.testing.assert_allclose(data.trajectory, cycles, atol=1e-4)
    assert data.geometry.matrix == (N, N) and data.geometry.voxel_size_mm == (15.0, 15.0)
    assert set(data.metadata["header_missing"]) == {
        "encodingLimits",
        "reconSpace",
        "acquisitionSystemInformation",
        "sequenceParameters",
    }
    assert data.metadata["sequence_source"] == "given"
    np.testing.assert_array_equal(data.metadata["noise_samples"], np.ones((COILS, 8)))


def test_unknown_vendor_elements_and_no_namespace_are_tolerated():
    xml = header(schedule=fisp_schedule(FRAMES)).replace(
        "</encoding>", "<vendorBlob><x>1</x></vendorBlob></encoding>"
    )
    xml = xml.replace(' xmlns="http://www.ismrm.org/ISMRMRD"', "")
    info = parse_header(xml, "vendor.h5")
    assert info.matrix == (N, N, 1) and info.trajectory_type == "spiral"
    assert header_sequence(info, FRAMES, "vendor.h5").n_frames == FRAMES


def test_header_without_any_matrix_is_refused_by_name():
    xml = (
        header()
        .replace("<encodedSpace>", "<encodedSpaceX>")
        .replace("</encodedSpace>", "</encodedSpaceX>")
    )
    xml = xml.replace("<reconSpace>", "<reconSpaceX>").replace("</reconSpace>", "</reconSpaceX>")
    with pytest.raises(ValueError, match="odd.h5: .*neither an encodedSpace nor a reconSpace"):
        parse_header(xml, "odd.h5")


@pytest.mark.parametrize(
    "te, ti, expected_ti",
    [
        ([2.0], [20.0], 20.0),
        (list(np.linspace(2.0, 3.0, FRAMES)), [], None),
        ([2.0], [20.0] * FRAMES, 20.0),
        ([2.0], [20.0 + 10.0 * k for k in range(FRAMES)], 20.0),  # time since one inversion
    ],
)
def test_te_and_ti_as_one_value_or_one_per_frame(te, ti, expected_ti):
    info = parse_header(header(schedule=fisp_schedule(FRAMES, te=te, ti=ti)), "s.h5")
    sequence = header_sequence(info, FRAMES, "s.h5")
    np.testing.assert_allclose(sequence.te_ms, np.broadcast_to(te, FRAMES))
    np.testing.assert_allclose(sequence.tr_ms, 10.0)
    np.testing.assert_allclose(sequence.flip_angle_deg, np.linspace(5, 60, FRAMES))
    assert sequence.ti_ms == expected_ti and sequence.readout == "fisp"


def test_schedule_length_mismatch_states_both_numbers():
    info = parse_header(header(schedule=fisp_schedule(FRAMES)), "short.h5")
    with pytest.raises(
        ValueError, match=f"short.h5: the header gives {FRAMES} flipAngle_deg .* 9 f"
    ):
        header_sequence(info, 9, "short.h5")
    te = [2.0, 2.1, 2.2]
    info = parse_header(header(schedule=fisp_schedule(FRAMES, te=te)), "te.h5")
    with pytest.raises(ValueError, match=f"gives 3 TE values but the data has {FRAMES} frames"):
        header_sequence(info, FRAMES, "te.h5")
    info = parse_header(header(schedule=fisp_schedule(FRAMES, ti=[1.0, 50.0, 9.0])), "ti.h5")
    with pytest.raises(ValueError, match=f"3 TI values but the data has {FRAMES} frames"):
        header_sequence(info, FRAMES, "ti.h5")
    wild = fisp_schedule(FRAMES, ti=[5.0, 1.0, 7.0, 2.0, 9.0, 3.0])
    with pytest.raises(ValueError, match="one inversion before the first frame"):
        header_sequence(parse_header(header(schedule=wild), "inv.h5"), FRAMES, "inv.h5")


@pytest.mark.parametrize(
    "name, readout",
    [
        ("FISP", "fisp"),
        ("MRF-FISP", "fisp"),
        ("FLASH", "fisp"),
        ("spoiled GRE", "fisp"),
        ("SSFP-FID", "fisp"),
        ("TrueFISP", "bssfp"),
        ("TRUFI", "bssfp"),
        ("bSSFP", "bssfp"),
        ("IR-bSSFP", "bssfp"),
        ("balanced", "bssfp"),
        ("balanced SSFP", "bssfp"),
        ("FIESTA", "bssfp"),
        ("SSFP", None),
        ("EPI", None),
    ],
)
def test_sequence_type_names(name, readout):
    assert readout_from_name(name) == readout
    info = parse_header(header(schedule=fisp_schedule(FRAMES, kind=name)), "k.h5")
    if readout is None:
        with pytest.raises(ValueError, match=f"sequence_type '{name}' does not say"):
            header_sequence(info, FRAMES, "k.h5")
    else:
        assert header_sequence(info, FRAMES, "k.h5").readout == readout


# ------------------------------------------------------------------- acquisition table


def test_older_acquisition_layout_by_field_name(tmp_path, arrays):
    samples, cycles = arrays
    path = tmp_path / "old.h5"
    # {real, imag} samples, no active_channels/trajectory_dimensions/discard fields, a
    # group not called /dataset, the header a scalar string.
    write_old_layout(path, header(schedule=fisp_schedule(FRAMES)), samples, cycles, "meas")
    data = read_ismrmrd(path)
    np.testing.assert_array_equal(data.samples, samples)
    np.testing.assert_allclose(data.trajectory, cycles, rtol=1e-6)
    assert data.metadata["trajectory_units"] == "cycles/FOV"
    assert data.metadata["sequence_source"] == "header"


def test_frames_in_another_counter_and_rotating_interleaf_numbers(tmp_path, arrays):
    samples, cycles = arrays
    xml = header(schedule=fisp_schedule(FRAMES))
    # Frames in kspace_encode_step_1, interleaves in segment.
    path = tmp_path / "step1.h5"
    write_with_ismrmrd(path, xml, samples, cycles, counters=("kspace_encode_step_1", "segment"))
    data = read_ismrmrd(path)
    np.testing.assert_array_equal(data.samples, samples)
    assert "frames from kspace_encode_step_1" in data.metadata["acquisition_layout"]
    # Frame f reads spiral arms 2f, 2f+1 of 8 (kspace_encode_step_1), frames in repetition.
    arms = (2 * np.arange(FRAMES)[:, None] + np.arange(INTERLEAVES)) % 8
    path = tmp_path / "arms.h5"
    write_with_ismrmrd(path, xml, samples, cycles, step_1=arms, shuffle_seed=None)
    data = read_ismrmrd(path)
    np.testing.assert_array_equal(data.samples, samples)
    np.testing.assert_allclose(data.trajectory, cycles, rtol=1e-6)
    assert "values differ between frames" in data.metadata["acquisition_layout"]


def test_slices_and_missing_frames_are_refused_by_name(tmp_path, arrays):
    samples, cycles = arrays
    xml = header(schedule=fisp_schedule(FRAMES))
    path = tmp_path / "slices.h5"
    write_with_ismrmrd(path, xml, samples, cycles, extra_counter="slice")
    with pytest.raises(ValueError, match=r"slices.h5: .*also differ in slice 0–1"):
        read_ismrmrd(path)
    path = tmp_path / "gap.h5"
    write_with_ismrmrd(path, xml, samples[:, [0, 1, 2, 4, 5]], cycles[[0, 1, 2, 4, 5]])
    with pytest.raises(
        ValueError,
        match="gap.h5: the header gives 6 flipAngle_deg values but the data has 5 frames",
    ):
        read_ismrmrd(path)


# ------------------------------------------------------------------------ trajectories


def _in_units(cycles: np.ndarray, units: str) -> np.ndarray:
    fov_m = FOV / 1000
    return {
        "cycles/FOV": cycles,
        "normalized": cycles / N,
        "radians": cycles / N * 2 * np.pi,
        "1/m": cycles / fov_m,
        "rad/m": cycles / fov_m * 2 * np.pi,
    }[units]


@pytest.mark.parametrize("units", ["cycles/FOV", "normalized", "radians", "1/m", "rad/m"])
def test_trajectory_units_are_detected(tmp_path, arrays, units):
    samples, cycles = arrays
    path = tmp_path / "units.h5"
    write_with_ismrmrd(
        path, header(schedule=fisp_schedule(FRAMES)), samples, _in_units(cycles, units)
    )
    data = read_ismrmrd(path)
    np.testing.assert_allclose(data.trajectory, cycles, rtol=1e-5, atol=1e-4)
    assert data.metadata["trajectory_units"] == units
    assert data.metadata["trajectory_units_source"] == "detected"
    assert "100 % of the matrix edge" in data.metadata["trajectory_convention"]


@pytest.mark.parametrize(
    "stated, units, where",
    [
        ("cycles/pixel", "normalized", "userParameters"),
        ("rad", "radians", "userParameters"),
        ("1/m", "1/m", "userParameters"),
        ("rad/m", "rad/m", "trajectoryDescription"),
        ("1/FOV", "cycles/FOV", "trajectoryDescription"),
    ],
)
def test_trajectory_units_from_the_header(tmp_path, arrays, stated, units, where):
    samples, cycles = arrays
    half = cycles / 2  # reaches half the edge: still read as stated
    strings = {"trajectory_units" if where == "userParameters" else "units": stated}
    xml = header(
        schedule=fisp_schedule(FRAMES),
        user_strings=strings if where == "userParameters" else None,
        description_strings=strings if where == "trajectoryDescription" else None,
    )
    path = tmp_path / "stated.h5"
    write_with_ismrmrd(path, xml, samples, _in_units(half, units))
    data = read_ismrmrd(path)
    np.testing.assert_allclose(data.trajectory, half, rtol=1e-5, atol=1e-4)
    assert (data.metadata["trajectory_units"], data.metadata["trajectory_units_source"]) == (
        units,
        "header",
    )


def test_units_that_cannot_be_told_or_contradict_the_data_are_refused(tmp_path, arrays):
    samples, cycles = arrays
    path = tmp_path / "tiny.h5"
    write_with_ismrmrd(path, header(schedule=fisp_schedule(FRAMES)), samples, cycles / N / 20)
    with pytest.raises(ValueError, match="tiny.h5: cannot tell the trajectory units.*--traj"):
        read_ismrmrd(path)
    data = read_ismrmrd(path, trajectory_units="normalized")  # the user says so
    assert data.metadata["trajectory_units_source"] == "given"
    xml = header(schedule=fisp_schedule(FRAMES), user_strings={"trajectory_units": "normalized"})
    path = tmp_path / "wrong.h5"
    write_with_ismrmrd(path, xml, samples, cycles)
    with pytest.raises(
        ValueError, match=r"wrong.h5: .*said to be in normalized \(header\).*1600 %"
    ):
        read_ismrmrd(path)
    with pytest.raises(ValueError, match="unknown trajectory units 'furlongs'"):
        read_ismrmrd(path, trajectory_units="furlongs")


def test_gadgetron_style_density_column(tmp_path, arrays):
    samples, cycles = arrays
    weights = np.random.default_rng(1).uniform(0.1, 1.0, cycles.shape[:3])
    with_weights = np.concatenate([cycles / N, weights[..., None]], axis=-1)
    path = tmp_path / "gadgetron.h5"
    write_with_ismrmrd(path, header(schedule=fisp_schedule(FRAMES)), samples, with_weights)
    data = read_ismrmrd(path)
    np.testing.assert_allclose(data.trajectory, cycles, atol=1e-4)
    np.testing.assert_allclose(data.density, weights, rtol=1e-6)
    assert "density weights" in data.metadata["trajectory_source"]


def test_cartesian_lines_are_built_when_the_file_has_no_trajectory(tmp_path):
    frames, lines, readout = 4, 3, N
    samples = random_samples(COILS, frames, lines, readout, seed=2)
    rng = np.random.default_rng(5)
    ky_lines = np.stack([np.sort(rng.choice(N, lines, replace=False)) for _ in range(frames)])
    xml = header(trajectory="cartesian", schedule=fisp_schedule(frames), step1_center=N // 2)
    path = tmp_path / "cartesian.h5"
    write_with_ismrmrd(
        path,
        xml,
        samples,
        None,
        counters=("repetition", None),
        step_1=ky_lines,
        center_sample=N // 2,
        shuffle_seed=None,
    )
    data = read_ismrmrd(path)
    np.testing.assert_array_equal(data.samples, samples)
    kx, ky = data.trajectory[..., 0], data.trajectory[..., 1]
    np.testing.assert_array_equal(kx, np.broadcast_to(np.arange(N) - N // 2, kx.shape))
    np.testing.assert_array_equal(ky, np.broadcast_to(ky_lines[..., None] - N // 2, ky.shape))
    assert data.metadata["trajectory_units_source"] == "built"


def test_non_cartesian_without_trajectory_needs_a_trajectory_file(tmp_path, arrays):
    samples, cycles = arrays
    xml = header(trajectory="radial", schedule=fisp_schedule(FRAMES))
    path = tmp_path / "bare.h5"
    write_with_ismrmrd(path, xml, samples, None)
    with pytest.raises(
        ValueError, match="bare.h5: the acquisitions carry no trajectory .*'radial'"
    ):
        read_ismrmrd(path)
    np.save(tmp_path / "traj.npy", cycles / N)  # normalised: detected
    data = read_ismrmrd(path, trajectory=tmp_path / "traj.npy")
    np.testing.assert_allclose(data.trajectory, cycles, atol=1e-4)
    assert data.metadata["trajectory_units"] == "normalized"
    # A BART trajectory [3, readout, spokes, 1, 1, frames] is in cycles/FOV by definition.
    bart = np.zeros((3, READOUT, INTERLEAVES, 1, 1, FRAMES), np.complex64)
    bart[:2] = np.transpose(cycles, (3, 2, 1, 0))[:, :, :, None, None, :]
    write_cfl(tmp_path / "traj", bart)
    data = read_ismrmrd(path, trajectory=tmp_path / "traj.cfl")
    np.testing.assert_allclose(data.trajectory, cycles, atol=1e-4)
    assert data.metadata["trajectory_units_source"] == "format"
    with pytest.raises(ValueError, match="does not fit data with 6 frames"):
        read_ismrmrd(path, trajectory=cycles[:, :, :10])
