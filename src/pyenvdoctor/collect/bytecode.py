"""Bytecode files judged the way the *target's* import system judges them, in one pass.

Rules, from CPython ``Lib/importlib/_bootstrap_external.py``:

* ``cache_from_source``: PEP 3147 ``<dir>/__pycache__/<stem>.<cache_tag>[.opt-N].pyc``
  (PEP 488 ``opt-N``); with ``sys.pycache_prefix`` (PYTHONPYCACHEPREFIX, 3.8+) the file is
  ``<prefix>/<absolute source dir without its root>/<stem>.<cache_tag>[.opt-N].pyc`` and in-tree
  ``__pycache__`` directories are neither read nor written.
* ``_classify_pyc``: a 16-byte header (PEP 552): the target's ``MAGIC_NUMBER``, 32-bit
  little-endian flags (only bits 0 and 1 may be set), then source mtime and size (timestamp
  pyc) or an 8-byte source hash (bit 0). Anything else is rejected and recompiled.
* ``_validate_timestamp_pyc``: valid when the recorded mtime equals ``int(st_mtime)`` and the
  recorded size equals ``st_size``, both mod 2**32. So an edit that keeps the size within the
  same second, or restores the mtime (``touch -r``, ``rsync -t``, checkouts, editors), leaves
  the old bytecode *accepted*. Candidates are cheap to find (the source's ``st_ctime`` is later
  than the pyc was written: ``utime`` moves ctime too) and are confirmed by comparing the
  pyc's code object with a compile of the current source in the target.
* ``SourceLoader.get_code``: a hash-based pyc is checked against ``importlib.util.source_hash``
  when bit 1 (check_source) is set and ``--check-hash-based-pycs`` is ``default``, always with
  ``always``, never with ``never``; an unchecked one runs even though its source changed.
  When the bytecode is rejected, the new one is written back unless ``sys.dont_write_bytecode``
  or the directory is not writable: then it is recompiled on every start.
* ``FileFinder`` tries extension modules, then source, then bytecode suffixes: a legacy
  ``<stem>.pyc`` beside ``<stem>.py`` is ignored, without it it is imported
  (``SourcelessFileLoader``), and ``<stem>.<extension suffix>`` beside ``<stem>.py`` wins.

Source hashes use the target's key (its magic number) *and* its algorithm: ``_Py_KeyedHash``
is SipHash-2-4 up to 3.10 and SipHash-1-3 from 3.11 (``Python/pyhash.c``); when host and
target differ there, and always for code comparison, the target itself does the work (one
subprocess for all files).
"""

from __future__ import annotations

import bisect
import contextlib
import os
import struct
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

from pyenvdoctor.model import (
    BytecodeCategory,
    BytecodeGroup,
    BytecodeSummary,
    Interpreter,
    LocationClass,
)

__all__ = [
    "HEADER_SIZE",
    "MAX_EXAMPLES",
    "MAX_LISTED",
    "BackgroundScan",
    "BytecodeTarget",
    "FileSink",
    "ScanRoot",
    "classify_header",
    "judge_file",
    "scan_bytecode",
]

#: Paths kept per (category, location class) for harmless categories.
MAX_EXAMPLES = 5
#: Paths kept for the categories whose every file needs removing, so a command can name them.
MAX_LISTED = 1000
_LISTED = frozenset({BytecodeCategory.STALE_ACCEPTED, BytecodeCategory.SOURCELESS})

#: Directory names never descended into: version control and tool caches.
_SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        "node_modules",
        ".nox",
        ".tox",
        "__pycache__",
    }
)
_SITE_DIR_NAMES = ("site-packages", "dist-packages")

HEADER_SIZE = 16
_POSIX = os.path.normcase("A") == "A"  # normcase is the identity: skip it in the hot loop

#: Receives every judged file: ``(category, path, its stat at judging time)``.
FileSink = Callable[[BytecodeCategory, str, os.stat_result], None]
_FIELDS = struct.Struct("<III")  # flags, then mtime and size (or the first half of a hash)
_O_RDONLY = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)
_O_DIRECTORY = _O_RDONLY | getattr(os, "O_DIRECTORY", 0)
#: ``open``/``stat`` relative to a directory descriptor (POSIX ``openat``/``fstatat``).
_DIR_FD = os.open in os.supports_dir_fd and os.stat in os.supports_dir_fd


@dataclass(frozen=True, kw_only=True, slots=True)
class BytecodeTarget:
    """The facts of the target interpreter the rules need (from its probe).

    :ivar magic_number: ``importlib.util.MAGIC_NUMBER`` as 4 bytes.
    :ivar check_hash_based_pycs: ``default``, ``always`` or ``never``.
    :ivar executable: runs the source hashing and code comparison the host cannot do.
    :ivar pycache_prefix: ``sys.pycache_prefix`` or ``None``.
    :ivar dont_write_bytecode: ``sys.dont_write_bytecode``: stale bytecode is never rewritten.
    """

    executable: str
    version_info: tuple[int, int]
    cache_tag: str
    magic_number: bytes
    check_hash_based_pycs: str
    source_suffixes: tuple[str, ...] = (".py",)
    extension_suffixes: tuple[str, ...] = ()
    pycache_prefix: str | None = None
    dont_write_bytecode: bool = False

    @classmethod
    def for_interpreter(cls, interpreter: Interpreter) -> BytecodeTarget:
        """The rules' inputs from a probed interpreter."""
        return cls(
            executable=interpreter.executable,
            version_info=(interpreter.version_info[0], interpreter.version_info[1]),
            cache_tag=interpreter.cache_tag or "",
            magic_number=bytes.fromhex(interpreter.magic_number),
            check_hash_based_pycs=interpreter.check_hash_based_pycs,
            source_suffixes=interpreter.source_suffixes,
            extension_suffixes=interpreter.extension_suffixes,
            pycache_prefix=interpreter.pycache_prefix,
            dont_write_bytecode=bool(interpreter.flags.get("dont_write_bytecode")),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class ScanRoot:
    """A directory to scan, and the location class its files count under."""

    path: str
    location: LocationClass


def classify_header(
    header: bytes, source: os.stat_result, target: BytecodeTarget, source_hash: bytes | None
) -> BytecodeCategory:
    """Classify a pyc of the target's cache tag whose source exists, by its header alone.

    :param header: the first 16 bytes of the pyc (fewer if the file is shorter).
    :param source: ``os.stat`` of the source.
    :param source_hash: ``importlib.util.source_hash`` of the source with the target's key and
        algorithm; ``None`` for a timestamp pyc, or when it could not be computed.
    :returns: FRESH (header valid), STALE (rejected, recompiled), STALE_ACCEPTED (a hash pyc
        whose source changed but that is not checked), or FOREIGN (malformed header).
    """
    if len(header) < HEADER_SIZE or header[:4] != target.magic_number:
        return BytecodeCategory.FOREIGN
    flags = int.from_bytes(header[4:8], "little")
    if flags & ~0b11:
        return BytecodeCategory.FOREIGN
    if not flags & 0b01:
        mtime = int.from_bytes(header[8:12], "little")
        size = int.from_bytes(header[12:16], "little")
        valid = mtime == int(source.st_mtime) & 0xFFFFFFFF and size == source.st_size & 0xFFFFFFFF
        return BytecodeCategory.FRESH if valid else BytecodeCategory.STALE
    mode = target.check_hash_based_pycs
    checked = mode == "always" or (mode == "default" and bool(flags & 0b10))
    if source_hash is not None and header[8:16] == source_hash:
        return BytecodeCategory.FRESH
    return BytecodeCategory.STALE if checked else BytecodeCategory.STALE_ACCEPTED


def _run_in_target(executable: str, code: str, payload: object) -> Any:
    """Run ``code`` in the target with ``payload`` as JSON on stdin; its last stdout line is
    JSON. Returns ``None`` when it fails (the caller then cannot confirm, and says so)."""
    import json  # only when needed: the common scan never starts a subprocess
    import subprocess

    try:
        proc = subprocess.run(
            [executable, "-c", code],
            input=json.dumps(payload).encode(),
            capture_output=True,
            timeout=600,
            check=False,
        )
        return json.loads(proc.stdout.decode().strip().splitlines()[-1])
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError):
        return None


_HASH_CODE = """\
import _imp, json, sys
key, paths = json.load(sys.stdin)
out = {}
for p in paths:
    try:
        with open(p, 'rb') as f:
            out[p] = _imp.source_hash(key, f.read()).hex()
    except OSError:
        pass
print(json.dumps(out))
"""

_COMPARE_CODE = """\
import json, marshal, sys
out = {}
for pyc, src, opt in json.load(sys.stdin):
    try:
        with open(pyc, 'rb') as f:
            old = marshal.loads(f.read()[16:])
        with open(src, 'rb') as f:
            new = compile(f.read(), src, 'exec', dont_inherit=True, optimize=opt)
        out[pyc] = old == new
    except Exception:
        out[pyc] = None
print(json.dumps(out))
"""


def _source_hashes(target: BytecodeTarget, paths: Sequence[str]) -> dict[str, bytes]:
    key = int.from_bytes(target.magic_number, "little")
    if (sys.version_info[:2] >= (3, 11)) == (tuple(target.version_info) >= (3, 11)):
        import _imp

        result = {}
        for p in paths:
            try:
                with open(p, "rb") as f:
                    result[p] = _imp.source_hash(key, f.read())
            except OSError:
                continue
        return result
    data = _run_in_target(target.executable, _HASH_CODE, [key, list(paths)]) or {}
    return {p: bytes.fromhex(h) for p, h in data.items()}


def _same_code(
    target: BytecodeTarget, items: Sequence[tuple[str, str, int]]
) -> dict[str, bool | None]:
    """For each ``(pyc, source, optimize)``: does the pyc hold what the target compiles from the
    current source (code objects compared with ``==``: bytecode, constants, names, line table)?"""
    if not items:
        return {}
    data = _run_in_target(target.executable, _COMPARE_CODE, [list(i) for i in items])
    return dict(data) if isinstance(data, dict) else {}


def _parse_cache_name(name: str) -> tuple[str, str, int] | None:
    """``stem.tag[.opt-N].pyc`` -> (stem, tag, N); ``None`` for a name without a tag."""
    parts = name[:-4].split(".")
    optimize = 0
    if len(parts) >= 3 and parts[-1].startswith("opt-"):
        optimize = int(parts[-1][4:]) if parts[-1][4:].isdigit() else -1
        parts = parts[:-1]
    if len(parts) < 2 or optimize < 0:
        return None
    return ".".join(parts[:-1]), parts[-1], optimize


@dataclass
class _Tally:
    """Counts of one (category, location class); ``examples``: the ``limit`` smallest paths,
    sorted, so that which files are named does not depend on the order of the walk (workers
    finish in any order)."""

    limit: int
    files: int = 0
    bytes: int = 0
    examples: list[str] = field(default_factory=list)
    roots: set[str] = field(default_factory=set)

    def example(self, path: str) -> None:
        """Keep ``path`` if it is among the ``limit`` smallest seen."""
        examples = self.examples
        if len(examples) < self.limit:
            bisect.insort(examples, path)
        elif path < examples[-1]:
            bisect.insort(examples, path)
            examples.pop()

    @classmethod
    def of(cls, category: BytecodeCategory) -> _Tally:
        return cls(limit=MAX_LISTED if category in _LISTED else MAX_EXAMPLES)


class _Scan:
    """One scan's state: tallies per (category, location) and the files awaiting a second
    look in the target (hash-based pycs, timestamp candidates)."""

    def __init__(
        self,
        target: BytecodeTarget,
        progress: Callable[[int], None] | None,
        on_file: FileSink | None = None,
    ) -> None:
        self.target = target
        self.on_file = on_file
        self.tallies: dict[tuple[BytecodeCategory, LocationClass], _Tally] = {}
        self.unreadable: list[str] = []
        self.scanned = 0
        self.hash_pending: list[tuple[str, str, bytes, os.stat_result, str, LocationClass]] = []
        self.candidates: list[tuple[str, str, int, os.stat_result, str, LocationClass]] = []
        self.progress = progress
        self.writable: dict[str, bool] = {}

    def record(
        self,
        category: BytecodeCategory,
        location: LocationClass,
        root: str,
        path: str,
        st: os.stat_result | None,
    ) -> None:
        """Count ``path`` (``st``: its lstat, ``None`` if it vanished) and pass it to the sink."""
        size = st.st_size if st is not None else 0
        if self.on_file is not None and st is not None:
            self.on_file(category, path, st)
        t = self.tallies.get((category, location))
        if t is None:
            t = self.tallies[(category, location)] = _Tally.of(category)
        t.roots.add(root)
        t.files += 1
        t.bytes += size
        t.example(path)

    def merge(self, other: _Scan) -> None:
        """Add a worker's partial scan to this one (examples stay within their limits)."""
        for key, t in other.tallies.items():
            mine = self.tallies.get(key)
            if mine is None:
                self.tallies[key] = t
                continue
            mine.files += t.files
            mine.bytes += t.bytes
            mine.roots |= t.roots
            for path in t.examples:
                mine.example(path)
        self.unreadable.extend(other.unreadable)
        self.scanned += other.scanned
        self.hash_pending.extend(other.hash_pending)
        self.candidates.extend(other.candidates)

    def stale(self, cache_dir: str) -> BytecodeCategory:
        """STALE, or STALE_NOT_REWRITTEN where the target will not write the new bytecode."""
        if self.target.dont_write_bytecode:
            return BytecodeCategory.STALE_NOT_REWRITTEN
        w = self.writable.get(cache_dir)
        if w is None:
            w = self.writable[cache_dir] = os.access(cache_dir, os.W_OK)
        return BytecodeCategory.STALE if w else BytecodeCategory.STALE_NOT_REWRITTEN

    def judge(
        self,
        pyc: str,
        source: str,
        optimize: int,
        location: LocationClass,
        root: str,
    ) -> None:
        """Judge one pyc of the target's tag whose source exists by name (full paths; the
        scan's own loop is :func:`_judge_cache_dir`)."""
        self.scanned += 1
        try:
            fd = os.open(pyc, _O_RDONLY)
        except OSError:
            self.unreadable.append(pyc)
            return
        try:
            pst = os.fstat(fd)
            header = os.read(fd, HEADER_SIZE)
        except OSError:
            self.unreadable.append(pyc)
            return
        finally:
            os.close(fd)
        try:
            sst = os.stat(source)
        except OSError:
            self.record(BytecodeCategory.ORPHANED, location, root, pyc, pst)
            return
        self.verdict(pyc, source, optimize, location, root, pst=pst, header=header, sst=sst)

    def verdict(
        self,
        pyc: str,
        source: str,
        optimize: int,
        location: LocationClass,
        root: str,
        *,
        pst: os.stat_result,
        header: bytes,
        sst: os.stat_result,
    ) -> None:
        """Record one pyc whose header (up to 16 bytes) and stats, and its source's, are read."""
        if len(header) == HEADER_SIZE and header[:4] == self.target.magic_number:
            flags, mtime, size = _FIELDS.unpack_from(header, 4)
            if not flags:  # timestamp pyc: _validate_timestamp_pyc
                if mtime != int(sst.st_mtime) & 0xFFFFFFFF or size != sst.st_size & 0xFFFFFFFF:
                    category = self.stale(os.path.dirname(pyc))
                elif sst.st_ctime_ns > max(pst.st_mtime_ns, pst.st_ctime_ns):
                    # Valid header, but the source changed after the pyc was written.
                    self.candidates.append((pyc, source, optimize, pst, root, location))
                    return
                else:
                    category = BytecodeCategory.FRESH
                self.record(category, location, root, pyc, pst)
                return
            if flags & 0b01 and not flags & ~0b11:  # hash-based: one batch later
                self.hash_pending.append((pyc, source, header, pst, root, location))
                return
        self.record(BytecodeCategory.FOREIGN, location, root, pyc, pst)

    def finish(self) -> None:
        """Hash-based pycs and timestamp candidates: one batch each, in the target if needed."""
        t = self.target
        if self.hash_pending:
            hashes = _source_hashes(t, sorted({p[1] for p in self.hash_pending}))
            for pyc, src, header, pst, root, loc in self.hash_pending:
                try:
                    sst = os.stat(src)
                except OSError:
                    self.record(BytecodeCategory.ORPHANED, loc, root, pyc, pst)
                    continue
                category = classify_header(header, sst, t, hashes.get(src))
                if category is BytecodeCategory.STALE:
                    category = self.stale(os.path.dirname(pyc))
                self.record(category, loc, root, pyc, pst)
        if self.candidates:
            same = _same_code(t, [(c[0], c[1], c[2]) for c in self.candidates])
            for pyc, _src, _opt, pst, root, loc in self.candidates:
                # Unconfirmable (the target failed to compile it): the header is valid, so
                # the interpreter runs it; report it as it stands, fresh.
                ok = same.get(pyc)
                category = (
                    BytecodeCategory.STALE_ACCEPTED if ok is False else BytecodeCategory.FRESH
                )
                self.record(category, loc, root, pyc, pst)


def judge_file(pyc: str, source: str | None, target: BytecodeTarget) -> BytecodeCategory | None:
    """The category of one bytecode file by the same rules as :func:`scan_bytecode`
    (``None`` when ``pyc`` does not exist). ``source`` ``None``: a legacy sourceless pyc."""
    try:
        st = os.lstat(pyc)
    except OSError:
        return None
    if source is None:
        return BytecodeCategory.SOURCELESS
    state = _Scan(target, None)
    parsed = _parse_cache_name(os.path.basename(pyc))
    if parsed is None or parsed[1] != target.cache_tag:
        state.record(BytecodeCategory.FOREIGN, LocationClass.OTHER, "", pyc, st)
    else:
        state.judge(pyc, source, parsed[2], LocationClass.OTHER, "")
    state.finish()
    return next(iter(state.tallies))[0] if state.tallies else None


def _listing(
    directory: str,
    *,
    is_root: bool,
    skip: frozenset[str],
    skip_names: frozenset[str],
    interesting: tuple[str, ...],
    unreadable: list[str],
) -> tuple[set[str], list[os.DirEntry[str]], list[str]] | None:
    """One pass over a directory: ``(names, entries whose name ends with interesting,
    subdirectories to enter)``; ``None`` when unreadable or another virtual environment.

    Symlinked directories are not entered; nor are ``skip`` (other roots), ``skip_names``
    (site directories that are not roots, tool caches, ``__pycache__``, which the caller
    reads) and directories holding a ``pyvenv.cfg``.
    """
    try:
        with os.scandir(directory) as it:
            entries = list(it)
    except OSError:
        unreadable.append(directory)
        return None
    names = {e.name for e in entries}
    if "pyvenv.cfg" in names and not is_root:
        return None  # another virtual environment
    picked = []
    subdirs = []
    for e in entries:  # hot: one C call for most entries
        try:
            is_dir = e.is_dir(follow_symlinks=False)
        except OSError:
            continue
        if not is_dir:
            if e.name.endswith(interesting):
                picked.append(e)
        elif (
            e.name not in skip_names
            and (e.path if _POSIX else os.path.normcase(e.path)) not in skip
        ):
            subdirs.append(e.path)
    return names, picked, subdirs


@dataclass(frozen=True, slots=True)
class _Rules:
    """What a scan needs to know besides the target: suffixes and directories to pass by."""

    source_suffix: str
    ext_suffixes: tuple[str, ...]
    interesting: tuple[str, ...]
    plain_suffix: str
    skip_names: frozenset[str]

    @classmethod
    def of(cls, target: BytecodeTarget, *, skip_site_dirs: bool = True) -> _Rules:
        ext = tuple(sorted(target.extension_suffixes, key=len, reverse=True))
        return cls(
            source_suffix=target.source_suffixes[0] if target.source_suffixes else ".py",
            ext_suffixes=ext,
            interesting=(".pyc", *ext),
            plain_suffix="." + target.cache_tag + ".pyc",
            skip_names=_SKIP_DIRS | frozenset(_SITE_DIR_NAMES) if skip_site_dirs else _SKIP_DIRS,
        )


@dataclass(frozen=True, slots=True)
class _Task:
    """Scan ``start`` (below ``root``), recursively or only the directory itself; ``listed``:
    the directory's listing, already read (by :func:`_tasks`)."""

    root: ScanRoot
    start: str
    recurse: bool
    skip: frozenset[str]
    listed: tuple[set[str], list[os.DirEntry[str]]] | None = None


def _run_task(
    state: _Scan, rules: _Rules, task: _Task, progress: Callable[[int], None] | None
) -> None:
    if task.listed is not None:
        names, picked = task.listed
        _process(state, rules, root=task.root, directory=task.start, names=names, picked=picked)
        return
    stack = [task.start]
    dirs = 0
    while stack:
        directory = stack.pop()
        got = _listing(
            directory,
            is_root=directory == task.root.path,
            skip=task.skip,
            skip_names=rules.skip_names,
            interesting=rules.interesting,
            unreadable=state.unreadable,
        )
        if got is None:
            continue
        names, picked, subdirs = got
        if task.recurse:
            stack.extend(subdirs)
        _process(state, rules, root=task.root, directory=directory, names=names, picked=picked)
        dirs += 1
        if progress is not None and dirs % 256 == 0:
            progress(state.scanned)


def _process(
    state: _Scan,
    rules: _Rules,
    *,
    root: ScanRoot,
    directory: str,
    names: set[str],
    picked: list[os.DirEntry[str]],
) -> None:
    """Judge the bytecode of one directory: legacy pycs and extensions beside it, and its
    ``__pycache__``."""
    target = state.target
    loc, rp = root.location, root.path
    source_suffix = rules.source_suffix
    for e in picked:
        name = e.name
        if name.endswith(".pyc"):
            if not _is_file(e):
                continue
            state.scanned += 1
            has_source = name[:-4] + source_suffix in names
            cat = BytecodeCategory.ORPHANED if has_source else BytecodeCategory.SOURCELESS
            state.record(cat, loc, rp, e.path, _stat(e))
        else:
            stem = next(name[: -len(s)] for s in rules.ext_suffixes if name.endswith(s))
            if stem + source_suffix in names and _is_file(e):
                state.record(BytecodeCategory.EXTENSION_BESIDE_SOURCE, loc, rp, e.path, _stat(e))
    if "__pycache__" not in names:
        return
    cache_dir = os.path.join(directory, "__pycache__")
    try:
        with os.scandir(cache_dir) as it:
            cache_entries = [
                c for c in it if c.name.endswith(".pyc") and c.is_file(follow_symlinks=False)
            ]
    except OSError:
        state.unreadable.append(cache_dir)
        return
    if target.pycache_prefix is not None:
        for c in cache_entries:
            state.scanned += 1
            state.record(BytecodeCategory.IGNORED, loc, rp, c.path, _stat(c))
        return
    cache_fd = None
    if _DIR_FD:
        # O_NOFOLLOW: a symlinked __pycache__ is judged by full paths, as ".." from it would
        # not be ``directory``.
        with contextlib.suppress(OSError):
            cache_fd = os.open(cache_dir, _O_DIRECTORY)
    try:
        _judge_cache_dir(
            state,
            rules,
            root=root,
            directory=directory,
            cache_dir=cache_dir,
            cache_fd=cache_fd,
            names=names,
            entries=cache_entries,
        )
    finally:
        if cache_fd is not None:
            os.close(cache_fd)


def _judge_cache_dir(
    state: _Scan,
    rules: _Rules,
    *,
    root: ScanRoot,
    directory: str,
    cache_dir: str,
    cache_fd: int | None,
    names: set[str],
    entries: list[os.DirEntry[str]],
) -> None:
    """:meth:`_Scan.judge` for every pyc of one ``__pycache__``, with the common verdict
    (a timestamp pyc whose header matches its source: fresh) decided inline and counted once
    per directory. The hot loop of a scan: each pyc costs an ``openat``, ``fstat``, ``read``
    and ``close``, its source one ``fstatat``: relative to ``cache_fd`` (the open
    ``__pycache__``; the source through its ``..``), or by full path when it is ``None``."""
    target = state.target
    on_file = state.on_file
    loc, rp = root.location, root.path
    magic = target.magic_number
    plain_suffix = rules.plain_suffix
    cut = -len(plain_suffix)
    source_suffix = rules.source_suffix
    if cache_fd is None:
        pyc_prefix, source_prefix = cache_dir + os.sep, directory + os.sep
    else:
        pyc_prefix, source_prefix = "", os.pardir + os.sep
    open_, read, fstat, stat, close = os.open, os.read, os.fstat, os.stat, os.close
    unpack = _FIELDS.unpack_from
    fresh_files = fresh_bytes = 0
    fresh_names: list[str] = []
    for c in entries:
        name = c.name
        if name.endswith(plain_suffix):
            stem, optimize = name[:cut], 0
        else:
            parsed = _parse_cache_name(name)
            if parsed is None or parsed[1] != target.cache_tag:
                state.scanned += 1
                state.record(BytecodeCategory.FOREIGN, loc, rp, c.path, _stat(c))
                continue
            stem, _, optimize = parsed
        source_name = stem + source_suffix
        if source_name not in names:
            state.scanned += 1
            state.record(BytecodeCategory.ORPHANED, loc, rp, c.path, _stat(c))
            continue
        try:
            fd = open_(pyc_prefix + name, _O_RDONLY, dir_fd=cache_fd)
        except OSError:
            state.scanned += 1
            state.unreadable.append(c.path)
            continue
        try:
            pst = fstat(fd)
            header = read(fd, HEADER_SIZE)
        except OSError:
            state.scanned += 1
            state.unreadable.append(c.path)
            continue
        finally:
            close(fd)
        try:
            sst = stat(source_prefix + source_name, dir_fd=cache_fd)
        except OSError:
            state.scanned += 1
            state.record(BytecodeCategory.ORPHANED, loc, rp, c.path, pst)
            continue
        if (
            len(header) == HEADER_SIZE
            and header[:4] == magic
            and unpack(header, 4) == (0, int(sst.st_mtime) & 0xFFFFFFFF, sst.st_size & 0xFFFFFFFF)
            and sst.st_ctime_ns <= max(pst.st_mtime_ns, pst.st_ctime_ns)
        ):
            fresh_files += 1
            fresh_bytes += pst.st_size
            fresh_names.append(name)
            if on_file is not None:
                on_file(BytecodeCategory.FRESH, c.path, pst)
            continue
        state.scanned += 1
        state.verdict(
            c.path,
            directory + os.sep + source_name,
            optimize,
            loc,
            rp,
            pst=pst,
            header=header,
            sst=sst,
        )
    if fresh_files:
        state.scanned += fresh_files
        tally = state.tallies.get((BytecodeCategory.FRESH, loc))
        if tally is None:
            tally = state.tallies[(BytecodeCategory.FRESH, loc)] = _Tally.of(BytecodeCategory.FRESH)
        tally.roots.add(rp)
        tally.files += fresh_files
        tally.bytes += fresh_bytes
        # Every path here sorts after ``cache_dir/``: none can displace a smaller example.
        prefix = cache_dir + os.sep
        if len(tally.examples) < tally.limit or prefix < tally.examples[-1]:
            for name in sorted(fresh_names)[: tally.limit]:
                tally.example(prefix + name)


def _unique_roots(roots: Iterable[ScanRoot], unreadable: list[str]) -> list[ScanRoot]:
    """Roots by real path, each directory once (by device and inode), in the given order."""
    seen: set[tuple[int, int]] = set()
    result = []
    for r in roots:
        real = os.path.realpath(r.path)
        try:
            st = os.stat(real)
        except OSError:
            unreadable.append(r.path)
            continue
        if (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            result.append(ScanRoot(path=real, location=r.location))
    return result


def _tasks(
    roots: Sequence[ScanRoot], rules: _Rules, unreadable: list[str], *, depth: int
) -> list[_Task]:
    """Split the scan of ``roots`` into tasks: each directory at ``depth`` with everything below
    it (so one large package does not make one large task), then the directories above
    ``depth`` alone, with the listing read here. The recursive tasks come first: whoever takes
    the last tasks takes small ones, so the workers finish together."""
    skip = frozenset(os.path.normcase(r.path) for r in roots)
    deep: list[_Task] = []
    shallow: list[_Task] = []
    for root in roots:
        own = skip - {os.path.normcase(root.path)}
        level = [root.path]
        for _ in range(depth):
            below: list[str] = []
            for d in level:
                got = _listing(
                    d,
                    is_root=d == root.path,
                    skip=own,
                    skip_names=rules.skip_names,
                    interesting=rules.interesting,
                    unreadable=unreadable,
                )
                if got is not None:
                    names, picked, subdirs = got
                    shallow.append(_Task(root, d, False, own, (names, picked)))
                    below.extend(subdirs)
            level = below
        deep.extend(_Task(root=root, start=d, recurse=True, skip=own) for d in level)
    return deep + shallow


def _summary(state: _Scan, roots: Sequence[ScanRoot]) -> BytecodeSummary:
    prefix = state.target.pycache_prefix
    order = {m: i for i, m in enumerate(BytecodeCategory)}
    lorder = {m: i for i, m in enumerate(LocationClass)}
    groups = tuple(
        BytecodeGroup(
            category=cat,
            location_class=loc,
            files=t.files,
            bytes=t.bytes,
            examples=tuple(sorted(t.examples)),
            roots=tuple(sorted(t.roots)),
        )
        for (cat, loc), t in sorted(
            state.tallies.items(), key=lambda kv: (order[kv[0][0]], lorder[kv[0][1]])
        )
    )
    all_roots = tuple(r.path for r in roots) + ((prefix,) if prefix is not None else ())
    return BytecodeSummary(
        roots=all_roots,
        groups=groups,
        unreadable=tuple(sorted(set(state.unreadable))),
        scanned_files=state.scanned,
    )


def scan_bytecode(
    roots: Iterable[ScanRoot],
    target: BytecodeTarget,
    *,
    classify: Callable[[str], LocationClass] | None = None,
    progress: Callable[[int], None] | None = None,
    on_file: FileSink | None = None,
) -> BytecodeSummary:
    """Classify every ``.pyc`` under ``roots`` (and under ``target.pycache_prefix``), in this
    process (:class:`BackgroundScan` spreads the same work over worker processes).

    A directory reached from two roots (or twice through one) is scanned once; symlinks are
    not followed; unreadable directories are listed in the result, never raised. Memory holds
    only counts and a few example paths per group, whatever the number of files.

    :param classify: location class of a source directory, for bytecode under the
        ``pycache_prefix`` tree (default: ``other``).
    :param progress: called with the number of files judged so far, every 256 directories.
    :param on_file: called with ``(category, path, lstat)`` for every file judged, so that
        ``--fix`` can list all of them (the summary itself keeps only examples).
    """
    state = _Scan(target, progress, on_file)
    unique = _unique_roots(roots, state.unreadable)
    rules = _Rules.of(target)
    skip = frozenset(os.path.normcase(r.path) for r in unique)
    for root in unique:
        task = _Task(
            root=root, start=root.path, recurse=True, skip=skip - {os.path.normcase(root.path)}
        )
        _run_task(state, rules, task, progress)
    return _finish(state, unique, classify)


def _finish(
    state: _Scan, roots: Sequence[ScanRoot], classify: Callable[[str], LocationClass] | None
) -> BytecodeSummary:
    prefix = state.target.pycache_prefix
    if prefix is not None:
        _scan_prefix_tree(state, prefix, classify)
    state.finish()
    return _summary(state, roots)


class BackgroundScan:
    """:func:`scan_bytecode` in forked worker processes while the caller does other work.

    The walk is split into tasks (:func:`_tasks`); their indices wait in a pipe, and each of
    the workers reads the next index when it finishes a task (a 4-byte ``read`` of a pipe is
    atomic, so no task is taken twice), so the work spreads however uneven the tasks are. A
    forked worker already holds the tasks and the rules: only task indices go in and one
    partial result per worker comes out (pickled, through its own pipe, with progress frames
    before it). The checks that may need the target interpreter (hash-based pycs, timestamp
    candidates) run once, afterwards, here. Falls back to :func:`scan_bytecode` in this
    process when every file must reach ``on_file`` (``--fix``), where ``os.fork`` is
    unavailable, and while this process runs another thread (a fork copies locks another
    thread may hold; CPython 3.12 warns of it): in an IPython session, for one.

    :meth:`close` (also called by :meth:`result`) ends and reaps the workers.
    """

    WORKERS = 2
    DEPTH = 2
    #: At most this many indices wait in the queue pipe, written before the workers exist:
    #: 4 bytes each, 4 KiB in all, less than any pipe holds (Linux 64 KiB, macOS 16 KiB), so
    #: the write never blocks. More tasks than this go in groups of consecutive tasks.
    MAX_QUEUED = 1024

    def __init__(
        self,
        roots: Sequence[ScanRoot],
        target: BytecodeTarget,
        *,
        classify: Callable[[str], LocationClass] | None = None,
        progress: Callable[[int], None] | None = None,
        on_file: FileSink | None = None,
    ) -> None:
        self._progress = progress
        self._classify = classify
        self._summary: BytecodeSummary | None = None
        self._workers: list[tuple[int, int]] = []  # (pid, read end of its result pipe)
        if on_file is not None or not _can_fork():
            self._summary = scan_bytecode(
                roots, target, classify=classify, progress=progress, on_file=on_file
            )
            return
        self._state = _Scan(target, None)
        self._roots = _unique_roots(roots, self._state.unreadable)
        rules = _Rules.of(target)
        tasks = _tasks(self._roots, rules, self._state.unreadable, depth=self.DEPTH)
        group = -(-len(tasks) // self.MAX_QUEUED) or 1
        queue_r, queue_w = os.pipe()
        try:
            os.write(
                queue_w, b"".join(i.to_bytes(4, "little") for i in range(0, len(tasks), group))
            )
        finally:
            os.close(queue_w)  # the workers see end of file once the queue is empty
        try:
            for _ in range(self.WORKERS):
                out_r, out_w = os.pipe()
                pid = os.fork()
                if pid == 0:  # the worker: never returns
                    os.close(out_r)
                    _worker(
                        queue_r,
                        out_w,
                        tasks=tasks,
                        group=group,
                        rules=rules,
                        target=target,
                        report_progress=progress is not None,
                    )
                os.close(out_w)
                self._workers.append((pid, out_r))
        except OSError:
            self.close()
            raise
        finally:
            os.close(queue_r)

    def result(self) -> BytecodeSummary:
        """The summary (waits for the workers; re-raises a worker's exception, if any).

        :raises RuntimeError: a worker died without a result.
        """
        if self._summary is None:
            try:
                for part in self._collect():
                    self._state.merge(part)
            finally:
                self.close()
            self._summary = _finish(self._state, self._roots, self._classify)
        return self._summary

    def _collect(self) -> list[_Scan]:
        """Read every worker's frames until each closes its pipe: ``P`` progress (files judged
        so far by that worker), ``R`` its pickled partial scan, ``E`` its pickled exception."""
        import pickle
        import selectors

        buffers = {fd: bytearray() for _, fd in self._workers}
        done: dict[int, int] = {}
        parts: list[_Scan] = []
        with selectors.DefaultSelector() as sel:
            for fd in buffers:
                sel.register(fd, selectors.EVENT_READ)
            while sel.get_map():
                for key, _ in sel.select():
                    fd = int(key.fd)
                    chunk = os.read(fd, 1 << 16)
                    if not chunk:
                        sel.unregister(fd)
                        continue
                    buf = buffers[fd]
                    buf += chunk
                    while len(buf) >= 5:
                        size = int.from_bytes(buf[1:5], "little")
                        if len(buf) < 5 + size:
                            break
                        kind, payload = buf[:1], bytes(buf[5 : 5 + size])
                        del buf[: 5 + size]
                        if kind == b"P":
                            done[fd] = int.from_bytes(payload, "little")
                            if self._progress is not None:
                                self._progress(sum(done.values()))
                        elif kind == b"E":
                            raise pickle.loads(payload)
                        else:
                            part = _Scan(self._state.target, None)
                            (
                                part.tallies,
                                part.unreadable,
                                part.scanned,
                                part.hash_pending,
                                part.candidates,
                            ) = pickle.loads(payload)
                            parts.append(part)
                            done[fd] = part.scanned
                            if self._progress is not None:
                                self._progress(sum(done.values()))
        if len(parts) != len(self._workers):
            raise RuntimeError("a bytecode scan worker ended without a result")
        return parts

    def close(self) -> None:
        """End the workers that are still running and reap them (idempotent)."""
        import signal

        workers, self._workers = self._workers, []
        for pid, fd in workers:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)  # a finished worker is a zombie: no effect
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)

    def __del__(self) -> None:
        if getattr(self, "_workers", None):
            self.close()


def _can_fork() -> bool:
    import threading

    return hasattr(os, "fork") and threading.active_count() == 1


def _worker(
    queue: int,
    out: int,
    *,
    tasks: Sequence[_Task],
    group: int,
    rules: _Rules,
    target: BytecodeTarget,
    report_progress: bool,
) -> NoReturn:
    """The forked worker's life: take task indices from ``queue`` until it is empty, then
    write the partial scan to ``out`` and exit (``os._exit``: nothing of the parent's runs)."""
    import gc
    import pickle
    import time

    gc.disable()  # the scan makes no reference cycles; collections would only cost time
    status = 1
    try:
        state = _Scan(target, None)
        last = time.monotonic()
        while True:
            index = os.read(queue, 4)
            if len(index) < 4:
                break
            start = int.from_bytes(index, "little")
            for task in tasks[start : start + group]:
                _run_task(state, rules, task, None)
            if report_progress and time.monotonic() - last > 0.1:
                last = time.monotonic()
                _write_frame(out, b"P", state.scanned.to_bytes(8, "little"))
        payload = (
            state.tallies,
            state.unreadable,
            state.scanned,
            state.hash_pending,
            state.candidates,
        )
        _write_frame(out, b"R", pickle.dumps(payload, pickle.HIGHEST_PROTOCOL))
        status = 0
    except BaseException as exc:  # everything goes to the parent
        try:
            data = pickle.dumps(exc, pickle.HIGHEST_PROTOCOL)
            pickle.loads(data)
        except Exception:  # an exception that does not survive pickling
            data = pickle.dumps(RuntimeError(f"bytecode scan worker: {exc!r}"))
        with contextlib.suppress(OSError):
            _write_frame(out, b"E", data)
    finally:
        os._exit(status)


def _write_frame(fd: int, kind: bytes, payload: bytes) -> None:
    view = memoryview(kind + len(payload).to_bytes(4, "little") + payload)
    while view:
        view = view[os.write(fd, view) :]


def _scan_prefix_tree(
    state: _Scan, prefix: str, classify: Callable[[str], LocationClass] | None
) -> None:
    """Bytecode under ``sys.pycache_prefix``: ``<prefix>/<source dir>/<stem>.<tag>.pyc``
    mirrors the absolute source directory (POSIX: without its leading ``/``)."""
    target = state.target
    source_suffix = target.source_suffixes[0] if target.source_suffixes else ".py"
    prefix_abs = os.path.abspath(prefix)
    # The prefix mirrors absolute paths: site directories in it are entered.
    skip_names = _Rules.of(target, skip_site_dirs=False).skip_names
    stack = [prefix_abs]
    while stack:
        directory = stack.pop()
        got = _listing(
            directory,
            is_root=True,
            skip=frozenset(),
            skip_names=skip_names,
            interesting=(".pyc",),
            unreadable=state.unreadable,
        )
        if got is None:
            continue
        _names, entries, subdirs = got
        stack.extend(subdirs)
        rel = os.path.relpath(directory, prefix_abs)
        source_dir = os.sep + ("" if rel == "." else rel)
        loc = classify(source_dir) if classify is not None else LocationClass.OTHER
        for e in entries:
            if not _is_file(e):
                continue
            parsed = _parse_cache_name(e.name)
            if parsed is None or parsed[1] != target.cache_tag:
                state.scanned += 1
                state.record(BytecodeCategory.FOREIGN, loc, prefix, e.path, _stat(e))
                continue
            source = os.path.join(source_dir, parsed[0] + source_suffix)
            state.judge(e.path, source, parsed[2], loc, prefix)


def _is_file(e: os.DirEntry[str]) -> bool:
    try:
        return e.is_file(follow_symlinks=False)
    except OSError:
        return False


def _stat(e: os.DirEntry[str]) -> os.stat_result | None:
    try:
        return e.stat(follow_symlinks=False)
    except OSError:
        return None
