"""Issue 15: SIGINT or SIGTERM during ``--fix`` stops it between two file operations, never
inside one: the file under way is removed or left as it was (never under its private name),
the ``--log`` holds a true record ending in ``interrupted``, one line goes to stderr, and the
exit status is 130 / 143.

The signal is sent at points the test reaches deterministically: while the plan waits for
confirmation on a pseudo-terminal, and while ``--fix`` is blocked writing the log record of its
first removal to a FIFO whose buffer the test filled (``/proc/PID/wchan`` says so)."""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import clean_env, pty_read_all, pty_read_until, pty_spawn

TAG = sys.implementation.cache_tag
PYENVDOCTOR = str(Path(sys.executable).parent / "pyenvdoctor")


def _tree(root: Path, count: int) -> list[Path]:
    """``count`` orphaned pycs (their sources are gone), one per package."""
    pycs = []
    for i in range(count):
        cache = root / f"pkg{i}" / "__pycache__"
        cache.mkdir(parents=True)
        (root / f"pkg{i}" / "__init__.py").write_text("")
        pyc = cache / f"gone{i}.{TAG}.pyc"
        pyc.write_bytes(b"\0" * 16 + bytes([i]) * 100)
        pycs.append(pyc)
    return pycs


def _left_over(root: Path) -> list[str]:
    """Names a half-done removal would leave (fix.safe_unlink's and _edit_pth's private
    names)."""
    return sorted(str(p) for p in root.rglob("*pyenvdoctor-*"))


def _wait_for(predicate: object, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.02)
    pytest.fail(f"timed out waiting for {what}")


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_at_the_confirmation_prompt_changes_nothing(
    tmp_path: Path, signum: int, status: int
) -> None:
    pycs = _tree(tmp_path / "tree", 3)
    log = tmp_path / "fix.log"
    argv = [PYENVDOCTOR, "report", "--python", sys.executable, "--path", str(tmp_path / "tree"),
            "--fix", "--format", "text", "--log", str(log)]  # fmt: skip
    pid, fd = pty_spawn(argv, tmp_path)
    before = pty_read_until(fd, b"[y/N]")
    assert b"[y/N]" in before, before
    os.kill(pid, signum)
    after = pty_read_all(fd)
    _, wait_status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(wait_status) == status
    lines = [ln for ln in after.decode().splitlines() if ln.strip()]
    name = signal.Signals(signum).name
    assert lines[-1].startswith(f"pyenvdoctor: interrupted by {name}"), after
    assert b"Traceback" not in after
    assert all(p.exists() for p in pycs)
    assert not log.exists()  # the log is opened only after the answer, before any change
    assert _left_over(tmp_path) == []


@pytest.mark.skipif(not Path("/proc/self/wchan").exists(), reason="needs /proc/PID/wchan")
@pytest.mark.parametrize(("signum", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_between_files_stops_after_the_file_under_way(
    tmp_path: Path, signum: int, status: int
) -> None:
    tree = tmp_path / "tree"
    pycs = _tree(tree, 5)
    fifo = tmp_path / "fix.log"
    os.mkfifo(fifo)
    # Both ends, so the CLI's open() does not wait for a reader; the buffer filled with blank
    # lines, so its first record (the first removal) blocks in write() until the test reads.
    end = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
    filled = 0
    try:
        while True:
            filled += os.write(end, b"\n" * 4096)
    except BlockingIOError:
        pass
    proc = subprocess.Popen(
        [sys.executable, "-I", "-m", "pyenvdoctor", "report", "--python", sys.executable,
         "--path", str(tree), "--fix", "--yes", "--format", "json", "--log", str(fifo)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env(), cwd=tmp_path,
    )  # fmt: skip
    try:

        def blocked_on_the_log() -> bool:
            try:
                wchan = Path(f"/proc/{proc.pid}/wchan").read_text()
            except OSError:
                return False
            return "pipe_write" in wchan and sum(not p.exists() for p in pycs) == 1

        _wait_for(blocked_on_the_log, "the first removal's log record to block")
        proc.send_signal(signum)
        time.sleep(0.3)  # the handler has run; the write is retried (PEP 475)
        data = b""
        while proc.poll() is None:
            if select.select([end], [], [], 0.1)[0]:
                with contextlib.suppress(BlockingIOError):
                    data += os.read(end, 65536)
        with contextlib.suppress(BlockingIOError):
            data += os.read(end, 1 << 20)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(end)
    assert proc.returncode == status, err
    stderr_lines = err.decode().strip().splitlines()
    name = signal.Signals(signum).name
    assert stderr_lines[-1] == (
        f"pyenvdoctor: interrupted by {name}: 1 file(s) changed, 0 command(s) run, "
        f"4 planned change(s) not attempted; no file is left half-done; {fifo} lists every change"
    ), err
    assert b"Traceback" not in err
    records = [json.loads(line) for line in data.decode().splitlines() if line.strip()]
    # The __pycache__ the one removal emptied is still removed: rmdir is one operation.
    assert [r["event"] for r in records] == ["removed", "directory-removed", "interrupted"]
    assert records[2] == {"event": "interrupted", "signal": int(signum), "not_attempted": 4}
    gone = [p for p in pycs if not p.exists()]
    assert [str(p) for p in gone] == [records[0]["path"]]
    assert records[1]["path"] == str(gone[0].parent) and not gone[0].parent.exists()
    assert len([p for p in pycs if p.exists()]) == 4
    assert _left_over(tmp_path) == []
    assert filled > 0 and out == b""
