"""Drawing polygon ROIs by clicking their corners on the maps (real mouse events)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from gui_fakes import synthetic_maps
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent, QPolygonF
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from app.model import Run
from app.polygon_tool import DRAWING_HINT
from app.roi_graphics import shape_points

# Voxel (image) coordinates of the corners clicked; the maps are 64 × 48.
CORNERS = [(10.5, 8.5), (41.3, 11.7), (52.5, 36.5), (30.2, 42.8), (14.6, 30.1)]


@pytest.fixture
def maps_window(window):
    maps = synthetic_maps(noise=40.0, seed=3)  # T1 noisy: a wrong mask shows in the mean
    window.model.add_run(Run(window.model.new_run_id(), "run", maps))
    window.tabs.setCurrentIndex(0)
    QApplication.processEvents()
    return window


def _widget_point(view, x, y):
    """Where image (voxel) point (x, y) is on the view's viewport: image → scene → view."""
    return view.graphics.mapFromScene(view.viewbox.mapViewToScene(QPointF(x, y)))


def _click(view, x, y, double=False):
    """A left click at image point (x, y); ``double``: the events of a real double-click
    (press, release, double-click, release; QTest's mouseDClick sends the double-click
    event alone)."""
    where = _widget_point(view, x, y)
    button, modifiers = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    QTest.mouseClick(view.graphics.viewport(), button, modifiers, where)
    if double:
        QTest.mouseDClick(view.graphics.viewport(), button, modifiers, where)


def _move(view, x, y):
    """The mouse (no button) moving to image point (x, y).  Sent as an event: offscreen,
    QTest's mouseMove only moves the cursor, and no event follows once a click was made."""
    viewport = view.graphics.viewport()
    where = QPointF(_widget_point(view, x, y))
    QTest.qWait(15)  # pyqtgraph drops mouse moves closer than 10 ms apart
    event = QMouseEvent(
        QEvent.Type.MouseMove,
        where,
        QPointF(viewport.mapToGlobal(where.toPoint())),
        Qt.MouseButton.NoButton,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(viewport, event)


def _voxel_size_px(view):
    a, b = _widget_point(view, 0.0, 0.0), _widget_point(view, 1.0, 0.0)
    return abs(b.x() - a.x())


def _independent_mask(vertices, shape):
    """Voxels whose centres are inside the polygon, by Qt's polygon test (not mrfcore)."""
    polygon = QPolygonF([QPointF(float(x), float(y)) for x, y in vertices])
    return np.array(
        [
            [
                polygon.containsPoint(QPointF(i + 0.5, j + 0.5), Qt.FillRule.OddEvenFill)
                for j in range(shape[1])
            ]
            for i in range(shape[0])
        ]
    )


def _start(window):
    window.roi_panel.polygon_button.click()
    tool = window.map_panel.polygon_tool
    assert tool.active and window.roi_panel.polygon_button.isChecked()
    return tool


def test_polygon_drawn_by_clicks_on_linked_views(maps_window, qtbot):
    window = maps_window
    views = window.map_panel.views
    tool = _start(window)
    assert window.map_panel.placeholder.text() == DRAWING_HINT
    assert window.statusBar().currentMessage() == DRAWING_HINT
    viewport = views["T2"].graphics.viewport()
    assert viewport.cursor().shape() == Qt.CursorShape.CrossCursor
    # Corners on different maps: the views are linked, so any of them will do.
    for index, (x, y) in enumerate(CORNERS[:-1]):
        _click(views[("T1", "T2", "PD")[index % 3]], x, y)
    # The live outline is drawn in every view, with a rubber band to the cursor.
    _move(views["PD"], 20.0, 20.0)
    for view in views.values():
        outline = tool._outlines[id(view)]
        assert len(outline.edges.getData()[0]) == 4
        band_x, band_y = outline.band.getData()
        np.testing.assert_allclose(band_x[[0, 2]], [tool.vertices[-1][0], tool.vertices[0][0]])
        assert abs(band_x[1] - 20.0) < 0.5 and abs(band_y[1] - 20.0) < 0.5
    # Double-click on the last corner adds it and closes the polygon.
    _click(views["T2"], *CORNERS[-1], double=True)
    assert not tool.active and not window.roi_panel.polygon_button.isChecked()
    assert viewport.cursor().shape() != Qt.CursorShape.CrossCursor
    assert window.map_panel.placeholder.text() == ""

    model = window.model
    assert len(model.rois) == 1
    uid, roi = next(iter(model.rois.items()))
    assert roi.kind == "polygon" and roi.name == "ROI 1" and model.selected_roi == uid
    # Each corner where it was clicked, to within a screen pixel.
    tolerance = 0.6 / _voxel_size_px(views["T1"])
    assert tolerance < 0.25
    np.testing.assert_allclose(roi.points, CORNERS, atol=tolerance)
    # The same, editable ROI object in every view.
    for name, shapes in window.map_panel.shapes.items():
        np.testing.assert_allclose(shape_points(shapes[uid]), roi.points, atol=1e-6)
        assert len(shapes[uid].getHandles()) == len(CORNERS), name
    assert all(not outline_items_left(view) for view in views.values())

    # Statistics against numpy on an independently computed mask.
    maps = model.current_run.maps
    mask = _independent_mask(roi.points, maps.geometry.matrix)
    assert 300 < mask.sum() < 1500
    window.roi_panel.update_statistics()
    for map_name, values in (("T1", maps.t1_ms), ("T2", maps.t2_ms), ("PD", maps.pd)):
        row = next(r for r in window.roi_panel.rows if r["map"] == map_name)
        inside = values.astype(np.float64)[mask]
        inside = inside[np.isfinite(inside)]
        assert row["n"] == inside.size
        assert row["mean"] == pytest.approx(inside.mean(), rel=1e-12)
        assert row["sd"] == pytest.approx(inside.std(ddof=1), rel=1e-9)
        assert row["median"] == pytest.approx(np.median(inside), rel=1e-12)
        assert row["maximum"] == pytest.approx(inside.max(), rel=1e-12)


def outline_items_left(view):
    from pyqtgraph import PlotCurveItem, ScatterPlotItem

    return [
        item
        for item in view.viewbox.addedItems
        if isinstance(item, PlotCurveItem | ScatterPlotItem)
    ]


@pytest.mark.parametrize("finish", ["enter", "first corner"])
def test_enter_or_a_click_on_the_first_corner_finishes(maps_window, finish):
    window = maps_window
    view = window.map_panel.views["PD"]
    tool = _start(window)
    for x, y in CORNERS[:3]:
        _click(view, x, y)
    if finish == "enter":
        QTest.keyClick(view.graphics, Qt.Key.Key_Return)
    else:
        _click(view, CORNERS[0][0] + 0.3, CORNERS[0][1] - 0.2)  # within a few pixels
    assert not tool.active
    (roi,) = window.model.rois.values()
    tolerance = 0.6 / _voxel_size_px(view)
    np.testing.assert_allclose(roi.points, CORNERS[:3], atol=tolerance)


def test_escape_cancels_and_two_corners_make_nothing(maps_window):
    window = maps_window
    view = window.map_panel.views["T1"]
    tool = _start(window)
    for x, y in CORNERS[:3]:
        _click(view, x, y)
    QTest.keyClick(view.graphics, Qt.Key.Key_Escape)
    assert not tool.active and window.model.rois == {}
    assert not window.roi_panel.polygon_button.isChecked()
    assert all(not outline_items_left(v) for v in window.map_panel.views.values())

    # Fewer than 3 corners: finishing makes nothing, and says why.
    _start(window)
    _click(view, *CORNERS[0])
    _click(view, *CORNERS[1], double=True)
    assert not tool.active and window.model.rois == {}
    assert "at least 3 corners" in window.statusBar().currentMessage()
    _start(window)
    _click(view, *CORNERS[0])
    _click(view, *CORNERS[2])
    QTest.keyClick(view.graphics, Qt.Key.Key_Enter)
    assert window.model.rois == {}

    # From the ROI menu; Backspace takes back a corner; the button ends drawing again.
    window.tabs.setCurrentIndex(1)
    window.draw_polygon()
    assert tool.active and window.tabs.currentIndex() == 0
    assert window.roi_panel.polygon_button.isChecked()
    for x, y in CORNERS[:3]:
        _click(view, x, y)
    QTest.keyClick(view.graphics, Qt.Key.Key_Backspace)
    assert len(tool.vertices) == 2
    window.roi_panel.polygon_button.click()
    assert not tool.active and window.model.rois == {}


def test_clicks_while_drawing_do_not_grab_existing_rois(maps_window):
    window = maps_window
    rectangle = window.roi_panel.add_roi("rectangle")
    before = window.model.rois[rectangle].points.copy()
    centre = before.mean(axis=0)
    view = window.map_panel.views["T1"]
    tool = _start(window)
    _click(view, *centre)  # inside the rectangle: a corner, not a selection or a drag
    _click(view, centre[0] + 12, centre[1])
    _click(view, centre[0] + 6, centre[1] + 9, double=True)
    assert not tool.active
    np.testing.assert_array_equal(window.model.rois[rectangle].points, before)
    polygon = [uid for uid, roi in window.model.rois.items() if roi.kind == "polygon"]
    assert len(polygon) == 1 and window.model.selected_roi == polygon[0]


def test_no_drawing_without_maps(window):
    window.roi_panel.polygon_button.click()
    assert not window.map_panel.polygon_tool.active
    assert not window.roi_panel.polygon_button.isChecked()
    assert "first" in window.roi_panel.hint.text()


def test_drawing_goes_on_when_another_run_is_shown(maps_window):
    # E.g. the demo's default run replaces the quick preview while the user draws.
    window = maps_window
    tool = _start(window)
    _click(window.map_panel.views["T1"], *CORNERS[0])
    _click(window.map_panel.views["T1"], *CORNERS[1])
    window.model.add_run(Run(window.model.new_run_id(), "next", synthetic_maps(seed=5)))
    window.model.set_extra_shown("match_correlation", True)  # a view more, rebuilt grid
    assert tool.active and len(tool.vertices) == 2
    assert set(tool._outlines) == {id(v) for v in window.map_panel.views.values()}
    _click(window.map_panel.views["match_correlation"], *CORNERS[2], double=True)
    (roi,) = window.model.rois.values()
    assert len(roi.points) == 3
    assert all(uid in s for s in window.map_panel.shapes.values() for uid in window.model.rois)


def test_escape_cancels_the_drawing_not_the_running_job(maps_window, qtbot):
    # While the demo's default run computes, Esc is also the job's Cancel shortcut.
    window = maps_window
    stop = []

    def job(progress):
        while not stop:
            progress(0, 1, "working")
            time.sleep(0.01)

    window.runner.start(job, "Working")
    qtbot.waitUntil(lambda: window.cancel_button.isVisible(), timeout=2000)
    view = window.map_panel.views["T2"]
    tool = _start(window)
    _click(view, *CORNERS[0])
    QTest.keyClick(view.graphics, Qt.Key.Key_Escape)
    assert not tool.active
    assert window.runner.busy and not window.runner.cancel_requested
    stop.append(True)
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=5000)
