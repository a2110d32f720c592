"""The probe in real interpreters 3.8-3.13, and interpreters it must refuse with one line."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from conftest import (
    DEBIAN_PYTHON,
    clean_env,
    cli,
    pyenv_python,
    report_json,
    require_python,
    run,
)
from pyenvdoctor.collect.interpreter import run_probe, select_interpreter
from pyenvdoctor.errors import InterpreterError
from pyenvdoctor.model import SelectionReason


def _ask(python: Path, code: str) -> str:
    return run([python, "-c", code]).stdout.strip()


@pytest.mark.parametrize("minor", ["3.8", "3.9", "3.10", "3.11", "3.12", "3.13"])
def test_probe_reports_the_targets_own_facts(minor: str) -> None:
    python = require_python(minor)
    data = run_probe(str(python)).data
    assert data["errors"] == []
    expected = json.loads(
        _ask(
            python,
            (
                "import sys, json, importlib.util, sysconfig; print(json.dumps({"
                "'v': list(sys.version_info[:3]), 'tag': sys.implementation.cache_tag,"
                "'magic': importlib.util.MAGIC_NUMBER.hex(), 'purelib': sysconfig.get_path('purelib'),"
                "'prefix': sys.prefix}))"
            ),
        )
    )
    assert data["interpreter"]["version_info"][:3] == expected["v"]
    assert data["interpreter"]["implementation"]["cache_tag"] == expected["tag"]
    assert data["interpreter"]["magic_number"] == expected["magic"]
    assert data["sysconfig"]["paths"]["purelib"] == expected["purelib"]
    assert data["prefixes"]["prefix"] == expected["prefix"]
    assert data["imports"]["path"][0] == ""  # -c: the working directory
    names = data["imports"]["stdlib_module_names"]
    assert (names is None) == (minor in ("3.8", "3.9")) and (names is None or "json" in names)


@pytest.mark.parametrize("minor", ["2.7", "3.6", "3.7"])
def test_old_interpreters_are_unsupported(minor: str) -> None:
    python = pyenv_python(minor)
    if python is None:
        pytest.skip(f"no Python {minor}")
    with pytest.raises(InterpreterError, match=r"unsupported \(pyenvdoctor inspects Python 3.8"):
        run_probe(str(python))


def _script(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return cli(*args, env=clean_env(), cwd=cwd, check=False)


@pytest.mark.parametrize(
    ("body", "args", "message"),
    [
        (None, ("--python", "/nonexistent/python3"), "does not exist"),
        ("echo hello world\n", (), "not a working Python interpreter (hello world)"),
        ("exit 7\n", (), "not a working Python interpreter (exit status 7, no output)"),
        ("sleep 30\n", ("--timeout", "0.5"), "no answer within 0.5 s"),
        ("echo '\n--pyenvdoctor-probe-v1--\n{oops'\n", (), "not valid JSON"),
    ],
)
def test_bad_interpreters_give_one_line_and_exit_3(
    tmp_path: Path, body: str | None, args: tuple[str, ...], message: str
) -> None:
    if body is not None:
        args = ("--python", str(_script(tmp_path, "fakepython", body)), *args)
    proc = _cli("report", *args, cwd=tmp_path)
    assert proc.returncode == 3
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("pyenvdoctor: error: ")
    assert message in lines[0]


def test_startup_noise_is_a_finding_not_a_failure(tmp_path: Path) -> None:
    custom = tmp_path / "custom"
    custom.mkdir()
    (custom / "sitecustomize.py").write_text("print('hello from sitecustomize')\n")
    env = clean_env(PYTHONPATH=str(custom))
    data = report_json(sys.executable, env, tmp_path)
    noisy = [f for f in data["findings"] if f["code"] == "interpreter-startup-output"]
    assert noisy and noisy[0]["evidence"] == ["hello from sitecustomize"]


def test_unwritable_output_exits_4(tmp_path: Path) -> None:
    proc = _cli(
        "report",
        "--python",
        sys.executable,
        "--output",
        tmp_path / "no" / "such" / "f.json",
        cwd=tmp_path,
    )
    assert proc.returncode == 4
    assert (
        proc.stderr.startswith("pyenvdoctor: error: cannot write")
        and len(proc.stderr.splitlines()) == 1
    )


def test_selection_order(tmp_path: Path) -> None:
    python3 = select_interpreter("python3", {})
    assert python3.reason is SelectionReason.OPTION and Path(python3.executable).exists()
    venv_dir = tmp_path / "env"
    (venv_dir / "bin").mkdir(parents=True)
    (venv_dir / "bin" / "python").symlink_to(sys.executable)
    assert select_interpreter(str(venv_dir), {}).executable == str(venv_dir / "bin" / "python")
    conda = select_interpreter(None, {"CONDA_PREFIX": str(venv_dir)})
    assert conda.reason is SelectionReason.CONDA_PREFIX
    both = select_interpreter(None, {"CONDA_PREFIX": "/x", "VIRTUAL_ENV": str(venv_dir)})
    assert both.reason is SelectionReason.VIRTUAL_ENV
    assert select_interpreter(None, {}).reason is SelectionReason.HOST
    with pytest.raises(InterpreterError, match="VIRTUAL_ENV=/gone is set but"):
        select_interpreter(None, {"VIRTUAL_ENV": "/gone"})
    with pytest.raises(InterpreterError, match="no such command on PATH"):
        select_interpreter("python-does-not-exist-9", {"PATH": os.defpath})


def test_debian_system_python() -> None:
    if not DEBIAN_PYTHON.exists():
        pytest.skip("no Debian /usr/bin/python3")
    data = report_json(DEBIAN_PYTHON, clean_env(), Path("/"))
    assert data["interpreter"]["kind"] == "debian-system"
    classes = {e["path"]: e["location"] for e in data["sys_path"]}
    assert classes.get("/usr/lib/python3/dist-packages") == "debian-dist-packages"
    minor = data["interpreter"]["version_info"][1]
    assert classes.get(f"/usr/local/lib/python3.{minor}/dist-packages") == "local-dist-packages"
    assert classes.get(f"/usr/lib/python3.{minor}/lib-dynload") == "lib-dynload"
    pip = run([DEBIAN_PYTHON, "-m", "pip", "list", "--format=json"], env=clean_env(), cwd=Path("/"))
    expected = {(canonicalize_name(d["name"]), d["version"]) for d in json.loads(pip.stdout)}
    ours = {
        (d["canonical_name"], d["version"])
        for d in data["distributions"]
        if d["visible"] and d["canonical_name"] not in ("python", "wsgiref", "argparse")
    }
    assert ours == expected


def test_probe_source_fits_in_a_pipe_buffer() -> None:
    """RunningProbe writes the whole probe to the target's stdin before reading anything: a
    target that never reads (hung) must not block that write, so it stays under 64 KiB."""
    import pyenvdoctor.probe

    assert len(Path(pyenvdoctor.probe.__file__).read_bytes()) < 60_000


PY312 = Path.home() / ".pyenv" / "versions" / "3.12.1" / "bin" / "python3.12"


@pytest.mark.skipif(not PY312.exists(), reason="pyenv 3.12.1 not installed")
def test_default_is_the_python3_on_path_with_shims_resolved(tmp_path: Path) -> None:
    """Issue 17: no --python, no active environment: the ``python3`` the shell would run (a
    pyenv-style shim, a shell script that execs the real interpreter, resolved to it), not the
    interpreter running pyenvdoctor; ``python`` when there is no ``python3``."""
    shims = tmp_path / "shims"
    shims.mkdir()
    shim = shims / "python3"
    shim.write_text(f'#!/bin/sh\nexec {PY312} "$@"\n')
    shim.chmod(0o755)
    chosen = select_interpreter(None, {"PATH": f"{shims}:{os.defpath}"})
    assert (chosen.reason, chosen.requested) == (SelectionReason.PATH, "python3")
    assert chosen.executable == str(PY312)
    only_python = tmp_path / "only"
    only_python.mkdir()
    (only_python / "python").symlink_to(PY312)
    chosen = select_interpreter(None, {"PATH": str(only_python)})
    assert (chosen.requested, chosen.executable) == ("python", str(only_python / "python"))
    assert (
        select_interpreter(None, {"PATH": str(tmp_path / "empty")}).reason is SelectionReason.HOST
    )


# Files of the user's directory that CPython would import if the probe let it: `platform`
# imports subprocess lazily, the probe source needs json, 3.13's `-c` imports linecache (and
# traceback) before any code runs; sitecustomize is not searched there (site runs before '' is
# put on sys.path), so it is a control.
_TRAPS = ("subprocess", "json", "linecache", "traceback", "platform", "re", "ast")
#: What setuptools' DistutilsMetaFinder imports as it answers `which distutils` / `which pip`.
_FINDER_TRAPS = ("traceback", "pathlib", "tempfile", "setuptools")


@pytest.mark.parametrize("minor", ["3.8", "3.11", "3.13", "debian"])
def test_nothing_in_the_users_directory_runs(minor: str, tmp_path: Path) -> None:
    """The report and ``which`` run the probe where the user stands (``''`` on sys.path means
    that directory) but import nothing from there: each trap module writes a file when it is
    imported. The oracle is the interpreter itself: ``python -c`` run there does import them
    (3.13: linecache at once; all of them when imported), so the traps are real."""
    python = DEBIAN_PYTHON if minor == "debian" else require_python(minor)
    if not python.exists():
        pytest.skip("no Debian python3")
    work = tmp_path / "work"
    work.mkdir()
    for name in _TRAPS:
        (work / f"{name}.py").write_text(
            f"open({str(tmp_path / ('RAN_' + name))!r}, 'w').close()\n"
        )
    (work / "main.py").write_text("print('main')\n")
    env = clean_env()
    env.pop("PYTHONSAFEPATH", None)
    # The oracle: run there, the interpreter imports the user's copy.
    # (3.13 imports ./linecache.py for -c; its missing _register_code is then reported with
    # ./traceback.py, and the command never runs.)
    run([str(python), "-c", "import json"], env=env, cwd=work, check=False)
    ran = sorted(p.name for p in tmp_path.glob("RAN_*"))
    assert ran == (["RAN_linecache", "RAN_traceback"] if minor == "3.13" else ["RAN_json"])
    for name in ran:
        (tmp_path / name).unlink()

    for name in _FINDER_TRAPS:
        (work / f"{name}.py").write_text(
            f"open({str(tmp_path / ('RAN_' + name))!r}, 'w').close()\n"
        )
    data = report_json(python, env, work)
    which = cli(
        "which", "json", "--python", python, "--format", "json", "--no-redact", env=env, cwd=work
    )
    for name in ("distutils", "distutils.core", "pip"):
        cli("which", name, "--python", python, env=env, cwd=work, check=False)
    assert sorted(p.name for p in tmp_path.glob("RAN_*")) == []
    # What the probe reports is still the user's sys.path: '' first, meaning the directory.
    first = data["sys_path"][0]
    assert (first["index"], first["path"], first["resolved"]) == (0, "", str(work))
    assert data["interpreter"]["flags"]["safe_path"] is False
    assert "PYTHONSAFEPATH" not in data["environment_variables"]
    # ... and `which json` answers the user's copy, as CPython does.
    assert json.loads(which.stdout)["levels"][-1]["origin"] == str(work / "json.py")


def test_a_users_pythonsafepath_is_reported_as_set(tmp_path: Path) -> None:
    """PYTHONSAFEPATH set by the user (3.11+): sys.path has no '' entry and the flag is true,
    as ``python -c 'import sys; print(sys.path[0], sys.flags.safe_path)'`` prints."""
    python = require_python("3.12")
    env = clean_env(PYTHONSAFEPATH="1")
    oracle = run(
        [str(python), "-c", "import sys; print(repr(sys.path[0]), sys.flags.safe_path)"],
        env=env,
        cwd=tmp_path,
    ).stdout.split()
    assert oracle[1] == "True" and oracle[0] != "''"
    data = report_json(python, env, tmp_path)
    assert data["interpreter"]["flags"]["safe_path"] is True
    assert data["sys_path"][0]["path"] == oracle[0].strip("'")
    assert data["environment_variables"]["PYTHONSAFEPATH"] == "1"


def test_the_unresolved_prefix_is_the_models() -> None:
    """The probe cannot import the model; the prefix its note starts with is the model's."""
    from pyenvdoctor import model, probe

    assert probe.UNRESOLVED == model.UNRESOLVED_PREFIX


@pytest.mark.parametrize("minor", ["3.10", "debian"])
def test_nothing_in_a_pythonpath_directory_runs(minor: str, tmp_path: Path) -> None:
    """``PYTHONPATH=src`` with modules that the probe, or setuptools' ``DistutilsMetaFinder``
    asked by ``which distutils.core``, would import: none runs, and ``which`` still answers
    as the interpreter does without them (the shim's ``setuptools/_distutils/core.py``)."""
    python = DEBIAN_PYTHON if minor == "debian" else require_python(minor)
    if not python.exists():
        pytest.skip("no Debian python3")
    (tmp_path / "src").mkdir()
    for name in (*_TRAPS, *_FINDER_TRAPS):
        if name == "linecache":
            continue
        (tmp_path / "src" / f"{name}.py").write_text(
            f"open({str(tmp_path / ('RAN_' + name))!r}, 'w').close()\n"
        )
    oracle = run(
        [str(python), "-c", "import distutils.core as c; print(c.__file__)"],
        env=clean_env(),
        cwd=tmp_path,
    ).stdout.strip()
    env = clean_env(PYTHONPATH="src")
    report_json(python, env, tmp_path)
    shown = cli(
        "which",
        "distutils.core",
        "--python",
        python,
        "--format",
        "json",
        "--no-redact",
        env=env,
        cwd=tmp_path,
    )
    assert sorted(p.name for p in tmp_path.glob("RAN_*")) == []
    assert json.loads(shown.stdout)["levels"][-1]["origin"] == oracle
