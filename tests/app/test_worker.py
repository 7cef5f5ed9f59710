"""The background worker: progress signals, cancel, errors, and a responsive event loop."""

from __future__ import annotations

import threading
import time

import pytest
from PySide6.QtCore import QTimer

from app.worker import TaskRunner, format_eta
from mrfcore.progress import Cancelled


def _busy_job(steps: int, step_s: float, fail_at: int | None = None):
    """Python work holding the GIL between progress reports (the hard case for the GUI)."""

    def job(progress):
        for step in range(steps):
            progress(step, steps, f"step {step}")
            deadline = time.perf_counter() + step_s
            while time.perf_counter() < deadline:
                sum(range(200))
            if step == fail_at:
                raise RuntimeError("the fake method broke")
        progress(steps, steps, "done")
        return {"answer": 42, "thread": threading.get_ident()}

    return job


def test_progress_arrives_in_gui_thread_and_result_is_delivered(qtbot):
    runner = TaskRunner()
    seen = []
    runner.progressed.connect(lambda s, t, m: seen.append((s, t, m, threading.get_ident())))
    results = []
    with qtbot.waitSignal(runner.finished, timeout=5000):
        runner.start(_busy_job(10, 0.01), "fake", on_success=results.append)
    gui_thread = threading.get_ident()
    assert results and results[0]["answer"] == 42
    assert results[0]["thread"] != gui_thread  # the job ran in the background
    assert seen, "no progress reached the GUI"
    assert all(thread == gui_thread for *_, thread in seen)
    assert seen[-1][:3] == (10, 10, "done")  # the last step always gets through
    steps = [s for s, *_ in seen]
    assert steps == sorted(steps)
    assert not runner.busy


def test_cancel_stops_within_a_second(qtbot):
    runner = TaskRunner()
    outcomes = []
    runner.succeeded.connect(lambda r: outcomes.append("succeeded"))
    runner.cancelled.connect(lambda: outcomes.append("cancelled"))
    with qtbot.waitSignal(runner.progressed, timeout=2000):
        runner.start(_busy_job(1000, 0.02), "long")  # 20 s if not stopped
    qtbot.wait(100)
    asked = time.perf_counter()
    with qtbot.waitSignal(runner.cancelled, timeout=1000):
        runner.cancel()
    assert time.perf_counter() - asked < 1.0
    assert outcomes == ["cancelled"]
    assert not runner.busy


def test_errors_arrive_with_traceback(qtbot):
    runner = TaskRunner()
    with qtbot.waitSignal(runner.failed, timeout=5000) as blocker:
        runner.start(_busy_job(10, 0.005, fail_at=3), "breaking")
    message, details = blocker.args
    assert message == "the fake method broke"
    assert "RuntimeError: the fake method broke" in details and "test_worker.py" in details
    qtbot.waitUntil(lambda: not runner.busy, timeout=1000)


def test_second_start_while_busy_is_refused(qtbot):
    runner = TaskRunner()
    runner.start(_busy_job(50, 0.01), "first")
    with pytest.raises(RuntimeError, match="still running"):
        runner.start(_busy_job(1, 0.0), "second")
    with qtbot.waitSignal(runner.cancelled, timeout=2000):
        runner.cancel()


def test_event_loop_never_blocked_more_than_100_ms_during_a_run(qtbot):
    """A 10 ms timer keeps ticking while a GIL-holding job reports progress."""
    runner = TaskRunner()
    ticks = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    progress_seen = []
    runner.progressed.connect(lambda s, t, m: progress_seen.append(s))
    timer.start()
    try:
        with qtbot.waitSignal(runner.finished, timeout=10000):
            runner.start(_busy_job(60, 0.02), "responsive")  # ~1.2 s of work
    finally:
        timer.stop()
    gaps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]
    assert len(ticks) > 50, "the timer hardly ticked: the event loop was starved"
    assert max(gaps) < 0.100, f"event loop blocked for {1000 * max(gaps):.0f} ms"
    assert len(progress_seen) >= 5


def test_cancelled_progress_raises_in_job():
    from mrfcore.progress import CancelToken, Progress

    token = CancelToken()
    progress = Progress(lambda *a: None, token)
    token.cancel()
    with pytest.raises(Cancelled):
        progress(1, 10, "x")


def test_format_eta():
    assert format_eta(0.2, 0.5) == ""  # too early to say
    assert format_eta(10.0, 0.5) == "about 10 s left"
    assert format_eta(600.0, 0.5) == "about 10 min left"
    assert format_eta(1.0, 0.9) == "less than a second left"
