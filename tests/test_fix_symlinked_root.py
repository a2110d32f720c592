"""Issue 15: never leave the roots, never enter a symlinked directory *inside* them.

A root reached through a symlink (a venv at ``TMP/link/venv`` where ``link -> real``) is
resolved once, when the plan is made: its files are planned below the root's real path, so
``--fix`` removes them (it skipped each as "a directory on its path is a symlink", exit 7). A
symlinked ``__pycache__`` inside that tree is still never followed. CPython is the oracle: the
leftover directory imported as a namespace package before, and is an ImportError after."""

from __future__ import annotations

import json
import os
import py_compile
import shutil
import sys
from pathlib import Path

import pytest

from conftest import (
    clean_env,
    cli,
    make_venv,
    planned_report,
    pyenv_python,
    report_json,
    run,
    site_packages,
)
from pyenvdoctor import fix

IMPORT = "import oldpkg, sys; print(type(oldpkg.__path__).__name__)"


def _venv_behind_a_link(tmp_path: Path) -> tuple[Path, Path, Path]:
    """``(venv python as the user names it, the project, the leftover pyc by its real path)``:
    ``tmp/link -> tmp/real``, the venv made at ``tmp/link/venv``; its site-packages holds the
    bytecode-only ``oldpkg`` an uninstall left."""
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to("real")
    venv_py = make_venv(tmp_path / "link" / "venv", sys.executable, "--without-pip")
    sp = site_packages(venv_py)
    assert str(sp).startswith(str(tmp_path / "link"))  # the target names the symlinked path
    (sp / "oldpkg").mkdir()
    (sp / "oldpkg" / "mod.py").write_text("VALUE = 1\n")
    written = py_compile.compile(str(sp / "oldpkg" / "mod.py"), doraise=True)
    assert written is not None
    (sp / "oldpkg" / "mod.py").unlink()
    project = tmp_path / "proj"
    project.mkdir()
    (project / "setup.py").write_text("")
    real_pyc = Path(os.path.realpath(written))
    assert str(real_pyc).startswith(str(tmp_path / "real"))
    return venv_py, project, real_pyc


def test_a_venv_under_a_symlinked_directory_is_fixed(tmp_path: Path) -> None:
    venv_py, project, pyc = _venv_behind_a_link(tmp_path)
    before = run([venv_py, "-c", IMPORT], cwd=project)
    assert before.stdout.strip() == "_NamespacePath"  # the leftover imports as a namespace
    proc = cli(
        "report", "--python", venv_py, "--fix", "--yes", "--format", "json", "--no-redact",
        env=clean_env(), cwd=project, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert {f["path"]: f["status"] for f in result["outcome"]["files"]} == {str(pyc): "removed"}
    assert set(result["resolved"]) == {"bytecode-orphaned", "leftover-directory"}
    assert str(pyc.parent.parent) in result["outcome"]["directories_removed"]
    assert not pyc.parent.parent.exists()
    after = run([venv_py, "-c", IMPORT], cwd=project, check=False)
    assert "ModuleNotFoundError: No module named 'oldpkg'" in after.stderr
    assert (tmp_path / "link").is_symlink() and venv_py.exists()


def test_a_symlinked_pycache_inside_a_symlinked_root_is_not_followed(tmp_path: Path) -> None:
    """Between plan and apply the planned ``__pycache__`` moves out of the tree and a symlink
    to it takes its place: the same files (inode, size, mtime) through a symlink inside the
    root. The removal refuses them and the files outside stay."""
    venv_py, project, pyc = _venv_behind_a_link(tmp_path)
    plan = planned_report(str(venv_py), project)
    assert str(pyc) in {f.path for a in plan for f in a.files}
    outside = tmp_path / "outside"
    shutil.move(pyc.parent, outside)
    pyc.parent.symlink_to(outside)
    moved = outside / pyc.name
    outcome = fix.apply(plan)
    by_path = {f.path: f for f in outcome.files}
    assert by_path[str(pyc)].status == "skipped"
    assert by_path[str(pyc)].reason == "a directory on its path is a symlink"
    assert moved.exists() and pyc.parent.is_symlink()
    assert str(pyc.parent) not in outcome.directories_removed and not outcome.complete


def test_a_pycache_prefix_reached_through_a_symlink_is_fixed(tmp_path: Path) -> None:
    """``PYTHONPYCACHEPREFIX`` names a symlinked directory: the prefix tree is a root, resolved
    once; its stale-accepted pyc is removed (it was skipped, exit 7) and the user's program
    prints the edited value (CPython ran the old code before)."""
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to("real")
    project = tmp_path / "proj"
    project.mkdir()
    (project / "setup.py").write_text("")
    source = project / "mod.py"
    source.write_text("VALUE = 'old'\n")
    env = clean_env(PYTHONPYCACHEPREFIX=str(tmp_path / "link" / "prefix"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    program: list[str | Path] = [sys.executable, "-c", "import mod; print(mod.VALUE)"]
    assert run(program, cwd=project, env=env).stdout.strip() == "old"  # writes the prefix pyc
    st = source.stat()
    source.write_text("VALUE = 'new'\n")  # same size, mtime kept: CPython keeps the old pyc
    os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert run(program, cwd=project, env=env).stdout.strip() == "old"
    proc = cli(
        "report", "--python", sys.executable, "--fix", "bytecode-stale-accepted", "--yes",
        "--format", "json", "--no-redact", env=env, cwd=project, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    files = json.loads(proc.stdout)["outcome"]["files"]
    real_prefix = str(tmp_path / "real" / "prefix")
    assert [(f["status"], f["path"].startswith(real_prefix)) for f in files] == [("removed", True)]
    assert run(program, cwd=project, env=env).stdout.strip() == "new"
    assert source.read_text() == "VALUE = 'new'\n"


def test_a_symlinked_stale_pyc_is_removed_as_a_link(tmp_path: Path) -> None:
    """A ``__pycache__`` pyc that is a symlink to a pyc outside the tree: CPython reads it
    through the link (the edit does not take effect). ``--fix`` removes the link, never what
    it points to; CPython then compiles the source and the new code runs. The oracle is the
    user's program (old value before, new after)."""
    work = tmp_path / "work"
    shared = tmp_path / "shared"
    (work / "__pycache__").mkdir(parents=True)
    shared.mkdir()
    (shared / "mod.py").write_text("VALUE = 'old'\n")
    pyc = py_compile.compile(str(shared / "mod.py"), doraise=True)
    assert pyc is not None
    (work / "mod.py").write_text("VALUE = 'old'\n")
    st = (shared / "mod.py").stat()
    os.utime(work / "mod.py", ns=(st.st_atime_ns, st.st_mtime_ns))
    link = work / "__pycache__" / Path(pyc).name
    link.symlink_to(pyc)
    (work / "mod.py").write_text("VALUE = 'new'\n")  # same size, mtime kept: stale-accepted
    os.utime(work / "mod.py", ns=(st.st_atime_ns, st.st_mtime_ns))
    (work / "main.py").write_text("import mod; print(mod.VALUE)\n")
    env = clean_env()
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    target = Path(pyc).read_bytes()
    assert run([sys.executable, "main.py"], cwd=work, env=env).stdout.strip() == "old"
    proc = cli(
        "report",
        "--python",
        sys.executable,
        "--fix",
        "--yes",
        "--format",
        "json",
        env=env,
        cwd=work,
    )
    result = json.loads(proc.stdout)
    removed = [f["path"] for f in result["outcome"]["files"] if f["status"] == "removed"]
    assert removed == [str(link)]
    assert not os.path.lexists(link)
    assert Path(pyc).read_bytes() == target  # what the link pointed to is untouched
    assert run([sys.executable, "main.py"], cwd=work, env=env).stdout.strip() == "new"
    assert link.is_file() and not link.is_symlink()  # CPython wrote a regular pyc there


def test_no_rm_is_printed_through_a_symlinked_pycache(tmp_path: Path) -> None:
    """``pkg/__pycache__`` is a symlink to a directory outside the tree holding another
    version's pycs (bytecode-foreign): the report prints no ``rm`` that would reach through
    it (running it emptied the outside directory), as ``--fix`` skips those files."""
    python = pyenv_python("3.12")
    other = pyenv_python("3.10")
    if python is None or other is None:
        pytest.skip("needs pyenv's 3.12 and 3.10")
    work, outside = tmp_path / "work", tmp_path / "outside"
    (work / "pkg").mkdir(parents=True)
    outside.mkdir()
    (work / "pkg" / "__init__.py").write_text("")
    (work / "pkg" / "m.py").write_text("A = 1\n")
    (work / "pkg" / "__pycache__").symlink_to(outside)
    env = clean_env()
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    run([str(other), "-c", "import pkg.m"], cwd=work, env=env)
    written = sorted(p.name for p in outside.iterdir())
    assert written == ["__init__.cpython-310.pyc", "m.cpython-310.pyc"]
    data = report_json(python, env, work)
    foreign = [f for f in data["findings"] if f["code"] == "bytecode-foreign"]
    assert len(foreign) == 1 and foreign[0]["commands"] == []
    assert sorted(p.name for p in outside.iterdir()) == written
