"""Reconstruction methods: ZF, VS, LR, LRTV on small synthetic scans; the CLI."""

from dataclasses import replace

import numpy as np
import pytest
import torch
from recon_synthetic import (
    coil_maps,
    exponential_basis,
    phantom_series,
    radial_coords,
    simulate,
    spiral_coords,
)

from mrfcore.methods import RECONSTRUCTION, ReconstructionInputs
from mrfcore.operators.base import LinearOperator
from mrfcore.progress import Cancelled, Progress
from mrfcore.recon.fista import fista
from mrfcore.recon.tv import TVProx, divergence, gradient, total_variation
from mrfcore.recon.vs import view_sharing_weights

N, FRAMES, RANK = 32, 80, 4


def align_phase(estimate, truth):
    """The estimate with each voxel's common phase matched to the truth's: coil maps
    define the image phase only up to a smooth per-voxel phase, and MRF matching
    ignores it."""
    inner = (estimate.conj() * truth).sum(0)
    return estimate * np.exp(1j * np.angle(inner))[None]


def psnr(estimate, truth, mask):
    error = align_phase(estimate, truth) - truth
    rmse = np.sqrt(np.mean(np.abs(error[:, mask]) ** 2))
    return 20 * np.log10(np.abs(truth[:, mask]).max() / rmse)


def relative_error(estimate, truth, mask):
    error = align_phase(estimate, truth) - truth
    return np.linalg.norm(error[:, mask]) / np.linalg.norm(truth[:, mask])


def make_case(coords, coils, noise=0.0, complex_basis=False, blur=0.0):
    frames = coords.shape[0]
    basis = exponential_basis(frames, RANK, complex_phase=complex_basis)
    series = phantom_series(N, frames, blur)
    scan = simulate(coords, series, coil_maps(N, coils), noise=noise)
    truth = np.tensordot(basis.conj().T, series, axes=1)
    mask = np.abs(series).max(0) > 0.1 * np.abs(series).max()
    return ReconstructionInputs(scan, basis, "cpu"), truth, mask


def run(name, inputs, **options):
    info = RECONSTRUCTION.get(name)
    return info.run(inputs, info.options_type(**options))


@pytest.fixture(scope="module")
def undersampled():
    """One golden-angle spoke per frame, 3 coils, noisy."""
    return make_case(radial_coords(N, FRAMES), coils=3, noise=0.003)


def test_registry_lists_the_methods_with_documented_options():
    assert {"zf", "lr", "lrtv", "vs"} <= set(RECONSTRUCTION.names())
    for name in ("zf", "lr", "lrtv", "vs"):
        info = RECONSTRUCTION.get(name)
        assert info.label and info.description
        for spec in info.options:
            assert spec.label and spec.help, f"{name}.{spec.name} is undocumented"
    lrtv = {spec.name: spec for spec in RECONSTRUCTION.get("lrtv").options}
    assert lrtv["lam"].minimum == 0 and "ZF" in lrtv["lam"].help
    assert lrtv["coil_maps"].choices == ("walsh", "espirit")
    assert "width" in {spec.name for spec in RECONSTRUCTION.get("vs").options}


@pytest.mark.parametrize("coils", [1, 3])
def test_zf_of_fully_sampled_frames_is_the_truth(coils):
    # 60 spokes per frame sample a 32-point matrix fully (π/2·32 ≈ 50).
    # The object is smoothed so that k-space truncation (Gibbs ringing) is not counted.
    inputs, truth, mask = make_case(radial_coords(N, 12, spokes=60), coils, blur=1.0)
    series = run("zf", inputs)
    assert series.data.shape == truth.shape and series.data.dtype == np.complex64
    assert series.basis is inputs.basis or np.array_equal(series.basis, inputs.basis)
    assert series.time_series().shape == (12, N, N)
    assert relative_error(series.data, truth, mask) < 0.05
    if coils == 1:  # one uniform coil: no phase ambiguity at all
        error = np.linalg.norm((series.data - truth)[:, mask]) / np.linalg.norm(truth[:, mask])
        assert error < 0.05


def test_view_sharing_weights_match_the_window_matrix():
    basis = exponential_basis(30, 3, complex_phase=True)
    for width in (1, 4, 7, 30, 100):
        window = np.zeros((30, 30))
        for t in range(30):
            lo, hi = max(0, t - (min(width, 30) - 1) // 2), None
            hi = min(30, lo + min(width, 30) - (lo - (t - (min(width, 30) - 1) // 2)))
            window[t, lo:hi] = 1
        window /= window.sum(1, keepdims=True)
        expected = basis.conj().T @ window
        assert np.allclose(view_sharing_weights(basis, width), expected, atol=1e-6)


def test_view_sharing_of_width_one_is_zf_and_wider_windows_help(undersampled):
    inputs, truth, mask = undersampled
    zf = run("zf", inputs).data
    assert np.allclose(run("vs", inputs, width=1).data, zf, atol=1e-5 * np.abs(zf).max())
    assert psnr(run("vs", inputs, width=8).data, truth, mask) > psnr(zf, truth, mask)


def test_lr_and_lrtv_decrease_the_objective_and_beat_zf(undersampled):
    inputs, truth, mask = undersampled
    zf = psnr(run("zf", inputs).data, truth, mask)
    lr = run("lr", inputs, max_iterations=25, tolerance=0)
    lrtv = run("lrtv", inputs, max_iterations=25, tolerance=0, lam=0.01)
    for series in (lr, lrtv):
        objective = np.array(series.provenance["objective"])
        assert len(objective) == 25 and series.provenance["iterations"] == 25
        # FISTA with restarts: (nearly) monotone, and far below where it started.
        assert np.all(np.diff(objective) <= 1e-3 * objective[0])
        assert objective[-1] < 0.5 * objective[0]
    assert psnr(lr.data, truth, mask) > zf + 1
    assert psnr(lrtv.data, truth, mask) >= zf + 3
    assert psnr(lrtv.data, truth, mask) > psnr(lr.data, truth, mask)


def test_lrtv_without_tv_is_lr(undersampled):
    inputs, _, _ = undersampled
    lr = run("lr", inputs, max_iterations=8)
    lrtv = run("lrtv", inputs, max_iterations=8, lam=0.0)
    assert np.array_equal(lr.data, lrtv.data)


def test_lrtv_stops_on_the_tolerance_and_reports_progress(undersampled):
    inputs, _, _ = undersampled
    messages = []
    info = RECONSTRUCTION.get("lrtv")
    options = info.options_type(tolerance=5e-3, max_iterations=100)
    series = info.run(inputs, options, Progress(lambda s, t, m: messages.append(m)))
    assert series.provenance["converged"] and series.provenance["iterations"] < 100
    assert series.provenance["relative_change"][-1] < 5e-3
    assert any("objective" in message for message in messages)
    assert series.provenance["options"]["lam"] == options.lam


def test_spiral_weighted_and_unweighted_least_squares_both_work():
    inputs, truth, mask = make_case(spiral_coords(N, FRAMES, 10, 5, 200), 2, 0.002, True)
    zf = psnr(run("zf", inputs).data, truth, mask)
    for weighting in ("density", "none"):
        series = run("lrtv", inputs, weighting=weighting, max_iterations=30)
        assert psnr(series.data, truth, mask) > zf + 3


def test_cancelling_through_the_progress_callback_stops_the_iterations(undersampled):
    inputs, _, _ = undersampled
    calls = []

    def stop_after_iterations(step, total, message):
        calls.append(message)
        return "iteration 3" not in message

    info = RECONSTRUCTION.get("lrtv")
    with pytest.raises(Cancelled):
        info.run(inputs, info.options_type(), Progress(stop_after_iterations))
    assert "iteration 4" not in " ".join(calls)


def test_the_set_up_reports_progress_until_the_first_iteration(undersampled):
    """Between the kernel build and the first iteration lies the step-size estimate (a
    dozen operator applications): it reports each one, so Cancel is honoured there."""
    inputs, _, _ = undersampled
    calls = []

    def stop_in_the_step_size_estimate(step, total, message):
        calls.append(message)
        return "step size" not in message

    info = RECONSTRUCTION.get("lrtv")
    with pytest.raises(Cancelled):
        info.run(inputs, info.options_type(), Progress(stop_in_the_step_size_estimate))
    text = " | ".join(calls)
    assert "Toeplitz kernel" in text
    assert "iteration" not in text


def test_bad_inputs_are_refused(undersampled):
    inputs, _, _ = undersampled
    with pytest.raises(ValueError, match="basis"):
        run("zf", replace(inputs, basis=inputs.basis[:-1]))
    scan = inputs.kspace
    far = replace(scan, trajectory=scan.trajectory * 3)
    with pytest.raises(ValueError, match="1/FOV"):
        run("zf", replace(inputs, kspace=far))
    with pytest.raises(ValueError, match="density"):
        run("lr", inputs, density="none", weighting="density")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")
def test_lrtv_on_cuda_matches_cpu(undersampled):
    inputs, _, _ = undersampled
    cpu = run("lrtv", inputs, max_iterations=5, tolerance=0)
    gpu = run("lrtv", replace(inputs, device="cuda"), max_iterations=5, tolerance=0)
    assert gpu.provenance["device"].startswith("cuda")
    assert np.linalg.norm(gpu.data - cpu.data) < 1e-3 * np.linalg.norm(cpu.data)


# ---------------------------------------------------------------- TV and FISTA


def test_divergence_is_minus_the_adjoint_of_the_gradient():
    rng = np.random.default_rng(0)
    u = torch.from_numpy(rng.standard_normal((3, 9, 7)) + 1j * rng.standard_normal((3, 9, 7)))
    p = torch.from_numpy(rng.standard_normal((2, 3, 9, 7)) + 1j * rng.standard_normal((2, 3, 9, 7)))
    lhs = torch.vdot(gradient(u, 2).flatten(), p.flatten())
    rhs = -torch.vdot(u.flatten(), divergence(p, 2).flatten())
    assert abs(lhs - rhs) < 1e-10 * abs(lhs)


def test_tv_prox_lowers_the_prox_objective_and_flattens_with_a_large_weight():
    rng = np.random.default_rng(1)
    clean = np.zeros((2, 24, 24), np.complex64)
    clean[:, 6:18, 6:18] = [[1.0 + 0.5j]], [[0.3j]]
    noisy = torch.from_numpy(clean + 0.2 * rng.standard_normal(clean.shape).astype(np.float32))
    weights = torch.tensor([0.3, 0.1])
    prox = TVProx(2, iterations=200)(noisy, weights)

    def objective(u):
        return 0.5 * (u - noisy).abs().pow(2).sum((1, 2)) + weights * total_variation(u, 2)

    best = objective(prox)
    assert torch.all(best < objective(noisy))
    for scale in (0.9, 1.1):  # a minimum: nearby points along a line are worse
        assert torch.all(best <= objective(noisy + scale * (prox - noisy)) + 1e-4)
    clean_t = torch.from_numpy(clean)
    assert (prox - clean_t).abs().mean() < (noisy - clean_t).abs().mean()
    flat = TVProx(2, iterations=300)(noisy, torch.tensor([1e3, 1e3]))
    assert flat[0].std() < 0.02 * noisy[0].std()
    assert torch.allclose(flat.mean((1, 2)), noisy.mean((1, 2)), atol=1e-4)


class DenseNormal(LinearOperator):
    def __init__(self, matrix):
        super().__init__((matrix.shape[1],), (matrix.shape[1],))
        self.gram = matrix.conj().T @ matrix

    def _forward(self, x):
        return self.gram @ x

    def _adjoint(self, y):
        return self.gram @ y


def test_fista_solves_least_squares():
    rng = np.random.default_rng(2)
    matrix = rng.standard_normal((40, 12)) + 1j * rng.standard_normal((40, 12))
    data = rng.standard_normal(40) + 1j * rng.standard_normal(40)
    a = torch.from_numpy(matrix.astype(np.complex64))
    y = torch.from_numpy(data.astype(np.complex64))
    normal = DenseNormal(a)
    step = 1 / np.linalg.norm(matrix, 2) ** 2
    result = fista(
        normal,
        a.conj().T @ y,
        torch.zeros(12, dtype=torch.complex64),
        step,
        constant=0.5 * float(np.vdot(data, data).real),
        max_iterations=500,
        tolerance=1e-7,
    )
    expected = np.linalg.lstsq(matrix, data, rcond=None)[0]
    assert np.allclose(result.x.numpy(), expected, atol=1e-3)
    residual = 0.5 * np.linalg.norm(matrix @ expected - data) ** 2
    assert result.data_term[-1] == pytest.approx(residual, rel=1e-3)
    # A step that is far too long is shortened by backtracking, and still converges.
    result = fista(
        normal,
        a.conj().T @ y,
        torch.zeros(12, dtype=torch.complex64),
        100 * step,
        max_iterations=500,
        tolerance=1e-7,
    )
    assert result.step < 2 * step
    assert np.allclose(result.x.numpy(), expected, atol=1e-3)


# ------------------------------------------------------------------------ CLI


def test_cli_reconstructs_a_raw_file(tmp_path, monkeypatch, capsys, undersampled):
    ismrmrd = pytest.importorskip("mrfcore.io.ismrmrd", reason="ISMRMRD reader not there yet")
    import h5py
    import nibabel

    from mrfcore.cli import main
    from mrfcore.io.nifti import read_sidecar

    inputs, _, _ = undersampled
    scan = tmp_path / "scan.h5"
    ismrmrd.write_ismrmrd(inputs.kspace, scan)
    requested = []

    class Dictionary:
        basis = inputs.basis

    def load_or_build_dictionary(sequence, grid=None, rank=10, **kwargs):
        requested.append((sequence.n_frames, rank))
        return Dictionary()

    # The dictionary is not what is tested here; building one takes minutes.
    monkeypatch.setattr("mrfcore.dictionary.load_or_build_dictionary", load_or_build_dictionary)
    out = tmp_path / "tsmi.h5"
    common = [str(scan), "--rank", str(RANK), "--device", "cpu"]
    assert main(["recon", *common, "--method", "zf", "--out", str(out)]) == 0
    assert requested == [(FRAMES, RANK)]
    with h5py.File(out) as handle:
        images, basis = handle["images"][()], handle["basis"][()]
    expected = run("zf", ReconstructionInputs(ismrmrd.read_ismrmrd(scan), inputs.basis, "cpu"))
    assert np.allclose(images, expected.data) and np.array_equal(basis, inputs.basis)

    nifti = tmp_path / "tsmi.nii.gz"
    options = ["--option", "max_iterations=2", "--option", "lam=0.01", "--option", "warm_start=no"]
    assert main(["recon", *common, "--method", "lrtv", *options, "--out", str(nifti)]) == 0
    image = nibabel.load(nifti)
    assert image.shape == (N, N, 1, RANK) and image.get_data_dtype() == np.complex64
    record = read_sidecar(nifti)
    assert record["Provenance"]["options"]["max_iterations"] == 2
    assert record["Provenance"]["options"]["warm_start"] is False
    assert record["Provenance"]["iterations"] == 2

    capsys.readouterr()
    assert main(["recon", *common, "--option", "speed=3", "--out", str(out)]) == 1
    assert "no option 'speed'" in capsys.readouterr().err
    assert main(["recon", *common, "--option", "lam=-1", "--out", str(out)]) == 1
    assert "≥ 0" in capsys.readouterr().err
    assert main(["recon", *common, "--out", str(tmp_path / "tsmi.png")]) == 1
