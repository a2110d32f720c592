"""``report --ignore CODE`` and ``[tool.pyenvdoctor] ignore`` (issue 14): a real venv with a
metadata directory pip skips (``pip list`` is the oracle that it is skipped), reported with and
without the code ignored; unknown codes are usage errors."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from conftest import cli, make_venv, run, site_packages
from pyenvdoctor.checks import FINDING_CODES

CODE = "distribution-metadata-broken"
SRC = Path(__file__).resolve().parent.parent / "src" / "pyenvdoctor"
README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv whose site-packages holds ``ghost-1.0.dist-info`` without METADATA."""
    python = make_venv(tmp_path_factory.mktemp("ignore") / "venv")
    ghost = site_packages(python) / "ghost-1.0.dist-info"
    ghost.mkdir()
    (ghost / "RECORD").write_text("")
    listed = json.loads(run([python, "-m", "pip", "list", "--format=json"]).stdout)
    assert "ghost" not in {d["name"] for d in listed}  # pip skips it: the finding is real
    return python


def report(venv: Path, cwd: Path, *args: str) -> tuple[int, dict[str, Any]]:
    proc = cli("report", "--python", venv, "--format", "json", *args, cwd=cwd, check=False)
    assert proc.stderr == ""
    data: dict[str, Any] = json.loads(proc.stdout)
    jsonschema.validate(data, json.loads(cli("schema").stdout))
    return proc.returncode, data


def codes(data: dict[str, Any]) -> set[str]:
    return {f["code"] for f in data["findings"]}


def test_ignore_option_leaves_the_code_out_of_views_and_fail_on(venv: Path, tmp_path: Path) -> None:
    status, plain = report(venv, tmp_path, "--fail-on", "warning")
    assert CODE in codes(plain) and status == 1
    assert plain["ignored"] == []
    status, data = report(venv, tmp_path, "--fail-on", "warning", "--ignore", CODE)
    assert status == 0
    assert codes(data) == codes(plain) - {CODE}
    assert data["ignored"] == [{"code": CODE, "findings": 1, "source": "--ignore"}]
    for fmt in ("text", "markdown"):
        out = cli("report", "--python", venv, "--format", fmt, "--ignore", CODE, cwd=tmp_path)
        assert "ghost-1.0.dist-info" not in out.stdout
        assert re.search(rf"1 ignored \({CODE}\)", out.stdout), out.stdout[:400]
    # An accepted code that no finding has is listed with 0.
    _, data = report(venv, tmp_path, "--ignore", "bytecode-stale-accepted")
    assert data["ignored"] == [
        {"code": "bytecode-stale-accepted", "findings": 0, "source": "--ignore"}
    ]


def test_pyproject_ignore_applies_from_inside_the_project(venv: Path, tmp_path: Path) -> None:
    project = tmp_path / "proj"
    (project / "sub").mkdir(parents=True)
    pyproject = project / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "proj"\nversion = "1"\n'
        f'[tool.pyenvdoctor]\nignore = ["{CODE}", "pth-missing-path"]\n'
    )
    status, data = report(venv, project / "sub", "--fail-on", "warning")
    assert CODE not in codes(data) and status == 0
    assert {"code": CODE, "findings": 1, "source": str(pyproject)} in data["ignored"]
    assert [i["code"] for i in data["ignored"]] == sorted(i["code"] for i in data["ignored"])


@pytest.mark.parametrize(
    ("args", "pyproject", "expected"),
    [
        (("--ignore", "bytecode-stal"), None, "did you mean bytecode-stale?"),
        (("--ignore", "PROJECT"), None, "--ignore 'PROJECT': no finding has this code"),
        ((), '[tool.pyenvdoctor]\nignore = ["nope"]\n', "[tool.pyenvdoctor] ignore 'nope'"),
        ((), '[tool.pyenvdoctor]\nignore = "bytecode-stale"\n', "must be a list of finding codes"),
    ],
)
def test_unknown_code_is_a_usage_error(
    tmp_path: Path, args: tuple[str, ...], pyproject: str | None, expected: str
) -> None:
    if pyproject is not None:
        (tmp_path / "pyproject.toml").write_text(pyproject)
    # No interpreter is started: the code is checked first (the target here does not exist).
    proc = cli("report", "--python", tmp_path / "nope", *args, cwd=tmp_path, check=False)
    assert proc.returncode == 2
    assert proc.stdout == ""
    (line,) = proc.stderr.splitlines()
    assert line.startswith("pyenvdoctor: error: ") and expected in line, line


def test_pyproject_that_is_not_toml_is_one_line_and_no_ignore(venv: Path, tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.pyenvdoctor\nignore = [\n")
    proc = cli("report", "--python", venv, "--format", "json", cwd=tmp_path, check=False)
    assert proc.returncode == 0
    (line,) = proc.stderr.splitlines()
    assert line.startswith("pyenvdoctor: warning: ") and "is not applied" in line
    assert CODE in codes(json.loads(proc.stdout))


def test_finding_codes_are_the_readme_table_and_the_code_literals() -> None:
    table = set(
        re.findall(r"^\| `([a-z0-9-]+)` \| (?:error|warning|info) \|", README.read_text(), re.M)
    )
    assert table == FINDING_CODES
    literals = {
        m for p in SRC.rglob("*.py") for m in re.findall(r'\bcode="([a-z0-9-]+)"', p.read_text())
    }
    assert literals and literals <= FINDING_CODES


def test_ignore_applies_to_the_findings_shown_instead_of_a_report(tmp_path: Path) -> None:
    """A venv whose base interpreter is gone cannot be inspected: exit 3 and its
    ``venv-base-missing`` instead of a report. ``--ignore`` (or the project's list) leaves
    that finding out the same way, counts it, and ``--fix`` then has nothing to repair; the
    exit status stays 3 (no report exists that could pass)."""
    base = Path(os.path.realpath(sys.executable))
    link = tmp_path / "opt" / "python"
    link.parent.mkdir()
    link.symlink_to(base.parent.parent)
    venv = tmp_path / "venv"
    run([link / "bin" / base.name, "-m", "venv", "--without-pip", venv])
    link.unlink()
    code = "venv-base-missing"

    def broken(*args: str, cwd: Path = tmp_path) -> tuple[int, str, str]:
        proc = cli("report", "--python", venv, *args, cwd=cwd, check=False)
        return proc.returncode, proc.stdout, proc.stderr

    status, out, err = broken("--format", "json")
    assert status == 3 and err.startswith("pyenvdoctor: error: ")
    assert [f["code"] for f in json.loads(out)["findings"]] == [code]
    status, out, _ = broken("--format", "json", "--ignore", code)
    data = json.loads(out)
    assert status == 3 and data["findings"] == []
    assert data["ignored"] == [{"code": code, "findings": 1, "source": "--ignore"}]
    status, out, _ = broken("--format", "text", "--ignore", code)
    assert status == 3 and out == f"1 ignored ({code})\n"
    status, out, _ = broken("--fix", "--yes", "--format", "json", "--ignore", code)
    assert status == 3 and json.loads(out)["plan"] == []
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text(f'[tool.pyenvdoctor]\nignore = ["{code}"]\n')
    status, out, _ = broken("--format", "json", cwd=project)
    data = json.loads(out)
    assert status == 3 and data["findings"] == []
    assert data["ignored"] == [
        {"code": code, "findings": 1, "source": str(project / "pyproject.toml")}
    ]
