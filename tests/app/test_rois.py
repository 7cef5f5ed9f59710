"""ROIs: drawing, dragging in one view moves them in all, statistics from mrfcore."""

from __future__ import annotations

import numpy as np
import pytest
from gui_fakes import synthetic_maps
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from app.map_view import MapPanel
from app.model import AppModel, Run
from app.roi_graphics import shape_points
from app.roi_panel import STATS_COLUMNS, RoiPanel
from mrfcore.analysis import ROI, load_rois, roi_mask, statistics_table


@pytest.fixture
def panels(qtbot):
    model = AppModel()
    maps = panel = None
    maps = MapPanel(model)
    panel = RoiPanel(model, maps.view_centre_and_size)
    for widget in (maps, panel):
        qtbot.addWidget(widget)
        widget.show()
    maps.resize(1200, 450)
    model.add_run(Run(model.new_run_id(), "run", synthetic_maps()))
    qtbot.waitExposed(maps)
    QApplication.processEvents()
    return model, maps, panel


def _drag(view, start, end, steps=10):
    """A real mouse drag (press, moves, release) between view (voxel) coordinates."""
    viewport = view.graphics.viewport()

    def widget_point(point):
        return view.graphics.mapFromScene(view.viewbox.mapViewToScene(QPointF(*point)))

    first, last = widget_point(start), widget_point(end)
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, first)
    for step in range(1, steps + 1):
        QTest.qWait(15)  # pyqtgraph drops mouse moves closer than 10 ms apart
        QTest.mouseMove(viewport, first + (last - first) * step / steps)
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, last)


def _table_row(panel, roi_name, map_name):
    table = panel.stats_table
    for row in range(table.rowCount()):
        if table.item(row, 0).text() == roi_name and table.item(row, 1).text() == map_name:
            return {key: table.item(row, c).text() for c, (key, _) in enumerate(STATS_COLUMNS)}
    raise AssertionError(f"no row for {roi_name}/{map_name}")


def test_add_roi_draws_it_in_every_view_and_lists_statistics(panels):
    model, maps, panel = panels
    uid = panel.add_roi("ellipse")
    roi = model.rois[uid]
    assert roi.name == "ROI 1" and roi.kind == "ellipse"
    assert all(uid in shapes for shapes in maps.shapes.values())
    for shapes in maps.shapes.values():
        np.testing.assert_allclose(shape_points(shapes[uid]), roi.points, atol=1e-6)
    panel.update_statistics()
    expected = statistics_table(model.current_run.maps, [roi])
    assert panel.rows == expected
    t1 = next(r for r in expected if r["map"] == "T1")
    shown = _table_row(panel, "ROI 1", "T1")
    assert shown["n"] == str(t1["n"]) and t1["n"] > 0
    assert shown["mean"] == f"{t1['mean']:.0f} ms"
    # The extra quality map is in the CSV rows but not on screen until shown.
    assert any(r["map"] == "match_correlation" for r in panel.rows)
    assert all(
        panel.stats_table.item(r, 1).text() != "match_correlation"
        for r in range(panel.stats_table.rowCount())
    )


def test_dragging_in_one_view_moves_the_roi_everywhere_and_updates_stats(panels, qtbot):
    model, maps, panel = panels
    uid = panel.add_roi("rectangle")
    panel.update_statistics()
    before = _table_row(panel, "ROI 1", "T1")["mean"]
    start = model.rois[uid].points.mean(axis=0)
    _drag(maps.views["T2"], start, start + [10.0, 0.0])  # grab the middle, drag right
    moved = model.rois[uid].points
    np.testing.assert_allclose(moved.mean(axis=0), start + [10.0, 0.0], atol=0.5)
    np.testing.assert_allclose(moved, shape_points(maps.shapes["T2"][uid]))
    qtbot.waitUntil(
        lambda: np.allclose(shape_points(maps.shapes["T1"][uid]), moved, atol=1e-6), timeout=1000
    )
    # Independent check: the mean of T1 over voxel centres inside the moved rectangle.
    t1 = model.current_run.maps.t1_ms.astype(np.float64)
    x, y = np.meshgrid(np.arange(t1.shape[0]) + 0.5, np.arange(t1.shape[1]) + 0.5, indexing="ij")
    (x0, y0), (x1, y1) = moved.min(axis=0), moved.max(axis=0)
    inside = (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
    expected = f"{np.nanmean(t1[inside]):.0f} ms"
    assert expected != before
    qtbot.waitUntil(lambda: _table_row(panel, "ROI 1", "T1")["mean"] == expected, timeout=1000)


def test_live_statistics_are_throttled(panels, qtbot, monkeypatch):
    import mrfcore.analysis as analysis

    model, maps, panel = panels
    uid = panel.add_roi("polygon")
    panel.update_statistics()
    calls = []
    real = analysis.statistics_table
    monkeypatch.setattr(analysis, "statistics_table", lambda *a: calls.append(1) or real(*a))
    shape = maps.shapes["PD"][uid]
    for _step in range(30):  # a fast drag: 30 moves in a few ms
        shape.setPos(shape.pos() + np.array([0.2, 0.1]))
    qtbot.wait(300)
    assert 1 <= len(calls) <= 3
    assert panel.rows == real(model.current_run.maps, list(model.rois.values()))


def test_rename_recolour_delete(panels):
    model, maps, panel = panels
    uid = panel.add_roi("rectangle")
    panel.roi_table.item(0, 0).setText("vial 3")  # editing the name in the list
    assert model.rois[uid].name == "vial 3"
    assert maps.shapes["T1"][uid].name_label.toPlainText() == "vial 3"
    model.edit_roi(uid, colour="#123456")
    assert maps.shapes["T1"][uid].pen.color().name() == "#123456"
    model.select_roi(uid)
    panel.delete_button.click()
    assert model.rois == {}
    assert all(not shapes for shapes in maps.shapes.values())
    assert panel.stats_table.rowCount() == 0 or panel.update_statistics() is None


def test_rotated_box_round_trips_through_the_shape(panels):
    model, maps, _ = panels
    roi = ROI.box("tilted", "rectangle", (30.0, 20.0), (12.0, 6.0), angle_deg=30.0)
    uid = model.add_roi(roi)
    np.testing.assert_allclose(shape_points(maps.shapes["T1"][uid]), roi.points, atol=1e-6)
    # Corners listed clockwise describe the same box.
    flipped = ROI("flipped", "ellipse", roi.points[[0, 3, 2, 1]])
    uid = model.add_roi(flipped)
    mask_from_shape = roi_mask(ROI("s", "ellipse", shape_points(maps.shapes["T1"][uid])), (64, 48))
    np.testing.assert_array_equal(mask_from_shape, roi_mask(flipped, (64, 48)))


def test_roi_sets_save_and_load_through_the_window(window, tmp_path):
    model = window.model
    model.add_run(Run(model.new_run_id(), "run", synthetic_maps()))
    window.roi_panel.add_roi("ellipse")
    window.roi_panel.add_roi("polygon")
    path = tmp_path / "rois.json"
    from mrfcore.analysis import save_rois

    save_rois(path, list(model.rois.values()))
    model.set_rois([])
    window.load_rois(path)
    assert [r.name for r in model.rois.values()] == ["ROI 1", "ROI 2"]
    assert [r.kind for r in load_rois(path)] == ["ellipse", "polygon"]
    csv_path = window.export_statistics(tmp_path / "stats.csv")
    lines = csv_path.read_text().splitlines()
    assert lines[0].startswith("roi,map,unit,n,mean,sd,median,q1,q3,iqr,minimum,maximum,cv_percent")
    assert len(lines) == 1 + 2 * 4  # 2 ROIs × (T1, T2, PD, match_correlation)


def test_rois_on_3d_maps_belong_to_their_slice(qtbot):
    model = AppModel()
    maps = MapPanel(model)
    panel = RoiPanel(model, maps.view_centre_and_size)
    qtbot.addWidget(maps)
    qtbot.addWidget(panel)
    volume = synthetic_maps((32, 24, 4))
    volume.t1_ms[:, :, 2] += 1000.0
    model.add_run(Run(model.new_run_id(), "3d", volume))
    model.set_slice(2)
    uid = panel.add_roi("rectangle")
    assert model.rois[uid].slice_index == 2
    panel.update_statistics()
    t1 = next(r for r in panel.rows if r["map"] == "T1")
    mask = roi_mask(model.rois[uid], (32, 24, 4))
    assert mask[:, :, 2].any() and not mask[:, :, [0, 1, 3]].any()
    assert t1["mean"] == pytest.approx(np.nanmean(volume.t1_ms[mask].astype(float)))
    model.set_slice(1)
    assert all(uid not in shapes for shapes in maps.shapes.values())
    model.set_slice(2)
    assert all(uid in shapes for shapes in maps.shapes.values())
