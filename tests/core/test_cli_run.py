"""``mrf run`` end to end: a tiny simulated scan (ISMRMRD, schedule from a CSV) through
ZF + dictionary matching to BIDS-named NIfTI maps with sidecars, a NIfTI TSMI with
``--sequence``, and refusals that name the file."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from scipy.ndimage import binary_erosion

from mrfcore.acquisition import make_trajectory, simulate_scan
from mrfcore.cli import main
from mrfcore.data import Geometry
from mrfcore.io.ismrmrd import write_ismrmrd
from mrfcore.phantoms.base import Phantom
from mrfcore.sequences import builtin_sequence, read_sequence, write_sequence

N, FRAMES = 32, 100
TISSUES = {1: (800.0, 60.0), 2: (1500.0, 150.0)}  # label: (T1, T2) ms


@pytest.fixture(scope="module")
def module_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("dictionaries")


@pytest.fixture(autouse=True)
def _one_dictionary_for_the_module(module_cache, monkeypatch):
    # Every run here uses the same schedule and grid: the dictionary is built once.
    monkeypatch.setenv("MRF_STUDIO_CACHE", str(module_cache))


@pytest.fixture(scope="module")
def schedule_csv(tmp_path_factory):
    """The first 100 frames of MRF-FISP (Jiang 2015) as a schedule CSV."""
    fisp = builtin_sequence("fisp-jiang2015")
    short = fisp.replace(
        flip_angle_deg=fisp.flip_angle_deg[:FRAMES],
        tr_ms=fisp.tr_ms[:FRAMES],
        te_ms=fisp.te_ms[:FRAMES],
        phase_deg=fisp.phase_deg[:FRAMES],
        name="fisp-100",
    )
    return write_sequence(short, tmp_path_factory.mktemp("schedule") / "fisp100.csv")


def _blocks() -> Phantom:
    """Two 10 × 20-voxel blocks of known T1/T2: large pure regions at 32 × 32."""
    fractions = np.zeros((2, N, N), np.float32)
    fractions[0, 5:15, 6:26] = 1
    fractions[1, 17:27, 6:26] = 1
    labels = (fractions * np.array([1, 2])[:, None, None]).sum(0).astype(int)
    return Phantom(
        name="blocks",
        geometry=Geometry((N, N), (200 / N, 200 / N)),
        tissue_names=["a", "b"],
        tissue_t1_ms=[TISSUES[1][0], TISSUES[2][0]],
        tissue_t2_ms=[TISSUES[1][1], TISSUES[2][1]],
        tissue_pd=[1.0, 0.8],
        fractions=fractions,
        labels=labels,
        label_names={0: "background", 1: "a", 2: "b"},
    )


def _pure(labels: np.ndarray, label: int) -> np.ndarray:
    return binary_erosion(labels == label, iterations=2)


# ~10 s on a busy 2-core machine (simulation, dictionary, ZF, DM), plus the first torch
# and sigpy imports when run alone.
@pytest.mark.slow
def test_run_on_a_simulated_scan_writes_maps_near_the_truth(tmp_path, schedule_csv, capsys):
    sequence = read_sequence(schedule_csv)
    phantom = _blocks()
    trajectory = make_trajectory("spiral", FRAMES, matrix=N, interleaves=4)
    x = np.linspace(-1, 1, N)
    coils = np.stack([np.ones((N, N)), np.exp(1j * x)[:, None] * (1.2 - 0.4 * x[None, :])])
    scan = simulate_scan(phantom, sequence, trajectory, coil_sensitivities=coils, snr=200, seed=1)
    raw = write_ismrmrd(scan, tmp_path / "blocks scan.h5")
    out = tmp_path / "maps"
    argv = ["run", str(raw), "--sequence", str(schedule_csv), "--grid", "coarse"]
    argv += ["--recon", "zf", "--inference", "dm", "--device", "cpu", "--out-dir", str(out)]
    # An exhaustive search needs no atom grouping: the quickest for a few hundred voxels.
    argv += ["--inference-option", "search=dense"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "zf + dm on cpu" in printed
    names = sorted(p.name for p in out.iterdir())
    for quantity in ("T1map", "T2map", "PDmap"):
        assert f"blocks-scan_{quantity}.nii.gz" in names and f"blocks-scan_{quantity}.json" in names
    assert not [n for n in names if n.startswith(".")]  # no temporary files left

    t1 = nib.load(out / "blocks-scan_T1map.nii.gz").get_fdata()[..., 0]
    t2 = nib.load(out / "blocks-scan_T2map.nii.gz").get_fdata()[..., 0]
    sidecar = json.loads((out / "blocks-scan_T1map.json").read_text())
    scale = 1000.0 if sidecar["Units"] == "s" else 1.0  # BIDS: seconds
    for label, (true_t1, true_t2) in TISSUES.items():
        pure = _pure(phantom.labels, label)
        assert np.median(t1[pure]) * scale == pytest.approx(true_t1, rel=0.1)
        assert np.median(t2[pure]) * scale == pytest.approx(true_t2, rel=0.2)
    provenance = sidecar["MRFStudio"]
    assert provenance["input_file"] == str(raw)
    assert provenance["sequence"]["name"] == "fisp-100"
    assert provenance["sequence"]["frames"] == FRAMES
    assert provenance["sequence"]["hash"] == sequence.content_hash()
    assert provenance["reconstruction"]["method"] == "zf"
    assert provenance["inference"]["method"] == "dm"
    assert provenance["inference"]["options"]["search"] == "dense"
    assert provenance["dictionary"]["grid"] == "coarse"
    assert provenance["software"]["name"] == "MRF Studio"


def test_run_on_a_nifti_tsmi_with_a_named_sequence(tmp_path, schedule_csv, capsys):
    from mrfcore.simulation import simulate_fingerprints

    sequence = read_sequence(schedule_csv)
    fingerprints = simulate_fingerprints(
        sequence, [TISSUES[1][0], TISSUES[2][0]], [TISSUES[1][1], TISSUES[2][1]], device="cpu"
    ).numpy()
    labels = np.zeros((8, 6), int)
    labels[:4], labels[4:] = 1, 2
    series = np.where(labels[..., None] == 1, fingerprints[0], fingerprints[1])  # (8, 6, T)
    path = tmp_path / "tsmi.nii.gz"
    nib.save(nib.Nifti1Image(series[:, :, None, :].astype(np.complex64), np.eye(4)), str(path))
    out = tmp_path / "maps"
    argv = ["run", str(path), "--sequence", str(schedule_csv), "--grid", "coarse"]
    argv += ["--inference", "dm", "--inference-option", "search=dense", "--device", "cpu"]
    assert main([*argv, "--out-dir", str(out)]) == 0
    t1 = nib.load(out / "tsmi_T1map.nii.gz").get_fdata()
    scale = 1000.0 if json.loads((out / "tsmi_T1map.json").read_text())["Units"] == "s" else 1.0
    np.testing.assert_allclose(t1[labels == 1] * scale, TISSUES[1][0], rtol=0.03)
    np.testing.assert_allclose(t1[labels == 2] * scale, TISSUES[2][0], rtol=0.03)
    assert "dm on cpu" in capsys.readouterr().out


def test_run_refusals_name_the_file_and_leave_nothing(tmp_path, schedule_csv, capsys):
    nib.save(nib.Nifti1Image(np.ones((4, 4, 1, 7), np.float32), np.eye(4)), str(tmp_path / "x.nii"))
    out = tmp_path / "maps"
    argv = ["run", str(tmp_path / "x.nii"), "--sequence", str(schedule_csv), "--out-dir", str(out)]
    assert main(argv) == 1
    error = capsys.readouterr().err
    assert error.startswith("mrf run: error: ") and "x.nii" in error
    assert "7" in error and "100" in error  # both frame counts
    assert not out.exists()
    nib.save(
        nib.Nifti1Image(np.ones((4, 4, 1, FRAMES), np.float32), np.eye(4)), str(tmp_path / "y.nii")
    )
    argv = ["run", str(tmp_path / "y.nii"), "--sequence", str(schedule_csv), "--grid", "huge"]
    assert main([*argv, "--out-dir", str(out)]) == 1
    assert "mrf run: error: unknown grid 'huge'" in capsys.readouterr().err
    assert not out.exists()
