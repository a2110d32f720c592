"""Issue 15: a file planned by two actions is judged by the stricter rules of both.

A bytecode-only leftover directory in site-packages holds a pyc the scan also classifies as
orphaned: the ``bytecode-orphaned`` action and the ``leftover-directory`` action both plan it.
When its source comes back between the plan and the removal, neither may delete it (the
leftover action used to check only the file's identity and deleted it), its directory stays,
and the outcome says so (exit 7, a planned file skipped). CPython is the oracle: the package
that came back imports. The same holds for a pyc among the files of pip's cache that
``pip-cache-large`` removes without pip."""

from __future__ import annotations

import json
import os
import py_compile
import sys
from pathlib import Path

from conftest import (
    clean_env,
    make_venv,
    planned_report,
    pty_read_all,
    pty_read_until,
    pty_spawn,
    run,
    site_packages,
)
from pyenvdoctor import fix

TAG = sys.implementation.cache_tag
PYENVDOCTOR = str(Path(sys.executable).parent / "pyenvdoctor")


def _orphan(source: Path) -> Path:
    """Compile ``source`` into its ``__pycache__``, then delete it: an orphaned pyc."""
    written = py_compile.compile(str(source), doraise=True)
    assert written is not None
    source.unlink()
    return Path(written)


def _overlap(tmp_path: Path) -> tuple[Path, Path, Path, Path]:
    """``(venv python, project, leftover pyc, the other orphan)``: a venv whose site-packages
    holds the bytecode-only directory ``oldpkg`` (an uninstall left it), and a project with an
    orphaned pyc of its own (so the two actions plan different sets of files)."""
    venv_py = make_venv(tmp_path / "venv", sys.executable, "--without-pip")
    leftover = site_packages(venv_py) / "oldpkg"
    leftover.mkdir()
    (leftover / "mod.py").write_text("VALUE = 'restored'\n")
    pyc = _orphan(leftover / "mod.py")
    project = tmp_path / "proj"
    project.mkdir()
    (project / "setup.py").write_text("")
    (project / "gone.py").write_text("VALUE = 1\n")
    other = _orphan(project / "gone.py")
    return venv_py, project, pyc, other


def test_a_pyc_whose_source_came_back_is_kept_by_every_action_that_planned_it(
    tmp_path: Path,
) -> None:
    venv_py, project, pyc, other = _overlap(tmp_path)
    plan = planned_report(str(venv_py), project)
    planners = sorted(a.finding for a in plan if str(pyc) in {f.path for f in a.files})
    assert planners == ["bytecode-orphaned", "leftover-directory"]  # the overlap is real
    (pyc.parent.parent / "mod.py").write_text("VALUE = 'restored'\n")  # between plan and apply
    outcome = fix.apply(plan)
    assert pyc.exists() and pyc.parent.is_dir()
    by_path = {f.path: f for f in outcome.files}
    assert [f.path for f in outcome.files].count(str(pyc)) == 1  # attempted once
    assert by_path[str(pyc)].status == "skipped"
    assert by_path[str(pyc)].reason.startswith("its source is back")
    for directory in (pyc.parent, pyc.parent.parent):
        assert by_path[str(directory)].status == "skipped"
        assert by_path[str(directory)].reason == "directory kept: not empty"
    assert by_path[str(other)].status == "removed" and not other.exists()
    assert not outcome.complete
    printed = run([venv_py, "-c", "import oldpkg.mod; print(oldpkg.mod.VALUE)"], cwd=tmp_path)
    assert printed.stdout.strip() == "restored"


def test_a_leftover_that_holds_a_new_file_is_kept(tmp_path: Path) -> None:
    """The leftover's own rule (it holds only bytecode) is checked at removal too, for a file
    whichever action removes it."""
    venv_py, project, pyc, _other = _overlap(tmp_path)
    plan = planned_report(str(venv_py), project)
    notes = pyc.parent.parent / "notes.txt"
    notes.write_text("mine\n")  # the directory is the user's now
    outcome = fix.apply(plan)
    by_path = {f.path: f for f in outcome.files}
    assert by_path[str(pyc)].status == "skipped"
    assert by_path[str(pyc)].reason == (
        f"the leftover directory {pyc.parent.parent} holds {notes} now"
    )
    assert pyc.exists() and notes.read_text() == "mine\n"


def test_the_cli_keeps_it_and_exits_7(tmp_path: Path) -> None:
    """The same race through ``report --fix`` on a terminal: the source comes back while the
    plan waits for its confirmation."""
    venv_py, project, pyc, other = _overlap(tmp_path)
    out = tmp_path / "fix.json"
    argv = [PYENVDOCTOR, "report", "--python", str(venv_py), "--fix", "--format", "json",
            "--no-redact", "--output", str(out)]  # fmt: skip
    pid, fd = pty_spawn(argv, project)
    shown = pty_read_until(fd, b"[y/N]", seconds=300)
    assert b"[y/N]" in shown, shown
    assert shown.count(b"[y/N]") == 1 and str(pyc).encode() in shown
    assert b"Remove debris: 2 action(s), 2 file(s)?" in shown  # the shared pyc counted once
    (pyc.parent.parent / "mod.py").write_text("VALUE = 'restored'\n")
    os.write(fd, b"y\n")
    rest = pty_read_all(fd)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 7, shown + rest
    assert b"Traceback" not in rest
    result = json.loads(out.read_text())
    by_path = {f["path"]: f for f in result["outcome"]["files"]}
    assert by_path[str(pyc)]["status"] == "skipped"
    assert by_path[str(pyc)]["reason"].startswith("its source is back")
    assert by_path[str(pyc.parent.parent)]["reason"] == "directory kept: not empty"
    assert by_path[str(other)]["status"] == "removed"
    assert pyc.exists() and not other.exists()
    assert (pyc.parent.parent / "mod.py").read_text() == "VALUE = 'restored'\n"


def test_a_pyc_in_pips_cache_is_judged_as_bytecode_too(tmp_path: Path) -> None:
    """``PIP_CACHE_DIR`` inside the project and no pip in the target: the files ``pip cache
    purge`` would remove are planned one by one, and the scan classifies a pyc among them as
    orphaned. Its source comes back before the removal: the cache action keeps it too."""
    venv_py = make_venv(tmp_path / "venv", sys.executable, "--without-pip")
    project = tmp_path / "proj"
    (project / "cache" / "http-v2").mkdir(parents=True)
    (project / "setup.py").write_text("")
    with open(project / "cache" / "http-v2" / "big", "wb") as f:  # sparse: 1 GiB, no disk
        f.truncate(1 << 30)
    (project / "cache" / "http-v2" / "tool.py").write_text("VALUE = 1\n")
    pyc = _orphan(project / "cache" / "http-v2" / "tool.py")
    env = clean_env(PIP_CACHE_DIR=str(project / "cache"))
    plan = planned_report(str(venv_py), project, environ=env)
    planners = sorted(a.finding for a in plan if str(pyc) in {f.path for f in a.files})
    assert planners == ["bytecode-orphaned", "pip-cache-large"]
    (pyc.parent.parent / "tool.py").write_text("VALUE = 1\n")
    outcome = fix.apply(plan)
    by_path = {f.path: f for f in outcome.files}
    assert by_path[str(pyc)].status == "skipped" and pyc.exists()
    assert by_path[str(pyc)].reason.startswith("its source is back")
    assert by_path[str(project / "cache" / "http-v2" / "big")].status == "removed"
