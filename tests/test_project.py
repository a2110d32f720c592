"""Is the current project what runs? Real pip installs of a tiny setuptools project into real
venvs: each case first shows the old code (or metadata) really runs, then that the finding names
the cause, then that the suggested command makes the edited code run."""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path
from typing import Any

import pytest

from conftest import clean_env, cli, fix_json, make_venv, make_wheel, pip_install, report_json, run
from pyenvdoctor.checks.project import (
    ProjectInfo,
    project_findings,
    read_project,
)
from pyenvdoctor.model import (
    Distribution,
    Finding,
    LocationClass,
    Repair,
    RepairGroup,
    RepairKind,
    Report,
    Severity,
    from_dict,
)

PYPROJECT = """\
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "tinyproj"
version = "{version}"
{extra}"""


def write_project(root: Path, *, version: str = "1.0", extra: str = "") -> Path:
    """A src-layout setuptools project ``tinyproj`` with ``VALUE = "v1"``."""
    (root / "src" / "tinyproj").mkdir(parents=True)
    set_version(root, version, extra)
    set_value(root, "v1")
    return root


def set_version(root: Path, version: str, extra: str = "") -> None:
    (root / "pyproject.toml").write_text(PYPROJECT.format(version=version, extra=extra))


def set_value(root: Path, value: str) -> None:
    (root / "src" / "tinyproj" / "__init__.py").write_text(
        f"VALUE = {value!r}\n\ndef hello() -> None:\n    print('hello', VALUE)\n"
    )


def pip(python: Path, *args: str | Path) -> None:
    """pip with its index and build isolation (setuptools is fetched for the build)."""
    run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", *args])


def value(python: Path, cwd: Path) -> str:
    """What ``import tinyproj`` runs, from a directory that is not the project."""
    code = "import tinyproj; print(tinyproj.VALUE)"
    proc = run([python, "-c", code], cwd=cwd, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else proc.stderr.strip().splitlines()[-1]


def installed_version(python: Path, cwd: Path) -> str:
    code = "import importlib.metadata as m; print(m.version('tinyproj'))"
    return run([python, "-c", code], cwd=cwd).stdout.strip()


def diagnose(python: Path, root: Path) -> tuple[list[Finding], list[Repair], dict[str, Any]]:
    """The CLI's JSON report from the project directory, and this module's findings and
    repairs computed from that report's data."""
    data = report_json(python, None, root)
    report = from_dict(Report, data)
    assert report.project_root == str(root)
    project = read_project(report.project_root)
    assert project.error is None
    exe = report.interpreter.executable
    findings = project_findings(project, report.distributions, python=exe)
    actions = [r for f in findings for r in f.repairs]
    return findings, actions, data


def only(findings: list[Finding]) -> Finding:
    assert len(findings) == 1, findings
    return findings[0]


def run_suggested(finding: Finding, cwd: Path) -> None:
    """Run the finding's commands as a user would copy them."""
    for command in finding.commands:
        run([*shlex.split(command)], cwd=cwd)


@pytest.fixture(scope="module")
def base_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ``python -m venv`` (with pip) for the module; each test gets a copy."""
    return make_venv(tmp_path_factory.mktemp("base") / "venv").parent.parent


@pytest.fixture
def lab(tmp_path: Path, base_venv: Path) -> dict[str, Path]:
    """A project checkout, a fresh venv, and a neutral working directory. The venv is a copy of
    :func:`base_venv` (bin/python stays a symlink to the base interpreter, and sys.prefix
    follows pyvenv.cfg, so the copy is a venv of its own), saving ``ensurepip`` per test."""
    neutral = tmp_path / "neutral"
    neutral.mkdir()
    shutil.copytree(base_venv, tmp_path / "venv", symlinks=True)
    python = tmp_path / "venv" / "bin" / "python"
    prefix = run([python, "-c", "import sys; print(sys.prefix)"]).stdout.strip()
    assert prefix == str(tmp_path / "venv")
    return {"root": write_project(tmp_path / "checkout-a"), "python": python, "neutral": neutral}


def test_installed_as_copy(lab: dict[str, Path]) -> None:
    root, py, neutral = lab["root"], lab["python"], lab["neutral"]
    pip(py, root)
    set_value(root, "v2")
    assert value(py, neutral) == "v1"  # the edit does not run: the copy does

    findings, actions, _ = diagnose(py, root)
    finding = only(findings)
    assert (finding.code, finding.severity) == ("project-installed-as-copy", Severity.ERROR)
    assert "tinyproj-1.0.dist-info" in finding.evidence[0]
    assert finding.commands == (f"{shlex.quote(str(py))} -m pip install -e {root}",)
    (action,) = actions
    assert action.kind is RepairKind.RUN and action.group is RepairGroup.INSTALLATION
    assert list(action.command) == shlex.split(finding.commands[0])

    run(list(action.command), cwd=root)
    assert value(py, neutral) == "v2"
    assert diagnose(py, root)[:2] == ([], [])


def test_editable_from_another_checkout(lab: dict[str, Path], tmp_path: Path) -> None:
    root, py, neutral = lab["root"], lab["python"], lab["neutral"]
    other = tmp_path / "checkout-b"
    shutil.copytree(root, other)
    pip(py, "-e", other)
    set_value(root, "v2")
    assert value(py, neutral) == "v1"  # checkout-b runs, not the edited checkout-a

    findings, actions, data = diagnose(py, root)
    finding = only(findings)
    assert (finding.code, finding.severity) == ("project-editable-elsewhere", Severity.ERROR)
    assert str(other) in finding.evidence and str(other) in finding.message
    (row,) = [d for d in data["distributions"] if d["name"] == "tinyproj" and d["visible"]]
    assert row["editable_project"] == str(other)
    (action,) = actions
    assert action.command[-2:] == ("-e", str(root))

    run_suggested(finding, root)
    assert value(py, neutral) == "v2"
    assert diagnose(py, root)[:2] == ([], [])


def test_editable_outdated(lab: dict[str, Path]) -> None:
    root, py, neutral = lab["root"], lab["python"], lab["neutral"]
    script = py.parent / "tinyproj-hello"
    pip(py, "-e", root)
    set_version(root, "1.1", extra='\n[project.scripts]\ntinyproj-hello = "tinyproj:hello"\n')
    set_value(root, "v2")
    assert value(py, neutral) == "v2"  # the code is live ...
    assert installed_version(py, neutral) == "1.0"  # ... its metadata is not
    assert not script.exists()  # nor its entry points

    findings, actions, _ = diagnose(py, root)
    finding = only(findings)
    assert (finding.code, finding.severity) == ("project-editable-outdated", Severity.WARNING)
    assert "1.0" in finding.title and "1.1" in finding.title
    (action,) = actions
    assert list(action.command) == shlex.split(finding.commands[0])  # printed = run

    run(list(action.command), cwd=root)
    assert installed_version(py, neutral) == "1.1"
    assert run([script], cwd=neutral).stdout.strip() == "hello v2"
    assert diagnose(py, root)[:2] == ([], [])


def test_not_installed_then_shadowed_by_another_distribution(
    lab: dict[str, Path], tmp_path: Path
) -> None:
    root, py, neutral = lab["root"], lab["python"], lab["neutral"]
    set_value(root, "v2")
    assert value(py, neutral).startswith("ModuleNotFoundError")

    findings, actions, _ = diagnose(py, root)
    finding = only(findings)
    assert (finding.code, finding.severity) == ("project-not-installed", Severity.INFO)
    assert actions == []  # installing is the user's choice

    wheel = make_wheel(
        tmp_path, "other-dist", "3.0", files={"tinyproj/__init__.py": "VALUE = 'other'\n"}
    )
    pip_install(py, wheel)
    assert value(py, neutral) == "other"  # `import tinyproj` runs another project's code

    findings, actions, _ = diagnose(py, root)
    finding = only(findings)
    assert (finding.code, finding.severity) == ("project-not-installed", Severity.WARNING)
    assert "other-dist 3.0" in finding.message
    assert "other_dist-3.0.dist-info" in finding.evidence[0]
    assert str(root / "src" / "tinyproj") in finding.evidence
    assert actions == []

    run_suggested(finding, root)  # uninstall other-dist, install -e the project
    assert value(py, neutral) == "v2"
    assert diagnose(py, root)[:2] == ([], [])


# --- reading the project, without installs ------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "name", "version", "error"),
    [
        (
            {"pyproject.toml": "[project]\nname = 'My_Proj'\nversion = '2.0'\n"},
            "My_Proj",
            "2.0",
            None,
        ),
        ({"pyproject.toml": "[project]\nname = 'p'\ndynamic = ['version']\n"}, "p", None, None),
        ({"pyproject.toml": "[project\nname = "}, None, None, "pyproject.toml cannot be read"),
        ({"pyproject.toml": "[project]\nversion = '1'\n"}, None, None, "no 'name' string"),
        ({"pyproject.toml": "project = 3\n"}, None, None, "no 'name' string"),
        (
            {"pyproject.toml": "[tool.x]\n", "setup.cfg": "[metadata]\nname = p\nversion = 1.2\n"},
            "p",
            "1.2",
            None,
        ),
        ({"setup.cfg": "[metadata]\nname = p\nversion = attr: p.__version__\n"}, "p", None, None),
        ({"setup.cfg": "[metadata\nname = p\n"}, None, None, "setup.cfg cannot be read"),
        (
            {"setup.py": "from setuptools import setup\nsetup(name='p', version=\"0.3\")\n"},
            "p",
            "0.3",
            None,
        ),
        ({"setup.py": "NAME = 'p'\nsetup(name=NAME)\n"}, None, None, "no literal name"),
        ({}, None, None, "no [project] name"),
    ],
)
def test_read_project(
    tmp_path: Path, files: dict[str, str], name: str | None, version: str | None, error: str | None
) -> None:
    for filename, text in files.items():
        (tmp_path / filename).write_text(text)
    info = read_project(str(tmp_path))
    assert (info.name, info.version) == (name, version)
    assert info.root == str(tmp_path)
    if error is None:
        assert info.error is None and info.source is not None
    else:
        assert info.error is not None and error in info.error
        assert project_findings(info, [], python="py") == []


def test_read_project_undecodable_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_bytes(b"[project]\nname = '\xff'\n")
    info = read_project(str(tmp_path))
    assert info.name is None and info.error is not None


# --- findings from synthetic distributions ------------------------------------------------------


def dist(name: str = "tinyproj", version: str = "1.0", **kw: Any) -> Distribution:
    fields: dict[str, Any] = {
        "name": name,
        "canonical_name": name.lower(),
        "version": version,
        "location": "/site",
        "location_class": LocationClass.VENV_SITE_PACKAGES,
        "metadata_path": f"/site/{name}-{version}.dist-info",
        "installer": "pip",
        "requested": True,
        "editable": False,
        "editable_project": None,
        "editable_via": None,
        "top_level": (name,),
        "visible": True,
    }
    fields.update(kw)
    return Distribution(**fields)


def codes(project: ProjectInfo, *dists: Distribution) -> list[str]:
    return [f.code for f in project_findings(project, dists, python="/venv/bin/python")]


def test_editable_inside_the_root_is_this_project(tmp_path: Path) -> None:
    project = read_project(str(write_project(tmp_path / "p")))
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "p")

    def editable(where: Path, version: str = "1.0") -> Distribution:
        return dist(version=version, editable=True, editable_project=str(where))

    assert codes(project, editable(tmp_path / "p" / "src")) == []  # setuptools finder/.pth
    assert codes(project, editable(link)) == []  # compared by realpath
    assert codes(project, editable(tmp_path / "p", "1.0.0")) == []  # PEP 440 equal
    assert codes(project, editable(tmp_path)) == ["project-editable-elsewhere"]
    assert codes(project, editable(tmp_path / "p", "0.9")) == ["project-editable-outdated"]
    assert codes(project, dist(editable=True)) == []  # editable from an unknown place
    shadowed = dist(visible=False)
    assert codes(project, shadowed) == ["project-not-installed"]
    assert codes(project, shadowed, dist("Other", top_level=("tinyproj",))) == [
        "project-not-installed"
    ]


def test_fix_plans_the_reinstall_and_fix_code_narrows(lab: dict[str, Path]) -> None:
    """Through the CLI: a plain ``--fix --dry-run`` plans the reinstall in the "changes what is
    installed" group and changes nothing; ``--fix project-installed-as-copy --yes`` runs only
    that repair, and the edit runs; an unknown code is a usage error (exit 2)."""
    root, py, neutral = lab["root"], lab["python"], lab["neutral"]
    pip(py, root)
    set_value(root, "v2")
    assert value(py, neutral) == "v1"
    dry = json.loads(
        cli("report", "--python", py, "--fix", "--dry-run", "--format", "json", cwd=root).stdout
    )
    (planned,) = [a for a in dry["plan"] if a["finding"] == "project-installed-as-copy"]
    assert planned["group"] == "changes-installation"
    assert value(py, neutral) == "v1"
    out = fix_json(py, "project-installed-as-copy", env=clean_env(), cwd=root)
    (action,) = out["plan"]
    assert action["changes_installation"] is True and action["command"][-3:] == [
        "install",
        "-e",
        str(root),
    ]
    assert out["resolved"] == ["project-installed-as-copy"]
    assert value(py, neutral) == "v2"
    bad = cli("report", "--python", py, "--fix", "no-such-code", "--yes", cwd=root, check=False)
    assert bad.returncode == 2 and bad.stdout == ""
    assert len(bad.stderr.splitlines()) == 1 and "no-such-code" in bad.stderr


def test_installed_copy_judged_by_what_import_loads_from_the_working_directory(
    lab: dict[str, Path], tmp_path: Path
) -> None:
    """A single-module project installed as a copy: from the checkout, ``sys.path[0]`` is the
    checkout and ``./tinymod.py`` is what runs (CPython's own answer, ``tinymod.__file__``);
    from a subdirectory the copy runs. The finding says the same in each."""
    py = lab["python"]
    root = tmp_path / "tinymod"
    (root / "sub").mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=64"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "tinymod"\nversion = "1.0"\n'
        '[tool.setuptools]\npy-modules = ["tinymod"]\n'
    )
    (root / "tinymod.py").write_text("VALUE = 'v1'\n")
    pip(py, root)
    (root / "tinymod.py").write_text("VALUE = 'v2'\n")

    def loaded(cwd: Path) -> str:
        code = "import tinymod; print(tinymod.__file__, tinymod.VALUE)"
        return run([py, "-c", code], cwd=cwd).stdout.strip()

    def copy_finding(cwd: Path) -> dict[str, Any]:
        data = report_json(py, None, cwd)
        found: list[dict[str, Any]] = data["findings"]
        (finding,) = [f for f in found if f["code"] == "project-installed-as-copy"]
        return finding

    assert loaded(root) == f"{root / 'tinymod.py'} v2"  # the tree runs here
    here = copy_finding(root)
    assert here["severity"] == "info"
    assert f"`import tinymod` loads {root / 'tinymod.py'} (script-dir)" in here["message"]
    site = run([py, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]).stdout
    assert loaded(root / "sub") == f"{Path(site.strip()) / 'tinymod.py'} v1"  # the copy runs
    below = copy_finding(root / "sub")
    assert below["severity"] == "error"
    assert "edits to" in below["title"]
    # The reinstall both suggest makes the tree run from anywhere.
    (command,) = below["commands"]
    run([*shlex.split(command)], cwd=root)
    assert loaded(root / "sub") == f"{root / 'tinymod.py'} v2"
