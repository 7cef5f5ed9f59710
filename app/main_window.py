"""The main window: first screen, then the workspace (scan, methods, runs, maps, ROIs,
comparison), with menus, drag and drop, background work and error dialogs.

Heavy modules (torch, the methods, the pipeline) are imported only inside background
jobs or on demand, so the window opens quickly.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.bland_altman import BlandAltmanPanel
from app.data_panel import DataPanel
from app.file_actions import FileActions
from app.first_screen import FirstScreen
from app.map_view import MapPanel
from app.method_panel import DEFAULT_GRID, MethodChoice, MethodPanel
from app.model import AppModel, LoadedInput, Run
from app.roi_panel import RoiPanel
from app.run_list import RunListPanel
from app.session import SESSION_SUFFIX
from app.worker import TaskRunner, format_eta

__all__ = ["MainWindow"]

_SCAN_FILTERS = (
    "MRF scans and maps (*.h5 *.mrd *.nii *.nii.gz *.dcm *.mrfsession);;"
    "ISMRMRD raw data (*.h5 *.mrd);;NIfTI (*.nii *.nii.gz);;DICOM (*.dcm);;All files (*)"
)
DEMO_LABELS = {"brain": "demo brain scan", "nist": "demo NIST phantom scan"}


class MainWindow(FileActions, QMainWindow):
    """MRF Studio's window.

    Parameters
    ----------
    model
        The application state (a new one by default).
    reconstruction, inference
        Method registries to list (the real ones by default; tests pass fakes).
    warm_up
        After the window shows, load torch, the analysis and the pipeline in the
        background and list the compute devices.
    """

    def __init__(
        self,
        model: AppModel | None = None,
        reconstruction: Any = None,
        inference: Any = None,
        warm_up: bool = True,
    ) -> None:
        super().__init__()
        self.model = model or AppModel()
        self.runner = TaskRunner(self)
        self.background = TaskRunner(self)
        self.errors: list[tuple[str, str, str]] = []
        self.error_dialog: QMessageBox | None = None
        self._warm_up = warm_up
        self._started = False
        self._follow_up: MethodChoice | None = None  # run after the current one succeeds
        self.setWindowTitle("MRF Studio")
        self.resize(1500, 920)
        self.setAcceptDrops(True)

        self.stack = QStackedWidget()
        self.setCentralWidget(self.stack)
        self.first_screen = FirstScreen()
        self.stack.addWidget(self.first_screen)

        self.data_panel = DataPanel(self.model)
        self.method_panel = MethodPanel(reconstruction, inference)
        self.run_list = RunListPanel(self.model)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(4, 4, 4, 4)
        left_layout.addWidget(self.data_panel)
        left_layout.addWidget(self.method_panel)
        scroll = QScrollArea()
        scroll.setWidget(left)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # The run list stays in view below the (scrolling) scan and method forms: it
        # says which methods made the maps on screen.
        self.method_panel.run_area.setContentsMargins(8, 4, 8, 0)
        pinned = QWidget()  # Run button and the run list: always in view
        pinned_layout = QVBoxLayout(pinned)
        pinned_layout.setContentsMargins(0, 0, 0, 0)
        pinned_layout.addWidget(self.method_panel.run_area)
        pinned_layout.addWidget(self.run_list, 1)
        sidebar = QSplitter(Qt.Orientation.Vertical)
        sidebar.addWidget(scroll)
        sidebar.addWidget(pinned)
        sidebar.setStretchFactor(0, 1)
        sidebar.setCollapsible(1, False)
        sidebar.setSizes([640, 260])
        sidebar.setMinimumWidth(left.sizeHint().width() + 24)
        sidebar.setMaximumWidth(480)

        self.map_panel = MapPanel(self.model)
        self.roi_panel = RoiPanel(self.model, self.map_panel.view_centre_and_size)
        maps_tab = QSplitter(Qt.Orientation.Vertical)
        maps_tab.addWidget(self.map_panel)
        maps_tab.addWidget(self.roi_panel)
        maps_tab.setStretchFactor(0, 3)
        maps_tab.setStretchFactor(1, 1)
        maps_tab.setSizes([620, 260])
        self.compare_panel = BlandAltmanPanel(self.model)
        self.tabs = QTabWidget()
        self.tabs.addTab(maps_tab, "Maps and ROIs")
        self.tabs.addTab(self.compare_panel, "Compare (Bland-Altman)")

        self.workspace = QSplitter(Qt.Orientation.Horizontal)
        self.workspace.addWidget(sidebar)
        self.workspace.addWidget(self.tabs)
        self.workspace.setStretchFactor(1, 1)
        self.workspace.setSizes([420, 1080])  # room for the run list's names and methods
        self.stack.addWidget(self.workspace)

        self._build_progress_bar()
        self._build_menus()
        self._connect()
        self.first_screen.set_recent(self.recent_files())

    # -- construction -----------------------------------------------------------------------
    def _build_progress_bar(self) -> None:
        holder = QWidget()
        row = QHBoxLayout(holder)
        row.setContentsMargins(0, 0, 0, 0)
        self.progress_stage = QLabel()
        self.progress_bar = QProgressBar()
        self.progress_bar.setObjectName("progress")
        self.progress_bar.setMinimumWidth(260)
        self.progress_eta = QLabel()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancel")
        self.cancel_button.setToolTip("Stop the running work (Esc); results so far are kept")
        self.cancel_button.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        for widget in (
            self.progress_stage,
            self.progress_bar,
            self.progress_eta,
            self.cancel_button,
        ):
            row.addWidget(widget)
        self.statusBar().addPermanentWidget(holder)
        self.progress_holder = holder
        holder.hide()

    def _build_menus(self) -> None:
        def action(menu, text, slot, shortcut=None, tip=""):
            item = QAction(text, self)
            if shortcut:
                item.setShortcut(QKeySequence(shortcut))
            item.setStatusTip(tip)
            item.triggered.connect(slot)
            menu.addAction(item)
            return item

        file_menu = self.menuBar().addMenu("&File")
        action(file_menu, "&Open scan or maps…", self.choose_file, QKeySequence.StandardKey.Open)
        action(file_menu, "Open &DICOM folder…", self.choose_folder)
        action(file_menu, "Open existing &maps (T1, T2, PD)…", self.choose_maps)
        demo_menu = file_menu.addMenu("Open de&mo scan")
        for name, label in DEMO_LABELS.items():
            action(demo_menu, label.capitalize(), lambda _=False, n=name: self.open_demo(n))
        self.recent_menu = file_menu.addMenu("Open &recent")
        file_menu.addSeparator()
        action(file_menu, "Open &session…", self.choose_session_to_open)
        action(
            file_menu, "&Save session…", self.choose_session_to_save, QKeySequence.StandardKey.Save
        )
        file_menu.addSeparator()
        action(file_menu, "&Export maps as NIfTI…", self.choose_export_current, "Ctrl+E")
        action(file_menu, "Export ROI &statistics as CSV…", self.choose_statistics_csv)
        action(file_menu, "Save map &view as PNG/SVG…", self.choose_view_image)
        file_menu.addSeparator()
        action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        roi_menu = self.menuBar().addMenu("&ROI")
        for kind in ("rectangle", "ellipse"):
            action(roi_menu, f"Add {kind}", lambda _=False, k=kind: self.roi_panel.add_roi(k))
        action(
            roi_menu,
            "Draw polygon",
            self.draw_polygon,
            tip="Click the corners on a map; double-click or Enter to finish, Esc to cancel",
        )
        roi_menu.addSeparator()
        action(roi_menu, "Save ROIs…", self.choose_rois_to_save)
        action(roi_menu, "Load ROIs…", self.choose_rois_to_load)

        view_menu = self.menuBar().addMenu("&View")
        self.crosshair_action = QAction("Crosshair", self, checkable=True, checked=True)
        self.crosshair_action.toggled.connect(self._toggle_crosshair)
        view_menu.addAction(self.crosshair_action)
        action(view_menu, "Reset zoom", self._reset_zoom, "Ctrl+0")
        action(view_menu, "Start screen", lambda: self.stack.setCurrentWidget(self.first_screen))

        help_menu = self.menuBar().addMenu("&Help")
        action(help_menu, "About MRF Studio", self._about)
        self._fill_recent_menu()

    def _connect(self) -> None:
        screen = self.first_screen
        screen.open_file_requested.connect(self.choose_file)
        screen.open_folder_requested.connect(self.choose_folder)
        screen.open_session_requested.connect(self.choose_session_to_open)
        screen.open_maps_requested.connect(self.choose_maps)
        screen.demo_requested.connect(self.open_demo)
        screen.recent_requested.connect(self.open_path)
        self.method_panel.run_requested.connect(self.run_methods)
        self.run_list.export_requested.connect(self.choose_export_run)
        self.roi_panel.export_csv_requested.connect(self.choose_statistics_csv)
        self.roi_panel.save_requested.connect(self.choose_rois_to_save)
        self.roi_panel.load_requested.connect(self.choose_rois_to_load)
        self.compare_panel.export_requested.connect(self.choose_widget_image)
        tool = self.map_panel.polygon_tool
        self.roi_panel.draw_polygon_requested.connect(self.map_panel.start_polygon)
        self.roi_panel.cancel_polygon_requested.connect(self.map_panel.cancel_polygon)
        tool.finished.connect(self.roi_panel.add_polygon)
        tool.active_changed.connect(self.roi_panel.set_polygon_drawing)
        tool.active_changed.connect(lambda active: active or self.statusBar().clearMessage())
        tool.message.connect(
            lambda text: self.statusBar().showMessage(text, 0 if tool.active else 5000)
        )
        self.cancel_button.clicked.connect(self.cancel)
        runner = self.runner
        runner.started.connect(self._job_started)
        runner.progressed.connect(self._job_progressed)
        runner.failed.connect(
            lambda message, details: self.show_error(f"{runner.title} failed", message, details)
        )
        runner.cancelled.connect(
            lambda: self.statusBar().showMessage(f"{runner.title}: cancelled", 5000)
        )
        # A failed or cancelled run also drops the run that was to follow it.
        runner.failed.connect(lambda *_: setattr(self, "_follow_up", None))
        runner.cancelled.connect(lambda: setattr(self, "_follow_up", None))
        runner.finished.connect(self._job_finished)
        self.background.failed.connect(
            lambda message, _details: self.statusBar().showMessage(
                f"Could not list the compute devices: {message}", 10000
            )
        )

    # -- start-up ---------------------------------------------------------------------------
    def showEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        if not self._started:
            self._started = True
            QTimer.singleShot(0, self.finish_startup)

    def finish_startup(self) -> None:
        """List the methods, then (optionally) warm up torch and list devices."""
        if not self.method_panel.populated:
            try:
                self.method_panel.populate()
            except Exception as error:  # noqa: BLE001 - a broken plugin must not stop the app
                import traceback

                self.show_error("Methods could not be loaded", str(error), traceback.format_exc())
        if self._warm_up and not self.background.busy:
            self.background.start(
                _warm_up, "Looking for compute devices", on_success=self.method_panel.set_devices
            )

    # -- background work ------------------------------------------------------------------
    def _job_started(self, title: str) -> None:
        self.progress_stage.setText(title)
        self.progress_bar.setRange(0, 0)  # busy until the first report
        self.progress_eta.setText("")
        self.cancel_button.setEnabled(True)
        self.cancel_button.setText("Cancel")
        self.progress_holder.show()
        self.method_panel.set_busy(True)
        self.first_screen.setEnabled(False)

    def _job_progressed(self, step: int, total: int, message: str) -> None:
        if self.runner.cancel_requested:
            return
        total = max(total, 1)
        self.progress_bar.setRange(0, total)
        self.progress_bar.setValue(min(step, total))
        self.progress_stage.setText(message or self.runner.title)
        elapsed = time.monotonic() - self.runner.started_at
        self.progress_eta.setText(format_eta(elapsed, step / total))

    def _job_finished(self) -> None:
        self.progress_holder.hide()
        self.method_panel.set_busy(False)
        self.first_screen.setEnabled(True)

    def cancel(self) -> None:
        """Ask the running job to stop; it stops at its next progress report."""
        if self.runner.busy:
            self.runner.cancel()
            self.progress_stage.setText("Cancelling…")
            self.cancel_button.setEnabled(False)

    def show_error(self, title: str, message: str, details: str = "") -> None:
        """An error dialog (non-blocking) with the technical details folded away."""
        self.errors.append((title, message, details))
        self.statusBar().showMessage(f"{title}: {message}", 10000)
        dialog = QMessageBox(self)
        dialog.setIcon(QMessageBox.Icon.Critical)
        dialog.setWindowTitle(title)
        dialog.setText(message)
        dialog.setInformativeText("Nothing you have made (maps, ROIs) was lost.")
        if details:
            dialog.setDetailedText(details)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.error_dialog = dialog
        dialog.open()

    def _start(self, job, title: str, on_success) -> bool:
        if self.runner.busy:
            self.statusBar().showMessage(
                f"Please wait for '{self.runner.title}' to finish or cancel it.", 5000
            )
            return False
        self.runner.start(job, title, on_success=on_success)
        return True

    # -- opening ----------------------------------------------------------------------------
    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open scan or maps", "", _SCAN_FILTERS)
        if path:
            self.open_any(path)

    def choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a DICOM folder")
        if path:
            self.open_path(path)

    def open_any(self, path: str) -> None:
        """A session file or a scan, by its suffix."""
        if path.endswith(SESSION_SUFFIX):
            self.open_session(path)
        else:
            self.open_path(path)

    def open_path(self, path: str, run_after: bool = False) -> bool:
        """Read a scan or maps in the background, then show them."""
        name = Path(path).name

        def job(progress):
            from mrfcore import pipeline

            progress(0, 1, f"Reading {name}")
            data = pipeline.load_input(path)
            progress(1, 1, f"Read {name}")
            return data

        return self._start(
            job, f"Opening {name}", lambda data: self._input_loaded(data, path, None, run_after)
        )

    def open_demo(self, name: str, run_after: bool = False) -> bool:
        """Open a built-in demo scan (made on first use), optionally running the defaults."""

        def job(progress):
            from app.compute import configure_compute_threads
            from app.quick_preview import start_preview_dictionary
            from mrfcore import pipeline
            from mrfcore.acquisition.demo import demo_scan_is_current, demo_scan_path

            dictionary = None
            if not demo_scan_is_current(name):
                # Simulated with torch; a made scan is only read, so torch is left to
                # load in the background warm-up meanwhile.
                configure_compute_threads()
                if run_after:  # the preview's dictionary needs the schedule only
                    from mrfcore.acquisition.demo import demo_sequence

                    dictionary = start_preview_dictionary(demo_sequence(name), progress.token)
            path = demo_scan_path(name, progress=progress.stage(0.0, 0.95, "making the demo scan"))
            data = pipeline.load_input(path)
            if dictionary is not None and dictionary.is_alive():
                progress(990, 1000, "building the preview's dictionary")
                dictionary.join()
            return str(path), data

        return self._start(
            job,
            f"Opening the {DEMO_LABELS.get(name, name)}",
            lambda result: self._input_loaded(result[1], result[0], name, run_after),
        )

    def choose_maps(self) -> None:
        from app.maps_dialog import MapsDialog

        dialog = MapsDialog(self)
        if dialog.exec() == MapsDialog.DialogCode.Accepted:
            self.open_maps(*dialog.paths())

    def open_maps(self, t1: str, t2: str, pd: str | None = None) -> bool:
        """Load existing maps (NIfTI or DICOM) in the background as a new run."""

        def job(progress):
            from mrfcore.io.maps import load_maps

            progress(0, 1, f"Reading {Path(t1).name}")
            return load_maps(t1, t2, pd)

        def done(maps) -> None:
            name = self.model.unique_run_name(f"Maps from {Path(t1).name}")
            self.model.add_run(
                Run(self.model.new_run_id(), name, maps, provenance=dict(maps.provenance))
            )
            self.map_panel.prepare()
            self.stack.setCurrentWidget(self.workspace)

        return self._start(job, f"Opening maps {Path(t1).name}", done)

    def _input_loaded(self, data: Any, path: str | None, demo: str | None, run_after: bool) -> None:
        from mrfcore import pipeline

        loaded = LoadedInput(data, path, pipeline.describe_input(data), demo)
        self.model.set_input(loaded)
        sequence = getattr(data, "sequence", None)
        self.method_panel.set_input_kind(
            loaded.kind, None if sequence is None else sequence.content_hash()
        )
        self.map_panel.prepare()
        if path and not demo:
            self.add_recent(path)
        self.stack.setCurrentWidget(self.workspace)
        title = f"{Path(path).name}" if path else "data"
        self.setWindowTitle(f"MRF Studio — {DEMO_LABELS.get(demo, title) if demo else title}")
        if loaded.kind == "maps":
            name = self.model.unique_run_name(f"Maps from {Path(path).name if path else 'file'}")
            run = Run(self.model.new_run_id(), name, data, provenance=dict(data.provenance))
            self.model.add_run(run)
            return
        try:
            request = pipeline.default_request(data)
        except ValueError as error:
            self.statusBar().showMessage(str(error), 10000)
            return
        from mrfcore.methods import options_to_dict

        self.method_panel.apply_defaults(
            request.reconstruction,
            options_to_dict(request.reconstruction_options)
            if request.reconstruction_options is not None
            else None,
            request.inference,
            options_to_dict(request.inference_options)
            if request.inference_options is not None
            else None,
            request.grid,
        )
        if run_after:
            QTimer.singleShot(0, self.run_demo_methods if demo else self.run_methods)

    # -- running ----------------------------------------------------------------------------
    def build_request(self, choice: MethodChoice) -> Any:
        """A ``RunRequest`` from the panel's choice; ValueError names a bad option."""
        from mrfcore.methods import options_from_dict
        from mrfcore.pipeline import RunRequest

        if choice.inference is None:
            raise ValueError("Choose an inference method.")
        is_kspace = self.model.input is not None and self.model.input.kind == "kspace"
        recon_options = None
        reconstruction = choice.reconstruction if is_kspace else None
        if is_kspace:
            if reconstruction is None:
                raise ValueError("Raw k-space needs a reconstruction method.")
            info = self.method_panel.reconstruction.infos[reconstruction]
            recon_options = options_from_dict(info.options_type, choice.reconstruction_options)
        info = self.method_panel.inference.infos[choice.inference]
        inference_options = options_from_dict(info.options_type, choice.inference_options)
        return RunRequest(
            reconstruction=reconstruction,
            inference=choice.inference,
            reconstruction_options=recon_options,
            inference_options=inference_options,
            device=choice.device,
            grid=choice.grid,
        )

    def run_methods(self, choice: MethodChoice | None = None, title: str = "") -> bool:
        """Run the chosen methods (the panel's, or ``choice``) on the opened scan in the
        background; ``title`` starts the run's name (e.g. "Quick preview")."""
        loaded = self.model.input
        if loaded is None or loaded.kind == "maps":
            self.statusBar().showMessage("Open a scan first.", 5000)
            return False
        choice = self.method_panel.choice() if choice is None else choice
        try:
            request = self.build_request(choice)
        except ValueError as error:
            self.show_error("Check the options", str(error))
            return False
        labels = []
        if request.reconstruction is not None:
            labels.append(self.method_panel.reconstruction.infos[request.reconstruction].label)
        labels.append(self.method_panel.inference.infos[request.inference].label)
        label = " + ".join(labels)
        if choice.grid != DEFAULT_GRID:
            label += f", {choice.grid} grid"
        if title:
            label = f"{title}: {label}"
        source = loaded.data

        def job(progress):
            from app.compute import configure_compute_threads
            from mrfcore import pipeline

            threads = configure_compute_threads()
            return pipeline.run_pipeline(source, request, progress), threads

        return self._start(
            job, f"Running {label}", lambda result: self._run_done(*result, choice, label)
        )

    def run_demo_methods(self) -> bool:
        """The demo's runs: a quick preview first (see :mod:`app.quick_preview`), so that
        maps appear within seconds, then the default methods chosen in the panel."""
        from app.quick_preview import PREVIEW_TITLE, preview_choice

        chosen = self.method_panel.choice()
        preview = preview_choice(self.method_panel)
        if preview is None or preview == chosen:
            return self.run_methods(chosen)
        if not self.run_methods(preview, PREVIEW_TITLE):
            return False
        self._follow_up = chosen
        return True

    def _start_follow_up(self) -> None:
        choice, self._follow_up = self._follow_up, None
        if choice is not None and self.model.input is not None:
            self.run_methods(choice)

    def _run_done(self, result: Any, threads: int, choice: MethodChoice, label: str) -> None:
        is_kspace = self.model.input is not None and self.model.input.kind == "kspace"
        device = str(result.provenance.get("device", choice.device))
        if device == "cpu":
            device += f" ({threads} thread{'s' if threads > 1 else ''})"
        run = Run(
            id=self.model.new_run_id(),
            name=self.model.unique_run_name(label),
            maps=result.maps,
            reconstruction=choice.reconstruction if is_kspace else None,
            reconstruction_options=choice.reconstruction_options if is_kspace else {},
            inference=choice.inference,
            inference_options=choice.inference_options,
            device=device,
            images=result.images,
            timings=dict(result.timings),
            provenance=dict(result.provenance),
        )
        self.model.add_run(run)
        self.tabs.setCurrentIndex(0)
        self.statusBar().showMessage(f"{label}: done in {run.total_seconds:.1f} s", 10000)
        if self._follow_up is not None:
            # After the worker has finished (its finished signal comes after this).
            QTimer.singleShot(0, self._start_follow_up)

    # -- drag and drop ----------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt's name
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_any(paths[0])

    # -- misc -------------------------------------------------------------------------------
    def draw_polygon(self) -> None:
        """Start drawing a polygon ROI on the maps (ROI menu)."""
        self.tabs.setCurrentIndex(0)
        self.roi_panel.request_polygon()

    def _toggle_crosshair(self, shown: bool) -> None:
        self.model.view.crosshair = shown
        self.model.view_changed.emit("crosshair")

    def _reset_zoom(self) -> None:
        for view in self.map_panel.views.values():
            view.viewbox.autoRange(padding=0.02)
            break

    def _about(self) -> None:
        from mrfcore import __version__

        QMessageBox.about(
            self,
            "About MRF Studio",
            f"MRF Studio {__version__}<br>T1, T2 and PD maps from MR Fingerprinting.<br>"
            "Colour maps lipari and navia: Fabio Crameri, Scientific Colour Maps (MIT).",
        )

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        for runner in (self.runner, self.background):
            if runner.busy:
                runner.cancel()
                runner.wait(15000)
        super().closeEvent(event)


def _warm_up(progress) -> list:
    """Background start-up work: import the heavy modules once, list compute devices."""
    from app.compute import configure_compute_threads
    from mrfcore.device import available_devices

    progress(0, 2, "Looking for compute devices")
    configure_compute_threads()
    devices = available_devices()
    import numpy.ma  # noqa: F401 - np.percentile needs it; ~0.1 s on first use

    import mrfcore.analysis  # noqa: F401 - imported now so the first ROI does not wait
    import mrfcore.pipeline  # noqa: F401

    progress(2, 2, "Ready")
    return devices
