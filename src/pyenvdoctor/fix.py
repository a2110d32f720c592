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
  again (same device, inode, size and mtime, still a regular file, and every
  :class:`Premise` that made it debris: its source still absent, present or newer, a
  leftover directory still holding only bytecode); a changed file is skipped;
* a file planned by two actions (a pyc in a bytecode-only leftover directory is also orphaned
  bytecode): it carries the premises of both, whichever action removes it, and is attempted
  once;
* symlinks: nothing is followed (the scan does not follow them; ``unlink`` removes a name): a
  symlinked pyc that CPython reads through its link is removed as a link, what it points to
  stays;
* leaving the scanned tree, or touching the system: a file must lie under one of the scan's
  roots; files under the target's own stdlib, under ``/usr/lib/python3*``,
  ``/usr/local/lib/python3*``, or owned by another user are left alone unless
  ``include_system``;
* a file renamed over a planned one between the check and the removal: each file is renamed to a
  private name inside its directory (through a directory descriptor opened without following
  symlinks), checked again with ``fstatat`` and only then unlinked; a mismatch is renamed back;
* a directory on the way that is a symlink (a symlinked ``__pycache__``): the parent's real path
  must equal its path, or the file is skipped. A root reached through a symlink (a venv under
  a symlinked directory) is resolved once, when the plan is made: every planned path lies
  below the root's real path, so only a symlink *inside* the roots skips a file;
* a ``.pth`` edit that loses content: only exact lines are removed, the file is replaced
  atomically (``os.replace``) and its old content goes into the outcome and the log;
* a failure on one file (permission, vanished) is recorded and the rest go on.

Findings carry their repairs (:class:`~pyenvdoctor.model.Repair`, made by the check that found
them); :func:`plan` turns them into actions generically, next to the files the bytecode scan
classified. Actions are grouped as in :class:`~pyenvdoctor.model.RepairGroup`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import errno
import fnmatch
import functools
import os
import stat
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pyenvdoctor.model import (
    BytecodeCategory,
    Finding,
    Repair,
    RepairGroup,
    RepairKind,
    Report,
)

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
    "Premise",
    "apply",
    "command_action",
    "index_note",
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


class Premise(str, enum.Enum):
    """What made a planned file debris, checked again just before it is removed (beyond its
    identity). Each premise names a path (its *subject*): the source, or a leftover directory.

    A file that two actions planned carries the premises of both (issue 15: a leftover-directory
    action deleted a pyc whose source had come back, which the bytecode rules would have kept).
    """

    SOURCE_ABSENT = "source-absent"  # orphaned / sourceless bytecode, a leftover's bytecode
    SOURCE_PRESENT = "source-present"  # stale-accepted bytecode: its source still there
    SOURCE_NEWER = "source-newer"  # an old in-place extension: its source there and newer
    ONLY_BYTECODE = "only-bytecode"  # its directory (and the package of a __pycache__) holds
    # nothing but .pyc files and directories: still a leftover
    UNCHANGED_WHILE_PLANNING = "unchanged-while-planning"  # two actions saw two identities


@dataclass(frozen=True, kw_only=True, slots=True)
class PlannedFile:
    """A file to remove and its identity when planned (``lstat``: device, inode, size in bytes,
    mtime in nanoseconds); ``category`` is its bytecode category, ``None`` for another file
    (a leftover's bytecode, a cache file, a ``.pth`` file).

    ``path`` lies under the *real* path of the root it was found under (a root reached through
    a symlink is resolved once, at plan time; below the root no symlink is followed).
    ``premises``: what must still hold when it is removed (:class:`Premise`, subject path).
    """

    path: str
    category: BytecodeCategory | None  # None: not classified by the bytecode scan
    dev: int
    ino: int
    size: int
    mtime_ns: int
    source: str | None = None  # the .py a bytecode file stands for, as the plan mapped it
    premises: tuple[tuple[Premise, str], ...] = ()

    @classmethod
    def of(
        cls,
        path: str,
        st: os.stat_result,
        category: BytecodeCategory | None = None,
        source: str | None = None,
        premises: tuple[tuple[Premise, str], ...] | None = None,
    ) -> PlannedFile:
        """``path`` as it is now (its ``lstat`` result ``st``); ``premises`` default to those
        of ``category`` (:func:`_premises_of`)."""
        return cls(
            path=path,
            category=category,
            source=source,
            dev=st.st_dev,
            ino=st.st_ino,
            size=st.st_size,
            mtime_ns=st.st_mtime_ns,
            premises=(
                premises
                if premises is not None
                else _premises_of(category, source or _source_of(path), path)
            ),
        )


def _premises_of(
    category: BytecodeCategory | None, source: str, path: str
) -> tuple[tuple[Premise, str], ...]:
    """The premises that made a file of ``category`` debris (the scan's rules,
    ``collect/bytecode.py``): a stale-accepted pyc needs its source, an orphaned one (in a
    ``__pycache__`` or a pycache-prefix tree, where ``source`` was mapped to the mirrored
    source) and a sourceless one need it absent, an in-place extension needs it newer."""
    if category is BytecodeCategory.STALE_ACCEPTED:
        return ((Premise.SOURCE_PRESENT, source),)
    if category is BytecodeCategory.SOURCELESS:
        return ((Premise.SOURCE_ABSENT, source),)
    if category is BytecodeCategory.ORPHANED and (
        os.path.basename(os.path.dirname(path)) == "__pycache__" or source != _source_of(path)
    ):
        return ((Premise.SOURCE_ABSENT, source),)
    if category is BytecodeCategory.EXTENSION_BESIDE_SOURCE:
        return ((Premise.SOURCE_NEWER, source),)
    return ()


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
        return (
            self.kind,
            self.command,
            tuple(f.path for f in self.files),
            self.lines,
            self.directories,
        )


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


def _with_sep(path: str) -> str:
    return path.rstrip(os.sep) + os.sep


@dataclass(frozen=True, kw_only=True, slots=True)
class _Places:
    """The directories a plan judges paths against, resolved once per :func:`plan`; each as a
    prefix ending in ``os.sep`` (``(path + os.sep).startswith(prefixes)`` is "at or under").

    :ivar pairs: ``(root as named, its real path)``, the deepest name first; a root by its real
        path too.
    :ivar roots: the roots' real paths.
    :ivar sites: the site directories' real paths (``site_packages``, purelib, platlib, the
        user site).
    :ivar stdlib: the real paths of sysconfig ``stdlib`` and ``platstdlib``.
    """

    pairs: tuple[tuple[str, str], ...]
    roots: tuple[str, ...]
    sites: tuple[str, ...]
    stdlib: tuple[str, ...]


_PLACES: dict[tuple[int, bool], _Places] = {}


def _places(report: Report, *, on_sys_path: bool = False) -> _Places:
    """The :class:`_Places` of ``report``: the scan's roots and, with ``on_sys_path``, the
    ``sys.path`` directories. A root reached through a symlink (a venv under a symlinked
    directory) is resolved here, once per plan (cached until the next :func:`plan`); below it
    nothing is resolved (:func:`_in_roots`)."""
    key = (id(report), on_sys_path)
    found = _PLACES.get(key)
    if found is not None:
        return found
    roots = list(report.bytecode.roots)
    if on_sys_path:
        roots += [e.resolved for e in report.sys_path if e.kind == "directory"]
    pairs: set[tuple[str, str]] = set()
    for r in roots:
        real = _real(r)
        pairs.add((_with_sep(os.path.abspath(r)), real))
        pairs.add((_with_sep(real), real))
    interp = report.interpreter
    paths = interp.sysconfig_paths
    sites = (*interp.site_packages, paths.get("purelib"), paths.get("platlib"), interp.user_site)
    stdlib = (paths.get("stdlib"), paths.get("platstdlib"))
    found = _PLACES[key] = _Places(
        pairs=tuple(sorted(pairs, key=lambda p: (-len(p[0]), p))),
        roots=tuple(sorted({_with_sep(real) for _named, real in pairs})),
        sites=tuple(sorted({_with_sep(_real(d)) for d in sites if d})),
        stdlib=tuple(sorted({_with_sep(_real(d)) for d in stdlib if d})),
    )
    return found


def _in_roots(path: str, places: _Places) -> str | None:
    """``path`` below the real path of the deepest root it lies under (by name), or ``None``
    outside every root: ``/x/link/venv/lib/m.pyc`` under the root ``/x/link/venv`` (real
    ``/x/real/venv``) is ``/x/real/venv/lib/m.pyc``. What lies below the root is not resolved:
    a symlinked ``__pycache__`` inside it stays in the path, where :func:`_symlink_on_the_way`
    finds it."""
    if not path.startswith(os.sep) or f"{os.sep}." in path or os.sep * 2 in path:
        path = os.path.abspath(path)  # the scan's paths are absolute and normal already
    probe = path + os.sep
    for named, real in places.pairs:
        if probe.startswith(named):
            if named == _with_sep(real):
                return path  # the root by its real path: nothing to resolve
            rest = path[len(named) :]
            return _with_sep(real) + rest if rest else real
    return None


def _protected(
    path: str,
    report: Report,
    include_system: bool,
    st: os.stat_result,
    *,
    on_sys_path: bool = False,
) -> str | None:
    """Why ``path`` (below a root's real path, :func:`_in_roots`) must be left alone, or
    ``None``.

    :param on_sys_path: the roots also include the ``sys.path`` directories (the working
        directory for ``sys.path[0]``), for what import resolution finds there.
    """
    places = _places(report, on_sys_path=on_sys_path)
    probe = _with_sep(path)
    if not probe.startswith(places.roots):
        return "outside the scanned roots"
    if include_system:
        return None
    # The stdlib directory holds site-packages (a plain interpreter), and a venv's platstdlib is
    # the venv's own lib/pythonX.Y: only what is under the stdlib and in no site directory is
    # the interpreter's own.
    if places.stdlib and probe.startswith(places.stdlib) and not probe.startswith(places.sites):
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
    _PLACES.clear()
    codes = {f.code for f in report.findings}
    wanted = set(selected) if selected else codes
    categories = {
        **FIXABLE_BYTECODE,
        BytecodeCategory.EXTENSION_BESIDE_SOURCE: "extension-shadows-source",
    }
    suffixes = (".pyc", *report.interpreter.extension_suffixes)
    by_category: dict[BytecodeCategory, list[tuple[str, os.stat_result]]] = {}
    for category, path, st in files:
        # A symlinked pyc is read by CPython through its link (issue 13): the link is planned
        # (unlink removes the name, never what it points to; CPython then writes a regular
        # pyc there). An extension module must be a regular file.
        if (
            category in categories
            and path.endswith(suffixes)
            and (stat.S_ISREG(st.st_mode) or (stat.S_ISLNK(st.st_mode) and path.endswith(".pyc")))
        ):
            by_category.setdefault(category, []).append((path, st))
    shipped = {BytecodeCategory.SOURCELESS, BytecodeCategory.EXTENSION_BESIDE_SOURCE}
    owned = _record_files(report, suffixes) if any(by_category.get(c) for c in shipped) else set()
    places = _places(report)
    actions: list[Action] = []
    for category, code in categories.items():
        if code not in codes or code not in wanted or category not in by_category:
            continue
        planned: list[PlannedFile] = []
        skipped: list[tuple[str, str]] = []
        for path, st in sorted(by_category[category]):
            real = _in_roots(path, places)
            reason = (
                "outside the scanned roots"
                if real is None
                else _protected(real, report, include_system, st)
            )
            if reason is None and category in shipped and os.path.realpath(path) in owned:
                reason = "listed in a distribution's RECORD (shipped on purpose)"
            if reason is None and category is BytecodeCategory.EXTENSION_BESIDE_SOURCE:
                reason = _extension_debris(path, st) or (
                    "a symlink on its path" if _symlink_on_the_way(real or path) else None
                )
            if reason is not None or real is None:
                skipped.append((path, reason or "outside the scanned roots"))
                continue
            # The source as the scan named it (a pycache-prefix tree mirrors that name).
            source = _source_of(path, report.interpreter.pycache_prefix)
            planned.append(PlannedFile.of(real, st, category, source))
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
    return tuple(sorted(_judged_by_all(list(unique.values())), key=_order))


def _judged_by_all(actions: list[Action]) -> list[Action]:
    """``actions`` with each file that several of them plan carrying the premises of all
    (issue 15: a pyc in a bytecode-only leftover directory is also orphaned or sourceless
    bytecode, a file in pip's cache can be bytecode of a scanned root, a pyc of a
    pycache-prefix tree can be reached from a root inside it): whichever action removes it,
    it is judged by the stricter rules of both. Two different identities (the file changed
    while the plan was made) fail the premise :attr:`Premise.UNCHANGED_WHILE_PLANNING`.
    :func:`apply` attempts each path once."""
    seen: dict[str, list[PlannedFile]] = {}
    for action in actions:
        for f in action.files:
            seen.setdefault(f.path, []).append(f)
    merged: dict[str, tuple[tuple[Premise, str], ...]] = {}
    for path, planned in seen.items():
        if len(planned) < 2:
            continue
        premises = tuple(dict.fromkeys(p for f in planned for p in f.premises))
        if len({(f.dev, f.ino, f.size, f.mtime_ns) for f in planned}) > 1:
            premises += ((Premise.UNCHANGED_WHILE_PLANNING, path),)
        merged[path] = premises
    if not merged:
        return actions
    return [
        dataclasses.replace(
            a,
            files=tuple(
                dataclasses.replace(f, premises=merged[f.path]) if f.path in merged else f
                for f in a.files
            ),
        )
        for a in actions
    ]


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
            actions.append(command_action(finding.code, repair))
            continue
        planned: list[PlannedFile] = []
        skipped: list[tuple[str, str]] = []
        for path in repair.paths:
            checked = _check_file(path, report, include_system)
            if isinstance(checked, str):
                skipped.append((path, checked))
            else:
                planned.append(PlannedFile.of(*checked))
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


def command_action(finding: str, repair: Repair) -> Action:
    """The ``run`` action of a repair that names a command, its description saying what the
    command may fetch from the package index (:func:`index_note`)."""
    note = index_note(repair.command)
    return Action(
        kind=ActionKind.RUN,
        finding=finding,
        description=repair.description + (f" ({note})" if note else ""),
        command=repair.command,
        changes_installation=repair.group is RepairGroup.INSTALLATION,
    )


def index_note(command: Sequence[str]) -> str:
    """What ``command`` (``PYTHON -m pip install ...``) may download from the package index,
    ``""`` for any other command or with ``--no-index``. pip builds a local project or an
    editable one in an isolated environment into which it installs the ``build-system``
    ``requires`` (setuptools, ...) from the index (PEP 517/518 build isolation,
    ``pip/_internal/build_env.py`` ``BuildEnvironment.install_requirements``), and resolves
    the project's dependencies that are missing; ``NAME==VERSION`` is fetched unless pip's
    cache holds it. ``--no-deps`` leaves out the dependencies."""
    if tuple(command[1:4]) != ("-m", "pip", "install") or "--no-index" in command:
        return ""
    args = command[4:]
    deps = "" if "--no-deps" in args else " and missing dependencies"
    if "-e" in args or "--editable" in args:
        return f"may download build dependencies{deps} from the index"
    wanted = [a for a in args if not a.startswith("-")]
    return f"may download {', '.join(wanted) or 'them'}{deps} from the index"


def _installs_into_managed(command: Sequence[str], report: Report) -> bool:
    """``command`` is a ``pip install`` into the target while it is externally managed (PEP 668
    ``EXTERNALLY-MANAGED`` next to its stdlib, a base interpreter only)."""
    interp = report.interpreter
    return (
        interp.externally_managed is not None
        and not interp.is_virtual_environment
        and tuple(command[1:4]) == ("-m", "pip", "install")
    )


def _check_file(
    path: str, report: Report, include_system: bool
) -> str | tuple[str, os.stat_result]:
    """Why a file a repair names must be left alone, or ``(its path below the real root,
    its lstat)`` (:func:`_in_roots`: a root reached through a symlink is resolved, nothing below
    it is followed)."""
    real = _in_roots(path, _places(report, on_sys_path=True))
    if real is None:
        return "outside the scanned roots"
    try:
        st = os.lstat(real)
    except OSError as exc:
        return f"cannot stat: {exc.strerror}"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if _symlink_on_the_way(real):
        return "a symlink on its path"
    reason = _protected(real, report, include_system, st, on_sys_path=True)
    return reason if reason is not None else (real, st)


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
        named = finding.evidence[0]
        directory = _in_roots(named, _places(report, on_sys_path=True))
        if directory is None or _real(directory) != directory:
            continue  # outside the roots, or a symlink below the root on its way
        found = leftover_files(directory)
        if found is None:
            continue
        files, dirs = found
        planned = []
        if any(
            _protected(p, report, include_system, os.lstat(p), on_sys_path=True)
            for p in [directory, *files]
        ):
            continue
        for path in files:
            # Bytecode in a leftover is debris while its source stays absent and the directory
            # holds nothing else; the same premises whichever action plans the file.
            premises = ((Premise.SOURCE_ABSENT, _source_of(path)), (Premise.ONLY_BYTECODE, named))
            planned.append(PlannedFile.of(path, os.lstat(path), premises=premises))
        actions.append(
            Action(
                kind=ActionKind.REMOVE_FILES,
                finding=finding.code,
                description=f"remove the leftover directory {named} ({len(files)} bytecode files)",
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
        checked = _check_file(link, report, include_system)
        if isinstance(checked, str):
            continue
        actions.append(
            Action(
                kind=ActionKind.REMOVE_FILES,
                finding=finding.code,
                description=f"remove the dangling {os.path.basename(link)}",
                files=(PlannedFile.of(*checked),),
                bytes=checked[1].st_size,
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
    """Why ``f`` must not be removed now (it changed since the plan, or a premise that made it
    debris no longer holds), or ``None``. Every premise is checked, those of every action that
    planned the file (:class:`Premise`).

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
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
        return "no longer a regular file"
    # The same inode as planned: a symlinked pyc stays that link (its name is removed), a
    # regular file cannot turn into a link or back.
    if (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) != (f.dev, f.ino, f.size, f.mtime_ns):
        return "changed since the plan (inode, size or mtime)"
    for premise, subject in f.premises:
        reason = _premise_fails(premise, subject, f.path, st)
        if reason is not None:
            return reason
    return None


def _premise_fails(premise: Premise, subject: str, path: str, st: os.stat_result) -> str | None:
    """Why ``premise`` (about ``subject``) no longer holds for the file at ``path`` (``lstat``
    ``st``), or ``None``."""
    if premise is Premise.SOURCE_ABSENT:
        return f"its source is back ({subject})" if os.path.lexists(subject) else None
    if premise is Premise.SOURCE_PRESENT:
        return None if os.path.exists(subject) else "its source is gone (now orphaned)"
    if premise is Premise.SOURCE_NEWER:
        return _extension_debris(path, st)
    if premise is Premise.ONLY_BYTECODE:
        parent = os.path.dirname(path)
        places = [parent]
        if os.path.basename(parent) == "__pycache__":
            places.append(os.path.dirname(parent))
        for place in places:
            other = _not_bytecode(place)
            if other is not None:
                return f"the leftover directory {subject} holds {other} now"
        return None
    return "changed while the plan was made (two actions saw two different files)"


def _not_bytecode(directory: str) -> str | None:
    """The first entry of ``directory`` that is neither a ``.pyc`` file nor a directory (a
    symlink counts), or ``None`` (what :func:`~pyenvdoctor.checks.shadowing.leftover_files`
    accepts, for one directory; a file :func:`safe_unlink` holds under its private name is
    bytecode); an unreadable directory gives its own path."""
    private = _PRIVATE_SUFFIX + str(os.getpid())
    try:
        with os.scandir(directory) as entries:
            for e in entries:
                if e.name.endswith(private) and e.name[1 : -len(private)].endswith(".pyc"):
                    continue
                if e.is_symlink() or not (
                    e.is_dir(follow_symlinks=False)
                    or (e.name.endswith(".pyc") and e.is_file(follow_symlinks=False))
                ):
                    return e.path
    except OSError:
        return directory
    return None


class Changed(Exception):
    """The file at a planned path is not the planned file any more (raised by a remover)."""


Remover = Callable[[PlannedFile], None]
Log = Callable[[Mapping[str, object]], None]

#: The private name of a file under way: ``.NAME.pyenvdoctor-PID``.
_PRIVATE_SUFFIX = ".pyenvdoctor-"

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
        private = f".{name}{_PRIVATE_SUFFIX}{os.getpid()}"
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
    """The operation a dry run swaps in: the checks of :func:`safe_unlink`, remove nothing."""
    if _symlink_on_the_way(f.path):
        raise Changed("a directory on its path is a symlink")
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
    attempted: set[str] = set()
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
            if f.path in attempted:
                continue  # planned by an earlier action too: judged once, by both's premises
            attempted.add(f.path)
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
        # An action's leftover directories: only when done; one that stays is in the outcome
        # (a file in it was kept, or something new is there). A __pycache__ this run emptied
        # goes when it is empty, silently stays when not.
        planned = (
            {d for a in actions for d in a.directories} if outcome.interrupted is None else set()
        )
        for directory in sorted(emptied | planned, key=len, reverse=True):
            kept = _rmdir(directory)
            if kept is None:
                outcome.directories_removed.append(directory)
                note({"event": "directory-removed", "path": directory})
            elif kept and directory in planned:
                outcome.files.append(
                    FileOutcome(path=directory, status="skipped", reason=f"directory kept: {kept}")
                )
    return outcome


def _rmdir(directory: str) -> str | None:
    """Remove ``directory`` if it is empty and no symlink is on its way (``rmdir``, which fails
    on a non-empty directory): ``None``; ``""`` when it is gone already; else why it stays."""
    if os.path.islink(directory) or os.path.realpath(directory) != directory:
        return "a symlink on its path"
    try:
        os.rmdir(directory)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return ""
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
            return "not empty"
        return exc.strerror or str(exc)
    return None


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
