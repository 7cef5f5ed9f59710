"""The catalogue of bad inputs: each gives a clear error naming the file, and `mrf run`
writes no output at all."""

from __future__ import annotations

import shutil

import h5py
import nibabel as nib
import numpy as np
import pytest
from pydicom.data import get_testdata_file
from raw_builders import fisp_schedule, header, random_samples, write_with_ismrmrd

from mrfcore.cli import main


def _truncated_hdf5(tmp_path):
    path = tmp_path / "truncated.h5"
    with h5py.File(path, "w") as handle:
        handle.create_dataset("dataset/data", data=np.arange(100_000, dtype=np.float64))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path, []


def _ismrmrd_without_trajectory(tmp_path):
    path = tmp_path / "no_trajectory.h5"
    xml = header(matrix=(16, 16), trajectory="spiral", schedule=fisp_schedule(6))
    write_with_ismrmrd(path, xml, random_samples(2, 6, 1, 32), None)
    return path, ["trajectory"]


def _mixed_dicom_series(tmp_path):
    folder = tmp_path / "mixed_series"
    folder.mkdir()
    shutil.copy(get_testdata_file("MR_small.dcm"), folder / "a.dcm")
    shutil.copy(get_testdata_file("CT_small.dcm"), folder / "b.dcm")
    return folder, ["series"]


def _non_image_dicom(tmp_path):
    path = tmp_path / "plan.dcm"
    shutil.copy(get_testdata_file("rtplan.dcm"), path)
    return path, []


def _nifti_with_nans(tmp_path):
    data = np.ones((8, 8, 1, 5), np.float32)
    data[2, 3, 0, 1] = np.nan
    path = tmp_path / "nans.nii.gz"
    nib.save(nib.Nifti1Image(data, np.eye(4)), path)
    return path, ["NaN"]


def _nifti_of_wrong_dimensionality(tmp_path):
    path = tmp_path / "five_d.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((4, 4, 2, 3, 2), np.float32), np.eye(4)), path)
    return path, []


def _schedule_of_the_wrong_length(tmp_path):
    path = tmp_path / "five_frames.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((8, 8, 1, 5), np.float32), np.eye(4)), path)
    return path, ["5", "880"]


CATALOGUE = {
    "truncated HDF5": (_truncated_hdf5, []),
    "ISMRMRD without trajectory": (_ismrmrd_without_trajectory, []),
    "DICOM folder with mixed series": (_mixed_dicom_series, []),
    "non-image DICOM": (_non_image_dicom, []),
    "NIfTI with NaNs": (_nifti_with_nans, ["--sequence", "ir-ramp-880"]),
    "NIfTI of wrong dimensionality": (_nifti_of_wrong_dimensionality, []),
    "schedule of the wrong length": (_schedule_of_the_wrong_length, ["--sequence", "ir-ramp-880"]),
}


@pytest.mark.parametrize("case", list(CATALOGUE))
def test_bad_input_is_refused_by_name_and_writes_nothing(case, tmp_path, capsys):
    make, extra_arguments = CATALOGUE[case]
    path, words = make(tmp_path)
    out = tmp_path / "maps"
    code = main(["run", str(path), "--out-dir", str(out), *extra_arguments])
    error = capsys.readouterr().err
    assert code == 1
    assert error.startswith("mrf run: error: ")
    assert path.name in error, error
    for word in words:
        assert word.lower() in error.lower(), error
    assert not out.exists() or not any(out.iterdir())
