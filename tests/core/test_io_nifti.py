"""NIfTI image series and map input, with nibabel's own test files and synthetic ones."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from mrfcore.io.maps import load_maps
from mrfcore.io.nifti import inspect_nifti, read_nifti, read_nifti_values, sidecar_path
from mrfcore.sequences import Sequence

NIBABEL_DATA = Path(nib.__file__).parent / "tests" / "data"


def _sequence(n_frames: int) -> Sequence:
    return Sequence(
        flip_angle_deg=np.full(n_frames, 10.0), tr_ms=np.full(n_frames, 10.0), te_ms=2.0
    )


@pytest.mark.parametrize("name", ["example4d.nii.gz", "functional.nii", "example_nifti2.nii.gz"])
def test_4d_files_become_time_first_series(name):
    path = NIBABEL_DATA / name
    image = nib.load(path)
    series = read_nifti(path)
    expected = np.moveaxis(image.get_fdata(), 3, 0)
    assert series.data.shape == expected.shape and series.data.dtype == np.complex64
    np.testing.assert_allclose(series.data.real, expected)
    np.testing.assert_array_equal(series.geometry.affine, image.affine)
    assert series.geometry.voxel_size_mm == pytest.approx(image.header.get_zooms()[:3])
    assert series.basis is None and series.source == str(path)


def test_3d_file_is_one_volume_and_header_inspection():
    path = NIBABEL_DATA / "anatomical.nii"
    series = read_nifti(path)
    assert series.data.shape == (1, 33, 41, 25)
    np.testing.assert_allclose(series.data[0].real, nib.load(path).get_fdata())
    info = inspect_nifti(NIBABEL_DATA / "standard.nii.gz")
    assert info.shape == (4, 5, 7) and info.voxel_size_mm == (1.0, 3.0, 2.0)
    assert info.summary()["dtype"] == "uint8" and "voxel_size_mm" in info.describe()


def _save(array, path, affine=None):
    affine = np.diag([1.5, 1.5, 4.0, 1.0]) if affine is None else affine
    nib.save(nib.Nifti1Image(array, affine), str(path))
    return path


def test_2d_time_series_in_a_3d_file(tmp_path):
    data = np.random.default_rng(0).normal(size=(6, 5, 8)).astype(np.float32)
    path = _save(data, tmp_path / "tsmi.nii.gz")
    by_axis = read_nifti(path, time_axis=2)
    assert by_axis.data.shape == (8, 6, 5) and by_axis.geometry.matrix == (6, 5)
    np.testing.assert_allclose(by_axis.data.real, np.moveaxis(data, 2, 0))
    by_sequence = read_nifti(path, sequence=_sequence(8))
    np.testing.assert_array_equal(by_sequence.data, by_axis.data)
    np.testing.assert_array_equal(by_axis.geometry.affine, np.diag([1.5, 1.5, 4.0, 1.0]))
    with pytest.raises(ValueError, match="tsmi.nii.gz: holds 1 time frames \\(one volume"):
        read_nifti(path, sequence=_sequence(7))


def test_complex_file_and_magnitude_with_phase(tmp_path):
    rng = np.random.default_rng(1)
    data = (rng.normal(size=(4, 3, 1, 5)) + 1j * rng.normal(size=(4, 3, 1, 5))).astype(np.complex64)
    series = read_nifti(_save(data, tmp_path / "complex.nii.gz"))
    assert series.data.shape == (5, 4, 3)
    np.testing.assert_allclose(series.data, np.moveaxis(data[:, :, 0], 2, 0))
    magnitude = _save(np.abs(data).astype(np.float32), tmp_path / "mag.nii.gz")
    phase = _save(np.angle(data).astype(np.float32), tmp_path / "phase.nii.gz")
    combined = read_nifti(magnitude, phase=phase)
    np.testing.assert_allclose(combined.data, series.data, rtol=1e-5, atol=1e-6)
    degrees = _save(np.degrees(np.angle(data)).astype(np.float32), tmp_path / "deg.nii.gz")
    scaled = read_nifti(magnitude, phase=degrees, phase_scale=np.pi / 180)
    np.testing.assert_allclose(scaled.data, series.data, rtol=1e-4, atol=1e-5)


def test_bad_files_are_refused_by_name(tmp_path):
    text = tmp_path / "notes.nii"
    text.write_text("not an image")
    with pytest.raises(ValueError, match="notes.nii: not a readable NIfTI file"):
        read_nifti(text)
    with pytest.raises(ValueError, match="missing.nii.gz: no such file"):
        read_nifti(tmp_path / "missing.nii.gz")
    path = _save(np.zeros((2, 2, 2), np.float32), tmp_path / "map.nii.gz")
    sidecar_path(path).write_text("{broken")
    with pytest.raises(ValueError, match="map.json: the sidecar is not valid JSON"):
        read_nifti_values(path)
    with pytest.raises(ValueError, match="time_axis 1 would be a spatial axis"):
        read_nifti(NIBABEL_DATA / "anatomical.nii", time_axis=1)


def test_phase_file_of_another_shape_is_refused(tmp_path):
    magnitude = _save(np.ones((3, 3, 1, 4), np.float32), tmp_path / "m.nii.gz")
    phase = _save(np.zeros((3, 3, 1, 5), np.float32), tmp_path / "p.nii.gz")
    with pytest.raises(ValueError, match="p.nii.gz: phase data of shape"):
        read_nifti(magnitude, phase=phase)


# ------------------------------------------------------------------------- maps

T1_MS = np.array([[800.0, 1200.0, 0.0], [4000.0, 300.0, 1500.0]])
T2_MS = np.array([[70.0, 90.0, 0.0], [1600.0, 40.0, 110.0]])


def test_maps_in_ms_and_in_seconds_are_both_read_in_ms(tmp_path):
    t1 = _save((T1_MS / 1000).astype(np.float32), tmp_path / "sub_T1map.nii.gz")  # BIDS: s
    t2 = _save(T2_MS.astype(np.float32), tmp_path / "t2_ms.nii.gz")  # a tool writing ms
    maps = load_maps(t1, t2)
    expected_mask = (T1_MS > 0) & (T2_MS > 0)
    np.testing.assert_array_equal(maps.mask, expected_mask)
    np.testing.assert_allclose(maps.t1_ms[expected_mask], T1_MS[expected_mask], rtol=1e-6)
    np.testing.assert_allclose(maps.t2_ms[expected_mask], T2_MS[expected_mask], rtol=1e-6)
    assert np.isnan(maps.t1_ms[~expected_mask]).all()
    assert maps.provenance["inputs"]["t1"]["units"]["unit"] == "s"
    assert maps.provenance["inputs"]["t2"]["units"]["unit"] == "ms"
    assert maps.geometry.matrix == (2, 3)


def test_sidecar_and_argument_decide_the_unit(tmp_path):
    # Short T2 values in ms would look like seconds; the sidecar says otherwise.
    short = np.full((2, 3), 8.0, np.float32)
    t1 = _save(T1_MS.astype(np.float32), tmp_path / "t1.nii.gz")
    t2 = _save(short, tmp_path / "t2.nii.gz")
    assert load_maps(t1, t2).t2_ms[0, 0] == pytest.approx(8000.0)  # the value heuristic
    sidecar_path(t2).write_text(json.dumps({"Units": "ms"}))
    assert load_maps(t1, t2).t2_ms[0, 0] == pytest.approx(8.0)
    assert load_maps(t1, t2, t2_unit="s").t2_ms[0, 0] == pytest.approx(8000.0)
    pd = _save(np.full((2, 3), 0.7, np.float32), tmp_path / "pd.nii.gz")
    assert load_maps(t1, t2, pd).pd[1, 1] == pytest.approx(0.7)


def test_maps_on_different_grids_are_refused(tmp_path):
    t1 = _save(T1_MS.astype(np.float32), tmp_path / "t1.nii.gz")
    shifted = np.diag([1.5, 1.5, 4.0, 1.0])
    shifted[0, 3] = 3.0
    t2 = _save(T2_MS.astype(np.float32), tmp_path / "t2.nii.gz", affine=shifted)
    with pytest.raises(ValueError, match="t2.nii.gz: the T2 map is not on the same voxel grid"):
        load_maps(t1, t2)
    small = _save(np.ones((2, 2), np.float32), tmp_path / "small.nii.gz")
    with pytest.raises(ValueError, match="small.nii.gz: the T2 map is \\(2, 2\\) voxels"):
        load_maps(t1, small)
    with pytest.raises(ValueError, match="a map must be one volume"):
        load_maps(NIBABEL_DATA / "example4d.nii.gz", t1)
