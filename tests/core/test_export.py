"""Map export: NIfTI with BIDS names and sidecars, DICOM for PACS, atomic writes."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from mrfcore.data import Geometry, QuantitativeMaps
from mrfcore.io import export as export_module
from mrfcore.io.dicom import read_dicom, read_dicom_values
from mrfcore.io.export import export_dicom, export_nifti, to_json_compatible
from mrfcore.io.maps import load_maps
from mrfcore.sequences import Sequence


def _rotation(angles) -> np.ndarray:
    a, b, c = angles
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return rz @ ry @ rx


def _affine(angles=(0.3, -0.2, 0.5), sizes=(0.9, 1.1, 2.8), origin=(40.0, -20.0, 10.0)):
    affine = np.eye(4)
    affine[:3, :3] = _rotation(angles) @ np.diag(sizes)
    affine[:3, 3] = origin
    return affine


OBLIQUE = _affine()
SHEARED = np.array(
    [[-0.9, 0.3, 0.0, 40.0], [0.3, 0.9, 0.5, -20.0], [0.0, -0.4, 2.8, 10.0], [0, 0, 0, 1.0]]
)


def _maps(matrix=(6, 5), affine=None, provenance=None, extra=None, units=None):
    rng = np.random.default_rng(0)
    mask = np.ones(matrix, bool)
    mask[0] = False
    t1 = np.where(mask, rng.uniform(300, 4500, matrix), np.nan).astype(np.float32)
    t2 = np.where(mask, rng.uniform(20, 2000, matrix), np.nan).astype(np.float32)
    pd = np.where(mask, rng.uniform(0, 1, matrix), np.nan).astype(np.float32)
    sizes = (1.0,) * len(matrix)
    return QuantitativeMaps(
        t1,
        t2,
        pd,
        mask,
        Geometry(matrix, sizes, affine),
        extra=extra or {},
        units=units or {},
        provenance=provenance or {},
    )


@dataclasses.dataclass
class _Options:
    lam: float
    iterations: int


def _provenance():
    sequence = Sequence(
        flip_angle_deg=np.linspace(5, 60, 20), tr_ms=np.full(20, 12.0), te_ms=2.0, name="test"
    )
    return {
        "input_file": Path("/data/scan.h5"),
        "sequence": sequence,
        "reconstruction": {"name": "lrtv", "options": _Options(np.float32(0.2), np.int64(15))},
        "inference": "dm",
        "timings_s": {"reconstruction": np.float64(1.25), "bad": float("nan")},
        "device": "cpu",
        "dicom_identifiers": {"PatientName": "Doe^Jane", "PatientID": "123"},
    }


def test_nifti_round_trip_names_and_sidecar(tmp_path):
    maps = _maps(
        affine=SHEARED,
        provenance=_provenance(),
        extra={
            "match_correlation": np.ones((6, 5)),
            "t1_std": np.full((6, 5), 20.0),
            "b1": np.full((6, 5), 0.9),
        },
        units={"t1_std": "ms", "b1": "a.u."},
    )
    written = export_nifti(maps, tmp_path / "out", "sub-01_acq-mrf")
    names = sorted(p.name for p in written)
    for expected in [
        "sub-01_acq-mrf_T1map.nii.gz",
        "sub-01_acq-mrf_T2map.nii.gz",
        "sub-01_acq-mrf_PDmap.nii.gz",
        "sub-01_acq-mrf_T1map.json",
        "sub-01_acq-mrf_desc-matchCorrelation_map.nii.gz",
        "sub-01_acq-mrf_desc-std_T1map.nii.gz",
        "sub-01_acq-mrf_TB1map.nii.gz",
        "sub-01_acq-mrf_desc-mrf_mask.nii.gz",
    ]:
        assert expected in names
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == names  # no leftovers
    t1 = nib.load(tmp_path / "out" / "sub-01_acq-mrf_T1map.nii.gz")
    np.testing.assert_allclose(t1.affine, SHEARED, atol=1e-6)
    assert t1.header.get_sform(coded=True)[1] == 1
    np.testing.assert_allclose(t1.get_fdata()[..., 0], maps.t1_ms, rtol=1e-6)  # ms
    assert np.isnan(t1.get_fdata()[0]).all()
    std = nib.load(tmp_path / "out" / "sub-01_acq-mrf_desc-std_T1map.nii.gz").get_fdata()
    np.testing.assert_allclose(std, 20.0)
    mask = nib.load(tmp_path / "out" / "sub-01_acq-mrf_desc-mrf_mask.nii.gz")
    np.testing.assert_array_equal(mask.get_fdata()[..., 0], maps.mask)

    text = (tmp_path / "out" / "sub-01_acq-mrf_T1map.json").read_text()
    sidecar = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))
    assert sidecar["Units"] == "ms" and sidecar["Sources"] == ["/data/scan.h5"]
    assert sidecar["EstimationAlgorithm"] == "lrtv + dm"
    assert sidecar["SoftwareName"] == "MRF Studio" and sidecar["SoftwareVersion"]
    recorded = sidecar["MRFStudio"]
    assert recorded["reconstruction"]["options"] == {"lam": pytest.approx(0.2), "iterations": 15}
    assert recorded["sequence"]["flip_angle_deg"][-1] == pytest.approx(60.0)
    assert recorded["timings_s"] == {"reconstruction": 1.25, "bad": None}
    assert "Doe" not in text and "dicom_identifiers" not in recorded
    assert (
        json.loads((tmp_path / "out" / "sub-01_acq-mrf_PDmap.json").read_text())["Units"]
        == "arbitrary"
    )


def test_nifti_export_in_seconds_reads_back_through_load_maps(tmp_path):
    maps = _maps(matrix=(4, 3, 2), affine=OBLIQUE)
    export_nifti(maps, tmp_path, "sub-02", time_unit="s")
    back = load_maps(
        tmp_path / "sub-02_T1map.nii.gz",
        tmp_path / "sub-02_T2map.nii.gz",
        tmp_path / "sub-02_PDmap.nii.gz",
    )
    np.testing.assert_allclose(back.t1_ms, maps.t1_ms, rtol=1e-6)
    np.testing.assert_allclose(back.geometry.affine, OBLIQUE, atol=1e-6)
    assert back.provenance["inputs"]["t1"]["units"]["reason"] == "unit 's' declared by the file"


def test_to_json_compatible_handles_numpy_and_objects():
    converted = to_json_compatible(
        {
            "a": np.float32(1.5),
            "b": np.arange(3, dtype=np.int16),
            "c": np.nan,
            "d": (Path("x"), {1, 2}),
            "e": np.zeros(200_001),
            "f": 1 + 2j,
            "g": np.bool_(True),
        }
    )
    assert converted == {
        "a": 1.5,
        "b": [0, 1, 2],
        "c": None,
        "d": ["x", [1, 2]],
        "e": {"omitted_array": {"shape": [200001], "dtype": "float64"}},
        "f": {"real": 1.0, "imag": 2.0},
        "g": True,
    }
    json.dumps(converted, allow_nan=False)


def test_failed_nifti_export_leaves_nothing_behind(tmp_path, monkeypatch):
    original = nib.save
    calls = []

    def failing_save(image, filename):
        calls.append(filename)
        if len(calls) == 2:
            raise OSError("disk full")
        original(image, filename)

    monkeypatch.setattr(nib, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        export_nifti(_maps(), tmp_path, "sub-01")
    assert len(calls) == 2
    assert list(tmp_path.iterdir()) == []


def test_bad_prefix_writes_nothing(tmp_path):
    with pytest.raises(ValueError, match="prefix '../evil'"):
        export_nifti(_maps(), tmp_path, "../evil")
    with pytest.raises(ValueError, match="time_unit"):
        export_nifti(_maps(), tmp_path, "sub-01", time_unit="min")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------- DICOM


def test_dicom_export_reads_back_with_units_and_identifiers(tmp_path):
    source_path = get_testdata_file("MR_small.dcm")
    source = pydicom.dcmread(source_path)
    geometry = read_dicom(source_path).geometry
    maps = _maps(matrix=(64, 64), affine=geometry.affine)
    folders = export_dicom(maps, tmp_path, source=source)
    assert sorted(folders) == ["PD", "T1", "T2"]
    (t1_file,) = sorted(folders["T1"].iterdir())
    ds = pydicom.dcmread(t1_file)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.4"
    assert ds.PatientName == source.PatientName and ds.PatientID == source.PatientID
    assert ds.StudyInstanceUID == source.StudyInstanceUID
    assert ds.SeriesInstanceUID != source.SeriesInstanceUID
    values = ds.pixel_array.T * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    inside = maps.mask
    assert float(ds.RescaleSlope) == pytest.approx(0.1)
    np.testing.assert_allclose(values[inside], maps.t1_ms[inside], atol=0.05 + 1e-6)
    units = ds.RealWorldValueMappingSequence[0].MeasurementUnitsCodeSequence[0]
    assert (units.CodeValue, units.CodingSchemeDesignator) == ("ms", "UCUM")
    pd_ds = pydicom.dcmread(next(folders["PD"].iterdir()))
    pd_units = pd_ds.RealWorldValueMappingSequence[0].MeasurementUnitsCodeSequence[0]
    assert pd_units.CodeValue == "[arb'U]"
    # Same place in space as the source image.
    np.testing.assert_allclose(
        np.asarray(ds.ImagePositionPatient, float),
        np.asarray(source.ImagePositionPatient, float),
        atol=1e-4,
    )
    np.testing.assert_allclose(
        np.asarray(ds.ImageOrientationPatient, float),
        np.asarray(source.ImageOrientationPatient, float),
        atol=1e-6,
    )


def test_dicom_export_of_a_volume_round_trips(tmp_path):
    maps = _maps(matrix=(5, 4, 3), affine=OBLIQUE)
    maps.pd[1, 1, 1] = -0.25  # a negative value needs signed storage
    folders = export_dicom(maps, tmp_path, prefix="mrf_")
    assert folders["T1"] == tmp_path / "mrf_T1map"
    assert len(list(folders["T1"].iterdir())) == 3
    back = load_maps(folders["T1"], folders["T2"], folders["PD"])
    np.testing.assert_allclose(back.geometry.affine, OBLIQUE, atol=1e-5)
    np.testing.assert_allclose(back.t1_ms, maps.t1_ms, atol=0.05 + 1e-4)
    np.testing.assert_allclose(back.t2_ms, maps.t2_ms, atol=0.05 + 1e-4)
    np.testing.assert_allclose(back.pd[maps.mask], maps.pd[maps.mask], atol=2.5e-5 + 1e-7)
    assert read_dicom_values(folders["PD"]).values[1, 1, 1] == pytest.approx(-0.25)


def test_left_handed_volume_comes_back_in_the_same_place(tmp_path):
    # x flipped (as NIfTI files in radiological order have it): DICOM orders slices by
    # position, so the z axis comes back reversed, with every value where it was.
    left_handed = OBLIQUE @ np.diag([-1.0, 1.0, 1.0, 1.0])
    maps = _maps(matrix=(5, 4, 3), affine=left_handed)
    folders = export_dicom(maps, tmp_path)
    back = load_maps(folders["T1"], folders["T2"])
    index = np.argwhere(maps.mask)
    world = left_handed @ np.c_[index, np.ones(len(index))].T
    back_index = np.linalg.solve(back.geometry.affine, world)[:3].T
    assert np.max(np.abs(back_index - np.round(back_index))) < 1e-4
    back_index = np.round(back_index).astype(int)
    np.testing.assert_allclose(
        back.t1_ms[tuple(back_index.T)], maps.t1_ms[tuple(index.T)], atol=0.05 + 1e-4
    )


def test_sheared_geometry_cannot_go_to_dicom(tmp_path):
    with pytest.raises(ValueError, match="not perpendicular"):
        export_dicom(_maps(affine=SHEARED), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_failed_dicom_export_leaves_nothing_behind(tmp_path, monkeypatch):
    from mrfcore.io import _export_dicom

    original = _export_dicom._save
    calls = []

    def failing_save(ds, path):
        calls.append(path)
        if len(calls) == 2:
            raise OSError("disk full")
        original(ds, path)

    monkeypatch.setattr(_export_dicom, "_save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        export_dicom(_maps(), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_export_module_keeps_patient_data_out_of_sidecars():
    assert "dicom_identifiers" in export_module.PRIVATE_PROVENANCE_KEYS
