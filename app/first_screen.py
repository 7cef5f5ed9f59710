"""The screen a user sees first: open a scan, try a demo, or reopen a recent file."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

__all__ = ["FirstScreen"]


def _big_button(text: str, tip: str, name: str) -> QPushButton:
    button = QPushButton(text)
    button.setObjectName(name)
    button.setToolTip(tip)
    button.setMinimumHeight(56)
    button.setMinimumWidth(260)
    font = button.font()
    font.setPointSizeF(font.pointSizeF() * 1.15)
    button.setFont(font)
    return button


class FirstScreen(QWidget):
    """Buttons for the ways to start, the recent files, and a drop hint.

    Signals
    -------
    open_file_requested(), open_folder_requested(), open_session_requested(),
    open_maps_requested()
        The user wants a file dialog.
    demo_requested(name)
        ``"brain"`` or ``"nist"``.
    recent_requested(path)
    """

    open_file_requested = Signal()
    open_folder_requested = Signal()
    open_session_requested = Signal()
    open_maps_requested = Signal()
    demo_requested = Signal(str)
    recent_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        outer = QVBoxLayout(self)
        outer.addStretch(1)
        title = QLabel("MRF Studio")
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 2.4)
        font.setBold(True)
        title.setFont(font)
        subtitle = QLabel(
            "T1, T2 and proton-density maps from Magnetic Resonance Fingerprinting scans"
        )
        for label in (title, subtitle):
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            outer.addWidget(label)
        outer.addSpacing(24)

        grid = QGridLayout()
        open_file = _big_button(
            "Open a scan file…",
            "Raw data (ISMRMRD .h5/.mrd), an image series or maps (NIfTI .nii/.nii.gz)",
            "open_file",
        )
        open_folder = _big_button(
            "Open a DICOM folder…", "A folder of DICOM images of one MRF series", "open_folder"
        )
        demo_brain = _big_button(
            "Demo: brain scan",
            "A simulated MRF scan of a numerical brain (made on first use, then kept)",
            "demo_brain",
        )
        demo_nist = _big_button(
            "Demo: NIST phantom",
            "A simulated MRF scan of the ISMRM/NIST system phantom with known T1/T2 vials",
            "demo_nist",
        )
        grid.addWidget(open_file, 0, 0)
        grid.addWidget(open_folder, 1, 0)
        grid.addWidget(demo_brain, 0, 1)
        grid.addWidget(demo_nist, 1, 1)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addLayout(grid)
        row.addStretch(1)
        outer.addLayout(row)

        open_file.clicked.connect(self.open_file_requested)
        open_folder.clicked.connect(self.open_folder_requested)
        demo_brain.clicked.connect(lambda: self.demo_requested.emit("brain"))
        demo_nist.clicked.connect(lambda: self.demo_requested.emit("nist"))

        hint = QLabel("… or drag a file or folder onto this window.")
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        outer.addSpacing(8)
        outer.addWidget(hint)
        outer.addSpacing(16)

        recent_frame = QFrame()
        recent_layout = QVBoxLayout(recent_frame)
        self.recent_title = QLabel("Recent files (double-click to open)")
        self.recent_list = QListWidget()
        self.recent_list.setObjectName("recent_files")
        self.recent_list.setMaximumHeight(160)
        self.recent_list.setMaximumWidth(700)
        self.recent_list.itemActivated.connect(self._recent_activated)
        session_button = QPushButton("Open a saved session…")
        session_button.setObjectName("open_session")
        session_button.clicked.connect(self.open_session_requested)
        maps_button = QPushButton("Open existing maps to compare…")
        maps_button.setObjectName("open_maps")
        maps_button.setToolTip("T1/T2/PD maps from the scanner or another tool (NIfTI or DICOM)")
        maps_button.clicked.connect(self.open_maps_requested)
        more = QHBoxLayout()
        more.addStretch(1)
        more.addWidget(session_button)
        more.addWidget(maps_button)
        more.addStretch(1)
        recent_layout.addWidget(self.recent_title)
        recent_layout.addWidget(self.recent_list)
        recent_layout.addLayout(more)
        recent_row = QHBoxLayout()
        recent_row.addStretch(1)
        recent_row.addWidget(recent_frame, 2)
        recent_row.addStretch(1)
        outer.addLayout(recent_row)
        outer.addStretch(2)
        self.set_recent([])

    def set_recent(self, paths: list[str]) -> None:
        """Show ``paths`` newest first; missing files are listed greyed out."""
        self.recent_list.clear()
        for path in paths:
            item = QListWidgetItem(f"{Path(path).name}    —    {Path(path).parent}")
            item.setData(Qt.ItemDataRole.UserRole, path)
            item.setToolTip(path)
            if not Path(path).exists():
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEnabled)
                item.setToolTip(f"{path} (not found)")
            self.recent_list.addItem(item)
        self.recent_title.setVisible(bool(paths))
        self.recent_list.setVisible(bool(paths))

    def _recent_activated(self, item: QListWidgetItem) -> None:
        self.recent_requested.emit(item.data(Qt.ItemDataRole.UserRole))
