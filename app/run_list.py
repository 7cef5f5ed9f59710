"""Every run kept so far: reconstruction × inference × options × timings.

Selecting a run shows its maps; runs can be renamed (edit the name in place or press
Rename), deleted and exported.
"""

from __future__ import annotations

import json

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.model import AppModel, Run

__all__ = ["RunListPanel"]

_COLUMNS = ("Name", "Methods", "Time", "Device")


def _options_text(run: Run) -> str:
    parts = []
    for title, options in (
        ("reconstruction", run.reconstruction_options),
        ("inference", run.inference_options),
    ):
        if options:
            parts.append(f"{title} options: {json.dumps(options, default=str)}")
    dictionary = run.provenance.get("dictionary")
    if isinstance(dictionary, dict) and dictionary.get("grid"):
        atoms = dictionary.get("atoms")
        size = f", {int(atoms):,} atoms" if isinstance(atoms, int | float) else ""
        rank = f", rank {dictionary['rank']}" if dictionary.get("rank") else ""
        parts.append(f"dictionary: {dictionary['grid']} grid{size}{rank}")
    timings = ", ".join(f"{k} {v:.2f} s" for k, v in run.timings.items())
    if timings:
        parts.append(f"timings: {timings}")
    parts.append(f"created {run.created}")
    return "\n".join(parts)


class RunListPanel(QGroupBox):
    """A table of runs with Show / Rename / Delete / Export buttons.

    Signals
    -------
    export_requested(run_id)
        The main window asks where to and exports that run's maps.
    """

    export_requested = Signal(int)

    def __init__(self, model: AppModel, parent: QWidget | None = None) -> None:
        super().__init__("Runs", parent)
        self.model = model
        self.confirm_delete = True
        layout = QVBoxLayout(self)
        self.table = QTableWidget(0, len(_COLUMNS))
        self.table.setObjectName("run_table")
        self.table.setHorizontalHeaderLabels(list(_COLUMNS))
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(
            QAbstractItemView.EditTrigger.DoubleClicked
            | QAbstractItemView.EditTrigger.EditKeyPressed
        )
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in range(1, len(_COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setMinimumHeight(110)
        layout.addWidget(self.table)
        buttons = QHBoxLayout()
        self.show_button = QPushButton("Show")
        self.rename_button = QPushButton("Rename…")
        self.delete_button = QPushButton("Delete")
        self.export_button = QPushButton("Export…")
        self.show_button.setToolTip("Show this run's maps")
        self.export_button.setToolTip("Save this run's maps as NIfTI with a JSON sidecar")
        for button in (
            self.show_button,
            self.rename_button,
            self.delete_button,
            self.export_button,
        ):
            buttons.addWidget(button)
        layout.addLayout(buttons)

        self._refreshing = False
        self.show_button.clicked.connect(self._show_selected)
        self.rename_button.clicked.connect(self._rename_selected)
        self.delete_button.clicked.connect(self._delete_selected)
        self.export_button.clicked.connect(self._export_selected)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.table.itemChanged.connect(self._item_edited)
        model.runs_changed.connect(self.refresh)
        model.current_run_changed.connect(self._select_current)
        self.refresh()

    def selected_run_id(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        return self.table.item(rows[0].row(), 0).data(Qt.ItemDataRole.UserRole)

    def refresh(self) -> None:
        self._refreshing = True
        try:
            self.table.setRowCount(len(self.model.runs))
            for row, run in enumerate(self.model.runs):
                name = QTableWidgetItem(run.name)
                name.setData(Qt.ItemDataRole.UserRole, run.id)
                name.setToolTip(_options_text(run))
                methods = QTableWidgetItem(run.describe_methods())
                time_text = f"{run.total_seconds:.1f} s" if run.timings else "—"
                cells = [name, methods, QTableWidgetItem(time_text), QTableWidgetItem(run.device)]
                for column, item in enumerate(cells):
                    if column > 0:
                        item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                        item.setToolTip(_options_text(run))
                    self.table.setItem(row, column, item)
        finally:
            self._refreshing = False
        self._select_current()
        self._update_buttons()

    def _select_current(self) -> None:
        current = self.model.current_run_id
        self._refreshing = True
        try:
            for row in range(self.table.rowCount()):
                if self.table.item(row, 0).data(Qt.ItemDataRole.UserRole) == current:
                    self.table.selectRow(row)
                    break
            else:
                self.table.clearSelection()
        finally:
            self._refreshing = False
        self._update_buttons()

    def _update_buttons(self) -> None:
        has = self.selected_run_id() is not None
        for button in (
            self.show_button,
            self.rename_button,
            self.delete_button,
            self.export_button,
        ):
            button.setEnabled(has)

    def _selection_changed(self) -> None:
        self._update_buttons()
        if not self._refreshing:
            self._show_selected()

    def _show_selected(self) -> None:
        run_id = self.selected_run_id()
        if run_id is not None:
            self.model.set_current_run(run_id)

    def _item_edited(self, item: QTableWidgetItem) -> None:
        if self._refreshing or item.column() != 0:
            return
        run_id = item.data(Qt.ItemDataRole.UserRole)
        try:
            self.model.rename_run(run_id, item.text())
        except ValueError:
            self.refresh()  # an empty name: put the old one back

    def _rename_selected(self) -> None:
        run_id = self.selected_run_id()
        if run_id is None:
            return
        name, ok = QInputDialog.getText(
            self, "Rename run", "New name:", text=self.model.run(run_id).name
        )
        if ok and name.strip():
            self.model.rename_run(run_id, name)

    def _delete_selected(self) -> None:
        run_id = self.selected_run_id()
        if run_id is None:
            return
        if self.confirm_delete:
            answer = QMessageBox.question(
                self,
                "Delete run",
                f"Delete the run '{self.model.run(run_id).name}' and its maps?",
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        self.model.delete_run(run_id)

    def _export_selected(self) -> None:
        run_id = self.selected_run_id()
        if run_id is not None:
            self.export_requested.emit(run_id)
