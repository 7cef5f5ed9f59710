"""DICOM series reader: files from pydicom and nibabel, and small synthetic series."""

from __future__ import annotations

import gzip
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from dicom_builders import enhanced_mr, mr_image, save
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from mrfcore.io.dicom import read_dicom, read_dicom_values, scan_dicom
from mrfcore.io.maps import load_maps

PYDICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
DICOMDIR_TESTS = PYDICOM_FILES / "dicomdirtests"
NIBABEL_DICOM = Path(__import__("nibabel").__file__).parent / "nicom" / "tests" / "data"
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def _nibabel_wrapper(path_or_dataset):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nibabel calls its DICOM readers experimental
        from nibabel.nicom import dicomwrappers

        if isinstance(path_or_dataset, str | Path):
            return dicomwrappers.wrapper_from_file(str(path_or_dataset))
        return dicomwrappers.wrapper_from_data(path_or_dataset)


def _ras(position_lps) -> np.ndarray:
    return np.asarray(position_lps, dtype=float) * np.array([-1.0, -1.0, 1.0])


def _world(affine: np.ndarray, index) -> np.ndarray:
    return (affine @ np.r_[np.asarray(index, dtype=float), 1.0])[:3]


# ----------------------------------------------------------------- files by other tools


@pytest.mark.filterwarnings("ignore:The pixel data is .* bytes long")
@pytest.mark.parametrize(
    "name",
    [
        "MR_small.dcm",
        "MR_small_implicit.dcm",
        "MR_small_bigendian.dcm",
        "MR_small_expb.dcm",
        "MR_small_RLE.dcm",
        "MR_small_padded.dcm",
    ],
)
def test_mr_small_in_every_encoding_gives_the_same_image(name):
    reference = pydicom.dcmread(get_testdata_file("MR_small.dcm")).pixel_array
    series = read_dicom(get_testdata_file(name))
    assert series.data.shape == (1, 64, 64)
    assert series.data.dtype == np.complex64 and series.basis is None
    # (x, y) = (column, row): the pixel array transposed.
    np.testing.assert_array_equal(series.data[0].real, reference.T)
    assert np.all(series.data.imag == 0)


def test_mr_small_affine_matches_nibabel():
    path = get_testdata_file("MR_small.dcm")
    series = read_dicom(path)
    wrapper = _nibabel_wrapper(path)
    # nibabel: (row, column, slice) → LPS.  Ours: (column, row, slice) → RAS.
    expected = LPS_TO_RAS @ wrapper.affine
    affine = series.geometry.affine
    np.testing.assert_allclose(affine[:3, 0], expected[:3, 1], atol=1e-6)
    np.testing.assert_allclose(affine[:3, 1], expected[:3, 0], atol=1e-6)
    np.testing.assert_allclose(affine[:3, 3], expected[:3, 3], atol=1e-6)
    assert series.geometry.voxel_size_mm == (0.3125, 0.3125)


def test_compressed_file_decodes_or_is_refused_by_name():
    path = get_testdata_file("MR_small_jp2klossless.dcm")
    try:
        series = read_dicom(path)
    except ValueError as error:  # no JPEG 2000 decoder installed
        assert "MR_small_jp2klossless.dcm" in str(error) and "JPEG 2000" in str(error)
    else:
        reference = pydicom.dcmread(get_testdata_file("MR_small.dcm")).pixel_array
        np.testing.assert_array_equal(series.data[0].real, reference.T)


def test_truncated_pixel_data_is_refused_naming_the_file():
    with pytest.raises(ValueError, match="MR_truncated.dcm.*pixel data"):
        read_dicom(get_testdata_file("MR_truncated.dcm"))


def test_ct_stack_slices_sorted_by_position_with_rescale():
    folder = DICOMDIR_TESTS / "98892001" / "CT5N"
    series = read_dicom(folder)
    assert series.data.shape == (1, 16, 16, 5)
    headers = [pydicom.dcmread(p) for p in sorted(folder.iterdir())]
    affine = series.geometry.affine
    for ds in headers:
        # Each file's first voxel must be where the affine puts slice k, and hold its
        # rescaled pixels.
        k = np.linalg.solve(affine, np.r_[_ras(ds.ImagePositionPatient), 1.0])[:3]
        np.testing.assert_allclose(k[:2], 0, atol=1e-4)
        slice_index = int(round(k[2]))
        assert abs(k[2] - slice_index) < 1e-4
        expected = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        np.testing.assert_array_equal(series.data[0, :, :, slice_index].real, expected.T)
        in_plane = LPS_TO_RAS @ _nibabel_wrapper(ds).affine
        np.testing.assert_allclose(affine[:3, :2], in_plane[:3, [1, 0]], atol=1e-6)
    assert series.geometry.voxel_size_mm[2] == pytest.approx(2.5)


def test_dicomdir_lists_every_series_and_reads_one():
    scan = scan_dicom(DICOMDIR_TESTS / "DICOMDIR")
    assert len(scan.series) == 13
    modalities = {s.acquisition["Modality"] for s in scan.series}
    assert modalities == {"CR", "CT", "MR"}
    ct = next(s for s in scan.series if s.description.startswith("SmartScore"))
    from_dicomdir = read_dicom(DICOMDIR_TESTS / "DICOMDIR", series=ct.uid)
    from_folder = read_dicom(DICOMDIR_TESTS / "98892001" / "CT5N")
    np.testing.assert_array_equal(from_dicomdir.data, from_folder.data)
    summary = scan.summary()
    assert summary["series"][0]["matrix"] == [16, 16]
    assert "PatientName" not in str(summary)


def test_several_series_need_a_choice():
    with pytest.raises(ValueError, match="holds 13 series; choose one"):
        read_dicom(DICOMDIR_TESTS / "DICOMDIR")
    with pytest.raises(ValueError, match="several series have the number or UID 1;"):
        read_dicom(DICOMDIR_TESTS / "DICOMDIR", series=1)


def test_localizer_with_three_orientations_is_refused():
    scan = scan_dicom(DICOMDIR_TESTS / "98892003" / "MR2")
    localizer = next(s for s in scan.series if len(s.records) == 3)
    with pytest.raises(ValueError, match="3 different orientations"):
        read_dicom(DICOMDIR_TESTS / "98892003" / "MR2", series=localizer.uid)


def test_slices_with_a_gap_are_refused():
    with pytest.raises(ValueError, match="slice spacing is irregular"):
        read_dicom(DICOMDIR_TESTS / "77654033" / "CT2")


def test_siemens_mosaic_is_refused_with_advice():
    with pytest.raises(ValueError, match="mosaic.*dcm2niix"):
        read_dicom(NIBABEL_DICOM / "0.dcm")


def test_enhanced_multiframe_philips_matches_nibabel(tmp_path):
    path = tmp_path / "philips_mprage.dcm"
    path.write_bytes(gzip.decompress((NIBABEL_DICOM / "philips_mprage.dcm.gz").read_bytes()))
    series = read_dicom(path)
    assert series.data.shape == (1, 256, 256, 176)
    wrapper = _nibabel_wrapper(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = wrapper.get_data()
    their_affine = LPS_TO_RAS @ wrapper.affine
    rng = np.random.default_rng(1)
    ours = series.data[0].real
    index = np.stack([rng.integers(0, n, 500) for n in ours.shape], axis=1)
    world = series.geometry.affine @ np.c_[index, np.ones(len(index))].T
    their_index = np.linalg.solve(their_affine, world)[:3].T
    assert np.max(np.abs(their_index - np.round(their_index))) < 0.01
    their_index = np.round(their_index).astype(int)
    np.testing.assert_allclose(ours[tuple(index.T)], theirs[tuple(their_index.T)], rtol=1e-6)
    # Every frame's ImagePositionPatient is the first voxel of one of our slices.
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    slices = set()
    for item in ds.PerFrameFunctionalGroupsSequence:
        position = _ras(item.PlanePositionSequence[0].ImagePositionPatient)
        k = np.linalg.solve(series.geometry.affine, np.r_[position, 1.0])[:3]
        np.testing.assert_allclose(k[:2], 0, atol=1e-3)
        slices.add(int(round(k[2])))
    assert slices == set(range(176))


def test_decimal_rescale_matches_nibabel():
    path = NIBABEL_DICOM / "decimal_rescale.dcm"
    series = read_dicom(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = _nibabel_wrapper(path).get_data()
    np.testing.assert_allclose(series.data[0].real, theirs.T)


# ------------------------------------------------------------------ synthetic series

ROW_DIR = np.array([0.8, 0.6, 0.0])
COL_DIR = np.array([0.0, 0.0, -1.0])
NORMAL = np.cross(ROW_DIR, COL_DIR)
ORIGIN = np.array([-20.0, 15.0, 30.0])
ROWS, COLUMNS = 3, 4


def _pattern(t: int, k: int) -> np.ndarray:
    base = np.arange(ROWS * COLUMNS).reshape(ROWS, COLUMNS)
    return (1000 * t + 100 * k + base).astype(np.uint16)


def _write_series(folder: Path, n_frames: int, n_slices: int, *, shuffle_seed=0, **extra):
    """Oblique 3×4 images; instance numbers run slice-major from the last slice; files
    written in random order under random names."""
    uid = generate_uid()
    jobs = []
    for k in range(n_slices):
        for t in range(n_frames):
            position = ORIGIN + 3.0 * k * NORMAL
            instance = 1 + t + n_frames * (n_slices - 1 - k)
            jobs.append((t, k, position, instance))
    rng = np.random.default_rng(shuffle_seed)
    for number, index in enumerate(rng.permutation(len(jobs))):
        t, k, position, instance = jobs[index]
        ds = mr_image(
            _pattern(t, k),
            series_uid=uid,
            position=position,
            orientation=(*ROW_DIR, *COL_DIR),
            spacing=(1.5, 0.5),
            instance=instance,
            **extra,
        )
        save(ds, folder / f"file{number:03d}")
    return uid


def test_frames_and_slices_are_ordered_and_placed(tmp_path):
    _write_series(tmp_path, n_frames=4, n_slices=3)
    series = read_dicom(tmp_path)
    assert series.data.shape == (4, COLUMNS, ROWS, 3)
    for t in range(4):
        for k in range(3):
            np.testing.assert_array_equal(series.data[t, :, :, k].real, _pattern(t, k).T)
    assert series.geometry.voxel_size_mm == pytest.approx((0.5, 1.5, 3.0))
    # The DICOM definition: P = IPP + column·Δc·row_dir + row·Δr·col_dir.
    for x, y, k in [(0, 0, 0), (3, 2, 2), (1, 2, 1)]:
        expected = ORIGIN + 3.0 * k * NORMAL + x * 0.5 * ROW_DIR + y * 1.5 * COL_DIR
        np.testing.assert_allclose(
            _world(series.geometry.affine, (x, y, k)), _ras(expected), atol=1e-5
        )
    # And nibabel's per-file affine, (row, column) indexed, agrees on a voxel.
    first = pydicom.dcmread(sorted(tmp_path.iterdir())[0])
    their = LPS_TO_RAS @ _nibabel_wrapper(first).affine
    k = int(round(np.dot(np.asarray(first.ImagePositionPatient, float) - ORIGIN, NORMAL) / 3))
    np.testing.assert_allclose(
        _world(series.geometry.affine, (3, 2, k)), _world(their, (2, 3, 0)), atol=1e-5
    )


def test_temporal_position_identifier_comes_before_instance_number(tmp_path):
    uid = generate_uid()
    for instance, temporal in [(1, 3), (2, 1), (3, 2)]:
        ds = mr_image(
            _pattern(temporal, 0),
            series_uid=uid,
            instance=instance,
            TemporalPositionIdentifier=temporal,
        )
        save(ds, tmp_path / f"{instance}.dcm")
    series = read_dicom(tmp_path)
    assert series.data.shape == (3, COLUMNS, ROWS)
    for t in range(3):
        np.testing.assert_array_equal(series.data[t].real, _pattern(t + 1, 0).T)


def test_rescale_slope_and_intercept_are_applied(tmp_path):
    _write_series(tmp_path, 2, 1, slope=0.5, intercept=10.0)
    series = read_dicom(tmp_path)
    np.testing.assert_allclose(series.data[1].real, 0.5 * _pattern(1, 0).T + 10.0)


def _phase_pixels(phase: np.ndarray) -> np.ndarray:
    """Siemens storage: 12 bits, value = 2·stored − 4096 = phase·4096/π."""
    return np.clip(np.round((phase * 4096 / np.pi + 4096) / 2), 0, 4095).astype(np.uint16)


def test_magnitude_and_phase_series_are_combined(tmp_path):
    rng = np.random.default_rng(3)
    magnitude_uid, phase_uid = generate_uid(), generate_uid()
    truth = []
    for t in range(3):
        magnitude = rng.integers(100, 1000, (ROWS, COLUMNS)).astype(np.uint16)
        phase = rng.uniform(-3.1, 3.1, (ROWS, COLUMNS))
        truth.append(magnitude * np.exp(1j * phase))
        save(
            mr_image(magnitude, series_uid=magnitude_uid, series_number=5, instance=t + 1),
            tmp_path / "mag" / f"{t}.dcm",
        )
        save(
            mr_image(
                _phase_pixels(phase),
                series_uid=phase_uid,
                series_number=6,
                instance=t + 1,
                image_type=("ORIGINAL", "PRIMARY", "P", "ND"),
                slope=2,
                intercept=-4096,
                bits_stored=12,
            ),
            tmp_path / "pha" / f"{t}.dcm",
        )
    scan = scan_dicom(tmp_path)
    assert len(scan.series) == 1 and scan.series[0].paired_uids == (phase_uid,)
    series = read_dicom(tmp_path)
    expected = np.stack([z.T for z in truth])
    assert series.data.shape == (3, COLUMNS, ROWS)
    np.testing.assert_allclose(np.abs(series.data), np.abs(expected), rtol=1e-5)
    phase_error = np.angle(series.data * np.conj(expected))
    assert np.max(np.abs(phase_error)) < 2 * np.pi / 4096
    assert series.provenance["series"]["data"] == "magnitude + phase"
    # The same data when the phase folder is given explicitly.
    explicit = read_dicom(tmp_path / "mag", phase=tmp_path / "pha")
    np.testing.assert_allclose(explicit.data, series.data)


def test_magnitude_and_phase_in_one_series(tmp_path):
    uid = generate_uid()
    magnitude = np.full((ROWS, COLUMNS), 200, dtype=np.uint16)
    phase = np.linspace(-3, 3, ROWS * COLUMNS).reshape(ROWS, COLUMNS)
    stored_phase = np.round((phase + 3.2) / 0.001).astype(np.uint16)
    for t in range(2):
        save(
            mr_image(
                magnitude,
                series_uid=uid,
                instance=2 * t + 1,
                image_type=("ORIGINAL", "PRIMARY", "M_FFE", "M", "FFE"),
            ),
            tmp_path / f"m{t}.dcm",
        )
        save(
            mr_image(
                stored_phase,
                series_uid=uid,
                instance=2 * t + 2,
                slope=0.001,
                intercept=-3.2,
                image_type=("ORIGINAL", "PRIMARY", "PHASE MAP", "P"),
            ),
            tmp_path / f"p{t}.dcm",
        )
    series = read_dicom(tmp_path)
    assert series.data.shape == (2, COLUMNS, ROWS)
    np.testing.assert_allclose(np.angle(series.data[1]), phase.T, atol=1e-3)
    np.testing.assert_allclose(np.abs(series.data[0]), 200, rtol=1e-6)


def test_enhanced_multiframe_with_functional_groups_and_phase(tmp_path):
    rng = np.random.default_rng(4)
    frames, truth = [], {}
    for k in range(2):
        for t in range(3):
            magnitude = rng.integers(10, 500, (ROWS, COLUMNS))
            phase = rng.uniform(-3, 3, (ROWS, COLUMNS))
            truth[t, k] = 2.0 * magnitude * np.exp(1j * phase)
            position = list(ORIGIN + 4.0 * k * NORMAL)
            frames.append(
                {"pixels": magnitude, "position": position, "temporal": t + 1, "slope": 2.0}
            )
            frames.append(
                {
                    "pixels": np.round((phase + np.pi) * 1000),
                    "position": position,
                    "temporal": t + 1,
                    "component": "PHASE",
                    "slope": 0.001,
                    "intercept": -np.pi,
                }
            )
    order = np.random.default_rng(5).permutation(len(frames))
    ds = enhanced_mr(
        [frames[i] for i in order],
        series_uid=generate_uid(),
        rows=ROWS,
        columns=COLUMNS,
        orientation=(*ROW_DIR, *COL_DIR),
    )
    series = read_dicom(save(ds, tmp_path / "enhanced.dcm"))
    assert series.data.shape == (3, COLUMNS, ROWS, 2)
    for (t, k), expected in truth.items():
        np.testing.assert_allclose(series.data[t, :, :, k], expected.T, rtol=2e-3, atol=1e-3)
    np.testing.assert_allclose(series.geometry.affine[:3, 2], _ras(4.0 * NORMAL), atol=1e-6)


def test_multiframe_without_functional_groups_gives_time_frames(tmp_path):
    stack = np.stack([_pattern(t, 0) for t in range(4)])
    ds = mr_image(stack[0], series_uid=generate_uid())
    ds.NumberOfFrames = 4
    ds.PixelData = stack.astype("<u2").tobytes()
    series = read_dicom(save(ds, tmp_path / "legacy.dcm"))
    assert series.data.shape == (4, COLUMNS, ROWS)
    np.testing.assert_array_equal(series.data[3].real, _pattern(3, 0).T)


# ---------------------------------------------------------------------- bad input


def test_non_dicom_file_in_folder_is_skipped_with_a_note(tmp_path):
    _write_series(tmp_path, 2, 1)
    (tmp_path / "notes.txt").write_text("scan notes, not an image\n")
    series = read_dicom(tmp_path)
    assert series.data.shape == (2, COLUMNS, ROWS)
    skipped = series.provenance["skipped"]
    assert len(skipped) == 1 and "notes.txt" in skipped[0] and "not a DICOM file" in skipped[0]


def test_folder_without_images_is_refused_naming_it(tmp_path):
    (tmp_path / "readme.txt").write_text("nothing here")
    with pytest.raises(ValueError, match=f"{tmp_path}: no DICOM images found.*readme.txt"):
        read_dicom(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="the folder is empty"):
        read_dicom(empty)
    with pytest.raises(ValueError, match="no such file or folder"):
        read_dicom(tmp_path / "missing")


def test_mixed_image_sizes_are_refused(tmp_path):
    uid = generate_uid()
    save(mr_image(_pattern(0, 0), series_uid=uid, instance=1), tmp_path / "a.dcm")
    save(mr_image(np.zeros((5, 5), np.uint16), series_uid=uid, instance=2), tmp_path / "b.dcm")
    with pytest.raises(ValueError, match="different sizes.*3×4 \\(1 images\\).*5×5"):
        read_dicom(tmp_path)


def test_incomplete_series_is_refused(tmp_path):
    _write_series(tmp_path, 3, 2)
    next(iter(sorted(tmp_path.iterdir()))).unlink()
    with pytest.raises(ValueError, match="different numbers of images"):
        read_dicom(tmp_path)


def test_phase_without_magnitude_is_refused(tmp_path):
    save(
        mr_image(
            _pattern(0, 0), series_uid=generate_uid(), image_type=("ORIGINAL", "PRIMARY", "P", "ND")
        ),
        tmp_path / "p.dcm",
    )
    with pytest.raises(ValueError, match="only phase images"):
        read_dicom(tmp_path)


# --------------------------------------------------------------------- DICOM maps


def _real_world_map(folder: Path, values_in_seconds: np.ndarray, uid: str) -> None:
    """A T1 map stored as integers with a Real World Value Mapping in seconds."""
    stored = np.round(values_in_seconds / 0.001).astype(np.uint16)
    ds = mr_image(stored.T, series_uid=uid, image_type=("DERIVED", "PRIMARY", "T1 MAP"))
    mapping = pydicom.Dataset()
    mapping.RealWorldValueSlope = 0.001
    mapping.RealWorldValueIntercept = 0.0
    unit = pydicom.Dataset()
    unit.CodeValue, unit.CodingSchemeDesignator, unit.CodeMeaning = "s", "UCUM", "second"
    mapping.MeasurementUnitsCodeSequence = pydicom.Sequence([unit])
    ds.RealWorldValueMappingSequence = pydicom.Sequence([mapping])
    save(ds, folder / "t1.dcm")


def test_dicom_maps_use_real_world_units(tmp_path):
    rng = np.random.default_rng(6)
    t1_s = rng.uniform(0.3, 3.0, (COLUMNS, ROWS))
    _real_world_map(tmp_path / "t1", t1_s, generate_uid())
    t2_ms = rng.uniform(20, 200, (COLUMNS, ROWS))
    save(
        mr_image(np.round(t2_ms.T).astype(np.uint16), series_uid=generate_uid()),
        tmp_path / "t2" / "t2.dcm",
    )
    values = read_dicom_values(tmp_path / "t1")
    assert values.unit == "s"
    maps = load_maps(tmp_path / "t1", tmp_path / "t2")
    np.testing.assert_allclose(maps.t1_ms, t1_s * 1000, atol=0.51)
    np.testing.assert_allclose(maps.t2_ms, np.round(t2_ms), atol=1e-4)
    assert maps.provenance["inputs"]["t1"]["units"]["unit"] == "s"
    assert "median" in maps.provenance["inputs"]["t2"]["units"]["reason"]
    assert np.all(np.isnan(maps.pd)) and maps.mask.all()
    assert maps.provenance["dicom_identifiers"]["PatientID"] == "PHANTOM-1"


def test_a_time_series_is_not_a_map(tmp_path):
    _write_series(tmp_path, 2, 1)
    with pytest.raises(ValueError, match="holds 2 images per slice; a map has one"):
        read_dicom_values(tmp_path)
