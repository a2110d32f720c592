"""The report's data: frozen, keyword-only, slotted dataclasses and enums.

Every class converts with :func:`to_dict` and back with :func:`from_dict`, which validates types
(like pypa/packaging ``direct_url.py``). Paths are ``str`` as :func:`os.fsdecode` gives them, so a
path that is not valid UTF-8 keeps its bytes as surrogate escapes (PEP 383); the JSON renderer
writes those as ``\\udcXX`` escapes.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, Union

from pyenvdoctor.errors import ReportFormatError

__all__ = [
    "SCHEMA_VERSION",
    "BytecodeCategory",
    "BytecodeGroup",
    "BytecodeSummary",
    "CheckSkipped",
    "ContestedName",
    "DebianOwner",
    "DebianShadow",
    "DebianSummary",
    "DependencyProblem",
    "DependencyProblemKind",
    "Distribution",
    "EnvironmentKind",
    "Finding",
    "IgnoredCode",
    "ImportCandidate",
    "ImportLevel",
    "Interpreter",
    "LocationClass",
    "ModuleCount",
    "NameProvider",
    "NearbyVenv",
    "PathCommand",
    "PathEntry",
    "PipCache",
    "PthFile",
    "PthLine",
    "Repair",
    "RepairGroup",
    "RepairKind",
    "Report",
    "Selection",
    "SelectionReason",
    "Severity",
    "ToolCache",
    "WhichReport",
    "from_dict",
    "to_dict",
]

#: Version of the JSON report. Bump the major part when a key changes meaning or disappears.
SCHEMA_VERSION = "1.1"

#: How the probe's last ``which`` note starts when a name is not found but may be made by a
#: parent's import that is not run (``pyenvdoctor.probe.UNRESOLVED``, which cannot import this).
UNRESOLVED_PREFIX = "not resolved without running "


class Severity(str, enum.Enum):
    """How bad a finding is. ``error``: something is broken; ``warning``: likely to bite;
    ``info``: worth knowing, nothing is broken."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        """0 for error, 1 for warning, 2 for info (sort order, most severe first)."""
        return list(Severity).index(self)


class SelectionReason(str, enum.Enum):
    """Why this interpreter was inspected."""

    OPTION = "--python"
    VIRTUAL_ENV = "VIRTUAL_ENV"
    CONDA_PREFIX = "CONDA_PREFIX"
    PATH = "PATH"  # the python3 (then python) the user's shell would run, shims resolved
    HOST = "host"


class EnvironmentKind(str, enum.Enum):
    """What kind of installation the target interpreter belongs to."""

    VENV = "venv"  # PEP 405, made by the venv module
    VIRTUALENV = "virtualenv"  # PEP 405, made by virtualenv >= 20 (pyvenv.cfg has "virtualenv")
    LEGACY_VIRTUALENV = "legacy-virtualenv"  # virtualenv < 20: sys.real_prefix
    CONDA = "conda"  # conda-meta/ in sys.prefix
    PYENV = "pyenv"  # sys.prefix under $PYENV_ROOT/versions
    DEBIAN_SYSTEM = "debian-system"  # /usr with Debian's dist-packages layout
    OTHER = "other"


class LocationClass(str, enum.Enum):
    """Where a sys.path entry (and whatever is found in it) comes from.

    Order here is the order views list them in.
    """

    SCRIPT_DIR = "script-dir"  # sys.path[0]: the script's directory, or '' (cwd) for -c/-m/REPL
    PYTHONPATH = "pythonpath"
    STDLIB = "stdlib"
    LIB_DYNLOAD = "lib-dynload"
    VENV_SITE_PACKAGES = "venv-site-packages"
    SITE_PACKAGES = "site-packages"  # the interpreter's own site dir (not a venv, not Debian)
    BASE_SITE_PACKAGES = "base-site-packages"  # the base interpreter's, seen from a venv
    USER_SITE = "user-site"
    DEBIAN_DIST_PACKAGES = "debian-dist-packages"  # /usr/lib/python3/dist-packages
    LOCAL_DIST_PACKAGES = "local-dist-packages"  # /usr/local/lib/python3.X/dist-packages (pip)
    PTH = "pth"  # added by a line of a .pth file
    PROJECT = "project"  # the current project's tree (bytecode only)
    BUILTIN = "builtin"  # compiled into the interpreter (modules only)
    OTHER = "other"


class DependencyProblemKind(str, enum.Enum):
    """The three kinds of problem ``pip check`` reports (pip ``operations/check.py``)."""

    MISSING = "missing"
    CONFLICT = "conflict"
    UNSUPPORTED = "unsupported"


class BytecodeCategory(str, enum.Enum):
    """How the target's import system treats a bytecode file (or an extension module).

    Rules: CPython ``Lib/importlib/_bootstrap_external.py`` (``SourceLoader.get_code``,
    ``_classify_pyc``, ``_validate_timestamp_pyc``, ``_validate_hash_pyc``,
    ``cache_from_source``, ``FileFinder``), PEP 3147, 488, 552.
    """

    FRESH = "fresh"  # header matches the source: it is what runs
    STALE_ACCEPTED = "stale-accepted"  # source changed, yet this bytecode runs: the old code
    STALE_NOT_REWRITTEN = "stale-not-rewritten"  # recompiled on every start, never rewritten
    STALE = "stale"  # header does not match: recompiled (and rewritten) on next import
    BROKEN = "broken"  # read and accepted (or sourceless), but does not load: the import fails
    SOURCELESS = "sourceless"  # legacy .pyc outside __pycache__, no source: it is imported
    EXTENSION_BESIDE_SOURCE = "extension-beside-source"  # foo.<ext suffix> wins over foo.py
    SHADOWED = "shadowed"  # FileFinder picks a package, extension or source first: never read
    ORPHANED = "orphaned"  # __pycache__ entry whose source is gone: never imported, debris
    IGNORED = "ignored"  # never read as configured: pycache_prefix, other opt level, dotted name
    FOREIGN = "foreign"  # another cache tag, unknown magic, short header, unknown flag bits


@dataclass(frozen=True, kw_only=True, slots=True)
class CheckSkipped:
    """A check that could not run, and why (like pip-audit's ``SkippedDependency``)."""

    check: str
    reason: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Selection:
    """Which interpreter was inspected and why.

    :ivar requested: what the user or the environment named (a path or a command name).
    :ivar executable: the file that was run.
    """

    requested: str
    executable: str
    reason: SelectionReason
    explanation: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Interpreter:
    """Facts about the target interpreter, as its probe reported them."""

    executable: str
    version: str
    version_info: tuple[int, int, int, str, int]
    implementation: str
    cache_tag: str | None
    magic_number: str  # importlib.util.MAGIC_NUMBER, hex
    sys_platform: str
    platform: str
    machine: str
    prefix: str
    base_prefix: str
    exec_prefix: str
    base_exec_prefix: str
    is_virtual_environment: bool
    kind: EnvironmentKind
    pyvenv_cfg: str | None
    base_executable_home: str | None  # pyvenv.cfg "home"
    include_system_site_packages: bool | None
    sysconfig_scheme: str
    sysconfig_paths: dict[str, str]
    site_imported: bool
    user_site: str | None
    user_site_enabled: bool
    site_packages: tuple[str, ...]
    flags: dict[str, str | int | bool | None]
    pycache_prefix: str | None
    check_hash_based_pycs: str
    externally_managed: str | None
    meta_path: tuple[str, ...]
    source_suffixes: tuple[str, ...]
    bytecode_suffixes: tuple[str, ...]
    extension_suffixes: tuple[str, ...]
    builtin_module_names: tuple[str, ...]
    frozen_module_names: tuple[str, ...]  # answered by FrozenImporter before any path entry
    stdlib_module_names: tuple[str, ...] | None  # sys.stdlib_module_names, 3.10+
    marker_environment: dict[str, str]

    @property
    def short_version(self) -> str:
        """``"3.11.7"``: major.minor.micro."""
        return ".".join(str(p) for p in self.version_info[:3])


@dataclass(frozen=True, kw_only=True, slots=True)
class PathEntry:
    """One ``sys.path`` entry of the target, in order.

    :ivar index: position in ``sys.path``.
    :ivar kind: ``directory``, ``zip``, ``egg`` (an .egg directory or file), ``file`` or
        ``missing``.
    :ivar resolved: the directory it stands for (``''`` stands for the working directory).
    :ivar pth_file: the ``.pth`` file that added it, for :attr:`LocationClass.PTH`.
    """

    index: int
    path: str
    resolved: str
    exists: bool
    kind: str
    location: LocationClass
    pth_file: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class PthLine:
    """A line of a ``.pth`` file: ``comment``, ``blank``, ``import`` (executed) or ``path``."""

    lineno: int
    kind: str
    text: str
    path: str | None = None
    exists: bool | None = None
    on_sys_path: bool | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class PthFile:
    """A ``.pth`` file in a site directory, as ``site.addsitedir`` processes it."""

    path: str
    sitedir: str
    skipped: str | None
    lines: tuple[PthLine, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class Distribution:
    """An installed distribution (a ``.dist-info`` or ``.egg-info``).

    :ivar name: the ``Name`` from its metadata; :ivar canonical_name: PEP 503 normalized.
    :ivar location: the sys.path entry it was found in (for a legacy ``.egg-link``, the site
        directory holding the link).
    :ivar metadata_path: the ``.dist-info``/``.egg-info`` directory or file.
    :ivar visible: ``True`` for the first distribution of its name on ``sys.path`` (the one pip
        and ``importlib.metadata`` report); later ones are shadowed.
    :ivar editable_via: ``direct_url.json`` (PEP 610), ``egg-link`` or ``editable-finder``.
    :ivar top_level: top-level import names it provides (``top_level.txt`` or its RECORD).
    """

    name: str
    canonical_name: str
    version: str
    location: str
    location_class: LocationClass
    metadata_path: str
    installer: str | None
    requested: bool | None
    editable: bool
    editable_project: str | None
    editable_via: str | None
    top_level: tuple[str, ...]
    visible: bool
    #: PEP 610 ``direct_url.json`` ``url`` (installed from a URL, VCS or local path), or ``None``.
    direct_url: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class DependencyProblem:
    """One line of ``pip check`` output, computed with ``packaging``.

    :ivar requirement: the PEP 508 requirement as ``packaging`` normalizes it, which is
        what pip prints (``None`` for ``unsupported``).
    :ivar installed_version: version of the dependency found (``conflict`` only).
    """

    kind: DependencyProblemKind
    distribution: str
    version: str
    dependency: str | None
    requirement: str | None
    installed_version: str | None

    def pip_line(self) -> str:
        """The line pip prints for this problem (pip ``commands/check.py``)."""
        if self.kind is DependencyProblemKind.MISSING:
            return (
                f"{self.distribution} {self.version} requires {self.dependency}, "
                "which is not installed."
            )
        if self.kind is DependencyProblemKind.CONFLICT:
            return (
                f"{self.distribution} {self.version} has requirement {self.requirement}, "
                f"but you have {self.dependency} {self.installed_version}."
            )
        return f"{self.distribution} {self.version} is not supported on this platform"


@dataclass(frozen=True, kw_only=True, slots=True)
class ModuleCount:
    """Top-level importable names that resolve to one location class.

    :ivar modules: how many names ``import`` finds first here; :ivar shadowed: names that are
        here too but found earlier on ``sys.path``.
    """

    location_class: LocationClass
    modules: int
    shadowed: int


@dataclass(frozen=True, kw_only=True, slots=True)
class NameProvider:
    """A ``sys.path`` entry that provides a top-level name.

    :ivar kind: ``package``, ``module`` (source, bytecode or extension), or ``namespace``.
    :ivar path: the file or directory that provides it.
    """

    index: int
    location: LocationClass
    path: str
    kind: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ContestedName:
    """A top-level name provided in more than one place, or only by a namespace portion.

    :ivar winner: what ``import`` takes (builtin and frozen modules come first; then the first
        regular package or module on ``sys.path``; namespace portions only when there is none).
    """

    name: str
    winner: NameProvider
    others: tuple[NameProvider, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class BytecodeGroup:
    """Bytecode files of one category in one location class.

    :ivar files: count; :ivar bytes: total size in bytes; :ivar examples: up to a few paths;
    :ivar roots: the scan roots the files were found under;
    :ivar paths: every file of the group, sorted (all ``files`` of them), for every category
        but ``fresh`` (empty there: fresh files are only counted).
    """

    category: BytecodeCategory
    location_class: LocationClass
    files: int
    bytes: int
    examples: tuple[str, ...]
    roots: tuple[str, ...]
    paths: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class BytecodeSummary:
    """What a bytecode scan found.

    :ivar roots: the directories scanned; :ivar unreadable: directories that could not be read.
    """

    roots: tuple[str, ...]
    groups: tuple[BytecodeGroup, ...]
    unreadable: tuple[str, ...]
    scanned_files: int


@dataclass(frozen=True, kw_only=True, slots=True)
class PathCommand:
    """The first ``name`` on ``PATH`` (``shutil.which``), as the shell would run it.

    :ivar path: where it was found (absolute, symlinks kept); ``None`` when ``kind="missing"``.
    :ivar resolved: :func:`os.path.realpath` of ``path``.
    :ivar interpreter: for ``python*``: the real path of the interpreter binary; for scripts
        (``pip*``): the interpreter their ``#!`` line names, unresolved (a ``/usr/bin/env``
        name looked up on the same ``PATH``); for a pyenv/asdf shim the same, of what
        ``pyenv which NAME`` (``asdf which NAME``) says it runs in the user's directory;
        ``None`` for unresolved shims and unreadable scripts.
    :ivar kind: ``interpreter`` (a binary), ``script`` (has a ``#!`` line naming Python, or no
        ``#!``), ``shim`` (a shell script that picks the interpreter at run time: pyenv, asdf)
        or ``missing``.
    """

    name: str
    path: str | None
    resolved: str | None
    interpreter: str | None
    kind: str


@dataclass(frozen=True, kw_only=True, slots=True)
class PipCache:
    """pip's cache, located as pip locates it (pip ``configuration.py``, ``cmdoptions.py``).

    :ivar directory: ``None`` when the cache is disabled (``no-cache-dir``).
    :ivar source: where the setting came from (an environment variable, a config file, or
        ``default``).
    :ivar http_bytes, wheels_bytes: apparent sizes in bytes, split as ``pip cache info`` splits
        them (``http`` + ``http-v2``, ``wheels``).
    """

    directory: str | None
    source: str
    disabled: bool
    exists: bool
    http_files: int
    http_bytes: int
    wheels_files: int
    wheels_bytes: int
    other_files: int
    other_bytes: int

    @property
    def total_bytes(self) -> int:
        """Every file under the cache directory, in bytes."""
        return self.http_bytes + self.wheels_bytes + self.other_bytes


class RepairGroup(str, enum.Enum):
    """Which confirmation a repair needs: ``--fix`` asks once per group on a terminal."""

    DEBRIS = "removes-debris"  # bytecode, leftover directories, stale build output
    INSTALLATION = "changes-installation"  # reinstall, uninstall, edit a .pth file


class RepairKind(str, enum.Enum):
    """What a repair does."""

    RUN = "run"  # run ``command`` (the owning interpreter's pip)
    REMOVE_FILES = "remove-files"  # unlink the regular files in ``paths``
    REMOVE_PTH_LINES = "remove-pth-lines"  # drop ``lines`` from the .pth file ``paths[0]``


@dataclass(frozen=True, kw_only=True, slots=True)
class Repair:
    """One concrete thing ``--fix`` can do about a finding, as the check that found it knows it
    (like flutter doctor's validators, each owning its fix).

    :ivar command: for ``run``: the argv, run without a shell, exactly as shown.
    :ivar paths: for ``remove-files``: the files; for ``remove-pth-lines``: the ``.pth`` file.
    :ivar lines: for ``remove-pth-lines``: the exact lines (without newline) to remove.
    """

    kind: RepairKind
    group: RepairGroup
    description: str
    command: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    lines: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class Finding:
    """A problem, with the evidence and what to do about it.

    :ivar code: stable kebab-case identifier (documented in the README).
    :ivar evidence: paths or lines that show it, most telling first; every one for errors and
        warnings (bytecode infos give examples: ``bytecode.groups`` lists every path).
    :ivar commands: shell commands the user can copy to fix it.
    :ivar repairs: what ``--fix`` does about it (empty: explained, never changed).
    :ivar subject: what it is about, as tools match it: a path (file, directory, ``.pth``), a
        distribution's canonical name, a command name, or the bytecode category; ``None`` for
        the interpreter as a whole. ``diff`` matches findings by ``(code, subject)``.
    :ivar count: how many things the title counts (files, distributions, scripts, lines), or
        ``None`` when it counts nothing.
    :ivar bytes: the size in bytes of what it is about (files, caches), or ``None``.
    """

    code: str
    severity: Severity
    title: str
    message: str
    evidence: tuple[str, ...] = ()
    commands: tuple[str, ...] = ()
    repairs: tuple[Repair, ...] = ()
    subject: str | None = None
    count: int | None = None
    bytes: int | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class IgnoredCode:
    """A finding code the user accepts, and how many findings it left out.

    Asked for by ``--ignore CODE`` or ``[tool.pyenvdoctor] ignore``; its findings are left out
    of :attr:`Report.findings`, the views and ``--fail-on``.

    :ivar findings: how many findings of this code were left out (0: none was present).
    :ivar source: ``--ignore``, or the ``pyproject.toml`` that names it.
    """

    code: str
    findings: int
    source: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Report:
    """Everything ``pyenvdoctor report`` knows about one target interpreter."""

    schema_version: str
    tool_version: str
    generated_at: str | None
    selection: Selection
    interpreter: Interpreter
    environment_variables: dict[str, str]
    working_directory: str
    project_root: str | None
    sys_path: tuple[PathEntry, ...]
    pth_files: tuple[PthFile, ...]
    distributions: tuple[Distribution, ...]
    dependency_problems: tuple[DependencyProblem, ...]
    modules: tuple[ModuleCount, ...]
    contested_names: tuple[ContestedName, ...]
    bytecode: BytecodeSummary
    path_commands: tuple[PathCommand, ...]
    pip_cache: PipCache | None
    pip_version: str | None
    findings: tuple[Finding, ...]
    skipped: tuple[CheckSkipped, ...] = field(default=())
    #: What kinds of values were redacted (``home directory``, ``user name`` ...); empty when
    #: the report was not redacted.
    redactions: tuple[str, ...] = field(default=())
    #: Tool caches and environment directories (:mod:`pyenvdoctor.collect.caches`).
    caches: tuple[ToolCache, ...] = field(default=())
    #: dpkg's view of the system directories, on Debian and Ubuntu (``None`` elsewhere).
    debian: DebianSummary | None = None
    #: Virtual environments beside the project (:mod:`pyenvdoctor.collect.nearby`).
    nearby_venvs: tuple[NearbyVenv, ...] = field(default=())
    #: Finding codes left out on request (:mod:`pyenvdoctor.ignore`), sorted by code.
    ignored: tuple[IgnoredCode, ...] = field(default=())

    def visible_distributions(self) -> tuple[Distribution, ...]:
        """The distributions ``pip list`` shows: first of each name on ``sys.path``."""
        return tuple(d for d in self.distributions if d.visible)


@dataclass(frozen=True, kw_only=True, slots=True)
class ImportCandidate:
    """A place on the search path that provides a name (the winner, or one it shadows).

    :ivar kind: ``package``, ``module``, ``namespace`` (a PEP 420 portion), ``built-in`` or
        ``frozen``.
    """

    index: int
    entry: str
    location: LocationClass
    origin: str | None
    kind: str
    wins: bool


@dataclass(frozen=True, kw_only=True, slots=True)
class ImportLevel:
    """One level of a dotted name (``a``, ``a.b``, ...) and who answers for it.

    :ivar finder: the ``sys.meta_path`` finder that returned the spec (``None``: not found).
    :ivar cached: the bytecode path the loader would use (``spec.cached``).
    """

    name: str
    finder: str | None
    origin: str | None
    kind: str | None
    loader: str | None
    cached: str | None
    candidates: tuple[ImportCandidate, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class WhichReport:
    """``pyenvdoctor which NAME``: what ``import NAME`` loads in the target, and why.

    :ivar owner: the distribution whose RECORD lists the file (or whose editable project holds
        it), ``None`` when no distribution owns it.
    :ivar bytecode: the category of the bytecode that would run (``None``: no bytecode file).
    :ivar kind: always ``which``.
    """

    schema_version: str
    tool_version: str
    selection: Selection
    executable: str
    version: str
    name: str
    found: bool
    levels: tuple[ImportLevel, ...]
    owner: Distribution | None
    bytecode: BytecodeCategory | None
    bytecode_path: str | None
    notes: tuple[str, ...]
    #: ``which``: tells this document from a ``report`` (``pyenvdoctor render`` reads both).
    kind: str = "which"

    @property
    def unresolved(self) -> str | None:
        """Not found, but a parent's import (not run) may make it: the note that says why
        (``six.moves``, built at run time by the finder ``six`` adds to ``sys.meta_path``; a
        package whose ``__init__`` changes its ``__path__``); ``None`` otherwise."""
        if self.found:
            return None
        return next((n for n in self.notes if n.startswith(UNRESOLVED_PREFIX)), None)


@dataclass(frozen=True, kw_only=True, slots=True)
class ToolCache:
    """A cache (or a directory of environments) of one tool, located as that tool locates it.

    Sizes are in bytes. ``disk_bytes`` and the ``stale_*`` figures are ``None`` when they were not
    measured: pip's rows come from its own walk (:class:`PipCache`), the ``__pycache__`` rows
    from the bytecode scan (:class:`BytecodeSummary`), and ``st_blocks`` does not exist on Windows.

    :ivar tool: ``pip``, ``uv``, ``poetry``, ``pipenv``, ``conda``, ``pre-commit``, ``hatch``, or
        ``python`` (the ``__pycache__`` totals).
    :ivar name: which of the tool's directories (``cache``, ``artifacts``, ``repositories/PyPI``,
        ``virtualenvs``, ``pkgs``, ``http``, ``wheels``, ``__pycache__ (project)`` ...).
    :ivar kind: ``cache`` (disposable), ``environments`` (virtual environments the tool made),
        ``bytecode`` (``__pycache__`` totals).
    :ivar source: how it was located: an environment variable, ``<file> <key>``, or ``default``.
    :ivar files: regular files, each name counted.
    :ivar apparent_bytes: ``st_size`` of every regular file, each name counted (a file hard-linked
        twice counts twice).
    :ivar disk_bytes: ``st_blocks * 512`` of every entry under ``path`` (files, directories,
        symlinks; ``path`` itself included), each inode once: what ``du -s -B1`` prints.
    :ivar stale_files, stale_bytes: regular files (and their ``st_size``) not modified for 90 days
        before the report's time.
    :ivar command: the tool's own cleanup command, or ``None`` when it has none.
    """

    tool: str
    name: str
    kind: str
    path: str
    source: str
    exists: bool
    files: int
    apparent_bytes: int
    disk_bytes: int | None
    stale_files: int | None
    stale_bytes: int | None
    command: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class DebianOwner:
    """The Debian package that owns a distribution in ``/usr/lib/python3/dist-packages``.

    :ivar metadata_path: the distribution's ``.dist-info``/``.egg-info``.
    :ivar package: the package whose ``/var/lib/dpkg/info/<package>.list`` lists it, or ``None``
        (installed there by something other than dpkg).
    :ivar package_version: that package's ``Version`` in ``/var/lib/dpkg/status``.
    """

    distribution: str
    version: str
    metadata_path: str
    package: str | None
    package_version: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class DebianShadow:
    """A project installed both by pip in ``/usr/local/lib/python3.X/dist-packages`` and by a
    Debian package in ``/usr/lib/python3/dist-packages``.

    :ivar winner: ``local`` or ``debian``: the copy first on ``sys.path``, which ``import`` and
        ``importlib.metadata`` find (``/usr/local`` comes first in Debian's ``site.py``).
    """

    canonical_name: str
    local_version: str
    local_metadata_path: str
    debian_version: str
    debian_metadata_path: str
    debian_package: str | None
    winner: str


@dataclass(frozen=True, kw_only=True, slots=True)
class DebianSummary:
    """Debian's view of the target's system directories, read from dpkg's database.

    :ivar admindir: dpkg's database directory (``/var/lib/dpkg``, or ``DPKG_ADMINDIR``).
    :ivar python3_packages: installed ``python3-*`` packages, as ``dpkg -l 'python3-*'`` lists
        them with state ``ii`` (selected for install, and installed).
    :ivar owners: every distribution of the target in ``/usr/lib/python3/dist-packages``.
    :ivar venv_package: the package that brings ``ensurepip`` for the target's version
        (``python3.11-venv``), and ``venv_package_installed`` whether it is installed (without
        it ``python3 -m venv`` fails).
    :ivar pipx_installed: the ``pipx`` package is installed.
    """

    admindir: str
    python3_packages: int
    owners: tuple[DebianOwner, ...]
    local_shadows: tuple[DebianShadow, ...]
    venv_package: str
    venv_package_installed: bool
    pipx_installed: bool


@dataclass(frozen=True, kw_only=True, slots=True)
class NearbyVenv:
    """A virtual environment beside the project (``.venv``, ``venv``, ``env``, ``.tox/*``,
    ``.nox/*``), read from its PEP 405 ``pyvenv.cfg``.

    :ivar name: the path relative to the directory searched (``.venv``, ``.tox/py311``).
    :ivar creator: ``venv``, ``virtualenv <version>`` or ``uv <version>`` (from ``pyvenv.cfg``).
    :ivar home: ``pyvenv.cfg`` ``home``: the directory of the interpreter it was made from.
    :ivar base_executable: that interpreter: ``executable`` (venv, 3.11+) or ``base-executable``
        (virtualenv), else what ``bin/python`` links to, else ``home/python3``.
    :ivar interpreter_exists: ``home`` and ``base_executable`` exist and the environment's own
        ``bin/python`` starts (a dangling symlink does not); ``problem`` says which is missing.
    :ivar is_target: it is the environment this report inspects.
    :ivar files, apparent_bytes, disk_bytes: as for :class:`ToolCache`, in bytes.
    """

    path: str
    name: str
    creator: str
    version: str | None
    home: str | None
    base_executable: str | None
    interpreter_exists: bool
    problem: str | None
    is_target: bool
    files: int
    apparent_bytes: int
    disk_bytes: int | None


# --- conversion --------------------------------------------------------------------------------

T = TypeVar("T")


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def _plain(value: Any) -> Any:
    """One pass over a model value: dataclasses to dicts (field order), enums to their values,
    tuples to lists; other values are the JSON scalars the model holds (kept as they are)."""
    if value is None or isinstance(value, str | int | float):
        return value.value if isinstance(value, enum.Enum) else value
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {name: _plain(getattr(value, name)) for name in _field_names(type(value))}
    return value


def to_dict(obj: Any) -> dict[str, Any]:
    """Convert a model dataclass to JSON-ready ``dict``/``list``/scalars (enums by value), in
    one pass (``dataclasses.asdict`` deep-copies every leaf and walks nested lists again)."""
    result: dict[str, Any] = _plain(obj)
    return result


@functools.cache
def _shape(tp: Any) -> tuple[str, tuple[Any, ...]]:
    """What kind of type annotation ``tp`` is, and its arguments (computed once per type)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return "any", ()
    if origin in (Union, types.UnionType):
        return "union", args
    if origin is tuple:
        return "tuple", args
    if origin is dict:
        return "dict", args
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return "enum", ()
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return "dataclass", ()
    if tp in (bool, int, str, type(None)):
        return tp.__name__, ()
    raise TypeError(f"unsupported type {tp!r}")  # pragma: no cover


def _convert(tp: Any, value: Any, where: str, lenient: bool = False) -> Any:
    kind, args = _shape(tp)
    if kind == "str":
        if not isinstance(value, str):
            raise ReportFormatError(f"{where}: expected a string, got {value!r}")
        return value
    if kind == "union":
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, value, where, lenient)
            except ReportFormatError:
                continue
        raise ReportFormatError(f"{where}: {value!r} does not match {tp}")
    if kind == "tuple":
        if not isinstance(value, list | tuple):
            raise ReportFormatError(f"{where}: expected a list, got {type(value).__name__}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(
                _convert(args[0], v, f"{where}[{i}]", lenient) for i, v in enumerate(value)
            )
        if len(args) != len(value):
            raise ReportFormatError(f"{where}: expected {len(args)} items, got {len(value)}")
        return tuple(
            _convert(a, v, f"{where}[{i}]", lenient)
            for i, (a, v) in enumerate(zip(args, value, strict=True))
        )
    if kind == "dict":
        if not isinstance(value, Mapping):
            raise ReportFormatError(f"{where}: expected an object, got {type(value).__name__}")
        return {
            _convert(args[0], k, where, lenient): _convert(args[1], v, f"{where}.{k}", lenient)
            for k, v in value.items()
        }
    if kind == "enum":
        try:
            return tp(value)
        except ValueError:
            raise ReportFormatError(f"{where}: {value!r} is not a {tp.__name__}") from None
    if kind == "dataclass":
        return from_dict(tp, value, where=where, ignore_unknown=lenient)
    if kind == "bool":
        if not isinstance(value, bool):
            raise ReportFormatError(f"{where}: expected true/false, got {value!r}")
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ReportFormatError(f"{where}: expected an integer, got {value!r}")
        return value
    if kind == "NoneType":
        if value is not None:
            raise ReportFormatError(f"{where}: expected null, got {value!r}")
        return None
    return value  # Any


@functools.cache
def _fields(cls: type) -> tuple[tuple[str, Any, bool], ...]:
    """``(name, resolved annotation, has a default)`` of each field of a dataclass, once."""
    hints = typing.get_type_hints(cls)
    return tuple(
        (
            f.name,
            hints[f.name],
            f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING,
        )
        for f in dataclasses.fields(cls)
    )


def from_dict(cls: type[T], data: Any, *, where: str = "$", ignore_unknown: bool = False) -> T:
    """Build ``cls`` from :func:`to_dict` output, validating every field.

    :param ignore_unknown: drop keys ``cls`` does not know, at every depth (a document of a
        newer minor schema version adds keys; this version reads the ones it knows).
    :raises ReportFormatError: a key is missing or unknown (unless ``ignore_unknown``), or a
        value has the wrong type.
    """
    if not isinstance(data, Mapping):
        raise ReportFormatError(f"{where}: expected an object, got {type(data).__name__}")
    if not (dataclasses.is_dataclass(cls) and isinstance(cls, type)):  # pragma: no cover
        raise TypeError(f"{cls!r} is not a dataclass")
    kwargs: dict[str, Any] = {}
    fields = _fields(cls)
    for name, hint, has_default in fields:
        if name not in data:
            if has_default:
                continue
            raise ReportFormatError(f"{where}: missing key {name!r}")
        kwargs[name] = _convert(hint, data[name], f"{where}.{name}", ignore_unknown)
    if len(kwargs) != len(data) and not ignore_unknown:
        unknown = set(data) - {name for name, _, _ in fields}
        raise ReportFormatError(f"{where}: unknown keys {sorted(unknown)}")
    return cls(**kwargs)
