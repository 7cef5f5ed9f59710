import json

import numpy as np
import pytest

from mrfcore.sequences import (
    BUILTIN_SEQUENCES,
    Sequence,
    builtin_sequence,
    load_sequence,
    read_sequence,
    write_sequence,
)


def test_fisp_jiang2015_matches_the_shipped_schedule():
    sequence = builtin_sequence("fisp-jiang2015")
    assert sequence.n_frames == 1000
    assert sequence.readout == "fisp"
    assert sequence.ti_ms == 18.0
    assert np.allclose(sequence.te_ms, 1.908)
    assert sequence.flip_angle_deg[0] == pytest.approx(5.94)
    assert sequence.tr_ms[0] == pytest.approx(13.17382)


def test_ir_ramp_880_follows_the_published_ramp():
    sequence = builtin_sequence("ir-ramp-880")
    fa = sequence.flip_angle_deg
    assert sequence.n_frames == 880 and np.all(sequence.tr_ms == 12.0)
    assert fa[0] == pytest.approx(1.0) and fa[399] == pytest.approx(70.0)
    assert fa[599] == pytest.approx(1.0) and np.all(fa[600:] == 1.0)
    assert np.all(np.diff(fa[:400]) > 0) and np.all(np.diff(fa[400:600]) < 0)
    assert sequence.ti_ms == 18.0 and np.allclose(sequence.te_ms, 0.46)
    radial = load_sequence("ir-ramp-880", te_ms=2.08)
    assert np.allclose(radial.te_ms, 2.08)
    assert radial.content_hash() != sequence.content_hash()


def test_bssfp_builtin_is_balanced_with_alternating_phase():
    sequence = builtin_sequence("ir-bssfp-ma2013")
    assert sequence.readout == "bssfp"
    assert set(np.unique(sequence.phase_deg)) == {0.0, 180.0}
    assert np.allclose(sequence.te_ms, sequence.tr_ms / 2)
    assert 10.5 <= sequence.tr_ms.min() and sequence.tr_ms.max() <= 14.0


@pytest.mark.parametrize("name", list(BUILTIN_SEQUENCES))
@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_round_trip_keeps_content_hash(tmp_path, name, suffix):
    sequence = builtin_sequence(name)
    path = write_sequence(sequence, tmp_path / f"schedule{suffix}")
    again = read_sequence(path)
    assert again.content_hash() == sequence.content_hash()
    assert again.readout == sequence.readout and again.ti_ms == sequence.ti_ms
    assert again.name == sequence.name


def test_hash_is_stable_and_ignores_names():
    a = builtin_sequence("ir-ramp-880")
    b = a.replace(name="renamed", description="other words")
    assert a.content_hash() == b.content_hash()
    assert a.content_hash() == builtin_sequence("ir-ramp-880").content_hash()
    c = a.replace(flip_angle_deg=a.flip_angle_deg + 0.01)
    assert c.content_hash() != a.content_hash()


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"flip_angle_deg": [10, 200, 10]}, "frame 2"),
        ({"flip_angle_deg": [10, -1, 10]}, "frame 2"),
        ({"te_ms": [1, 1, 13]}, "frame 3"),
        ({"tr_ms": [12, float("nan"), 12]}, "frame 2"),
        ({"tr_ms": [12, 12]}, "same length"),
        ({"readout": "epi"}, "readout"),
    ],
)
def test_validation_names_the_bad_frame(changes, expected):
    values = {"flip_angle_deg": [10, 20, 10], "tr_ms": [12, 12, 12], "te_ms": [1, 1, 1]}
    values.update(changes)
    with pytest.raises(ValueError, match=expected):
        Sequence(**values)


def test_csv_without_te_needs_an_echo_time(tmp_path):
    path = tmp_path / "user.csv"
    path.write_text("flip_angle_deg,tr_ms\n10,12\n20,12\n")
    with pytest.raises(ValueError, match="user.csv.*te"):
        read_sequence(path)
    sequence = load_sequence(path, te_ms=2.0)
    assert sequence.n_frames == 2 and np.allclose(sequence.te_ms, 2.0)


def test_bad_files_are_named_in_errors(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("flip_angle_deg,tr_ms,te_ms\n10,12,1\n20,abc,1\n")
    with pytest.raises(ValueError, match=r"bad.csv: line 3: tr_ms"):
        read_sequence(bad)
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("angle,tr\n10,12\n")
    with pytest.raises(ValueError, match="wrong.csv.*flip_angle_deg"):
        read_sequence(wrong)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ValueError, match="broken.json"):
        read_sequence(broken)
    incomplete = tmp_path / "incomplete.json"
    incomplete.write_text(json.dumps({"flip_angle_deg": [1, 2]}))
    with pytest.raises(ValueError, match="incomplete.json.*missing"):
        read_sequence(incomplete)
    with pytest.raises(ValueError, match="neither a built-in"):
        load_sequence(tmp_path / "absent.csv")
