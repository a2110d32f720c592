"""Virtual environments beside the project: real ``python -m venv`` environments in tmp_path,
judged as the interpreter itself judges them (does ``bin/python`` start?), sized like ``du``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import clean_env, make_venv, report_json, run
from pyenvdoctor.checks.caches import nearby_findings
from pyenvdoctor.collect.nearby import find_nearby_venvs, read_nearby_venv, read_pyvenv_cfg
from pyenvdoctor.model import Report, from_dict
from pyenvdoctor.render import OutputFormat, render
from test_caches import du_bytes

pytestmark = pytest.mark.slow


def starts(venv: Path) -> bool:
    """The environment's own answer: does its interpreter run?"""
    try:
        proc = subprocess.run(
            [str(venv / "bin" / "python"), "-c", "pass"],
            capture_output=True,
            env=clean_env(),
            check=False,
        )
    except OSError:
        return False
    return proc.returncode == 0


def base_interpreter() -> str:
    """The real interpreter behind the one running the tests (not a venv's)."""
    return os.path.realpath(getattr(sys, "_base_executable", sys.executable))


def test_healthy_venv_tox_and_nox_environments(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text('[project]\nname = "p"\n')
    make_venv(project / ".venv", base_interpreter())
    make_venv(project / ".tox" / "py311", base_interpreter())
    make_venv(project / ".nox" / "tests-3-11", base_interpreter())
    (project / "env").mkdir()  # not an environment: no pyvenv.cfg
    (project / ".tox" / "log").mkdir()

    venvs = find_nearby_venvs(
        [str(project), str(project)], now=time.time(), target_prefix=str(project / ".venv")
    )

    assert [v.name for v in venvs] == [".venv", ".tox/py311", ".nox/tests-3-11"]
    dot_venv = venvs[0]
    assert dot_venv.is_target and not venvs[1].is_target
    assert dot_venv.creator == "venv"
    cfg = read_pyvenv_cfg(str(project / ".venv" / "pyvenv.cfg"))
    assert cfg is not None and dot_venv.home == cfg["home"]
    assert dot_venv.version == cfg["version"]
    assert all(v.interpreter_exists and v.problem is None for v in venvs)
    assert all(starts(Path(v.path)) for v in venvs)
    assert dot_venv.base_executable is not None and os.path.exists(dot_venv.base_executable)
    assert dot_venv.disk_bytes == (du_bytes(project / ".venv") or dot_venv.disk_bytes)
    assert dot_venv.files > 0 and dot_venv.apparent_bytes > 0
    assert nearby_findings(venvs) == []


def test_venv_whose_interpreter_is_gone(tmp_path: Path) -> None:
    """Made through a symlinked interpreter that is then removed, like a pyenv uninstall:
    ``home`` and the chain of ``bin/python`` links lead nowhere, and it does not start."""
    fake_bin = tmp_path / "pythons" / "bin"
    fake_bin.mkdir(parents=True)
    (fake_bin / "python3").symlink_to(base_interpreter())
    project = tmp_path / "proj"
    project.mkdir()
    make_venv(project / "venv", fake_bin / "python3")
    make_venv(project / ".venv", base_interpreter())
    assert starts(project / "venv")
    shutil.rmtree(tmp_path / "pythons")
    assert not starts(project / "venv")  # the environment's own answer

    venvs = {v.name: v for v in find_nearby_venvs([str(project)], now=time.time())}

    broken = venvs["venv"]
    assert not broken.interpreter_exists
    assert broken.home == str(fake_bin)
    assert broken.problem == f"home {fake_bin} is missing"
    assert venvs[".venv"].interpreter_exists
    (finding,) = nearby_findings(venvs.values())
    assert finding.code == "nearby-venv-broken" and finding.severity.value == "warning"
    assert finding.evidence == (
        f"{project / 'venv'}: made by venv from {broken.base_executable}; home {fake_bin} is missing",
    )
    assert finding.commands == (f"python3 -m venv --clear {project / 'venv'}",)


def test_dangling_bin_python_and_virtualenv_style_cfg(tmp_path: Path) -> None:
    venv = tmp_path / ".tox" / "py39"
    (venv / "bin").mkdir(parents=True)
    home = tmp_path / "base" / "bin"
    home.mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text(
        f"home = {home}\nimplementation = CPython\nversion_info = 3.9.18.final.0\n"
        "virtualenv = 20.25.0\ninclude-system-site-packages = false\n"
    )
    (venv / "bin" / "python").symlink_to(home / "python3.9")  # never existed
    found = read_nearby_venv(str(venv), ".tox/py39", now=time.time(), target_prefix=None)
    assert found is not None
    assert (found.creator, found.version) == ("virtualenv 20.25.0", "3.9.18.final.0")
    assert found.base_executable == str(home / "python3.9")
    assert not found.interpreter_exists
    (finding,) = nearby_findings([found])
    assert finding.commands == ("tox -r -e py39",)
    assert read_nearby_venv(str(tmp_path), "x", now=0, target_prefix=None) is None


def test_report_lists_nearby_environments(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text('[project]\nname = "nearby-demo"\nversion = "1"\n')
    python = make_venv(project / ".venv", base_interpreter())
    fake_bin = tmp_path / "gone" / "bin"
    fake_bin.mkdir(parents=True)
    (fake_bin / "python3").symlink_to(base_interpreter())
    make_venv(project / "env", fake_bin / "python3")
    shutil.rmtree(tmp_path / "gone")

    data = report_json(python, clean_env(), project)

    report = from_dict(Report, data)
    names = {v.name: v for v in report.nearby_venvs}
    assert names[".venv"].is_target and names[".venv"].interpreter_exists
    assert not names["env"].interpreter_exists
    assert "nearby-venv-broken" in {f["code"] for f in data["findings"]}
    markdown = render(report, OutputFormat.MARKDOWN)
    assert "Virtual environments beside the project (2)" in markdown
    assert "**missing**" in markdown
    text = render(report, OutputFormat.TEXT, full=True)
    assert "Virtual environments beside the project" in text and ".venv (target)" in text
    assert run([python, "-c", "pass"]).returncode == 0
