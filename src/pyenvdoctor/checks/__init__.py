"""Diagnosis: pure functions from collected facts to :class:`~pyenvdoctor.model.Finding` s.

One module per family; :func:`sort_findings` gives the one order every view uses (most severe
first, then by code).
"""

from __future__ import annotations

from collections.abc import Iterable

from pyenvdoctor.model import Finding

__all__ = ["FINDING_CODES", "sort_findings"]

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
