"""Coil sensitivities from time-averaged data: Walsh, ESPIRiT, compression."""

import numpy as np
import pytest
from recon_synthetic import coil_maps, phantom_series, radial_coords, simulate

from mrfcore.methods import ReconstructionInputs
from mrfcore.operators.coilmaps import (
    choose_virtual_coils,
    compress_coils,
    espirit_maps,
    upsample_maps,
    walsh_maps,
)
from mrfcore.progress import Progress
from mrfcore.recon._common import prepare
from mrfcore.recon._options import CommonOptions

N = 48


def agreement(estimate, truth, mask):
    """Per voxel |Σ_c conj(Ŝ_c) S_c| / (‖Ŝ‖‖S‖): 1 when equal up to a common phase."""
    inner = np.abs((estimate.conj() * truth).sum(0))
    norms = np.linalg.norm(estimate, axis=0) * np.linalg.norm(truth, axis=0)
    return (inner / np.maximum(norms, 1e-12))[mask]


@pytest.fixture(scope="module")
def coil_images():
    image = np.abs(phantom_series(N, 5)[-1])
    maps = coil_maps(N, 6)
    rng = np.random.default_rng(0)
    noise = 0.01 * (rng.standard_normal(maps.shape) + 1j * rng.standard_normal(maps.shape))
    return maps * image[None] + noise, maps, image > 0


def test_walsh_maps_recover_birdcage_maps_up_to_phase(coil_images):
    images, truth, mask = coil_images
    maps = walsh_maps(images)
    assert maps.shape == truth.shape and maps.dtype == np.complex64
    assert np.allclose((np.abs(maps) ** 2).sum(0), 1, atol=1e-4)
    assert agreement(maps, truth, mask).mean() > 0.99
    # The common phase follows a smooth virtual body coil, not one coil's noise.
    combined = (maps.conj() * images).sum(0)[mask]
    assert np.std(np.angle(combined)) < 0.5


def test_espirit_maps_recover_birdcage_maps_up_to_phase(coil_images):
    images, truth, mask = coil_images
    maps = espirit_maps(images)
    assert maps.shape == truth.shape
    assert agreement(maps, truth, mask).mean() > 0.97


def test_single_coil_maps_are_ones(coil_images):
    images, _, _ = coil_images
    assert np.array_equal(walsh_maps(images[:1]), np.ones_like(images[:1]))
    assert np.array_equal(espirit_maps(images[:1]), np.ones_like(images[:1]))


def test_upsampled_maps_stay_smooth_and_normalised():
    truth = coil_maps(64, 4)
    coarse = truth[:, ::4, ::4]  # a 16-point grid over the same FOV (offset by ~1.5 px)
    fine = upsample_maps(coarse, (64, 64))
    assert np.allclose((np.abs(fine) ** 2).sum(0), 1, atol=1e-4)
    inner = np.zeros((64, 64), bool)
    inner[8:-8, 8:-8] = True
    assert agreement(fine, truth, inner).mean() > 0.99


def test_maps_from_undersampled_frames_of_a_scan():
    frames = 80
    truth = coil_maps(N, 4)
    scan = simulate(radial_coords(N, frames), phantom_series(N, frames), truth)
    basis = np.linalg.qr(np.random.default_rng(0).standard_normal((frames, 3)))[0]
    inputs = ReconstructionInputs(scan, basis.astype(np.complex64), "cpu")
    mask = np.abs(phantom_series(N, 2)[-1]) > 0
    for method, threshold in (("walsh", 0.98), ("espirit", 0.95)):
        prepared = prepare(inputs, CommonOptions(coil_maps=method), Progress())
        assert agreement(prepared.maps, truth, mask).mean() > threshold


def test_coil_compression_keeps_the_signal_subspace():
    rng = np.random.default_rng(1)
    sources = rng.standard_normal((3, 500)) + 1j * rng.standard_normal((3, 500))
    mixing = rng.standard_normal((8, 3)) + 1j * rng.standard_normal((8, 3))
    samples = (mixing @ sources).reshape(8, 20, 25).astype(np.complex64)
    compressed, compression = compress_coils(samples, 3)
    assert compressed.shape == (3, 20, 25)
    assert compression.energy == pytest.approx(1.0, abs=1e-5)
    assert np.allclose(compression.matrix @ compression.matrix.conj().T, np.eye(3), atol=1e-5)
    # Nothing is lost: the physical data come back from the virtual coils.
    restored = compression.matrix.conj().T @ compressed.reshape(3, -1)
    assert np.allclose(restored, samples.reshape(8, -1), atol=1e-3 * np.abs(samples).max())
    with pytest.raises(ValueError, match="virtual_coils"):
        compress_coils(samples, 9)
    assert choose_virtual_coils(samples) == 3
    noisy = samples + 0.5 * rng.standard_normal(samples.shape).astype(np.float32)
    assert choose_virtual_coils(noisy) == 8  # noise everywhere: nothing to drop
