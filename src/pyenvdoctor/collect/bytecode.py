"""Bytecode files judged the way the *target's* import system judges them.

Rules, from CPython ``Lib/importlib/_bootstrap_external.py``:

* ``cache_from_source``: PEP 3147 ``<dir>/__pycache__/<stem>.<cache_tag>[.opt-N].pyc``
  (PEP 488 ``opt-N``); a file with another cache tag belongs to another interpreter.
* ``_classify_pyc``: a 16-byte header (PEP 552): magic number (must equal the target's
  ``MAGIC_NUMBER``), 32-bit little-endian flags (only bits 0 and 1 may be set), then either
  source mtime and size (timestamp pyc) or an 8-byte source hash (bit 0 set).
* ``_validate_timestamp_pyc``: fresh when the recorded mtime equals ``int(st_mtime)`` and
  the recorded size equals ``st_size``, both mod 2**32; else it is recompiled.
* ``_validate_hash_pyc`` / ``SourceLoader.get_code``: a hash-based pyc is checked against
  ``importlib.util.source_hash(source)`` when bit 1 (check_source) is set and the interpreter's
  ``--check-hash-based-pycs`` is ``default``, always with ``always``, never with ``never``. An
  unchecked hash pyc whose source changed still runs: the old code is executed.
* ``FileFinder``: a legacy ``<stem>.pyc`` beside the source (not in ``__pycache__``) is
  ignored when ``<stem>.py`` exists and imported when it does not (``SourcelessFileLoader``).
* A ``__pycache__`` entry whose source is gone is never imported: debris.

Source hashes use the target's key (its magic number) *and* its algorithm:
``_Py_KeyedHash`` is SipHash-2-4 up to 3.10 and SipHash-1-3 from 3.11 (``Python/pyhash.c``),
so when the host and target differ there the hashes are computed by the target itself.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from pyenvdoctor.model import BytecodeCategory, BytecodeGroup, BytecodeSummary, LocationClass

__all__ = [
    "MAX_EXAMPLES",
    "BytecodeTarget",
    "ScanRoot",
    "classify_header",
    "scan_bytecode",
]

#: Paths kept per (category, location class); counts and bytes cover all files.
MAX_EXAMPLES = 5

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
    }
)

HEADER_SIZE = 16


@dataclass(frozen=True, kw_only=True, slots=True)
class BytecodeTarget:
    """The facts of the target interpreter the rules need (from its probe).

    :ivar magic_number: ``importlib.util.MAGIC_NUMBER`` as 4 bytes.
    :ivar check_hash_based_pycs: ``default``, ``always`` or ``never``.
    :ivar executable: used to hash sources when the host's hash algorithm differs.
    """

    executable: str
    version_info: tuple[int, int]
    cache_tag: str
    magic_number: bytes
    check_hash_based_pycs: str
    source_suffixes: tuple[str, ...] = (".py",)


@dataclass(frozen=True, kw_only=True, slots=True)
class ScanRoot:
    """A directory to scan, and the location class its files count under."""

    path: str
    location: LocationClass


def classify_header(
    header: bytes, source: os.stat_result, target: BytecodeTarget, source_hash: bytes | None
) -> BytecodeCategory:
    """Classify a ``__pycache__`` pyc of the target's cache tag whose source exists.

    :param header: the first 16 bytes of the pyc (fewer if the file is shorter).
    :param source: ``os.stat`` of the source.
    :param source_hash: ``importlib.util.source_hash`` of the source with the target's key, or
        ``None`` when the pyc is timestamp-based.
    """
    if len(header) < HEADER_SIZE or header[:4] != target.magic_number:
        return BytecodeCategory.FOREIGN
    flags = int.from_bytes(header[4:8], "little")
    if flags & ~0b11:
        return BytecodeCategory.FOREIGN
    if not flags & 0b01:
        mtime = int.from_bytes(header[8:12], "little")
        size = int.from_bytes(header[12:16], "little")
        fresh = mtime == int(source.st_mtime) & 0xFFFFFFFF and size == source.st_size & 0xFFFFFFFF
        return BytecodeCategory.FRESH if fresh else BytecodeCategory.STALE
    check_source = bool(flags & 0b10)
    mode = target.check_hash_based_pycs
    checked = mode == "always" or (mode == "default" and check_source)
    if source_hash is not None and header[8:16] == source_hash:
        return BytecodeCategory.FRESH
    return BytecodeCategory.STALE if checked else BytecodeCategory.UNCHECKED_HASH


@dataclass
class _Tally:
    files: int = 0
    bytes: int = 0
    examples: list[str] = field(default_factory=list)
    roots: set[str] = field(default_factory=set)


def _hasher(target: BytecodeTarget) -> Callable[[Sequence[str]], dict[str, bytes]]:
    """Source hashing with the target's key and algorithm (see the module docstring)."""
    key = int.from_bytes(target.magic_number, "little")
    same_algorithm = (sys.version_info[:2] >= (3, 11)) == (tuple(target.version_info) >= (3, 11))

    def on_host(paths: Sequence[str]) -> dict[str, bytes]:
        import _imp

        result = {}
        for p in paths:
            try:
                with open(p, "rb") as f:
                    result[p] = _imp.source_hash(key, f.read())
            except OSError:
                continue
        return result

    def in_target(paths: Sequence[str]) -> dict[str, bytes]:
        code = (
            "import _imp, json, sys\n"
            "out = {}\n"
            "for p in json.load(sys.stdin):\n"
            "    try:\n"
            f"        out[p] = _imp.source_hash({key}, open(p, 'rb').read()).hex()\n"
            "    except OSError:\n"
            "        pass\n"
            "print(json.dumps(out))\n"
        )
        try:
            proc = subprocess.run(
                [target.executable, "-c", code],
                input=json.dumps(list(paths)).encode(),
                capture_output=True,
                timeout=120,
                check=False,
            )
            data = json.loads(proc.stdout.decode().strip().splitlines()[-1])
        except (OSError, subprocess.TimeoutExpired, ValueError, IndexError):
            return {}
        return {p: bytes.fromhex(h) for p, h in data.items()}

    return on_host if same_algorithm else in_target


def _parse_cache_name(name: str) -> tuple[str, str] | None:
    """``stem.tag[.opt-N].pyc`` -> (stem, tag); ``None`` for a name without a tag."""
    parts = name[: -len(".pyc")].split(".")
    if len(parts) >= 3 and parts[-1].startswith("opt-"):
        parts = parts[:-1]
    if len(parts) < 2:
        return None
    return ".".join(parts[:-1]), parts[-1]


def _walk(
    root: str, skip: frozenset[str], unreadable: list[str]
) -> Iterator[tuple[str, list[os.DirEntry[str]]]]:
    """Yield ``(directory, entries)`` below ``root``; symlinked directories are not followed,
    other roots and site directories not on ``sys.path`` (in ``skip``) not entered."""
    stack = [root]
    while stack:
        directory = stack.pop()
        try:
            with os.scandir(directory) as it:
                entries = list(it)
        except OSError:
            unreadable.append(directory)
            continue
        yield directory, entries
        for e in entries:
            if e.name in _SKIP_DIRS or e.name == "__pycache__":
                continue
            try:
                if not e.is_dir(follow_symlinks=False):
                    continue
            except OSError:
                continue
            child = e.path
            if os.path.normcase(child) in skip or e.name in ("site-packages", "dist-packages"):
                continue  # another root, or a site directory not on sys.path
            if os.path.exists(os.path.join(child, "pyvenv.cfg")):
                continue  # another virtual environment
            stack.append(child)


def scan_bytecode(
    roots: Iterable[ScanRoot],
    target: BytecodeTarget,
    *,
    skip_dirs: Iterable[str] = (),
) -> BytecodeSummary:
    """Classify every ``.pyc`` under ``roots``.

    A directory reached from two roots (or twice through one) is scanned once; symlinks are
    not followed; unreadable directories are listed in the result, never raised.

    :param skip_dirs: directories not to descend into (site directories that are not on the
        target's ``sys.path``, e.g. the base interpreter's site-packages inside its stdlib).
    """
    tallies: dict[tuple[BytecodeCategory, LocationClass], _Tally] = {}
    unreadable: list[str] = []
    scanned = 0
    seen_dirs: set[tuple[int, int]] = set()
    pending_hash: list[tuple[str, str, int, ScanRoot, bytes]] = []
    roots = list(roots)
    skip = frozenset(os.path.normcase(os.path.abspath(p)) for p in skip_dirs) | frozenset(
        os.path.normcase(os.path.abspath(r.path)) for r in roots
    )
    source_suffix = target.source_suffixes[0] if target.source_suffixes else ".py"

    def record(category: BytecodeCategory, root: ScanRoot, path: str, size: int) -> None:
        t = tallies.setdefault((category, root.location), _Tally())
        t.roots.add(root.path)
        t.files += 1
        t.bytes += size
        if len(t.examples) < MAX_EXAMPLES:
            t.examples.append(path)

    def source_stat(path: str) -> os.stat_result | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        return st if stat.S_ISREG(st.st_mode) else None

    for root in roots:
        own_skip = skip - {os.path.normcase(os.path.abspath(root.path))}
        for directory, entries in _walk(root.path, own_skip, unreadable):
            try:
                st = os.stat(directory)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in seen_dirs:
                continue
            seen_dirs.add((st.st_dev, st.st_ino))
            names = {e.name for e in entries}
            for e in entries:
                if e.name.endswith(".pyc") and _is_file(e):
                    scanned += 1
                    stem = e.name[:-4]
                    size = _size(e)
                    has_source = any(stem + s in names for s in target.source_suffixes)
                    category = (
                        BytecodeCategory.ORPHANED if has_source else BytecodeCategory.SOURCELESS
                    )
                    record(category, root, e.path, size)
            if "__pycache__" not in names:
                continue
            cache_dir = os.path.join(directory, "__pycache__")
            try:
                with os.scandir(cache_dir) as it:
                    cache_entries = [c for c in it if c.name.endswith(".pyc") and _is_file(c)]
            except OSError:
                unreadable.append(cache_dir)
                continue
            for c in cache_entries:
                scanned += 1
                size = _size(c)
                parsed = _parse_cache_name(c.name)
                if parsed is None or parsed[1] != target.cache_tag:
                    record(BytecodeCategory.FOREIGN, root, c.path, size)
                    continue
                src = os.path.join(directory, parsed[0] + source_suffix)
                sst = source_stat(src) if parsed[0] + source_suffix in names else None
                if sst is None:
                    record(BytecodeCategory.ORPHANED, root, c.path, size)
                    continue
                try:
                    with open(c.path, "rb") as f:
                        header = f.read(HEADER_SIZE)
                except OSError:
                    unreadable.append(c.path)
                    continue
                is_hash = len(header) >= 8 and bool(int.from_bytes(header[4:8], "little") & 1)
                if is_hash and header[:4] == target.magic_number:
                    pending_hash.append((c.path, src, size, root, header))
                    continue
                record(classify_header(header, sst, target, None), root, c.path, size)

    if pending_hash:
        hashes = _hasher(target)(sorted({p[1] for p in pending_hash}))
        for pyc, src, size, root, header in pending_hash:
            sst = source_stat(src)
            if sst is None:
                record(BytecodeCategory.ORPHANED, root, pyc, size)
                continue
            record(classify_header(header, sst, target, hashes.get(src)), root, pyc, size)

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
            tallies.items(), key=lambda kv: (_order(kv[0][0]), _order(kv[0][1]))
        )
    )
    return BytecodeSummary(
        roots=tuple(r.path for r in roots),
        groups=groups,
        unreadable=tuple(sorted(set(unreadable))),
        scanned_files=scanned,
    )


def _order(member: BytecodeCategory | LocationClass) -> int:
    return list(type(member)).index(member)


def _is_file(e: os.DirEntry[str]) -> bool:
    try:
        return e.is_file(follow_symlinks=False)
    except OSError:
        return False


def _size(e: os.DirEntry[str]) -> int:
    try:
        return e.stat(follow_symlinks=False).st_size
    except OSError:
        return 0
