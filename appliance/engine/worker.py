"""The engine's one worker thread: the models run there, one job at a time.

Every control of the engine returns at once; the work it asks for is a job for
the :class:`Worker`, which runs jobs in the order they came. A job that fails is
reported to ``on_error`` and its future carries the exception; the worker goes on.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

log = logging.getLogger(__name__)

Result = TypeVar("Result")

# While idle, the worker beats at least this often (seconds), so a watchdog that follows
# :attr:`Worker.heartbeat` tells a hang from a quiet box.
IDLE_BEAT_SECONDS = 1.0


class Worker:
    """Runs submitted jobs on one thread, in order.

    ``heartbeat`` is when the worker last showed it is alive (``time.monotonic()``):
    it beats between jobs, and a long job calls :meth:`beat` as it goes.
    """

    def __init__(self, on_error: Callable[[Exception], None], name: str = "engine") -> None:
        self.heartbeat = time.monotonic()
        self._on_error = on_error
        self._jobs: queue.SimpleQueue[
            tuple[Callable[..., Any], tuple[Any, ...], Future[Any]] | None
        ]
        self._jobs = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, function: Callable[..., Result], *args: Any) -> Future[Result]:
        """Run ``function(*args)`` after the jobs before it; the future holds its result."""
        future: Future[Result] = Future()
        self._jobs.put((function, args, future))
        return future

    def beat(self) -> None:
        """A long job is still making progress."""
        self.heartbeat = time.monotonic()

    def close(self, timeout: float = 5.0) -> None:
        """Let the jobs already submitted finish, then end the thread (waits ``timeout`` s)."""
        self._jobs.put(None)
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            self.beat()
            try:
                job = self._jobs.get(timeout=IDLE_BEAT_SECONDS)
            except queue.Empty:
                continue
            if job is None:
                return
            function, args, future = job
            try:
                future.set_result(function(*args))
            except Exception as error:
                log.exception("the engine failed")
                self._on_error(error)
                future.set_exception(error)
