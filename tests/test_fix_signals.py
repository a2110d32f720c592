"""Issue 15: SIGINT or SIGTERM during ``--fix`` stops it between two file operations, never
inside one: the file under way is removed or left as it was (never under its private name),
the ``--log`` holds a true record ending in ``interrupted``, one line goes to stderr, and the
exit status is 130 / 143.

The signal is sent at points the test reaches deterministically: while the plan waits for
confirmation on a pseudo-terminal, and while ``--fix`` is blocked writing the log record of its
first removal to a FIFO whose buffer the test filled (``/proc/PID/wchan`` says so), and while
the re-diagnosis after the first round scans the bytecode (stopped with SIGSTOP while it holds
a descriptor of a scanned ``__pycache__``, ``/proc/PID/fd``)."""

from __future__ import annotations

import contextlib
import json
import os
import py_compile
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import clean_env, make_venv, pty_read_all, pty_read_until, pty_spawn, site_packages

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


def _fresh_tree(root: Path, count: int) -> None:
    """``count`` modules with valid bytecode (fresh: nothing to fix), 100 per package, so the
    scan has work to do: one pyc compiled, copied for sources of the same size and mtime."""
    root.mkdir(parents=True)
    seed = root / "seed.py"
    seed.write_text("X = 1\n")
    written = py_compile.compile(str(seed), doraise=True)
    assert written is not None
    data = Path(written).read_bytes()
    st = seed.stat()
    for i in range(count):
        package = root / f"p{i // 100}"
        (package / "__pycache__").mkdir(parents=True, exist_ok=True)
        source = package / f"m{i}.py"
        source.write_text("X = 1\n")
        os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns))
        (package / "__pycache__" / f"m{i}.{TAG}.pyc").write_bytes(data)


def _open_below(pid: int, root: Path) -> bool:
    """Process ``pid`` holds a descriptor of something below ``root`` (the scan's directory
    descriptor of a ``__pycache__`` it is judging)."""
    prefix = str(root) + os.sep
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith(prefix):
                return True
    return False


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/PID/fd")
def test_sigint_during_the_second_rounds_scan(tmp_path: Path) -> None:
    """SIGINT while the re-diagnosis after the first round scans the bytecode: the log ends
    with ``interrupted``, exit 130, one line on stderr and no traceback, and the debris that
    appeared meanwhile (which a second round would remove) is still there.

    Deterministic: the target's start-up (a ``.pth`` line) plants an orphaned pyc once the
    first round has removed its file, so only the re-diagnosis sees it; the test waits until
    ``--fix`` holds a descriptor of a ``__pycache__`` of the scanned tree with that round's
    record in the log, stops it there (SIGSTOP), sends SIGINT and lets it go on (SIGCONT): the
    signal is handled inside the scan."""
    venv_py = make_venv(tmp_path / "venv", sys.executable, "--without-pip")
    project = tmp_path / "proj"
    (project / "pkg" / "__pycache__").mkdir(parents=True)
    (project / "setup.py").write_text("")
    (project / "pkg" / "__init__.py").write_text("")
    gone = project / "pkg" / "__pycache__" / f"gone.{TAG}.pyc"  # orphaned: round one's
    gone.write_bytes(b"\0" * 32)
    late = project / "late" / "__pycache__" / f"late.{TAG}.pyc"  # orphaned: round two's
    _fresh_tree(project / "bulk", 3000)
    (site_packages(venv_py) / "zz_plant.pth").write_text(
        f"import os; g, l = {str(gone)!r}, {str(late)!r}; "
        "os.path.exists(g) or os.path.exists(l) or "
        "(os.makedirs(os.path.dirname(l), exist_ok=True), open(l, 'wb').write(b'\\0' * 32))\n"
    )
    log = tmp_path / "fix.log"
    proc = subprocess.Popen(
        [sys.executable, "-I", "-m", "pyenvdoctor", "report", "--python", str(venv_py),
         "--fix", "--yes", "--format", "json", "--log", str(log)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env(), cwd=project,
    )  # fmt: skip
    try:

        def in_the_second_scan() -> bool:
            if not (late.exists() and log.exists() and '"removed"' in log.read_text()):
                return False
            if not _open_below(proc.pid, project / "bulk"):
                return False
            os.kill(proc.pid, signal.SIGSTOP)
            if _open_below(proc.pid, project / "bulk"):
                return True
            os.kill(proc.pid, signal.SIGCONT)  # it had just moved on: try the next directory
            return False

        _wait_for(in_the_second_scan, "the re-diagnosis to scan the tree", seconds=120)
        os.kill(proc.pid, signal.SIGINT)  # pending while it is stopped
        os.kill(proc.pid, signal.SIGCONT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert b"Traceback" not in err
    assert (
        err.decode()
        .strip()
        .splitlines()[-1]
        .startswith("pyenvdoctor: interrupted by SIGINT: 1 file(s) changed, 0 command(s) run")
    ), err
    assert out == b""
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["event"] for r in records] == ["removed", "directory-removed", "interrupted"]
    assert records[0]["path"] == str(gone) and records[-1]["signal"] == int(signal.SIGINT)
    assert late.exists() and not gone.exists()  # nothing removed after the signal
    assert _left_over(tmp_path) == []
