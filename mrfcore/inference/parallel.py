"""Splitting CPU work over threads for the matching kernels.

Dictionary matching on a CPU is thousands of small products and reductions (one per
group of atoms, or per cache-sized chunk).  Spread over torch's intra-op threads, each of
them ends at an OpenMP barrier; on a 2-core machine shared with other programs a barrier
often waits for a descheduled thread, and the matching ran 3–5× slower with 2 threads
than with 1 (measured here with other jobs running).  Instead, the caller switches its
own operations to one intra-op thread (:func:`torch_threads`) and runs independent
pieces of work on a few Python threads at once (:func:`in_parallel`); torch releases
the GIL inside its operations, and a thread that finishes a piece takes the next one,
so a core that another program keeps busy only slows its own pieces.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    import torch

__all__ = ["PIECES_PER_THREAD", "cpu_workers", "in_parallel", "torch_threads"]

T = TypeVar("T")

PIECES_PER_THREAD = 4
"""Work split over threads goes in this many pieces per thread."""

_POOL: list[ThreadPoolExecutor] = []
_POOL_LOCK = threading.Lock()


_OUTSIDE = threading.local()  # .threads: torch's thread count outside torch_threads


def cpu_workers(device: torch.device) -> int:
    """Threads to split work over: on a CPU, torch's thread count (as it was outside
    :func:`torch_threads`), 1 on other devices."""
    import torch

    if device.type != "cpu":
        return 1
    return max(1, getattr(_OUTSIDE, "threads", None) or torch.get_num_threads())


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run this thread's torch operations with ``count`` intra-op threads.

    Under OpenMP the setting is per thread; torch also keeps it as the default of
    threads that start using torch meanwhile.  Both are restored on exit.
    :func:`cpu_workers` still answers the count from outside.
    """
    import torch

    previous = torch.get_num_threads()
    outermost = getattr(_OUTSIDE, "threads", None) is None
    if outermost:
        _OUTSIDE.threads = previous
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
        if outermost:
            _OUTSIDE.threads = None


def in_parallel(tasks: list[Callable[[bool], T]], workers: int) -> list[T]:
    """Run ``tasks`` on ``workers`` threads — this one and helpers with one intra-op
    thread each — each thread taking the next task when it finishes one.  Call it under
    ``torch_threads(1)``.

    Parameters
    ----------
    tasks
        ``task(in_caller)``; ``in_caller`` says whether it runs in the calling thread,
        the only one that should report progress (a progress callback may raise
        :class:`~mrfcore.progress.Cancelled`).
    workers
        Threads to use, the calling one included.

    Returns
    -------
    list
        The tasks' results, in order.  An exception in a task stops the tasks not yet
        started and is raised once every thread has stopped.
    """
    import torch

    results: list = [None] * len(tasks)
    workers = max(1, min(workers, len(tasks)))
    pending = iter(range(len(tasks)))
    lock = threading.Lock()
    failed = threading.Event()

    def work(in_caller: bool) -> None:
        if not in_caller and torch.get_num_threads() != 1:
            # A helper's first task (the pool's threads live on): under torch_threads(1)
            # new threads start with 1 already, and the default is not touched.
            torch.set_num_threads(1)
        while not failed.is_set():
            with lock:
                index = next(pending, None)
            if index is None:
                return
            try:
                results[index] = tasks[index](in_caller)
            except BaseException:
                failed.set()
                raise

    helpers = [_pool(workers - 1).submit(work, False) for _ in range(workers - 1)]
    try:
        work(True)
    finally:
        errors = [helper.exception() for helper in helpers]
    for error in errors:
        if error is not None:
            raise error
    return results


def _pool(size: int) -> ThreadPoolExecutor:
    with _POOL_LOCK:
        if not _POOL or _POOL[0]._max_workers < size:
            if _POOL:
                _POOL[0].shutdown(wait=False)
            _POOL[:] = [ThreadPoolExecutor(size, thread_name_prefix="mrf-matching")]
        return _POOL[0]
