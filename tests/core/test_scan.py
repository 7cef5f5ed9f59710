"""Simulated scans: the signal model, coils, noise/SNR, B1, seeds, gridding of the data."""

import numpy as np
import pytest

from mrfcore import nufft
from mrfcore.acquisition import (
    analytic_density,
    birdcage_sensitivities,
    make_trajectory,
    object_mask,
    simulate_scan,
    smooth_b1_map,
    tissue_signal_model,
)
from mrfcore.phantoms import brain_phantom, nist_phantom
from mrfcore.progress import Cancelled
from mrfcore.sequences import builtin_sequence
from mrfcore.simulation import simulate_fingerprints

MATRIX = 48
FRAMES = 120


def first_frames(sequence, n):
    return sequence.replace(
        flip_angle_deg=sequence.flip_angle_deg[:n],
        tr_ms=sequence.tr_ms[:n],
        te_ms=sequence.te_ms[:n],
        phase_deg=sequence.phase_deg[:n],
    )


@pytest.fixture(scope="module")
def sequence():
    return first_frames(builtin_sequence("ir-ramp-880"), FRAMES)


@pytest.fixture(scope="module")
def brain():
    return brain_phantom(matrix=MATRIX)


@pytest.fixture(scope="module")
def spiral():
    return make_trajectory("spiral", FRAMES, matrix=MATRIX)


@pytest.fixture(scope="module")
def model(brain, sequence):
    return tissue_signal_model(brain, sequence)


@pytest.fixture(scope="module")
def clean_scan(brain, sequence, spiral, model):
    return simulate_scan(brain, sequence, spiral, coils=4, snr=None, signal_model=model)


def test_tissue_model_matches_voxelwise_mixture(brain, sequence, model):
    # Independent: per voxel, mix the compartments' fingerprints by fraction × PD.
    signals = simulate_fingerprints(sequence, brain.tissue_t1_ms, brain.tissue_t2_ms).numpy()
    voxel = np.unravel_index(
        np.argmax(brain.fractions.min(0) + (brain.fractions > 0).sum(0)), brain.geometry.matrix
    )
    mixed = sum(
        brain.fractions[k][voxel] * brain.tissue_pd[k] * signals[k]
        for k in range(brain.n_compartments)
    )
    np.testing.assert_allclose(model.frames()[:, voxel[0], voxel[1]], mixed, atol=1e-6)
    # Subspace projection is exact.
    basis = np.linalg.qr(np.random.default_rng(0).standard_normal((FRAMES, 5)))[0]
    expected = np.einsum("ts,txy->sxy", basis.conj(), model.frames())
    np.testing.assert_allclose(model.subspace(basis), expected, atol=1e-5)
    np.testing.assert_allclose(model.time_average(), model.frames().mean(0), atol=1e-6)


def test_coils_normalised():
    maps = birdcage_sensitivities(8, (40, 36))
    assert maps.shape == (8, 40, 36) and maps.dtype == np.complex64
    np.testing.assert_allclose(np.sum(np.abs(maps) ** 2, axis=0), 1.0, rtol=1e-5)
    assert np.abs(maps[0]).std() > 0.05  # real spatial variation, not flat
    np.testing.assert_array_equal(birdcage_sensitivities(1, (4, 4)), np.ones((1, 4, 4)))


def exact_dft(images, coords):
    """The orthonormal DFT at arbitrary points (sigpy's convention), by brute force."""
    n = images.shape[-1]
    grid = np.arange(n) - n // 2
    phase_x = np.exp(-2j * np.pi * np.outer(coords[:, 0], grid) / n)
    phase_y = np.exp(-2j * np.pi * np.outer(coords[:, 1], grid) / n)
    return np.einsum("px,py,cxy->cp", phase_x, phase_y, images.astype(np.complex128)) / n


def test_samples_equal_an_exact_dft(clean_scan, spiral, model):
    maps = clean_scan.metadata["coil_sensitivities"]
    assert clean_scan.samples.shape == (4, FRAMES, 1, spiral.n_readout)
    for frame in (0, 37, FRAMES - 1):
        expected = exact_dft(maps * model.frame(frame)[None], spiral.coords[frame, 0])
        scale = np.abs(expected).max()
        # The simulation's NUFFT asks finufft for eps 1e-4 on a 1.25× grid (see
        # mrfcore.acquisition.scan): errors ~1e-5 of the largest sample, far below noise.
        np.testing.assert_allclose(clean_scan.samples[:, frame, 0], expected, atol=3e-5 * scale)
        error = np.linalg.norm(clean_scan.samples[:, frame, 0] - expected)
        assert error <= 1e-4 * np.linalg.norm(expected)


def test_gridding_of_all_frames_resembles_the_phantom(brain, sequence, model):
    # All frames together sample k-space fully (120 spiral arms of a 22-arm design,
    # 120 spokes of ⌈πN/2⌉ = 76); gridding them gives the time-averaged TSMI.
    frames = FRAMES
    target = np.abs(model.time_average())
    for kind in ("spiral", "radial"):
        trajectory = make_trajectory(kind, frames, matrix=MATRIX)
        scan = simulate_scan(brain, sequence, trajectory, coils=2, snr=None, signal_model=model)
        weights = analytic_density(trajectory)
        maps = scan.metadata["coil_sensitivities"]
        image = np.zeros((MATRIX, MATRIX), np.complex64)
        for frame in range(frames):
            points = trajectory.coords[frame].reshape(-1, 2)
            values = scan.samples[:, frame].reshape(2, -1) * weights[frame].reshape(1, -1)
            image += np.sum(maps.conj() * nufft.adjoint(values, points, (MATRIX, MATRIX)), 0)
        image = np.abs(image / frames)
        correlation = np.corrcoef(image.ravel(), target.ravel())[0, 1]
        assert correlation >= 0.95, (kind, correlation)
        # Density compensation keeps the image scale (within gridding error).
        mask = object_mask(brain.pd_map())
        assert image[mask].mean() == pytest.approx(target[mask].mean(), rel=0.15)


def test_noise_matches_the_snr_definition(brain, sequence, clean_scan, spiral, model):
    snr = 20.0
    noisy = simulate_scan(brain, sequence, spiral, coils=4, snr=snr, seed=3, signal_model=model)
    np.testing.assert_array_equal(
        noisy.metadata["coil_sensitivities"], clean_scan.metadata["coil_sensitivities"]
    )
    noise = noisy.samples - clean_scan.samples
    mask = object_mask(brain.pd_map())
    mean_signal = np.abs(model.frames()[:, mask]).mean()  # independent of the simulation
    sd = mean_signal / snr
    simulation = noisy.metadata["simulation"]
    assert simulation["mean_signal"] == pytest.approx(mean_signal, rel=1e-5)
    assert simulation["noise_sd"] == pytest.approx(sd, rel=1e-5)
    assert np.sqrt(np.mean(np.abs(noise) ** 2)) == pytest.approx(sd, rel=0.02)
    assert noise.real.std() == pytest.approx(sd / np.sqrt(2), rel=0.02)
    assert abs(np.mean(noise.real * noise.imag)) < 0.05 * sd**2  # circular
    assert noisy.metadata["noise_samples"].shape == (4, spiral.n_readout)


def test_snr_is_the_image_snr_of_a_fully_sampled_frame(brain, sequence):
    # A Cartesian trajectory with all N lines in each frame: the coil-combined image of
    # one frame has noise SD σ, so its mean object magnitude / noise SD is the SNR.
    frames = 4
    short = first_frames(sequence, frames)
    trajectory = make_trajectory(
        "cartesian", frames, matrix=MATRIX, interleaves=MATRIX, ordering="cycle"
    )
    clean = simulate_scan(brain, short, trajectory, coils=4, snr=None)
    noisy = simulate_scan(brain, short, trajectory, coils=4, snr=10.0, seed=5)
    maps = clean.metadata["coil_sensitivities"]
    points = trajectory.coords[0].reshape(-1, 2)

    def combined(samples):
        images = nufft.adjoint(samples[:, 0].reshape(4, -1), points, (MATRIX, MATRIX))
        return np.sum(maps.conj() * images, axis=0)

    signal = combined(clean.samples)
    noise = combined(noisy.samples) - signal
    mask = object_mask(brain.pd_map())
    frame_snr = np.abs(signal[mask]).mean() / (np.sqrt(np.mean(np.abs(noise) ** 2)))
    per_frame_signal = np.abs(tissue_signal_model(brain, short).frame(0)[mask]).mean()
    mean_signal = noisy.metadata["simulation"]["mean_signal"]
    assert frame_snr == pytest.approx(10.0 * per_frame_signal / mean_signal, rel=0.05)


def test_seeds_are_reproducible(brain, sequence, spiral):
    short = first_frames(sequence, 10)
    trajectory = make_trajectory("radial", 10, matrix=MATRIX)
    short_model = tissue_signal_model(brain, short)
    a, b, c = (
        simulate_scan(
            brain, short, trajectory, coils=2, snr=30, seed=seed, signal_model=short_model
        )
        for seed in (7, 7, 8)
    )
    np.testing.assert_array_equal(a.samples, b.samples)
    assert not np.allclose(a.samples, c.samples)


def test_b1_map_uses_quantised_levels():
    phantom = nist_phantom(matrix=32)
    sequence = first_frames(builtin_sequence("ir-ramp-880"), 60)
    b1 = smooth_b1_map(phantom.geometry.matrix, amplitude=0.2)
    assert 0.7 < b1.min() < b1.max() < 1.3
    model = tissue_signal_model(phantom, sequence, b1_map=b1, b1_step=0.01)
    assert 1 < len(model.b1_levels) <= 41
    k = 3
    voxel = np.unravel_index(np.argmax(phantom.fractions[k]), phantom.geometry.matrix)
    assert phantom.fractions[k][voxel] == 1.0
    level = np.round(b1[voxel] / 0.01) * 0.01
    expected = (
        simulate_fingerprints(
            sequence, [phantom.tissue_t1_ms[k]], [phantom.tissue_t2_ms[k]], b1=[level]
        ).numpy()[0]
        * phantom.tissue_pd[k]
    )
    np.testing.assert_allclose(model.frames()[:, voxel[0], voxel[1]], expected, atol=1e-6)
    uniform = tissue_signal_model(phantom, sequence)
    assert not np.allclose(uniform.frames()[:, voxel[0], voxel[1]], expected, atol=1e-3)


def test_mismatches_and_cancellation(brain, sequence, spiral):
    with pytest.raises(ValueError, match="frames"):
        simulate_scan(brain, first_frames(sequence, 50), spiral)
    with pytest.raises(ValueError, match="matrix"):
        simulate_scan(brain_phantom(matrix=32), sequence, spiral)
    with pytest.raises(ValueError, match="SNR"):
        simulate_scan(brain, sequence, spiral, snr=-1)
    with pytest.raises(Cancelled):
        simulate_scan(brain, sequence, spiral, coils=1, progress=lambda *_: False)


def test_demo_scans_are_made_once_and_reused(tmp_path, monkeypatch):
    from mrfcore.acquisition import demo
    from mrfcore.acquisition.scan import ScanRecipe
    from mrfcore.io.ismrmrd import read_ismrmrd
    from mrfcore.sequences import write_sequence

    schedule = write_sequence(first_frames(builtin_sequence("ir-ramp-880"), 8), tmp_path / "s.csv")
    recipe = ScanRecipe(phantom="nist", sequence=str(schedule), matrix=32, coils=2, seed=3)
    monkeypatch.setitem(demo.DEMO_SCANS, "tiny", recipe)
    reports = []
    path = demo.demo_scan_path("tiny", progress=lambda *report: reports.append(report))
    assert reports and reports[-1][0] == reports[-1][1]
    assert path.parent == demo.demo_directory() and demo.demo_scan_is_current("tiny")
    stamp = path.stat().st_mtime_ns
    assert demo.demo_scan_path("tiny", progress=lambda *_: False) == path  # reused, no work
    assert path.stat().st_mtime_ns == stamp
    data = read_ismrmrd(path)
    assert data.n_frames == 8 and data.metadata["simulation"]["seed"] == 3
    monkeypatch.setitem(demo.DEMO_SCANS, "tiny", ScanRecipe(**{**recipe.__dict__, "seed": 4}))
    assert not demo.demo_scan_is_current("tiny")
    demo.demo_scan_path("tiny")
    assert read_ismrmrd(path).metadata["simulation"]["seed"] == 4
    with pytest.raises(ValueError, match="no demo scan named"):
        demo.demo_scan_path("heart")
