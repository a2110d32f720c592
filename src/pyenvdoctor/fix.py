"""``--fix``: turn findings into a plan of concrete actions, apply it safely, and say what changed.

Diagnosis and repair stay apart (like pipx ``commands/health.py``): :func:`plan` is pure, and
:func:`apply` is the only code in pyenvdoctor that deletes or runs anything. A dry run swaps the
operation instead of testing a flag everywhere (like bittner/pyclean ``erase.py``).

Dangers, and what guards each:

* deleting something that is not debris: only ``.pyc`` files the scan classified as
  stale-accepted, sourceless (and listed in no distribution's RECORD), orphaned or foreign are
  ever planned, never a ``.py`` or any other file; then only ``__pycache__`` directories that this
  run emptied are removed, with ``rmdir`` (which fails on a non-empty directory);
* a file that changed between plan and apply: just before each deletion the file is checked
  again (same device, inode, size and mtime, still a regular file, and its source still in the
  state that made it debris); a changed file is skipped;
* symlinks: nothing is followed (the scan does not follow them; ``unlink`` removes a name);
* leaving the scanned tree, or touching the system: a file must lie under one of the scan's
  roots; files under the target's own stdlib, under ``/usr/lib/python3*``,
  ``/usr/local/lib/python3*``, or owned by another user are left alone unless
  ``include_system``;
* a file renamed over a planned one between the check and the removal: each file is renamed to a
  private name inside its directory (through a directory descriptor opened without following
  symlinks), checked again with ``fstatat`` and only then unlinked; a mismatch is renamed back;
* a directory on the way that is a symlink (a symlinked ``__pycache__``): the parent's real path
  must equal its path, or the file is skipped;
* a ``.pth`` edit that loses content: only exact lines are removed, the file is replaced
  atomically (``os.replace``) and its old content goes into the outcome and the log;
* a failure on one file (permission, vanished) is recorded and the rest go on.

Findings carry their repairs (:class:`~pyenvdoctor.model.Repair`, made by the check that found
them); :func:`plan` turns them into actions generically, next to the files the bytecode scan
classified. Actions are grouped as in :class:`~pyenvdoctor.model.RepairGroup`.
"""

from __future__ import annotations

import contextlib
import enum
import fnmatch
import functools
import os
import stat
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pyenvdoctor.model import BytecodeCategory, Finding, RepairGroup, RepairKind, Report

__all__ = [
    "FIXABLE_BYTECODE",
    "FIXABLE_CODES",
    "MAX_ROUNDS",
    "PIP_CACHE_PURGED",
    "Action",
    "ActionKind",
    "Changed",
    "FileOutcome",
    "FixOutcome",
    "PlannedFile",
    "apply",
    "plan",
    "safe_unlink",
]

#: Bytecode categories whose files ``--fix`` removes, and the finding code of each.
FIXABLE_BYTECODE: Mapping[BytecodeCategory, str] = {
    BytecodeCategory.STALE_ACCEPTED: "bytecode-stale-accepted",
    BytecodeCategory.SOURCELESS: "bytecode-sourceless",
    BytecodeCategory.BROKEN: "bytecode-broken",
    BytecodeCategory.ORPHANED: "bytecode-orphaned",
    BytecodeCategory.FOREIGN: "bytecode-foreign",
}

#: Finding codes ``--fix CODE`` accepts: those some repair resolves (any other is a usage error).
FIXABLE_CODES: frozenset[str] = frozenset(
    {
        *FIXABLE_BYTECODE.values(),
        "extension-shadows-source",
        "namespace-hides-editable",
        "leftover-directory",
        "egg-link-dangling",
        "pip-cache-large",
        "cache-large",
        "project-installed-as-copy",
        "project-editable-elsewhere",
        "project-editable-outdated",
        "editable-strict-missing-modules",
        "console-script-missing-interpreter",
        "console-script-other-environment",
        "user-site-shadows",
        "pth-entry-shadows-editable",
        "pth-egginsert",
        "venv-base-missing",
    }
)

#: How many times ``--fix`` plans, applies and diagnoses again at most (a repair can uncover a
#: new fixable finding: a removed ``__pycache__`` leaves an empty directory that imports as a
#: namespace package).
MAX_ROUNDS = 3

_SYSTEM_PREFIXES = ("/usr/lib/python3", "/usr/lib64/python3", "/usr/local/lib/python3")


class ActionKind(str, enum.Enum):
    """What an action does."""

    REMOVE_FILES = "remove-files"  # unlink the listed files
    RUN = "run"  # run a command (through the target's own tool, e.g. its pip)
    EDIT_PTH = "edit-pth"  # remove exact lines from a .pth file (files[0])


@dataclass(frozen=True, kw_only=True, slots=True)
class PlannedFile:
    """A file to remove and its identity when planned (``lstat``: device, inode, size in bytes,
    mtime in nanoseconds); ``category`` is its bytecode category, ``None`` for a cache file."""

    path: str
    category: BytecodeCategory | None  # None: a file of pip's cache
    dev: int
    ino: int
    size: int
    mtime_ns: int
    source: str | None = None  # the .py a bytecode file stands for, as the plan mapped it

    @classmethod
    def of(
        cls,
        path: str,
        st: os.stat_result,
        category: BytecodeCategory | None = None,
        source: str | None = None,
    ) -> PlannedFile:
        """``path`` as it is now (its ``lstat`` result ``st``)."""
        return cls(
            path=path,
            category=category,
            source=source,
            dev=st.st_dev,
            ino=st.st_ino,
            size=st.st_size,
            mtime_ns=st.st_mtime_ns,
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class Action:
    """One thing ``--fix`` does, the finding it resolves, and what it costs or frees.

    :ivar bytes: bytes the action is expected to free.
    :ivar changes_installation: the action changes what is installed; it runs only when its
        finding is selected (``--fix CODE``) or after a second confirmation.
    :ivar skipped: files left alone and why (system locations, outside the roots, in a RECORD).
    :ivar lines: for ``edit-pth``: the exact lines to remove from ``files[0]``.
    """

    kind: ActionKind
    finding: str
    description: str
    files: tuple[PlannedFile, ...] = ()
    command: tuple[str, ...] = ()
    bytes: int = 0
    changes_installation: bool = False
    skipped: tuple[tuple[str, str], ...] = ()
    directories: tuple[str, ...] = ()  # rmdir'ed after the files, deepest first, when empty
    lines: tuple[str, ...] = ()

    @property
    def group(self) -> RepairGroup:
        """Which confirmation the action needs."""
        return RepairGroup.INSTALLATION if self.changes_installation else RepairGroup.DEBRIS

    @property
    def key(self) -> tuple[object, ...]:
        """What the action does (not why): the same key twice is one action."""
        return (self.kind, self.command, tuple(f.path for f in self.files), self.lines)


@dataclass(frozen=True, kw_only=True, slots=True)
class FileOutcome:
    """What happened to one planned file: ``removed``, ``edited`` (a ``.pth`` file), ``skipped``
    or ``failed``, and why."""

    path: str
    status: str
    reason: str = ""
    bytes: int = 0


@dataclass(kw_only=True, slots=True)
class FixOutcome:
    """What :func:`apply` did. ``commands``: ``(command, exit status, output tail)``."""

    files: list[FileOutcome] = field(default_factory=list)
    directories_removed: list[str] = field(default_factory=list)
    commands: list[tuple[tuple[str, ...], int, str]] = field(default_factory=list)
    bytes_freed: int = 0
    #: ``(path, old content, removed lines)`` of each ``.pth`` file edited.
    pth_edits: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)
    #: The signal (SIGINT, SIGTERM) that stopped :func:`apply` between two operations, if any.
    interrupted: int | None = None
    #: Files planned and not attempted because of that signal.
    not_attempted: int = 0

    def extend(self, other: FixOutcome) -> None:
        """Add what a later round did."""
        self.files += other.files
        self.directories_removed += other.directories_removed
        self.commands += other.commands
        self.bytes_freed += other.bytes_freed
        self.pth_edits += other.pth_edits
        self.interrupted = self.interrupted or other.interrupted
        self.not_attempted += other.not_attempted

    def count(self, status: str) -> int:
        """How many files ended with ``status``."""
        return sum(1 for f in self.files if f.status == status)

    @property
    def complete(self) -> bool:
        """Every planned file removed and every command exited 0, not interrupted."""
        return (
            self.interrupted is None
            and all(f.status in ("removed", "edited") for f in self.files)
            and all(rc == 0 for _, rc, _ in self.commands)
        )


def _is_under(path: str, root: str) -> bool:
    root = root.rstrip(os.sep) or os.sep
    return path == root or path.startswith(root + os.sep)


@functools.lru_cache(maxsize=4096)
def _real(path: str) -> str:
    """:func:`os.path.realpath` of a root or site directory, once per :func:`plan` (planning
    100,000 files resolved ~6 real paths per file before; the cache is cleared per plan)."""
    return os.path.realpath(path)


def _protected(
    path: str,
    report: Report,
    include_system: bool,
    st: os.stat_result,
    *,
    on_sys_path: bool = False,
) -> str | None:
    """Why ``path`` must be left alone, or ``None``.

    :param on_sys_path: the roots also include the ``sys.path`` directories (the working
        directory for ``sys.path[0]``), for what import resolution finds there.
    """
    roots = list(report.bytecode.roots)
    if on_sys_path:
        roots += [_real(e.resolved) for e in report.sys_path if e.kind == "directory"]
    if not any(_is_under(path, r) for r in roots):
        return "outside the scanned roots"
    if include_system:
        return None
    interp = report.interpreter
    paths = interp.sysconfig_paths
    # The stdlib directory holds site-packages (a plain interpreter), and a venv's platstdlib is
    # the venv's own lib/pythonX.Y: only what is under the stdlib and in no site directory is
    # the interpreter's own.
    sites = [
        p
        for p in (
            *interp.site_packages,
            paths.get("purelib"),
            paths.get("platlib"),
            interp.user_site,
        )
        if p
    ]
    in_site = any(_is_under(path, _real(s)) for s in sites)
    for key in ("stdlib", "platstdlib"):
        if not in_site and paths.get(key) and _is_under(path, _real(paths[key])):
            return "inside the interpreter's own stdlib (use --include-system)"
    if path.startswith(_SYSTEM_PREFIXES):
        return "system location (use --include-system)"
    if hasattr(os, "geteuid") and st.st_uid != os.geteuid():
        return "owned by another user (use --include-system)"
    return None


def _record_files(report: Report, suffixes: tuple[str, ...] = (".pyc",)) -> set[str]:
    """Real paths of the files ending in ``suffixes`` that the RECORD of any distribution lists
    (a sourceless pyc or an extension a distribution ships on purpose is not debris)."""
    import importlib_metadata

    owned: set[str] = set()
    for location in {d.location for d in report.distributions}:
        for dist in importlib_metadata.distributions(path=[location]):
            try:
                files = dist.files or ()
            except Exception:  # a corrupt RECORD: owns nothing we can tell
                continue
            owned.update(
                os.path.realpath(str(f.locate())) for f in files if str(f).endswith(suffixes)
            )
    return owned


def _source_of(path: str, pycache_prefix: str | None = None) -> str:
    """The ``.py`` a bytecode file or an extension module stands for (PEP 3147 layout, or the
    legacy one beside it): ``pkg/__pycache__/m.cpython-312.pyc`` and ``pkg/m.cpython-312-x86_64-
    linux-gnu.so`` both give ``pkg/m.py``. Under the target's ``pycache_prefix`` (PEP 3147 as
    extended by ``sys.pycache_prefix``, 3.8+), the tree mirrors the source's absolute directory
    (``importlib.util.source_from_cache``): ``PREFIX/src/pkg/m.cpython-312.pyc`` gives
    ``/src/pkg/m.py``."""
    parent = os.path.dirname(path)
    stem = os.path.basename(path).split(".")[0]
    if pycache_prefix:
        prefix = os.path.abspath(pycache_prefix).rstrip(os.sep)
        if parent == prefix or parent.startswith(prefix + os.sep):
            return os.path.join(os.sep + parent[len(prefix) :].lstrip(os.sep), stem + ".py")
    if os.path.basename(parent) == "__pycache__":
        parent = os.path.dirname(parent)
    return os.path.join(parent, stem + ".py")


def _extension_debris(path: str, st: os.stat_result) -> str | None:
    """Why an extension beside its source is not debris, or ``None``: it is debris when its
    ``.py`` exists and is newer (the extension is an old in-place build, ``build_ext
    --inplace``, of code that has since moved to Python)."""
    try:
        source = os.stat(_source_of(path))
    except OSError:
        return "its source is gone"
    if source.st_mtime_ns <= st.st_mtime_ns:
        return "not older than its source (maybe a current build)"
    return None


def _symlink_on_the_way(path: str) -> bool:
    """A directory of ``path`` is a symlink (its parent's real path differs)."""
    parent = os.path.dirname(os.path.abspath(path))
    return os.path.realpath(parent) != parent


def plan(
    report: Report,
    files: Iterable[tuple[BytecodeCategory, str, os.stat_result]],
    *,
    selected: Sequence[str] = (),
    include_system: bool = False,
) -> tuple[Action, ...]:
    """The actions that resolve the report's fixable findings, debris first, then what changes
    the installation (``.pth`` edits, uninstalls, installs), each action once.

    :param files: every judged file, from the scan's ``on_file`` sink.
    :param selected: finding codes to fix; empty means every finding with a repair.
    :param include_system: also plan files in system locations and of other users.
    """
    _real.cache_clear()
    codes = {f.code for f in report.findings}
    wanted = set(selected) if selected else codes
    categories = {
        **FIXABLE_BYTECODE,
        BytecodeCategory.EXTENSION_BESIDE_SOURCE: "extension-shadows-source",
    }
    suffixes = (".pyc", *report.interpreter.extension_suffixes)
    by_category: dict[BytecodeCategory, list[tuple[str, os.stat_result]]] = {}
    for category, path, st in files:
        if category in categories and stat.S_ISREG(st.st_mode) and path.endswith(suffixes):
            by_category.setdefault(category, []).append((path, st))
    shipped = {BytecodeCategory.SOURCELESS, BytecodeCategory.EXTENSION_BESIDE_SOURCE}
    owned = _record_files(report, suffixes) if any(by_category.get(c) for c in shipped) else set()
    actions: list[Action] = []
    for category, code in categories.items():
        if code not in codes or code not in wanted or category not in by_category:
            continue
        planned: list[PlannedFile] = []
        skipped: list[tuple[str, str]] = []
        for path, st in sorted(by_category[category]):
            reason = _protected(path, report, include_system, st)
            if reason is None and category in shipped and os.path.realpath(path) in owned:
                reason = "listed in a distribution's RECORD (shipped on purpose)"
            if reason is None and category is BytecodeCategory.EXTENSION_BESIDE_SOURCE:
                reason = _extension_debris(path, st) or (
                    "a symlink on its path" if _symlink_on_the_way(path) else None
                )
            if reason is not None:
                skipped.append((path, reason))
                continue
            source = _source_of(path, report.interpreter.pycache_prefix)
            planned.append(PlannedFile.of(path, st, category, source))
        if category is BytecodeCategory.EXTENSION_BESIDE_SOURCE and not planned:
            continue  # nothing is debris: the finding is only explained
        what = (
            "old in-place built extension module"
            if category is BytecodeCategory.EXTENSION_BESIDE_SOURCE
            else f"{category.value} bytecode file"
        )
        actions.append(
            Action(
                kind=ActionKind.REMOVE_FILES,
                finding=code,
                description=f"remove {len(planned)} {what}" + ("s" if len(planned) != 1 else ""),
                files=tuple(planned),
                bytes=sum(f.size for f in planned),
                skipped=tuple(skipped),
            )
        )
    actions.extend(_leftover_actions(report, wanted, include_system))
    for finding in report.findings:
        if finding.code in wanted:
            actions.extend(_repair_actions(finding, report, include_system))
    cache = report.pip_cache
    if "pip-cache-large" in codes and "pip-cache-large" in wanted and cache and cache.directory:
        if report.pip_version is not None:
            actions.append(
                Action(
                    kind=ActionKind.RUN,
                    finding="pip-cache-large",
                    description=f"empty pip's cache {cache.directory} with the target's pip",
                    command=(report.interpreter.executable, "-m", "pip", "cache", "purge"),
                    bytes=cache.total_bytes,
                )
            )
        else:
            actions.append(
                _cache_files_action(
                    cache.directory, cache.total_bytes, include_system=include_system
                )
            )
    from pyenvdoctor.checks.caches import cache_actions

    actions.extend(cache_actions(report, selected))  # only with --fix cache-large
    unique: dict[tuple[object, ...], Action] = {}
    for action in actions:
        unique.setdefault(action.key, action)
    return tuple(sorted(unique.values(), key=_order))


def _order(action: Action) -> tuple[int, int]:
    """Debris first; then .pth edits, uninstalls, other commands; installs last (an install
    after an uninstall of the same name finds nothing left to replace)."""
    if not action.changes_installation:
        return (0, 0)
    if action.kind is ActionKind.EDIT_PTH:
        return (1, 0)
    if "uninstall" in action.command:
        return (1, 1)
    return (1, 2 if "install" in action.command else 1)


def _repair_actions(finding: Finding, report: Report, include_system: bool) -> list[Action]:
    """The actions for the repairs ``finding`` carries, each re-checked against what is on disk
    now (regular file, not behind a symlink, inside the roots or ``sys.path``, not system)."""
    actions: list[Action] = []
    for repair in finding.repairs:
        installation = repair.group is RepairGroup.INSTALLATION
        if repair.kind is RepairKind.RUN and _installs_into_managed(repair.command, report):
            continue  # PEP 668: never pip install into an externally managed interpreter
        if repair.kind is RepairKind.RUN and repair.command:
            actions.append(
                Action(
                    kind=ActionKind.RUN,
                    finding=finding.code,
                    description=repair.description,
                    command=repair.command,
                    changes_installation=installation,
                )
            )
            continue
        planned: list[PlannedFile] = []
        skipped: list[tuple[str, str]] = []
        for path in repair.paths:
            reason = _check_file(path, report, include_system)
            if reason is not None:
                skipped.append((path, reason))
            else:
                planned.append(PlannedFile.of(path, os.lstat(path)))
        if repair.kind is RepairKind.REMOVE_PTH_LINES:
            if not planned or not repair.lines:
                continue
            actions.append(
                Action(
                    kind=ActionKind.EDIT_PTH,
                    finding=finding.code,
                    description=repair.description,
                    files=tuple(planned[:1]),
                    lines=repair.lines,
                    changes_installation=True,
                    skipped=tuple(skipped),
                )
            )
        elif repair.kind is RepairKind.REMOVE_FILES and planned:
            actions.append(
                Action(
                    kind=ActionKind.REMOVE_FILES,
                    finding=finding.code,
                    description=repair.description,
                    files=tuple(planned),
                    bytes=sum(f.size for f in planned),
                    changes_installation=installation,
                    skipped=tuple(skipped),
                )
            )
    return actions


def _installs_into_managed(command: Sequence[str], report: Report) -> bool:
    """``command`` is a ``pip install`` into the target while it is externally managed (PEP 668
    ``EXTERNALLY-MANAGED`` next to its stdlib, a base interpreter only)."""
    interp = report.interpreter
    return (
        interp.externally_managed is not None
        and not interp.is_virtual_environment
        and tuple(command[1:4]) == ("-m", "pip", "install")
    )


def _check_file(path: str, report: Report, include_system: bool) -> str | None:
    """Why a file a repair names must be left alone, or ``None``."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        return f"cannot stat: {exc.strerror}"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if _symlink_on_the_way(path):
        return "a symlink on its path"
    return _protected(os.path.abspath(path), report, include_system, st, on_sys_path=True)


_LEFTOVER_CODES = frozenset({"namespace-hides-editable", "leftover-directory"})


def _leftover_actions(report: Report, wanted: set[str], include_system: bool) -> list[Action]:
    """Directories that hold only bytecode (a leftover hiding an editable install, or left by an
    uninstall): their files, then the directories; and dangling ``.egg-link`` files."""
    from pyenvdoctor.checks.shadowing import leftover_files

    actions = []
    for finding in report.findings:
        if (
            finding.code not in _LEFTOVER_CODES
            or finding.code not in wanted
            or not finding.commands
        ):
            continue
        directory = finding.evidence[0]
        found = leftover_files(directory)
        if found is None:
            continue
        files, dirs = found
        planned = []
        if any(
            _protected(os.path.realpath(p), report, include_system, os.lstat(p), on_sys_path=True)
            for p in [directory, *files]
        ):
            continue
        for path in files:
            st = os.lstat(path)
            planned.append(PlannedFile.of(path, st))
        actions.append(
            Action(
                kind=ActionKind.REMOVE_FILES,
                finding=finding.code,
                description=f"remove the leftover directory {directory} ({len(files)} bytecode files)",
                files=tuple(planned),
                bytes=sum(f.size for f in planned),
                directories=tuple(sorted(dirs, key=len, reverse=True)),
            )
        )
    for finding in report.findings:
        link = finding.evidence[0] if finding.evidence else ""
        if (
            finding.code != "egg-link-dangling"
            or finding.code not in wanted
            or not link.endswith(".egg-link")
        ):
            continue
        try:
            st = os.lstat(link)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode) or _protected(
            os.path.realpath(link), report, include_system, st, on_sys_path=True
        ):
            continue
        actions.append(
            Action(
                kind=ActionKind.REMOVE_FILES,
                finding=finding.code,
                description=f"remove the dangling {os.path.basename(link)}",
                files=(PlannedFile.of(link, st),),
                bytes=st.st_size,
            )
        )
    return actions


#: What ``pip cache purge`` removes (``pip/_internal/commands/cache.py``,
#: ``remove_cache_items(["*"])``): every file under ``http`` and ``http-v2`` (``_find_http_files``)
#: and the ``*.whl`` files under ``wheels`` (``_find_wheels``), found with ``os.walk`` and
#: ``fnmatch`` (``pip/_internal/utils/filesystem.py`` ``find_files``).
PIP_CACHE_PURGED = (("http", "*"), ("http-v2", "*"), ("wheels", "*.whl"))


def _cache_files_action(directory: str, expected: int, *, include_system: bool = False) -> Action:
    """Without pip in the target: the files ``pip cache purge`` would remove
    (:data:`PIP_CACHE_PURGED`), each judged like any other deletion (issue 15): a regular file
    (a symlink is left, and a symlinked directory is not entered), inside the cache's real
    directory with no symlink on the way, and unless ``include_system`` owned by this user and
    not in a system location. Everything else in ``PIP_CACHE_DIR`` (a file the user keeps
    there, another user's files) is left alone; what was left and why is in ``skipped``."""
    root = os.path.realpath(directory)
    planned: list[PlannedFile] = []
    skipped: list[tuple[str, str]] = []
    for sub, pattern in PIP_CACHE_PURGED:
        top = os.path.join(root, sub)
        try:
            top_st = os.lstat(top)
        except OSError:
            continue
        if not stat.S_ISDIR(top_st.st_mode):
            skipped.append((top, "not a directory (a symlink is not followed)"))
            continue
        for dirpath, _dirs, names in os.walk(top):  # os.walk does not enter symlinked dirs
            for name in sorted(names):
                path = os.path.join(dirpath, name)
                if not fnmatch.fnmatch(name, pattern):
                    continue
                try:
                    st = os.lstat(path)
                except OSError:
                    continue
                reason = _cache_file_protected(path, root, st, include_system)
                if reason is not None:
                    skipped.append((path, reason))
                    continue
                planned.append(PlannedFile.of(path, st))
    return Action(
        kind=ActionKind.REMOVE_FILES,
        finding="pip-cache-large",
        description=f"remove the {len(planned)} files inside pip's cache {directory} (no pip here)",
        files=tuple(planned),
        bytes=sum(f.size for f in planned) or expected,
        skipped=tuple(skipped),
    )


def _cache_file_protected(
    path: str, root: str, st: os.stat_result, include_system: bool
) -> str | None:
    """Why a file of pip's cache must be left alone, or ``None`` (the rules of
    :func:`_protected`, with the cache's real directory as the only root)."""
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if _symlink_on_the_way(path) or not _is_under(path, root):
        return "outside the cache directory (through a symlink)"
    if include_system:
        return None
    if path.startswith(_SYSTEM_PREFIXES):
        return "system location (use --include-system)"
    if hasattr(os, "geteuid") and st.st_uid != os.geteuid():
        return "owned by another user (use --include-system)"
    return None


def _still_debris(f: PlannedFile, st: os.stat_result | None = None) -> str | None:
    """Why ``f`` must not be removed now (it changed since the plan), or ``None``.

    :param st: its ``lstat`` now, when the caller already has it (``fstatat`` of the renamed
        file); else taken here.
    """
    if st is None:
        try:
            st = os.lstat(f.path)
        except FileNotFoundError:
            return "vanished"
        except OSError as exc:
            return f"cannot check: {exc.strerror}"
    if not stat.S_ISREG(st.st_mode):
        return "no longer a regular file"
    if (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) != (f.dev, f.ino, f.size, f.mtime_ns):
        return "changed since the plan (inode, size or mtime)"
    if f.category is None:
        return None
    parent = os.path.dirname(f.path)
    source = f.source or _source_of(f.path)
    exists = os.path.exists(source)
    if f.category is BytecodeCategory.EXTENSION_BESIDE_SOURCE:
        return _extension_debris(f.path, st)
    if (
        f.category is BytecodeCategory.ORPHANED
        and exists
        and os.path.basename(parent) == "__pycache__"
    ):
        return "its source is back"
    if f.category is BytecodeCategory.SOURCELESS and exists:
        return "its source is back"
    if f.category is BytecodeCategory.STALE_ACCEPTED and not exists:
        return "its source is gone (now orphaned)"
    return None


class Changed(Exception):
    """The file at a planned path is not the planned file any more (raised by a remover)."""


Remover = Callable[[PlannedFile], None]
Log = Callable[[Mapping[str, object]], None]

_O_DIR = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)


def safe_unlink(f: PlannedFile) -> None:
    """Remove ``f`` only if the file at its path is still the planned one.

    Inside a descriptor of its directory (opened without following a final symlink, after
    checking that no directory on the way is a symlink), the file is renamed to a private
    name, checked with ``fstatat`` (identity and :func:`_still_debris`) and unlinked; a file
    that does not match is renamed back. So a file renamed over the planned one between the
    check and the removal is never deleted.

    :raises Changed: the file changed since the plan (nothing removed).
    :raises OSError: it could not be renamed or removed.
    """
    parent, name = os.path.split(f.path)
    if _symlink_on_the_way(f.path):
        raise Changed("a directory on its path is a symlink")
    reason = _still_debris(f)
    if reason is not None:
        raise Changed(reason)
    dfd = os.open(parent or ".", _O_DIR)
    try:
        private = f".{name}.pyenvdoctor-{os.getpid()}"
        os.rename(name, private, src_dir_fd=dfd, dst_dir_fd=dfd)
        st = os.stat(private, dir_fd=dfd, follow_symlinks=False)
        reason = _still_debris(f, st)
        if reason is not None:
            os.rename(private, name, src_dir_fd=dfd, dst_dir_fd=dfd)
            raise Changed(reason)
        os.unlink(private, dir_fd=dfd)
    finally:
        os.close(dfd)


def _dry_run(f: PlannedFile) -> None:
    """The operation a dry run swaps in: check, remove nothing."""
    reason = _still_debris(f)
    if reason is not None:
        raise Changed(reason)


def _edit_pth(
    f: PlannedFile, lines: Sequence[str], *, dry_run: bool
) -> tuple[str, tuple[str, ...]]:
    """Remove the exact ``lines`` from the ``.pth`` file ``f``: ``(old content, lines removed)``.

    The new content goes to a private file in the same directory (same mode), then replaces the
    old one with ``os.replace`` (atomic on POSIX). ``site.py`` reads ``.pth`` files as UTF-8
    (3.13; the locale encoding before), so the bytes are kept as they are where not removed.

    :raises Changed: the file changed since the plan, or none of the lines is there.
    :raises OSError: it could not be read or written.
    """
    reason = _still_debris(f)
    if reason is None and _symlink_on_the_way(f.path):
        reason = "a directory on its path is a symlink"
    if reason is not None:
        raise Changed(reason)
    with open(f.path, "rb") as fh:
        data = fh.read()
    wanted = {os.fsencode(line) for line in lines}
    kept, removed = [], []
    for raw in data.splitlines(keepends=True):
        if raw.rstrip(b"\r\n") in wanted:
            removed.append(os.fsdecode(raw.rstrip(b"\r\n")))
        else:
            kept.append(raw)
    if not removed:
        raise Changed("none of the lines is in the file any more")
    old = data.decode("utf-8", errors="surrogateescape")
    if dry_run:
        return old, tuple(removed)
    parent, name = os.path.split(f.path)
    private = os.path.join(parent, f".{name}.pyenvdoctor-{os.getpid()}")
    fd = os.open(
        private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IMODE(os.lstat(f.path).st_mode)
    )
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(b"".join(kept))
            out.flush()
            os.fsync(out.fileno())
        reason = _still_debris(f)
        if reason is not None:
            raise Changed(reason)
        os.replace(private, f.path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(private)
        raise
    return old, tuple(removed)


def apply(
    actions: Sequence[Action],
    *,
    remove: Remover = safe_unlink,
    run: Callable[[Sequence[str]], tuple[int, str]] | None = None,
    measure: Callable[[], int] | None = None,
    log: Log | None = None,
    stop: Callable[[], int | None] | None = None,
) -> FixOutcome:
    """Carry out ``actions`` in order; never raises for one file's failure.

    :param remove: the removal operation (:func:`safe_unlink`; the dry run's checks only).
    :param run: runs a command, returns ``(exit status, output)``; default: a subprocess.
    :param measure: bytes in pip's cache now, to report what a purge freed.
    :param log: receives one record per change as it happens (the CLI appends each to the
        ``--log`` file and flushes it, so an interrupted run leaves a true record).
    :param stop: the number of a stop signal received (:class:`pyenvdoctor.interrupt.Stop`),
        asked before each file and each command: once it answers, the operation under way
        has ended (a file is removed or left as it was, never under its private name), the
        rest is not attempted (:attr:`FixOutcome.interrupted`, :attr:`FixOutcome.not_attempted`)
        and emptied ``__pycache__`` directories are still removed. A command running then gets
        the signal forwarded to its process group and is waited for.
    """
    dry_run = remove is _dry_run
    note: Log = log or (lambda _record: None)
    outcome = FixOutcome()
    emptied: set[str] = set()
    pending: Callable[[], int | None] = stop or (lambda: None)
    for index, action in enumerate(actions):
        if pending() is not None:
            outcome.interrupted = pending()
            outcome.not_attempted += sum(max(len(a.files), 1) for a in actions[index:])
            break
        if action.kind is ActionKind.RUN:
            before = measure() if measure is not None else action.bytes
            rc, output = (run or functools.partial(_run, stop=stop))(action.command)
            outcome.commands.append((action.command, rc, output[-2000:]))
            note({"event": "command", "command": list(action.command), "exit_status": rc})
            if rc == 0:
                outcome.bytes_freed += max(before - (measure() if measure is not None else 0), 0)
            continue
        if action.kind is ActionKind.EDIT_PTH:
            for f in action.files[:1]:
                try:
                    old, removed = _edit_pth(f, action.lines, dry_run=dry_run)
                except Changed as exc:
                    outcome.files.append(
                        FileOutcome(path=f.path, status="skipped", reason=str(exc))
                    )
                    continue
                except OSError as exc:
                    outcome.files.append(
                        FileOutcome(path=f.path, status="failed", reason=exc.strerror or str(exc))
                    )
                    continue
                outcome.files.append(FileOutcome(path=f.path, status="edited"))
                outcome.pth_edits.append((f.path, old, removed))
                note(
                    {
                        "event": "pth-edited",
                        "path": f.path,
                        "removed_lines": list(removed),
                        "old_content": old,
                    }
                )
            continue
        for number, f in enumerate(action.files):
            if pending() is not None:
                outcome.interrupted = pending()
                outcome.not_attempted += (
                    len(action.files)
                    - number
                    + sum(max(len(a.files), 1) for a in actions[index + 1 :])
                )
                break
            try:
                remove(f)
            except Changed as exc:
                outcome.files.append(FileOutcome(path=f.path, status="skipped", reason=str(exc)))
                continue
            except OSError as exc:
                outcome.files.append(
                    FileOutcome(path=f.path, status="failed", reason=exc.strerror or str(exc))
                )
                continue
            outcome.files.append(FileOutcome(path=f.path, status="removed", bytes=f.size))
            outcome.bytes_freed += f.size
            if not dry_run:
                note({"event": "removed", "path": f.path, "bytes": f.size})
            parent = os.path.dirname(f.path)
            if os.path.basename(parent) == "__pycache__":
                emptied.add(parent)
        if outcome.interrupted is not None:
            break
    if not dry_run:
        if outcome.interrupted is None:  # an action's leftover directories: only when done
            emptied.update(d for a in actions for d in a.directories)
        for directory in sorted(emptied, key=len, reverse=True):
            if os.path.islink(directory):
                continue
            try:
                os.rmdir(directory)  # only succeeds when empty
            except OSError:
                continue
            outcome.directories_removed.append(directory)
            note({"event": "directory-removed", "path": directory})
    return outcome


def _run(
    command: Sequence[str], *, stop: Callable[[], int | None] | None = None
) -> tuple[int, str]:
    """Run a repair's command (pip of the target) in a process group of its own
    (:mod:`pyenvdoctor.process`): at most an hour, and nothing it started outlives it; a stop
    signal (``stop``) is forwarded to its group, and it is waited for."""
    from pyenvdoctor import process

    try:
        done = process.run(list(command), timeout=3600, forward=stop)
    except (OSError, ValueError) as exc:
        return 127, str(exc)
    output = (done.stdout + done.stderr).decode("utf-8", "replace")
    if done.timed_out:
        return 124, output + "\n(no end within 3600 s: stopped)"
    return (done.returncode if done.returncode is not None else 1), output


def dry_run_remover() -> Remover:
    """The removal operation for ``--dry-run``: the checks, no removal."""
    return _dry_run
