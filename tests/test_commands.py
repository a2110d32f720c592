"""``python``/``pip`` on PATH and console-script ``#!`` lines, against real venvs and real
pip-written scripts (no mocks: every file here was written by ``venv``, ``ensurepip`` or pip)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import (
    clean_env,
    make_venv,
    make_wheel,
    pip_install,
    report_json,
    require_python,
    run,
)
from pyenvdoctor.checks.commands import (
    PathCommand,
    command_findings,
    console_script_findings,
    interpreter_prefix,
    path_commands,
    script_owners,
    shebang_interpreter,
)
from pyenvdoctor.model import Finding, Severity

pytestmark = pytest.mark.slow

#: A console script (entry point) in a tiny hand-built wheel; pip writes ``bin/tinycli``.
TINYCLI = {
    "tinycli/__init__.py": "def main() -> None:\n    print('tinycli ran')\n",
    "tinycli-1.0.dist-info/entry_points.txt": "[console_scripts]\ntinycli = tinycli:main\n",
}


def by_name(commands: tuple[PathCommand, ...]) -> dict[str, PathCommand]:
    return {c.name: c for c in commands}


def codes(findings: list[Finding]) -> list[str]:
    return [f.code for f in findings]


def head(path: Path) -> bytes:
    with path.open("rb") as f:
        return f.read(512)


def findings_for(venv: Path, environ: dict[str, str], *, active: bool) -> list[Finding]:
    """``command_findings`` for PATH in ``environ`` with ``venv`` as the target."""
    return command_findings(
        path_commands(environ),
        target_executable=str(venv / "bin" / "python"),
        target_prefix=str(venv),
        scripts_dir=str(venv / "bin"),
        env_is_active=active,
    )


@pytest.mark.parametrize(
    ("head_bytes", "expected"),
    [
        (b"#!/venv/bin/python\n# -*- coding: utf-8 -*-\n", "/venv/bin/python"),
        (b"#!/usr/bin/python3 -I\n", "/usr/bin/python3"),
        (
            b"#!/bin/sh\n'''exec' /long/bin/python3.11 \"$0\" \"$@\"\n' '''\n",
            "/long/bin/python3.11",
        ),
        (b'#!/bin/sh\n\'\'\'exec\' "/has space/bin/python" "$0" "$@"\n', "/has space/bin/python"),
        (b"#!/usr/bin/env python3\n", "python3"),
        (b"#!/usr/bin/env -S pypy3 -u\n", "pypy3"),
        (b"#!/usr/bin/env bash\nexec pyenv exec python\n", None),
        (b"#!/bin/sh\necho hi\n", None),
        (b"\x7fELF\x02\x01\x01", None),
        (b"", None),
    ],
)
def test_shebang_interpreter_forms(head_bytes: bytes, expected: str | None) -> None:
    """The forms distlib (pip) writes, ``env`` lines, and files that name no Python."""
    assert shebang_interpreter(head_bytes) == expected


def test_pip_on_path_belongs_to_the_venv_first_on_path(host_venv: Path, tmp_path: Path) -> None:
    venv = host_venv.parent.parent
    environ = clean_env(PATH=f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}")
    # What the shell really runs: this venv's pip.
    assert str(venv) in run(["pip", "--version"], env=environ).stdout

    commands = by_name(path_commands(environ))
    pip = commands["pip"]
    assert pip.kind == "script"
    assert pip.path == str(venv / "bin" / "pip")
    assert pip.interpreter is not None
    assert Path(pip.interpreter).parent == venv / "bin"
    assert interpreter_prefix(pip.interpreter) == os.path.realpath(venv)
    python = commands["python"]
    assert python.kind == "interpreter"
    assert python.path == str(venv / "bin" / "python")
    assert python.interpreter == os.path.realpath(venv / "bin" / "python")
    assert findings_for(venv, environ, active=True) == []

    other = make_venv(tmp_path / "other", sys.executable, "--without-pip").parent.parent
    found = findings_for(other, environ, active=False)
    assert codes(found) == [
        "path-python-other-interpreter",
        "path-python-other-interpreter",
        "path-pip-other-interpreter",
        "path-pip-other-interpreter",
    ]
    assert {f.severity for f in found[:2]} == {Severity.INFO}
    pip_finding = found[2]
    # Not active, named with --python: another pip on PATH is expected, worth knowing.
    assert pip_finding.severity is Severity.INFO
    assert pip_finding.evidence[0] == str(venv / "bin" / "pip")
    # No placeholder (`pip install PROJECT`): the message says how, no command is pasted.
    assert pip_finding.commands == ()
    assert f"`{other / 'bin' / 'python'} -m pip`" in pip_finding.message
    # The target is the python3 on PATH (no --python) yet PATH's pip installs elsewhere: bites.
    from_path = command_findings(
        path_commands(environ),
        target_executable=str(other / "bin" / "python"),
        target_prefix=str(other),
        scripts_dir=str(other / "bin"),
        env_is_active=False,
        target_from_path=True,
    )
    pips = [f for f in from_path if f.code == "path-pip-other-interpreter"]
    assert [f.severity for f in pips] == [Severity.WARNING] * 2
    # The target's venv is active but its bin/ is not first on PATH: python is a warning too.
    active = findings_for(other, environ, active=True)
    assert [f.severity for f in active] == [Severity.WARNING] * 4
    assert f"export PATH={other / 'bin'}:" in active[0].commands[0]


def test_base_python_is_not_the_venv_although_the_real_paths_match(host_venv: Path) -> None:
    """A venv's bin/python symlinks to its base: same real path, different environment."""
    base_bin = Path(os.path.realpath(host_venv)).parent
    if not (base_bin / "python3").exists():
        pytest.skip(f"no python3 beside {base_bin}")
    venv = host_venv.parent.parent
    environ = {"PATH": str(base_bin)}
    (python3,) = path_commands(environ, names=("python3",))
    assert python3.interpreter == os.path.realpath(host_venv)
    found = findings_for(venv, environ, active=False)
    assert "path-python-other-interpreter" in codes(found)


def seed_wheels() -> list[str]:
    """``--find-links DIR`` for the pip wheels ``venv`` seeds from (ensurepip's, Debian's)."""
    import ensurepip

    dirs = [Path(ensurepip.__file__).parent / "_bundled", Path("/usr/share/python-wheels")]
    return [arg for d in dirs if d.is_dir() for arg in ("--find-links", str(d))]


def test_copied_venv_scripts_run_the_original_then_fail(tmp_path: Path) -> None:
    venv_python = make_venv(tmp_path / "venv")
    venv = venv_python.parent.parent
    pip_install(venv_python, make_wheel(tmp_path, "tinycli", "1.0", files=TINYCLI))
    copy = tmp_path / "copy"
    shutil.copytree(venv, copy, symlinks=True)
    copy_python = copy / "bin" / "python"
    # The copy's interpreter is the copy (pyvenv.cfg beside bin/), its scripts are not.
    prefix = run([copy_python, "-c", "import sys; print(sys.prefix)"]).stdout.strip()
    assert prefix == str(copy)
    original = shebang_interpreter(head(copy / "bin" / "pip"))  # venv/bin/python3.X
    assert original is not None
    assert Path(original).parent == venv / "bin"
    assert str(venv) in run([copy / "bin" / "pip", "--version"]).stdout  # the original's pip

    assert (
        console_script_findings(
            str(venv / "bin"), target_prefix=str(venv), target_executable=str(venv_python)
        )
        == []
    )
    (finding,) = console_script_findings(
        str(copy / "bin"), target_prefix=str(copy), target_executable=str(copy_python)
    )
    assert finding.code == "console-script-other-environment"
    assert finding.severity is Severity.WARNING
    named = dict(e.split(" (installed by")[0].split(": #!") for e in finding.evidence)
    assert named[str(copy / "bin" / "pip")] == original
    assert Path(named[str(copy / "bin" / "tinycli")]).parent == venv / "bin"
    scripts = sorted(p.name for p in (copy / "bin").iterdir() if p.name.startswith(("pip", "tiny")))
    assert sorted(Path(p).name for p in named) == scripts  # not activate*, not python symlinks
    assert "PEP 405" in finding.message

    shutil.rmtree(venv)
    with pytest.raises(FileNotFoundError):
        subprocess.run([copy / "bin" / "pip", "--version"], check=False)
    shell = run(["bash", "-c", f"'{copy / 'bin' / 'pip'}' --version"], check=False)
    assert shell.returncode != 0
    assert "bad interpreter" in shell.stderr or "required file not found" in shell.stderr
    (finding,) = console_script_findings(
        str(copy / "bin"), target_prefix=str(copy), target_executable=str(copy_python)
    )
    assert finding.code == "console-script-missing-interpreter"
    assert finding.severity is Severity.ERROR
    assert len(finding.evidence) == len(scripts)

    # The suggested repair works: `<target> -m pip` still runs, and a forced reinstall of the
    # exact version rewrites the distribution's script for the copy. The report's commands are
    # its repairs' (script_repairs knows each owner's version).
    assert finding.commands == ()
    reported = next(
        f
        for f in report_json(copy_python, None, tmp_path)["findings"]
        if f["code"] == "console-script-missing-interpreter"
    )
    assert reported["commands"] == [shlex.join(r["command"]) for r in reported["repairs"]]
    pip_version = run([copy_python, "-m", "pip", "--version"]).stdout.split()[1]
    assert set(reported["commands"]) == {
        f"{copy_python} -m pip install --force-reinstall --no-deps {spec}"
        for spec in (f"pip=={pip_version}", "tinycli==1.0")
    }
    # Each command as suggested; the only addition says where the wheels are (the test's, and
    # the pip wheel the venv was seeded from), so the test runs offline.
    for command in reported["commands"]:
        run([*shlex.split(command), "--no-index", "--find-links", tmp_path, *seed_wheels()])
    assert run([copy / "bin" / "tinycli"]).stdout == "tinycli ran\n"
    assert str(copy) in run([copy / "bin" / "pip", "--version"]).stdout
    assert (
        console_script_findings(
            str(copy / "bin"), target_prefix=str(copy), target_executable=str(copy_python)
        )
        == []
    )


@pytest.mark.skipif(sys.platform != "linux", reason="distlib's 127-byte #! limit is Linux's")
def test_long_path_venv_gets_the_sh_trampoline(tmp_path: Path) -> None:
    venv = tmp_path / ("long-" + "d" * 120) / "venv"
    venv_python = make_venv(venv)
    assert len(f"#!{venv_python}\n") > 127
    pip_install(venv_python, make_wheel(tmp_path, "tinycli", "1.0", files=TINYCLI))
    for script in ("pip", "tinycli"):
        first = head(venv / "bin" / script)
        assert first.startswith(b"#!/bin/sh\n'''exec' "), first[:80]
        interpreter = shebang_interpreter(first)
        assert interpreter is not None
        assert Path(interpreter).parent == venv / "bin"
    assert run([venv / "bin" / "tinycli"]).stdout == "tinycli ran\n"

    environ = {"PATH": f"{venv / 'bin'}{os.pathsep}{os.defpath}"}
    pip = by_name(path_commands(environ))["pip"]
    assert pip.kind == "script"
    assert interpreter_prefix(pip.interpreter or "") == os.path.realpath(venv)
    assert findings_for(venv, environ, active=True) == []
    assert (
        console_script_findings(
            str(venv / "bin"), target_prefix=str(venv), target_executable=str(venv_python)
        )
        == []
    )


def _pyenv_shims() -> Path:
    shims = Path(os.environ.get("PYENV_ROOT", "~/.pyenv")).expanduser() / "shims"
    if not (shims / "python").is_file() or not (shims / "pip").is_file():
        pytest.skip("no pyenv shims on this machine")
    return shims


def test_pyenv_shims_resolve_as_pyenv_which_says(host_venv: Path) -> None:
    """Issue 14: a shim is judged by what it runs in the user's directory; the oracle is
    pyenv itself (``pyenv which NAME``, what the shim execs)."""
    shims = _pyenv_shims()
    environ = {"PATH": f"{shims}:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root")}
    commands = by_name(path_commands(environ))
    assert commands["python"].kind == "shim"
    pyenv = shims.parent / "libexec" / "pyenv"
    said = run([pyenv, "which", "python"], env=environ).stdout.strip()
    assert commands["python"].interpreter == os.path.realpath(said)
    pip_said = run([pyenv, "which", "pip"], env=environ).stdout.strip()
    assert commands["pip"].interpreter == shebang_interpreter(Path(pip_said).read_bytes()[:512])
    venv = host_venv.parent.parent
    found = findings_for(venv, environ, active=False)
    python_found = [f for f in found if f.title.startswith("`python`")]
    assert [f.severity for f in python_found] == [Severity.INFO]
    assert f"runs {os.path.realpath(said)} here" in python_found[0].message
    # Not active and named with --python: pip elsewhere is worth knowing, not a warning.
    pips = [f for f in found if f.code == "path-pip-other-interpreter"]
    assert pips and all(f.severity is Severity.INFO for f in pips)


@pytest.mark.parametrize("version", ["3.11", "3.12"])
def test_a_shim_that_runs_the_target_is_not_another_interpreter(
    tmp_path: Path, version: str
) -> None:
    """The shim picks the version from ``.python-version`` in the user's directory: run from
    there, it runs the target, so no finding; from elsewhere it runs the global one."""
    shims = _pyenv_shims()
    target = require_python(version)
    exact = run([target, "-c", "import platform; print(platform.python_version())"]).stdout
    work = tmp_path / "work"
    work.mkdir()
    (work / ".python-version").write_text(exact.strip() + "\n")
    environ = {"PATH": f"{shims}:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root")}
    prefix = str(Path(target).resolve().parent.parent)
    ran = run([shims / "python3", "-c", "import sys; print(sys.prefix)"], env=environ, cwd=work)
    assert ran.stdout.strip() == prefix  # the oracle: the shim runs the target from there
    found = command_findings(
        path_commands(environ, working_directory=str(work)),
        target_executable=str(target),
        target_prefix=prefix,
        scripts_dir=str(Path(target).parent),
        env_is_active=False,
        target_from_path=True,
    )
    assert found == []


def test_report_resolves_shims_where_the_user_stands(tmp_path: Path) -> None:
    """The CLI starts the shim lookups first thing (pyenvdoctor.shims, beside the probe): run
    from a directory whose ``.python-version`` names 3.12, the report says the ``python3``
    shim runs 3.12, the interpreter the shim itself runs from there; with ``PYENV_VERSION``
    naming 3.11 in the user's environment, it says 3.11."""
    import json

    shims = _pyenv_shims()
    py312, py311 = require_python("3.12"), require_python("3.11")
    work = tmp_path / "work"
    work.mkdir()
    exact = run([py312, "-c", "import platform; print(platform.python_version())"]).stdout
    (work / ".python-version").write_text(exact.strip() + "\n")
    base = {**clean_env(), "PATH": f"{shims}:{Path(sys.executable).parent}:/usr/bin:/bin"}
    base.pop("PYENV_VERSION", None)
    exact311 = run([py311, "-c", "import platform; print(platform.python_version())"]).stdout
    for environ, target in ((base, py312), ({**base, "PYENV_VERSION": exact311.strip()}, py311)):
        oracle = run(
            [shims / "python3", "-c", "import sys; print(sys.executable)"], env=environ, cwd=work
        )
        assert Path(oracle.stdout.strip()).resolve() == Path(target).resolve()
        done = run(
            [
                sys.executable,
                "-m",
                "pyenvdoctor",
                "report",
                "--python",
                str(py312),
                "--format",
                "json",
            ],
            env=environ,
            cwd=work,
            check=False,
        )
        assert done.returncode in (0, 1), done.stderr
        commands = {c["name"]: c for c in json.loads(done.stdout)["path_commands"]}
        assert commands["python3"]["kind"] == "shim"
        shown = commands["python3"]["interpreter"].replace("~", os.path.expanduser("~"), 1)
        assert Path(shown).resolve() == Path(target).resolve()


def test_lookups_run_niced_and_are_reaped(tmp_path: Path) -> None:
    """``process.start(..., nice=N)`` lowers the child's priority before it execs (what it
    starts inherits it), and ``Lookups.close`` leaves no process of a shim's tool behind."""
    from pyenvdoctor import process
    from pyenvdoctor.shims import Lookups

    done = process.start(["sh", "-c", "nice"], nice=7).wait(10)
    base = process.start(["sh", "-c", "nice"]).wait(10)
    assert int(done.stdout) == int(base.stdout) + 7 or int(done.stdout) == 19
    # A fake shim whose tool hangs: close() kills it with its group.
    tool = tmp_path / "tool"
    tool.write_text("#!/bin/sh\nexec sleep 1234.25\n")
    tool.chmod(0o755)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shim = bindir / "python3"
    shim.write_text(f'#!/usr/bin/env bash\nexec "{tool}" exec "python3" "$@"\n')
    shim.chmod(0o755)
    lookups = Lookups({"PATH": str(bindir)}, str(tmp_path), names=("python3",), nice=5)
    assert lookups.is_shim("python3")
    lookups.close()
    left = [p for p in os.listdir("/proc") if p.isdigit() and b"1234.25" in _cmdline(p)]
    assert left == []


def _cmdline(pid: str) -> bytes:
    try:
        return Path("/proc", pid, "cmdline").read_bytes()
    except OSError:
        return b""


def test_nothing_on_path(tmp_path: Path) -> None:
    commands = path_commands({"PATH": str(tmp_path)})
    assert [c.kind for c in commands] == ["missing"] * 4
    venv = tmp_path / "venv"
    assert findings_for(venv, {"PATH": str(tmp_path)}, active=False) == []
    active = findings_for(venv, {"PATH": str(tmp_path)}, active=True)
    assert codes(active) == ["path-python-other-interpreter"] * 2
    assert "no `python` on PATH" in active[0].message


def pyenv_bases() -> list[Path]:
    """The pyenv-built interpreters on this machine (``~/.pyenv/versions/*/bin/python3``)."""
    root = Path(os.environ.get("PYENV_ROOT", "~/.pyenv")).expanduser() / "versions"
    return sorted(
        p / "bin" / "python3" for p in root.glob("3.*") if (p / "bin" / "python3").is_file()
    )


@pytest.mark.parametrize("base", pyenv_bases(), ids=lambda p: p.parent.parent.name)
def test_pyenv_base_scripts_no_distribution_installed_are_not_judged(base: Path) -> None:
    # CPython's `make install` puts python3.X-gdb.py (#!/usr/bin/python, absent on Debian 12)
    # into bin/; no RECORD lists it, so it is not a console script. pip's own are judged.
    out = run(
        [
            base,
            "-c",
            "import sys, sysconfig; print(sys.prefix); print(sysconfig.get_path('scripts')); print(sysconfig.get_path('purelib'))",
        ]
    )
    prefix, scripts, purelib = out.stdout.split("\n")[:3]
    gdb = list(Path(scripts).glob("python3*-gdb.py"))
    interpreters = [shebang_interpreter(head(p)) for p in gdb]
    owners = script_owners(scripts, [purelib])
    assert str(Path(scripts) / "pip3") in owners or not (Path(scripts) / "pip3").exists()
    assert not any(str(p) in owners for p in gdb)
    assert (
        console_script_findings(
            scripts, target_prefix=prefix, target_executable=str(base), site_dirs=[purelib]
        )
        == []
    )
    if not any(i and not os.path.exists(i) for i in interpreters):
        pytest.skip("this base has no gdb helper with a missing interpreter")


def test_a_script_no_record_lists_is_not_judged(tmp_path: Path) -> None:
    venv_python = make_venv(tmp_path / "venv")
    venv = venv_python.parent.parent
    mine = venv / "bin" / "mytool"
    mine.write_text("#!/nonexistent/python3\nprint('hi')\n")
    mine.chmod(0o755)
    pip_install(venv_python, make_wheel(tmp_path, "tinycli", "1.0", files=TINYCLI))
    tinycli = venv / "bin" / "tinycli"
    text = tinycli.read_text().split("\n", 1)
    tinycli.write_text("#!/nonexistent/python3\n" + text[1])
    (finding,) = console_script_findings(
        str(venv / "bin"), target_prefix=str(venv), target_executable=str(venv_python)
    )
    assert finding.code == "console-script-missing-interpreter"
    assert finding.evidence == (f"{tinycli}: #!/nonexistent/python3 (installed by tinycli)",)
    reported = next(
        f
        for f in report_json(venv_python, None, tmp_path)["findings"]
        if f["code"] == "console-script-missing-interpreter"
    )
    (command,) = reported["commands"]
    assert command == f"{venv_python} -m pip install --force-reinstall --no-deps tinycli==1.0"
    run([*shlex.split(command), "--no-index", "--find-links", tmp_path])
    assert run([tinycli]).stdout == "tinycli ran\n"
    assert (
        console_script_findings(
            str(venv / "bin"), target_prefix=str(venv), target_executable=str(venv_python)
        )
        == []
    )


def test_pip_other_interpreter_command_makes_pip_the_targets(
    host_venv: Path, tmp_path: Path
) -> None:
    """The one command ``path-pip-other-interpreter`` suggests (an active venv whose ``bin/``
    is no longer first on PATH), run in a real shell: afterwards ``pip --version`` (pip's own
    answer) names the target, and the finding is gone."""
    first = host_venv.parent.parent
    target = make_venv(tmp_path / "target").parent.parent
    environ = clean_env(PATH=f"{first / 'bin'}{os.pathsep}{os.environ['PATH']}")
    found = findings_for(target, environ, active=True)
    finding = next(f for f in found if f.code == "path-pip-other-interpreter")
    (command,) = finding.commands
    assert "PROJECT" not in command
    out = run(["sh", "-c", f'{command} && pip --version && printf "%s" "$PATH"'], env=environ)
    version, path = out.stdout.split("\n", 1)
    assert f"from {os.path.realpath(target)}" in version or f"from {target}" in version, version
    after = findings_for(target, {**environ, "PATH": path}, active=True)
    assert "path-pip-other-interpreter" not in codes(after)
