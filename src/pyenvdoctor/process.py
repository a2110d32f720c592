"""Run a process of the target with a bound on time that nothing it starts can stretch.

Every process the host starts in the target (the probe, the hash and code checks of
:mod:`pyenvdoctor.collect.bytecode`, the ``python3`` found on ``PATH``, a repair's pip) goes
through :func:`start`/:func:`run`, because the target is not trusted to end cleanly (issue 16):

* it runs in a session and process group of its own (``setsid``, POSIX), so that on time-out the
  whole group is killed (``killpg``), not only the interpreter: a ``sitecustomize`` or a ``.pth``
  line that starts ``sleep 600`` with our pipes as its stdout cannot make us wait for it;
* when the interpreter itself has exited, what it wrote is already in the pipes: we read for a
  short grace period (:data:`GRACE`), then kill what is left of its group and stop reading, so a
  grandchild holding the pipes open does not hold the report either. The group is killed while
  the interpreter is still an unreaped zombie (``waitid(WNOWAIT)``), so its process-group id
  cannot have been reused by an unrelated process;
* optionally an *answer channel*: a pipe whose write end the child inherits at a known
  descriptor number (``pass_fds``), for the probe's answer, which the target's own prints to
  stdout (at start-up or in ``atexit``) cannot reach;
* standard input, stdout, stderr and the answer channel are pumped together by one
  ``selectors`` loop, so an input or an output larger than a pipe buffer cannot deadlock.

A grandchild that made a session of its own (``setsid``, a daemon's double fork,
``Popen(start_new_session=True)``) escapes the group kill. On Linux the CLI makes pyenvdoctor a
*child subreaper* (:func:`become_subreaper`, ``prctl(PR_SET_CHILD_SUBREAPER)``, see
``prctl(2)``): an orphaned descendant of a target process is then reparented to pyenvdoctor
instead of ``init``, and when no target process is running any more (after each :meth:`Running.wait`
or :meth:`Running.kill`), every process whose parent is pyenvdoctor (``/proc/<pid>/stat``
field 4) and that pyenvdoctor did not start itself (the target processes of this module and the
forked scan workers, :func:`fork`) is killed and reaped (:func:`sweep`). Elsewhere (no ``prctl``,
no ``/proc``: macOS, the BSDs, Windows) or when ``prctl`` fails, such a process is left running,
as before: we close our ends of its pipes and go on. Output beyond :data:`OUTPUT_LIMIT` bytes
per stream is read and dropped.

Platforms: sessions, process groups (``killpg``), ``waitid(WNOWAIT)`` and the answer channel
(``pass_fds``) are POSIX; on Windows the process is started plainly, killed alone
(``Popen.kill``) on time-out, and answers on stdout (the probe's marker) instead of a pipe.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

__all__ = [
    "ANSWER_FD",
    "GRACE",
    "OUTPUT_LIMIT",
    "Finished",
    "Running",
    "become_subreaper",
    "forget_child",
    "fork",
    "run",
    "start",
    "sweep",
]

#: Seconds we go on reading after the interpreter exited, for what its children still write.
GRACE = 0.5

#: Bytes kept per output stream (stdout, stderr); the answer channel keeps 16 times as many.
OUTPUT_LIMIT = 4 << 20

#: Placeholder in argv for the answer channel's descriptor number.
ANSWER_FD = "\0answer-fd\0"

_POLL = 0.05  # seconds between checks that the leader is still alive
_POSIX = os.name == "posix"
_WAITID = hasattr(os, "waitid")  # not on every POSIX build: then poll(), which reaps

#: Seconds :func:`sweep` waits for the processes it killed to be reaped.
SWEEP_WAIT = 1.0

_PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>


class _Children:
    """What this process started and whether it is a subreaper (one per process).

    ``lock`` guards ``pids`` and ``live``; it is held while a child is started (between the
    fork and its pid being noted, a sweep in another thread would take it for an orphan) and
    while a sweep decides what to kill.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pids: set[int] = set()  # started here and not reaped yet
        self.live = 0  # Running objects not collected yet
        self.subreaper = False


_children = _Children()


def become_subreaper() -> bool:
    """Make this process the *child subreaper* of its descendants (Linux 3.4+,
    ``prctl(PR_SET_CHILD_SUBREAPER, 1)``, ``prctl(2)``): a descendant whose parent dies is
    reparented here, not to ``init``, so :func:`sweep` can end what a target left running in
    a session of its own. Called once, by the CLI (a library caller's process is not ours to
    change). The setting is not inherited by ``fork``.

    :returns: ``True`` when this process is a subreaper now; ``False`` elsewhere than Linux,
        without ``ctypes`` or a C library exporting ``prctl``, or when the call fails: then
        nothing changes and :func:`sweep` does nothing (today's behaviour: such a process
        outlives the report).
    """
    if _children.subreaper:
        return True
    if not sys.platform.startswith("linux") or not os.path.isdir("/proc/self"):
        return False
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (ImportError, OSError, AttributeError):
        return False
    prctl.restype = ctypes.c_int
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    if prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        return False
    _children.subreaper = True
    return True


def fork() -> int:
    """:func:`os.fork`, with the child's pid noted as one this process started, so that
    :func:`sweep` never takes it for an orphan (the bytecode scan's workers fork here).

    Call :func:`forget_child` once it is reaped. :raises OSError: as :func:`os.fork`.
    """
    with _children.lock:
        pid = os.fork()
        if pid > 0:
            _children.pids.add(pid)
    return pid


def forget_child(pid: int) -> None:
    """``pid``, started by :func:`fork`, has been reaped (its number may be reused)."""
    with _children.lock:
        _children.pids.discard(pid)


def _parented_here() -> list[int]:
    """The pids whose parent is this process (``/proc/<pid>/stat``: ``pid (comm) state
    ppid ...``; ``comm`` may hold spaces and parentheses, so the fields are read after the
    last ``)``). Only thread-group leaders are listed in ``/proc``, that is processes."""
    me = str(os.getpid()).encode()
    found = []
    try:
        names = os.listdir("/proc")
    except OSError:
        return []
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                fields = f.read().rpartition(b")")[2].split()
        except OSError:  # it ended meanwhile
            continue
        if len(fields) > 1 and fields[1] == me:
            found.append(int(name))
    return found


def sweep() -> int:
    """Kill (``SIGKILL``) and reap every process reparented to this subreaper: its parent is
    this process (``/proc``) but this process did not start it (neither :class:`Running` nor
    :func:`fork`). Repeated until none is left, for up to :data:`SWEEP_WAIT` seconds: killing a
    daemon reparents its own children here in turn. Does nothing unless
    :func:`become_subreaper` succeeded, and nothing while a :class:`Running` is not collected
    (its target's orphans are swept when the last one is). A process that cannot be killed
    (another user's, after a setuid ``exec``) or does not die in time is left.

    Safe against pid reuse: a process whose parent is this one keeps its pid until this
    process reaps it, and only this function reaps such a process.

    :returns: the number of processes reaped.
    """
    if not _children.subreaper:
        return 0
    deadline = time.monotonic() + SWEEP_WAIT
    reaped = 0
    refused: set[int] = set()
    while True:
        with _children.lock:
            if _children.live:
                return reaped
            ours = _children.pids
            orphans = [p for p in _parented_here() if p not in ours and p not in refused]
            for pid in orphans:
                try:
                    os.kill(pid, signal.SIGKILL)
                except PermissionError:
                    refused.add(pid)
                except ProcessLookupError:
                    pass
        if not orphans:
            return reaped
        for pid in orphans:
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:  # not ours after all (reaped, or its pid reused)
                continue
            reaped += done == pid
        if time.monotonic() > deadline:
            return reaped
        time.sleep(0.01)


class Finished(NamedTuple):
    """What a process did (a named tuple, not a dataclass: this module is imported before the
    shim lookups and the probe start, where importing :mod:`dataclasses` would delay both).

    :ivar returncode: its exit status (negative: killed by that signal), ``None`` when it was
        still running at the deadline and was killed.
    :ivar stdout: bytes, at most :data:`OUTPUT_LIMIT`; :ivar stderr: the same.
    :ivar answer: what arrived on the answer channel (``b""`` without one).
    :ivar timed_out: the deadline passed before the process exited.
    :ivar lingering: after it exited, something it started still held a pipe open (and was
        killed with its group).
    """

    returncode: int | None
    stdout: bytes
    stderr: bytes
    answer: bytes
    timed_out: bool
    lingering: bool


class Running:
    """A started process (see the module docstring); :meth:`wait` collects it.

    :ivar answer_fd: the descriptor number the child writes its answer to, or ``None``.
    :raises OSError: from :class:`subprocess.Popen` (the executable cannot be run).
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        input: bytes = b"",
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        answer_channel: bool = False,
        nice: int = 0,
    ) -> None:
        self.started = time.monotonic()
        self.answer_fd: int | None = None
        answer_read = answer_write = -1
        if answer_channel and _POSIX:
            answer_read, answer_write = os.pipe()
            self.answer_fd = answer_write
        fd_text = str(self.answer_fd) if self.answer_fd is not None else "-"
        args = [fd_text if a == ANSWER_FD else a for a in argv]
        try:
            with _children.lock:  # the pid is noted before a sweep in another thread can see it
                self._proc: subprocess.Popen[bytes] = subprocess.Popen(
                    args,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    cwd=cwd,
                    env=dict(env) if env is not None else None,
                    # POSIX only; elsewhere there is no answer pipe (the probe answers on stdout)
                    pass_fds=(answer_write,) if answer_write >= 0 else (),
                    # POSIX only; elsewhere the process is killed alone (see _kill_group)
                    start_new_session=_POSIX,
                    # os.nice in the child before exec: everything it starts inherits it.
                    preexec_fn=(lambda: _nice(nice)) if nice and _POSIX else None,  # noqa: PLW1509 (callers: no other thread)
                )
                _children.pids.add(self._proc.pid)
                _children.live += 1
                self._collected = False
        except BaseException:
            if answer_read >= 0:
                os.close(answer_read)
                os.close(answer_write)
            raise
        if answer_write >= 0:
            os.close(answer_write)
        self.pid = self._proc.pid
        self._input = memoryview(input)
        self._answer_read = answer_read
        self._buffers: dict[int, bytearray] = {}
        self._selector = selectors.DefaultSelector()
        self._draining = False
        self._forward: Callable[[], int | None] | None = None
        self._forwarded = False
        self._stdin_fd = self._proc.stdin.fileno() if self._proc.stdin else -1
        self._stdout_fd = self._proc.stdout.fileno() if self._proc.stdout else -1
        self._stderr_fd = self._proc.stderr.fileno() if self._proc.stderr else -1
        self._answer_fd_read = answer_read
        assert self._proc.stdin and self._proc.stdout and self._proc.stderr
        if not _POSIX:
            # Windows: a selector takes sockets only, not pipes; :meth:`_wait_plain` lets
            # communicate() pump them (with threads) instead.
            return
        for stream in (self._proc.stdout, self._proc.stderr):
            self._register(stream.fileno(), selectors.EVENT_READ)
        if answer_read >= 0:
            self._register(answer_read, selectors.EVENT_READ)
        if input:
            os.set_blocking(self._proc.stdin.fileno(), False)
            self._register(self._proc.stdin.fileno(), selectors.EVENT_WRITE)
        else:
            self._proc.stdin.close()

    def _register(self, fd: int, events: int) -> None:
        self._selector.register(fd, events)
        if events == selectors.EVENT_READ:
            self._buffers[fd] = bytearray()

    def _exited(self) -> bool:
        """The leader has exited (it stays a zombie until :meth:`_reap`)."""
        if self._proc.returncode is not None:
            return True
        if not _POSIX or not _WAITID:  # poll() reaps it: the group is then killed by its id
            return self._proc.poll() is not None
        try:
            info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return True
        return info is not None

    def _kill_group(self) -> None:
        try:
            if _POSIX:
                os.killpg(self.pid, signal.SIGKILL)
            else:
                self._proc.kill()
        except (ProcessLookupError, PermissionError):
            pass

    def _pump(self, until: float, *, once: bool = False) -> None:
        """Move data until every stream is closed or ``until`` (monotonic seconds) passes;
        ``once``: only what is ready now, without waiting."""
        stdin = self._proc.stdin
        while self._selector.get_map():
            left = until - time.monotonic()
            if left <= 0 and not once:
                return
            for key, _ in self._selector.select(0 if once else min(left, _POLL)):
                fd = key.fd
                if stdin is not None and fd == self._stdin_fd:
                    try:
                        sent = os.write(fd, self._input[:65536])
                    except BlockingIOError:
                        continue
                    except OSError:  # BrokenPipeError: it stopped reading
                        sent = len(self._input)
                    self._input = self._input[sent:]
                    if not self._input:
                        self._selector.unregister(fd)
                        stdin.close()
                    continue
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    self._selector.unregister(fd)
                    continue
                buf = self._buffers[fd]
                limit = OUTPUT_LIMIT * (16 if fd == self._answer_read else 1)
                if len(buf) < limit:
                    buf += chunk[: limit - len(buf)]
            if self._forward is not None and not self._forwarded:
                signum = self._forward()
                if signum is not None:
                    self._forwarded = True
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(self.pid, signum) if _POSIX else self._proc.terminate()
            if once or (self._exited() and not self._draining):
                return

    def poll(self) -> bool:
        """Move what is ready (input, output) without waiting; whether the process has exited
        (it stays collectable by :meth:`wait`). For a caller with something else to do.
        Without POSIX nothing is registered (see :meth:`__init__`): it only checks."""
        if self._selector.get_map():
            self._pump(0.0, once=True)
        return self._exited()

    def wait(self, timeout: float, *, forward: Callable[[], int | None] | None = None) -> Finished:
        """Collect the process: its output, its exit status, and nothing it left behind.

        :param timeout: seconds since :meth:`__init__` before the process counts as hung; it
            is then killed with its process group. Returns at the latest ``timeout`` +
            :data:`GRACE` + a little seconds after the start.
        :param forward: asked while waiting; the first signal number it answers is sent to the
            process group once (a SIGINT the user gave pyenvdoctor reaches the target's pip,
            which is in a session of its own), and the wait goes on.

        An exception while waiting (a signal handler's) kills the group before it propagates.
        """
        self._forward = forward
        self._forwarded = False
        try:
            return self._wait(timeout) if _POSIX else self._wait_plain(timeout)
        except BaseException:
            self.kill()
            raise

    def _wait(self, timeout: float) -> Finished:
        deadline = self.started + timeout
        self._pump(deadline)
        while not self._exited() and time.monotonic() < deadline:
            time.sleep(_POLL / 5)  # every stream closed: it is exiting (or hangs without them)
        timed_out = not self._exited()
        lingering = False
        if not timed_out and self._open_outputs():
            # The leader has exited: read what its children still write, for a moment.
            self._draining = True
            self._pump(min(time.monotonic() + GRACE, deadline + GRACE))
            lingering = self._open_outputs()
        # Kill the group before reaping the leader, whose pid then still names the group.
        self._kill_group()
        with contextlib.suppress(subprocess.TimeoutExpired):  # unkillable (D state): init's
            self._proc.wait(timeout=5)
        # What the killed processes wrote before they died is still in the pipes.
        self._draining = True
        self._pump(time.monotonic() + (0.1 if self._open_outputs() else 0))
        self._close()
        self._collect()
        return Finished(
            returncode=None if timed_out else self._proc.returncode,
            stdout=bytes(self._buffers.get(self._stdout_fd, b"")),
            stderr=bytes(self._buffers.get(self._stderr_fd, b"")),
            answer=bytes(self._buffers.get(self._answer_fd_read, b"")),
            timed_out=timed_out,
            lingering=lingering,
        )

    def _wait_plain(self, timeout: float) -> Finished:
        """:meth:`wait` without POSIX (Windows): no process group (only the interpreter is
        killed on time-out; what it started may go on, and if it holds a pipe the output read
        so far is lost after :data:`GRACE` seconds), no answer channel (the probe answers on
        stdout, after its marker), no signal forwarding (``forward`` is not asked)."""
        left = max(0.0, self.started + timeout - time.monotonic())
        timed_out = False
        try:
            out, err = self._proc.communicate(bytes(self._input), timeout=left)
        except subprocess.TimeoutExpired:
            timed_out = True
            self._proc.kill()
            try:
                out, err = self._proc.communicate(timeout=GRACE)
            except subprocess.TimeoutExpired:  # something it started holds the pipes
                out = err = b""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=5)
        self._close()
        self._collect()
        return Finished(
            returncode=None if timed_out else self._proc.returncode,
            stdout=(out or b"")[:OUTPUT_LIMIT],
            stderr=(err or b"")[:OUTPUT_LIMIT],
            answer=b"",
            timed_out=timed_out,
            lingering=False,
        )

    def _open_outputs(self) -> bool:
        return any(key.events == selectors.EVENT_READ for key in self._selector.get_map().values())

    def _close(self) -> None:
        self._selector.close()
        for stream in (self._proc.stdin, self._proc.stdout, self._proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        if self._answer_read >= 0:
            os.close(self._answer_read)
            self._answer_read = -2

    def kill(self) -> None:
        """Kill the process and its group now (an interrupted caller), and reap it."""
        self._kill_group()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=5)
        self._close()
        self._collect()

    def _collect(self) -> None:
        """This run is over: forget its reaped leader, and when no other run is going on,
        end what it left behind in a session of its own (:func:`sweep`). Idempotent."""
        with _children.lock:
            if self._collected:
                return
            self._collected = True
            _children.live -= 1
            if self._proc.returncode is not None:  # reaped; else init's (D state), or ours later
                _children.pids.discard(self.pid)
        sweep()


def start(
    argv: Sequence[str],
    *,
    input: bytes = b"",
    cwd: str | None = None,
    env: Mapping[str, str] | None = None,
    answer_channel: bool = False,
    nice: int = 0,
) -> Running:
    """Start ``argv`` (see the module docstring); :meth:`Running.wait` collects it.

    :param input: bytes written to its standard input, which is then closed.
    :param answer_channel: give it a pipe for its answer (POSIX; ignored elsewhere). An
        element of ``argv`` equal to :data:`ANSWER_FD` is replaced with the pipe's descriptor
        number (``-`` without a pipe).
    :param nice: niceness added to it (POSIX ``nice(2)``; ignored elsewhere), for work that
        should only use idle CPU time. Not 0: start it while no other thread runs
        (``preexec_fn``).
    :raises OSError: it cannot be started.
    """
    return Running(
        argv,
        input=input,
        cwd=cwd,
        env=env,
        answer_channel=answer_channel,
        nice=nice,
    )


def _nice(increment: int) -> None:
    """``os.nice`` in a child before it execs; failing to lower its priority is no error."""
    with contextlib.suppress(OSError):
        os.nice(increment)


def run(
    argv: Sequence[str],
    *,
    timeout: float,
    input: bytes = b"",
    cwd: str | None = None,
    env: Mapping[str, str] | None = None,
    forward: Callable[[], int | None] | None = None,
) -> Finished:
    """Run ``argv`` to its end or ``timeout`` seconds, whichever comes first.

    :param forward: see :meth:`Running.wait`.
    :raises OSError: it cannot be started.
    """
    return start(argv, input=input, cwd=cwd, env=env).wait(timeout, forward=forward)
