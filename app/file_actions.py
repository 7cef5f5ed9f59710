"""File actions of the main window: export, ROI sets, sessions and recent files.

A mixin of :class:`app.main_window.MainWindow`, kept apart so that each module stays
small; it uses the window's ``model``, panels, ``show_error`` and status bar.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QInputDialog, QWidget

from app.exporting import IMAGE_FILTERS, save_widget
from app.session import SESSION_SUFFIX, apply_session, load_session, save_session

__all__ = ["FileActions"]

_MAX_RECENT = 10


def _bids_prefix(text: str) -> str:
    """A file-name prefix from a run name: letters, digits, '-' and '_' only."""
    import re

    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-_")
    return f"mrf_{cleaned}" if cleaned else "mrf"


class FileActions:
    """Saving and reopening things (mixed into the main window)."""

    # -- export -----------------------------------------------------------------------------
    def export_run_nifti(self, run_id: int, folder: str | Path, prefix: str) -> list[Path]:
        """Write a run's maps as NIfTI + JSON sidecars (BIDS names); returns the files."""
        from mrfcore.io.export import export_nifti

        return export_nifti(self.model.run(run_id).maps, folder, prefix)

    def choose_export_current(self) -> None:
        if self.model.current_run_id is None:
            self.statusBar().showMessage("There are no maps to export yet.", 5000)
            return
        self.choose_export_run(self.model.current_run_id)

    def choose_export_run(self, run_id: int) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder for the NIfTI maps")
        if not folder:
            return
        prefix, ok = QInputDialog.getText(
            self, "File names", "Start of the file names (e.g. sub-01_acq-mrf):",
            text=_bids_prefix(self.model.run(run_id).name),
        )  # fmt: skip
        if not ok:
            return
        try:
            files = self.export_run_nifti(run_id, folder, prefix.strip())
        except (ValueError, OSError) as error:
            self.show_error("Export failed", str(error))
            return
        self.statusBar().showMessage(f"Saved {len(files)} files to {folder}", 10000)

    def export_statistics(self, path: str | Path) -> Path:
        from mrfcore.analysis import write_statistics_csv

        self.roi_panel.update_statistics()
        return write_statistics_csv(path, self.roi_panel.rows)

    def choose_statistics_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "ROI statistics", "roi_statistics.csv", "CSV (*.csv)"
        )
        if path:
            self._guarded("Export failed", self.export_statistics, path)

    def choose_rois_to_save(self) -> None:
        from mrfcore.analysis import save_rois

        path, _ = QFileDialog.getSaveFileName(self, "Save ROIs", "rois.json", "ROI set (*.json)")
        if path:
            self._guarded("Saving ROIs failed", save_rois, path, list(self.model.rois.values()))

    def choose_rois_to_load(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load ROIs", "", "ROI set (*.json)")
        if path:
            self.load_rois(path)

    def load_rois(self, path: str | Path) -> None:
        from mrfcore.analysis import load_rois

        rois = self._guarded("Loading ROIs failed", load_rois, path)
        if rois is not None:
            self.model.set_rois(rois)

    def choose_view_image(self) -> None:
        self.choose_widget_image(self.map_panel)

    def choose_widget_image(self, widget: QWidget) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save image", "view.png", IMAGE_FILTERS)
        if path:
            self._guarded("Saving the image failed", save_widget, widget, path)

    def _guarded(self, title: str, function, *args):
        """Call ``function(*args)``; a ValueError or OSError becomes an error dialog."""
        try:
            result = function(*args)
        except (ValueError, OSError) as error:
            self.show_error(title, str(error))
            return None
        if isinstance(result, Path):
            self.statusBar().showMessage(f"Saved {result}", 5000)
        return result

    # -- sessions ---------------------------------------------------------------------------
    def save_session(self, path: str | Path) -> Path:
        return save_session(path, self.model)

    def choose_session_to_save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self,
            "Save session",
            f"session{SESSION_SUFFIX}",
            f"MRF Studio session (*{SESSION_SUFFIX})",
        )
        if path:
            self._guarded("Saving the session failed", self.save_session, path)

    def choose_session_to_open(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open session", "", f"MRF Studio session (*{SESSION_SUFFIX})"
        )
        if path:
            self.open_session(path)

    def open_session(self, path: str | Path) -> bool:
        """Restore runs, ROIs and view; reopen the session's scan in the background."""
        try:
            content = load_session(path)
        except ValueError as error:
            self.show_error("Opening the session failed", str(error))
            return False
        apply_session(self.model, content)
        self.map_panel.prepare()
        self.stack.setCurrentWidget(self.workspace)
        self.setWindowTitle(f"MRF Studio — {Path(path).name}")
        if content.demo:
            self.open_demo(content.demo)
        elif content.input_path and Path(content.input_path).exists():
            self.open_path(content.input_path)
        elif content.input_path:
            self.statusBar().showMessage(
                f"The scan {content.input_path} was not found; runs and ROIs are restored.", 10000
            )
        return True

    # -- recent files -----------------------------------------------------------------------
    @staticmethod
    def _settings() -> QSettings:
        from mrfcore.resources import data_dir

        return QSettings(str(data_dir() / "settings.ini"), QSettings.Format.IniFormat)

    def recent_files(self) -> list[str]:
        value = self._settings().value("recent_files", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in value or []]

    def add_recent(self, path: str) -> None:
        path = str(Path(path).resolve())
        recent = [path] + [p for p in self.recent_files() if p != path]
        settings = self._settings()
        settings.setValue("recent_files", recent[:_MAX_RECENT])
        settings.sync()
        self.first_screen.set_recent(recent[:_MAX_RECENT])
        self._fill_recent_menu()

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.recent_files()
        for path in recent:
            item = QAction(path, self)
            item.triggered.connect(lambda _=False, p=path: self.open_any(p))
            self.recent_menu.addAction(item)
        self.recent_menu.setEnabled(bool(recent))
