"""Issue 14: "each suggested command of each finding code is run by a test on a real
environment, which then shows the finding gone and the user's code still working".

Each test here plants one problem in a real environment (a venv, a pip install of a wheel
built in ``tmp_path``, a real interpreter), shows the user's code misbehaving where it does,
takes the command from the report exactly as printed, pastes it into ``sh``, and checks that
the report no longer has the finding and that the user's code prints what it should. Where
the command needs an index, pip's own configuration variables (``PIP_NO_INDEX``,
``PIP_FIND_LINKS``) point it at the wheels of the test: the command itself is not changed.

``docs/commands-tested.md`` lists every command form with the test that runs it;
:func:`test_every_command_form_has_a_test_that_runs_it` keeps that table honest.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import (
    DEBIAN_PYTHON,
    clean_env,
    install_flat_editable,
    make_venv,
    make_wheel,
    pip_install,
    report_json,
    require_python,
    run,
    site_packages,
)
from pyenvdoctor.checks import FINDING_CODES

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "docs" / "commands-tested.md"


def findings(data: dict[str, Any], code: str) -> list[dict[str, Any]]:
    return [f for f in data["findings"] if f["code"] == code]


def the(data: dict[str, Any], code: str) -> dict[str, Any]:
    found = findings(data, code)
    assert len(found) == 1, (code, [f["code"] for f in data["findings"]])
    return found[0]


def sh(command: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    """Paste ``command`` into ``sh`` as printed; its output."""
    return run(["sh", "-c", command], cwd=cwd, env=env or clean_env()).stdout


def prints(python: Path | str, code: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    """What the user's one-line program prints (or the last line of its error)."""
    proc = run([python, "-c", code], cwd=cwd, env=env or clean_env(), check=False)
    if proc.returncode:
        return proc.stderr.strip().splitlines()[-1]
    return proc.stdout.strip()


def offline(wheels: Path, **extra: str) -> dict[str, str]:
    """pip configured, as a user's pip.conf would, to install from ``wheels`` only."""
    return clean_env(PIP_NO_INDEX="1", PIP_FIND_LINKS=str(wheels), **extra)


# --- names that resolve somewhere else ---------------------------------------------------------


def test_stdlib_shadowed_mv(tmp_path: Path) -> None:
    python = make_venv(tmp_path / "venv")
    work = tmp_path / "work"
    work.mkdir()
    (work / "random.py").write_text("VALUE = 'mine'\n")
    assert prints(python, "import random; print(random.__file__)", work) == str(work / "random.py")
    (command,) = the(report_json(python, None, work), "stdlib-shadowed")["commands"]
    assert command == f"mv -- {work / 'random.py'} {work / 'my_random.py'}"
    sh(command, work)
    assert findings(report_json(python, None, work), "stdlib-shadowed") == []
    assert prints(python, "import random; print(random.randint(1, 1))", work) == "1"
    assert prints(python, "import my_random; print(my_random.VALUE)", work) == "mine"


def test_leftover_directory_rm(tmp_path: Path) -> None:
    python = make_venv(tmp_path / "venv", sys.executable, "--without-pip")
    sp = site_packages(python)
    (sp / "kept.py").write_text("VALUE = 'kept'\n")
    cache = sp / "uninstalled" / "__pycache__"
    cache.mkdir(parents=True)
    (cache / f"core.{sys.implementation.cache_tag}.pyc").write_bytes(b"\0" * 16)
    namespace = "import uninstalled; print(uninstalled.__spec__.origin)"
    assert prints(python, namespace, tmp_path) == "None"  # an empty namespace, no ImportError
    (command,) = the(report_json(python, None, tmp_path), "leftover-directory")["commands"]
    assert command == f"rm -r -- {sp / 'uninstalled'}"
    sh(command, tmp_path)
    assert findings(report_json(python, None, tmp_path), "leftover-directory") == []
    assert "No module named 'uninstalled'" in prints(python, "import uninstalled", tmp_path)
    assert prints(python, "import kept; print(kept.VALUE)", tmp_path) == "kept"


def test_namespace_hides_editable_rm(tmp_path: Path) -> None:
    python = make_venv(tmp_path / "venv")
    install_flat_editable(python, tmp_path / "proj")
    work = tmp_path / "work"
    (work / "edpkg" / "__pycache__").mkdir(parents=True)
    (work / "edpkg" / "__pycache__" / "old.cpython-311.pyc").write_bytes(b"x" * 16)
    code = "import edpkg; print(getattr(edpkg, 'VALUE', 'empty namespace'))"
    assert prints(python, code, work) == "empty namespace"
    (command,) = the(report_json(python, None, work), "namespace-hides-editable")["commands"]
    assert command == f"rm -r -- {work / 'edpkg'}"
    sh(command, work)
    assert findings(report_json(python, None, work), "namespace-hides-editable") == []
    assert prints(python, code, work) == "edited"


# --- environment ------------------------------------------------------------------------------


def test_egg_link_dangling_rm(tmp_path: Path) -> None:
    python = make_venv(tmp_path / "venv")
    pip_install(python, make_wheel(tmp_path, "kept", "1.0"))
    link = site_packages(python) / "Gone-Project.egg-link"
    link.write_text(f"{tmp_path / 'deleted-checkout'}\n.\n")
    (command,) = the(report_json(python, None, tmp_path), "egg-link-dangling")["commands"]
    assert command == f"rm -- {link}"
    sh(command, tmp_path)
    assert findings(report_json(python, None, tmp_path), "egg-link-dangling") == []
    assert prints(python, "import kept; print(kept.VERSION)", tmp_path) == "1.0"
    run([python, "-m", "pip", "list"])


def test_pip_not_installed_ensurepip(tmp_path: Path) -> None:
    python = make_venv(tmp_path / "venv", sys.executable, "--without-pip")
    assert "No module named 'pip'" in prints(python, "import pip", tmp_path)
    (command,) = the(report_json(python, None, tmp_path), "pip-not-installed")["commands"]
    assert command == f"{python} -m ensurepip --upgrade"
    sh(command, tmp_path)
    assert findings(report_json(python, None, tmp_path), "pip-not-installed") == []
    pip_install(python, make_wheel(tmp_path, "after", "1.0"))  # pip works in the venv
    assert prints(python, "import after; print(after.VERSION)", tmp_path) == "1.0"


def test_pip_cache_large_purge(tmp_path: Path) -> None:
    """A pip cache of 1 GiB (one sparse file: its size counts, its disk blocks do not) in the
    ``http`` directory that every pip purges."""
    python = make_venv(tmp_path / "venv")
    cache = tmp_path / "pip-cache"
    big = cache / "http" / "a" / "b" / "response"
    big.parent.mkdir(parents=True)
    with big.open("wb") as f:
        f.truncate(1 << 30)
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels, "after", "1.0")
    env = offline(wheels, PIP_CACHE_DIR=str(cache))
    (command,) = the(report_json(python, env, tmp_path), "pip-cache-large")["commands"]
    assert command == f"{python} -m pip cache purge"
    sh(command, tmp_path, env)
    assert not big.exists()
    assert findings(report_json(python, env, tmp_path), "pip-cache-large") == []
    run([python, "-m", "pip", "install", "-q", "after"], env=env)  # pip still installs
    assert prints(python, "import after; print(after.VERSION)", tmp_path, env) == "1.0"


# --- distributions and pip check ---------------------------------------------------------------


def test_editable_project_missing_uninstall(tmp_path: Path) -> None:
    python = make_venv(tmp_path / "venv")
    install_flat_editable(python, tmp_path / "proj", "gonepkg")
    pip_install(python, make_wheel(tmp_path, "kept", "1.0"))
    shutil.rmtree(tmp_path / "proj")
    assert "gonepkg" in prints(python, "import gonepkg; print(gonepkg.VALUE)", tmp_path)
    (command,) = the(report_json(python, None, tmp_path), "editable-project-missing")["commands"]
    assert command == f"{python} -m pip uninstall -y gonepkg"
    sh(command, tmp_path)
    assert findings(report_json(python, None, tmp_path), "editable-project-missing") == []
    assert "gonepkg" not in run([python, "-m", "pip", "list"]).stdout
    assert prints(python, "import kept; print(kept.VERSION)", tmp_path) == "1.0"


def test_dependency_missing_install_then_pip_check(tmp_path: Path) -> None:
    python = make_venv(tmp_path / "venv")
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    pip_install(python, make_wheel(wheels, "alpha", "1.0", requires=("gamma",)))
    make_wheel(wheels, "gamma", "1.0")
    assert "gamma" in run([python, "-m", "pip", "check"], check=False).stdout
    env = offline(wheels)
    commands = the(report_json(python, env, tmp_path), "dependency-missing")["commands"]
    assert commands == [f"{python} -m pip install gamma", f"{python} -m pip check"]
    sh(commands[0], tmp_path, env)
    assert "No broken requirements found." in sh(commands[1], tmp_path, env)
    assert findings(report_json(python, env, tmp_path), "dependency-missing") == []
    assert prints(python, "import alpha, gamma; print(gamma.VERSION)", tmp_path) == "1.0"


def test_dependency_conflict_install_then_pip_check(tmp_path: Path) -> None:
    python = make_venv(tmp_path / "venv")
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    requirement = 'beta>=2.0; python_version >= "3"'
    pip_install(
        python,
        make_wheel(wheels, "alpha", "1.0", requires=(requirement,)),
        make_wheel(wheels, "beta", "1.0"),
    )
    make_wheel(wheels, "beta", "2.0")
    env = offline(wheels)
    commands = the(report_json(python, env, tmp_path), "dependency-conflict")["commands"]
    assert commands == [
        f"{python} -m pip install {shlex.quote(requirement)}",
        f"{python} -m pip check",
    ]
    sh(commands[0], tmp_path, env)
    assert "No broken requirements found." in sh(commands[1], tmp_path, env)
    assert findings(report_json(python, env, tmp_path), "dependency-conflict") == []
    assert prints(python, "import alpha, beta; print(beta.VERSION)", tmp_path) == "2.0"


def test_distribution_unsupported_force_reinstall(tmp_path: Path) -> None:
    """A wheel whose WHEEL file names another platform (pip installs by file name; ``pip
    check`` of pip 24.1+ reads WHEEL): Python 3.13's bundled pip 24.2 is the oracle."""
    python = make_venv(tmp_path / "venv", require_python("3.13"))
    bad, wheels = tmp_path / "bad", tmp_path / "wheels"
    bad.mkdir()
    wheels.mkdir()
    pip_install(python, make_wheel(bad, "plat", "1.0", wheel_tags=["py3-none-win_amd64"]))
    if (
        "not supported on this platform"
        not in run([python, "-m", "pip", "check"], check=False).stdout
    ):
        pytest.skip("this pip's `pip check` does not report unsupported wheels")
    make_wheel(wheels, "plat", "1.0")
    env = offline(wheels)
    commands = the(report_json(python, env, tmp_path), "distribution-unsupported")["commands"]
    assert commands == [
        f"{python} -m pip install --force-reinstall plat",
        f"{python} -m pip check",
    ]
    sh(commands[0], tmp_path, env)
    assert "No broken requirements found." in sh(commands[1], tmp_path, env)
    assert findings(report_json(python, env, tmp_path), "distribution-unsupported") == []
    assert prints(python, "import plat; print(plat.VERSION)", tmp_path) == "1.0"


# --- bytecode ---------------------------------------------------------------------------------


def compile_env() -> dict[str, str]:
    """The user's environment with bytecode writing on (this machine exports
    PYTHONDONTWRITEBYTECODE=1)."""
    env = clean_env()
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def module(directory: Path, name: str, value: str) -> Path:
    path = directory / f"{name}.py"
    path.write_text(f"VALUE = {value!r}\n")
    return path


def test_bytecode_sourceless_rm_spares_what_a_record_lists(tmp_path: Path) -> None:
    """``helpers.py`` was renamed to ``utils.py``; the legacy ``helpers.pyc`` beside it still
    imports. A wheel that ships a sourceless ``.pyc`` (its RECORD lists it) is left alone."""
    python = make_venv(tmp_path / "venv")
    work = tmp_path / "work"
    work.mkdir()
    module(work, "helpers", "old helpers")
    run([python, "-m", "compileall", "-q", "-b", work / "helpers.py"])
    (work / "helpers.py").rename(work / "utils.py")
    assert prints(python, "import helpers; print(helpers.VALUE)", work) == "old helpers"
    sp = site_packages(python)
    pip_install(python, make_wheel(tmp_path, "shipped", "1.0"))
    run([python, "-m", "compileall", "-q", "-b", sp / "shipped.py"])
    (sp / "shipped.py").unlink()
    record = next(sp.glob("shipped-1.0.dist-info")) / "RECORD"
    record.write_text(record.read_text().replace("shipped.py,", "shipped.pyc,"))
    found = the(report_json(python, None, work), "bytecode-sourceless")
    assert str(sp / "shipped.pyc") in found["evidence"]
    (command,) = found["commands"]
    assert command == f"rm -f -- {work / 'helpers.pyc'}"
    sh(command, work)
    after = findings(report_json(python, None, work), "bytecode-sourceless")
    assert [f["evidence"] for f in after] == [[str(sp / "shipped.pyc")]]
    assert [f["commands"] for f in after] == [[]]
    assert "No module named 'helpers'" in prints(python, "import helpers", work)
    assert prints(python, "import utils; print(utils.VALUE)", work) == "old helpers"
    assert prints(python, "import shipped; print(shipped.VERSION)", work) == "1.0"


def test_bytecode_broken_rm(tmp_path: Path) -> None:
    python = make_venv(tmp_path / "venv")
    work = tmp_path / "work"
    work.mkdir()
    source = module(work, "money", "current")
    run([python, "-m", "py_compile", source])
    (pyc,) = (work / "__pycache__").iterdir()
    pyc.write_bytes(pyc.read_bytes()[:20])  # the header still matches; the body is cut
    assert "Error" in prints(python, "import money; print(money.VALUE)", work)
    (command,) = the(report_json(python, None, work), "bytecode-broken")["commands"]
    assert command == f"rm -f -- {pyc}"
    sh(command, work)
    assert findings(report_json(python, None, work), "bytecode-broken") == []
    assert prints(python, "import money; print(money.VALUE)", work) == "current"


def _files(*dirs: Path) -> dict[str, bytes]:
    """``{path: content}`` of every regular file below ``dirs``."""
    return {str(p): p.read_bytes() for d in dirs for p in sorted(d.rglob("*")) if p.is_file()}


def test_bytecode_foreign_and_orphaned_rm_spare_what_the_scan_passes_by(tmp_path: Path) -> None:
    """A project run under tox with two Pythons (``.tox/py312``, the target, and
    ``.tox/py310``) and with another venv beside (``venv310``), both holding pip-installed
    bytecode of 3.10 that their RECORDs list, and a ``.nox`` venv of the target's Python with
    an orphaned pyc. The scan passes them by (``collect/bytecode.py`` ``_listing``: ``.tox``,
    ``.nox``, directories with a ``pyvenv.cfg``), so the printed commands name the files the
    report judged, one by one: the project's own 3.10 bytecode (many modules: the list is split
    into commands that ``sh -c`` still takes, under 128 KiB) and the pyc of a deleted module.
    After them the findings are gone, every file of the other environments is byte for byte
    what it was, and the project's code runs."""
    base, other = require_python("3.12"), require_python("3.10")
    project = tmp_path / "proj"
    (project / "tests").mkdir(parents=True)
    (project / "pyproject.toml").write_text("[project]\nname = 'mul'\nversion = '1.0'\n")
    module(project, "mul", "six")
    (project / "tests" / "test_mul.py").write_text("import mul\n")
    generated = project / "generated_tables_of_a_code_generator_with_rather_long_module_names"
    generated.mkdir()
    for i in range(800):
        (generated / f"table_{i:04}_of_the_generated_lookup_module.py").write_text("X = 1\n")
    python = make_venv(project / ".tox" / "py312", base)
    wheel = make_wheel(tmp_path, "tinydep", "1.0")
    for venv in (project / ".tox" / "py310", project / "venv310"):
        pip_install(make_venv(venv, other), wheel)  # pip compiles cpython-310 pycs (RECORD)
    nox = make_venv(project / ".nox" / "py312", base)
    pip_install(nox, wheel)
    (site_packages(nox) / "tinydep.py").unlink()  # its cpython-312 pyc is orphaned there
    protected = [project / ".tox" / "py310", project / "venv310", project / ".nox"]
    before = _files(*protected)
    tag310, tag312 = "cpython-310", "cpython-312"
    assert any(p.endswith(f".{tag310}.pyc") for p in before)
    assert any(p.endswith(f"tinydep.{tag312}.pyc") for p in before)
    # What the py310 run leaves in the project; then a module renamed after a py312 run.
    run([other, "-m", "compileall", "-q", project / "tests", generated, project / "mul.py"])
    module(project, "old", "old")
    run([python, "-m", "py_compile", project / "old.py"])
    (project / "old.py").unlink()
    judged = sorted(str(p) for p in project.glob(f"*/__pycache__/*.{tag310}.pyc"))
    judged += [str(project / "__pycache__" / f"mul.{tag310}.pyc")]
    orphan = str(project / "__pycache__" / f"old.{tag312}.pyc")

    data = report_json(python, None, project)
    foreign, orphaned = the(data, "bytecode-foreign"), the(data, "bytecode-orphaned")
    assert foreign["count"] == len(judged) == 802
    assert len(foreign["commands"]) > 1  # 802 long paths: several commands of one form
    assert all(len(c.encode()) < 128 * 1024 for c in foreign["commands"])
    named = [w for c in foreign["commands"] for w in shlex.split(c)[3:]]
    assert sorted(named) == sorted(judged)
    assert orphaned["commands"] == [f"rm -f -- {orphan}"]
    for command in (*foreign["commands"], *orphaned["commands"]):
        sh(command, project)
    after = report_json(python, None, project)
    assert findings(after, "bytecode-foreign") == findings(after, "bytecode-orphaned") == []
    assert _files(*protected) == before
    assert prints(python, "import mul; print(mul.VALUE)", project) == "six"
    assert "No module named 'old'" in prints(python, "import old", project)


@pytest.mark.parametrize(
    ("code", "writes"),
    [("bytecode-stale", True), ("bytecode-stale-slow-imports", False)],
)
def test_stale_bytecode_compileall(tmp_path: Path, code: str, writes: bool) -> None:
    """Stale bytecode the interpreter rewrites (info), and the same with bytecode writing off
    (``PYTHONDONTWRITEBYTECODE``: recompiled at every start, a warning). ``compileall`` writes
    the current bytecode either way (it ignores that variable)."""
    python = make_venv(tmp_path / "venv")
    work = tmp_path / "work"
    work.mkdir()
    source = module(work, "money", "old")
    run([python, "-m", "py_compile", source])
    source.write_text("VALUE = 'new, longer'\n")
    env = compile_env() if writes else clean_env(PYTHONDONTWRITEBYTECODE="1")
    (command,) = the(report_json(python, env, work), code)["commands"]
    assert command == f"{python} -m compileall -q -f {source}"
    sh(command, work, env)
    after = report_json(python, env, work)
    assert findings(after, code) == []
    assert prints(python, "import money; print(money.VALUE)", work, env) == "new, longer"
    left = [p for g in after["bytecode"]["groups"] if g["category"] != "fresh" for p in g["paths"]]
    assert not [p for p in left if p.startswith(str(work))]  # the project's pyc is fresh


# --- console scripts, user site ----------------------------------------------------------------


def write_project(root: Path, name: str, value: str) -> Path:
    """A src-layout setuptools project with a console script ``name``; its module file."""
    pkg = root / "src" / name
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(f"VALUE = {value!r}\n\ndef main():\n    print(VALUE)\n")
    (root / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=64"]\nbuild-backend = "setuptools.build_meta"\n'
        f'[project]\nname = "{name}"\nversion = "1.0"\n[project.scripts]\n{name} = "{name}:main"\n'
    )
    return pkg / "__init__.py"


def test_console_scripts_of_a_moved_venv_every_reinstall_form(tmp_path: Path) -> None:
    """A venv renamed with ``mv``: the scripts of the current project (editable), of another
    editable checkout and of a regular wheel name the old interpreter. The printed commands
    are the repairs' (``-e PROJECT``; ``--force-reinstall --no-deps -e DIR``;
    ``--force-reinstall --no-deps NAME==VERSION``): each run as printed, every script runs
    the current code again, and both editable installs stay editable."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(
        wheels,
        "tool",
        "1.0",
        files={
            "tool.py": "def main():\n    print('tool works')\n",
            "tool-1.0.dist-info/entry_points.txt": "[console_scripts]\ntool = tool:main\n",
        },
    )
    project, other = tmp_path / "proj", tmp_path / "helper-checkout"
    write_project(project, "tracker", "v1")
    helper = write_project(other, "helper", "h1")
    import ensurepip  # the pip wheel the venv was seeded from, for pip's own scripts

    bundled = Path(ensurepip.__file__).parent / "_bundled"
    env = clean_env(PIP_FIND_LINKS=f"{wheels} {bundled} {os.environ.get('PIP_FIND_LINKS', '')}")
    old = make_venv(project / "venv")
    for args in (["tool==1.0"], ["-e", project], ["-e", other]):
        run([old, "-m", "pip", "install", "-q", *args], env=env)
    (project / "venv").rename(project / ".venv")
    bin_dir = project / ".venv" / "bin"
    python = bin_dir / "python"
    helper.write_text("VALUE = 'h2-edited'\n\ndef main():\n    print(VALUE)\n")
    with pytest.raises(OSError):
        subprocess.run([bin_dir / "helper"], check=False)  # bad interpreter
    found = the(report_json(python, env, project), "console-script-missing-interpreter")
    assert found["commands"] == [shlex.join(r["command"]) for r in found["repairs"]]
    py = shlex.quote(str(python))
    pip_version = run([python, "-m", "pip", "--version"]).stdout.split()[1]
    assert sorted(found["commands"]) == sorted(
        [
            f"{py} -m pip install -e {project}",
            f"{py} -m pip install --force-reinstall --no-deps -e {other}",
            f"{py} -m pip install --force-reinstall --no-deps tool==1.0",
            f"{py} -m pip install --force-reinstall --no-deps pip=={pip_version}",
        ]
    )
    for command in found["commands"]:
        sh(command, tmp_path, env)
    assert findings(report_json(python, env, project), "console-script-missing-interpreter") == []
    assert run([bin_dir / "tool"]).stdout == "tool works\n"
    assert run([bin_dir / "tracker"]).stdout == "v1\n"
    assert run([bin_dir / "helper"]).stdout == "h2-edited\n"
    for name, root in (("tracker", project), ("helper", other)):
        shown = run([python, "-m", "pip", "show", name]).stdout
        assert f"Editable project location: {root}" in shown


def test_console_scripts_of_a_copied_venv_run_the_copy_again(tmp_path: Path) -> None:
    """A venv copied with ``cp -a``: the copy's scripts run the original's Python (another
    environment). Each printed reinstall, run as printed, makes them the copy's."""
    import ensurepip

    wheels = tmp_path / "wheels"
    wheels.mkdir()
    files = {
        "tinycli/__init__.py": "import sys\ndef main():\n    print(sys.prefix)\n",
        "tinycli-1.0.dist-info/entry_points.txt": "[console_scripts]\ntinycli = tinycli:main\n",
    }
    make_wheel(wheels, "tinycli", "1.0", files=files)
    original = make_venv(tmp_path / "venv").parent.parent
    env = offline(wheels)
    env["PIP_FIND_LINKS"] += f" {Path(ensurepip.__file__).parent / '_bundled'}"
    run([original / "bin" / "python", "-m", "pip", "install", "-q", "tinycli"], env=env)
    copy = tmp_path / "copy"
    shutil.copytree(original, copy, symlinks=True)
    assert run([copy / "bin" / "tinycli"]).stdout.strip() == str(original)  # the wrong one
    python = copy / "bin" / "python"
    found = the(report_json(python, env, tmp_path), "console-script-other-environment")
    pip_version = run([python, "-m", "pip", "--version"]).stdout.split()[1]
    assert sorted(found["commands"]) == [
        f"{python} -m pip install --force-reinstall --no-deps {spec}"
        for spec in (f"pip=={pip_version}", "tinycli==1.0")
    ]
    for command in found["commands"]:
        sh(command, tmp_path, env)
    assert findings(report_json(python, env, tmp_path), "console-script-other-environment") == []
    assert run([copy / "bin" / "tinycli"]).stdout.strip() == str(copy)
    assert f"from {copy}" in run([copy / "bin" / "pip", "--version"]).stdout


def test_user_site_shadows_uninstall_as_printed(tmp_path: Path) -> None:
    """A ``--system-site-packages`` venv of pyenv's 3.11: a user-site copy of a distribution
    the base has shadows it. The printed command is the base interpreter's pip (the venv's
    refuses to uninstall outside the venv), ``-y``: run as printed, the base's copy imports."""
    base = require_python("3.11")
    base_site = Path(
        run([base, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]).stdout.strip()
    )
    name = next((n for n in ("backcall", "blinker", "certifi") if (base_site / n).is_dir()), None)
    if name is None:
        pytest.skip("the base interpreter has none of the distributions this test shadows")
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels, name, "0.1", files={f"{name}/__init__.py": "VALUE = 'user-site copy'\n"})
    env = offline(wheels, PYTHONUSERBASE=str(tmp_path / "userbase"))
    run([base, "-m", "pip", "install", "-q", "--user", f"{name}==0.1"], env=env)
    venv_py = make_venv(tmp_path / "venv", base, "--system-site-packages")
    code = f"import {name}; print(getattr({name}, 'VALUE', {name}.__file__))"
    assert prints(venv_py, code, tmp_path, env) == "user-site copy"
    (command,) = the(report_json(venv_py, env, tmp_path), "user-site-shadows")["commands"]
    owner = shlex.split(command)[0]
    assert os.path.realpath(owner) == os.path.realpath(base)
    assert shlex.split(command)[1:] == ["-m", "pip", "uninstall", "-y", name]
    sh(command, tmp_path, env)
    assert findings(report_json(venv_py, env, tmp_path), "user-site-shadows") == []
    assert prints(venv_py, code, tmp_path, env) == str(base_site / name / "__init__.py")


# --- environments beside the project, the system interpreter, PATH ---------------------------


def vanishing_base(tmp_path: Path, minor: str = "3.10") -> tuple[Path, Path]:
    """``(link, real prefix)``: ``link`` is a symlinked directory standing for an installed
    Python (pyenv's ``minor``); venvs made through it record it as ``home`` (PEP 405), so
    removing the link removes their base, as an uninstall or a move of Python does."""
    real = Path(os.path.realpath(require_python(minor))).parent.parent
    link = tmp_path / "opt" / f"python-{minor}"
    link.parent.mkdir(parents=True)
    link.symlink_to(real)
    return link, real


def test_nearby_venv_broken_venv_clear(tmp_path: Path) -> None:
    link, _ = vanishing_base(tmp_path)
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text('[project]\nname = "nearby-demo"\nversion = "1"\n')
    (project / "main.py").write_text("print('main ran')\n")
    venv_py = make_venv(project / "venv", link / "bin" / "python3.10")
    link.unlink()
    assert not venv_py.exists()  # bin/python dangles: the venv cannot start
    target = make_venv(tmp_path / "target")
    (command,) = the(report_json(target, None, project), "nearby-venv-broken")["commands"]
    assert command == f"python3 -m venv --clear {project / 'venv'}"
    sh(command, project)
    assert findings(report_json(target, None, project), "nearby-venv-broken") == []
    assert run([venv_py, "main.py"], cwd=project).stdout == "main ran\n"


def test_nearby_tox_env_broken_tox_recreate(tmp_path: Path) -> None:
    """tox environments made from a Python that is gone: ``.tox/py310`` (and ``.tox/.pkg``,
    pinned to the same Python) recreated by the printed ``tox -r`` commands, with that Python
    found on PATH at its new place; the project's command runs in the new environment."""
    from test_stock_environments import tool_env, tool_venv

    bin_dir = tool_venv()
    link, real = vanishing_base(tmp_path)
    project = tmp_path / "toxproj"
    (project / "src" / "toxproj").mkdir(parents=True)
    (project / "src" / "toxproj" / "__init__.py").write_text("VALUE = 'from tox'\n")
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=64"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "toxproj"\nversion = "1.0"\n'
    )
    (project / "tox.ini").write_text(
        "[tox]\nenv_list = py310\n[testenv:.pkg]\nbase_python = python3.10\n"
        '[testenv]\ncommands = python -c "import toxproj; print(toxproj.VALUE)"\n'
    )
    before = tool_env(bin_dir)
    before["PATH"] = f"{link / 'bin'}{os.pathsep}{before['PATH']}"
    try:
        run(["tox", "-e", "py310"], env=before, cwd=project)
    except AssertionError as exc:
        pytest.skip(f"tox could not build the project: {str(exc)[-300:]}")
    link.unlink()
    after = tool_env(bin_dir)
    after["PATH"] = f"{real / 'bin'}{os.pathsep}{after['PATH']}"  # Python's new place
    target = make_venv(tmp_path / "target")
    found = the(report_json(target, after, project), "nearby-venv-broken")
    broken = sorted(e.split(":")[0] for e in found["evidence"])
    assert broken == [str(project / ".tox" / n) for n in (".pkg", "py310")]
    assert sorted(found["commands"]) == ["tox -r", "tox -r -e py310"]
    for command in found["commands"]:
        out = sh(command, project, after)
    assert "from tox" in out
    assert findings(report_json(target, after, project), "nearby-venv-broken") == []
    python = project / ".tox" / "py310" / "bin" / "python"
    assert prints(python, "import toxproj; print(toxproj.VALUE)", tmp_path) == "from tox"


def test_externally_managed_plain_venv(tmp_path: Path) -> None:
    """Debian's python3 from a directory without a project: the printed ``python3 -m venv
    .venv`` makes a venv that is not externally managed and installs what pip refused."""
    if not DEBIAN_PYTHON.is_file() or not Path("/usr/lib/python3.11/EXTERNALLY-MANAGED").is_file():
        pytest.skip("no externally managed Debian python3")
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels, "tiny", "1.0")
    env = offline(wheels)
    refused = run([DEBIAN_PYTHON, "-m", "pip", "install", "tiny"], env=env, check=False)
    assert "externally-managed-environment" in refused.stderr
    work = tmp_path / "work"
    work.mkdir()
    (command,) = the(report_json(DEBIAN_PYTHON, env, work), "externally-managed")["commands"]
    assert command == f"{DEBIAN_PYTHON} -m venv .venv"
    try:
        sh(command, work, env)
    except AssertionError as exc:
        pytest.skip(f"Debian's venv is not installed (python3-venv): {str(exc)[-200:]}")
    venv_py = work / ".venv" / "bin" / "python"
    assert findings(report_json(venv_py, env, work), "externally-managed") == []
    run([venv_py, "-m", "pip", "install", "-q", "tiny"], env=env)
    assert prints(venv_py, "import tiny; print(tiny.VERSION)", work) == "1.0"


def test_no_install_is_printed_for_an_externally_managed_interpreter(tmp_path: Path) -> None:
    """A project that is not installed, seen from Debian's python3: pip refuses ``pip install
    -e`` there (PEP 668), so no finding prints a pip install or ensurepip for it."""
    if not DEBIAN_PYTHON.is_file() or not Path("/usr/lib/python3.11/EXTERNALLY-MANAGED").is_file():
        pytest.skip("no externally managed Debian python3")
    project = tmp_path / "proj"
    (project / "src" / "mgdproj").mkdir(parents=True)
    (project / "src" / "mgdproj" / "__init__.py").write_text("")
    (project / "pyproject.toml").write_text('[project]\nname = "mgdproj"\nversion = "1.0"\n')
    data = report_json(DEBIAN_PYTHON, None, project)
    assert the(data, "project-not-installed")["commands"] == []
    py = shlex.quote(str(DEBIAN_PYTHON))
    printed = [c for f in data["findings"] for c in f["commands"]]
    assert not [c for c in printed if c.startswith((f"{py} -m pip install", f"{py} -m ensurepip"))]
    # the one command left makes the venv and installs the project there
    assert the(data, "externally-managed")["commands"] == [
        f"{py} -m venv {project / '.venv'} && {project / '.venv' / 'bin' / 'python'} -m pip "
        f"install -e {project}"
    ]


def test_path_python_other_interpreter_export_path(tmp_path: Path) -> None:
    """An active venv (``VIRTUAL_ENV``, no ``--python``) whose ``bin/`` is no longer first on
    PATH: the printed ``export PATH=...`` in a real shell makes ``python`` the venv's (its own
    ``sys.prefix`` says so) and the findings about PATH go."""
    from conftest import cli

    first = make_venv(tmp_path / "first").parent.parent
    target = make_venv(tmp_path / "target").parent.parent
    env = clean_env(
        VIRTUAL_ENV=str(target), PATH=f"{first / 'bin'}{os.pathsep}{os.environ['PATH']}"
    )

    def report(environ: dict[str, str]) -> dict[str, Any]:
        proc = cli("report", "--format", "json", "--no-redact", env=environ, cwd=tmp_path)
        data: dict[str, Any] = json.loads(proc.stdout)
        return data

    found = findings(report(env), "path-python-other-interpreter")
    assert {f["severity"] for f in found} == {"warning"} and len(found) == 2
    (command,) = {c for f in found for c in f["commands"]}
    assert command == f'export PATH={target / "bin"}:"$PATH"'
    out = sh(
        f'{command} && python -c "import sys; print(sys.prefix)" && printf %s "$PATH"',
        tmp_path,
        env,
    )
    prefix, path = out.split("\n", 1)
    assert prefix == str(target)
    after = report({**env, "PATH": path})
    assert findings(after, "path-python-other-interpreter") == []
    assert findings(after, "path-pip-other-interpreter") == []


# --- other tools' caches -----------------------------------------------------------------------

#: Installed from PyPI into one venv cached between runs (like the stock environments).
CACHE_TOOLS = ("uv", "pre-commit", "pipenv", "poetry")


def cache_tools() -> Path:
    """A venv with :data:`CACHE_TOOLS`, cached under ``~/.cache/pyenvdoctor-tests``; its
    ``bin/``. Skips when they cannot be installed."""
    from test_stock_environments import CACHE

    base = Path(sys.executable)
    version = run([base, "-c", "import sys; print(sys.version)"]).stdout
    key = f"{os.path.realpath(base)}\n{version}\n{CACHE_TOOLS}".encode()
    import hashlib

    venv = CACHE / f"cmdtools-{hashlib.sha256(key).hexdigest()[:16]}"
    if (venv / ".complete").is_file() and all((venv / "bin" / t).is_file() for t in CACHE_TOOLS):
        return venv / "bin"
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    run([base, "-m", "venv", venv])
    proc = run([venv / "bin" / "python", "-m", "pip", "install", "-q", *CACHE_TOOLS], check=False)
    if proc.returncode:
        shutil.rmtree(venv, ignore_errors=True)
        pytest.skip(f"cannot install {', '.join(CACHE_TOOLS)}: {proc.stderr[-300:]}")
    (venv / ".complete").write_text("\n".join(CACHE_TOOLS) + "\n")
    return venv / "bin"


def tool_home(tmp_path: Path, **extra: str) -> dict[str, str]:
    """PATH with the tools first and a HOME of the test's own: nothing of the user's XDG or
    tool variables, so every cache the tools use is under ``tmp_path``."""
    return {
        "PATH": f"{cache_tools()}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path / "home"),
        **extra,
    }


def large(tmp_path: Path, env: dict[str, str], tool: str, name: str) -> dict[str, Any]:
    """The report's row for ``tool``'s ``name`` cache, and the ``cache-large`` finding it gives
    at 1 GiB on disk (the row's real path, source and command; only its size is raised)."""
    import dataclasses

    from pyenvdoctor.checks.caches import CACHE_LARGE_BYTES, cache_findings
    from pyenvdoctor.model import ToolCache, from_dict, to_dict

    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    rows = [c for c in report_json(sys.executable, env, work)["caches"] if c["tool"] == tool]
    (row,) = [c for c in rows if c["name"] == name]
    cache = from_dict(ToolCache, row)
    (finding,) = cache_findings([dataclasses.replace(cache, disk_bytes=CACHE_LARGE_BYTES)])
    return {"row": row, "finding": to_dict(finding)}


def cache_row(tmp_path: Path, env: dict[str, str], tool: str, name: str) -> dict[str, Any]:
    work = tmp_path / "work"
    rows = [c for c in report_json(sys.executable, env, work)["caches"] if c["tool"] == tool]
    (row,) = [c for c in rows if c["name"] == name]
    assert isinstance(row, dict)
    return row


def test_cache_large_uv_prune_and_clean(tmp_path: Path) -> None:
    env = tool_home(tmp_path, UV_CACHE_DIR=str(tmp_path / "uv-cache"))
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels, "tiny", "1.0", files={f"tiny/m{i}.py": "x = 1\n" for i in range(3)})
    venv = tmp_path / "venv"
    run(["uv", "venv", "-q", "--python", sys.executable, venv], env=env, cwd=tmp_path)
    run(
        ["uv", "pip", "install", "-q", "--offline", "--find-links", wheels, "--python",
         venv / "bin" / "python", "tiny"],
        env=env, cwd=tmp_path,
    )  # fmt: skip
    got = large(tmp_path, env, "uv", "cache")
    assert got["row"]["path"] == str(tmp_path / "uv-cache") and got["row"]["files"] > 0
    assert got["finding"]["commands"] == ["uv cache prune", "uv cache clean"]
    for command in got["finding"]["commands"]:
        sh(command, tmp_path, env)
        assert prints(venv / "bin" / "python", "import tiny.m0; print(tiny.m0.x)", tmp_path) == "1"
    assert cache_row(tmp_path, env, "uv", "cache")["files"] < got["row"]["files"]
    assert not list((tmp_path / "uv-cache").rglob("m0.py"))  # every entry is gone


def git(*args: str | Path, cwd: Path) -> str:
    env = clean_env(
        GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@t", GIT_CONFIG_GLOBAL="/dev/null",
    )  # fmt: skip
    return run(["git", *args], cwd=cwd, env=env).stdout.strip()


def test_cache_large_pre_commit_gc(tmp_path: Path) -> None:
    """pre-commit's store holds a clone of a hook repository that no configuration names any
    more: ``pre-commit gc`` removes it; the hooks a configuration still uses keep running."""
    if shutil.which("git") is None:
        pytest.skip("pre-commit needs git")
    env = tool_home(tmp_path, PRE_COMMIT_HOME=str(tmp_path / "store"))
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / ".pre-commit-hooks.yaml").write_text(
        "- id: hello\n  name: hello\n  entry: echo hook-ran\n  language: system\n"
        "  always_run: true\n  pass_filenames: false\n  verbose: true\n"
    )
    git("init", "-q", cwd=hooks)
    git("add", ".", cwd=hooks)
    git("commit", "-q", "-m", "hooks", cwd=hooks)
    rev = git("rev-parse", "HEAD", cwd=hooks)
    config = f"repos:\n- repo: {hooks}\n  rev: {rev}\n  hooks:\n  - id: hello\n"
    projects = []
    for name in ("kept", "dropped"):
        project = tmp_path / name
        project.mkdir()
        git("init", "-q", cwd=project)
        (project / ".pre-commit-config.yaml").write_text(config)
        run(["pre-commit", "install-hooks"], env=env, cwd=project)
        projects.append(project)
    # `dropped` moves to a hook repository of another revision: the old clone is unused.
    git("commit", "-q", "--allow-empty", "-m", "v2", cwd=hooks)
    new_rev = git("rev-parse", "HEAD", cwd=hooks)
    (projects[0] / ".pre-commit-config.yaml").write_text(config.replace(rev, new_rev))
    (projects[1] / ".pre-commit-config.yaml").unlink()
    run(["pre-commit", "install-hooks"], env=env, cwd=projects[0])
    clones = sorted(p.name for p in (tmp_path / "store").glob("repo*"))
    assert len(clones) == 2
    got = large(tmp_path, env, "pre-commit", "store")
    assert got["finding"]["commands"] == ["pre-commit gc"]
    assert "1 repo(s) removed" in sh("pre-commit gc", projects[0], env)
    assert len(list((tmp_path / "store").glob("repo*"))) == 1
    out = run(["pre-commit", "run", "--all-files", "hello"], env=env, cwd=projects[0], check=False)
    assert "hook-ran" in out.stdout and "Passed" in out.stdout


def test_cache_large_pipenv_clear(tmp_path: Path) -> None:
    """``pipenv --clear`` empties pipenv's cache and pip's cache in its default place (not
    the one PIP_CACHE_DIR names): the finding's message says so, the test shows it."""
    cache = tmp_path / "pipenv-cache"
    (cache / "http").mkdir(parents=True)
    (cache / "http" / "entry").write_text("x" * 100)
    pip_default = tmp_path / "home" / ".cache" / "pip" / "http"
    pip_default.mkdir(parents=True)
    (pip_default / "entry").write_text("y")
    env = tool_home(tmp_path, PIPENV_CACHE_DIR=str(cache))
    got = large(tmp_path, env, "pipenv", "cache")
    assert got["finding"]["commands"] == ["pipenv --clear"]
    assert "~/.cache/pip" in got["finding"]["message"]
    sh("pipenv --clear", tmp_path / "work", env)
    assert not (cache / "http" / "entry").exists()
    assert not (pip_default / "entry").exists()
    row = cache_row(tmp_path, env, "pipenv", "cache")
    assert row["files"] == 0
    run(["pipenv", "--version"], env=env, cwd=tmp_path)


def test_cache_large_poetry_cache_clear(tmp_path: Path) -> None:
    """A Poetry repository cache (``cache/repositories/NAME``): the printed command names it
    and runs without a question (without ``--no-interaction`` and without a terminal, poetry
    2.x repeats "Delete N entries?" for ever)."""
    poetry_cache = tmp_path / "poetry-cache"
    entry = poetry_cache / "cache" / "repositories" / "pypi" / "_http" / "a" / "b"
    entry.parent.mkdir(parents=True)
    entry.write_text("cached response")
    env = tool_home(tmp_path, POETRY_CACHE_DIR=str(poetry_cache))
    assert run(["poetry", "cache", "list"], env=env, cwd=tmp_path).stdout.split() == ["pypi"]
    got = large(tmp_path, env, "poetry", "repositories/pypi")
    (command,) = got["finding"]["commands"]
    assert command == "poetry cache clear --all pypi --no-interaction"
    proc = subprocess.run(
        ["sh", "-c", command], env=env, cwd=tmp_path, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert proc.returncode == 0 and not entry.exists()
    assert run(["poetry", "cache", "list"], env=env, cwd=tmp_path).stdout.strip() in ("", "pypi")


# --- the table ---------------------------------------------------------------------------------

#: The words docs/commands-tested.md writes for what a report fills in.
PLACEHOLDERS = (
    "PY", "BASE", "VENV", "ROOT", "DIR", "FILES", "FILE", "NAMES", "NAME", "SPECS", "VERSION",
    "SOURCES", "ROOTS", "TAG", "SCRIPT",
)  # fmt: skip
_ROW = re.compile(r"^\| `([a-z0-9-]+)` \| `(.+?)` \| `(tests/[^`]+)`", re.MULTILINE)
_SILENT = re.compile(r"^\| `([a-z0-9-]+)` \|", re.MULTILINE)


def command_table(text: str) -> tuple[list[tuple[str, str, str]], list[str]]:
    """``([(code, command form, test node id)], [codes with no command])`` of the table."""
    commands, silent = text.split("## Codes that suggest no command", 1)
    return _ROW.findall(commands), _SILENT.findall(silent)


#: A shell word a report fills in (``shlex.quote`` quotes one with spaces), never an option.
_WORD = r"(?!-)(?:'[^']*'|[^\s'])+"
#: A placeholder in a form: not inside a longer word (``my_NAME`` holds one).
_PLACEHOLDER = r"(?<![A-Za-z0-9])(" + "|".join(PLACEHOLDERS) + r")(?![A-Za-z0-9])"
#: Placeholders for one or more words.
_MANY = ("FILES", "NAMES", "SPECS", "SOURCES", "ROOTS")


def form(template: str) -> re.Pattern[str]:
    """The commands a row's form stands for: each placeholder is one shell word (the plural
    ones one or more), so a form never stands for one with another option."""
    words = re.compile(_PLACEHOLDER)
    parts = words.split(template)
    return re.compile(
        "".join(
            (f"{_WORD}(?: {_WORD})*" if p in _MANY else _WORD) if i % 2 else re.escape(p)
            for i, p in enumerate(parts)
        )
    )


def table_problems(text: str, printed: list[tuple[str, str, str]]) -> list[str]:
    """What is wrong with the table ``text``: a code in neither table or in both, a test that
    does not exist, a command printed in this session that no row of its code stands for."""
    rows, silent = command_table(text)
    problems = []
    with_commands = {code for code, _, _ in rows}
    for code in sorted(FINDING_CODES - with_commands - set(silent)):
        problems.append(f"{code}: in neither table")
    for code in sorted(with_commands & set(silent)) + sorted(set(silent) - FINDING_CODES):
        problems.append(f"{code}: in both tables, or not a finding code")
    for code, _, node in rows:
        path, _, name = node.partition("::")
        function = name.split("[", 1)[0]
        source = ROOT / path
        if not source.is_file() or f"def {function}(" not in source.read_text():
            problems.append(f"{code}: no test {node}")
    forms = [(code, form(template)) for code, template, _ in rows]
    for code, command, test in printed:
        if not any(c == code and f.fullmatch(command) for c, f in forms):
            problems.append(f"{code}: `{command}` (printed in {test}) has no row")
    return problems


def test_every_command_form_has_a_test_that_runs_it() -> None:
    """docs/commands-tested.md is complete and true: checked against the finding codes, the
    test files, and every command the reports of this session printed so far (the tests
    above run first: the file is collected in order). Removing any row makes it fail."""
    from conftest import PRINTED_COMMANDS

    text = TABLE.read_text()
    assert table_problems(text, PRINTED_COMMANDS) == []
    # It can fail: without a row, its code is missing or a printed command has no form.
    rows, _ = command_table(text)
    for code, template, node in rows:
        line = next(ln for ln in text.splitlines() if ln.startswith(f"| `{code}` | `{template}`"))
        without = text.replace(line + "\n", "", 1)
        printed = [(code, command, node)] if (command := _example(template)) else []
        assert table_problems(without, printed), f"removing the row {line!r} goes unnoticed"


def _example(template: str) -> str:
    """A command of the row's form (each placeholder replaced by ``x``)."""
    return re.sub(_PLACEHOLDER, "x", template)
