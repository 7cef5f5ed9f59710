"""T1, T2, PD (and extra) maps side by side, with linked zoom, crosshair and ROIs.

Display convention
------------------
Maps are arrays indexed ``[x, y]`` (``[x, y, z]`` for 3D), as in NIfTI and
:mod:`mrfcore.data`.  The image item is column-major, so array axis 0 (x) runs to the
right on screen and axis 1 (y) runs up: with the usual RAS+ affine of an axial slice the
patient's anterior is at the top and the patient's left on the left (neurological
view).  Voxel (i, j) covers the square [i, i+1) × [j, j+1) of the view box, so view
coordinates are the voxel coordinates used by :mod:`mrfcore.analysis.roi` and ROI
handles need no conversion.  3D maps show the slice ``[:, :, view.slice_index]``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.colormaps import default_colormap
from app.map_widget import AUTO, MapView, auto_levels, format_value, level_presets
from app.model import AppModel
from app.polygon_tool import DRAWING_HINT, PolygonTool
from app.roi_graphics import make_shape, shape_points, update_shape

if TYPE_CHECKING:
    from mrfcore.analysis import ROI

__all__ = ["MapPanel", "MapView", "format_value", "level_presets"]

MAIN_MAPS = ("T1", "T2", "PD")
TSMI = "TSMI"
NO_MAPS_HINT = "No maps yet: choose methods on the left and press Run."


class MapPanel(QWidget):
    """All map views of the current run, the value readout and the slice slider.

    Zoom and pan are linked, the crosshair follows the mouse over any view and the
    readout lists every map's value under it, and every ROI of the model is drawn in
    every view (dragging it in one view moves it in all).  :attr:`polygon_tool` draws a
    new polygon by clicks on any view (:meth:`start_polygon`).
    """

    def __init__(self, model: AppModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.views: dict[str, MapView] = {}
        self.shapes: dict[str, dict[int, pg.ROI]] = {}
        self._slice_count = 1
        self._tsmi_component = 0
        self._prepared = False
        self._cursor: tuple[float | None, float | None] = (None, None)  # view coordinates
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)

        # The bar keeps its height when empty, so that buttons appearing with a run's
        # extra maps do not resize (and repaint) every view.
        extras_holder = QWidget()
        extras_holder.setFixedHeight(QToolButton().sizeHint().height() + 4)
        self.extras_bar = QHBoxLayout(extras_holder)
        self.extras_bar.setContentsMargins(0, 0, 0, 0)
        self.extras_label = QLabel("Also show:")
        self.extras_bar.addWidget(self.extras_label)
        self.extras_buttons: dict[str, QToolButton] = {}
        self.extras_bar.addStretch(1)
        layout.addWidget(extras_holder)

        # A hint line above the views; emptied (not hidden) when maps arrive so that the
        # views keep their size and do not have to be laid out and repainted twice.
        self.placeholder = QLabel(NO_MAPS_HINT)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.placeholder)
        self.grid_holder = QWidget()
        self.grid = QGridLayout(self.grid_holder)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setSpacing(4)
        layout.addWidget(self.grid_holder, 1)

        bottom = QHBoxLayout()
        self.readout = QLabel(" ")
        self.readout.setObjectName("readout")
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = self.readout.font()
        font.setPointSizeF(font.pointSizeF() * 1.1)
        self.readout.setFont(font)
        self.slice_label = QLabel("Slice")
        self.slice_slider = QSlider(Qt.Orientation.Horizontal)
        self.slice_slider.setObjectName("slice")
        self.slice_slider.setMaximumWidth(260)
        self.slice_slider.setToolTip("Slice of the 3D maps shown (PageUp / PageDown)")
        self.slice_slider.valueChanged.connect(self.model.set_slice)
        for key, step in ((Qt.Key.Key_PageUp, 1), (Qt.Key.Key_PageDown, -1)):
            shortcut = QShortcut(QKeySequence(key), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(lambda s=step: self.step_slice(s))
        bottom.addWidget(self.readout, 1)
        bottom.addWidget(self.slice_label)
        bottom.addWidget(self.slice_slider)
        layout.addLayout(bottom)

        self.polygon_tool = PolygonTool(self)
        self.polygon_tool.active_changed.connect(self._polygon_drawing_changed)

        # Live ROI dragging redraws the shapes in the other views at most this often.
        self._pending_shape_sync: dict[int, object] = {}
        self._sync_timer = QTimer(self, singleShot=True, interval=30)
        self._sync_timer.timeout.connect(self._sync_pending_shapes)

        model.current_run_changed.connect(self.refresh)
        model.view_changed.connect(self._view_changed)
        model.roi_added.connect(self._roi_added)
        model.roi_changed.connect(self._roi_changed)
        model.roi_removed.connect(self._roi_removed)
        model.rois_reset.connect(self._rebuild_shapes)
        model.selected_roi_changed.connect(self._selection_changed)
        self.refresh()

    # -- what to show ---------------------------------------------------------------------
    def available_maps(self) -> dict[str, tuple[np.ndarray, str]]:
        """Every map of the current run (name → (array, unit)), plus ``TSMI``."""
        run = self.model.current_run
        if run is None:
            return {}
        maps = dict(run.maps.maps())
        if run.images is not None and run.images.data.ndim >= 3:
            maps[TSMI] = (run.images.data, "a.u.")
        return maps

    def shown_names(self) -> list[str]:
        available = self.available_maps()
        names = [name for name in MAIN_MAPS if name in available]
        names += [n for n in available if n not in MAIN_MAPS and n in self.model.view.shown_extras]
        return names

    def _slice_of(self, name: str, array: np.ndarray) -> np.ndarray:
        if name == TSMI:
            component = min(self._tsmi_component, array.shape[0] - 1)
            array = np.abs(array[component])
        if array.ndim == 3:
            index = min(self.model.view.slice_index, array.shape[2] - 1)
            array = array[:, :, index]
        return np.asarray(array, dtype=np.float32)

    def prepare(self) -> None:
        """Build the (empty) T1, T2 and PD views now, e.g. when a scan is opened.

        Building and first painting the views takes a few hundred milliseconds; doing it
        before a run keeps the end of the run quick.
        """
        if not self._prepared:
            # np.percentile (display windows, ROI statistics) imports numpy.ma on first
            # use, which takes ~0.1 s: pay it here rather than when a run's maps arrive.
            import numpy.ma  # noqa: F401

            self._prepared = True
            self.refresh()

    def refresh(self) -> None:
        """Rebuild the views for the current run."""
        available = self.available_maps()
        names = self.shown_names()
        if not names and self._prepared:
            names = list(MAIN_MAPS)
            available = {"T1": (None, "ms"), "T2": (None, "ms"), "PD": (None, "a.u.")}
        self._update_extras_bar(available)
        for name in list(self.views):
            if name not in names:
                view = self.views.pop(name)
                self.shapes.pop(name, None)
                view.setParent(None)
                view.deleteLater()
        for name in names:
            if name not in self.views:
                self.views[name] = self._make_view(name, available[name][1])
        while self.grid.count():
            self.grid.takeAt(0)
        columns = 3 if len(names) <= 3 else math.ceil(len(names) / 2)
        for index, name in enumerate(names):
            self.grid.addWidget(self.views[name], index // columns, index % columns)
        self._show_hint()
        self.grid_holder.setVisible(bool(names))
        self._link_views()
        if self.polygon_tool.active:
            if self.model.current_run is None:
                self.polygon_tool.cancel()
            else:  # the corners are voxel coordinates: drawing goes on in the new views
                self.polygon_tool.set_views(list(self.views.values()))
        self._update_slice_slider(available)
        self._redraw_images()
        self._apply_colormaps()
        self._rebuild_shapes()
        self._update_readout()

    def _show_hint(self) -> None:
        if self.polygon_tool.active:
            self.placeholder.setText(DRAWING_HINT)
        else:
            self.placeholder.setText(NO_MAPS_HINT if self.model.current_run is None else "")

    # -- drawing a polygon ------------------------------------------------------------------
    def start_polygon(self, colour: str = "#ffcc00") -> bool:
        """Enter click-to-draw polygon mode on every view; False when no maps are shown."""
        if self.model.current_run is None or not self.views:
            return False
        self.polygon_tool.start(list(self.views.values()), colour)
        return True

    def cancel_polygon(self) -> None:
        self.polygon_tool.cancel()

    def _polygon_drawing_changed(self, _active: bool) -> None:
        self._show_hint()

    def _make_view(self, name: str, unit: str) -> MapView:
        view = MapView(name, unit)
        view.levels_edited.connect(lambda n, lo, hi: self.model.set_levels(n, (lo, hi)))
        view.levels_reset.connect(lambda n: self.model.set_levels(n, None))
        view.colormap_edited.connect(self.model.set_colormap)
        view.graphics.scene().sigMouseMoved.connect(lambda pos, v=view: self._mouse_moved(v, pos))
        view.graphics.installEventFilter(self)
        if name == TSMI:
            component = QSpinBox()
            component.setObjectName("tsmi_component")
            component.setPrefix("component ")
            component.setToolTip("Which subspace image (magnitude) is shown")
            component.valueChanged.connect(self._tsmi_component_changed)
            view.extra_header.addWidget(component)
            view.component_box = component
        self.shapes[name] = {}
        return view

    def _update_extras_bar(self, available: dict) -> None:
        extras = [name for name in available if name not in MAIN_MAPS]
        for name in list(self.extras_buttons):
            if name not in extras:
                button = self.extras_buttons.pop(name)
                # Out of the bar now: deferred deletion may wait for the event loop.
                self.extras_bar.removeWidget(button)
                button.hide()
                button.deleteLater()
        for name in extras:
            if name not in self.extras_buttons:
                button = QToolButton(text=name)
                button.setCheckable(True)
                button.setToolTip(f"Show the {name} map")
                button.toggled.connect(lambda on, n=name: self.model.set_extra_shown(n, on))
                self.extras_bar.insertWidget(self.extras_bar.count() - 1, button)
                self.extras_buttons[name] = button
            button = self.extras_buttons[name]
            button.blockSignals(True)
            button.setChecked(name in self.model.view.shown_extras)
            button.blockSignals(False)
        self.extras_label.setVisible(bool(extras))

    def _link_views(self) -> None:
        views = list(self.views.values())
        if not views:
            return
        first = views[0].viewbox
        for view in views[1:]:
            view.viewbox.setXLink(first)
            view.viewbox.setYLink(first)

    def _update_slice_slider(self, available: dict) -> None:
        depth = 1
        for name, (array, _) in available.items():
            if name != TSMI and array is not None and array.ndim == 3:
                depth = max(depth, array.shape[2])
        self._slice_count = depth
        self.slice_slider.blockSignals(True)
        self.slice_slider.setRange(0, depth - 1)
        self.slice_slider.setValue(min(self.model.view.slice_index, depth - 1))
        self.slice_slider.blockSignals(False)
        self.slice_label.setText(f"Slice {self.slice_slider.value() + 1}/{depth}")
        self.slice_label.setVisible(depth > 1)
        self.slice_slider.setVisible(depth > 1)
        if TSMI in self.views and TSMI in available:
            box = self.views[TSMI].component_box
            box.blockSignals(True)
            box.setRange(0, available[TSMI][0].shape[0] - 1)
            box.setValue(min(self._tsmi_component, box.maximum()))
            box.blockSignals(False)

    def _redraw_images(self) -> None:
        available = self.available_maps()
        for name, view in self.views.items():
            view.set_values(self._slice_of(name, available[name][0]) if name in available else None)
        self._apply_levels()

    def _apply_levels(self) -> None:
        available = self.available_maps()
        for name, view in self.views.items():
            window = self.model.view.levels.get(name)
            if window is None and name not in available:
                continue
            if window is None:
                data = available[name][0]
                if name == TSMI:
                    data = self._slice_of(name, data)
                view.set_levels(*auto_levels(np.asarray(data)), preset=AUTO)
            else:
                preset = next(
                    (k for k, v in view._presets.items() if v is not None and tuple(v) == window),
                    None,
                )
                view.set_levels(*window, preset=preset)

    def _apply_colormaps(self) -> None:
        for name, view in self.views.items():
            view.set_colormap(self.model.view.colormaps.get(name, default_colormap(name)))

    def _view_changed(self, key: str) -> None:
        if key in ("extras", "all"):
            self.refresh()
            return
        if key == "levels":
            self._apply_levels()
        elif key == "colormaps":
            self._apply_colormaps()
        elif key == "slice":
            self.slice_slider.blockSignals(True)
            self.slice_slider.setValue(self.model.view.slice_index)
            self.slice_slider.blockSignals(False)
            self.slice_label.setText(f"Slice {self.model.view.slice_index + 1}/{self._slice_count}")
            self._redraw_images()
            self._rebuild_shapes()
            self._update_readout()
        elif key == "crosshair" and not self.model.view.crosshair:
            for view in self.views.values():
                view.set_crosshair(None, None)

    def step_slice(self, step: int) -> None:
        """Show the next (``step`` > 0) or previous slice of 3D maps."""
        index = min(max(self.model.view.slice_index + step, 0), self._slice_count - 1)
        self.model.set_slice(index)

    def _tsmi_component_changed(self, value: int) -> None:
        self._tsmi_component = value
        self._redraw_images()

    # -- crosshair and readout ------------------------------------------------------------
    def _mouse_moved(self, view: MapView, scene_pos) -> None:
        if not view.viewbox.sceneBoundingRect().contains(scene_pos):
            self.show_readout(None, None)
            return
        point = view.viewbox.mapSceneToView(scene_pos)
        self.show_readout(point.x(), point.y())

    def _update_readout(self) -> None:
        # Other maps (another run or slice) under an unmoved cursor: list their values.
        self.show_readout(*self._cursor)

    def show_readout(self, x: float | None, y: float | None) -> str:
        """Move the crosshair to view coordinates (x, y) and list every value there."""
        self._cursor = (x, y)
        if x is None or y is None or not self.views:
            for view in self.views.values():
                view.set_crosshair(None, None)
            self.readout.setText(" ")
            return ""
        ix, iy = math.floor(x), math.floor(y)
        first = next(iter(self.views.values()))
        if first.value_at(ix, iy) is None:
            for view in self.views.values():
                view.set_crosshair(None, None)
            self.readout.setText(" ")
            return ""
        position = f"x {ix}, y {iy}"
        if self._slice_count > 1:
            position += f", z {self.model.view.slice_index}"
        parts = [position]
        for name, view in self.views.items():
            if self.model.view.crosshair:
                view.set_crosshair(ix + 0.5, iy + 0.5)
            parts.append(f"{name} {format_value(view.value_at(ix, iy), view.unit)}")
        text = "    ".join(parts)
        self.readout.setText(text)
        return text

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt's name
        if event.type() == event.Type.Leave:
            self.show_readout(None, None)
        return False

    # -- ROIs ------------------------------------------------------------------------------
    def _visible_on_slice(self, roi: ROI) -> bool:
        return self._slice_count <= 1 or roi.slice_index in (None, self.model.view.slice_index)

    def _rebuild_shapes(self) -> None:
        for name, shapes in self.shapes.items():
            view = self.views[name]
            for shape in shapes.values():
                view.viewbox.removeItem(shape)
            shapes.clear()
        for uid in self.model.rois:
            self._roi_added(uid, select=False)

    def _roi_added(self, uid: int, select: bool = True) -> None:
        roi = self.model.rois[uid]
        if not self._visible_on_slice(roi):
            return
        for name, view in self.views.items():
            shape = make_shape(roi, selected=uid == self.model.selected_roi)
            shape.sigRegionChanged.connect(lambda s, u=uid: self._shape_dragged(u, s))
            shape.sigRegionChangeStarted.connect(lambda _s, u=uid: self.model.select_roi(u))
            shape.sigClicked.connect(lambda _s, _e, u=uid: self.model.select_roi(u))
            view.viewbox.addItem(shape)
            self.shapes[name][uid] = shape

    def _roi_removed(self, uid: int) -> None:
        for name, shapes in self.shapes.items():
            shape = shapes.pop(uid, None)
            if shape is not None:
                self.views[name].viewbox.removeItem(shape)

    def _shape_dragged(self, uid: int, shape: pg.ROI) -> None:
        if uid in self.model.rois:
            self.model.edit_roi(uid, origin=shape, points=shape_points(shape))

    def _roi_changed(self, uid: int, origin: object) -> None:
        roi = self.model.rois[uid]
        if not self._visible_on_slice(roi):
            self._roi_removed(uid)
            return
        if not any(uid in shapes for shapes in self.shapes.values()):
            self._roi_added(uid, select=False)
            return
        if origin is None:
            self._sync_shapes(uid, origin=None)
        else:
            self._pending_shape_sync[uid] = origin
            if not self._sync_timer.isActive():
                self._sync_timer.start()

    def _sync_pending_shapes(self) -> None:
        pending, self._pending_shape_sync = self._pending_shape_sync, {}
        for uid, origin in pending.items():
            if uid in self.model.rois:
                self._sync_shapes(uid, origin=origin)

    def _sync_shapes(self, uid: int, origin: object) -> None:
        roi = self.model.rois[uid]
        selected = uid == self.model.selected_roi
        for shapes in self.shapes.values():
            shape = shapes.get(uid)
            if shape is not None and shape is not origin:
                update_shape(shape, roi, selected)
            elif shape is not None:
                shape.name_label.setText(roi.name)

    def _selection_changed(self, _uid: int | None) -> None:
        for uid in self.model.rois:
            self._sync_shapes(uid, origin=None)

    def view_centre_and_size(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """Centre and size (view coordinates) of what the first view shows now."""
        if not self.views:
            return (32.0, 32.0), (64.0, 64.0)
        view = next(iter(self.views.values()))
        (x0, x1), (y0, y1) = view.viewbox.viewRange()
        if view.values is not None:
            nx, ny = view.values.shape
            x0, x1 = max(x0, 0.0), min(x1, float(nx))
            y0, y1 = max(y0, 0.0), min(y1, float(ny))
        return ((x0 + x1) / 2, (y0 + y1) / 2), (x1 - x0, y1 - y0)
