"""Siemens twix through the optional twixtools: the counter mapping on plain arrays
(always), the "install mrf-studio[twix]" error, and a synthetic twix file written with
twixtools' own writer (when twixtools is installed)."""

from __future__ import annotations

import struct
import sys

import numpy as np
import pytest
from cli_helpers import info_rows

from mrfcore.cli import main
from mrfcore.io.twix import kspace_from_readouts, read_twix_kspace
from mrfcore.sequences import Sequence, write_sequence

FRAMES, ARMS, SAMPLES, COILS, CUT = 6, 2, 24, 3, (2, 2)
MATRIX, FOV = 16, 240.0


def _sequence(frames=FRAMES):
    return Sequence(
        flip_angle_deg=np.linspace(5, 50, frames), tr_ms=np.full(frames, 10.0), te_ms=2.0
    )


def _readouts(seed=0):
    """Readouts in acquisition order: frame f reads arms (3f, 3f+1) mod 8 (Lin), frames
    in Rep; the trajectory has one point per stored sample, normalised (±0.5)."""
    rng = np.random.default_rng(seed)
    values = rng.standard_normal((COILS, FRAMES, ARMS, SAMPLES)) + 0j
    values = values.astype(np.complex64)
    radius = np.linspace(-0.5, 0.5, SAMPLES, endpoint=False)
    angles = rng.uniform(0, np.pi, (FRAMES, ARMS))
    trajectory = np.stack(
        [np.cos(angles)[..., None] * radius, np.sin(angles)[..., None] * radius], axis=-1
    )
    readouts, counters = [], {"Rep": [], "Lin": [], "Sli": []}
    for frame in range(FRAMES):
        for arm in range(ARMS):
            readouts.append(values[:, frame, arm])
            counters["Rep"].append(frame)
            counters["Lin"].append((3 * frame + arm) % 8)
            counters["Sli"].append(0)
    return values, trajectory, readouts, {k: np.array(v) for k, v in counters.items()}


def test_mapping_readouts_to_frames_on_plain_arrays():
    values, trajectory, readouts, counters = _readouts()
    data = kspace_from_readouts(
        readouts,
        counters,
        _sequence(),
        trajectory,
        matrix=(MATRIX, MATRIX),
        fov_mm=(FOV, FOV, 5.0),
        source="scan.dat",
        cut=CUT,
    )
    keep = slice(CUT[0], SAMPLES - CUT[1])
    np.testing.assert_array_equal(data.samples, values[..., keep])
    np.testing.assert_allclose(data.trajectory, trajectory[:, :, keep] * MATRIX, rtol=1e-6)
    assert data.metadata["trajectory_units"] == "normalized"
    assert data.metadata["acquisition_layout"].startswith("frames from Rep (6), 2 readout(s)")
    assert data.geometry.voxel_size_mm == (15.0, 15.0) and data.geometry.affine[2, 2] == 5.0
    with pytest.raises(ValueError, match="scan.dat: the data has 6 frames .* has 7"):
        kspace_from_readouts(
            readouts,
            counters,
            _sequence(7),
            trajectory,
            matrix=(16, 16),
            fov_mm=(FOV, FOV),
            source="scan.dat",
        )
    counters["Sli"] = np.arange(len(readouts)) % 2
    with pytest.raises(
        ValueError, match="scan.dat: .*interleaves in Lin, .*also differ in Sli 0–1"
    ):
        kspace_from_readouts(
            readouts,
            counters,
            _sequence(),
            trajectory,
            matrix=(16, 16),
            fov_mm=(FOV, FOV),
            source="scan.dat",
        )


def test_without_twixtools_the_message_says_what_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "twixtools", None)  # import twixtools → ImportError
    path = tmp_path / "meas_MID00042_mrf.dat"
    path.write_bytes(b"\x00" * 64)
    with pytest.raises(
        ValueError, match="meas_MID00042_mrf.dat: .*pip install 'mrf-studio\\[twix\\]'"
    ):
        read_twix_kspace(path, _sequence(), np.zeros((SAMPLES, 2)))
    assert main(["info", str(path)]) == 1
    error = capsys.readouterr().err
    assert error.startswith("mrf info: error: ") and "mrf-studio[twix]" in error
    assert str(path) in error


# ------------------------------------------------------------------ with twixtools


def _protocol(buffers: dict[str, str]) -> np.ndarray:
    """A twix measurement header: length, buffer count, then name\\0 length text."""
    body = b""
    for name, text in buffers.items():
        data = text.encode("latin1")
        body += name.encode() + b"\x00" + struct.pack("<I", len(data)) + data
    return np.frombuffer(struct.pack("<II", 8 + len(body), len(buffers)) + body, dtype="S1")


def _write_twix(path, values, counters):
    twixtools = pytest.importorskip("twixtools")
    from twixtools.mdb import Mdb_local

    yaps = (
        "### ASCCONV BEGIN ###\n"
        f"sKSpace.lBaseResolution = {MATRIX}\n"
        f"sSliceArray.asSlice[0].dReadoutFOV = {FOV}\n"
        f"sSliceArray.asSlice[0].dPhaseFOV = {FOV}\n"
        "sSliceArray.asSlice[0].dThickness = 5\n"
        'tProtocolName = "mrf_fisp_spiral"\n'
        "### ASCCONV END ###"
    )
    dicom = '<ParamDouble."flMagneticFieldStrength">  { <Precision> 6  2.89362  }'
    noise = Mdb_local(np.full((COILS, 16), 0.5 + 0.25j, np.complex64))
    noise.add_flag("NOISEADJSCAN")
    blocks = [noise]
    for index, (frame, arm) in enumerate(np.ndindex(FRAMES, ARMS)):
        block = Mdb_local(values[:, frame, arm])
        block.mdh.Counter.Rep = counters["Rep"][index]
        block.mdh.Counter.Lin = counters["Lin"][index]
        block.mdh.CutOff.Pre, block.mdh.CutOff.Post = CUT
        blocks.append(block)
    hdr = _protocol({"MeasYaps": yaps, "Dicom": dicom})
    twixtools.write_twix({"hdr_str": hdr, "mdb": blocks}, str(path))


def test_synthetic_twix_written_by_twixtools(tmp_path, capsys):
    values, trajectory, _, counters = _readouts(seed=1)
    path = tmp_path / "meas_MID00007_mrf.dat"
    _write_twix(path, values, counters)
    np.save(tmp_path / "spiral.npy", trajectory)
    data = read_twix_kspace(path, _sequence(), tmp_path / "spiral.npy")
    keep = slice(CUT[0], SAMPLES - CUT[1])
    np.testing.assert_array_equal(data.samples, values[..., keep])
    np.testing.assert_allclose(data.trajectory, trajectory[:, :, keep] * MATRIX, rtol=1e-6)
    assert data.geometry.matrix == (MATRIX, MATRIX) and data.geometry.voxel_size_mm == (15.0, 15.0)
    np.testing.assert_allclose(data.metadata["noise_samples"], 0.5 + 0.25j)
    assert data.metadata["field_strength_t"] == pytest.approx(2.89362)
    assert data.metadata["protocol_name"] == "mrf_fisp_spiral"

    assert main(["info", str(path)]) == 0
    rows = info_rows(capsys.readouterr().out)
    assert rows["kind"] == "raw k-space (Siemens twix)" and rows["imaging readouts"] == "12"
    assert rows["loop counters"] == "Lin (8 values), Rep (6 values)"
    assert (rows["coils"], rows["samples per readout"], rows["matrix"]) == ("3", "24", "16 × 16")
    assert rows["sequence"].startswith("not in twix files")
    write_sequence(_sequence(), tmp_path / "schedule.csv")
    argv = ["info", str(path), "--sequence", str(tmp_path / "schedule.csv")]
    assert main([*argv, "--trajectory", str(tmp_path / "spiral.npy")]) == 0
    rows = info_rows(capsys.readouterr().out)
    assert (rows["frames"], rows["interleaves per frame"], rows["readout samples"]) == (
        "6",
        "2",
        "20",
    )
    assert rows["trajectory units"].startswith("normalized (cycles per pixel")
    assert rows["format"] == "Siemens twix" and rows["noise samples"] == "16 per coil"
    with pytest.raises(ValueError, match="the data has 6 frames .* has 5"):
        read_twix_kspace(path, _sequence(5), tmp_path / "spiral.npy")
