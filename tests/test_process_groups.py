"""Issue 16: a target that leaves a grandchild holding the probe's pipes, or hangs with one,
does not hang the report: the probe runs in a session of its own and the whole group is killed
(on time-out, or when the interpreter has exited and something it started still holds a pipe).

Each test runs ``python -m pyenvdoctor`` as a real subprocess against a real venv whose
``sitecustomize.py`` (or ``.pth`` line) starts a real ``sleep``; the ``sleep`` is found again in
``/proc`` by its unique duration, to check that nothing is left running."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from conftest import clean_env, make_venv, site_packages

pytestmark = pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc")


def _duration() -> str:
    """A ``sleep`` duration no other process on the machine uses (GNU sleep takes fractions)."""
    return f"600.{uuid.uuid4().int % 10**9:09d}"


def _sleepers(duration: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if duration.encode() in argv:
            found.append(int(entry.name))
    return found


def _report(python: Path, cwd: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-I", "-m", "pyenvdoctor", "report", "--python", str(python), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
        cwd=cwd,
    )
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"the report hung: {err}")
    elapsed = time.monotonic() - started
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), elapsed


@pytest.fixture
def venv(tmp_path: Path) -> Path:
    return make_venv(tmp_path / "venv", sys.executable, "--without-pip")


def _cleanup(duration: str) -> None:
    for pid in _sleepers(duration):  # only those this test started
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize(
    "start",
    [
        "import subprocess; subprocess.Popen(['sleep', {d!r}])",  # holds stdout and stderr
        "import os; os.system('sleep {d} &')",  # holds the answer channel as well
        "import os\nif os.fork() == 0:\n    os.execvp('sleep', ['sleep', {d!r}])",
    ],
    ids=["popen", "shell-background", "fork"],
)
def test_a_grandchild_holding_the_pipes_does_not_hang_the_report(
    venv: Path, tmp_path: Path, start: str
) -> None:
    duration = _duration()
    (site_packages(venv) / "sitecustomize.py").write_text(start.format(d=duration) + "\n")
    # The oracle: without pyenvdoctor, the grandchild really outlives the interpreter.
    probe = subprocess.Popen([venv, "-c", "pass"], stdout=subprocess.DEVNULL)
    probe.wait(timeout=30)
    time.sleep(0.2)
    assert _sleepers(duration), "the sitecustomize did not start its sleep"
    _cleanup(duration)
    try:
        proc, elapsed = _report(venv, tmp_path, "--timeout", "5", "--format", "json")
        assert proc.returncode == 0, proc.stderr
        assert "Traceback" not in proc.stderr
        data = json.loads(proc.stdout)
        assert data["interpreter"]["executable"]
        assert elapsed < 5 + 5, elapsed  # the timeout, and start-up of pyenvdoctor itself
        time.sleep(0.2)
        assert _sleepers(duration) == [], "a grandchild of the probe outlived the report"
    finally:
        _cleanup(duration)


def test_a_hanging_target_with_a_grandchild_ends_at_the_timeout(venv: Path, tmp_path: Path) -> None:
    duration = _duration()
    (site_packages(venv) / "sitecustomize.py").write_text(
        f"import subprocess, time\nsubprocess.Popen(['sleep', {duration!r}])\ntime.sleep(600)\n"
    )
    try:
        proc, elapsed = _report(venv, tmp_path, "--timeout", "3", "--format", "json")
        assert proc.returncode == 3, proc.stderr
        assert proc.stderr.strip().splitlines() == [
            f"pyenvdoctor: error: {venv}: no answer within 3 s (hung at start-up?)"
        ], proc.stderr
        assert proc.stdout == ""
        assert elapsed < 3 + 5, elapsed
        time.sleep(0.2)
        assert _sleepers(duration) == []
    finally:
        _cleanup(duration)


def test_a_shell_wrapper_that_leaves_a_sleep_behind(venv: Path, tmp_path: Path) -> None:
    """``--python`` names a wrapper script that starts ``sleep &`` and then execs Python."""
    duration = _duration()
    wrapper = tmp_path / "python-wrapper"
    wrapper.write_text(f'#!/bin/sh\nsleep {duration} &\nexec {venv} "$@"\n')
    wrapper.chmod(0o755)
    try:
        proc, elapsed = _report(wrapper, tmp_path, "--timeout", "5", "--format", "json")
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["interpreter"]["executable"] == str(venv)
        assert elapsed < 5 + 5, elapsed
        time.sleep(0.2)
        assert _sleepers(duration) == []
    finally:
        _cleanup(duration)


def test_a_stop_signal_is_forwarded_to_the_process_group(tmp_path: Path) -> None:
    """:func:`pyenvdoctor.process.run` with ``forward``: the signal reaches the command (in a
    session of its own, where the terminal's Ctrl-C does not), which handles it and ends."""
    from pyenvdoctor import process

    script = "trap 'echo got INT; exit 3' INT; sleep 30 & wait"
    started = time.monotonic()
    asked: list[float] = []

    def forward() -> int | None:
        asked.append(time.monotonic())
        return signal.SIGINT if time.monotonic() - started > 0.5 else None

    done = process.run(["sh", "-c", script], timeout=20, forward=forward)
    assert done.returncode == 3 and done.stdout == b"got INT\n"
    assert time.monotonic() - started < 10 and asked


def test_poll_moves_a_large_answer_so_the_process_can_end() -> None:
    """``Running.poll`` never waits, and reads what is ready: a child writing 1 MiB (16 pipe
    buffers) on stdout and on the answer channel ends while the caller only polls, and
    ``wait`` then has every byte."""
    from pyenvdoctor import process

    code = (
        "import os, sys; fd = int(sys.argv[1]); data = b'x' * (1 << 20); "
        "sys.stdout.buffer.write(data); sys.stdout.flush(); "
        "view = memoryview(data)\n"
        "while view: view = view[os.write(fd, view):]"
    )
    running = process.start([sys.executable, "-c", code, process.ANSWER_FD], answer_channel=True)
    deadline = time.monotonic() + 30
    polls = 0
    while not running.poll():
        polls += 1
        assert time.monotonic() < deadline, "the child never ended: poll did not read"
        time.sleep(0.001)
    done = running.wait(30)
    assert done.returncode == 0
    assert len(done.stdout) == len(done.answer) == 1 << 20
    assert polls > 0
    before = time.monotonic()
    idle = process.start([sys.executable, "-c", "import time; time.sleep(2)"])
    assert idle.poll() is False
    assert time.monotonic() - before < 1.0  # poll returned at once
    idle.kill()


def _parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    return int(stat.rpartition(b")")[2].split()[1])


_ESCAPES = {
    # a forking sitecustomize whose child makes a session of its own and sleeps
    "fork-setsid": "import os, time\n"
    "if os.fork() == 0:\n"
    "    os.setsid()\n"
    "    os.execvp('sleep', ['sleep', {d!r}])\n",
    "popen-new-session": "import subprocess\n"
    "subprocess.Popen(['sleep', {d!r}], start_new_session=True,\n"
    "                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n",
    # a daemon: double fork, the middle process exits at once; the sleep's parent dies while
    # the target still runs
    "double-fork": "import os\n"
    "if os.fork() == 0:\n"
    "    os.setsid()\n"
    "    if os.fork() == 0:\n"
    "        os.execvp('sleep', ['sleep', {d!r}])\n"
    "    os._exit(0)\n",
    # the sleep still holds the probe's stdout: the report waits GRACE, then sweeps it
    "setsid-holding-stdout": "import subprocess\nsubprocess.Popen(['setsid', 'sleep', {d!r}])\n",
}


@pytest.mark.parametrize("start", list(_ESCAPES.values()), ids=list(_ESCAPES))
def test_a_grandchild_in_a_session_of_its_own_is_ended_too(
    venv: Path, tmp_path: Path, start: str
) -> None:
    """Issue 16: a process the target starts in a new session escapes the group kill; the CLI
    is a child subreaper (Linux ``prctl``), so the orphan is reparented to it and swept after
    the run. The oracle: without pyenvdoctor the sleep outlives the interpreter (in another
    session than the interpreter's)."""
    duration = _duration()
    (site_packages(venv) / "sitecustomize.py").write_text(start.format(d=duration))
    oracle = subprocess.Popen(
        [venv, "-c", "pass"], stdout=subprocess.DEVNULL, start_new_session=True
    )
    oracle.wait(timeout=30)
    time.sleep(0.3)
    try:
        left = _sleepers(duration)
        assert left, "the sitecustomize did not start its sleep"
        assert all(os.getsid(p) != oracle.pid for p in left), "the sleep is in the group"
        _cleanup(duration)
        proc, elapsed = _report(venv, tmp_path, "--timeout", "10", "--format", "json")
        assert proc.returncode == 0, proc.stderr
        assert "Traceback" not in proc.stderr
        assert json.loads(proc.stdout)["interpreter"]["executable"] == str(venv)
        assert elapsed < 10, elapsed
        assert _sleepers(duration) == [], "a process in a session of its own outlived the report"
    finally:
        _cleanup(duration)


def test_the_sweep_spares_what_pyenvdoctor_started_itself(tmp_path: Path) -> None:
    """:func:`pyenvdoctor.process.sweep`, in a subreaper of its own (a child Python): an orphan
    reparented to it is killed and reaped; a child it forked (:func:`process.fork`, as the
    scan workers are) and a target still running are not."""
    duration = _duration()
    script = f"""
import os, sys, time
from pyenvdoctor import process
assert process.become_subreaper()
worker = process.fork()
if worker == 0:
    time.sleep(30)
    os._exit(0)
# a target that leaves an orphan in a session of its own
done = process.run(["sh", "-c", "setsid sleep {duration} </dev/null >/dev/null 2>&1 &"], timeout=10)
print("run", done.returncode, flush=True)
# while a target runs, nothing is swept
running = process.start(["sleep", "30"])
orphan = os.fork()
if orphan == 0:  # a process of ours we did not note: what the sweep takes for an orphan
    time.sleep(30)
    os._exit(0)
print("while-running", process.sweep(), flush=True)
running.kill()  # its _collect sweeps: the unnoted child goes
alive = os.waitpid(worker, os.WNOHANG) == (0, 0)
print("worker-alive", alive, flush=True)
os.kill(worker, 9)
os.waitpid(worker, 0)
process.forget_child(worker)
try:
    os.waitpid(orphan, os.WNOHANG)
    print("orphan", "not reaped")
except ChildProcessError:
    print("orphan", "reaped")
"""
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False,
    )  # fmt: skip
    try:
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.splitlines() == [
            "run 0",
            "while-running 0",
            "worker-alive True",
            "orphan reaped",
        ], proc.stdout
        assert _sleepers(duration) == []
    finally:
        _cleanup(duration)


def test_a_forked_python_child_in_a_session_of_its_own_is_ended(venv: Path, tmp_path: Path) -> None:
    """The form of issue 16 itself: ``os.fork(); os.setsid(); time.sleep(100)`` in a
    ``sitecustomize``. The child is the target interpreter still (no marker in its argv): it
    writes its pid to a file, which is then looked up in ``/proc``; it holds the probe's pipes
    too."""
    pidfile = tmp_path / "child.pid"
    (site_packages(venv) / "sitecustomize.py").write_text(
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        f"    with open({str(pidfile)!r}, 'w') as f:\n"
        "        f.write(str(os.getpid()))\n"
        "    time.sleep(100)\n"
        "    os._exit(0)\n"
    )

    def child_alive() -> int | None:
        for _ in range(50):  # the child writes its pid soon after the fork
            if pidfile.exists() and pidfile.read_text():
                break
            time.sleep(0.05)
        pid = int(pidfile.read_text())
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            state = Path(f"/proc/{pid}/stat").read_bytes().rpartition(b")")[2].split()[0]
        except OSError:
            return None
        return pid if cmdline[0] == os.fsencode(venv) and state != b"Z" else None

    # The oracle: without pyenvdoctor the child outlives the interpreter.
    subprocess.run([venv, "-c", "pass"], check=True, timeout=30)
    pid = child_alive()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    pidfile.unlink()
    proc, elapsed = _report(venv, tmp_path, "--timeout", "10", "--format", "json")
    pid = child_alive()
    if pid is not None:
        os.kill(pid, signal.SIGKILL)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert json.loads(proc.stdout)["interpreter"]["executable"] == str(venv)
    assert elapsed < 10, elapsed
    assert pid is None, "the forked child outlived the report"


def test_the_plain_fallback_without_posix(monkeypatch: pytest.MonkeyPatch) -> None:
    """What runs on Windows (no sessions, no answer pipe, no selector on pipes), here with
    ``_POSIX`` off: the output is collected, stdin is written, a hung process ends at its
    time-out, and there is no answer channel (the probe then answers on stdout)."""
    from pyenvdoctor import process

    monkeypatch.setattr(process, "_POSIX", False)
    done = process.run(["sh", "-c", "cat; echo err >&2; exit 4"], timeout=20, input=b"in\n")
    assert (done.returncode, done.stdout, done.stderr, done.timed_out) == (
        4,
        b"in\n",
        b"err\n",
        False,
    )
    started = time.monotonic()
    hung = process.run(["sleep", "30"], timeout=1)
    assert hung.timed_out and hung.returncode is None and time.monotonic() - started < 5
    running = process.start(["sh", "-c", "echo $0", process.ANSWER_FD], answer_channel=True)
    assert running.answer_fd is None
    assert running.wait(20).stdout == b"-\n"
