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
* a failure on one file (permission, vanished) is recorded and the rest go on.
"""

from __future__ import annotations

import enum
import os
import stat
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pyenvdoctor.model import BytecodeCategory, Report

__all__ = [
    "FIXABLE_BYTECODE",
    "Action",
    "ActionKind",
    "FileOutcome",
    "FixOutcome",
    "PlannedFile",
    "apply",
    "plan",
]

#: Bytecode categories whose files ``--fix`` removes, and the finding code of each.
FIXABLE_BYTECODE: Mapping[BytecodeCategory, str] = {
    BytecodeCategory.STALE_ACCEPTED: "bytecode-stale-accepted",
    BytecodeCategory.SOURCELESS: "bytecode-sourceless",
    BytecodeCategory.BROKEN: "bytecode-broken",
    BytecodeCategory.ORPHANED: "bytecode-orphaned",
    BytecodeCategory.FOREIGN: "bytecode-foreign",
}

_SYSTEM_PREFIXES = ("/usr/lib/python3", "/usr/lib64/python3", "/usr/local/lib/python3")


class ActionKind(str, enum.Enum):
    """What an action does."""

    REMOVE_FILES = "remove-files"  # unlink the listed files
    RUN = "run"  # run a command (through the target's own tool, e.g. its pip)


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

    @classmethod
    def of(
        cls, path: str, st: os.stat_result, category: BytecodeCategory | None = None
    ) -> PlannedFile:
        """``path`` as it is now (its ``lstat`` result ``st``)."""
        return cls(
            path=path,
            category=category,
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


@dataclass(frozen=True, kw_only=True, slots=True)
class FileOutcome:
    """What happened to one planned file: ``removed``, ``skipped`` or ``failed``, and why."""

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

    def count(self, status: str) -> int:
        """How many files ended with ``status``."""
        return sum(1 for f in self.files if f.status == status)

    @property
    def complete(self) -> bool:
        """Every planned file removed and every command exited 0."""
        return all(f.status == "removed" for f in self.files) and all(
            rc == 0 for _, rc, _ in self.commands
        )


def _is_under(path: str, root: str) -> bool:
    root = root.rstrip(os.sep) or os.sep
    return path == root or path.startswith(root + os.sep)


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
        roots += [os.path.realpath(e.resolved) for e in report.sys_path if e.kind == "directory"]
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
    in_site = any(_is_under(path, os.path.realpath(s)) for s in sites)
    for key in ("stdlib", "platstdlib"):
        if not in_site and paths.get(key) and _is_under(path, os.path.realpath(paths[key])):
            return "inside the interpreter's own stdlib (use --include-system)"
    if path.startswith(_SYSTEM_PREFIXES):
        return "system location (use --include-system)"
    if hasattr(os, "geteuid") and st.st_uid != os.geteuid():
        return "owned by another user (use --include-system)"
    return None


def _record_files(report: Report) -> set[str]:
    """Files listed in the RECORD of any distribution (a sourceless pyc a distribution ships on
    purpose is not debris)."""
    import importlib_metadata

    owned: set[str] = set()
    for location in {d.location for d in report.distributions}:
        for dist in importlib_metadata.distributions(path=[location]):
            try:
                files = dist.files or ()
            except Exception:  # a corrupt RECORD: owns nothing we can tell
                continue
            owned.update(
                os.path.realpath(str(f.locate())) for f in files if str(f).endswith(".pyc")
            )
    return owned


def plan(
    report: Report,
    files: Iterable[tuple[BytecodeCategory, str, os.stat_result]],
    *,
    selected: Sequence[str] = (),
    include_system: bool = False,
) -> tuple[Action, ...]:
    """The actions that resolve the report's fixable findings.

    :param files: every judged file, from the scan's ``on_file`` sink.
    :param selected: finding codes to fix; empty means every finding whose action does not
        change what is installed.
    :param include_system: also plan files in system locations and of other users.
    """
    codes = {f.code for f in report.findings}
    wanted = set(selected) if selected else codes
    by_category: dict[BytecodeCategory, list[tuple[str, os.stat_result]]] = {}
    for category, path, st in files:
        if category in FIXABLE_BYTECODE and stat.S_ISREG(st.st_mode) and path.endswith(".pyc"):
            by_category.setdefault(category, []).append((path, st))
    owned = _record_files(report) if by_category.get(BytecodeCategory.SOURCELESS) else set()
    actions: list[Action] = []
    for category, code in FIXABLE_BYTECODE.items():
        if code not in codes or code not in wanted or category not in by_category:
            continue
        planned: list[PlannedFile] = []
        skipped: list[tuple[str, str]] = []
        for path, st in sorted(by_category[category]):
            reason = _protected(path, report, include_system, st)
            if reason is None and category is BytecodeCategory.SOURCELESS and path in owned:
                reason = "listed in a distribution's RECORD (shipped on purpose)"
            if reason is not None:
                skipped.append((path, reason))
                continue
            planned.append(PlannedFile.of(path, st, category))
        actions.append(
            Action(
                kind=ActionKind.REMOVE_FILES,
                finding=code,
                description=f"remove {len(planned)} {category.value} bytecode file"
                + ("s" if len(planned) != 1 else ""),
                files=tuple(planned),
                bytes=sum(f.size for f in planned),
                skipped=tuple(skipped),
            )
        )
    actions.extend(_leftover_actions(report, wanted, include_system))
    if report.project_root is not None:
        from pyenvdoctor.checks.project import project_actions, read_project

        project = read_project(report.project_root)
        for action in project_actions(
            project, report.distributions, python=report.interpreter.executable
        ):
            if action.finding in codes and action.finding in wanted:
                actions.append(action)
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
            actions.append(_cache_files_action(cache.directory, cache.total_bytes))
    from pyenvdoctor.checks.caches import cache_actions

    actions.extend(cache_actions(report, selected))  # only with --fix cache-large
    return tuple(actions)


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


def _cache_files_action(directory: str, expected: int) -> Action:
    """Without pip in the target: every regular file inside the resolved cache directory."""
    planned = []
    for dirpath, _dirs, names in os.walk(directory):  # os.walk does not follow symlinks
        for name in names:
            path = os.path.join(dirpath, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode) and not path.endswith(".py"):
                planned.append(PlannedFile.of(path, st))
    return Action(
        kind=ActionKind.REMOVE_FILES,
        finding="pip-cache-large",
        description=f"remove the {len(planned)} files inside pip's cache {directory} (no pip here)",
        files=tuple(planned),
        bytes=sum(f.size for f in planned) or expected,
    )


def _still_debris(f: PlannedFile) -> str | None:
    """Why ``f`` must not be removed now (it changed since the plan), or ``None``."""
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
    stem = os.path.basename(f.path).split(".")[0]
    if os.path.basename(parent) == "__pycache__":
        source = os.path.join(os.path.dirname(parent), stem + ".py")
    else:
        source = os.path.join(parent, stem + ".py")
    exists = os.path.exists(source)
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


Remover = Callable[[str], None]


def _dry_run(_path: str) -> None:
    """The operation a dry run swaps in: remove nothing."""


def apply(
    actions: Sequence[Action],
    *,
    remove: Remover = os.unlink,
    run: Callable[[Sequence[str]], tuple[int, str]] | None = None,
    measure: Callable[[], int] | None = None,
) -> FixOutcome:
    """Carry out ``actions``; never raises for one file's failure.

    :param remove: the removal operation (``os.unlink``; :func:`_dry_run` for a dry run).
    :param run: runs a command, returns ``(exit status, output)``; default: a subprocess.
    :param measure: bytes in pip's cache now, to report what a purge freed.
    """
    outcome = FixOutcome()
    emptied: set[str] = set()
    for action in actions:
        if action.kind is ActionKind.RUN:
            before = measure() if measure is not None else action.bytes
            rc, output = (run or _run)(action.command)
            outcome.commands.append((action.command, rc, output[-2000:]))
            if rc == 0:
                outcome.bytes_freed += max(before - (measure() if measure is not None else 0), 0)
            continue
        for f in action.files:
            reason = _still_debris(f)
            if reason is not None:
                outcome.files.append(FileOutcome(path=f.path, status="skipped", reason=reason))
                continue
            try:
                remove(f.path)
            except OSError as exc:
                outcome.files.append(
                    FileOutcome(path=f.path, status="failed", reason=exc.strerror or str(exc))
                )
                continue
            outcome.files.append(FileOutcome(path=f.path, status="removed", bytes=f.size))
            outcome.bytes_freed += f.size
            parent = os.path.dirname(f.path)
            if os.path.basename(parent) == "__pycache__":
                emptied.add(parent)
    if remove is not _dry_run:
        emptied.update(d for a in actions for d in a.directories)
        for directory in sorted(emptied, key=len, reverse=True):
            try:
                os.rmdir(directory)  # only succeeds when empty
            except OSError:
                continue
            outcome.directories_removed.append(directory)
    return outcome


def _run(command: Sequence[str]) -> tuple[int, str]:
    try:
        proc = subprocess.run(
            list(command), capture_output=True, text=True, check=False, timeout=3600
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 127, str(exc)
    return proc.returncode, (proc.stdout + proc.stderr)


def dry_run_remover() -> Remover:
    """The no-op removal operation for ``--dry-run``."""
    return _dry_run
