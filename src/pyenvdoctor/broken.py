"""A virtual environment whose interpreter cannot start, because the base interpreter it was
made from is gone: diagnosed from its files alone, since there is nothing to run a probe in.

PEP 405: ``pyvenv.cfg`` ``home`` is the directory of the base interpreter, and the venv's
``bin/python`` is a symlink (or copy) of it. When ``home`` is deleted, ``bin/python`` dangles and
the shell skips it: ``python`` on ``PATH`` falls through to the next directory, another
environment. The repair makes the environment again with an interpreter of the same version
(``python -m venv --clear DIR``, the tool that owns it) and installs the current project into it
in editable mode when it was installed there in editable mode (PEP 610 ``direct_url.json``).
"""

from __future__ import annotations

import glob
import io
import json
import os
import shlex
from collections.abc import Mapping

from pyenvdoctor import files
from pyenvdoctor.checks.commands import interpreter_prefix, path_commands
from pyenvdoctor.model import Finding, Repair, RepairGroup, RepairKind, Severity

__all__ = ["broken_venv_findings", "venv_of"]


def venv_of(requested: str) -> str | None:
    """The environment directory ``requested`` (an interpreter path or the directory itself)
    belongs to, when it holds a ``pyvenv.cfg``; else ``None``."""
    path = os.path.abspath(requested)
    for candidate in (path, os.path.dirname(path), os.path.dirname(os.path.dirname(path))):
        if os.path.isfile(os.path.join(candidate, "pyvenv.cfg")):
            return candidate
    return None


def _read_cfg(venv: str) -> dict[str, str]:
    values: dict[str, str] = {}
    try:
        with io.StringIO(files.read_text(os.path.join(venv, "pyvenv.cfg"), errors="replace")) as f:
            for line in f:
                key, sep, value = line.partition("=")
                if sep:
                    values[key.strip().lower()] = value.strip()
    except OSError:
        pass
    return values


def _starts(python: str) -> bool:
    return os.path.isfile(python) and os.access(python, os.X_OK)


def find_base(version: str, environ: Mapping[str, str]) -> str | None:
    """An existing interpreter of exactly ``version`` (``3.10.13``) to make the environment
    with: pyenv's ``versions/<version>`` (``PYENV_ROOT``, else ``~/.pyenv``), then a
    ``pythonX.Y`` on ``PATH`` that is a real binary (not a shim) under a prefix named after the
    version, then ``/usr/bin`` and ``/usr/local/bin``. ``None`` when there is none."""
    parts = version.split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts[:2]):
        return None
    name = f"python{parts[0]}.{parts[1]}"
    roots = [environ.get("PYENV_ROOT", ""), os.path.expanduser("~/.pyenv")]
    for root in filter(None, roots):
        exe = os.path.join(root, "versions", version, "bin", name)
        if _starts(exe):
            return exe
    for directory in environ.get("PATH", "").split(os.pathsep):
        exe = os.path.join(directory, name)
        if _starts(exe) and version in os.path.realpath(exe):
            return exe
    for exe in sorted(glob.glob(f"/usr/local/bin/{name}")) + [f"/usr/bin/{name}"]:
        if _starts(exe):
            return exe
    return None


def _editable_project(venv: str, cwd: str | None) -> str | None:
    """The current project's directory when the environment has it installed in editable mode
    (a ``direct_url.json`` with ``dir_info.editable`` whose ``url`` is ``cwd`` or above it).
    A malformed file (not JSON, nested deeper than :func:`json.loads` decodes, ``dir_info``
    not an object, a NUL byte in the path) names no project."""
    if cwd is None:
        return None
    for path in glob.glob(os.path.join(venv, "lib", "python*", "site-packages", "*.dist-info")):
        try:
            data = json.loads(files.read_text(os.path.join(path, "direct_url.json")))
        except (OSError, ValueError, RecursionError):
            continue
        if not isinstance(data, dict) or not isinstance(info := data.get("dir_info"), dict):
            continue
        url = data.get("url", "")
        if (
            info.get("editable")
            and isinstance(url, str)
            and url.startswith("file://")
            and "\x00" not in url
        ):
            project = os.path.realpath(url[len("file://") :])
            if os.path.realpath(cwd) == project:
                return project
    return None


def broken_venv_findings(
    requested: str, environ: Mapping[str, str], *, cwd: str | None
) -> tuple[Finding, ...]:
    """``venv-base-missing`` when ``requested`` is in a virtual environment whose ``home`` is
    gone; empty otherwise (the caller then reports the original error).

    :param cwd: the user's working directory (the current project, if installed editable).
    """
    venv = venv_of(requested)
    if venv is None:
        return ()
    cfg = _read_cfg(venv)
    home = cfg.get("home", "")
    python = os.path.join(venv, "bin", "python")
    if not home or (os.path.isdir(home) and _starts(python)):
        return ()
    version = cfg.get("version") or cfg.get("version_info") or ""
    evidence = [os.path.join(venv, "pyvenv.cfg"), f"home = {home}"]
    if os.path.islink(python):
        evidence.append(f"{python} -> {os.readlink(python)} (dangling)")
    instead = ""
    for cmd in path_commands(environ, names=("python", "python3")):
        if cmd.path and os.path.realpath(os.path.dirname(cmd.path)) != os.path.realpath(
            os.path.join(venv, "bin")
        ):
            evidence.append(
                f"`{cmd.name}` on PATH: {cmd.path} (prefix {interpreter_prefix(cmd.path)})"
            )
            instead = instead or (
                f" `{cmd.name}` on PATH skips it and runs {cmd.path}, another environment "
                f"({interpreter_prefix(cmd.path)}), with its own distributions."
            )
    base = find_base(version, environ) if version else None
    project = _editable_project(venv, cwd)
    repairs: list[Repair] = []
    if base is not None:
        repairs.append(
            Repair(
                kind=RepairKind.RUN,
                group=RepairGroup.INSTALLATION,
                description=f"make {venv} again with {base} (Python {version}); what was "
                "installed in it is gone",
                command=(base, "-m", "venv", "--clear", venv),
            )
        )
        if project is not None:
            repairs.append(
                Repair(
                    kind=RepairKind.RUN,
                    group=RepairGroup.INSTALLATION,
                    description=f"install {project} in editable mode into the new environment",
                    command=(python, "-m", "pip", "install", "-e", project),
                )
            )
    return (
        Finding(
            code="venv-base-missing",
            severity=Severity.ERROR,
            title=f"The virtual environment {venv} cannot start: its base interpreter {home} is gone",
            message=(
                f"{os.path.join(venv, 'pyvenv.cfg')} names home = {home}, which no longer exists, "
                f"so {python} cannot start.{instead} A virtual environment cannot outlive its base "
                "interpreter: make it again from an existing Python "
                + (f"{version} ({base})" if base else f"{version or 'of the same version'}")
                + (", then install the project again." if project else ".")
            ),
            evidence=tuple(evidence),
            commands=tuple(shlex.join(r.command) for r in repairs),
            repairs=tuple(repairs),
            subject=venv,
        ),
    )
