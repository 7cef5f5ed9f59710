"""The Bland-Altman panel pairs values correctly and shows mrfcore's analysis."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from gui_fakes import synthetic_maps

from app.bland_altman import PER_ROI, PER_VOXEL, REFERENCE, BlandAltmanPanel
from app.model import AppModel, Run
from mrfcore.analysis import ROI, bland_altman, roi_mask
from mrfcore.phantoms import nist_reference_values


@pytest.fixture
def setup(qtbot):
    model = AppModel()
    panel = BlandAltmanPanel(model)
    qtbot.addWidget(panel)
    panel.resize(1200, 700)
    panel.show()
    a = model.add_run(Run(model.new_run_id(), "ZF + DM", synthetic_maps(seed=1, noise=30)))
    b = model.add_run(
        Run(model.new_run_id(), "LRTV + DM", synthetic_maps(seed=2, noise=30, t1_offset=50))
    )
    for index, (cx, cy) in enumerate([(20, 20), (32, 24), (44, 28), (30, 34)], start=1):
        model.add_roi(ROI.circle(f"vial {index}", (cx, cy), 4))
    return model, panel, a, b


def _choose(panel, measured, against, map_name="T1", pairs=PER_ROI, percentage=False):
    panel.measured_combo.setCurrentIndex(panel.measured_combo.findData(measured))
    panel.reference_combo.setCurrentIndex(panel.reference_combo.findData(against))
    panel.map_combo.setCurrentText(map_name)
    panel.pairs_combo.setCurrentIndex(panel.pairs_combo.findData(pairs))
    panel.difference_combo.setCurrentIndex(1 if percentage else 0)
    return panel.recompute()


def _lines(plot):
    return {
        round(item.value(), 9)
        for item in plot.getPlotItem().items
        if isinstance(item, pg.InfiniteLine)
    }


def test_two_runs_per_roi_means(setup):
    model, panel, a, b = setup
    comparison = _choose(panel, b.id, a.id)
    rois = list(model.rois.values())
    means_a = [np.nanmean(a.maps.t1_ms[roi_mask(r, (64, 48))].astype(float)) for r in rois]
    means_b = [np.nanmean(b.maps.t1_ms[roi_mask(r, (64, 48))].astype(float)) for r in rois]
    expected = bland_altman(means_a, means_b)
    result = comparison.result
    assert result.n == 4
    np.testing.assert_allclose(
        [result.bias, result.lower, result.upper, *result.bias_ci, *result.upper_ci],
        [expected.bias, expected.lower, expected.upper, *expected.bias_ci, *expected.upper_ci],
    )
    assert 20 < result.bias < 80  # B was made 50 ms longer
    assert {round(v, 9) for v in (result.bias, result.lower, result.upper)} <= _lines(panel.ba_plot)
    text = panel.listing()
    assert f"Bias (mean B − A): {result.bias:.4g} ms" in text
    assert f"{result.upper_ci[0]:.4g} to {result.upper_ci[1]:.4g}" in text
    assert "n = 4 pairs (ROI means)" in text
    np.testing.assert_allclose(
        comparison.difference_map, b.maps.t1_ms - a.maps.t1_ms, equal_nan=True
    )


def test_two_runs_per_voxel_in_percent(setup):
    model, panel, a, b = setup
    comparison = _choose(panel, b.id, a.id, map_name="T2", pairs=PER_VOXEL, percentage=True)
    inside = np.zeros((64, 48), bool)
    for roi in model.rois.values():
        inside |= roi_mask(roi, (64, 48))
    expected = bland_altman(a.maps.t2_ms[inside], b.maps.t2_ms[inside], percentage=True)
    assert comparison.result.n == expected.n == int(inside.sum())
    np.testing.assert_allclose(comparison.result.bias, expected.bias)
    np.testing.assert_allclose(comparison.result.lower_ci, expected.lower_ci)
    assert "%" in panel.listing()


def test_reference_values_typed_and_from_the_nist_table(setup):
    model, panel, a, b = setup
    panel.reference_combo.setCurrentIndex(panel.reference_combo.findData(REFERENCE))
    assert panel.reference_box.isVisibleTo(panel)
    assert panel.reference_table.rowCount() == 4
    # Typed in: three of the four ROIs.
    for name, value in (("vial 1", 700.0), ("vial 2", 1100.0), ("vial 3", 1500.0)):
        panel.set_reference_value(name, "T1", value)
    comparison = _choose(panel, b.id, REFERENCE)
    assert comparison.result.n == 3
    np.testing.assert_allclose(comparison.reference, [700.0, 1100.0, 1500.0])
    # From the published table: batch 2, 3 T, T1 plate at 20 °C; vial numbers from names.
    index = next(
        i
        for i in range(panel.set_combo.count())
        if (d := panel.set_combo.itemData(i)).batch == "batch2"
        and d.field_strength_t == 3.0
        and d.plate == "T1"
    )
    panel.set_combo.setCurrentIndex(index)
    panel.fill_from_table()
    comparison = panel.recompute()
    reference = {v.sphere: v for v in nist_reference_values(3.0, "batch2", 20.0, "T1")}
    np.testing.assert_allclose(comparison.reference, [reference[i].t1_ms for i in (1, 2, 3, 4)])
    assert panel.reference_table.item(0, 2).text() == f"{reference[1].t1_ms:g}"
    measured = [
        np.nanmean(b.maps.t1_ms[roi_mask(r, (64, 48))].astype(float)) for r in model.rois.values()
    ]
    expected = bland_altman([reference[i].t1_ms for i in (1, 2, 3, 4)], measured)
    np.testing.assert_allclose(comparison.result.bias, expected.bias)
    assert comparison.difference_map is None
    assert not panel.difference_holder.isVisibleTo(panel)  # no empty panel beside the plots
    panel.reference_combo.setCurrentIndex(panel.reference_combo.findData(a.id))
    assert panel.recompute().difference_map is not None
    assert panel.difference_holder.isVisibleTo(panel)


def test_helpful_message_when_nothing_to_compare(qtbot):
    model = AppModel()
    panel = BlandAltmanPanel(model)
    qtbot.addWidget(panel)
    assert panel.recompute() is None
    assert "Run a method first" in panel.results.text()
