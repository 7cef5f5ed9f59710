"""A small dialog choosing existing T1, T2 (and PD) map files to load as a run."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

__all__ = ["MapsDialog"]

_FILTER = "Maps (*.nii *.nii.gz *.dcm);;All files (*)"


class MapsDialog(QDialog):
    """Three file fields (PD optional); ``paths()`` returns ``(t1, t2, pd | None)``."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Open existing maps")
        layout = QVBoxLayout(self)
        layout.addWidget(
            QLabel(
                "Maps from the scanner or another tool, to compare with MRF Studio's.\n"
                "NIfTI files or DICOM files/folders; T1 and T2 in ms or s (detected)."
            )
        )
        form = QFormLayout()
        self.fields: dict[str, QLineEdit] = {}
        for key, label in (("t1", "T1 map:"), ("t2", "T2 map:"), ("pd", "PD map (optional):")):
            field = QLineEdit()
            field.setObjectName(f"maps_{key}")
            browse = QPushButton("Browse…")
            browse.clicked.connect(lambda _=False, f=field, t=label: self._browse(f, t))
            row = QHBoxLayout()
            row.addWidget(field, 1)
            row.addWidget(browse)
            form.addRow(label, row)
            self.fields[key] = field
            field.textChanged.connect(self._update_ok)
        layout.addLayout(form)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.resize(640, self.sizeHint().height())
        self._update_ok()

    def _browse(self, field: QLineEdit, title: str) -> None:
        path, _ = QFileDialog.getOpenFileName(self, title.rstrip(":"), field.text(), _FILTER)
        if path:
            field.setText(path)

    def _update_ok(self) -> None:
        ok = bool(self.fields["t1"].text().strip() and self.fields["t2"].text().strip())
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ok)

    def paths(self) -> tuple[str, str, str | None]:
        t1, t2, pd = (self.fields[k].text().strip() for k in ("t1", "t2", "pd"))
        return t1, t2, pd or None
