"""The main window end to end, with the science replaced by fakes."""

from __future__ import annotations

import subprocess
import sys
import time
import types

from PySide6.QtCore import QTimer


def _open_images(window, qtbot, tmp_path):
    path = tmp_path / "series.nii.gz"
    path.write_bytes(b"")
    with qtbot.waitSignal(window.runner.finished, timeout=5000):
        assert window.open_path(str(path))
    return path


def _run(window, qtbot):
    with qtbot.waitSignal(window.runner.finished, timeout=10000):
        assert window.run_methods()


def test_window_opens_on_the_first_screen(window):
    assert window.isVisible()
    assert window.stack.currentWidget() is window.first_screen
    assert not window.first_screen.recent_list.isVisible()
    assert window.method_panel.populated


def test_open_then_run_keeps_a_run_and_shows_maps(window, qtbot, fake_pipeline, tmp_path):
    path = _open_images(window, qtbot, tmp_path)
    assert window.stack.currentWidget() is window.workspace
    rows = window.data_panel.rows()
    assert rows["kind"] == "subspace images (rank 3)" and rows["matrix"] == "64 × 48"
    assert window.recent_files() == [str(path.resolve())]
    assert window.method_panel.choice().reconstruction is None  # images need no recon
    assert window.method_panel.run_button.isEnabled()

    progress_values = []
    window.runner.progressed.connect(
        lambda s, t, m: progress_values.append(
            (
                window.progress_holder.isVisible(),
                window.progress_bar.value(),
                window.progress_stage.text(),
            )
        )
    )
    _run(window, qtbot)
    assert len(window.model.runs) == 1
    run = window.model.runs[0]
    assert run.name == "Fake DM" and run.inference == "fake_dm" and run.reconstruction is None
    assert run.timings["reconstruction_s"] > 0
    assert fake_pipeline.requests[0].inference == "fake_dm"
    assert progress_values and all(visible for visible, _, _ in progress_values)
    assert any(stage.startswith("iteration") for *_, stage in progress_values)
    assert not window.progress_holder.isVisible()
    assert list(window.map_panel.views) == ["T1", "T2", "PD"]
    assert window.run_list.table.rowCount() == 1
    # The subspace images and the quality map can be shown on demand.
    assert set(window.map_panel.extras_buttons) == {"match_correlation", "TSMI"}
    window.map_panel.extras_buttons["TSMI"].setChecked(True)
    assert "TSMI" in window.map_panel.views


def test_event_loop_stays_responsive_during_a_window_run(window, qtbot, fake_pipeline, tmp_path):
    _open_images(window, qtbot, tmp_path)
    fake_pipeline.steps, fake_pipeline.step_s = 50, 0.02
    ticks = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    try:
        _run(window, qtbot)
    finally:
        timer.stop()
    gaps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]
    assert len(ticks) > 40
    assert max(gaps) < 0.100, f"event loop blocked for {1000 * max(gaps):.0f} ms"


def test_cancel_from_the_window_stops_quickly_and_keeps_results(
    window, qtbot, fake_pipeline, tmp_path
):
    _open_images(window, qtbot, tmp_path)
    _run(window, qtbot)
    fake_pipeline.steps, fake_pipeline.step_s = 1000, 0.02
    with qtbot.waitSignal(window.runner.progressed, timeout=3000):
        window.run_methods()
    qtbot.wait(100)
    assert window.cancel_button.isVisible()
    asked = time.perf_counter()
    with qtbot.waitSignal(window.runner.finished, timeout=1000):
        window.cancel_button.click()
    assert time.perf_counter() - asked < 1.0
    assert len(window.model.runs) == 1  # the earlier run is still there, nothing added
    assert window.errors == []
    assert window.method_panel.run_button.isEnabled()


def test_errors_show_a_dialog_and_previous_results_stay(window, qtbot, fake_pipeline, tmp_path):
    _open_images(window, qtbot, tmp_path)
    _run(window, qtbot)
    first = window.model.runs[0]
    fake_pipeline.fail = RuntimeError("out of memory on the fake device")
    _run(window, qtbot)
    assert len(window.errors) == 1
    title, message, details = window.errors[0]
    assert "failed" in title and message == "out of memory on the fake device"
    assert "RuntimeError" in details
    assert window.error_dialog is not None and window.error_dialog.isVisible()
    assert window.error_dialog.detailedText() == details
    assert window.model.runs == [first] and window.model.current_run is first
    assert window.map_panel.views["T1"].values is not None


def test_bad_option_values_are_reported_not_run(
    window, qtbot, fake_pipeline, tmp_path, monkeypatch
):
    _open_images(window, qtbot, tmp_path)
    from app.method_panel import MethodChoice

    monkeypatch.setattr(
        window.method_panel,
        "choice",
        lambda: MethodChoice(None, "fake_dm", {}, {"batch": -5}),
    )
    assert not window.run_methods()
    assert "Batch size" in window.errors[-1][1]
    assert fake_pipeline.requests == []


def test_unreadable_file_gives_an_error_naming_it(window, qtbot, fake_pipeline, monkeypatch):
    from mrfcore import pipeline

    def broken(path):
        raise ValueError(f"{path}: not an MRF scan")

    monkeypatch.setattr(pipeline, "load_input", broken, raising=False)
    with qtbot.waitSignal(window.runner.finished, timeout=5000):
        window.open_path("/tmp/holiday.jpg")
    assert window.errors[-1][1] == "/tmp/holiday.jpg: not an MRF scan"
    assert window.stack.currentWidget() is window.first_screen
    assert window.model.input is None


def test_demo_opens_and_runs_the_defaults(window, qtbot, fake_pipeline, tmp_path, monkeypatch):
    made = []

    def demo_scan_path(name, progress=None):
        progress(1, 1, "made")
        made.append(name)
        return tmp_path / f"{name}.h5"

    class Building:  # the preview's dictionary, built beside the scan's simulation
        joined = False

        def is_alive(self):
            return not self.joined

        def join(self):
            self.joined = True

    building = []

    def start_preview_dictionary(sequence, token):
        building.append((sequence, Building()))
        return building[-1][1]

    module = types.ModuleType("mrfcore.acquisition.demo")
    module.demo_scan_path = demo_scan_path
    module.demo_scan_is_current = lambda name: False  # made on first use
    module.demo_sequence = lambda name: f"schedule of {name}"
    monkeypatch.setitem(sys.modules, "mrfcore.acquisition.demo", module)
    import app.quick_preview

    monkeypatch.setattr(app.quick_preview, "start_preview_dictionary", start_preview_dictionary)
    with qtbot.waitSignal(window.runner.finished, timeout=5000):
        window.open_demo("brain", run_after=True)
    qtbot.waitUntil(lambda: len(window.model.runs) == 1, timeout=10000)
    assert made == ["brain"]
    # Built while the scan was made, and finished before the preview started.
    assert [(sequence, job.joined) for sequence, job in building] == [("schedule of brain", True)]
    assert window.data_panel.rows()["demo"] == "brain"
    assert "demo brain scan" in window.windowTitle()


def test_window_opens_without_importing_torch():
    script = (
        "import os, sys, time; os.environ['QT_QPA_PLATFORM'] = 'offscreen'\n"
        "t0 = time.perf_counter()\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from app.main_window import MainWindow\n"
        "w = MainWindow(warm_up=False); w.show(); app.processEvents(); w.finish_startup()\n"
        "print('torch' in sys.modules, round(time.perf_counter() - t0, 2))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    torch_loaded, seconds = result.stdout.split()
    assert torch_loaded == "False", "torch must load in the background, after the window"


def test_background_warm_up_lists_the_gpu(qtbot, monkeypatch):
    from gui_fakes import FAKE_INFERENCE, FAKE_RECON

    import mrfcore.device
    from app.main_window import MainWindow
    from mrfcore.device import DeviceInfo

    monkeypatch.setattr(
        mrfcore.device,
        "available_devices",
        lambda: [DeviceInfo("cuda:0", "NVIDIA H100 (cuda:0)"), DeviceInfo("cpu", "CPU")],
    )
    window = MainWindow(reconstruction=FAKE_RECON, inference=FAKE_INFERENCE, warm_up=True)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.background.finished, timeout=10000):
        window.show()
    combo = window.method_panel.device_combo
    assert combo.itemText(0) == "Automatic (NVIDIA H100 (cuda:0))"
    assert combo.findData("cuda:0") == 1
    assert not window.progress_holder.isVisible()  # warm-up is silent


def test_dropping_a_file_opens_it(window, qtbot, fake_pipeline, tmp_path):
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    path = tmp_path / "dropped.nii.gz"
    path.write_bytes(b"")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    with qtbot.waitSignal(window.runner.finished, timeout=5000):
        window.dropEvent(event)
    assert window.model.input.path == str(path)


def test_model_and_session_modules_need_no_qt():
    script = (
        "import sys, app.model, app.session\n"
        "print(sorted(m for m in sys.modules if m.startswith(('PySide6', 'pyqtgraph'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def _preview_registries():
    """Fakes under the names the quick preview uses, plus a default reconstruction."""
    from dataclasses import dataclass

    from gui_fakes import FakeInferenceOptions, _Never

    from mrfcore.methods import MethodInfo, option

    @dataclass
    class GriddingOptions:
        coil_compression: int = option(0, label="Virtual coils", minimum=0)

    recon = [
        MethodInfo("lrtv", "LRTV", "reconstruction", GriddingOptions, _Never, ""),
        MethodInfo("zf", "ZF", "reconstruction", GriddingOptions, _Never, ""),
    ]
    inference = [MethodInfo("dm", "DM", "inference", FakeInferenceOptions, _Never, "")]
    return recon, inference


def _demo_window(qtbot, monkeypatch, tmp_path, fake_pipeline):
    from app.main_window import MainWindow
    from mrfcore import pipeline

    monkeypatch.setattr(
        pipeline, "default_request", lambda source: pipeline.RunRequest("lrtv", "dm")
    )
    module = types.ModuleType("mrfcore.acquisition.demo")
    module.demo_scan_path = lambda name, progress=None: tmp_path / f"{name}.h5"
    module.demo_scan_is_current = lambda name: True
    monkeypatch.setitem(sys.modules, "mrfcore.acquisition.demo", module)
    recon, inference = _preview_registries()
    window = MainWindow(reconstruction=recon, inference=inference, warm_up=False)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.method_panel.populated, timeout=2000)
    return window


def _tiny_kspace(path):
    import numpy as np

    from mrfcore.data import Geometry, KSpaceData
    from mrfcore.sequences import Sequence

    frames = 5
    return KSpaceData(
        samples=np.zeros((4, frames, 1, 8), np.complex64),
        trajectory=np.zeros((frames, 1, 8, 2), np.float32),
        sequence=Sequence(np.full(frames, 10.0), np.full(frames, 10.0), 2.0, name="tiny"),
        geometry=Geometry((8, 8), (1.0, 1.0)),
        source=str(path),
    )


def test_demo_shows_a_labelled_quick_preview_then_runs_the_defaults(
    qtbot, monkeypatch, tmp_path, fake_pipeline
):
    from mrfcore import pipeline

    monkeypatch.setattr(pipeline, "load_input", _tiny_kspace, raising=False)
    window = _demo_window(qtbot, monkeypatch, tmp_path, fake_pipeline)
    with qtbot.waitSignal(window.runner.finished, timeout=5000):
        window.open_demo("brain", run_after=True)
    qtbot.waitUntil(lambda: len(window.model.runs) == 2, timeout=20000)
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=5000)
    preview, default = fake_pipeline.requests
    assert (preview.reconstruction, preview.inference, preview.grid) == ("zf", "dm", "coarse")
    assert preview.reconstruction_options.coil_compression == 1
    assert (default.reconstruction, default.inference, default.grid) == ("lrtv", "dm", "paper")
    assert default.reconstruction_options.coil_compression == 0
    first, second = window.model.runs
    assert first.name == "Quick preview: ZF + DM, coarse grid" and second.name == "LRTV + DM"
    assert first.reconstruction_options == {"coil_compression": 1}
    assert window.model.current_run is second  # the default run replaces the preview
    assert window.errors == []


def test_a_failed_preview_does_not_start_the_default_run(
    qtbot, monkeypatch, tmp_path, fake_pipeline
):
    from mrfcore import pipeline

    monkeypatch.setattr(pipeline, "load_input", _tiny_kspace, raising=False)
    fake_pipeline.fail = RuntimeError("broken preview")
    window = _demo_window(qtbot, monkeypatch, tmp_path, fake_pipeline)
    with qtbot.waitSignal(window.runner.finished, timeout=5000):
        window.open_demo("brain", run_after=True)
    qtbot.waitUntil(lambda: len(window.errors) == 1, timeout=10000)
    qtbot.wait(200)
    assert not window.runner.busy and window.model.runs == []
    assert len(fake_pipeline.requests) == 1
