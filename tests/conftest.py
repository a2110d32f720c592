"""Shared fixtures: this machine's real interpreters, real virtual environments, real wheels.

Interpreters come from pyenv (``~/.pyenv/versions``) and Debian (``/usr/bin/python3``); tests
that need one that is absent are skipped. This machine sets ``PYTHONDONTWRITEBYTECODE=1``:
helpers that need bytecode control it themselves.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

PYENV_VERSIONS = Path(os.environ.get("PYENV_ROOT", "~/.pyenv")).expanduser() / "versions"
DEBIAN_PYTHON = Path("/usr/bin/python3")


def pyenv_python(minor: str) -> Path | None:
    """The pyenv interpreter for ``"3.11"`` (newest patch release), or ``None``."""
    if not PYENV_VERSIONS.is_dir():
        return None
    found = sorted(
        (p for p in PYENV_VERSIONS.iterdir() if p.name.startswith(minor + ".")),
        key=lambda p: [int(x) if x.isdigit() else 0 for x in p.name.split(".")],
    )
    for p in reversed(found):
        exe = p / "bin" / "python"
        if exe.exists():
            return exe
    return None


def require_python(minor: str) -> Path:
    """:func:`pyenv_python` or skip the test."""
    exe = pyenv_python(minor)
    if exe is None:
        pytest.skip(f"no pyenv Python {minor} on this machine")
    return exe


def clean_env(**extra: str) -> dict[str, str]:
    """os.environ without VIRTUAL_ENV/CONDA_PREFIX/PYTHON* that would change the target."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("VIRTUAL_ENV", "CONDA_PREFIX", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")
    }
    env.update(extra)
    return env


def run(
    cmd: list[str | Path],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing text output; raise with its output on failure."""
    proc = subprocess.run(
        [str(c) for c in cmd],
        capture_output=True,
        text=True,
        env=dict(env) if env is not None else clean_env(),
        cwd=cwd,
        check=False,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def make_venv(path: Path, python: Path | str = sys.executable, *args: str) -> Path:
    """``python -m venv [args] path``; returns the venv's interpreter."""
    run([python, "-m", "venv", *args, path])
    return path / "bin" / "python"


def site_packages(venv_python: Path) -> Path:
    """The venv's purelib, asked from the interpreter itself."""
    out = run([venv_python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"])
    return Path(out.stdout.strip())


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode()


def make_wheel(
    directory: Path,
    name: str,
    version: str,
    *,
    files: Mapping[str, str] | None = None,
    requires: Sequence[str] = (),
    tag: str = "py3-none-any",
    wheel_tags: Sequence[str] | None = None,
) -> Path:
    """Build a real wheel (PEP 427) by hand: METADATA, WHEEL, RECORD and ``files``.

    :param files: archive path -> text, e.g. ``{"alpha/__init__.py": "X = 1\\n"}``; default: one
        module named after the project.
    :param wheel_tags: the ``Tag`` lines of the WHEEL file when they should differ from the file
        name's ``tag`` (pip installs by file name; ``pip check`` reads WHEEL).
    """
    dist = name.replace("-", "_")
    files = dict(files if files is not None else {f"{dist}.py": f"VERSION = {version!r}\n"})
    info = f"{dist}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    metadata += "".join(f"Requires-Dist: {r}\n" for r in requires)
    files[f"{info}/METADATA"] = metadata
    files[f"{info}/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: pyenvdoctor-tests\nRoot-Is-Purelib: true\n"
        + "".join(f"Tag: {t}\n" for t in (_expand_tag(tag) if wheel_tags is None else wheel_tags))
    )
    record = [f"{p},{_record_hash(c.encode())},{len(c.encode())}" for p, c in files.items()]
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = "\n".join(record) + "\n"
    path = directory / f"{dist}-{version}-{tag}.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for arcname, text in files.items():
            zf.writestr(arcname, text)
    return path


def _expand_tag(tag: str) -> list[str]:
    py, abi, plat = tag.split("-")
    return [f"{a}-{b}-{c}" for a in py.split(".") for b in abi.split(".") for c in plat.split(".")]


def pip_install(venv_python: Path, *args: str | Path, env: Mapping[str, str] | None = None) -> None:
    """A real ``pip install --no-index`` into the venv."""
    run(
        [
            venv_python,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-index",
            "--no-deps",
            "--disable-pip-version-check",
            *[str(a) for a in args],
        ],
        env=env,
    )


def cli(
    *args: str | Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -I -m pyenvdoctor ARGS`` as a user would. ``-I``: the host ignores the
    PYTHON* variables a test sets for the target (the target inherits them)."""
    return run([sys.executable, "-I", "-m", "pyenvdoctor", *args], env=env, cwd=cwd, check=check)


#: ``(code, command, test)`` for every command a :func:`report_json` report printed in this
#: session: ``tests/test_suggested_commands.py`` checks each against docs/commands-tested.md.
PRINTED_COMMANDS: list[tuple[str, str, str]] = []


def report_json(
    python: Path | str, env: Mapping[str, str] | None = None, cwd: Path | None = None, *args: str
) -> dict[str, Any]:
    """``pyenvdoctor report --python PYTHON --format json --no-redact`` parsed (tests compare
    real paths; redaction has tests of its own); stderr must stay empty. Its findings'
    commands are noted in :data:`PRINTED_COMMANDS`."""
    proc = cli(
        "report", "--python", python, "--format", "json", "--no-redact", *args, env=env, cwd=cwd
    )
    assert proc.stderr == ""
    data: dict[str, Any] = json.loads(proc.stdout)
    test = os.environ.get("PYTEST_CURRENT_TEST", "")
    PRINTED_COMMANDS.extend(
        (f["code"], c, test) for f in data.get("findings", ()) for c in f["commands"]
    )
    return data


def fix_json(
    python: Path | str,
    *codes: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    check: bool = True,
) -> dict[str, Any]:
    """``pyenvdoctor report --python PYTHON --fix [CODE]... --yes --format json`` parsed."""
    fixes = [a for code in codes for a in ("--fix", code)] or ["--fix"]
    proc = cli(
        "report",
        "--python",
        python,
        *fixes,
        "--yes",
        "--format",
        "json",
        env=env if env is not None else clean_env(),
        cwd=cwd,
        check=check,
    )
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def planned_report(
    python: Path | str, working_directory: Path, *, environ: Mapping[str, str] | None = None
) -> Any:
    """The ``--fix`` plan (a tuple of ``fix.Action``) as ``--fix`` makes it: the report built in
    process with every judged bytecode file collected, then planned from those files."""
    from pyenvdoctor import fix
    from pyenvdoctor.report import build_report

    files: list[Any] = []
    report = build_report(
        python=str(python),
        environ=dict(environ) if environ is not None else clean_env(),
        working_directory=str(working_directory),
        on_file=lambda *f: files.append(f),
    )
    return fix.plan(report, files)


def install_flat_editable(venv_python: Path, project: Path, name: str = "edpkg") -> Path:
    """A flat-layout project (``<project>/<name>/__init__.py``) installed editable with a real
    ``pip install -e``: setuptools serves it by a meta path finder (not a sys.path entry)."""
    (project / name).mkdir(parents=True)
    (project / name / "__init__.py").write_text("VALUE = 'edited'\n")
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=64"]\nbuild-backend = "setuptools.build_meta"\n'
        f'[project]\nname = "{name}"\nversion = "1.0"\n[tool.setuptools]\npackages = ["{name}"]\n'
    )
    run([venv_python, "-m", "pip", "install", "-q", "-e", project])
    return project / name / "__init__.py"


@pytest.fixture(scope="session")
def host_venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A session-wide venv made from the interpreter running the tests (with pip)."""
    yield make_venv(tmp_path_factory.mktemp("host-venv") / "venv")


def pty_spawn(
    argv: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None
) -> tuple[int, int]:
    """Start ``argv`` on a pseudo-terminal in ``cwd`` (``env``: default :func:`clean_env`);
    ``(pid, fd of the terminal)``. Skips where there is no ``pty``."""
    pty = pytest.importorskip("pty")
    environ = dict(clean_env() if env is None else env)
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.chdir(cwd)
        os.execve(argv[0], list(argv), environ)
    return pid, fd


def pty_read_until(fd: int, needle: bytes | None, seconds: float = 60, *, idle: float = 1) -> bytes:
    """What the terminal shows until ``needle`` appears, it closes, or ``seconds`` pass; with
    ``needle=None``, until it closes or shows nothing for ``idle`` seconds."""
    import select
    import time

    out = b""
    deadline = time.monotonic() + seconds
    while (needle is None or needle not in out) and time.monotonic() < deadline:
        if not select.select([fd], [], [], idle)[0]:
            if needle is None:
                break  # quiet for ``idle`` seconds: done
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    return out


def pty_read_all(fd: int, idle: float = 30) -> bytes:
    """What the terminal shows until it closes (or shows nothing for ``idle`` seconds)."""
    return pty_read_until(fd, None, seconds=float("inf"), idle=idle)
