"""``mrf info`` on every kind of input: our ISMRMRD, a foreign one, a BART pair, a DICOM
folder with two series, a 4D NIfTI; and its errors (exit 1, "mrf info: error: FILE: ...")."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from cli_helpers import info_rows
from dicom_builders import mr_image, save
from pydicom.uid import generate_uid
from raw_builders import header, radial_cycles_per_fov, random_samples, write_with_ismrmrd

from mrfcore.acquisition import make_trajectory, simulate_scan
from mrfcore.cli import main
from mrfcore.io.ismrmrd import write_ismrmrd
from mrfcore.phantoms import nist_phantom
from mrfcore.sequences import Sequence, builtin_sequence, write_sequence


def _info(capsys, *argv) -> dict[str, str]:
    assert main(["info", *map(str, argv)]) == 0
    return info_rows(capsys.readouterr().out)


def _schedule(frames: int) -> Sequence:
    return Sequence(
        flip_angle_deg=np.linspace(5, 60, frames),
        tr_ms=np.full(frames, 10.0),
        te_ms=2.0,
        name="short",
    )


def test_info_on_our_simulated_ismrmrd(tmp_path, capsys):
    ramp = builtin_sequence("ir-ramp-880")
    sequence = ramp.replace(
        flip_angle_deg=ramp.flip_angle_deg[:8],
        tr_ms=ramp.tr_ms[:8],
        te_ms=ramp.te_ms[:8],
        phase_deg=ramp.phase_deg[:8],
    )
    trajectory = make_trajectory("radial", 8, matrix=24, interleaves=2)
    # Given coil maps spare the birdcage model (and its slow first sigpy import).
    coils = np.stack([np.ones((24, 24)), 1j * np.ones((24, 24)), np.full((24, 24), 0.5)])
    phantom = nist_phantom(matrix=24)
    scan = simulate_scan(phantom, sequence, trajectory, coil_sensitivities=coils, snr=30, seed=2)
    path = write_ismrmrd(scan, tmp_path / "ours.h5")
    rows = _info(capsys, path)
    assert rows["kind"] == "raw k-space" and rows["source"] == "ours.h5"
    assert (rows["coils"], rows["frames"], rows["interleaves per frame"]) == ("3", "8", "2")
    assert rows["matrix"] == "24 × 24" and rows["field of view"] == "200 × 200 mm"
    assert rows["sequence"] == "ir-ramp-880 (8 frames, fisp)" and rows["sequence from"] == "header"
    assert rows["trajectory"] == "radial"
    assert rows["trajectory units"].startswith("cycles/FOV (cycles per field of view")
    assert "header)" in rows["trajectory units"]
    assert rows["field strength"] == "1.5 T" and rows["ground truth"].startswith("T1, T2, PD")
    assert rows["noise samples"] == f"{scan.metadata['noise_samples'].shape[1]} per coil"


def test_info_on_a_foreign_file_without_schedule_says_what_is_missing(tmp_path, capsys):
    samples = random_samples(2, 5, 1, 16)
    cycles = radial_cycles_per_fov(5, 1, 16, 16)
    path = tmp_path / "scanner.h5"
    write_with_ismrmrd(path, header(limits=False), samples, cycles / 16 * 2 * np.pi)
    rows = _info(capsys, path)
    assert rows["kind"] == "raw k-space (ISMRMRD)"
    assert (rows["coils"], rows["frames"], rows["readout samples"]) == ("2", "5", "16")
    assert rows["sequence"] == "none in the header: name one (--sequence)"
    assert rows["not ready to run"].startswith("no MRF schedule in the header; name a sequence")
    assert "encodingLimits" in rows["header lacks"] and "sequenceParameters" in rows["header lacks"]
    write_sequence(_schedule(5), tmp_path / "short.csv")
    rows = _info(capsys, path, "--sequence", tmp_path / "short.csv")
    assert rows["sequence"] == "short (5 frames, fisp)" and rows["sequence from"] == "given"
    assert rows["trajectory units"].startswith("radians (radians per pixel")
    assert "detected" in rows["trajectory units"]
    assert rows["frame layout"].startswith("frames from repetition (5)")


def test_info_on_a_bart_pair(tmp_path, capsys):
    # Written by hand from BART's documented format: '# Dimensions', column-major complex64.
    frames, readout, spokes, coils = 4, 12, 2, 2
    kspace = random_samples(1, readout, spokes, coils * frames).reshape(
        1, readout, spokes, coils, 1, frames
    )
    cycles = radial_cycles_per_fov(frames, spokes, readout, 8)
    trajectory = np.zeros((3, readout, spokes, 1, 1, frames), np.complex64)
    trajectory[:2] = np.transpose(cycles, (3, 2, 1, 0))[:, :, :, None, None, :]
    for base, array in (("k", kspace), ("t", trajectory)):
        dims = list(array.shape) + [1] * (16 - array.ndim)
        (tmp_path / f"{base}.hdr").write_text("# Dimensions\n" + " ".join(map(str, dims)) + "\n")
        np.asfortranarray(array).T.copy().tofile(tmp_path / f"{base}.cfl")
    rows = _info(capsys, tmp_path / "k.cfl")
    assert rows["kind"] == "BART array (.cfl/.hdr)"
    assert rows["non-singleton"] == "PHS1 12, PHS2 2, COIL 2, TE 4"
    write_sequence(_schedule(frames), tmp_path / "s.csv")
    argv = [tmp_path / "k.cfl", "--sequence", tmp_path / "s.csv", "--trajectory", tmp_path / "t"]
    rows = _info(capsys, *argv)
    assert rows["kind"] == "raw k-space" and rows["format"] == "bart"
    assert (rows["coils"], rows["frames"], rows["interleaves per frame"]) == ("2", "4", "2")
    assert rows["matrix"] == "8 × 8"


def test_info_on_a_dicom_folder_with_two_series(tmp_path, capsys):
    folder = tmp_path / "dicom"
    fingerprints, localizer = generate_uid(), generate_uid()
    for t in range(3):
        pixels = np.full((6, 8), 100 + t, np.uint16)
        ds = mr_image(
            pixels,
            series_uid=fingerprints,
            series_number=7,
            instance=t + 1,
            SeriesDescription="MRF TSMI",
            TemporalPositionIdentifier=t + 1,
        )
        save(ds, folder / f"mrf{t}.dcm")
    save(
        mr_image(
            np.ones((6, 8), np.uint16),
            series_uid=localizer,
            series_number=1,
            SeriesDescription="localizer",
        ),
        folder / "loc.dcm",
    )
    assert main(["info", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "2 series" in out.splitlines()[0]
    assert "- series 1" in out and "- series 7" in out
    assert "MRF TSMI" in out and "localizer" in out and fingerprints in out
    rows = _info(capsys, folder, "--series", 7)
    assert rows["kind"] == "image series (3 frames)" and rows["matrix"] == "8 × 6"


def test_info_on_a_4d_nifti(tmp_path, capsys):
    data = np.random.default_rng(0).normal(size=(5, 4, 1, 9)).astype(np.float32)
    nib.save(nib.Nifti1Image(data, np.diag([2.0, 2.0, 5.0, 1.0])), str(tmp_path / "t.nii.gz"))
    rows = _info(capsys, tmp_path / "t.nii.gz")
    assert rows["kind"] == "image series (9 frames)"
    assert rows["matrix"] == "5 × 4" and rows["voxel size"] == "2 × 2 mm"


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("absent.h5", None, "absent.h5: no such file"),
        ("broken.h5", b"not hdf5 at all", "broken.h5: not an HDF5"),
        ("notes.txt", b"hello", "notes.txt: not a file MRF Studio reads"),
    ],
)
def test_info_errors_name_the_file(tmp_path, capsys, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    assert main(["info", str(path)]) == 1
    error = capsys.readouterr().err
    assert error.startswith("mrf info: error: ") and message in error
