"""Shadowing, reproduced for real: each test first shows the wrong code runs, then that the
report names the cause, and where ``--fix`` may act, that the right code runs afterwards."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import (
    DEBIAN_PYTHON,
    clean_env,
    fix_json,
    install_flat_editable,
    make_venv,
    make_wheel,
    pip_install,
    report_json,
    require_python,
    run,
    site_packages,
)
from pyenvdoctor.model import Finding


def imported(python: Path | str, name: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    """The file ``import name`` really loads (runs the module: only in these checks)."""
    code = f"import {name}; print(getattr({name}, '__file__', None) or 'namespace')"
    return run([python, "-c", code], cwd=cwd, env=env or clean_env()).stdout.strip()


def finding(report: dict[str, Any], code: str) -> dict[str, Any]:
    matches = [f for f in report["findings"] if f["code"] == code]
    assert matches, f"no {code} in {[f['code'] for f in report['findings']]}"
    first: dict[str, Any] = matches[0]
    return first


def test_local_file_shadows_the_stdlib_and_fix_leaves_it(tmp_path: Path) -> None:
    (tmp_path / "random.py").write_text("VALUE = 'mine'\n")
    assert imported(sys.executable, "random", tmp_path) == str(tmp_path / "random.py")
    report = report_json(sys.executable, clean_env(), tmp_path)
    f = finding(report, "stdlib-shadowed")
    assert f["evidence"][0] == str(tmp_path / "random.py")
    assert f["evidence"][1].endswith("/random.py") and "python3" in f["evidence"][1]
    assert f["commands"] == [f"mv -- {tmp_path / 'random.py'} {tmp_path / 'my_random.py'}"]
    fix_json(sys.executable, env=clean_env(), cwd=tmp_path, check=False)
    assert (tmp_path / "random.py").read_text() == "VALUE = 'mine'\n"  # a user file: never changed


def test_frozen_stdlib_modules_cannot_be_shadowed(tmp_path: Path) -> None:
    python = require_python("3.11")
    (tmp_path / "os.py").write_text("raise SystemExit('shadow ran')\n")
    assert imported(python, "os", tmp_path) != str(tmp_path / "os.py")  # FrozenImporter first
    report = report_json(python, clean_env(), tmp_path)
    assert not [f for f in report["findings"] if f["code"] == "stdlib-shadowed"]


def test_pythonpath_copy_shadows_an_installed_distribution(tmp_path: Path) -> None:
    py = make_venv(tmp_path / "venv")
    pip_install(
        py,
        make_wheel(tmp_path, "shadowdist", "2.0", files={"shadowmod.py": "VALUE = 'installed'\n"}),
    )
    old = tmp_path / "old-checkout"
    old.mkdir()
    (old / "shadowmod.py").write_text("VALUE = 'old copy'\n")
    env = clean_env(PYTHONPATH=str(old))
    assert imported(py, "shadowmod", tmp_path, env) == str(old / "shadowmod.py")
    f = finding(report_json(py, env, tmp_path), "distribution-shadowed")
    assert "the installed shadowdist 2.0" in f["title"]
    assert "PYTHONPATH" in f["message"]
    assert f["evidence"][0] == str(old / "shadowmod.py")


def test_package_beside_a_module_of_the_same_name(tmp_path: Path) -> None:
    (tmp_path / "tool").mkdir()
    (tmp_path / "tool" / "__init__.py").write_text("")
    (tmp_path / "tool.py").write_text("VALUE = 'module'\n")
    assert imported(sys.executable, "tool", tmp_path) == str(tmp_path / "tool" / "__init__.py")
    f = finding(report_json(sys.executable, clean_env(), tmp_path), "package-shadows-module")
    assert f["evidence"] == [str(tmp_path / "tool"), str(tmp_path / "tool.py")]
    assert f["severity"] == "warning" and "Remove or rename" in f["message"]


def test_package_and_module_one_wheel_ships_side_by_side_are_info(tmp_path: Path) -> None:
    """click-plugins 1.1.1.2 installs click_plugins.py beside click_plugins/: the wheel's quirk
    (its RECORD lists both), not something the user made or can fix."""
    py = make_venv(tmp_path / "venv")
    files = {"quirk/__init__.py": "VALUE = 'package'\n", "quirk.py": "VALUE = 'module'\n"}
    pip_install(py, make_wheel(tmp_path, "quirk", "1.0", files=files))
    pip_install(py, make_wheel(tmp_path, "handmade", "1.0", files={"hm/__init__.py": ""}))
    (site_packages(py) / "hm.py").write_text("VALUE = 'module'\n")  # no RECORD lists it
    work = tmp_path / "work"
    work.mkdir()
    assert imported(py, "quirk", work).endswith("quirk/__init__.py")  # CPython: the package
    report = report_json(py, clean_env(), work)
    by_package = {
        f["evidence"][0]: f for f in report["findings"] if f["code"] == "package-shadows-module"
    }
    shipped = by_package[str(site_packages(py) / "quirk")]
    assert shipped["severity"] == "info" and "quirk: its RECORD lists both" in shipped["message"]
    assert by_package[str(site_packages(py) / "hm")]["severity"] == "warning"


def test_leftover_directory_hides_editable_install_and_fix_removes_it(tmp_path: Path) -> None:
    py = make_venv(tmp_path / "venv")
    proj = tmp_path / "proj"
    install_flat_editable(py, proj)
    work = tmp_path / "work"
    (work / "edpkg" / "__pycache__").mkdir(parents=True)
    (work / "edpkg" / "__pycache__" / "old.cpython-311.pyc").write_bytes(b"x" * 16)
    assert imported(py, "edpkg", work) == "namespace"  # the edited code does not run
    report = report_json(py, clean_env(), work)
    f = finding(report, "namespace-hides-editable")
    assert f["severity"] == "error" and f["evidence"][0] == str(work / "edpkg")
    out = fix_json(py, "namespace-hides-editable", env=clean_env(), cwd=work)
    assert out["resolved"] == ["namespace-hides-editable"]
    assert not (work / "edpkg").exists()
    assert imported(py, "edpkg", work) == str(proj / "edpkg" / "__init__.py")


def test_user_site_shadows_the_base_site_packages(tmp_path: Path) -> None:
    """A venv with system site packages: the user site comes after the venv's site-packages but
    before the base interpreter's, so a user-site package shadows the base's (here: pip)."""
    py = make_venv(tmp_path / "venv", sys.executable, "--system-site-packages", "--without-pip")
    user_base = tmp_path / "userbase"
    env = clean_env(PYTHONUSERBASE=str(user_base))
    user_site = Path(
        run([py, "-c", "import site; print(site.getusersitepackages())"], env=env).stdout.strip()
    )
    base_pip = imported(py, "pip", tmp_path, env)
    assert "/site-packages/pip/" in base_pip and str(tmp_path) not in base_pip
    (user_site / "pip").mkdir(parents=True)
    (user_site / "pip" / "__init__.py").write_text("raise SystemExit('not the real pip')\n")
    assert run([py, "-m", "pip", "--version"], env=env, cwd=tmp_path, check=False).returncode != 0
    f = finding(report_json(py, env, tmp_path), "user-site-shadows")
    assert f["evidence"] == [str(user_site / "pip"), str(Path(base_pip).parent)]
    assert "base-site-packages" in f["title"]


def flat_project(root: Path, name: str = "flatpkg", version: str = "0.2.0") -> Path:
    """A flat-layout setuptools project: ``<root>/<name>/__init__.py`` and a test using it."""
    (root / name).mkdir(parents=True)
    (root / name / "__init__.py").write_text("def mul(a, b):\n    return a * b\n")
    (root / "tests").mkdir()
    (root / "tests" / "test_mul.py").write_text(
        f"import {name}\n\ndef test_mul():\n    assert {name}.mul(2, 3) == 6\n"
    )
    (root / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=64"]\nbuild-backend = "setuptools.build_meta"\n'
        f'[project]\nname = "{name}"\nversion = "{version}"\n'
        f'[tool.setuptools]\npackages = ["{name}"]\n'
    )
    return root / name


def test_own_flat_tree_before_its_installed_copy_is_info(tmp_path: Path) -> None:
    """``pip install .`` of a flat-layout project, reported from its checkout: ``sys.path[0]``
    is the working directory (CPython ``Modules/main.c``, ``-c``/``-m``/REPL), so CPython loads
    the project's own tree, not the copy; nothing to rename (the rule ``project-installed-as-copy``
    uses, :func:`pyenvdoctor.checks.project.tree_wins_over`). A local ``helper/`` before a
    *different* installed distribution ``helper`` still warns."""
    py = make_venv(tmp_path / "venv")
    root = tmp_path / "proj"
    tree = flat_project(root)
    run([py, "-m", "pip", "install", "-q", root])
    (root / "helper").mkdir()
    (root / "helper" / "__init__.py").write_text("VALUE = 'local'\n")
    pip_install(
        py, make_wheel(tmp_path, "helper", "1.0", files={"helper/__init__.py": "VALUE = 'dist'\n"})
    )
    # CPython, the oracle: from the checkout both names load the local directories.
    assert imported(py, "flatpkg", root) == str(tree / "__init__.py")
    assert imported(py, "helper", root) == str(root / "helper" / "__init__.py")
    report = report_json(py, clean_env(), root)
    shadowed = {f["subject"]: f for f in report["findings"] if f["code"] == "distribution-shadowed"}
    own = shadowed[str(tree)]
    assert own["severity"] == "info", own
    assert "current project flatpkg" in own["message"]
    assert "Rename your file" not in own["message"]
    other = shadowed[str(root / "helper")]
    assert other["severity"] == "warning"
    assert "the installed helper 1.0" in other["title"]


# --- modules imported at start-up ------------------------------------------------------------


def in_process_report(python: Path | str, cwd: Path) -> list[Finding]:
    """The report's findings, built in this process."""
    from pyenvdoctor.report import build_report

    report = build_report(python=str(python), environ=clean_env(), working_directory=str(cwd))
    return list(report.findings)


def oracle(python: Path | str, names: list[str], cwd: Path, mark: str = "MARK") -> dict[str, str]:
    """CPython's answer: ``python main.py`` in ``cwd`` imports each name and prints ``LOCAL``
    when it got the local file (it defines ``mark``), else ``OTHER``."""
    (cwd / "main.py").write_text(
        "import importlib\n"
        f"for n in {names!r}:\n"
        "    m = importlib.import_module(n)\n"
        f"    print(n, 'LOCAL' if getattr(m, {mark!r}, 0) else 'OTHER')\n"
    )
    out = run([python, "main.py"], cwd=cwd).stdout.split()
    return dict(zip(out[::2], out[1::2], strict=True))


def verdicts(findings: list[Finding], cwd: Path, names: list[str]) -> dict[str, str]:
    """The severity of the shadowing finding about ``cwd/NAME.py``, ``none`` without one."""
    got = {
        f.subject: f.severity.value
        for f in findings
        if f.code in ("stdlib-shadowed", "distribution-shadowed")
    }
    return {n: got.get(str(cwd / f"{n}.py"), "none") for n in names}


STARTUP_CASES = [
    ("3.8", ["encodings", "os", "codecs", "io", "abc", "site", "stat"], ["statistics"]),
    ("3.10", ["encodings", "os", "codecs", "io", "abc", "site", "stat"], ["statistics"]),
    ("3.11", ["encodings"], ["statistics"]),
    ("3.13", ["encodings"], ["statistics"]),
    ("debian", ["encodings"], ["statistics"]),
]


@pytest.mark.parametrize(("minor", "started", "shadowed"), STARTUP_CASES)
def test_local_copy_of_a_module_imported_at_start_up_is_no_shadow(
    minor: str, started: list[str], shadowed: list[str], tmp_path: Path
) -> None:
    """``importlib._bootstrap._find_and_load`` returns ``sys.modules[name]`` before asking any
    finder, and CPython adds ``sys.path[0]`` only after start-up (``Modules/main.c``), so a
    local ``encodings.py`` (3.8-3.13; also ``os.py``, ``io.py``... on 3.8-3.10, which 3.11
    freezes) never loads: info, as ``pyenvdoctor which`` says. A name start-up did not import
    (``random``) still warns."""
    if minor == "debian":
        if not DEBIAN_PYTHON.is_file():
            pytest.skip("no /usr/bin/python3")
        python: Path = DEBIAN_PYTHON
    else:
        python = require_python(minor)
    cwd = tmp_path / "work"
    cwd.mkdir()
    for name in started + shadowed:
        (cwd / f"{name}.py").write_text("MARK = 1\n")
    seen = oracle(python, started + shadowed, cwd)
    judged = verdicts(in_process_report(python, cwd), cwd, started + shadowed)
    both = {n: (seen[n], judged[n]) for n in started + shadowed}
    assert both == {
        **dict.fromkeys(started, ("OTHER", "info")),
        **dict.fromkeys(shadowed, ("LOCAL", "warning")),
    }
    # This machine's own .pth lines may import more at start-up: whatever is found in the
    # working directory, the verdict follows CPython's answer.
    everything = ["random", "typing", "re", "enum", "functools"]
    for name in everything:
        (cwd / f"{name}.py").write_text("MARK = 1\n")
    seen = oracle(python, everything, cwd)
    judged = verdicts(in_process_report(python, cwd), cwd, everything)
    expected = {"OTHER": "info", "LOCAL": "warning"}
    assert {n: (seen[n], judged[n]) for n in everything} == {
        n: (seen[n], expected[seen[n]]) for n in everything
    }


def _venv_importing_startdist_at_start_up(tmp_path: Path) -> Path:
    """A venv whose ``startdist-hook.pth`` imports ``startdist`` (which imports ``fractions``)
    at every start-up; its python."""
    py = make_venv(tmp_path / "venv")
    wheel = make_wheel(
        tmp_path, "startdist", "1.0", files={"startdist.py": "import fractions\nMARK = 0\n"}
    )
    pip_install(py, wheel)
    (site_packages(py) / "startdist-hook.pth").write_text("import startdist\n")
    return py


def test_modules_a_pth_imports_at_start_up_are_no_shadow(tmp_path: Path) -> None:
    """A ``.pth`` import line runs during ``site`` (``site.addpackage``), before ``sys.path[0]``
    exists: what it imports (here ``startdist``, which imports ``fractions``) is in
    ``sys.modules`` when the program starts, so local ``startdist.py`` and ``fractions.py``
    never load (CPython ``importlib._bootstrap._find_and_load``); ``statistics.py``, imported by
    nothing at start-up, still shadows."""
    py = _venv_importing_startdist_at_start_up(tmp_path)
    cwd = tmp_path / "work"
    cwd.mkdir()
    names = ["startdist", "fractions", "statistics"]
    for name in names:
        (cwd / f"{name}.py").write_text("MARK = 1\n")
    seen = oracle(py, names, cwd)
    judged = verdicts(in_process_report(py, cwd), cwd, names)
    assert {n: (seen[n], judged[n]) for n in names} == {
        "startdist": ("OTHER", "info"),
        "fractions": ("OTHER", "info"),
        "statistics": ("LOCAL", "warning"),
    }


def test_report_cli_local_encodings_is_no_shadow(tmp_path: Path) -> None:
    """The brief's repro through the CLI, with the probe as shipped: CPython prints ``OTHER``
    (``encodings`` is imported at start-up), so no warning may name ``encodings.py``."""
    python = require_python("3.12")
    (tmp_path / "encodings.py").write_text("MARK = 1\n")
    assert oracle(python, ["encodings"], tmp_path) == {"encodings": "OTHER"}
    report = report_json(python, clean_env(), tmp_path)
    assert [
        f["severity"] for f in report["findings"] if f["subject"] == str(tmp_path / "encodings.py")
    ] == ["info"]


def test_a_startup_module_from_pythonpath_naming_the_working_directory_is_a_shadow(
    tmp_path: Path,
) -> None:
    """``PYTHONPATH`` names the working directory, and a ``.pth`` line imports ``startdist``
    (which imports ``fractions``) at start-up: start-up finds the local ``fractions.py``
    through that entry, so it *is* what runs (a warning) and no "never loads" note may say
    otherwise. The oracle is the program's own output."""
    py = _venv_importing_startdist_at_start_up(tmp_path)
    cwd = tmp_path / "work"
    cwd.mkdir()
    (cwd / "fractions.py").write_text("MARK = 1\n")
    env = clean_env(PYTHONPATH=str(cwd))
    (cwd / "main.py").write_text("import fractions; print(getattr(fractions, 'MARK', 0))\n")
    assert run([py, "main.py"], cwd=cwd, env=env).stdout.strip() == "1"
    report = report_json(py, env, cwd)
    about = [
        f
        for f in report["findings"]
        if f["code"] in ("stdlib-shadowed", "distribution-shadowed")
        and f["subject"] == str(cwd / "fractions.py")
    ]
    assert [f["severity"] for f in about] == ["warning"], about
    assert not any("never loads" in f["title"] for f in report["findings"])


def test_a_build_lib_copy_is_not_the_projects_working_tree(tmp_path: Path) -> None:
    """``build/lib/flatpkg`` (an old setuptools build) on ``PYTHONPATH`` before the installed
    copy: CPython loads the stale build copy, so the user's edits to ``flatpkg/`` do not run;
    that is a warning, not the "current project's own tree" info."""
    py = make_venv(tmp_path / "venv")
    root = tmp_path / "proj"
    tree = flat_project(root)
    run([py, "-m", "pip", "install", "-q", root])
    (root / "build" / "lib" / "flatpkg").mkdir(parents=True, exist_ok=True)  # pip made it
    (root / "build" / "lib" / "flatpkg" / "__init__.py").write_text("OLD = 1\n")
    (root / "sub").mkdir()
    env = clean_env(PYTHONPATH="../build/lib")
    loaded = imported(py, "flatpkg", root / "sub", env)
    assert loaded == str(root / "build" / "lib" / "flatpkg" / "__init__.py")
    assert loaded != str(tree / "__init__.py")
    report = report_json(py, env, root / "sub")
    shadowed = [f for f in report["findings"] if f["code"] == "distribution-shadowed"]
    assert [f["severity"] for f in shadowed] == ["warning"], shadowed


@pytest.mark.parametrize("minor", ["3.11", "debian"])
def test_a_local_distutils_behind_setuptools_shim_is_no_shadow(minor: str, tmp_path: Path) -> None:
    """setuptools' ``distutils-precedence.pth`` puts ``DistutilsMetaFinder`` ahead of
    ``PathFinder``: ``import distutils`` is ``setuptools._distutils`` whatever directory named
    ``distutils`` the working directory holds (the oracle prints its file). Where the shim is
    not installed (``SETUPTOOLS_USE_DISTUTILS=stdlib``) the local package wins and warns."""
    if minor == "debian":
        if not DEBIAN_PYTHON.exists():
            pytest.skip("no Debian python3")
        py: Path = DEBIAN_PYTHON
    else:
        py = make_venv(tmp_path / "venv", require_python(minor))  # ensurepip: setuptools 65
    work = tmp_path / "work"
    (work / "distutils").mkdir(parents=True)
    (work / "distutils" / "__init__.py").write_text("")
    for setting, severity in (("local", "info"), ("stdlib", "warning")):
        env = clean_env(SETUPTOOLS_USE_DISTUTILS=setting)
        loaded = imported(py, "distutils", work, env)
        if setting == "local":
            if "setuptools/_distutils" not in loaded:
                pytest.skip(f"no setuptools distutils shim here ({loaded})")
        else:
            assert loaded == str(work / "distutils" / "__init__.py")
        report = report_json(py, env, work)
        about = [
            f
            for f in report["findings"]
            if f["code"] == "stdlib-shadowed" and f["subject"] == str(work / "distutils")
        ]
        assert [f["severity"] for f in about] == [severity], about
