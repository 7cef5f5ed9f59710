"""The progress protocol every long computation in MRF Studio uses.

A computation receives a :class:`Progress` and calls it with ``(step, total, message)``
at least every few hundred milliseconds.  The call raises :class:`Cancelled` when the
user's callback returned ``False`` or the :class:`CancelToken` was set, so the work stops
cleanly at the next checkpoint without any special return paths.

The GUI adapts this to Qt signals, the command line to a progress bar; the computation
knows neither.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

ProgressCallback = Callable[[int, int, str], "bool | None"]
"""``callback(step, total, message)``; returning ``False`` asks the work to stop."""


class Cancelled(Exception):
    """Raised inside a computation when its caller asked it to stop."""


class CancelToken:
    """A thread-safe flag that a caller sets to stop running work."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled("cancelled by the user")


class Progress:
    """Progress reporter handed down to long computations.

    Parameters
    ----------
    callback
        Called with ``(step, total, message)``; may return ``False`` to stop the work.
    token
        Optional cancel token checked at every call.
    min_interval_s
        Calls to ``callback`` closer together than this are skipped (the cancel check
        still happens), so tight loops may report freely.  The final step of a stage
        (``step == total``) is always reported.
    """

    def __init__(
        self,
        callback: ProgressCallback | None = None,
        token: CancelToken | None = None,
        min_interval_s: float = 0.0,
    ) -> None:
        self.callback = callback
        self.token = token if token is not None else CancelToken()
        self.min_interval_s = min_interval_s
        self._last_report = -float("inf")

    def __call__(self, step: int, total: int, message: str = "") -> None:
        self.token.raise_if_cancelled()
        if self.callback is None:
            return
        now = time.monotonic()
        if step < total and now - self._last_report < self.min_interval_s:
            return
        self._last_report = now
        if self.callback(int(step), int(total), message) is False:
            self.token.cancel()
            raise Cancelled("stopped by the progress callback")

    def check(self) -> None:
        """Raise :class:`Cancelled` if the work should stop; reports nothing."""
        self.token.raise_if_cancelled()

    def stage(self, start: float, stop: float, prefix: str = "") -> Progress:
        """A child reporter mapping its own ``(step, total)`` onto ``[start, stop]``.

        ``start`` and ``stop`` are fractions of this reporter's range, reported to the
        parent in thousandths, so multi-stage work (build kernel, iterate, infer) shows
        one monotone bar.  The child shares this reporter's cancel token.
        """
        parent = self

        def forward(step: int, total: int, message: str) -> bool | None:
            fraction = start + (stop - start) * (step / total if total else 1.0)
            text = f"{prefix}: {message}" if prefix and message else (prefix or message)
            parent(round(1000 * fraction), 1000, text)
            return None

        return Progress(forward, self.token, self.min_interval_s)


def ensure_progress(progress: Progress | ProgressCallback | None) -> Progress:
    """Accept a :class:`Progress`, a bare callback, or ``None`` (silent, never cancels)."""
    if isinstance(progress, Progress):
        return progress
    return Progress(progress)
