"""Is the current project what runs? Its declared name and version, compared with the target's
visible distribution of that name.

Read without building or running anything, first that gives a name: ``pyproject.toml``
``[project]`` (PEP 621: ``name`` required and never dynamic, ``version`` absent when listed in
``dynamic``), setuptools' declarative ``setup.cfg`` ``[metadata]`` (``attr:``/``file:`` versions are
computed, so unknown here), string literals in ``setup.py``'s ``setup(...)`` call. Editable installs
are recognised as the distribution scan reports them (PEP 610 ``direct_url.json``, PEP 660,
``.egg-link``); setuptools' editable ``.pth`` and finder name ``<root>/src``, so any directory
inside the root counts as this project. Names compare PEP 503-normalized, versions per PEP 440.
"""

from __future__ import annotations

import configparser
import os
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from pyenvdoctor import files
from pyenvdoctor.collect.managed import ManagedEnvironment
from pyenvdoctor.model import (
    ContestedName,
    Distribution,
    Finding,
    NameProvider,
    Repair,
    RepairGroup,
    RepairKind,
    Severity,
)

__all__ = [
    "ProjectInfo",
    "project_findings",
    "read_project",
    "reinstall_editable",
    "tree_wins_over",
]

#: Findings that ``pip install -e <root>`` resolves.
_REINSTALL = (
    "project-installed-as-copy",
    "project-editable-elsewhere",
    "project-editable-outdated",
)
_SETUP_CALL = re.compile(r"\bsetup\s*\(")
_SETUP_KW = r"\b{}\s*=\s*(?P<q>['\"])(?P<v>[^'\"\\\n]+)(?P=q)"


@dataclass(frozen=True, kw_only=True, slots=True)
class ProjectInfo:
    """The project in the working directory, as its own files declare it.

    :ivar root: absolute project directory (:func:`~pyenvdoctor.report.find_project_root`).
    :ivar name: the declared name, ``None`` when unknown; :ivar canonical_name: PEP 503 normalized.
    :ivar version: the declared version, ``None`` when dynamic (PEP 621 ``dynamic``,
        setuptools ``attr:``/``file:``) or unknown.
    :ivar source: the file the name came from (``None`` when no file gave one).
    :ivar error: why a file could not be read or gave no name, ``None`` when all went well.
    """

    root: str
    name: str | None
    canonical_name: str | None
    version: str | None
    source: str | None
    error: str | None = None


def _info(
    root: str, name: str | None, version: str | None, source: str | None, error: str | None = None
) -> ProjectInfo:
    canonical = canonicalize_name(name) if name else None
    return ProjectInfo(
        root=root, name=name, canonical_name=canonical, version=version, source=source, error=error
    )


def _failed(root: str, source: str | None, error: str) -> ProjectInfo:
    return _info(root, None, None, source, error)


def read_project(root: str) -> ProjectInfo:
    """Read the project's name and version from ``root``; never raises (a malformed or
    unreadable file gives :attr:`ProjectInfo.error`).

    :param root: the project directory (holding ``pyproject.toml``, ``setup.cfg`` or ``setup.py``).
    """
    root = os.path.abspath(root)
    path = os.path.join(root, "pyproject.toml")
    if os.path.isfile(path):
        try:
            data = files.read_toml(path)
        except (OSError, ValueError) as exc:  # ValueError: not UTF-8, or not TOML
            return _failed(root, path, f"pyproject.toml cannot be read: {exc}")
        project = data.get("project")
        if project is not None:  # PEP 621: name is required and never dynamic
            name = project.get("name") if isinstance(project, dict) else None
            if not isinstance(name, str) or not name.strip():
                return _failed(root, path, "pyproject.toml: [project] has no 'name' string")
            dynamic = project.get("dynamic")
            version = project.get("version")
            if (isinstance(dynamic, list) and "version" in dynamic) or not isinstance(version, str):
                version = None
            return _info(root, name, version, path)
    path = os.path.join(root, "setup.cfg")
    if os.path.isfile(path):  # setuptools declarative config
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, OSError, UnicodeDecodeError) as exc:
            return _failed(root, path, f"setup.cfg cannot be read: {exc}")
        name = parser.get("metadata", "name", fallback="").strip()
        if name:
            version = parser.get("metadata", "version", fallback="").strip()
            if version.startswith(("attr:", "file:")):
                version = ""
            return _info(root, name, version or None, path)
    path = os.path.join(root, "setup.py")
    if os.path.isfile(path):
        try:
            text = files.read_text(path, errors="replace")
        except OSError as exc:
            return _failed(root, path, f"setup.py cannot be read: {exc}")
        call = _SETUP_CALL.search(text)
        name_match = call and re.search(_SETUP_KW.format("name"), text[call.end() :])
        if not call or not name_match:
            return _failed(root, path, "setup.py: no literal name='...' in setup() (not executed)")
        version_match = re.search(_SETUP_KW.format("version"), text[call.end() :])
        return _info(root, name_match["v"], version_match["v"] if version_match else None, path)
    return _failed(root, None, "no [project] name in pyproject.toml, setup.cfg or setup.py")


def _versions_differ(a: str, b: str) -> bool:
    """PEP 440 comparison when both parse (``1.0`` equals ``1.0.0``), else string comparison."""
    try:
        return Version(a) != Version(b)
    except InvalidVersion:
        return a != b


def _belongs_to(path: str, root: str) -> bool:
    """``path`` is ``root`` or inside it (setuptools' .pth may name ``<root>/src``)."""
    path, root = os.path.realpath(path), os.path.realpath(root)
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _package_dir(project: ProjectInfo) -> str | None:
    """The project's import package in its tree: ``src/<pkg>`` or ``<pkg>`` with an
    ``__init__.py``, ``pkg`` being the canonical name with ``-`` replaced by ``_``."""
    if not project.canonical_name:
        return None
    pkg = project.canonical_name.replace("-", "_")
    for candidate in (os.path.join(project.root, "src", pkg), os.path.join(project.root, pkg)):
        if os.path.isfile(os.path.join(candidate, "__init__.py")):
            return candidate
    return None


def reinstall_editable(
    python: str, root: str, name: str | None, *, extra: tuple[str, ...] = ()
) -> Repair:
    """``python -m pip install -e root [extra]``: pip of the target builds the project with its
    own backend (PEP 660) and replaces whatever distribution of that name is installed (pip
    always reinstalls an editable requirement, so scripts and metadata are rewritten too).

    :param extra: more arguments, e.g. ``--config-settings editable_mode=strict``.
    """
    return Repair(
        kind=RepairKind.RUN,
        group=RepairGroup.INSTALLATION,
        description=f"install {name or root} in editable mode from {root}",
        command=(python, "-m", "pip", "install", "-e", root, *extra),
    )


def tree_wins_over(winner: NameProvider, dist: Distribution, project: ProjectInfo) -> bool:
    """``winner`` (what ``import`` loads for one top-level name of ``dist``) is the current
    project's working tree, not ``dist``'s copy: a regular module or package inside
    ``project.root`` but outside ``dist.location`` (a ``.venv`` or ``.tox`` inside the project
    holds the copy), and ``dist`` is that project (PEP 503 names). A namespace portion is not:
    PEP 420 portions merge, so each submodule decides."""
    return (
        project.canonical_name is not None
        and dist.canonical_name == project.canonical_name
        and winner.kind != "namespace"
        and _belongs_to(winner.path, project.root)
        and not _belongs_to(winner.path, dist.location)
        # setuptools' build/lib* copies are no working tree: an edit there is not the user's
        and not (
            _belongs_to(winner.path, os.path.join(project.root, "build"))
            and os.path.realpath(winner.path)
            != os.path.realpath(os.path.join(project.root, "build"))
        )
    )


def _tree_wins(dist: Distribution, project: ProjectInfo, contested: Sequence[ContestedName]) -> str:
    """The files of the project's tree that ``import`` loads instead of ``dist``'s copy: every
    top-level name of ``dist`` resolved (:func:`~pyenvdoctor.collect.modules.resolve_names`,
    ``sys.path[0]`` being the working directory) to the tree (:func:`tree_wins_over`). Empty
    when any name loads the copy or is a namespace package, or ``dist`` names no top-level
    module."""
    winners = {c.name: c.winner for c in contested}
    found = []
    for name in dist.top_level:
        winner = winners.get(name)
        if winner is None or not tree_wins_over(winner, dist, project):
            return ""
        found.append(f"`import {name}` loads {winner.path} ({winner.location.value})")
    return "; ".join(found)


def _copy_findings(
    dist: Distribution,
    project: ProjectInfo,
    *,
    python: str,
    found: tuple[str, ...],
    contested: Sequence[ContestedName],
    managed: ManagedEnvironment | None,
) -> list[Finding]:
    """``project-installed-as-copy``: an error when ``import`` loads the copy and the user's own
    environment holds it; information when a tool reinstalls the project on each run (tox,
    nox) or manages the environment (pipx, hatch), or when the working tree's files are what
    ``import`` loads from here."""
    reinstall = f"{shlex.quote(python)} -m pip install -e {shlex.quote(project.root)}"
    title = f"{dist.name} is installed as a copy: edits to {project.root} do not run"
    copy = f"{dist.name} {dist.version} in {dist.location} is a regular (non-editable) install"
    if managed is not None:
        if managed.tool in ("tox", "nox"):
            rerun = (
                f"`tox -c {shlex.quote(managed.config_dir)} -e {shlex.quote(managed.name)}` "
                "(`-r` to recreate the environment too)"
                if managed.tool == "tox" and managed.config_dir
                else f"{managed.tool} again"
            )
            how = (
                f"{managed.tool} builds the project and installs it into its environment "
                f"{managed.name!r} at every run, so a run tests the current tree; only "
                f"{python} started by hand runs the copy of the last run. Run {rerun}."
            )
        else:
            how = (
                f"{managed.tool} made this environment ({managed.name!r}) and installs into it; "
                "edits to the tree reach it when it is installed again with that tool."
            )
        command = (
            ()
            if managed.tool != "tox" or not managed.config_dir
            else (f"tox -c {shlex.quote(managed.config_dir)} -e {shlex.quote(managed.name)}",)
        )
        return [
            Finding(
                code="project-installed-as-copy",
                subject=project.root,
                severity=Severity.INFO,
                title=f"{dist.name} is installed as a copy in a {managed.tool} environment",
                message=f"{copy}, made by {managed.tool}: {how}",
                evidence=found,
                commands=command,
            )
        ]
    tree = _tree_wins(dist, project, contested)
    if tree:
        return [
            Finding(
                code="project-installed-as-copy",
                subject=project.root,
                severity=Severity.INFO,
                title=f"{dist.name} is installed as a copy, but import here loads the tree",
                message=(
                    f"{copy}, yet from this working directory (sys.path[0]) {tree}: edits run "
                    "here. Run from another directory, or through its entry points, the copy "
                    "runs instead; an editable install (PEP 660) makes both the tree."
                ),
                evidence=found,
                commands=(reinstall,),
                repairs=(reinstall_editable(python, project.root, project.name),),
            )
        ]
    return [
        Finding(
            code="project-installed-as-copy",
            subject=project.root,
            severity=Severity.ERROR,
            title=title,
            message=(
                f"{copy}: `import` loads the copy made at install time, not the files in "
                f"{project.root}. Reinstall it in editable mode (PEP 660)."
            ),
            evidence=found,
            commands=(reinstall,),
            repairs=(reinstall_editable(python, project.root, project.name),),
        )
    ]


def project_findings(
    project: ProjectInfo,
    distributions: Sequence[Distribution],
    *,
    python: str,
    contested: Sequence[ContestedName] = (),
    managed: ManagedEnvironment | None = None,
) -> list[Finding]:
    """Whether the target runs the project's working tree.

    :param project: from :func:`read_project`; nothing is reported without a name.
    :param distributions: the target's distributions, shadowed ones included (only visible ones,
        those ``pip list`` and ``importlib.metadata`` report, are compared).
    :param python: the target's executable, for suggested commands.
    :param contested: resolved top-level names (what ``import`` loads from the working
        directory), from :func:`~pyenvdoctor.collect.modules.resolve_names`.
    :param managed: the tool managing the target's environment
        (:func:`~pyenvdoctor.collect.managed.managed_environment`), or ``None``.
    """
    if not project.canonical_name:
        return []
    py = shlex.quote(python)
    reinstall = f"{py} -m pip install -e {shlex.quote(project.root)}"
    visible = [d for d in distributions if d.visible]
    dist = next((d for d in visible if d.canonical_name == project.canonical_name), None)
    evidence = (project.source,) if project.source else ()
    if dist is None:
        pkg_dir = _package_dir(project)
        pkg = os.path.basename(pkg_dir) if pkg_dir else ""
        others = [d for d in visible if pkg and pkg in d.top_level]
        if pkg_dir and others:
            names = ", ".join(f"{d.name} {d.version}" for d in others)
            return [
                Finding(
                    code="project-not-installed",
                    subject=project.root,
                    severity=Severity.WARNING,
                    title=f"{project.name} is not installed, but `import {pkg}` finds another distribution",
                    message=(
                        f"The project in {project.root} is not installed in this environment, and "
                        f"{names} provides the import name {pkg!r}: `import {pkg}` runs that code, not "
                        f"{pkg_dir}. Uninstall it, then install the project in editable mode."
                    ),
                    evidence=(*(d.metadata_path for d in others), pkg_dir, *evidence),
                    commands=(
                        f"{py} -m pip uninstall -y "
                        + " ".join(shlex.quote(d.name) for d in others),
                        reinstall,
                    ),
                )
            ]
        return [
            Finding(
                code="project-not-installed",
                subject=project.root,
                severity=Severity.INFO,
                title=f"{project.name} is not installed in this environment",
                message=(
                    f"The project in {project.root} is not installed: its import names and entry "
                    "points are not available to this interpreter, except from its own directory. "
                    "Install it in editable mode to run the working tree."
                ),
                evidence=evidence,
                commands=(reinstall,),
            )
        ]
    pkg_dir = _package_dir(project)
    found = (dist.metadata_path, *((pkg_dir,) if pkg_dir else ()), *evidence)
    repairs = (reinstall_editable(python, project.root, project.name),)
    if not dist.editable:
        return _copy_findings(
            dist, project, python=python, found=found, contested=contested, managed=managed
        )
    if dist.editable_project is None:
        return []  # editable, but from where is unknown: nothing to compare
    if not _belongs_to(dist.editable_project, project.root):
        return [
            Finding(
                code="project-editable-elsewhere",
                subject=project.root,
                severity=Severity.ERROR,
                title=f"{dist.name} is installed in editable mode from another directory",
                message=(
                    f"{dist.name} {dist.version} runs the files in {dist.editable_project} "
                    f"({dist.editable_via}), not this project in {project.root}: edits here do not "
                    "run. Reinstall it in editable mode from here."
                ),
                evidence=(dist.metadata_path, dist.editable_project, *evidence),
                commands=(reinstall,),
                repairs=repairs,
            )
        ]
    if project.version and _versions_differ(dist.version, project.version):
        return [
            Finding(
                code="project-editable-outdated",
                subject=project.root,
                severity=Severity.WARNING,
                title=f"{dist.name}'s installed metadata says {dist.version}, the project says {project.version}",
                message=(
                    f"{dist.name} is installed in editable mode from {project.root}, so its code is "
                    f"current, but its metadata was written when it was {dist.version}: "
                    "`importlib.metadata`, pip, entry points and dependencies are stale until it "
                    "is reinstalled."
                ),
                evidence=found,
                commands=(reinstall,),
                repairs=repairs,
            )
        ]
    return []
