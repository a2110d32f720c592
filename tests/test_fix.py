"""``--fix`` on real trees: only what the plan lists goes, everything else is byte-identical,
the old code stops running, and a file changed between plan and apply is skipped."""

from __future__ import annotations

import hashlib
import json
import os
import py_compile
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from conftest import (
    clean_env,
    cli,
    fix_json,
    make_venv,
    pty_read_all,
    pty_read_until,
    pty_spawn,
    report_json,
    run,
)
from pyenvdoctor import fix
from pyenvdoctor.model import BytecodeCategory
from pyenvdoctor.report import build_report

TAG = sys.implementation.cache_tag


def compile_(path: Path) -> Path:
    written = py_compile.compile(str(path), doraise=True)
    assert written is not None
    return Path(written)


def restore_mtime_edit(path: Path, text: str) -> None:
    st = path.stat()
    assert len(text.encode()) == st.st_size
    path.write_text(text)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def checksums(*roots: Path) -> dict[str, str]:
    """sha256 of every file below ``roots`` (symlinks recorded by their target, not followed)."""
    result = {}
    for root in roots:
        for dirpath, dirs, names in os.walk(root):
            for name in names + [d for d in dirs if Path(dirpath, d).is_symlink()]:
                p = Path(dirpath, name)
                if p.is_symlink():
                    result[str(p)] = "-> " + os.readlink(p)
                else:
                    result[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return result


@pytest.fixture
def project(tmp_path: Path) -> Iterator[dict[str, Path]]:
    """A project with planted bytecode problems and files that must survive."""
    d = tmp_path / "proj"
    (d / "pkg").mkdir(parents=True)
    (d / "pyproject.toml").write_text("[project]\nname = 'p'\nversion = '0'\n")
    (d / "pkg" / "__init__.py").write_text("")
    (d / "pkg" / "data.json").write_text('{"keep": true}\n')
    (d / "pkg" / "notes.pyc.txt").write_text("not bytecode\n")
    (d / "keep.py").write_text("VALUE = 'keep'\n")
    compile_(d / "keep.py")
    compile_(d / "pkg" / "__init__.py")
    (d / "edited.py").write_text("VALUE = 'old'\n")
    compile_(d / "edited.py")
    restore_mtime_edit(d / "edited.py", "VALUE = 'new'\n")  # stale-accepted
    (d / "gone.py").write_text("VALUE = 'gone'\n")
    compile_(d / "gone.py")
    (d / "gone.py").unlink()  # orphaned
    (d / "moved.py").write_text("VALUE = 'moved'\n")
    os.replace(compile_(d / "moved.py"), d / "moved.pyc")
    (d / "moved.py").unlink()  # sourceless: the moved module still imports
    (d / "__pycache__" / "keep.cpython-27.pyc").write_bytes(b"\x03\xf3\r\n" + b"\0" * 12)  # foreign
    outside = tmp_path / "outside"
    (outside / "__pycache__").mkdir(parents=True)
    (outside / "__pycache__" / f"lonely.{TAG}.pyc").write_bytes(b"x" * 32)  # orphaned, outside
    (d / "link").symlink_to(outside)
    yield {"root": d, "outside": outside}


def value(directory: Path, module: str) -> str:
    env = clean_env(PYTHONDONTWRITEBYTECODE="1")
    proc = run(
        [sys.executable, "-c", f"import {module}; print({module}.VALUE)"],
        env=env,
        cwd=directory,
        check=False,
    )
    return proc.stdout.strip() if proc.returncode == 0 else "ImportError"


def test_fix_removes_only_planned_files_and_old_code_stops_running(
    project: dict[str, Path],
) -> None:
    d, outside = project["root"], project["outside"]
    assert value(d, "edited") == "old"  # the bug: the edit does not take effect
    assert value(d, "moved") == "moved"  # a deleted module still imports
    before = checksums(d, outside)
    proc = cli(
        "report",
        "--python",
        sys.executable,
        "--fix",
        "--yes",
        "--format",
        "json",
        "--log",
        d.parent / "log.json",
        env=clean_env(),
        cwd=d,
    )
    result = json.loads(proc.stdout)
    removed = {f["path"] for f in result["outcome"]["files"] if f["status"] == "removed"}
    assert removed == {
        str(d / "__pycache__" / f"edited.{TAG}.pyc"),
        str(d / "__pycache__" / f"gone.{TAG}.pyc"),
        str(d / "moved.pyc"),
        str(d / "__pycache__" / "keep.cpython-27.pyc"),
    }
    assert set(result["resolved"]) == {
        "bytecode-stale-accepted",
        "bytecode-orphaned",
        "bytecode-sourceless",
        "bytecode-foreign",
    }
    assert result["remaining"] == []
    after = checksums(d, outside)
    assert {p: h for p, h in before.items() if p not in removed} == after
    log = [json.loads(line) for line in (d.parent / "log.json").read_text().splitlines()]
    assert {r["path"] for r in log if r["event"] == "removed"} == removed
    assert value(d, "edited") == "new"  # the edit takes effect now
    assert value(d, "moved") == "ImportError"  # the deleted module is gone for good


def test_dry_run_changes_nothing_and_no_terminal_refuses(project: dict[str, Path]) -> None:
    d = project["root"]
    before = checksums(d)
    dry = json.loads(
        cli(
            "report",
            "--python",
            sys.executable,
            "--fix",
            "--dry-run",
            "--format",
            "json",
            env=clean_env(),
            cwd=d,
        ).stdout
    )
    assert dry["dry_run"] is True and dry["outcome"]["removed"] == 4
    refused = cli(
        "report", "--python", sys.executable, "--fix", env=clean_env(), cwd=d, check=False
    )
    assert refused.returncode == 6
    assert "pass --yes" in refused.stderr and refused.stdout == ""
    assert checksums(d) == before


def test_fix_selected_code_only(project: dict[str, Path]) -> None:
    d = project["root"]
    out = fix_json(sys.executable, "bytecode-orphaned", env=clean_env(), cwd=d)
    assert [a["finding"] for a in out["plan"]] == ["bytecode-orphaned"]
    assert (d / "__pycache__" / f"edited.{TAG}.pyc").exists()
    assert not (d / "__pycache__" / f"gone.{TAG}.pyc").exists()


def _plan_for(d: Path, **kwargs: Any) -> tuple[fix.Action, ...]:
    files: list[tuple[BytecodeCategory, str, os.stat_result]] = []
    report = build_report(
        python=sys.executable,
        environ=clean_env(),
        working_directory=str(d),
        on_file=lambda *f: files.append(f),
    )
    return fix.plan(report, files, **kwargs)


def test_a_file_replaced_between_plan_and_apply_is_skipped(project: dict[str, Path]) -> None:
    d = project["root"]
    plan = _plan_for(d)
    orphan = d / "__pycache__" / f"gone.{TAG}.pyc"
    replacement = orphan.with_name("new-content")
    replacement.write_bytes(orphan.read_bytes())
    os.replace(replacement, orphan)  # same name and content, another inode
    outcome = fix.apply(plan)
    by_path = {f.path: f for f in outcome.files}
    assert by_path[str(orphan)].status == "skipped"
    assert "changed since the plan" in by_path[str(orphan)].reason
    assert orphan.exists() and not outcome.complete
    assert by_path[str(d / "moved.pyc")].status == "removed"  # the rest went on


def test_a_failure_on_one_file_is_reported_and_the_rest_go_on(project: dict[str, Path]) -> None:
    d = project["root"]
    plan = _plan_for(d)
    locked = d / "__pycache__"
    if subprocess.run(["chattr", "+i", str(locked)], capture_output=True, check=False).returncode:
        pytest.skip("chattr +i is not available here")
    try:
        outcome = fix.apply(plan)
    finally:
        subprocess.run(["chattr", "-i", str(locked)], check=True)
    statuses = {Path(f.path).name: f.status for f in outcome.files}
    assert statuses[f"gone.{TAG}.pyc"] == "failed"
    assert statuses["moved.pyc"] == "removed"
    assert (locked / f"gone.{TAG}.pyc").exists()


def test_stdlib_and_other_users_files_are_left_alone(tmp_path: Path) -> None:
    d = tmp_path / "proj"
    d.mkdir()
    (d / "setup.py").write_text("")
    theirs = d / "__pycache__" / f"theirs.{TAG}.pyc"
    theirs.parent.mkdir()
    theirs.write_bytes(b"x" * 20)
    if os.geteuid() == 0:
        os.chown(theirs, 65534, 65534)  # nobody's
    files: list[tuple[BytecodeCategory, str, os.stat_result]] = []
    report = build_report(
        python=sys.executable,
        environ=clean_env(),
        working_directory=str(d),
        on_file=lambda *f: files.append(f),
    )
    # A real stdlib bytecode file, offered to the planner as if it were debris.
    stdlib = Path(report.interpreter.sysconfig_paths["stdlib"]).resolve()
    real = next(stdlib.glob(f"__pycache__/*.{TAG}.pyc"), None)
    if real is None:
        pytest.skip("the stdlib has no bytecode here")
    files.append((BytecodeCategory.ORPHANED, str(real), real.stat()))
    # ... and as if the stdlib had been scanned (so only the stdlib rule can stop it).
    report = replace(
        report, bytecode=replace(report.bytecode, roots=(*report.bytecode.roots, str(stdlib)))
    )
    plan = fix.plan(report, files)
    left = {p: r for a in plan for p, r in a.skipped}
    assert "stdlib" in left[str(real)]
    if os.geteuid() == 0:
        assert "another user" in left[str(theirs)]
    planned = {f.path for a in plan for f in a.files}
    assert str(real) not in planned
    with_system = fix.plan(report, files, include_system=True)
    assert str(real) in {f.path for a in with_system for f in a.files}


def test_pip_cache_purge_through_the_targets_pip(tmp_path: Path) -> None:
    venv_py = make_venv(tmp_path / "venv")
    cache = tmp_path / "cache"
    # "http": every pip purges it (pip < 23.3 does not know "http-v2" and leaves it alone).
    (cache / "http" / "a").mkdir(parents=True)
    with open(cache / "http" / "a" / "big", "wb") as f:  # sparse: 1 GiB apparent, no disk
        f.truncate(1 << 30)
    (cache / "wheels").mkdir()
    keep = tmp_path / "keep.txt"
    keep.write_text("outside the cache\n")
    env = clean_env(PIP_CACHE_DIR=str(cache))
    before = report_json(venv_py, env, tmp_path)
    assert "pip-cache-large" in {f["code"] for f in before["findings"]}
    out = fix_json(venv_py, "pip-cache-large", env=env, cwd=tmp_path)
    assert out["plan"][0]["command"][-3:] == ["pip", "cache", "purge"]
    assert out["outcome"]["commands"] == [{"command": out["plan"][0]["command"], "exit_status": 0}]
    assert out["outcome"]["bytes_freed"] >= 1 << 30
    assert out["resolved"] == ["pip-cache-large"]
    assert not (cache / "http" / "a" / "big").exists() and keep.exists()


def test_pip_cache_without_pip_removes_only_inside_the_cache(tmp_path: Path) -> None:
    venv_py = make_venv(tmp_path / "venv", sys.executable, "--without-pip")
    cache = tmp_path / "cache"
    (cache / "http-v2").mkdir(parents=True)
    with open(cache / "http-v2" / "big", "wb") as f:
        f.truncate(1 << 30)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "precious").write_text("x")
    (cache / "link").symlink_to(elsewhere)
    env = clean_env(PIP_CACHE_DIR=str(cache))
    out = fix_json(venv_py, env=env, cwd=tmp_path)
    action = next(a for a in out["plan"] if a["finding"] == "pip-cache-large")
    assert [f["path"] for f in action["files"]] == [str(cache / "http-v2" / "big")]
    assert (elsewhere / "precious").exists() and (cache / "link").is_symlink()


def _on_terminal(argv: list[str], answer: bytes, cwd: Path) -> tuple[int, bytes]:
    """Run ``argv`` on a pseudo-terminal, answering the first ``[y/N]`` prompt."""
    pid, fd = pty_spawn(argv, cwd)
    out = pty_read_until(fd, b"[y/N]", seconds=300)
    if b"[y/N]" in out:
        os.write(fd, answer)
    out += pty_read_all(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), out


@pytest.mark.parametrize(("answer", "status", "removed"), [(b"y\n", 0, True), (b"n\n", 6, False)])
def test_asks_once_on_a_terminal(
    project: dict[str, Path], answer: bytes, status: int, removed: bool
) -> None:
    d = project["root"]
    exe = str(Path(sys.executable).parent / "pyenvdoctor")
    code, out = _on_terminal(
        [exe, "report", "--python", sys.executable, "--fix", "--format", "text"], answer, d
    )
    assert code == status
    assert out.count(b"[y/N]") == 1
    assert (d / "__pycache__" / f"gone.{TAG}.pyc").exists() is not removed
