"""The first stage of a report: the target's facts, and the bytecode scan started.

This module imports only what that stage needs (the probe runner, the model, the scan), so the
CLI can fork the scan's workers before it imports the rest of the pipeline
(:mod:`pyenvdoctor.report` and its checks, ``packaging``, ``importlib_metadata``): those imports
then run while the workers walk the disk, instead of before.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pyenvdoctor.collect.bytecode import BackgroundScan, BytecodeTarget, FileSink, ScanRoot
from pyenvdoctor.collect.interpreter import (
    DEFAULT_TIMEOUT,
    RunningProbe,
    Target,
    build_sys_path,
    inspect_target,
)
from pyenvdoctor.model import CheckSkipped, LocationClass, PathEntry, Selection
from pyenvdoctor.shims import Lookups

__all__ = ["PROJECT_MARKERS", "StartedReport", "find_project_root", "start_report"]

#: Files that mark the root of a Python project (PEP 518/621 pyproject, setuptools files).
PROJECT_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg")


def find_project_root(start: str) -> str | None:
    """The nearest directory at or above ``start`` holding one of :data:`PROJECT_MARKERS`."""
    path = Path(start).absolute()
    for candidate in (path, *path.parents):
        if any((candidate / m).is_file() for m in PROJECT_MARKERS):
            return str(candidate)
    return None


@dataclass(frozen=True, kw_only=True, slots=True)
class StartedReport:
    """What :func:`start_report` gives :func:`pyenvdoctor.report.build_report`.

    :ivar facts: the probe's result, parsed.
    :ivar sys_path: the target's ``sys.path``, classified, with the user's working directory
        standing in for ``''``.
    :ivar project_root: the current project (:func:`find_project_root`), or ``None``.
    :ivar scan: the bytecode scan, running (its :meth:`~BackgroundScan.result` waits).
    :ivar skipped: what the scan leaves out on purpose, and why.
    :ivar lookups: the PATH lookups, started (``None``: the report starts its own).
    """

    facts: Target
    sys_path: tuple[PathEntry, ...]
    project_root: str | None
    scan: BackgroundScan
    skipped: tuple[CheckSkipped, ...] = ()
    lookups: Lookups | None = None


def start_report(
    *,
    python: str | None,
    environ: Mapping[str, str],
    working_directory: str,
    timeout: float = DEFAULT_TIMEOUT,
    paths: Sequence[str] = (),
    progress: Callable[[int], None] | None = None,
    on_file: FileSink | None = None,
    started: tuple[Selection, RunningProbe] | None = None,
    lookups: Lookups | None = None,
) -> StartedReport:
    """Inspect the target and start the bytecode scan of its ``sys.path`` directories, the
    project tree and ``paths`` (parameters as :func:`pyenvdoctor.report.build_report`'s).

    Call it while this process runs no other thread: the scan forks its workers here.

    :param lookups: the PATH lookups (:class:`pyenvdoctor.shims.Lookups`), started by the
        caller with the same environment and directory, for the report to read; the caller
        closes them.

    :raises InterpreterError: the target cannot be inspected.
    """
    facts = inspect_target(
        python, environ, timeout=timeout, working_directory=working_directory, started=started
    )
    classifier = facts.classifier
    sys_path = build_sys_path(facts.sys_path, classifier, working_directory, facts.sys_path_index)
    project_root = find_project_root(working_directory)
    home = environ.get("HOME") or os.path.expanduser("~")
    roots = _scan_roots(sys_path, project_root, home=home)
    skipped = tuple(
        CheckSkipped(
            check="bytecode",
            reason=f"the working directory {r.path} is the home directory or /: only the "
            "regular packages in it (directories with an __init__) were scanned, not every "
            "directory below it",
        )
        for r in roots
        if r.importable_only
    )
    roots += [
        ScanRoot(path=os.path.abspath(p), location=classifier.classify_path(p)) for p in paths
    ]
    scan = BackgroundScan(
        roots,
        BytecodeTarget.for_interpreter(facts.interpreter),
        classify=classifier.classify_path,
        progress=progress,
        on_file=on_file,
    )
    return StartedReport(
        facts=facts,
        sys_path=sys_path,
        project_root=project_root,
        scan=scan,
        skipped=skipped,
        lookups=lookups,
    )


def _scan_roots(
    sys_path: tuple[PathEntry, ...], project_root: str | None, *, home: str = ""
) -> list[ScanRoot]:
    """The target's sys.path directories and the project tree.

    The working directory (``sys.path[0]`` for ``python script.py``, ``-m``, ``-c`` and the
    REPL) is scanned like any sys.path directory, bounded as every root is (no ``.git``,
    ``node_modules``, ``.tox``/``.nox``, other virtual environments); when it is the home
    directory or ``/``, only the regular packages it makes importable (``importable_only``).
    When it is the project root, the project root stands for it.
    """
    roots: list[ScanRoot] = []
    # Last: a directory that is also another root keeps that root's location class.
    script_dirs: list[ScanRoot] = []
    project_real = os.path.realpath(project_root) if project_root is not None else None
    bounded = {os.path.realpath(home) if home else None, os.path.realpath(os.sep)}
    for entry in sys_path:
        if entry.kind != "directory":
            continue
        if entry.location is LocationClass.SCRIPT_DIR:
            real = os.path.realpath(entry.resolved)
            if real == project_real:
                continue
            script_dirs.append(
                ScanRoot(path=real, location=entry.location, importable_only=real in bounded)
            )
            continue
        roots.append(ScanRoot(path=entry.resolved, location=entry.location))
    if project_root is not None:
        roots.append(ScanRoot(path=project_root, location=LocationClass.PROJECT))
    return roots + script_dirs
