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
