"""What was loaded: kind, matrix, coils, frames, sequence, trajectory, geometry."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QGroupBox, QLabel, QWidget

from app.model import AppModel

__all__ = ["DataPanel"]


class DataPanel(QGroupBox):
    """A read-only form of the loaded input's description (from ``describe_input``)."""

    def __init__(self, model: AppModel, parent: QWidget | None = None) -> None:
        super().__init__("Scan", parent)
        self.model = model
        self.form = QFormLayout(self)
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.form.setVerticalSpacing(1)  # a dozen rows: keep the method forms in view
        model.input_changed.connect(self.refresh)
        self.refresh()

    def rows(self) -> dict[str, str]:
        """The label → text pairs shown (for tests and copying)."""
        loaded = self.model.input
        if loaded is None:
            return {}
        rows = dict(loaded.description)
        if loaded.demo:
            rows = {"demo": loaded.demo, **rows}
        return rows

    def refresh(self) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        rows = self.rows()
        if not rows:
            self.form.addRow(QLabel("Nothing opened yet."))
            return
        for label, text in rows.items():
            value = QLabel(text)
            value.setWordWrap(True)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            if label == "source" and self.model.input and self.model.input.path:
                value.setToolTip(self.model.input.path)
            self.form.addRow(f"{label.capitalize()}:", value)
