import numpy as np
import pytest
from scipy import stats

from mrfcore.analysis import (
    ROI,
    bland_altman,
    load_rois,
    mape,
    nrmse,
    psnr,
    roi_mask,
    roi_statistics,
    save_rois,
    statistics_table,
    write_statistics_csv,
)
from mrfcore.data import Geometry, QuantitativeMaps


def test_masks_have_the_areas_of_their_shapes():
    shape = (200, 200)
    rectangle = ROI.box("r", "rectangle", (100, 100), (40, 20))
    assert roi_mask(rectangle, shape).sum() == 40 * 20
    rotated = ROI.box("r", "rectangle", (100, 100), (60, 30), angle_deg=30)
    assert roi_mask(rotated, shape).sum() == pytest.approx(60 * 30, rel=0.02)
    ellipse = ROI.box("e", "ellipse", (90, 110), (80, 40), angle_deg=45)
    assert roi_mask(ellipse, shape).sum() == pytest.approx(np.pi * 40 * 20, rel=0.01)
    triangle = ROI("t", "polygon", [(10, 10), (110, 10), (10, 60)])
    assert roi_mask(triangle, shape).sum() == pytest.approx(100 * 50 / 2, rel=0.02)


def test_voxel_centres_decide_membership():
    # A 2×2 square exactly around voxels (3, 4), (4, 4), (3, 5), (4, 5).
    square = ROI("s", "rectangle", [(3, 4), (5, 4), (5, 6), (3, 6)])
    mask = roi_mask(square, (10, 10))
    assert set(zip(*np.nonzero(mask), strict=True)) == {(3, 4), (4, 4), (3, 5), (4, 5)}
    volume = roi_mask(ROI("s", "rectangle", square.points, slice_index=2), (10, 10, 4))
    assert volume[:, :, 2].sum() == 4 and volume.sum() == 4


def test_statistics_agree_with_numpy_and_scipy():
    rng = np.random.default_rng(1)
    values = rng.normal(1000, 50, size=(30, 30))
    values[0, 0] = np.nan
    mask = np.ones_like(values, bool)
    s = roi_statistics(values, mask)
    finite = values[np.isfinite(values)]
    assert s.n == finite.size == 899
    assert s.mean == pytest.approx(finite.mean())
    assert s.sd == pytest.approx(np.std(finite, ddof=1))
    assert s.iqr == pytest.approx(stats.iqr(finite))
    assert s.median == pytest.approx(np.median(finite))
    assert s.cv_percent == pytest.approx(100 * stats.variation(finite, ddof=1))
    assert s.minimum == finite.min() and s.maximum == finite.max()
    assert roi_statistics(values, np.zeros_like(mask)).n == 0


def test_statistics_table_and_files(tmp_path):
    geometry = Geometry((20, 20), (1.0, 1.0))
    t1 = np.full((20, 20), 800.0, np.float32)
    maps = QuantitativeMaps(t1, t1 / 10, np.ones_like(t1), np.ones((20, 20), bool), geometry)
    rois = [ROI.circle("vial 1", (10, 10), 4, colour="#ff0000")]
    rows = statistics_table(maps, rois)
    assert [r["map"] for r in rows] == ["T1", "T2", "PD"]
    assert rows[0]["mean"] == pytest.approx(800) and rows[0]["unit"] == "ms"
    text = write_statistics_csv(tmp_path / "stats.csv", rows).read_text()
    assert text.splitlines()[0].startswith("roi,map,unit,n,mean")
    again = load_rois(save_rois(tmp_path / "rois.json", rois))
    assert again[0].name == "vial 1" and np.allclose(again[0].points, rois[0].points)
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="bad.json"):
        load_rois(tmp_path / "bad.json")


def test_bland_altman_matches_scipy_and_definitions():
    rng = np.random.default_rng(2)
    reference = rng.uniform(100, 2000, 40)
    measured = reference * 1.03 + rng.normal(0, 20, 40)
    result = bland_altman(reference, measured)
    difference = measured - reference
    assert result.bias == pytest.approx(difference.mean())
    assert result.upper - result.bias == pytest.approx(1.959964 * np.std(difference, ddof=1))
    ci = stats.ttest_1samp(difference, 0).confidence_interval(0.95)
    assert result.bias_ci == pytest.approx((ci.low, ci.high))
    pct = bland_altman(reference, measured, percentage=True)
    assert pct.bias == pytest.approx(np.mean(100 * difference / ((reference + measured) / 2)))
    with pytest.raises(ValueError, match="pairs"):
        bland_altman(reference, measured[:-1])


def test_limits_of_agreement_intervals_have_their_coverage():
    # The approximate CI of the upper limit should cover the true limit ≈95 % of the time.
    rng = np.random.default_rng(3)
    true_upper = 1.959964
    covered = 0
    trials = 2000
    for _ in range(trials):
        d = rng.standard_normal(40)
        result = bland_altman(np.zeros(40) + 10, 10 + d)
        covered += result.upper_ci[0] <= true_upper <= result.upper_ci[1]
    assert 0.93 < covered / trials < 0.97


def test_metrics():
    truth = np.array([100.0, 200.0, 400.0])
    estimate = np.array([110.0, 180.0, np.nan])
    assert mape(estimate, truth) == pytest.approx(100 * (0.1 + 0.1 + 1.0) / 3)
    assert nrmse(truth * 1.1, truth) == pytest.approx(10.0)
    assert psnr(truth + 4.0, truth) == pytest.approx(20 * np.log10(400 / 4))
    with pytest.raises(ValueError, match="undefined"):
        mape(truth, np.array([0.0, 1.0, 2.0]))
