"""Findings about installed distributions: broken metadata, duplicates, pip check problems,
editable installs whose project is gone."""

from __future__ import annotations

import os
import re
import shlex
from collections import defaultdict
from collections.abc import Sequence

from pyenvdoctor.collect.distributions import BrokenDistribution
from pyenvdoctor.model import (
    ContestedName,
    DependencyProblem,
    DependencyProblemKind,
    Distribution,
    Finding,
    LocationClass,
    Severity,
)

__all__ = ["distribution_findings", "system_owned"]


#: The base interpreter's site directories as a ``--system-site-packages`` venv sees them
#: (on Debian its ``dist-packages`` keep their own classes).
_BASE_DIRS = frozenset(
    {
        LocationClass.BASE_SITE_PACKAGES,
        LocationClass.DEBIAN_DIST_PACKAGES,
        LocationClass.LOCAL_DIST_PACKAGES,
    }
)


def _canonical(name: str) -> str:
    """PEP 503 normalized name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _separate_installs(dists: Sequence[Distribution]) -> list[Distribution]:
    """``dists`` without the metadata that is part of another one's editable project.

    setuptools' ``egg_info`` command (run by every PEP 660 editable build) leaves
    ``<name>.egg-info`` in the project (``src/<name>.egg-info`` in a src layout); when the
    project directory is on ``sys.path`` that file is found too, yet it describes the editable
    install itself, not a second one (uninstalling "the other" removes the editable install).
    """
    projects = [
        os.path.realpath(d.editable_project) for d in dists if d.editable and d.editable_project
    ]

    def inside(path: str) -> bool:
        real = os.path.realpath(path)
        return any(real == p or real.startswith(p.rstrip(os.sep) + os.sep) for p in projects)

    return [d for d in dists if d.editable or not inside(d.metadata_path)]


def system_owned(path: str) -> bool:
    """``path`` is in the directories a system package manager owns: ``/usr`` outside
    ``/usr/local`` (Debian's ``/usr/lib/python3/dist-packages``, the stdlib, Fedora's
    ``/usr/lib{,64}/python3.X/site-packages``). pip installs under ``/usr/local`` (Debian's
    ``sysconfig`` ``posix_local`` scheme), so only that part of ``/usr`` is pip's. ``dpkg -S PATH``
    names the owner on Debian; nothing here may ``rm`` or ``pip uninstall`` such a path
    (Debian Python Policy 1.5, PEP 668).

    :param path: any absolute path; symlinks are resolved.
    """
    real = os.path.realpath(path)
    return real.startswith("/usr/") and not real.startswith("/usr/local/")


def _uninstall_reason(winner: Distribution, *, debian: bool) -> str | None:
    """Why ``pip uninstall -y NAME`` must not be suggested for ``winner`` (the copy it removes:
    pip uninstalls the first distribution of that name on ``sys.path``, pip
    ``metadata/importlib/_envs.py`` ``get_distribution``), or ``None`` when it may be.

    pip only removes what is in the environment (``req_uninstall.py``: "Not uninstalling ...
    outside environment" for a venv's base or ``PYTHONPATH``; site directories are its own), and
    refuses an externally managed Python (PEP 668: Debian's, whose user site is the only
    place a duplicate can win over dpkg's copy).

    :param debian: the target sees Debian's ``dist-packages`` (Debian's Python, or a venv of it).
    """
    if winner.editable:
        where = f" from {winner.editable_project}" if winner.editable_project else ""
        return f"the first is an editable install{where}, which `pip uninstall` would remove"
    if system_owned(winner.metadata_path) or winner.location_class in (
        LocationClass.DEBIAN_DIST_PACKAGES,
        LocationClass.LOCAL_DIST_PACKAGES,
    ):
        return (
            "the first belongs to the system Python, whose files a package manager owns "
            "(`dpkg -S` names it) and whose pip refuses to uninstall (PEP 668)"
        )
    if winner.location_class is LocationClass.USER_SITE and debian:
        return (
            "the first is in the user site of Debian's Python, where pip refuses to uninstall "
            "(PEP 668): remove it with the tool that installed it"
        )
    if winner.location_class not in (
        LocationClass.VENV_SITE_PACKAGES,
        LocationClass.SITE_PACKAGES,
        LocationClass.USER_SITE,
    ):
        return (
            f"the first is in {winner.location} ({winner.location_class.value}), outside the "
            "environment's site directories, where pip does not uninstall: remove it there, or "
            "take that directory off sys.path"
        )
    return None


def distribution_findings(
    distributions: Sequence[Distribution],
    broken: Sequence[BrokenDistribution],
    problems: Sequence[DependencyProblem],
    *,
    python: str,
    contested: Sequence[ContestedName] = (),
) -> list[Finding]:
    """Findings from the distribution scan and the ``pip check`` equivalent.

    :param python: the target's executable, for suggested commands.
    :param contested: resolved top-level names, to say which copy ``import`` gets.
    """
    winners = {c.name: c.winner.path for c in contested}
    py = shlex.quote(python)
    findings: list[Finding] = []
    for b in broken:
        owned = system_owned(b.metadata_path)
        findings.append(
            Finding(
                code="distribution-metadata-broken",
                severity=Severity.WARNING,
                title=f"Unreadable distribution metadata: {os.path.basename(b.metadata_path)}",
                message=(
                    f"{b.reason}. pip skips it, so it is invisible to `pip list` and `pip uninstall`; "
                    + (
                        "it is in a directory the system's package manager owns, so do not remove "
                        "it by hand: `dpkg -S` names the package to reinstall "
                        "(`apt install --reinstall` it)."
                        if owned
                        else "it is usually left by an interrupted install or uninstall. Remove "
                        "the directory and reinstall the project if you need it."
                    )
                ),
                evidence=(b.metadata_path,),
                commands=() if owned else (f"rm -r -- {shlex.quote(b.metadata_path)}",),
                subject=b.metadata_path,
            )
        )
    by_name: dict[str, list[Distribution]] = defaultdict(list)
    for d in distributions:
        by_name[d.canonical_name].append(d)
    debian_seen = any(d.location_class is LocationClass.DEBIAN_DIST_PACKAGES for d in distributions)
    for _name, found in sorted(by_name.items()):
        dists = _separate_installs(found)
        if len({d.location for d in dists}) < 2:
            continue  # e.g. Debian ships X.dist-info and X.egg-info side by side: one install
        if dists[0].location_class is LocationClass.VENV_SITE_PACKAGES and all(
            d.location_class in _BASE_DIRS for d in dists[1:]
        ):
            continue  # a venv's copy over its base's (--system-site-packages): PEP 405 layering
        winner = dists[0]
        others = ", ".join(f"{d.version} in {d.location}" for d in dists[1:])
        imports = "; ".join(
            f"`import {n}` loads {winners[n]}" for n in winner.top_level if n in winners
        )
        keep = _uninstall_reason(winner, debian=debian_seen)
        findings.append(
            Finding(
                code="distribution-duplicate",
                severity=Severity.WARNING,
                title=f"{len(dists)} installs of {winner.name} are visible",
                message=(
                    f"{winner.name} {winner.version} in {winner.location} comes first on sys.path, so "
                    f"pip and importlib.metadata report it; also installed: {others}. "
                    + (f"{imports}. " if imports else "")
                    + (
                        f"Remove the installs you do not want; not with `pip uninstall`: {keep}."
                        if keep
                        else f"`pip uninstall {winner.name}` removes the one in {winner.location} "
                        "(pip acts on the first on sys.path); the next one then takes its place."
                    )
                ),
                evidence=tuple(d.metadata_path for d in dists),
                subject=winner.canonical_name,
                count=len(dists),
                # Once: a second run would reach the next copy, which may be the user's
                # editable install or a package manager's (issue 14).
                commands=() if keep else (f"{py} -m pip uninstall -y {shlex.quote(winner.name)}",),
            )
        )
    for d in distributions:
        if (
            d.visible
            and d.editable
            and d.editable_project
            and not os.path.exists(d.editable_project)
        ):
            findings.append(
                Finding(
                    code="editable-project-missing",
                    severity=Severity.ERROR,
                    title=f"Editable install of {d.name} points at a missing directory",
                    message=(
                        f"{d.name} {d.version} was installed in editable mode from "
                        f"{d.editable_project} ({d.editable_via}), which no longer exists: importing it "
                        "fails or finds something else. Reinstall from the project's current checkout, "
                        "or uninstall it."
                    ),
                    evidence=(d.metadata_path, d.editable_project),
                    subject=d.canonical_name,
                    commands=(f"{py} -m pip uninstall -y {shlex.quote(d.name)}",),
                )
            )
    titles = {
        DependencyProblemKind.MISSING: (
            "dependency-missing",
            "A required distribution is not installed",
        ),
        DependencyProblemKind.CONFLICT: (
            "dependency-conflict",
            "An installed version does not satisfy a requirement",
        ),
        DependencyProblemKind.UNSUPPORTED: (
            "distribution-unsupported",
            "A wheel built for another platform is installed",
        ),
    }
    grouped: dict[DependencyProblemKind, list[DependencyProblem]] = defaultdict(list)
    debian = {
        d.canonical_name
        for d in distributions
        if d.visible and d.location_class is LocationClass.DEBIAN_DIST_PACKAGES
    }
    from_debian = [
        p
        for p in problems
        if p.kind is DependencyProblemKind.MISSING and _canonical(p.distribution) in debian
    ]
    for p in problems:
        if p not in from_debian:
            grouped[p.kind].append(p)
    if from_debian:
        findings.append(
            Finding(
                code="dependency-missing-debian",
                severity=Severity.INFO,
                title=f"A Debian package's optional dependency is not installed ({len(from_debian)})",
                message=(
                    "As `pip check` reports it: "
                    + "; ".join(p.pip_line() for p in from_debian)
                    + ". The requiring distribution belongs to a Debian package, whose "
                    "dependencies dpkg resolved: Debian ships the integrations such metadata "
                    "names as separate packages (python3-gi without python3-gi-cairo). Install "
                    "the Debian package of the dependency (`apt-cache search` its name) if a "
                    "program needs it; `pip install` into the system Python is refused "
                    "(PEP 668) and would mix pip's files into dpkg's."
                ),
                evidence=tuple(p.pip_line() for p in from_debian),
                count=len(from_debian),
            )
        )
    for kind, items in grouped.items():
        code, title = titles[kind]
        commands: list[str] = []
        if kind is DependencyProblemKind.MISSING:
            reqs = sorted({p.dependency for p in items if p.dependency})
            commands.append(f"{py} -m pip install " + " ".join(shlex.quote(r) for r in reqs))
        elif kind is DependencyProblemKind.CONFLICT:
            reqs = sorted({p.requirement for p in items if p.requirement})
            commands.append(f"{py} -m pip install " + " ".join(shlex.quote(r) for r in reqs))
        else:
            names = sorted({p.distribution for p in items})
            commands.append(
                f"{py} -m pip install --force-reinstall " + " ".join(shlex.quote(n) for n in names)
            )
        commands.append(f"{py} -m pip check")
        findings.append(
            Finding(
                code=code,
                severity=Severity.ERROR,
                title=f"{title} ({len(items)})",
                message="As `pip check` reports it: " + "; ".join(p.pip_line() for p in items),
                evidence=tuple(p.pip_line() for p in items),
                commands=tuple(commands),
                count=len(items),
            )
        )
    return findings
