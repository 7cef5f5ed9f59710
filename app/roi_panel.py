"""ROI tools, the list of ROIs and their statistics on every map.

Geometry, masks and statistics come from :mod:`mrfcore.analysis`; this panel only adds,
renames, recolours and deletes ROIs in the model, and shows the statistics table, which
is recomputed at most every ``STATS_INTERVAL_MS`` while an ROI is dragged.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QColorDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.model import AppModel

__all__ = ["STATS_COLUMNS", "RoiPanel"]

STATS_INTERVAL_MS = 100
PALETTE = (
    "#ffcc00", "#00e5ff", "#ff4fd8", "#7cfc00", "#ff8c00", "#4da6ff", "#ff4040", "#b388ff",
)  # fmt: skip
STATS_COLUMNS = (
    ("roi", "ROI"),
    ("map", "Map"),
    ("n", "N"),
    ("mean", "Mean"),
    ("sd", "SD"),
    ("median", "Median"),
    ("iqr", "IQR"),
    ("minimum", "Min"),
    ("maximum", "Max"),
    ("cv_percent", "CV %"),
)
_UNIT_COLUMNS = {"mean", "sd", "median", "iqr", "minimum", "maximum"}


def _number(value: Any) -> str:
    if isinstance(value, int | np.integer):
        return str(int(value))
    if value is None or not math.isfinite(value):
        return "—"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


class RoiPanel(QWidget):
    """Add / rename / recolour / delete ROIs, save and load sets, read statistics.

    Parameters
    ----------
    model
        The application model.
    placement
        Returns ``(centre, size)`` of the visible image area in voxel coordinates, so a
        new ROI appears where the user is looking.

    Signals
    -------
    export_csv_requested(), save_requested(), load_requested()
        The main window asks for a file name and calls back.
    draw_polygon_requested(colour), cancel_polygon_requested()
        Start or stop click-to-draw polygon mode on the maps (the map panel's
        :class:`app.polygon_tool.PolygonTool`); the drawn corners come back through
        :meth:`add_polygon`.
    """

    export_csv_requested = Signal()
    save_requested = Signal()
    load_requested = Signal()
    draw_polygon_requested = Signal(str)
    cancel_polygon_requested = Signal()

    def __init__(
        self,
        model: AppModel,
        placement: Callable[[], tuple[tuple[float, float], tuple[float, float]]],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.model = model
        self.placement = placement
        self.rows: list[dict[str, Any]] = []
        self._refreshing = False
        self._drawing = False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)

        tools = QHBoxLayout()
        tools.addWidget(QLabel("Add ROI:"))
        self.add_buttons = {}
        for kind, text, tip in (
            ("rectangle", "▭ Rectangle", "Add a rectangle; drag its handles to resize or rotate"),
            ("ellipse", "◯ Ellipse / circle", "Add a circle; drag its handles to stretch it"),
            (
                "polygon",
                "⬠ Polygon",
                "Draw a polygon: click its corners on any map; double-click, Enter or a "
                "click on the first corner finishes, Esc cancels. Afterwards drag its "
                "corners, or click an edge to add one",
            ),
        ):
            button = QPushButton(text)
            button.setObjectName(f"add_{kind}")
            button.setToolTip(tip)
            tools.addWidget(button)
            self.add_buttons[kind] = button
        for kind in ("rectangle", "ellipse"):
            self.add_buttons[kind].clicked.connect(lambda _=False, k=kind: self.add_roi(k))
        self.polygon_button = self.add_buttons["polygon"]
        self.polygon_button.setCheckable(True)  # checked while drawing
        self.polygon_button.clicked.connect(self.request_polygon)
        tools.addSpacing(12)
        self.colour_button = QPushButton("Colour…")
        self.delete_button = QPushButton("Delete ROI")
        self.delete_button.setShortcut("Delete")
        tools.addWidget(self.colour_button)
        tools.addWidget(self.delete_button)
        tools.addStretch(1)
        self.save_button = QPushButton("Save ROIs…")
        self.load_button = QPushButton("Load ROIs…")
        self.csv_button = QPushButton("Export statistics (CSV)…")
        for button in (self.save_button, self.load_button, self.csv_button):
            tools.addWidget(button)
        layout.addLayout(tools)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        self.roi_table = QTableWidget(0, 2)
        self.roi_table.setObjectName("roi_table")
        self.roi_table.setHorizontalHeaderLabels(["ROI", "Shape"])
        self.roi_table.setToolTip("Double-click a name to rename the ROI")
        self.roi_table.verticalHeader().setVisible(False)
        self.roi_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.roi_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.roi_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.stats_table = QTableWidget(0, len(STATS_COLUMNS))
        self.stats_table.setObjectName("stats_table")
        self.stats_table.setHorizontalHeaderLabels([title for _, title in STATS_COLUMNS])
        self.stats_table.verticalHeader().setVisible(False)
        self.stats_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.stats_table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents
        )
        splitter.addWidget(self.roi_table)
        splitter.addWidget(self.stats_table)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 3)
        layout.addWidget(splitter, 1)
        self.hint = QLabel()
        layout.addWidget(self.hint)

        self._stats_timer = QTimer(self, singleShot=True, interval=STATS_INTERVAL_MS)
        self._stats_timer.timeout.connect(self.update_statistics)

        self.colour_button.clicked.connect(self._choose_colour)
        self.delete_button.clicked.connect(self._delete_selected)
        self.save_button.clicked.connect(self.save_requested)
        self.load_button.clicked.connect(self.load_requested)
        self.csv_button.clicked.connect(self.export_csv_requested)
        self.roi_table.itemChanged.connect(self._item_edited)
        self.roi_table.itemSelectionChanged.connect(self._table_selection_changed)
        for event in (model.roi_added, model.roi_removed, model.rois_reset):
            event.connect(self._rois_edited)
        model.roi_changed.connect(self._roi_changed)
        model.current_run_changed.connect(self.schedule_statistics)
        model.view_changed.connect(self._view_changed)
        model.selected_roi_changed.connect(self._select_in_table)
        self.refresh_list()
        self.update_statistics()

    # -- ROI editing ------------------------------------------------------------------------
    def next_colour(self) -> str:
        """The colour the next ROI gets."""
        return PALETTE[len(self.model.rois) % len(PALETTE)]

    def _roi_fields(self) -> dict[str, Any] | None:
        """Name, colour and slice of a new ROI; None (with a hint) when there are no maps."""
        run = self.model.current_run
        if run is None:
            self.hint.setText("Run a method (or open maps) first; ROIs are drawn on maps.")
            return None
        three_d = run.maps.geometry.ndim == 3
        return {
            "name": self.model.unique_roi_name(),
            "colour": self.next_colour(),
            "slice_index": self.model.view.slice_index if three_d else None,
        }

    def add_roi(self, kind: str) -> int | None:
        """Add an ROI of ``kind`` in the middle of the visible image; returns its id.

        The buttons use this for rectangles and ellipses; polygons are drawn by clicking
        (:meth:`request_polygon`), and ``add_roi("polygon")`` (for scripts) makes a
        regular pentagon.
        """
        from mrfcore.analysis import ROI

        fields = self._roi_fields()
        if fields is None:
            return None
        (cx, cy), (width, height) = self.placement()
        side = max(2.0, min(width, height) / 6)
        if kind == "polygon":
            angles = np.pi / 2 + 2 * np.pi * np.arange(5) / 5
            points = np.stack([cx + side / 2 * np.cos(angles), cy + side / 2 * np.sin(angles)], 1)
            roi = ROI(kind=kind, points=points, **fields)
        else:
            roi = ROI.box(fields.pop("name"), kind, (cx, cy), (side, side), **fields)
        return self.model.add_roi(roi)

    def request_polygon(self) -> None:
        """Start drawing a polygon on the maps, or stop when already drawing."""
        # The button shows the drawing state the map panel reports (set_polygon_drawing),
        # not its own toggling.
        self.set_polygon_drawing(self._drawing)
        if self._drawing:
            self.cancel_polygon_requested.emit()
        elif self._roi_fields() is not None:
            self.draw_polygon_requested.emit(self.next_colour())

    def set_polygon_drawing(self, active: bool) -> None:
        """Show whether polygon drawing is under way (the button stays pressed)."""
        self._drawing = active
        self.polygon_button.blockSignals(True)
        self.polygon_button.setChecked(active)
        self.polygon_button.blockSignals(False)

    def add_polygon(self, points: np.ndarray) -> int | None:
        """Add the polygon with corners ``points`` (float (P, 2), voxel coordinates, P ≥ 3)
        as an ROI; returns its id."""
        from mrfcore.analysis import ROI

        fields = self._roi_fields()
        if fields is None:
            return None
        return self.model.add_roi(ROI(kind="polygon", points=points, **fields))

    def _delete_selected(self) -> None:
        uid = self.model.selected_roi
        if uid is not None:
            self.model.remove_roi(uid)

    def _choose_colour(self) -> None:
        uid = self.model.selected_roi
        if uid is None:
            return
        colour = QColorDialog.getColor(QColor(self.model.rois[uid].colour), self, "ROI colour")
        if colour.isValid():
            self.model.edit_roi(uid, colour=colour.name())

    # -- list -------------------------------------------------------------------------------
    def refresh_list(self) -> None:
        self._refreshing = True
        try:
            self.roi_table.setRowCount(len(self.model.rois))
            for row, (uid, roi) in enumerate(self.model.rois.items()):
                name = QTableWidgetItem(roi.name)
                name.setData(Qt.ItemDataRole.UserRole, uid)
                name.setData(Qt.ItemDataRole.DecorationRole, QColor(roi.colour))
                shape = QTableWidgetItem(roi.kind)
                shape.setFlags(shape.flags() & ~Qt.ItemFlag.ItemIsEditable)
                self.roi_table.setItem(row, 0, name)
                self.roi_table.setItem(row, 1, shape)
        finally:
            self._refreshing = False
        self._select_in_table(self.model.selected_roi)
        has_rois = bool(self.model.rois)
        self.colour_button.setEnabled(has_rois)
        self.delete_button.setEnabled(has_rois)
        self.save_button.setEnabled(has_rois)
        self.csv_button.setEnabled(has_rois and self.model.current_run is not None)
        if not has_rois:
            self.hint.setText(
                "Add an ROI, then drag it onto the tissue or vial; "
                "it applies to every map and its statistics appear here."
            )
        else:
            self.hint.setText("")

    def _item_edited(self, item: QTableWidgetItem) -> None:
        if self._refreshing or item.column() != 0:
            return
        uid = item.data(Qt.ItemDataRole.UserRole)
        name = item.text().strip()
        if name and uid in self.model.rois:
            self.model.edit_roi(uid, name=name)
        else:
            self.refresh_list()

    def _table_selection_changed(self) -> None:
        if self._refreshing:
            return
        rows = self.roi_table.selectionModel().selectedRows()
        if rows:
            self.model.select_roi(
                self.roi_table.item(rows[0].row(), 0).data(Qt.ItemDataRole.UserRole)
            )

    def _select_in_table(self, uid: int | None) -> None:
        self._refreshing = True
        try:
            for row in range(self.roi_table.rowCount()):
                if self.roi_table.item(row, 0).data(Qt.ItemDataRole.UserRole) == uid:
                    self.roi_table.selectRow(row)
                    break
            else:
                self.roi_table.clearSelection()
        finally:
            self._refreshing = False

    def _rois_edited(self, *_args: Any) -> None:
        self.refresh_list()
        self.schedule_statistics()

    def _roi_changed(self, uid: int, _origin: object) -> None:
        # Geometry edits arrive at mouse rate: only names and colours touch the list.
        roi = self.model.rois[uid]
        for row in range(self.roi_table.rowCount()):
            item = self.roi_table.item(row, 0)
            if item.data(Qt.ItemDataRole.UserRole) == uid and (
                item.text() != roi.name
                or item.data(Qt.ItemDataRole.DecorationRole).name() != roi.colour
            ):
                self.refresh_list()
                break
        self.schedule_statistics()

    def _view_changed(self, key: str) -> None:
        if key in ("slice", "all"):
            self.schedule_statistics()
        elif key == "extras":
            self._show_rows()

    # -- statistics ---------------------------------------------------------------------------
    def schedule_statistics(self, *_args: Any) -> None:
        """Recompute soon; bursts of edits (dragging) recompute once per interval."""
        if not self._stats_timer.isActive():
            self._stats_timer.start()

    def update_statistics(self) -> None:
        """Recompute the table now with :func:`mrfcore.analysis.statistics_table`."""
        self._stats_timer.stop()
        run = self.model.current_run
        if run is None or not self.model.rois:
            self.rows = []
        else:
            from mrfcore.analysis import statistics_table

            self.rows = statistics_table(run.maps, list(self.model.rois.values()))
        self._show_rows()
        self.csv_button.setEnabled(bool(self.rows))

    def shown_rows(self) -> list[dict[str, Any]]:
        """The rows of the maps on screen (T1, T2, PD and the extras shown); the CSV
        export has every map."""
        shown = {"T1", "T2", "PD", *self.model.view.shown_extras}
        return [row for row in self.rows if row["map"] in shown]

    def _show_rows(self) -> None:
        table = self.stats_table
        rows = self.shown_rows()
        table.setRowCount(len(rows))
        colours = {roi.name: roi.colour for roi in self.model.rois.values()}
        for row, values in enumerate(rows):
            for column, (key, _) in enumerate(STATS_COLUMNS):
                value = values.get(key)
                if key in ("roi", "map"):
                    text = str(value)
                else:
                    text = _number(value)
                    if key in _UNIT_COLUMNS and text != "—" and values.get("unit"):
                        text += f" {values['unit']}"
                item = table.item(row, column)
                if item is None:
                    item = QTableWidgetItem()
                    table.setItem(row, column, item)
                item.setText(text)
                if key == "roi":
                    swatch = colours.get(str(value))
                    item.setData(Qt.ItemDataRole.DecorationRole, QColor(swatch) if swatch else None)
                if key not in ("roi", "map"):
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
