"""Agreement between two runs, or between a run and reference values (Bland-Altman).

The pairs are chosen here (ROI means from :func:`mrfcore.analysis.statistics_table`, or
voxels inside :func:`mrfcore.analysis.roi_mask`), and the analysis is
:func:`mrfcore.analysis.bland_altman`: bias, 95 % limits of agreement and their
confidence intervals are drawn and listed.  Beside the Bland-Altman plot sit an
identity scatter plot (B against A) and, for two runs, the difference map B − A.

What is compared, and the reference values typed in or filled from a table (with the
table, batch, field and temperature picked), live in the model's
:class:`app.model.ComparisonSettings`, so that a saved session brings them back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
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

from app.model import REFERENCE_VALUES, AppModel, ComparisonSettings

__all__ = ["BlandAltmanPanel", "Comparison"]

REFERENCE = REFERENCE_VALUES
PER_ROI = "roi"
PER_VOXEL = "voxel"
_MAX_PLOTTED_POINTS = 20_000
_DIFFERENCE_COLORMAP = "CET-D1"


@dataclass
class Comparison:
    """The pairs compared and the analysis (for the plots, the listing and tests).

    ``reference`` (A) and ``measured`` (B) are in the map's unit; ``result`` is a
    :class:`mrfcore.analysis.BlandAltman`.  ``difference_map`` is B − A (or its
    percentage of the pair mean) on the shown slice, for two runs only.
    """

    reference: np.ndarray
    measured: np.ndarray
    result: Any
    unit: str
    label_a: str
    label_b: str
    pairs: str
    difference_map: np.ndarray | None = None


def _sphere_from_name(name: str, fallback: int) -> int:
    match = re.search(r"(\d+)\s*$", name)
    return int(match.group(1)) if match else fallback


class BlandAltmanPanel(QWidget):
    """Controls, reference-value table, results listing and the three plots.

    Signals
    -------
    export_requested(widget)
        Save ``widget`` (the plots) as PNG or SVG; the main window asks where.
    """

    export_requested = Signal(object)

    def __init__(self, model: AppModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.comparison: Comparison | None = None
        self._dirty = True
        self._filling = False
        outer = QHBoxLayout(self)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        outer.addWidget(splitter)

        controls = QWidget()
        controls_layout = QVBoxLayout(controls)
        choose = QGroupBox("Compare")
        form = QFormLayout(choose)
        self.measured_combo = QComboBox()
        self.measured_combo.setObjectName("ba_measured")
        self.reference_combo = QComboBox()
        self.reference_combo.setObjectName("ba_reference")
        self.map_combo = QComboBox()
        self.map_combo.setObjectName("ba_map")
        self.pairs_combo = QComboBox()
        self.pairs_combo.setObjectName("ba_pairs")
        self.pairs_combo.addItem("Per ROI: ROI means", PER_ROI)
        self.pairs_combo.addItem("Per voxel inside the ROIs", PER_VOXEL)
        self.difference_combo = QComboBox()
        self.difference_combo.setObjectName("ba_difference")
        self.difference_combo.addItem("Absolute: B − A", False)
        self.difference_combo.addItem("Percentage: 100 · (B − A) / mean", True)
        form.addRow("Measured (B):", self.measured_combo)
        form.addRow("Against (A):", self.reference_combo)
        form.addRow("Map:", self.map_combo)
        form.addRow("Pairs:", self.pairs_combo)
        form.addRow("Differences:", self.difference_combo)
        controls_layout.addWidget(choose)

        self.reference_box = QGroupBox("Reference values (A) per ROI")
        reference_layout = QVBoxLayout(self.reference_box)
        picker = QFormLayout()
        self.phantom_combo = QComboBox()
        self.phantom_combo.addItem("NIST / CaliberMRI system phantom", "nist")
        self.phantom_combo.addItem("EUROSPIN TO5", "eurospin")
        self.set_combo = QComboBox()
        self.set_combo.setObjectName("ba_reference_set")
        self.temperature = QDoubleSpinBox()
        self.temperature.setRange(0.0, 40.0)
        self.temperature.setValue(20.0)
        self.temperature.setSuffix(" °C")
        self.temperature.setDecimals(1)
        self.temperature.setToolTip(
            "Phantom temperature; values between tabulated ones are interpolated"
        )
        self.fill_button = QPushButton("Fill from table")
        self.fill_button.setObjectName("ba_fill")
        self.fill_button.setToolTip(
            "Put the published reference T1 and T2 of each ROI's sphere or vial into the table"
        )
        picker.addRow("Phantom:", self.phantom_combo)
        picker.addRow("Batch / field / plate:", self.set_combo)
        picker.addRow("Temperature:", self.temperature)
        reference_layout.addLayout(picker)
        reference_layout.addWidget(self.fill_button)
        self.reference_table = QTableWidget(0, 4)
        self.reference_table.setObjectName("ba_reference_table")
        self.reference_table.setHorizontalHeaderLabels(
            ["ROI", "Sphere / vial", "T1 (ms)", "T2 (ms)"]
        )
        self.reference_table.verticalHeader().setVisible(False)
        self.reference_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.reference_table.setToolTip("Type reference values, or fill them from a table")
        reference_layout.addWidget(self.reference_table)
        self.reference_note = QLabel()
        self.reference_note.setWordWrap(True)
        reference_layout.addWidget(self.reference_note)
        controls_layout.addWidget(self.reference_box)

        results_box = QGroupBox("Agreement")
        results_layout = QVBoxLayout(results_box)
        self.results = QLabel()
        self.results.setObjectName("ba_results")
        self.results.setWordWrap(True)
        self.results.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        results_layout.addWidget(self.results)
        self.export_button = QPushButton("Save plots (PNG/SVG)…")
        results_layout.addWidget(self.export_button)
        controls_layout.addWidget(results_box)
        controls_layout.addStretch(1)
        splitter.addWidget(controls)

        self.plots = QWidget()
        plots_layout = QVBoxLayout(self.plots)
        plots_layout.setContentsMargins(0, 0, 0, 0)
        self.ba_plot = pg.PlotWidget(background="w")
        self.ba_plot.setObjectName("ba_plot")
        self.ba_plot.showGrid(x=True, y=True, alpha=0.2)
        self.ba_plot.setTitle("Bland-Altman")
        plots_layout.addWidget(self.ba_plot, 3)
        lower = QHBoxLayout()
        self.identity_plot = pg.PlotWidget(background="w")
        self.identity_plot.showGrid(x=True, y=True, alpha=0.2)
        self.identity_plot.setTitle("B against A")
        self.difference_view = pg.GraphicsLayoutWidget()
        self.difference_box = self.difference_view.addViewBox(row=0, col=0, lockAspect=True)
        self.difference_image = pg.ImageItem(axisOrder="col-major")
        self.difference_box.addItem(self.difference_image)
        self.difference_bar = pg.ColorBarItem(
            interactive=True,
            colorMap=_DIFFERENCE_COLORMAP,
            colorMapMenu=False,
            width=14,
            rounding=1e-6,
        )
        self.difference_bar.setImageItem(self.difference_image)
        self.difference_view.addItem(self.difference_bar, row=0, col=1)
        self.difference_title = QLabel("Difference map B − A")
        difference_holder = QWidget()
        self.difference_holder = difference_holder  # hidden when there is no map to show
        difference_layout = QVBoxLayout(difference_holder)
        difference_layout.setContentsMargins(0, 0, 0, 0)
        difference_layout.addWidget(self.difference_title)
        difference_layout.addWidget(self.difference_view, 1)
        lower.addWidget(self.identity_plot, 1)
        lower.addWidget(difference_holder, 1)
        plots_layout.addLayout(lower, 2)
        splitter.addWidget(self.plots)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 3)

        self._recompute_timer = QTimer(self, singleShot=True, interval=150)
        self._recompute_timer.timeout.connect(self.recompute)
        for combo in (
            self.measured_combo, self.reference_combo, self.map_combo, self.pairs_combo,
            self.difference_combo,
        ):  # fmt: skip
            combo.currentIndexChanged.connect(self._store_choices)
            combo.currentIndexChanged.connect(self.schedule)
        self.reference_combo.currentIndexChanged.connect(self._update_reference_visibility)
        self.phantom_combo.currentIndexChanged.connect(self._phantom_chosen)
        self.set_combo.currentIndexChanged.connect(self._store_reference_set)
        self.temperature.valueChanged.connect(self._store_temperature)
        self.fill_button.clicked.connect(self.fill_from_table)
        self.reference_table.itemChanged.connect(self._reference_edited)
        self.export_button.clicked.connect(lambda: self.export_requested.emit(self.plots))
        model.runs_changed.connect(self.refresh_choices)
        model.current_run_changed.connect(self.refresh_choices)
        for event in (model.roi_added, model.roi_changed, model.roi_removed, model.rois_reset):
            event.connect(self._rois_edited)
        model.view_changed.connect(self._view_changed)
        model.comparison_changed.connect(self._comparison_replaced)
        self._sets_filled = False
        self.refresh_choices()

    # -- the settings kept in the model ----------------------------------------------------
    @property
    def settings(self) -> ComparisonSettings:
        """The model's :class:`app.model.ComparisonSettings` (edited in place)."""
        return self.model.comparison

    @property
    def reference_values(self) -> dict[str, dict[str, float]]:
        """ROI name → {"T1": ms, "T2": ms}, as typed in or filled from a table."""
        return self.settings.reference_values

    @property
    def spheres(self) -> dict[str, int]:
        """ROI name → sphere / vial number."""
        return self.settings.spheres

    def _store_choices(self, *_args: Any) -> None:
        settings = self.settings
        settings.measured_run = self.measured_combo.currentData()
        settings.against = self.reference_combo.currentData()
        settings.map_name = self.map_combo.currentText()
        settings.pairs = self.pairs_combo.currentData()
        settings.percentage = bool(self.difference_combo.currentData())

    def _store_reference_set(self, *_args: Any) -> None:
        chosen = self.set_combo.currentData()
        if chosen is not None:
            self.settings.reference_set = {
                "batch": chosen.batch,
                "field_strength_t": float(chosen.field_strength_t),
                "plate": chosen.plate,
            }

    def _store_temperature(self, value: float) -> None:
        self.settings.temperature_c = float(value)

    def _phantom_chosen(self, *_args: Any) -> None:
        self.settings.phantom = self.phantom_combo.currentData()
        self._fill_sets()

    def _comparison_replaced(self) -> None:
        """Show the settings of a reopened session."""
        settings = self.settings
        for combo, data in (
            (self.pairs_combo, settings.pairs),
            (self.difference_combo, bool(settings.percentage)),
            (self.phantom_combo, settings.phantom),
        ):
            combo.blockSignals(True)
            self._select(combo, data)
            combo.blockSignals(False)
        self.temperature.blockSignals(True)
        self.temperature.setValue(settings.temperature_c)
        self.temperature.blockSignals(False)
        self._sets_filled = False  # refilled (for the session's phantom) when shown
        self.refresh_choices()

    # -- choices ---------------------------------------------------------------------------
    def refresh_choices(self, *_args: Any) -> None:
        """List the runs (B, A) and the maps they share."""
        runs = self.model.runs
        settings = self.settings
        previous = (settings.measured_run, settings.against, settings.map_name)
        for combo in (self.measured_combo, self.reference_combo, self.map_combo):
            combo.blockSignals(True)
            combo.clear()
        for run in runs:
            for combo in (self.measured_combo, self.reference_combo):
                combo.addItem(run.name, run.id)
                combo.setItemData(
                    combo.count() - 1,
                    f"{run.name}\n{run.describe_methods()}",
                    Qt.ItemDataRole.ToolTipRole,
                )
        self.reference_combo.addItem("Reference values (typed in or from a table)", REFERENCE)
        measured = previous[0] if previous[0] in [r.id for r in runs] else self.model.current_run_id
        self._select(self.measured_combo, measured)
        if previous[1] is not None and self.reference_combo.findData(previous[1]) >= 0:
            self._select(self.reference_combo, previous[1])
        else:
            others = [r.id for r in runs if r.id != measured]
            self._select(self.reference_combo, others[-1] if others else REFERENCE)
        names: list[str] = []
        for run in runs:
            for name in run.maps.maps():
                if name not in names:
                    names.append(name)
        self.map_combo.addItems(names or ["T1", "T2", "PD"])
        if previous[2] and self.map_combo.findText(previous[2]) >= 0:
            self.map_combo.setCurrentText(previous[2])
        for combo in (self.measured_combo, self.reference_combo, self.map_combo):
            combo.blockSignals(False)
        self._store_choices()
        self._update_reference_visibility()
        self.schedule()

    @staticmethod
    def _select(combo: QComboBox, data: Any) -> None:
        index = combo.findData(data)
        if index >= 0:
            combo.setCurrentIndex(index)

    def _update_reference_visibility(self, *_args: Any) -> None:
        is_reference = self.reference_combo.currentData() == REFERENCE
        self.reference_box.setVisible(is_reference)
        self.pairs_combo.setEnabled(not is_reference)
        if is_reference:
            if not self._sets_filled:
                self._fill_sets()
            self._refresh_reference_table()

    def _fill_sets(self, *_args: Any) -> None:
        from mrfcore import phantoms

        self._sets_filled = True
        phantom = self.phantom_combo.currentData()
        sets = (
            phantoms.nist_reference_sets()
            if phantom == "nist"
            else phantoms.eurospin_reference_sets()
        )
        self.set_combo.blockSignals(True)
        self.set_combo.clear()
        chosen = self.settings.reference_set or {}
        for item in sets:
            text = f"{item.batch} · {item.field_strength_t:g} T · {item.plate} plate"
            self.set_combo.addItem(text, item)
            self.set_combo.setItemData(
                self.set_combo.count() - 1,
                f"{item.description}\n{item.note}".strip(),
                Qt.ItemDataRole.ToolTipRole,
            )
            if (item.batch, float(item.field_strength_t), item.plate) == (
                chosen.get("batch"), chosen.get("field_strength_t"), chosen.get("plate"),
            ):  # fmt: skip
                self.set_combo.setCurrentIndex(self.set_combo.count() - 1)
        self.set_combo.blockSignals(False)
        self._store_reference_set()

    # -- reference values -------------------------------------------------------------------
    def _refresh_reference_table(self) -> None:
        self._filling = True
        try:
            rois = list(self.model.rois.values())
            self.reference_table.setRowCount(len(rois))
            for row, roi in enumerate(rois):
                name = QTableWidgetItem(roi.name)
                name.setFlags(name.flags() & ~Qt.ItemFlag.ItemIsEditable)
                sphere = self.spheres.setdefault(roi.name, _sphere_from_name(roi.name, row + 1))
                values = self.reference_values.get(roi.name, {})
                cells = [
                    name,
                    QTableWidgetItem(str(sphere)),
                    QTableWidgetItem(f"{values['T1']:g}" if "T1" in values else ""),
                    QTableWidgetItem(f"{values['T2']:g}" if "T2" in values else ""),
                ]
                for column, item in enumerate(cells):
                    self.reference_table.setItem(row, column, item)
        finally:
            self._filling = False

    def _reference_edited(self, item: QTableWidgetItem) -> None:
        if self._filling:
            return
        name = self.reference_table.item(item.row(), 0).text()
        text = item.text().strip().replace(",", "")
        if item.column() == 1:
            try:
                self.spheres[name] = int(text)
            except ValueError:
                self._refresh_reference_table()
            return
        key = {2: "T1", 3: "T2"}[item.column()]
        values = self.reference_values.setdefault(name, {})
        try:
            if text:
                values[key] = float(text)
                self._show_cell(item, f"{values[key]:g}")  # "1,100" is shown as 1100
            else:
                values.pop(key, None)
        except ValueError:
            values.pop(key, None)
            self._refresh_reference_table()
        self.schedule()

    def _show_cell(self, item: QTableWidgetItem, text: str) -> None:
        if item.text() != text:
            self._filling = True
            try:
                item.setText(text)
            finally:
                self._filling = False

    def set_reference_value(self, roi_name: str, map_name: str, value: float) -> None:
        """Type a reference value (as the user would in the table)."""
        self.reference_values.setdefault(roi_name, {})[map_name] = float(value)
        self._refresh_reference_table()
        self.schedule()

    def fill_from_table(self) -> None:
        """Reference T1/T2 of each ROI's sphere from the chosen published table."""
        from mrfcore import phantoms

        chosen = self.set_combo.currentData()
        if chosen is None:
            return
        try:
            if chosen.phantom == "nist":
                values = phantoms.nist_reference_values(
                    chosen.field_strength_t, chosen.batch, self.temperature.value(), chosen.plate
                )
            else:
                values = phantoms.eurospin_reference_values(
                    chosen.field_strength_t, self.temperature.value()
                )
        except ValueError as error:
            self.reference_note.setText(f"<span style='color:#c00'>{error}</span>")
            return
        by_sphere = {value.sphere: value for value in values}
        missing = []
        for roi in self.model.rois.values():
            sphere = self.spheres.get(roi.name, _sphere_from_name(roi.name, 0))
            value = by_sphere.get(sphere)
            if value is None:
                missing.append(roi.name)
                continue
            self.reference_values[roi.name] = {"T1": value.t1_ms, "T2": value.t2_ms}
        notes = sorted({v.note for v in values if v.note})
        text = f"From {values[0].source}" if values else ""
        if missing:
            text += f". No sphere/vial number matches: {', '.join(missing)}"
        if notes:
            text += ". " + "; ".join(notes)
        self.reference_note.setText(text)
        self._refresh_reference_table()
        self.schedule()

    # -- computing -------------------------------------------------------------------------
    def _rois_edited(self, *_args: Any) -> None:
        if self.reference_combo.currentData() == REFERENCE:
            self._refresh_reference_table()
        self.schedule()

    def _view_changed(self, key: str) -> None:
        if key in ("slice", "all"):
            self.schedule()

    def schedule(self, *_args: Any) -> None:
        """Recompute soon, or when the panel is next shown."""
        self._dirty = True
        if self.isVisible() and not self._recompute_timer.isActive():
            self._recompute_timer.start()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        if self._dirty:
            self._recompute_timer.start()

    def recompute(self) -> Comparison | None:
        """Pair the values, run the analysis and redraw; returns what was compared."""
        self._recompute_timer.stop()
        self._dirty = False
        try:
            self.comparison = self._compare()
        except ValueError as error:
            self.comparison = None
            self._show_message(str(error))
            return None
        self._draw(self.comparison)
        return self.comparison

    def _compare(self) -> Comparison:
        from mrfcore.analysis import bland_altman, roi_mask, statistics_table

        measured_id = self.measured_combo.currentData()
        against = self.reference_combo.currentData()
        map_name = self.map_combo.currentText()
        percentage = bool(self.difference_combo.currentData())
        if measured_id is None:
            raise ValueError("Run a method first: there is nothing to compare yet.")
        run_b = self.model.run(measured_id)
        if map_name not in run_b.maps.maps():
            raise ValueError(f"The run '{run_b.name}' has no {map_name} map.")
        values_b, unit = run_b.maps.maps()[map_name]
        rois = list(self.model.rois.values())
        if against == REFERENCE:
            if not rois:
                raise ValueError(
                    "Draw an ROI on each vial, then enter or fill its reference value."
                )
            rows = {r["roi"]: r for r in statistics_table(run_b.maps, rois) if r["map"] == map_name}
            names = [
                roi.name for roi in rois if map_name in self.reference_values.get(roi.name, {})
            ]
            if not names:
                raise ValueError(
                    f"Enter reference {map_name} values for the ROIs (table on the left)."
                )
            reference = np.array([self.reference_values[n][map_name] for n in names])
            measured = np.array([rows[n]["mean"] for n in names])
            result = bland_altman(reference, measured, percentage=percentage)
            return Comparison(reference, measured, result, unit, "reference", run_b.name, PER_ROI)

        run_a = self.model.run(against)
        if map_name not in run_a.maps.maps():
            raise ValueError(f"The run '{run_a.name}' has no {map_name} map.")
        values_a, _ = run_a.maps.maps()[map_name]
        if values_a.shape != values_b.shape:
            raise ValueError(
                f"The runs have different matrices ({values_a.shape} and {values_b.shape})."
            )
        pairs = self.pairs_combo.currentData()
        if pairs == PER_ROI:
            if len(rois) < 3:
                raise ValueError("Per-ROI comparison needs at least 3 ROIs.")
            rows_a = {
                r["roi"]: r for r in statistics_table(run_a.maps, rois) if r["map"] == map_name
            }
            rows_b = {
                r["roi"]: r for r in statistics_table(run_b.maps, rois) if r["map"] == map_name
            }
            reference = np.array([rows_a[roi.name]["mean"] for roi in rois])
            measured = np.array([rows_b[roi.name]["mean"] for roi in rois])
        else:
            if rois:
                inside = np.zeros(values_a.shape, dtype=bool)
                for roi in rois:
                    inside |= roi_mask(roi, values_a.shape)
            else:
                inside = np.ones(values_a.shape, dtype=bool)
            reference, measured = values_a[inside], values_b[inside]
        result = bland_altman(reference, measured, percentage=percentage)
        difference = self._difference_map(values_a, values_b, percentage)
        return Comparison(
            reference, measured, result, unit, run_a.name, run_b.name, pairs, difference
        )

    def _difference_map(self, a: np.ndarray, b: np.ndarray, percentage: bool) -> np.ndarray:
        if a.ndim == 3:
            index = min(self.model.view.slice_index, a.shape[2] - 1)
            a, b = a[:, :, index], b[:, :, index]
        a, b = np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)
        with np.errstate(divide="ignore", invalid="ignore"):
            return 100 * (b - a) / ((a + b) / 2) if percentage else b - a

    # -- drawing ---------------------------------------------------------------------------
    def _show_message(self, text: str) -> None:
        self.results.setText(text)
        for plot in (self.ba_plot, self.identity_plot):
            plot.clear()
        self.difference_image.clear()

    def listing(self) -> str:
        """The numbers shown, as plain text."""
        comparison = self.comparison
        if comparison is None:
            return self.results.text()
        r = comparison.result
        unit = "%" if r.percentage else comparison.unit
        level = f"{100 * r.confidence:g} %"

        def ci(pair: tuple[float, float]) -> str:
            return f"({level} CI {pair[0]:.4g} to {pair[1]:.4g})"

        pairs = {PER_ROI: "ROI means", PER_VOXEL: "voxels in the ROIs"}[comparison.pairs]
        return "\n".join(
            [
                f"B = {comparison.label_b}, A = {comparison.label_a}",
                f"n = {r.n} pairs ({pairs})",
                f"Bias (mean B − A): {r.bias:.4g} {unit} {ci(r.bias_ci)}",
                f"SD of differences: {r.sd:.4g} {unit}",
                f"Lower limit of agreement: {r.lower:.4g} {unit} {ci(r.lower_ci)}",
                f"Upper limit of agreement: {r.upper:.4g} {unit} {ci(r.upper_ci)}",
            ]
        )

    def _draw(self, comparison: Comparison) -> None:
        r = comparison.result
        unit = "%" if r.percentage else comparison.unit
        self.results.setText(self.listing().replace("\n", "<br>"))
        mean, difference = r.mean, r.difference
        keep = np.isfinite(comparison.reference) & np.isfinite(comparison.measured)
        a, b = comparison.reference[keep], comparison.measured[keep]
        if mean.size > _MAX_PLOTTED_POINTS:  # the drawing only; statistics use every pair
            step = mean.size // _MAX_PLOTTED_POINTS + 1
            mean, difference, a, b = mean[::step], difference[::step], a[::step], b[::step]
        small = mean.size <= 200
        symbol = {"size": 8 if small else 3, "pen": None, "brush": pg.mkBrush(30, 90, 200, 160)}

        plot = self.ba_plot
        plot.clear()
        plot.addItem(pg.ScatterPlotItem(mean, difference, **symbol))
        for value, ci, text, style in (
            (r.bias, r.bias_ci, "bias", Qt.PenStyle.SolidLine),
            (r.lower, r.lower_ci, "−1.96 SD", Qt.PenStyle.DashLine),
            (r.upper, r.upper_ci, "+1.96 SD", Qt.PenStyle.DashLine),
        ):
            band = pg.LinearRegionItem(
                values=ci, orientation="horizontal", movable=False,
                brush=pg.mkBrush(200, 60, 60, 40), pen=pg.mkPen(None),
            )  # fmt: skip
            plot.addItem(band)
            line = pg.InfiniteLine(
                pos=value, angle=0, pen=pg.mkPen((200, 40, 40), width=2, style=style),
                label=f"{text} {value:.3g} {unit}",
                labelOpts={"position": 0.92, "color": (150, 20, 20), "anchors": [(1, 1), (1, 1)]},
            )  # fmt: skip
            plot.addItem(line)
        zero = pg.InfiniteLine(pos=0, angle=0, pen=pg.mkPen((120, 120, 120), width=1))
        plot.addItem(zero, ignoreBounds=True)  # a reference, not data: keep it out of the range
        plot.setLabel("bottom", f"Mean of A and B ({comparison.unit})")
        plot.setLabel("left", "100 · (B − A) / mean (%)" if r.percentage else f"B − A ({unit})")
        plot.autoRange()

        identity = self.identity_plot
        identity.clear()
        identity.addItem(pg.ScatterPlotItem(a, b, **symbol))
        if a.size:
            low = float(min(a.min(), b.min()))
            high = float(max(a.max(), b.max()))
            identity.plot(
                [low, high],
                [low, high],
                pen=pg.mkPen((120, 120, 120), width=1, style=Qt.PenStyle.DashLine),
            )
        # Run names are long: the axes say A and B, the tooltip and the listing name them.
        identity.setLabel("bottom", f"A ({comparison.unit})")
        identity.setLabel("left", f"B ({comparison.unit})")
        identity.setToolTip(f"A: {comparison.label_a}\nB: {comparison.label_b}")
        if a.size:
            # The same range on both axes, so that the identity line is the diagonal;
            # not an aspect lock, which would pad one axis into negative times.
            pad = 0.05 * (high - low) or 1.0
            identity.setXRange(low - pad, high + pad, padding=0)
            identity.setYRange(low - pad, high + pad, padding=0)
        else:
            identity.autoRange()

        # Against reference values there is no map of differences: the identity plot
        # takes the whole row rather than sit beside an empty panel.
        self.difference_holder.setVisible(comparison.difference_map is not None)
        if comparison.difference_map is None:
            self.difference_image.clear()
            self.difference_title.setText("Difference map: only for two runs")
        else:
            values = comparison.difference_map
            finite = np.abs(values[np.isfinite(values)])
            bound = float(np.percentile(finite, 99)) if finite.size else 1.0
            bound = bound if bound > 0 else 1.0
            self.difference_image.setImage(values, autoLevels=False)
            self.difference_bar.setLevels((-bound, bound))
            self.difference_box.autoRange(padding=0.02)
            where = (
                ", the slice shown in the Maps tab"
                if values.ndim == 2
                and (
                    self.model.current_run is not None
                    and self.model.current_run.maps.geometry.ndim == 3
                )
                else ""
            )
            self.difference_title.setText(f"Difference map B − A ({unit}){where}")
