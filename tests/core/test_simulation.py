"""EPG simulation against an independent Bloch simulation and closed-form steady states."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from bloch_reference import bloch_fingerprint, sequence_fingerprint

from mrfcore.progress import Cancelled, Progress
from mrfcore.sequences import Sequence, builtin_sequence, write_sequence
from mrfcore.simulation import adaptive_max_states, simulate_fingerprints

PARAMETERS = [(800.0, 60.0, 1.0), (1500.0, 120.0, 0.8), (300.0, 30.0, 1.2), (4000.0, 600.0, 1.0)]


def first_frames(sequence: Sequence, count: int) -> Sequence:
    return sequence.replace(
        flip_angle_deg=sequence.flip_angle_deg[:count],
        phase_deg=sequence.phase_deg[:count],
        tr_ms=sequence.tr_ms[:count],
        te_ms=sequence.te_ms[:count],
    )


def normalised_error(test: np.ndarray, reference: np.ndarray) -> float:
    a = reference / np.linalg.norm(reference)
    b = test / np.linalg.norm(test)
    return float(np.linalg.norm(a - b) / np.linalg.norm(a))


def epg(sequence, t1, t2, b1=None, df=None, **kwargs) -> np.ndarray:
    as_list = lambda v: None if v is None else np.atleast_1d(v)  # noqa: E731
    result = simulate_fingerprints(
        sequence, as_list(t1), as_list(t2), as_list(b1), as_list(df), device="cpu", **kwargs
    )
    assert result.dtype == torch.complex64 and result.device.type == "cpu"
    return result.numpy()


# ------------------------------------------------------------------ Bloch reference itself


def test_bloch_reference_is_converged_and_aliases_with_too_few_isochromats():
    sequence = first_frames(builtin_sequence("ir-ramp-880"), 120)
    exact = sequence_fingerprint(sequence, 1500.0, 600.0)  # T + 1 isochromats
    finer = sequence_fingerprint(sequence, 1500.0, 600.0, n_isochromats=3 * 120 + 7)
    coarse = sequence_fingerprint(sequence, 1500.0, 600.0, n_isochromats=40)
    assert np.max(np.abs(exact - finer)) < 1e-12
    # with 40 isochromats, order-40 echoes alias onto F0 once 40 TRs have passed
    assert np.max(np.abs(coarse[:40] - exact[:40])) < 1e-12
    assert np.max(np.abs(coarse - exact)) > 1e-5


def test_bloch_reference_first_pulse_convention():
    # 90° at phase 0 takes Mz = 1 to Mxy = -i; at phase 90° to +1 (right-handed rotations)
    for phase, expected in ((0.0, -1j), (90.0, 1.0)):
        signal = bloch_fingerprint(
            np.array([90.0]),
            np.array([phase]),
            np.array([10.0]),
            np.array([0.0]),
            1000.0,
            100.0,
            spoiled=False,
        )
        assert abs(signal[0] - expected) < 1e-12
        assert (
            abs(
                epg(Sequence([90.0], [10.0], 0.0, [phase], "bssfp"), 1000.0, 100.0)[0, 0] - expected
            )
            < 1e-6
        )


# ------------------------------------------------------------------ EPG against Bloch


@pytest.mark.parametrize("name", ["fisp-jiang2015", "ir-ramp-880"])
def test_spoiled_epg_matches_bloch(name):
    sequence = first_frames(builtin_sequence(name), 300)
    t1, t2, b1 = (np.array(column) for column in zip(*PARAMETERS, strict=True))
    default = epg(sequence, t1, t2, b1)
    exact = epg(sequence, t1, t2, b1, max_states=sequence.n_frames)
    for i, (t1_ms, t2_ms, scale) in enumerate(PARAMETERS):
        reference = sequence_fingerprint(sequence, t1_ms, t2_ms, b1=scale)
        assert normalised_error(default[i], reference) <= 1e-3
        # without truncation EPG and Bloch agree to float32 precision
        assert normalised_error(exact[i], reference) <= 2e-5
        assert np.max(np.abs(exact[i] - reference)) <= 2e-6


def test_full_length_fisp_matches_bloch():
    sequence = builtin_sequence("fisp-jiang2015")
    for t1_ms, t2_ms in ((4000.0, 600.0), (800.0, 60.0)):
        reference = sequence_fingerprint(sequence, t1_ms, t2_ms)  # 1001 isochromats: exact
        simulated = epg(sequence, t1_ms, t2_ms)[0]
        assert normalised_error(simulated, reference) <= 1e-3
        assert np.max(np.abs(simulated - reference)) < 1e-4


def test_general_rf_phases_and_off_resonance_match_bloch():
    # random RF phases take the complex path; a varying TR makes off-resonance matter
    rng = np.random.default_rng(3)
    base = first_frames(builtin_sequence("fisp-jiang2015"), 150)
    sequence = base.replace(phase_deg=rng.uniform(0.0, 360.0, base.n_frames), ti_ms=None)
    t1, t2, b1 = np.array([800.0, 300.0]), np.array([60.0, 200.0]), np.array([1.0, 1.1])
    df = np.array([0.0, 23.0])
    simulated = epg(sequence, t1, t2, b1, df, max_states=sequence.n_frames)
    for i in range(2):
        reference = sequence_fingerprint(sequence, t1[i], t2[i], b1=b1[i], off_resonance_hz=df[i])
        assert np.max(np.abs(simulated[i] - reference)) < 2e-6


def test_off_resonance_in_fisp_is_a_te_phase_when_tr_is_constant():
    sequence = first_frames(builtin_sequence("ir-ramp-880"), 200)
    on, off = epg(sequence, [900.0, 900.0], [80.0, 80.0], df=[0.0, 17.0])
    expected = on * np.exp(2j * np.pi * 17.0 * sequence.te_ms * 1e-3)
    assert np.max(np.abs(off - expected)) < 2e-6


def test_real_fast_path_agrees_with_complex_path():
    sequence = first_frames(builtin_sequence("fisp-jiang2015"), 300)
    t1, t2, b1 = np.array([800.0, 2000.0]), np.array([60.0, 300.0]), np.array([1.0, 0.9])
    real = epg(sequence.replace(phase_deg=np.full(300, 30.0)), t1, t2, b1)
    # a phase wobble above the fast path's tolerance forces the complex path
    wobble = 30.0 + 1e-4 * np.sin(np.arange(300))
    general = epg(sequence.replace(phase_deg=wobble), t1, t2, b1)
    assert np.max(np.abs(real - general)) < 1e-5
    zero_phase = epg(sequence, t1, t2, b1)
    assert np.max(np.abs(real - zero_phase * np.exp(1j * np.deg2rad(30.0)))) < 1e-6


# ------------------------------------------------------------------ bSSFP


def bssfp_steady_state(t1, t2, flip_deg, tr, df_hz):
    """Freeman–Hill steady state of 0°/180°-alternating bSSFP, TE = TR/2, demodulated by
    the RF phase (the closed form of Xiang & Hoff, MRM 71:927, 2014, in this module's
    right-handed convention)."""
    e1, e2 = np.exp(-tr / t1), np.exp(-tr / t2)
    alpha = np.deg2rad(flip_deg)
    precession = 2 * np.pi * df_hz * tr * 1e-3
    theta = precession + np.pi  # the alternating RF phase adds π per TR
    denominator = 1 - e1 * np.cos(alpha) - e2**2 * (e1 - np.cos(alpha))
    m = (1 - e1) * np.sin(alpha) / denominator
    b = e2 * (1 - e1) * (1 + np.cos(alpha)) / denominator
    at_te = np.sqrt(e2) * np.exp(1j * precession / 2)
    return -1j * at_te * m * (1 - e2 * np.exp(-1j * theta)) / (1 - b * np.cos(theta))


def test_bssfp_reaches_the_analytic_steady_state():
    frames, tr, flip = 1500, 5.0, 50.0
    phase = np.where(np.arange(frames) % 2 == 0, 0.0, 180.0)
    sequence = Sequence(np.full(frames, flip), np.full(frames, tr), tr / 2, phase, "bssfp")
    cases = [
        (800.0, 60.0, 1.0, 0.0),
        (800.0, 60.0, 1.0, 20.0),
        (1500.0, 120.0, 0.8, -70.0),
        (1200.0, 100.0, 1.0, 55.0),
    ]
    t1, t2, b1, df = (np.array(column) for column in zip(*cases, strict=True))
    simulated = epg(sequence, t1, t2, b1, df)
    demodulated = simulated[:, -2:] * np.exp(-1j * np.deg2rad(phase[-2:]))
    for i in range(len(cases)):
        expected = bssfp_steady_state(t1[i], t2[i], flip * b1[i], tr, df[i])
        assert np.max(np.abs(demodulated[i] - expected)) < 1e-5 * max(1.0, abs(expected) * 10)


def test_bssfp_schedule_matches_bloch():
    sequence = builtin_sequence("ir-bssfp-ma2013")
    simulated = epg(sequence, [1500.0, 300.0], [120.0, 30.0], [0.8, 1.2], [0.0, -12.0])
    for i, (t1, t2, b1, df) in enumerate([(1500.0, 120.0, 0.8, 0.0), (300.0, 30.0, 1.2, -12.0)]):
        reference = sequence_fingerprint(sequence, t1, t2, b1=b1, off_resonance_hz=df)
        assert np.max(np.abs(simulated[i] - reference)) < 2e-6


# ------------------------------------------------------------------ truncation


def test_default_truncation_error_below_1e_4_for_the_paper_grid_corners():
    # worst case of the grid (T2 600 ms) plus the corner T1 values, against no truncation
    sequence = builtin_sequence("fisp-jiang2015")
    t1 = np.array([100.0, 800.0, 4000.0, 1500.0, 300.0])
    t2 = np.array([600.0, 600.0, 600.0, 150.0, 80.0])
    b1 = np.array([1.0, 1.2, 0.8, 1.0, 1.0])
    exact = epg(sequence, t1, t2, b1, max_states=sequence.n_frames)
    errors = [np.max(np.abs(epg(sequence, t1[i], t2[i], b1[i])[0] - exact[i])) for i in range(5)]
    assert max(errors) < 1e-4
    # and truncation does matter at this T2: too few orders give a visible error
    too_few = epg(sequence, t1[:1], t2[:1], b1[:1], max_states=16)[0]
    assert np.max(np.abs(too_few - exact[0])) > 1e-3
    assert adaptive_max_states(sequence, 600.0) > adaptive_max_states(sequence, 60.0)


# ------------------------------------------------------------------ batching and options


def test_batch_equals_one_by_one_and_chunking_does_not_matter():
    sequence = first_frames(builtin_sequence("ir-ramp-880"), 200)
    rng = np.random.default_rng(0)
    t1, t2 = rng.uniform(100, 4000, 40), rng.uniform(20, 600, 40)
    b1 = rng.choice([0.8, 1.0, 1.2], 40)
    batch = epg(sequence, t1, t2, b1, max_states=40)
    chunked = epg(sequence, t1, t2, b1, max_states=40, chunk_size=7, n_threads=2)
    single = np.concatenate(
        [epg(sequence, t1[i], t2[i], b1[i], max_states=40) for i in range(0, 40, 5)]
    )
    assert np.max(np.abs(batch - chunked)) < 1e-6
    assert np.max(np.abs(batch[::5] - single)) < 1e-6


def test_b1_scales_the_flip_angles():
    sequence = first_frames(builtin_sequence("fisp-jiang2015"), 200)
    scaled = sequence.replace(flip_angle_deg=sequence.flip_angle_deg * 0.85)
    rng = np.random.default_rng(1)
    b1 = rng.uniform(0.7, 1.3, 6)
    b1[0] = 0.85
    # mixed B1 values in one chunk take the per-atom RF path; uniform chunks the matrix path
    mixed = epg(sequence, np.full(6, 900.0), np.full(6, 70.0), b1, max_states=64)
    uniform = epg(scaled, 900.0, 70.0, max_states=64)
    assert np.max(np.abs(mixed[0] - uniform[0])) < 1e-6
    for i in range(1, 6):
        alone = epg(sequence, 900.0, 70.0, b1[i], max_states=64)[0]
        assert np.max(np.abs(mixed[i] - alone)) < 1e-6


def test_device_and_input_checks():
    sequence = first_frames(builtin_sequence("ir-ramp-880"), 20)
    result = simulate_fingerprints(
        sequence, torch.tensor([800.0, 900.0]), [60.0, 70.0], device="cpu"
    )
    assert result.shape == (2, 20) and result.dtype == torch.complex64
    assert result.device == torch.device("cpu")
    assert simulate_fingerprints(sequence, [], []).shape == (0, 20)
    with pytest.raises(ValueError, match="t2_ms"):
        simulate_fingerprints(sequence, [800.0, 900.0], [60.0, 70.0, 80.0])
    with pytest.raises(ValueError, match="t1_ms"):
        simulate_fingerprints(sequence, [-1.0], [60.0])
    with pytest.raises(ValueError, match="max_states"):
        simulate_fingerprints(sequence, [800.0], [60.0], max_states=0)
    with pytest.raises(ValueError, match="device"):
        simulate_fingerprints(sequence, [800.0], [60.0], device="no-such-device")


@pytest.mark.parametrize("n_threads", [1, 2])
def test_progress_reports_and_cancels(n_threads):
    sequence = first_frames(builtin_sequence("ir-ramp-880"), 400)
    t1, t2 = np.full(64, 800.0), np.linspace(20, 600, 64)
    calls = []

    def record(step, total, message):
        calls.append((step, total))

    simulate_fingerprints(sequence, t1, t2, progress=record, chunk_size=16, n_threads=n_threads)
    steps = [step for step, _ in calls]
    assert calls[-1] == (64 * 400, 64 * 400) and steps == sorted(steps) and len(calls) > 2

    with pytest.raises(Cancelled):
        simulate_fingerprints(
            sequence, t1, t2, progress=lambda s, t, m: s < 1000, chunk_size=16, n_threads=n_threads
        )
    progress = Progress()
    progress.token.cancel()
    with pytest.raises(Cancelled):
        simulate_fingerprints(sequence, t1, t2, progress=progress, n_threads=n_threads)


# ------------------------------------------------------------------ command line


def test_cli_simulate_writes_the_fingerprint(tmp_path, capsys):
    from mrfcore.cli import main

    out = tmp_path / "fp.npy"
    assert (
        main(
            [
                "simulate",
                "--sequence",
                "ir-ramp-880",
                "--t1",
                "800",
                "--t2",
                "60",
                "--b1",
                "0.9",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    written = np.load(out)
    assert written.dtype == np.complex64 and written.shape == (880,)
    expected = epg(builtin_sequence("ir-ramp-880"), 800.0, 60.0, 0.9)[0]
    assert np.max(np.abs(written - expected)) < 1e-7
    assert "880 frames" in printed and str(out) in printed

    # a user's schedule file works wherever a built-in name does, with --te and --df
    schedule = write_sequence(
        first_frames(builtin_sequence("ir-bssfp-ma2013"), 50), tmp_path / "mine.csv"
    )
    out2 = tmp_path / "fp2.npy"
    assert (
        main(
            [
                "simulate",
                "--sequence",
                str(schedule),
                "--t1",
                "1000",
                "--t2",
                "100",
                "--df",
                "15",
                "--te",
                "4",
                "--out",
                str(out2),
            ]
        )
        == 0
    )
    mine = first_frames(builtin_sequence("ir-bssfp-ma2013"), 50).with_te(4.0)
    expected2 = epg(mine, 1000.0, 100.0, df=15.0)[0]
    assert np.max(np.abs(np.load(out2) - expected2)) < 1e-6

    assert (
        main(["simulate", "--sequence", "nope", "--t1", "1", "--t2", "1", "--out", str(out)]) == 1
    )
    assert "nope" in capsys.readouterr().err
