"""Diagnosis: pure functions from collected facts to :class:`~pyenvdoctor.model.Finding` s.

One module per family; :func:`sort_findings` gives the one order every view uses (most severe
first, then by code).
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Iterable

from pyenvdoctor.model import Finding, Interpreter

__all__ = ["FINDING_CODES", "sort_findings", "without_managed_installs"]

#: Every finding code the checks give (README "Finding codes" documents each; a test keeps
#: the two and the code literals in ``src/`` equal). ``--ignore`` accepts these.
FINDING_CODES: frozenset[str] = frozenset(
    {
        "bytecode-broken",
        "bytecode-foreign",
        "bytecode-ignored",
        "bytecode-orphaned",
        "bytecode-shadowed",
        "bytecode-sourceless",
        "bytecode-stale",
        "bytecode-stale-accepted",
        "bytecode-stale-slow-imports",
        "cache-large",
        "console-script-missing-interpreter",
        "console-script-other-environment",
        "debian-dist-packages-unowned",
        "debian-local-conflict",
        "debian-local-shadows",
        "dependency-conflict",
        "dependency-missing",
        "dependency-missing-debian",
        "distribution-duplicate",
        "distribution-metadata-broken",
        "distribution-shadowed",
        "distribution-unsupported",
        "editable-project-missing",
        "editable-strict-missing-modules",
        "egg-link-dangling",
        "extension-shadows-source",
        "externally-managed",
        "interpreter-startup-output",
        "leftover-directory",
        "namespace-hides-editable",
        "nearby-venv-broken",
        "package-shadows-module",
        "path-pip-other-interpreter",
        "path-python-other-interpreter",
        "pip-cache-large",
        "pip-not-installed",
        "probe-step-failed",
        "project-editable-elsewhere",
        "project-editable-outdated",
        "project-installed-as-copy",
        "project-not-installed",
        "pth-egginsert",
        "pth-entry-shadows-editable",
        "pth-executes-code",
        "pth-missing-path",
        "scan-unreadable",
        "startup-hook-shadows-editable",
        "stdlib-shadowed",
        "sys-path-missing",
        "user-site-shadows",
        "venv-base-missing",
    }
)


def sort_findings(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """Most severe first, then by code and title (deterministic)."""
    return tuple(sorted(findings, key=lambda f: (f.severity.rank, f.code, f.title)))


def without_managed_installs(
    findings: Iterable[Finding], interpreter: Interpreter
) -> list[Finding]:
    """``findings`` without the suggested commands that change an externally managed base
    interpreter's packages: ``PY -m pip install``, ``PY -m ensurepip`` and ``PY -m pip
    uninstall`` (unless it carries ``--break-system-packages``, the user-site repair that
    ``tests/test_repairs.py`` runs on Debian). pip refuses them there (PEP 668, pip
    ``utils/misc.py`` ``check_externally_managed``); the ``externally-managed`` finding says
    what to do instead (a venv). A virtual environment of such an interpreter is not managed.

    :param interpreter: the target; nothing changes unless its ``EXTERNALLY-MANAGED`` marker
        was found and it is not a virtual environment.
    """
    found = list(findings)
    if interpreter.externally_managed is None or interpreter.is_virtual_environment:
        return found
    py = shlex.quote(interpreter.executable)

    def refused(command: str) -> bool:
        if command.startswith((f"{py} -m pip install ", f"{py} -m ensurepip")):
            return True
        return command.startswith(f"{py} -m pip uninstall ") and (
            "--break-system-packages" not in command.split()
        )

    return [
        dataclasses.replace(f, commands=tuple(c for c in f.commands if not refused(c)))
        if any(refused(c) for c in f.commands)
        else f
        for f in found
    ]
