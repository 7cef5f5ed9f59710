"""Map views: colour maps, colour bars, crosshair readout, linked zoom, windows, slices."""

from __future__ import annotations

import numpy as np
import pytest
from gui_fakes import synthetic_maps

from app.colormaps import COLORMAP_NAMES, colormap, default_colormap, lookup_table
from app.map_view import AUTO, MapPanel, format_value
from app.model import AppModel, Run
from mrfcore.resources import resource_path


@pytest.fixture
def panel(qtbot):
    model = AppModel()
    widget = MapPanel(model)
    widget.resize(1200, 500)
    qtbot.addWidget(widget)
    widget.show()
    return widget


def _add_run(model, maps, name="run"):
    return model.add_run(Run(model.new_run_id(), name, maps))


def test_lipari_and_navia_tables_are_the_shipped_files():
    for name in ("lipari", "navia"):
        table = lookup_table(name)
        raw = np.loadtxt(resource_path(f"colormaps/{name}.txt"))
        assert table.shape == (256, 3) and table.dtype == np.uint8
        np.testing.assert_array_equal(table, np.round(raw * 255).astype(np.uint8))
    assert default_colormap("T1") == "lipari"
    assert default_colormap("T2") == "navia"
    assert default_colormap("PD") == "grey"
    for name in COLORMAP_NAMES:
        assert colormap(name).getLookupTable(nPts=256).shape[0] == 256
    with pytest.raises(ValueError, match="unknown colour map"):
        lookup_table("rainbow")


def test_maps_are_shown_with_their_colour_maps_and_units(panel):
    maps = synthetic_maps()
    _add_run(panel.model, maps)
    assert list(panel.views) == ["T1", "T2", "PD"]
    for name, expected in (("T1", "lipari"), ("T2", "navia"), ("PD", "grey")):
        view = panel.views[name]
        lut = view.colorbar.colorMap().getLookupTable(nPts=256, alpha=False)
        np.testing.assert_array_equal(lut, lookup_table(expected))
        assert view.colormap_combo.currentText() == expected
    assert panel.views["T1"].colorbar.getAxis("left").labelText == "T1 (ms)"
    assert panel.views["PD"].colorbar.getAxis("left").labelText == "PD (a.u.)"
    # Display convention: the shown array is the map itself, indexed [x, y].
    np.testing.assert_array_equal(panel.views["T1"].image.image, maps.t1_ms)
    assert panel.views["T1"].image.axisOrder == "col-major"
    # A user's colour-map choice goes through the model.
    panel.views["T1"].colormap_combo.setCurrentText("viridis")
    assert panel.model.view.colormaps["T1"] == "viridis"


def test_crosshair_readout_lists_every_map_with_units(panel):
    maps = synthetic_maps()
    _add_run(panel.model, maps)
    text = panel.show_readout(30.4, 20.9)  # voxel (30, 20)
    expected = [
        f"T1 {format_value(float(maps.t1_ms[30, 20]), 'ms')}",
        f"T2 {format_value(float(maps.t2_ms[30, 20]), 'ms')}",
        f"PD {format_value(float(maps.pd[30, 20]), 'a.u.')}",
    ]
    assert text.startswith("x 30, y 20")
    for part in expected:
        assert part in text
    assert "ms" in expected[0] and expected[0] != "T1 —"
    assert panel.readout.text() == text
    view = panel.views["T2"]
    assert view.vline.isVisible() and view.vline.value() == 30.5 and view.hline.value() == 20.5
    # Outside the mask the value is NaN: shown as a dash, not a number.
    assert "T1 —" in panel.show_readout(0.5, 0.5)
    assert panel.show_readout(500, 500) == ""  # off the image


def test_format_value():
    assert format_value(1234.4, "ms") == "1234 ms"
    assert format_value(85.24, "ms") == "85.2 ms"
    assert format_value(0.8123, "a.u.") == "0.812 a.u."
    assert format_value(float("nan"), "ms") == "—"


def test_window_presets_and_manual_levels(panel):
    maps = synthetic_maps()
    _add_run(panel.model, maps)
    view = panel.views["T1"]
    finite = maps.t1_ms[np.isfinite(maps.t1_ms)]
    np.testing.assert_allclose(view.levels(), np.percentile(finite, [1, 99]), rtol=1e-6)
    assert view.preset.currentText() == AUTO
    view.preset.setCurrentText("Brain 0–2000 ms")
    view._preset_chosen(view.preset.currentIndex())
    assert panel.model.view.levels["T1"] == (0.0, 2000.0)
    assert view.levels() == (0.0, 2000.0)
    np.testing.assert_array_equal(view.image.levels, [0.0, 2000.0])
    view.high.setValue(1500.0)  # manual window
    assert panel.model.view.levels["T1"] == (0.0, 1500.0)
    assert view.preset.currentText() == "Manual"
    view.preset.setCurrentText(AUTO)
    view._preset_chosen(view.preset.currentIndex())
    assert "T1" not in panel.model.view.levels


def test_views_are_linked(panel, qtbot):
    _add_run(panel.model, synthetic_maps())
    t1, pd = panel.views["T1"].viewbox, panel.views["PD"].viewbox
    t1.setRange(xRange=(10, 20), yRange=(5, 15), padding=0)
    qtbot.wait(10)
    np.testing.assert_allclose(pd.viewRange()[0], t1.viewRange()[0], atol=1e-6)
    np.testing.assert_allclose(pd.viewRange()[1], t1.viewRange()[1], atol=1e-6)


def test_slice_slider_for_3d_maps(panel):
    maps = synthetic_maps((32, 24, 5))
    maps.t1_ms[:, :, 3] += 100.0
    _add_run(panel.model, maps)
    assert panel.slice_slider.isVisibleTo(panel) and panel.slice_slider.maximum() == 4
    panel.slice_slider.setValue(3)
    assert panel.model.view.slice_index == 3
    np.testing.assert_array_equal(panel.views["T1"].image.image, maps.t1_ms[:, :, 3])
    assert "z 3" in panel.show_readout(16.2, 12.2)
    panel.step_slice(+5)  # PageUp beyond the last slice stays on it
    assert panel.model.view.slice_index == 4 and panel.slice_slider.value() == 4
    panel.step_slice(-1)
    np.testing.assert_array_equal(panel.views["T1"].image.image, maps.t1_ms[:, :, 3])


def test_extra_maps_and_tsmi_on_demand(panel):
    from mrfcore.data import ImageSeries

    maps = synthetic_maps()
    images = ImageSeries(
        (np.arange(3)[:, None, None] + 1) * np.ones((3, 64, 48), np.complex64),
        maps.geometry,
        np.eye(4, 3, dtype=np.complex64),
    )
    panel.model.add_run(Run(panel.model.new_run_id(), "r", maps, images=images))
    assert set(panel.extras_buttons) == {"match_correlation", "TSMI"}
    panel.extras_buttons["TSMI"].setChecked(True)
    view = panel.views["TSMI"]
    assert np.all(view.image.image == 1.0)
    view.component_box.setValue(2)
    assert np.all(panel.views["TSMI"].image.image == 3.0)
    panel.extras_buttons["TSMI"].setChecked(False)
    assert "TSMI" not in panel.views


def test_no_run_shows_a_hint(panel):
    assert "No maps yet" in panel.placeholder.text()
    assert panel.views == {}


def test_readout_follows_the_shown_run_and_extras_bar_has_no_stale_buttons(panel):
    first = _add_run(panel.model, synthetic_maps(), "first")
    second = _add_run(panel.model, synthetic_maps(t1_offset=100.0), "second")
    panel.show_readout(30.5, 20.5)
    assert f"T1 {format_value(float(second.maps.t1_ms[30, 20]), 'ms')}" in panel.readout.text()
    panel.model.set_current_run(first.id)  # the cursor has not moved: new values
    assert f"T1 {format_value(float(first.maps.t1_ms[30, 20]), 'ms')}" in panel.readout.text()
    panel.model.clear_runs()
    assert panel.readout.text().strip() == ""
    _add_run(panel.model, synthetic_maps(), "third")
    bar = panel.extras_bar
    shown = [bar.itemAt(i).widget() for i in range(bar.count()) if bar.itemAt(i).widget()]
    buttons = [w.text() for w in shown if w is not panel.extras_label]
    assert buttons == ["match_correlation"]
