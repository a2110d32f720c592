"""Which ``python``/``pip`` commands on ``PATH`` belong to the target, and console scripts whose
``#!`` line names a missing interpreter or another environment.

Nothing here runs a command: files are read (at most :data:`HEAD_BYTES` bytes each), never
executed. Which environment an interpreter path runs in follows CPython ``Modules/getpath.py``
and PEP 405: a ``pyvenv.cfg`` beside the (unresolved) executable or one directory up makes that
directory ``sys.prefix``; otherwise the prefix is found from the executable's real path
(``<prefix>/bin/python3.X``). So a venv's ``bin/python`` and its base ``python`` share a real
path yet are different environments.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import shutil
from collections.abc import Iterable, Mapping, Sequence

from pyenvdoctor import files
from pyenvdoctor.collect.records import Records, searchable
from pyenvdoctor.model import (
    Distribution,
    Finding,
    PathCommand,
    Repair,
    RepairGroup,
    RepairKind,
    Severity,
)
from pyenvdoctor.shims import NAMES, Lookups

__all__ = [
    "HEAD_BYTES",
    "PathCommand",
    "command_findings",
    "console_script_findings",
    "interpreter_prefix",
    "path_commands",
    "script_owners",
    "script_repairs",
    "shebang_interpreter",
]

#: How much of a file is read to find its ``#!`` line and pip's ``/bin/sh`` trampoline (bytes).
HEAD_BYTES = 512

_PYTHON = re.compile(r"(python|pypy|graalpy)[\w.-]*(\.exe)?", re.IGNORECASE)
_TRAMPOLINE = "'''exec' "
#: code -> (severity, title after "N script(s) in DIR", why), for :func:`console_script_findings`.
_SCRIPT_PROBLEMS = {
    "console-script-missing-interpreter": (
        Severity.ERROR,
        "name an interpreter that does not exist",
        "Running them fails (shells say 'bad interpreter' or 'required file not found'): the "
        "Python in their #! line was moved or deleted (a moved or copied environment, or a "
        "removed base Python).",
    ),
    "console-script-other-environment": (
        Severity.WARNING,
        "run another environment's Python",
        "Their #! line names a Python in a different environment (usually the place this one was "
        "copied or moved from), so they import that environment's distributions, not this one's.",
    ),
}


def _head(path: str) -> bytes:
    try:
        return files.read_bytes(path, HEAD_BYTES)
    except OSError:
        return b""


def _program(words: list[str]) -> str | None:
    """The interpreter named by a ``#!`` command; ``env [-S] [VAR=x] NAME`` gives ``NAME``."""
    if words and os.path.basename(words[0]) == "env":
        words = [w for w in words[1:] if not w.startswith("-") and "=" not in w]
    if not words or not _PYTHON.fullmatch(os.path.basename(words[0])):
        return None
    return words[0]


def shebang_interpreter(head: bytes) -> str | None:
    """The Python interpreter a script's first bytes name, or ``None`` (no ``#!``, or not Python).

    Understands ``#!/path/python [args]``, ``#!/usr/bin/env python3`` (gives the bare name) and
    the trampoline distlib (pip's script writer, ``distlib/scripts.py::_build_shebang``) writes
    on POSIX when the ``#!`` line would exceed 127 bytes (512 on macOS) or the path has a space::

        #!/bin/sh
        '''exec' /long/path/bin/python "$0" "$@"

    :param head: the file's first bytes (:data:`HEAD_BYTES` are enough).
    """
    if not head.startswith(b"#!"):
        return None
    lines = os.fsdecode(head).splitlines()
    try:
        words = shlex.split(lines[0][2:])
        if words[:1] == ["/bin/sh"] and len(lines) > 1 and lines[1].startswith(_TRAMPOLINE):
            return _program(shlex.split(lines[1][len(_TRAMPOLINE) :]))
    except ValueError:
        return None
    return _program(words)


def interpreter_prefix(executable: str) -> str:
    """The ``sys.prefix`` ``executable`` runs with, as a real path (rule in the module docstring).

    :param executable: an interpreter path as the shell or a ``#!`` line names it (unresolved).
    """
    here = os.path.dirname(os.path.abspath(executable))
    for candidate in (here, os.path.dirname(here)):
        if os.path.isfile(os.path.join(candidate, "pyvenv.cfg")):
            return os.path.realpath(candidate)
    base = os.path.dirname(os.path.realpath(executable))
    return base if os.name == "nt" else os.path.dirname(base)


def _resolve_shims(
    found: list[PathCommand], lookups: Lookups, environ: Mapping[str, str]
) -> list[PathCommand]:
    """Each shim with ``interpreter`` set to what it runs here, as the shell's own call would:
    ``pyenv which NAME`` / ``asdf which NAME`` (the tool the shim execs), run in the user's
    directory (``.python-version``, ``.tool-versions``) with the user's environment
    (``PYENV_VERSION``), all at once, 10 seconds at most (:class:`pyenvdoctor.shims.Lookups`).
    For ``python*`` the real path of the interpreter; for ``pip*`` the interpreter its ``#!``
    line names. A shim that does not say (another kind of wrapper, a tool that fails: the
    version is not installed) keeps ``None``."""
    out = list(found)
    for i, cmd in enumerate(found):
        if cmd.kind != "shim" or cmd.path is None:
            continue
        target = lookups.resolved(cmd.name)
        if target is None:
            continue
        if _PYTHON.fullmatch(cmd.name):
            interpreter: str | None = os.path.realpath(target)
        else:
            interpreter = shebang_interpreter(_head(target))
            if interpreter is not None and not os.path.isabs(interpreter):
                interpreter = shutil.which(interpreter, path=environ.get("PATH", os.defpath))
        out[i] = dataclasses.replace(cmd, interpreter=interpreter)
    return out


def path_commands(
    environ: Mapping[str, str],
    *,
    names: Sequence[str] = NAMES,
    working_directory: str | None = None,
    lookups: Lookups | None = None,
) -> tuple[PathCommand, ...]:
    """Find each of ``names`` on ``environ["PATH"]`` (``os.defpath`` if unset) and classify it.

    Names that look like an interpreter (``python3.12``, ``pypy3``) are judged as interpreters,
    the others as scripts whose ``#!`` line says which interpreter they run. pyenv and asdf
    shims are resolved the way they resolve (:func:`_resolve_shims`, in ``working_directory``).

    :param lookups: the same lookups, already started with these arguments (the CLI starts
        them before it imports the pipeline); ``None``: started here.
    """
    own = lookups is None
    if lookups is None:
        lookups = Lookups(environ, working_directory, names)
    search = environ.get("PATH", os.defpath)
    found: list[PathCommand] = []
    try:
        for name in names:
            path = lookups.hits.get(name)
            resolved = None if path is None else os.path.realpath(path)
            head = lookups.heads.get(name, b"")[:HEAD_BYTES]
            interpreter = shebang_interpreter(head)
            if path is None:
                kind = "missing"
            elif _PYTHON.fullmatch(name):
                kind = "shim" if head.startswith(b"#!") else "interpreter"
                interpreter = resolved if kind == "interpreter" else None
            else:
                kind = "shim" if head.startswith(b"#!") and interpreter is None else "script"
            if interpreter is not None and not os.path.isabs(interpreter):
                interpreter = shutil.which(interpreter, path=search)
            found.append(
                PathCommand(
                    name=name, path=path, resolved=resolved, interpreter=interpreter, kind=kind
                )
            )
        return tuple(_resolve_shims(found, lookups, environ))
    finally:
        if own:
            lookups.close()


def _belongs(executable: str | None, target_executable: str, target_prefix: str) -> bool:
    """Whether ``executable`` runs in the target's environment (its prefix, or the prefix
    :func:`interpreter_prefix` finds for the target's own executable)."""
    if executable is None:
        return False
    own = {os.path.realpath(target_prefix), interpreter_prefix(target_executable)}
    return os.path.normcase(interpreter_prefix(executable)) in {os.path.normcase(p) for p in own}


def command_findings(
    commands: Sequence[PathCommand],
    *,
    target_executable: str,
    target_prefix: str,
    scripts_dir: str,
    env_is_active: bool,
    target_from_path: bool = False,
) -> list[Finding]:
    """``path-pip-other-interpreter`` and ``path-python-other-interpreter`` findings.

    :param commands: from :func:`path_commands`.
    :param env_is_active: the target was chosen because its environment is active
        (``VIRTUAL_ENV``/``CONDA_PREFIX``): then its ``bin/`` must come first on ``PATH`` and a
        ``python`` that is not the target is a warning, otherwise it is worth knowing (info).
    :param target_from_path: the target is the ``python3`` on ``PATH`` (no ``--python``): a
        ``pip`` on ``PATH`` that installs elsewhere is then a warning too (else info).
    """
    py = shlex.quote(target_executable)
    fix_path = f'export PATH={shlex.quote(scripts_dir)}:"$PATH"'
    findings: list[Finding] = []
    for cmd in commands:
        if _PYTHON.fullmatch(cmd.name):
            mine = (
                cmd.kind == "interpreter" and _belongs(cmd.path, target_executable, target_prefix)
            ) or (
                cmd.kind == "shim" and _belongs(cmd.interpreter, target_executable, target_prefix)
            )
            if mine or (cmd.path is None and not env_is_active):
                continue
            if cmd.path is None:
                seen = f"there is no `{cmd.name}` on PATH"
            elif cmd.kind == "shim" and cmd.interpreter:
                seen = f"the first `{cmd.name}` on PATH is a shim ({cmd.path}) that runs {cmd.interpreter} here (prefix {interpreter_prefix(cmd.interpreter)})"
            elif cmd.kind == "shim":
                seen = f"the first `{cmd.name}` on PATH is a shim ({cmd.path}) that picks the interpreter at run time (pyenv, asdf)"
            else:
                seen = f"the first `{cmd.name}` on PATH is {cmd.path} (prefix {interpreter_prefix(cmd.path)})"
            findings.append(
                Finding(
                    code="path-python-other-interpreter",
                    severity=Severity.WARNING if env_is_active else Severity.INFO,
                    title=f"`{cmd.name}` on PATH is not the inspected interpreter",
                    message=(
                        f"A virtual environment is active, yet {seen}: {scripts_dir} is not first "
                        "on PATH (PATH changed after activation, or the shell remembers an old "
                        f"location: run `hash -r`). Whatever runs `{cmd.name}` gets another "
                        "interpreter and its distributions."
                        if env_is_active
                        else f"This report inspects {target_executable}, but {seen}: `{cmd.name}` "
                        f"and `{cmd.name} -m pip` work on that other environment."
                    ),
                    evidence=tuple(dict.fromkeys(x for x in (cmd.path, cmd.resolved) if x)),
                    # Not active: nothing to repair (`PYTHON -m pip list` only shows the
                    # difference, and resolves nothing).
                    commands=(fix_path,) if env_is_active else (),
                    subject=cmd.name,
                )
            )
        elif cmd.kind in ("script", "shim") and cmd.path and cmd.interpreter:
            if _belongs(cmd.interpreter, target_executable, target_prefix):
                continue
            gone = "" if os.path.exists(cmd.interpreter) else " That interpreter no longer exists."
            findings.append(
                Finding(
                    code="path-pip-other-interpreter",
                    # It bites when the user's `python`/`python3` is the target (active, or the
                    # one on PATH): `pip install` then misses it. For a target named with
                    # --python and not active, PATH's pip belonging elsewhere is expected.
                    severity=Severity.WARNING
                    if env_is_active or target_from_path
                    else Severity.INFO,
                    title=f"`{cmd.name}` on PATH installs into another environment",
                    message=(
                        f"The first `{cmd.name}` on PATH runs {cmd.interpreter} (environment "
                        f"{interpreter_prefix(cmd.interpreter)}), not {target_executable}: "
                        f"`{cmd.name} install` puts distributions into that other environment, "
                        f"where the inspected interpreter cannot import them.{gone} Run pip as "
                        f"`{py} -m pip` to work on the inspected environment"
                        + (f", or put {scripts_dir} first on PATH again." if env_is_active else ".")
                    ),
                    evidence=(cmd.path, f"#!{cmd.interpreter}"),
                    subject=cmd.name,
                    # No ``pip install PROJECT``: a command is pasted as it stands (issue 14).
                    commands=(fix_path,) if env_is_active else (),
                )
            )
    return findings


def script_owners(
    scripts_dir: str, site_dirs: Iterable[str], records: Records | None = None
) -> dict[str, str]:
    """``{script path: distribution name}`` for the files of ``scripts_dir`` a RECORD lists.

    A wheel's scripts and entry-point wrappers are installed into the ``scripts`` scheme path
    and listed in its ``.dist-info/RECORD`` relative to the site directory (PEP 376/PEP 427;
    pip ``_internal/operations/install/wheel.py``), e.g. ``../../../bin/black``. Files no RECORD
    lists (CPython's own ``python3.X-gdb.py``, hand-made scripts) were installed by nobody pip
    knows and are not judged. The name is the ``.dist-info`` directory's (the wheel spec's
    escaped name, which pip accepts as a requirement).

    :param scripts_dir: ``<prefix>/bin``; :param site_dirs: the target's site-packages.
    :param records: the report's RECORD cache; ``None``: a new one.
    """
    records = Records() if records is None else records
    scripts = os.path.normcase(os.path.realpath(scripts_dir))
    marker = os.path.basename(scripts_dir)
    usable = searchable(marker)
    owners: dict[str, str] = {}
    real_dirs: dict[str, str] = {}
    for site in site_dirs:
        try:
            entries = sorted(e.name for e in os.scandir(site) if e.name.endswith(".dist-info"))
        except OSError:
            continue
        for name in entries:
            dist = name[: -len(".dist-info")].split("-")[0]
            info = os.path.join(site, name)
            for row in records.containing(info, marker) if usable else records.paths(info):
                if marker not in row:
                    continue
                path = os.path.normpath(os.path.join(site, row))
                directory = os.path.dirname(path)
                real_dir = real_dirs.get(directory)
                if real_dir is None:
                    real_dir = real_dirs[directory] = os.path.normcase(os.path.realpath(directory))
                if real_dir == scripts:
                    owners.setdefault(os.path.join(scripts_dir, os.path.basename(path)), dist)
    return owners


def _scripts(scripts_dir: str, owners: Mapping[str, str]) -> Iterable[tuple[str, str, str]]:
    """``(script path, interpreter, owner)`` for RECORD-listed files with an absolute ``#!``."""
    try:
        entries = sorted(os.scandir(scripts_dir), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        owner = owners.get(entry.path)
        if owner is None:
            continue
        try:
            regular = entry.is_file(follow_symlinks=False)
        except OSError:
            continue
        if not regular:
            continue
        interpreter = shebang_interpreter(_head(entry.path))
        if interpreter is not None and os.path.isabs(interpreter):
            yield entry.path, interpreter, owner


def console_script_findings(
    scripts_dir: str,
    *,
    target_prefix: str,
    target_executable: str,
    site_dirs: Iterable[str] = (),
    records: Records | None = None,
) -> list[Finding]:
    """``console-script-missing-interpreter`` and ``console-script-other-environment``.

    Only scripts a distribution's RECORD lists are judged (:func:`script_owners`), and each
    finding names the owning distributions. Its commands come with its repairs
    (:func:`script_repairs`, which knows each owner's version and editable project): a bare
    ``pip install --force-reinstall NAME`` would replace an editable install with the index's
    copy. Scripts that find Python through ``/usr/bin/env`` follow ``PATH`` by design and are
    skipped.

    :param scripts_dir: the target's ``sysconfig`` ``scripts`` directory (``<prefix>/bin``).
    :param site_dirs: the target's site-packages directories (whose RECORDs are read); by
        default the ``lib/pythonX.Y/site-packages`` directories under ``target_prefix``.
    :param records: the report's RECORD cache; ``None``: a new one.
    """
    py = shlex.quote(target_executable)
    dirs = list(site_dirs) or _default_site_dirs(target_prefix)
    owners = script_owners(scripts_dir, dirs, records)
    found: dict[str, list[str]] = {code: [] for code in _SCRIPT_PROBLEMS}
    owning: dict[str, dict[str, None]] = {code: {} for code in _SCRIPT_PROBLEMS}
    for script, interpreter, owner in _scripts(scripts_dir, owners):
        if not os.path.exists(interpreter):
            code = "console-script-missing-interpreter"
        elif not _belongs(interpreter, target_executable, target_prefix):
            code = "console-script-other-environment"
        else:
            continue
        found[code].append(f"{script}: #!{interpreter} (installed by {owner})")
        owning[code][owner] = None
    moved = (
        "A virtual environment cannot be moved or copied: its scripts and pyvenv.cfg store "
        "absolute paths (PEP 405). Recreate the environment, or reinstall the distribution "
        f"that owns each script so pip rewrites its #! line (`{py} -m pip` itself still works)."
    )
    return [
        Finding(
            code=code,
            severity=severity,
            title=f"{len(found[code])} script(s) in {scripts_dir} {title}",
            message=f"{why} Installed by: {', '.join(owning[code])}. {moved}",
            evidence=tuple(found[code]),
            subject=scripts_dir,
            count=len(found[code]),
        )
        for code, (severity, title, why) in _SCRIPT_PROBLEMS.items()
        if found[code]
    ]


def script_repairs(
    findings: Sequence[Finding],
    owners: Mapping[str, Distribution],
    *,
    python: str,
    prefix: str,
    project_root: str | None,
) -> list[Finding]:
    """``findings`` with a repair on each ``console-script-*`` one: reinstall, with the target's
    pip, every distribution whose RECORD lists one of its scripts, so pip writes the ``#!``
    line again for this interpreter (pip ``operations/install/wheel.py``; scripts are generated
    at install time). The current project installed editable is installed editable again
    (``pip install -e``, which always reinstalls); another editable from its checkout
    (``--force-reinstall --no-deps -e``); a regular one by its exact version
    (``--force-reinstall --no-deps NAME==VERSION``). Scripts no RECORD lists, and distributions
    outside the target's prefix, get no repair. The finding's suggested commands are its
    repairs' commands, exactly (``tests/test_suggested_commands.py`` runs them as printed).

    :param owners: real path -> distribution, from
        :func:`~pyenvdoctor.collect.editable.record_files`.
    """
    from pyenvdoctor.checks.project import reinstall_editable

    result = []
    prefix = os.path.realpath(prefix)
    for f in findings:
        if not f.code.startswith("console-script-"):
            result.append(f)
            continue
        repairs: dict[tuple[str, ...], Repair] = {}
        for line in f.evidence:
            script = line.split(": #!", 1)[0]
            dist = owners.get(os.path.realpath(script))
            if dist is None or not os.path.realpath(dist.location).startswith(prefix + os.sep):
                continue
            project = dist.editable_project if dist.editable else None
            if (
                project
                and project_root
                and os.path.realpath(project) == os.path.realpath(project_root)
            ):
                repair = reinstall_editable(python, project_root, dist.name)
            else:
                target = ("-e", project) if project else (f"{dist.name}=={dist.version}",)
                repair = Repair(
                    kind=RepairKind.RUN,
                    group=RepairGroup.INSTALLATION,
                    description=f"reinstall {dist.name} {dist.version} so pip rewrites its scripts' #! lines",
                    command=(
                        python,
                        "-m",
                        "pip",
                        "install",
                        "--force-reinstall",
                        "--no-deps",
                        *target,
                    ),
                )
            repairs.setdefault(repair.command, repair)
        result.append(
            dataclasses.replace(
                f,
                repairs=tuple(repairs.values()),
                commands=tuple(shlex.join(c) for c in repairs),
            )
        )
    return result


def _default_site_dirs(prefix: str) -> list[str]:
    lib = os.path.join(prefix, "lib")
    try:
        names = sorted(n for n in os.listdir(lib) if n.startswith(("python", "pypy")))
    except OSError:
        return []
    return [os.path.join(lib, n, "site-packages") for n in names]
