"""Drawing a polygon ROI by clicking its corners on any of the (linked) map views.

While the tool is active, a left click on a view adds a corner at the clicked position
(view coordinates, which are the voxel coordinates of :mod:`mrfcore.analysis.roi`); the
corners so far are drawn as a live outline in every view, with a dashed rubber band from
the last corner to the cursor and back to the first.  Double-click, Enter, or a click on
the first corner finishes (a polygon needs at least 3 corners, else nothing is made),
Backspace takes back the last corner and Esc cancels.  Panning, ROI dragging and ROI
selection by left click are suspended while drawing (the wheel still zooms).

The tool makes no ROI itself: :attr:`PolygonTool.finished` hands the corners on, and the
ROI panel turns them into an ordinary polygon ROI (editable afterwards).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QPointF, Qt, Signal

if TYPE_CHECKING:
    from app.map_widget import MapView

__all__ = ["CLOSE_DISTANCE_PX", "DRAWING_HINT", "PolygonTool"]

DRAWING_HINT = "Polygon: click the corners; double-click or Enter to finish, Esc to cancel"
CLOSE_DISTANCE_PX = 8.0
"""A click this close (screen pixels) to the first corner closes the polygon."""

_FINISH_KEYS = {Qt.Key.Key_Return, Qt.Key.Key_Enter}
_TOOL_KEYS = _FINISH_KEYS | {Qt.Key.Key_Escape, Qt.Key.Key_Backspace}


class _Outline:
    """The outline drawn in one view: fixed edges, the rubber band and the corners."""

    def __init__(self, view: MapView, colour: str) -> None:
        self.view = view
        self.edges = pg.PlotCurveItem(pen=pg.mkPen(colour, width=2))
        self.band = pg.PlotCurveItem(pen=pg.mkPen(colour, width=1, style=Qt.PenStyle.DashLine))
        self.corners = pg.ScatterPlotItem(
            size=8, pen=pg.mkPen(colour, width=1.5), brush=pg.mkBrush(0, 0, 0, 120)
        )
        for item in (self.edges, self.band, self.corners):
            item.setZValue(30)  # above the ROI shapes and the crosshair
            view.viewbox.addItem(item, ignoreBounds=True)

    def show(self, vertices: list[tuple[float, float]], cursor, closing: bool) -> None:
        points = np.array(vertices, dtype=float).reshape(-1, 2)
        self.edges.setData(points[:, 0], points[:, 1])
        band = [vertices[-1], cursor, vertices[0]] if vertices and cursor else []
        band = np.array(band, dtype=float).reshape(-1, 2)
        self.band.setData(band[:, 0], band[:, 1])
        sizes = [12 if closing and index == 0 else 8 for index in range(len(points))]
        self.corners.setData(points[:, 0], points[:, 1], size=sizes)

    def remove(self) -> None:
        for item in (self.edges, self.band, self.corners):
            try:
                self.view.viewbox.removeItem(item)
            except RuntimeError:  # the view was deleted with its items
                pass


class PolygonTool(QObject):
    """Click-to-draw polygon mode over a set of map views.

    Signals
    -------
    finished(points)
        float (P, 2) corners in voxel coordinates, P ≥ 3; the tool is inactive again.
    active_changed(active)
        Drawing started (True) or ended – finished, cancelled or refused (False).
    message(text)
        A line for the user (e.g. why nothing was made).
    """

    finished = Signal(object)
    active_changed = Signal(bool)
    message = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.active = False
        self.vertices: list[tuple[float, float]] = []
        self.cursor: tuple[float, float] | None = None
        self.colour = "#ffcc00"
        self._views: list[MapView] = []
        self._outlines: dict[int, _Outline] = {}
        self._watched: dict[int, MapView] = {}  # id(widget) → the view it belongs to

    # -- mode --------------------------------------------------------------------------
    def start(self, views: list[MapView], colour: str = "#ffcc00") -> None:
        """Enter drawing mode over ``views`` (any earlier unfinished polygon is dropped)."""
        self._clear()
        self.colour = colour
        self.active = True
        self.set_views(views)
        if self._views:
            self._views[0].graphics.setFocus(Qt.FocusReason.OtherFocusReason)
        self.active_changed.emit(True)
        self.message.emit(DRAWING_HINT)

    def set_views(self, views: list[MapView]) -> None:
        """Follow the panel's views (they are rebuilt when another run is shown)."""
        for outline in self._outlines.values():
            outline.remove()
        self._outlines.clear()
        for view in self._views:
            self._unwatch(view)
        self._views = list(views) if self.active else []
        for view in self._views:
            for widget in (view.graphics, view.graphics.viewport()):
                widget.installEventFilter(self)
                self._watched[id(widget)] = view
            view.graphics.viewport().setCursor(Qt.CursorShape.CrossCursor)
            self._outlines[id(view)] = _Outline(view, self.colour)
        self._redraw()

    def cancel(self) -> None:
        """Leave drawing mode without making anything."""
        if self.active:
            self._end()
            self.message.emit("Polygon cancelled")

    def finish(self) -> np.ndarray | None:
        """Close the polygon; returns its corners, or None (fewer than 3: nothing made)."""
        if not self.active:
            return None
        points = np.array(self.vertices, dtype=np.float64).reshape(-1, 2)
        self._end()
        if len(points) < 3:
            self.message.emit("A polygon needs at least 3 corners: nothing was added")
            return None
        self.finished.emit(points)
        return points

    def add_vertex(self, x: float, y: float) -> None:
        """Add a corner at view (voxel) coordinates (as a click does)."""
        if self.active:
            if not self.vertices or self.vertices[-1] != (x, y):
                self.vertices.append((float(x), float(y)))
            self._redraw()

    def remove_last_vertex(self) -> None:
        if self.active and self.vertices:
            self.vertices.pop()
            self._redraw()

    def _end(self) -> None:
        self.active = False
        self.set_views([])
        self._clear()
        self.active_changed.emit(False)

    def _clear(self) -> None:
        self.vertices = []
        self.cursor = None

    def _unwatch(self, view: MapView) -> None:
        try:
            widgets = (view.graphics, view.graphics.viewport())
        except RuntimeError:  # the view's C++ side is already gone
            return
        for widget in widgets:
            widget.removeEventFilter(self)
            self._watched.pop(id(widget), None)
        view.graphics.viewport().unsetCursor()

    def _redraw(self) -> None:
        closing = self._cursor_closes()
        for outline in self._outlines.values():
            outline.show(self.vertices, self.cursor, closing)

    # -- geometry ----------------------------------------------------------------------
    @staticmethod
    def _to_view(view: MapView, position: QPointF) -> tuple[float, float]:
        scene = view.graphics.mapToScene(position.toPoint())
        point = view.viewbox.mapSceneToView(scene)
        return point.x(), point.y()

    @staticmethod
    def _to_widget(view: MapView, x: float, y: float) -> QPointF:
        scene = view.viewbox.mapViewToScene(QPointF(x, y))
        return QPointF(view.graphics.mapFromScene(scene))

    def _near(self, view: MapView, vertex: tuple[float, float], position: QPointF) -> bool:
        point = self._to_widget(view, *vertex)
        distance = math.hypot(point.x() - position.x(), point.y() - position.y())
        return distance <= CLOSE_DISTANCE_PX

    def _near_first(self, view: MapView, position: QPointF) -> bool:
        return len(self.vertices) >= 3 and self._near(view, self.vertices[0], position)

    def _near_last(self, view: MapView, position: QPointF) -> bool:
        return bool(self.vertices) and self._near(view, self.vertices[-1], position)

    def _cursor_closes(self) -> bool:
        if self.cursor is None or len(self.vertices) < 3 or not self._views:
            return False
        view = self._views[0]
        return self._near_first(view, self._to_widget(view, *self.cursor))

    # -- events ------------------------------------------------------------------------
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if not self.active:
            return False
        view = self._watched.get(id(watched))
        if view is None:
            return False
        kind = event.type()
        if kind == QEvent.Type.ShortcutOverride and event.key() in _TOOL_KEYS:
            # Take Esc and Enter before window shortcuts (e.g. Esc = cancel the job).
            event.accept()
            return True
        if kind == QEvent.Type.KeyPress and event.key() in _TOOL_KEYS:
            if event.key() in _FINISH_KEYS:
                self.finish()
            elif event.key() == Qt.Key.Key_Escape:
                self.cancel()
            else:
                self.remove_last_vertex()
            return True
        if watched is not view.graphics.viewport():
            return False
        if kind == QEvent.Type.MouseMove:
            self.cursor = self._to_view(view, event.position())
            self._redraw()
            return False  # the crosshair and readout still follow the mouse
        if event.type() in (QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonDblClick):
            if event.button() != Qt.MouseButton.LeftButton:
                return False
            view.graphics.setFocus(Qt.FocusReason.MouseFocusReason)
            position = event.position()
            if kind == QEvent.Type.MouseButtonDblClick:
                # A double-click's first press has added its corner already (unless the
                # platform sent the double-click alone).
                if not self._near_last(view, position):
                    self.add_vertex(*self._to_view(view, position))
                self.finish()
            elif self._near_first(view, position):
                self.finish()
            else:
                self.add_vertex(*self._to_view(view, position))
            return True
        if kind == QEvent.Type.MouseButtonRelease and event.button() == Qt.MouseButton.LeftButton:
            return True
        return False
