"""The one adapter between long computations and the Qt event loop.

A :class:`TaskRunner` runs ``job(progress)`` on a :class:`QThread`.  ``progress`` is a
:class:`mrfcore.progress.Progress` whose callback emits :attr:`TaskRunner.progressed`;
because the runner lives in the GUI thread and the signal is emitted from the worker
thread, Qt queues every emission to the GUI thread, so slots never run concurrently with
the widgets.  :meth:`TaskRunner.cancel` sets the progress's cancel token; the job stops at
its next progress call by raising :class:`~mrfcore.progress.Cancelled`.

Exactly one of ``succeeded(result)``, ``failed(message, details)`` or ``cancelled()``
follows every start, then ``finished()``.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal

from mrfcore.progress import Cancelled, CancelToken, Progress

__all__ = ["TaskRunner", "format_eta"]

# Progress reports closer together than this are dropped in the worker thread (the final
# step of a stage always gets through): the bar cannot show more, and a flood of queued
# signals would cost the GUI thread time.
_REPORT_INTERVAL_S = 0.05


class _Thread(QThread):
    def __init__(self, runner: TaskRunner, job: Callable[[Progress], Any], token: CancelToken):
        super().__init__()
        self._runner = runner
        self._job = job
        self._token = token

    def run(self) -> None:
        runner = self._runner
        progress = Progress(runner._report, self._token, min_interval_s=_REPORT_INTERVAL_S)
        try:
            result = self._job(progress)
        except Cancelled:
            runner._done.emit("cancelled", None, "", "")
        except Exception as error:  # noqa: BLE001 - every failure goes to the user's dialog
            details = traceback.format_exc()
            runner._done.emit("failed", None, str(error) or type(error).__name__, details)
        else:
            if self._token.cancelled:
                runner._done.emit("cancelled", None, "", "")
            else:
                runner._done.emit("succeeded", result, "", "")


class TaskRunner(QObject):
    """Runs one job at a time in a background thread and reports through signals.

    Signals
    -------
    started(title)
    progressed(step, total, message)
        ``step`` out of ``total`` and the current stage's message.
    succeeded(result)
    failed(message, details)
        ``details`` is the formatted traceback.
    cancelled()
    finished()
        Always last.
    """

    started = Signal(str)
    progressed = Signal(int, int, str)
    succeeded = Signal(object)
    failed = Signal(str, str)
    cancelled = Signal()
    finished = Signal()
    _done = Signal(str, object, str, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: _Thread | None = None
        self._token: CancelToken | None = None
        self._callbacks: tuple[Callable[[Any], None] | None, Callable[[], None] | None] = (
            None,
            None,
        )
        self.title = ""
        self.started_at = 0.0
        self._done.connect(self._on_done)

    @property
    def busy(self) -> bool:
        return self._thread is not None

    @property
    def cancel_requested(self) -> bool:
        return self._token is not None and self._token.cancelled

    def start(
        self,
        job: Callable[[Progress], Any],
        title: str = "",
        on_success: Callable[[Any], None] | None = None,
        on_cancel: Callable[[], None] | None = None,
    ) -> None:
        """Run ``job(progress)`` in the background.

        ``on_success(result)`` and ``on_cancel()`` are called in the GUI thread, before the
        ``succeeded``/``cancelled`` signals, so a caller can hand each job its own
        continuation while views listen to the signals.

        Raises
        ------
        RuntimeError
            If a job is already running (the GUI disables Run while busy).
        """
        if self._thread is not None:
            raise RuntimeError(f"'{self.title}' is still running; wait or cancel it first")
        self.title = title
        self.started_at = time.monotonic()
        self._token = CancelToken()
        self._callbacks = (on_success, on_cancel)
        self._thread = _Thread(self, job, self._token)
        self.started.emit(title)
        self._thread.start()

    def cancel(self) -> None:
        """Ask the running job to stop at its next progress call."""
        if self._token is not None:
            self._token.cancel()

    def wait(self, timeout_ms: int = 5000) -> bool:
        """Block until the worker thread ends (for shutdown and tests)."""
        if self._thread is None:
            return True
        return self._thread.wait(timeout_ms)

    def _report(self, step: int, total: int, message: str) -> None:
        # Runs in the worker thread; the emission is queued to the GUI thread.
        self.progressed.emit(step, total, message)

    def _on_done(self, outcome: str, result: object, message: str, details: str) -> None:
        thread = self._thread
        if thread is not None:
            thread.wait()  # run() has returned; this only joins the OS thread
            thread.deleteLater()
        self._thread = None
        self._token = None
        on_success, on_cancel = self._callbacks
        self._callbacks = (None, None)
        try:
            if outcome == "succeeded":
                if on_success is not None:
                    try:
                        on_success(result)
                    except Exception as error:  # noqa: BLE001 - shown like a job failure
                        self.failed.emit(
                            f"{self.title}: the result could not be shown: {error}",
                            traceback.format_exc(),
                        )
                        return
                self.succeeded.emit(result)
            elif outcome == "cancelled":
                if on_cancel is not None:
                    on_cancel()
                self.cancelled.emit()
            else:
                self.failed.emit(message, details)
        finally:
            self.finished.emit()


def format_eta(elapsed_s: float, fraction: float) -> str:
    """Remaining time as text (``"about 12 s left"``), or ``""`` while unknown.

    A linear extrapolation of ``elapsed_s`` over the ``fraction`` done (0..1); shown only
    once the estimate has something to stand on.
    """
    if fraction <= 0.02 or elapsed_s < 0.5 or fraction >= 1.0:
        return ""
    remaining = elapsed_s * (1.0 - fraction) / fraction
    if remaining < 1.0:
        return "less than a second left"
    if remaining < 90:
        return f"about {remaining:.0f} s left"
    return f"about {remaining / 60:.0f} min left"
