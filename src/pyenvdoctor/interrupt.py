"""SIGINT and SIGTERM while ``--fix`` runs: stop between file operations, never inside one.

:func:`handling` installs handlers for both signals (the main thread only; restored on exit).
Outside :meth:`Stop.deferred` a signal raises :class:`~pyenvdoctor.errors.Interrupted` at once
(a prompt waiting for an answer, a diagnosis between rounds: nothing is half done there).
Inside it, the signal is only recorded: :func:`pyenvdoctor.fix.apply` asks :meth:`Stop.pending`
before each file and each command, so the rename-check-unlink of
:func:`pyenvdoctor.fix.safe_unlink` or the write-and-replace of a ``.pth`` edit always runs to its
end, and the ``--log`` record of it is written. A command running then (the target's pip) gets
the signal forwarded to its process group and is waited for: pip rolls back its own uninstall on
``KeyboardInterrupt`` (``pip/_internal/req/req_uninstall.py`` ``UninstallPathSet.rollback``).

A blocking write (a ``--log`` on a FIFO whose reader is slow) is retried after the handler runs
(PEP 475), so the record is written in full before the stop is seen.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

from pyenvdoctor.errors import Interrupted

__all__ = ["SIGNALS", "Stop", "handling"]

#: The signals that stop ``--fix``.
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Stop:
    """The first stop signal received, and whether it is deferred now."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._deferring = 0

    def _handler(self, signum: int, _frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum
        if not self._deferring:
            raise Interrupted(signum)

    def pending(self) -> int | None:
        """The signal number received so far, or ``None``."""
        return self.signum

    @contextlib.contextmanager
    def deferred(self) -> Iterator[Stop]:
        """Inside: a signal is only recorded (the caller asks :meth:`pending` when it can
        stop, and after the block)."""
        self._deferring += 1
        try:
            yield self
        finally:
            self._deferring -= 1


@contextlib.contextmanager
def handling() -> Iterator[Stop]:
    """Install the handlers of :data:`SIGNALS` for the block (no-op off the main thread,
    where Python cannot install them); the previous handlers come back after it."""
    stop = Stop()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {s: signal.signal(s, stop._handler) for s in SIGNALS}
    try:
        yield stop
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
