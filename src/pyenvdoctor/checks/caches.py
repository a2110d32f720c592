"""Findings about tool caches, virtual environments beside the project, and Debian's Python.

Codes:

* ``cache-large`` (info): a tool's cache over :data:`CACHE_LARGE_BYTES` on disk, with the
  tool's own cleanup commands (pip's cache has its own ``pip-cache-large``).
* ``nearby-venv-broken`` (warning): a virtual environment beside the project whose
  ``pyvenv.cfg`` ``home`` interpreter is gone: it no longer starts.
* ``debian-local-shadows`` (warning): pip installed a project into
  ``/usr/local/lib/python3.X/dist-packages`` that a Debian package also provides.
* ``debian-local-conflict`` (warning): ``pip check`` problems between a distribution in
  ``/usr/local`` and one of Debian's.
* ``debian-dist-packages-unowned`` (warning): a distribution in
  ``/usr/lib/python3/dist-packages`` that no Debian package installed.
* ``externally-managed`` (info): :func:`externally_managed_finding`, the PEP 668 advice with
  what the system lacks (a replacement for the one in
  :mod:`pyenvdoctor.checks.environment`).

:func:`cache_actions` gives ``--fix cache-large`` its actions: each tool's own command, run
through the tool.
"""

from __future__ import annotations

import os
import shlex
import shutil
from collections.abc import Iterable, Mapping, Sequence

from packaging.utils import canonicalize_name

from pyenvdoctor.checks.bytecode import format_bytes
from pyenvdoctor.fix import Action, ActionKind
from pyenvdoctor.model import (
    DebianSummary,
    DependencyProblem,
    DependencyProblemKind,
    Distribution,
    Finding,
    Interpreter,
    LocationClass,
    NearbyVenv,
    Report,
    Severity,
    ToolCache,
)

__all__ = [
    "CACHE_LARGE_BYTES",
    "cache_actions",
    "cache_findings",
    "debian_findings",
    "externally_managed_finding",
    "nearby_findings",
]

#: A tool's cache larger than this on disk (bytes) is reported.
CACHE_LARGE_BYTES = 1 << 30

#: Extra arguments that make a tool's cleanup command run without asking (``--fix``).
_NON_INTERACTIVE: Mapping[str, tuple[str, ...]] = {
    "conda": ("--yes",),
    "poetry": ("--no-interaction",),
}

#: What each tool's command does, for the finding's message.
_ADVICE: Mapping[str, str] = {
    "uv": (
        "`uv cache prune` removes entries no longer used (keeping what current environments "
        "link to); `uv cache clean` empties the cache. Environments made from it keep working: "
        "their files are hard links or copies."
    ),
    "poetry": "`poetry cache clear --all NAME` empties one repository's cache.",
    "pipenv": (
        "`pipenv --clear` empties pipenv's cache, and pip's cache in its default place "
        "(`~/.cache/pip`, whatever PIP_CACHE_DIR says: pipenv ``routines/clear.py``)."
    ),
    "conda": (
        "`conda clean --all` removes unused packages, tarballs and index caches "
        "(files hard-linked into environments stay)."
    ),
    "pre-commit": (
        "`pre-commit gc` removes hook repositories no configuration uses any more; "
        "`pre-commit clean` removes them all."
    ),
}

#: The commands each tool's ``cache-large`` finding suggests, every one run by
#: ``tests/test_suggested_commands.py`` with the tool itself. conda is not installable in a
#: test (no PyPI wheel), so its finding only names its command in the message.
_COMMANDS: Mapping[str, tuple[str, ...]] = {
    "uv": ("uv cache prune", "uv cache clean"),
    "pre-commit": ("pre-commit gc",),
    "conda": (),
}


def _files(n: int) -> str:
    return f"{n:,} file{'s' if n != 1 else ''}"


def _size(cache: ToolCache) -> int:
    return cache.disk_bytes if cache.disk_bytes is not None else cache.apparent_bytes


def cache_findings(caches: Iterable[ToolCache]) -> list[Finding]:
    """``cache-large`` for every tool cache (not pip's: ``pip-cache-large``; not environments,
    not bytecode) holding at least :data:`CACHE_LARGE_BYTES` on disk."""
    findings = []
    for cache in caches:
        if cache.kind != "cache" or cache.tool == "pip" or _size(cache) < CACHE_LARGE_BYTES:
            continue
        sizes = f"{format_bytes(cache.disk_bytes or 0)} on disk, " if cache.disk_bytes else ""
        sizes += f"{format_bytes(cache.apparent_bytes)} in {_files(cache.files)}"
        if cache.stale_bytes:
            sizes += (
                f"; {format_bytes(cache.stale_bytes)} ({_files(cache.stale_files or 0)}) "
                "not modified for 90 days"
            )
        advice = _ADVICE.get(cache.tool, "")
        if cache.command is None:
            advice = f"{cache.tool} has no command that empties its {cache.name}; " + (
                "it is safe to delete, the tool downloads again what it needs."
            )
        # As --fix runs it: `poetry cache clear` without --no-interaction asks, and without a
        # terminal repeats its question for ever (poetry 2.x).
        own = (
            " ".join((cache.command, *_NON_INTERACTIVE.get(cache.tool, ())))
            if cache.command
            else ""
        )
        commands = _COMMANDS.get(cache.tool, (own,) if own else ())
        findings.append(
            Finding(
                code="cache-large",
                severity=Severity.INFO,
                title=f"{cache.tool}'s {cache.name} holds {format_bytes(_size(cache))}",
                message=f"{sizes}. {advice}".strip(),
                evidence=(cache.path, f"located by: {cache.source}"),
                commands=commands,
                subject=cache.path,
                count=cache.files,
                bytes=_size(cache),
            )
        )
    return findings


def cache_actions(report: Report, selected: Sequence[str]) -> list[Action]:
    """``--fix cache-large``: each large cache's own cleanup command (:attr:`ToolCache.command`),
    run through the tool found on ``PATH``; only when ``cache-large`` is selected by name.
    Caches whose tool is not on ``PATH``, or that have no command, get no action."""
    if "cache-large" not in selected:
        return []
    by_path = {c.path: c for c in report.caches}
    actions = []
    for finding in report.findings:
        if finding.code != "cache-large" or not finding.evidence:
            continue
        cache = by_path.get(finding.evidence[0])
        if cache is None or cache.command is None:
            continue
        argv = shlex.split(cache.command)
        exe = shutil.which(argv[0])
        if exe is None:
            continue
        actions.append(
            Action(
                kind=ActionKind.RUN,
                finding="cache-large",
                description=f"`{cache.command}`: empty {cache.tool}'s {cache.name} {cache.path}",
                command=(exe, *argv[1:], *_NON_INTERACTIVE.get(cache.tool, ())),
                bytes=_size(cache),
            )
        )
    return actions


def nearby_findings(venvs: Iterable[NearbyVenv]) -> list[Finding]:
    """``nearby-venv-broken``: environments whose base interpreter is gone."""
    broken = [v for v in venvs if not v.interpreter_exists]
    if not broken:
        return []
    commands = []
    for v in broken:
        if v.name == ".tox/.pkg":
            commands.append("tox -r")
        elif v.name.startswith(".tox/"):
            commands.append(f"tox -r -e {shlex.quote(v.name[5:])}")
        elif not v.name.startswith(".nox/"):  # nox recreates its own unless run with -r
            commands.append(f"python3 -m venv --clear {shlex.quote(v.path)}")
    n = len(broken)
    return [
        Finding(
            code="nearby-venv-broken",
            severity=Severity.WARNING,
            title=(
                f"{n} virtual environment{'s' if n != 1 else ''} beside the project "
                f"{'were' if n != 1 else 'was'} made from an interpreter that is gone"
            ),
            message=(
                "Its pyvenv.cfg names a base interpreter (home) that no longer exists, usually "
                "after a Python upgrade or a pyenv/uv uninstall: the environment does not start. "
                "Recreate it, then reinstall what it held (`venv --clear` empties it); tox recreates "
                "its environments with -r, nox on its next run without -r."
            ),
            evidence=tuple(
                f"{v.path}: made by {v.creator} from {v.base_executable or v.home}; {v.problem}"
                for v in broken
            ),
            commands=tuple(commands),
            count=n,
            bytes=sum(v.disk_bytes or 0 for v in broken),
        )
    ]


def debian_findings(
    debian: DebianSummary | None,
    distributions: Sequence[Distribution],
    problems: Sequence[DependencyProblem],
) -> list[Finding]:
    """``debian-local-shadows``, ``debian-local-conflict``, ``debian-dist-packages-unowned``:
    explained, without commands (an uninstall from ``/usr/local`` needs root on the machine
    itself; no test runs it, so none is suggested)."""
    if debian is None:
        return []
    findings = []
    shadows = debian.local_shadows
    if shadows:
        evidence = []
        for s in shadows:
            winner = (
                f"import gets pip's {s.local_version} from /usr/local"
                if s.winner == "local"
                else f"import gets Debian's {s.debian_version}"
            )
            evidence.append(
                f"{s.canonical_name}: pip {s.local_version} ({s.local_metadata_path}) and "
                f"{s.debian_package or 'Debian'} {s.debian_version} "
                f"({s.debian_metadata_path}); {winner}"
            )
        n = len(shadows)
        findings.append(
            Finding(
                code="debian-local-shadows",
                severity=Severity.WARNING,
                title=f"pip installed {n} project{'s' if n != 1 else ''} in /usr/local that Debian also provides",
                message=(
                    "/usr/local/lib/python3.X/dist-packages comes before Debian's "
                    "/usr/lib/python3/dist-packages on sys.path, so the copy pip installed (with "
                    "sudo) replaces the one Debian's packages were built and tested with, for "
                    "every program that uses /usr/bin/python3. Remove pip's copy as the user "
                    "that installed it, with that interpreter's pip (being externally managed, "
                    "it asks for --break-system-packages even to uninstall; it removes only "
                    "what pip put in /usr/local), and install what you need in a virtual "
                    "environment instead."
                ),
                evidence=tuple(evidence),
                # No command: an uninstall as root from /usr/local is not something a test
                # can run on the machine it tests (docs/commands-tested.md).
                count=n,
            )
        )
    by_name = {d.canonical_name: d for d in distributions if d.visible}
    conflicts = []
    culprits = set()
    for p in problems:
        if p.kind is not DependencyProblemKind.CONFLICT or p.dependency is None:
            continue
        needer = by_name.get(canonicalize_name(p.distribution))
        needed = by_name.get(canonicalize_name(p.dependency))
        if needer is None or needed is None:
            continue
        classes = {needer.location_class, needed.location_class}
        if classes == {LocationClass.LOCAL_DIST_PACKAGES, LocationClass.DEBIAN_DIST_PACKAGES}:
            conflicts.append(p.pip_line())
            local = needer if needer.location_class is LocationClass.LOCAL_DIST_PACKAGES else needed
            culprits.add(local.canonical_name)
    if conflicts:
        findings.append(
            Finding(
                code="debian-local-conflict",
                severity=Severity.WARNING,
                title="pip's installs in /usr/local break Debian's packages",
                message=(
                    "A distribution pip installed in /usr/local does not fit the version "
                    "requirements of one of Debian's (or the other way round), as `pip check` "
                    "reports it. System tools that import them may fail. Remove pip's copy ("
                    + ", ".join(sorted(culprits))
                    + ") as for debian-local-shadows, and use a virtual environment for the "
                    "version you need."
                ),
                evidence=tuple(conflicts),
                count=len(conflicts),
            )
        )
    unowned = [o for o in debian.owners if o.package is None]
    if unowned:
        n = len(unowned)
        findings.append(
            Finding(
                code="debian-dist-packages-unowned",
                severity=Severity.WARNING,
                title=f"{n} distribution{'s' if n != 1 else ''} in Debian's dist-packages {'are' if n != 1 else 'is'} not from a Debian package",
                message=(
                    "dpkg's database lists no package that installed these, so something "
                    "wrote into /usr/lib/python3/dist-packages directly (pip with --prefix=/usr or "
                    "--break-system-packages, a copied tree). apt may overwrite them, or fail on "
                    "their files, at the next upgrade. `dpkg -S PATH` gives the same answer."
                ),
                evidence=tuple(f"{o.distribution} {o.version}: {o.metadata_path}" for o in unowned),
                count=n,
            )
        )
    return findings


def externally_managed_finding(
    interpreter: Interpreter,
    debian: DebianSummary | None,
    *,
    marker_error: str | None = None,
    project_root: str | None = None,
) -> Finding | None:
    """PEP 668 advice for a system interpreter with an ``EXTERNALLY-MANAGED`` marker: a virtual
    environment for a project, pipx for an application, the distribution's package for a
    library the system needs; never ``--break-system-packages``. On Debian and Ubuntu, it names
    the packages that are missing (``python3.X-venv`` brings ``ensurepip``, without which
    ``python3 -m venv`` fails; ``pipx``).

    :param marker_error: the marker's ``Error`` text
        (:func:`pyenvdoctor.collect.debian.read_externally_managed`), shown as evidence.
    :param project_root: the current project, installed editable into the new environment.
    :returns: ``None`` when the interpreter is not externally managed or is a venv.
    """
    if not interpreter.externally_managed or interpreter.is_virtual_environment:
        return None
    py = shlex.quote(interpreter.executable)
    missing = ""
    if debian is not None and not debian.venv_package_installed:
        missing = (
            f" Here `python3 -m venv` needs the {debian.venv_package} package first (`sudo apt "
            f"install {debian.venv_package}`: Debian ships ensurepip separately)."
        )
    if debian is not None and not debian.pipx_installed:
        missing += " pipx is Debian's pipx package (`sudo apt install pipx`)."
    venv = os.path.join(project_root, ".venv") if project_root else ".venv"
    # Only what runs as it is (tests/test_debian.py runs it): no placeholder for a name.
    command = f"{py} -m venv {shlex.quote(venv)}"
    if project_root:
        command += (
            f" && {shlex.quote(os.path.join(venv, 'bin', 'python'))} -m pip install -e "
            f"{shlex.quote(project_root)}"
        )
    commands = [command]
    apt = (
        " or `sudo apt install python3-NAME` for a library the system's tools need"
        if debian
        else ""
    )
    evidence = [interpreter.externally_managed]
    if marker_error:
        evidence += [line for line in marker_error.splitlines() if line.strip()][:12]
    return Finding(
        code="externally-managed",
        severity=Severity.INFO,
        title="This interpreter is managed by the system (PEP 668)",
        message=(
            "pip refuses to install into it: its site-packages belong to the system's package "
            "manager, and tools of the system import from it. Use a virtual environment for a "
            "project, pipx for a command-line application"
            f"{apt}.{missing} "
            "Do not pass --break-system-packages (or set PIP_BREAK_SYSTEM_PACKAGES): pip would "
            "overwrite or shadow files the package manager owns, and the next upgrade or a "
            "system tool can break."
        ),
        evidence=tuple(evidence),
        commands=tuple(commands),
    )
