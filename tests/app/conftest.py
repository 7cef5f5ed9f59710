"""Fixtures for the GUI tests (the test doubles live in gui_fakes.py)."""

from __future__ import annotations

import pytest
from gui_fakes import FAKE_INFERENCE, FAKE_RECON, FakePipeline


@pytest.fixture
def fake_pipeline(monkeypatch):
    from mrfcore import pipeline

    fake = FakePipeline()
    monkeypatch.setattr(pipeline, "run_pipeline", fake.run_pipeline)
    monkeypatch.setattr(pipeline, "load_input", fake.load_input, raising=False)
    monkeypatch.setattr(
        pipeline,
        "default_request",
        lambda source: pipeline.RunRequest(reconstruction=None, inference="fake_dm"),
    )
    return fake


@pytest.fixture
def window(qtbot):
    from app.main_window import MainWindow

    win = MainWindow(reconstruction=FAKE_RECON, inference=FAKE_INFERENCE, warm_up=False)
    win.run_list.confirm_delete = False
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.method_panel.populated, timeout=2000)
    yield win
    win.runner.cancel()
    win.runner.wait(5000)
