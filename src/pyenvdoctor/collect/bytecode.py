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
* ``FileFinder.find_spec``: for module ``<stem>`` a directory ``<stem>/`` holding an
  ``__init__`` with a loader suffix wins (a package), then ``_get_supported_file_loaders``
  order: extension suffixes (``EXTENSION_SUFFIXES`` order), source, then ``.pyc``; each only if
  ``_path_isfile`` (``stat``: symlinks followed, a dangling one does not count). The pyc of a
  source that loses is never read (``shadowed``); a legacy ``<stem>.pyc`` that wins is loaded by
  ``SourcelessFileLoader`` (``_classify_pyc`` then ``_compile_bytecode``: a bad header or body
  makes the import fail). A module name has no dot: ``m.cpython-311.pyc`` outside
  ``__pycache__`` or ``__pycache__/a.b.cpython-311.pyc`` is never read.
* ``cache_from_source(optimization=sys.flags.optimize)``: only ``<stem>.<tag>.pyc`` (optimize
  0) or ``<stem>.<tag>.opt-N.pyc`` (optimize N) is read; other levels and ``.opt-0`` never.
* ``SourceLoader.get_code``: a rejected header (``ImportError``/``EOFError`` from
  ``_classify_pyc`` or the validation: short, wrong magic, unknown flags, mismatch) means the
  source is compiled and the pyc rewritten by ``_write_atomic`` (a temporary file, then
  ``os.replace``: it fails when bytecode writing is off, the directory is not writable, or the
  pyc or directory is immutable/append-only). An accepted header whose body does not
  unmarshal into a code object makes the import fail: ``_compile_bytecode`` is outside that
  ``try`` (``broken``). A body cut short anywhere is found without the target: a pyc is taken
  as fresh only when it ends exactly where its module code object's last fields end
  (:func:`_body_complete`); any other is unmarshalled in the target.

Source hashes use the target's key (its magic number) *and* its algorithm: ``_Py_KeyedHash``
is SipHash-2-4 up to 3.10 and SipHash-1-3 from 3.11 (``Python/pyhash.c``); when host and
target differ there, and always for code comparison, the target itself does the work (one
subprocess for all files).
"""

from __future__ import annotations

import bisect
import contextlib
import os
import stat
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
    "BackgroundScan",
    "BytecodeTarget",
    "FileSink",
    "ScanRoot",
    "classify_header",
    "judge_file",
    "scan_bytecode",
]

#: Example paths per (category, location class); every path is kept (``paths``) but fresh ones.
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
        "__pycache__",
    }
)
_SITE_DIR_NAMES = ("site-packages", "dist-packages")

HEADER_SIZE = 16
#: The header and the first byte of the body: marshal's type code of a code object, ``c``
#: (0x63), with ``FLAG_REF`` (0x80) or without (``Python/marshal.c``).
_READ_SIZE = HEADER_SIZE + 1
_CODE_TYPES = (0x63, 0xE3)
#: A pyc whose ctime is later than its mtime by more than this was changed after it was written
#: (``chmod``, ``chattr``, a copy that kept mtimes): its mtime no longer dates the write.
_CTIME_SLACK_NS = 50_000_000
#: The module code object's ``co_name`` as marshal writes it: ``TYPE_SHORT_ASCII_INTERNED``
#: (``Z``, with or without ``FLAG_REF``), length 8 (``Python/marshal.c`` ``w_object``).
_MODULE_NAME = b"\x08<module>"
_SHORT_ASCII = (0x5A, 0x7A)  # TYPE_SHORT_ASCII_INTERNED, TYPE_SHORT_ASCII (FLAG_REF masked)
#: TYPE_STRING (bytes), TYPE_ASCII, TYPE_ASCII_INTERNED, TYPE_UNICODE, TYPE_INTERNED: a 4-byte
#: length, then the data.
_SIZED = frozenset({0x73, 0x61, 0x41, 0x75, 0x74})
#: The bytes read from the end of a pyc for :func:`_body_complete`: the module code object's
#: last fields fit in them for 99% of the pycs of a 266-distribution venv (the others are
#: read whole).
_TAIL = 4096
#: A pyc up to this size is read whole in one ``read``: a copy of a few KiB more costs less
#: than the ``pread`` of its tail it saves (two thirds of the benchmark venv's pycs over
#: :data:`_TAIL` are under it).
_WHOLE = 16384
_POSIX = os.path.normcase("A") == "A"  # normcase is the identity: skip it in the hot loop

#: Receives every judged file: ``(category, path, its stat at judging time)``.
FileSink = Callable[[BytecodeCategory, str, os.stat_result], None]
_FIELDS = struct.Struct("<III")  # flags, then mtime and size (or the first half of a hash)
_O_RDONLY = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)
_O_DIRECTORY = _O_RDONLY | getattr(os, "O_DIRECTORY", 0)
#: Reading a pyc follows a symlink, as the import system does; never blocks on a FIFO.
_O_READ = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)
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
    :ivar optimize: ``sys.flags.optimize``: which ``opt-N`` name is read.
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
    optimize: int = 0

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
            optimize=_int_flag(interpreter.flags.get("optimize")),
        )


def _int_flag(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


#: Per marshal type byte: how the object's length is written (``Python/marshal.c``
#: ``r_object``): 1 TYPE_REF (a 4-byte index), 2 short ASCII (a 1-byte length), 3 a 4-byte
#: length (bytes, ASCII, interned, unicode), 0 any other type; FLAG_REF (0x80) either way.
_LENGTH_KIND = bytes(
    1 if b & 0x7F == 0x72 else 2 if b & 0x7F in _SHORT_ASCII else 3 if b & 0x7F in _SIZED else 0
    for b in range(256)
)
_U32 = struct.Struct("<I").unpack_from


def _skip_object(data: bytes, pos: int) -> int:
    """The offset after the marshalled str/bytes object or reference at ``pos`` (a larger
    offset than ``len(data)`` when cut short); raises IndexError/struct.error past the end,
    ValueError for another type."""
    kind = _LENGTH_KIND[data[pos]]
    if kind == 1:
        return pos + 5
    if kind == 2:
        return pos + 2 + data[pos + 1]
    if kind == 3:
        length: int = _U32(data, pos + 1)[0]
        return pos + 5 + length
    raise ValueError(pos)


def _body_complete(data: bytes, qualname: bool) -> bool:
    """Whether a pyc (``data``: the whole file, or its last bytes) ends exactly where its
    module code object does, judged from the end: the last ``co_name`` ``<module>``, then
    (3.11+) ``co_qualname``, the raw 4-byte ``co_firstlineno``, ``co_linetable``/``co_lnotab``
    and (3.11+) ``co_exceptiontable``, the last fields ``w_object`` writes for a code object
    (``Python/marshal.c``, ``TYPE_CODE``). ``True`` for every pyc a compile writes (checked on
    the standard libraries of 3.8-3.13 and the 43,479 pycs of the benchmark venv); a body cut
    anywhere fails it (none of a million random cuts passed), and so does anything unusual (a
    code object not named ``<module>``, trailing bytes, a tail too short to hold those
    fields), which the caller then reads whole or unmarshals in the target: ``False`` means
    "not proven whole", not "broken".

    :param qualname: the target is 3.11+ (code objects carry ``co_qualname`` and
        ``co_exceptiontable``).
    """
    i = data.rfind(_MODULE_NAME)
    if i < 1 or _LENGTH_KIND[data[i - 1]] != 2:  # co_name: short ASCII, length 8
        return False
    try:
        if qualname:  # co_qualname, co_firstlineno, co_linetable, co_exceptiontable
            end = _skip_object(data, _skip_object(data, _skip_object(data, i + 9) + 4))
        else:  # co_firstlineno, co_lnotab/co_linetable
            end = _skip_object(data, i + 13)
    except (IndexError, ValueError, struct.error):
        return False
    return end == len(data)


def _file_complete(path: str, qualname: bool) -> bool:
    """:func:`_body_complete` of the pyc at ``path`` read from its end in growing pieces (64
    KiB, 1 MiB, then whole; ``False`` if it cannot be read): for the few pycs whose module
    code object's last fields are longer than :data:`_TAIL`. Memory stays that of the piece."""
    try:
        fd = os.open(path, _O_READ)
    except OSError:
        return False
    try:
        size = os.fstat(fd).st_size
        for piece in (1 << 16, 1 << 20, size):
            if _body_complete(_pread(fd, min(piece, size), max(size - piece, 0)), qualname):
                return True
            if piece >= size:
                break
        return False
    except OSError:
        return False
    finally:
        os.close(fd)


def _pread_seek(fd: int, size: int, offset: int) -> bytes:
    """``os.pread`` where there is none (Windows): seek, then read."""
    os.lseek(fd, offset, os.SEEK_SET)
    return os.read(fd, size)


_pread: Callable[[int, int, int], bytes] = getattr(os, "pread", _pread_seek)


@dataclass(frozen=True, kw_only=True, slots=True)
class ScanRoot:
    """A directory to scan, and the location class its files count under.

    :ivar importable_only: enter only regular packages (directories with an ``__init__``)
        below it: for a working directory that is the home directory or ``/``.
    """

    path: str
    location: LocationClass
    importable_only: bool = False


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
    JSON. Returns ``None`` when it fails (the caller then cannot confirm, and says so). It runs
    in a process group of its own, killed at the end (:mod:`pyenvdoctor.process`), so a
    grandchild the target's start-up leaves behind holding stdout does not hang the scan."""
    import json  # only when needed: the common scan never starts a subprocess

    from pyenvdoctor import process

    try:
        done = process.run(
            # -I -S: nothing of the user's directory, environment or site is imported (the
            # code needs only builtins, json and marshal; 3.13's -c imports linecache).
            [executable, "-I", "-S", "-c", code],
            input=json.dumps(payload).encode(),
            timeout=600,
        )
        if done.timed_out:
            return None
        return json.loads(done.stdout.decode().strip().splitlines()[-1])
    except (OSError, ValueError, IndexError, RecursionError):
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

# For each (pyc, source or None, optimize): "broken" when the body does not unmarshal into a
# code object (what _compile_bytecode raises on), "ok" for a sourceless one that does, else
# "same"/"differs" from a compile of the current source ("differs" when that compile fails: the
# interpreter never compiles it while the header matches).
_COMPARE_CODE = """\
import json, marshal, sys
out = {}
for pyc, src, opt in json.load(sys.stdin):
    try:
        with open(pyc, 'rb') as f:
            old = marshal.loads(f.read()[16:])
    except OSError:
        continue
    except Exception:
        out[pyc] = 'broken'
        continue
    if type(old).__name__ != 'code':
        out[pyc] = 'broken'
        continue
    if src is None:
        out[pyc] = 'ok'
        continue
    try:
        with open(src, 'rb') as f:
            data = f.read()
    except OSError:
        continue
    try:
        new = compile(data, src, 'exec', dont_inherit=True, optimize=opt)
    except Exception:
        out[pyc] = 'differs'
        continue
    out[pyc] = 'same' if old == new else 'differs'
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
    target: BytecodeTarget, items: Sequence[tuple[str, str | None, int]]
) -> dict[str, str]:
    """For each ``(pyc, source, optimize)``, in the target: ``broken`` (the body does not
    unmarshal into a code object), ``ok`` (sourceless, loads), ``same`` or ``differs`` (code
    objects compared with ``==``: bytecode, constants, names, line table; a source that does
    not compile differs). Files it could not read are absent; ``{}`` when the target fails."""
    if not items:
        return {}
    data = _run_in_target(target.executable, _COMPARE_CODE, [list(i) for i in items])
    return {k: v for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) else {}


def _parse_cache_name(name: str) -> tuple[str, str, int | None] | None:
    """``stem.tag[.opt-N].pyc`` -> (stem, tag, N or ``None`` without an ``opt-`` part);
    ``None`` for a name without a tag, or whose N is not ASCII decimal digits (the only names
    ``cache_from_source`` computes, from ``str(sys.flags.optimize)``: ``opt-²`` is
    ``str.isdigit()`` but no ``int``)."""
    parts = name[:-4].split(".")
    optimize: int | None = None
    if len(parts) >= 3 and parts[-1].startswith("opt-"):
        digits = parts[-1][4:]
        optimize = int(digits) if digits.isascii() and digits.isdigit() else -1
        parts = parts[:-1]
    if len(parts) < 2 or (optimize is not None and optimize < 0):
        return None
    return ".".join(parts[:-1]), parts[-1], optimize


def _fs_flags(path: str, *, follow: bool = False) -> int:
    """Linux inode flags (``FS_IOC_GETFLAGS``) of ``path``; 0 where unsupported or a link."""
    if not sys.platform.startswith("linux"):
        return 0
    import fcntl

    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | (0 if follow else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except PermissionError:
        return _statx_attributes(path, follow=follow)
    except OSError:
        return 0
    try:
        buf = fcntl.ioctl(fd, 0x80086601, b"\0" * 8)  # FS_IOC_GETFLAGS = _IOR('f', 1, long)
        return int.from_bytes(buf[:4], "little")
    except OSError:
        return 0
    finally:
        os.close(fd)


def _statx_attributes(path: str, *, follow: bool) -> int:
    """``stx_attributes`` of ``statx(2)`` (Linux 4.11+, glibc 2.28+) for a file this user
    cannot open: ``STATX_ATTR_IMMUTABLE`` (0x10) and ``STATX_ATTR_APPEND`` (0x20) have the
    values of the ``FS_*_FL`` flags. 0 where ``statx`` is unavailable or fails."""
    import ctypes

    try:
        statx = ctypes.CDLL(None, use_errno=True).statx
    except (OSError, AttributeError):
        return 0
    buf = ctypes.create_string_buffer(256)  # struct statx: 256 bytes
    at_fdcwd, nofollow = -100, 0x100  # AT_FDCWD, AT_SYMLINK_NOFOLLOW
    flags = 0 if follow else nofollow
    if statx(at_fdcwd, os.fsencode(path), flags, 0, buf) != 0:
        return 0
    return int.from_bytes(buf.raw[8:16], "little") & 0xFFFFFFFF  # __u64 stx_attributes


#: ``FS_IMMUTABLE_FL`` and ``FS_APPEND_FL`` (``linux/fs.h``): no rename over or within.
_NO_REPLACE_FLAGS = 0x10 | 0x20

#: What this user may replace in a directory (:func:`_replace_rule`).
_CAN_REPLACE, _OWN_FILES_ONLY, _CANNOT_REPLACE = 0, 1, 2


def _replace_rule(directory: str) -> int:
    """Whether this user can ``os.replace`` files in ``directory``: not at all (not writable,
    or immutable/append-only), only its own files (sticky, and not the directory's owner or
    root: ``rename(2)`` EPERM), or any."""
    if not os.access(directory, os.W_OK) or _fs_flags(directory, follow=True) & _NO_REPLACE_FLAGS:
        return _CANNOT_REPLACE
    euid = os.geteuid() if hasattr(os, "geteuid") else 0
    if euid != 0:
        try:
            st = os.stat(directory)
        except OSError:
            return _CANNOT_REPLACE
        if st.st_mode & stat.S_ISVTX and st.st_uid != euid:
            return _OWN_FILES_ONLY
    return _CAN_REPLACE


@dataclass
class _Tally:
    """Counts of one (category, location class); ``examples``: every path (``limit``
    ``None``), or the ``limit`` smallest, sorted, so that which files are named does not depend
    on the order of the walk (workers finish in any order)."""

    limit: int | None
    files: int = 0
    bytes: int = 0
    examples: list[str] = field(default_factory=list)
    roots: set[str] = field(default_factory=set)

    def example(self, path: str) -> None:
        """Keep ``path`` (if it is among the ``limit`` smallest seen)."""
        examples = self.examples
        if self.limit is None:
            examples.append(path)
        elif len(examples) < self.limit:
            bisect.insort(examples, path)
        elif path < examples[-1]:
            bisect.insort(examples, path)
            examples.pop()

    @classmethod
    def of(cls, category: BytecodeCategory) -> _Tally:
        return cls(limit=MAX_EXAMPLES if category is BytecodeCategory.FRESH else None)


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
        self.hash_pending: list[
            tuple[str, str, bytes, os.stat_result, str, LocationClass, bool]
        ] = []
        self.candidates: list[tuple[str, str | None, int, os.stat_result, str, LocationClass]] = []
        self.progress = progress
        self.writable: dict[str, int] = {}  # cache directory -> _replace_rule

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
            # The sink gets the file's own lstat (a symlinked pyc is the link: ``--fix``
            # removes at most the link, never what it points to).
            own = _lstat(path)
            if own is not None:
                self.on_file(category, path, own)
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
            if mine.limit is None:
                mine.examples.extend(t.examples)
            else:
                for path in t.examples:
                    mine.example(path)
        self.unreadable.extend(other.unreadable)
        self.scanned += other.scanned
        self.hash_pending.extend(other.hash_pending)
        self.candidates.extend(other.candidates)

    def stale(self, pyc: str) -> BytecodeCategory:
        """STALE, or STALE_NOT_REWRITTEN where the target will not replace ``pyc``: bytecode
        writing off, its directory not writable or immutable/append-only, the pyc itself
        immutable/append-only, or the directory sticky (``chmod +t``) and neither it nor the
        pyc (the link, for a symlink) ours. ``SourceLoader.set_data`` -> ``_write_atomic``:
        a temporary file in the directory, then ``os.replace`` over the pyc, which
        ``rename(2)`` refuses (EPERM) in those cases; a failure is only logged (``-v``: "could
        not create"). Root passes the mode bits (``os.access``) and the sticky rule, not the
        inode flags (``linux/fs.h`` ``FS_IMMUTABLE_FL``, ``FS_APPEND_FL``)."""
        if self.target.dont_write_bytecode:
            return BytecodeCategory.STALE_NOT_REWRITTEN
        cache_dir = os.path.dirname(pyc)
        w = self.writable.get(cache_dir)
        if w is None:
            w = self.writable[cache_dir] = _replace_rule(cache_dir)
        if w == _CANNOT_REPLACE or _fs_flags(pyc) & _NO_REPLACE_FLAGS:
            return BytecodeCategory.STALE_NOT_REWRITTEN
        if w == _OWN_FILES_ONLY:
            st = _lstat(pyc)
            if st is None or st.st_uid != os.geteuid():
                return BytecodeCategory.STALE_NOT_REWRITTEN
        return BytecodeCategory.STALE

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
        complete: bool,
    ) -> None:
        """Record one pyc at the target's own cache path of ``source``, which import reads:
        its first :data:`_READ_SIZE` bytes and stats, and its source's, are given;
        ``complete``: :func:`_body_complete` of the whole file."""
        if len(header) >= HEADER_SIZE and header[:4] == self.target.magic_number:
            flags, mtime, size = _FIELDS.unpack_from(header, 4)
            if not flags:  # timestamp pyc: _validate_timestamp_pyc
                if mtime != int(sst.st_mtime) & 0xFFFFFFFF or size != sst.st_size & 0xFFFFFFFF:
                    category = self.stale(pyc)
                elif len(header) < _READ_SIZE or header[HEADER_SIZE] not in _CODE_TYPES:
                    category = BytecodeCategory.BROKEN
                elif (
                    sst.st_ctime_ns >= pst.st_mtime_ns
                    or pst.st_ctime_ns - pst.st_mtime_ns > _CTIME_SLACK_NS
                    or not complete
                ):
                    # Valid header, but the source may have changed after the pyc was written
                    # (the header records only mtime and size), or the body may be cut short
                    # (_compile_bytecode's marshal.loads raises EOFError outside get_code's
                    # try: the import fails): unmarshal and compare the code in the target.
                    self.candidates.append((pyc, source, optimize, pst, root, location))
                    return
                else:
                    category = BytecodeCategory.FRESH
                self.record(category, location, root, pyc, pst)
                return
            if flags & 0b01 and not flags & ~0b11:  # hash-based: one batch later
                self.hash_pending.append((pyc, source, header, pst, root, location, complete))
                return
        # Short, wrong magic, unknown flags: _classify_pyc raises, get_code recompiles.
        self.record(self.stale(pyc), location, root, pyc, pst)

    def sourceless(
        self, pyc: str, location: LocationClass, root: str, *, pst: os.stat_result, header: bytes
    ) -> None:
        """Record a legacy pyc that ``FileFinder`` picks (``SourcelessFileLoader``): its header
        must pass ``_classify_pyc`` (no mtime/hash check) and its body must load."""
        if (
            len(header) < _READ_SIZE
            or header[:4] != self.target.magic_number
            or int.from_bytes(header[4:8], "little") & ~0b11
            or header[HEADER_SIZE] not in _CODE_TYPES
        ):
            self.record(BytecodeCategory.BROKEN, location, root, pyc, pst)
            return
        self.candidates.append((pyc, None, 0, pst, root, location))

    def finish(self) -> None:
        """Hash-based pycs and timestamp candidates: one batch each, in the target if needed."""
        t = self.target
        if self.hash_pending:
            hashes = _source_hashes(t, sorted({p[1] for p in self.hash_pending}))
            for pyc, src, header, pst, root, loc, complete in self.hash_pending:
                flags = int.from_bytes(header[4:8], "little")
                mode = t.check_hash_based_pycs
                checked = mode == "always" or (mode == "default" and bool(flags & 0b10))
                matches = hashes.get(src) == header[8:16]
                if checked and not matches:  # _validate_hash_pyc raises: recompiled
                    self.record(self.stale(pyc), loc, root, pyc, pst)
                elif len(header) < _READ_SIZE or header[HEADER_SIZE] not in _CODE_TYPES:
                    self.record(BytecodeCategory.BROKEN, loc, root, pyc, pst)
                elif matches and complete:
                    self.record(BytecodeCategory.FRESH, loc, root, pyc, pst)
                else:  # not checked, source changed: it runs, old code if the code differs
                    self.candidates.append((pyc, src, t.optimize, pst, root, loc))
        if self.candidates:
            same = _same_code(t, [(c[0], c[1], c[2]) for c in self.candidates])
            for pyc, source, _opt, pst, root, loc in self.candidates:
                # Unconfirmable (the target could not tell): the header is valid, so the
                # interpreter runs it; report it as it stands.
                answer = same.get(pyc)
                if answer == "broken":
                    category = BytecodeCategory.BROKEN
                elif source is None:
                    category = BytecodeCategory.SOURCELESS
                elif answer == "differs":
                    category = BytecodeCategory.STALE_ACCEPTED
                else:
                    category = BytecodeCategory.FRESH
                self.record(category, loc, root, pyc, pst)


def judge_file(pyc: str, source: str | None, target: BytecodeTarget) -> BytecodeCategory | None:
    """The category of one bytecode file by the same rules as :func:`scan_bytecode`
    (``None`` when ``pyc`` does not exist or is not a bytecode file a scan would judge).
    ``source``: its source (for a ``__pycache__`` or prefix pyc), ``None`` for a legacy pyc."""
    if not pyc.endswith(".pyc") or not os.path.isfile(pyc):
        return None
    state = _Scan(target, None)
    rules = _Rules.of(target)
    root = ScanRoot(path="", location=LocationClass.OTHER)
    if source is None:
        directory = os.path.dirname(pyc) or os.curdir
        names = _names(directory)
        _judge_legacy(state, rules, root=root, directory=directory, names=names, path=pyc)
    else:
        directory = os.path.dirname(source) or os.curdir
        names = _names(directory)
        entry = next(
            (e for e in _scan_pycs(os.path.dirname(pyc)) if e.path == pyc),
            None,
        )
        if entry is None:
            return None
        _judge_cache_dir(
            state,
            rules,
            root=root,
            directory=directory,
            cache_dir=os.path.dirname(pyc),
            cache_fd=None,
            names=names,
            entries=[entry],
            ext_stems=_ext_stems(names, rules),
        )
    state.finish()
    if state.tallies:
        return next(iter(state.tallies))[0]
    return None


def _names(directory: str) -> set[str]:
    try:
        return set(os.listdir(directory))
    except OSError:
        return set()


def _scan_pycs(cache_dir: str) -> list[os.DirEntry[str]]:
    """The ``.pyc`` entries of a cache directory that are files (symlinks followed, as the
    import system reads them; not FIFOs or directories).

    :raises OSError: the directory cannot be read."""
    with os.scandir(cache_dir) as it:
        return [c for c in it if c.name.endswith(".pyc") and _is_file(c)]


def _ext_stems(names: Iterable[str], rules: _Rules) -> frozenset[str]:
    """Every ``stem`` such that ``stem + suffix`` is in ``names`` for an extension suffix."""
    return frozenset(n[: -len(suf)] for n in names for suf in rules.ext_suffixes if n.endswith(suf))


def _winner(directory: str, stem: str, names: set[str], rules: _Rules) -> str | None:
    """What ``FileFinder.find_spec`` picks for module ``stem`` in ``directory``: ``"/"`` for a
    package directory (``stem/__init__<suffix>`` is a file), else the first loader suffix
    (extensions, source, ``.pyc``) with which ``stem`` names a file; ``None`` for none (a
    namespace portion or nothing). ``_path_isfile`` follows symlinks."""
    isfile, join = os.path.isfile, os.path.join
    if stem in names:
        base = join(directory, stem)
        for suffix in rules.loader_suffixes:
            if isfile(join(base, "__init__" + suffix)):
                return "/"
    for suffix in rules.loader_suffixes:
        if stem + suffix in names and isfile(join(directory, stem + suffix)):
            return suffix
    return None


def _listing(
    directory: str,
    *,
    is_root: bool,
    skip: frozenset[str],
    skip_names: frozenset[str],
    interesting: tuple[str, ...],
    unreadable: list[str],
    packages_only: tuple[str, ...] = (),
) -> tuple[set[str], list[os.DirEntry[str]], list[str]] | None:
    """One pass over a directory: ``(names, entries whose name ends with interesting,
    subdirectories to enter)``; ``None`` when unreadable or another virtual environment.

    Symlinked directories are not entered; nor are ``skip`` (other roots), ``skip_names``
    (site directories that are not roots, tool caches, ``__pycache__``, which the caller
    reads) and directories holding a ``pyvenv.cfg``; with ``packages_only`` (loader suffixes)
    only directories holding an ``__init__`` with one of them.
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
    if packages_only:
        isfile, join = os.path.isfile, os.path.join
        subdirs = [
            d for d in subdirs if any(isfile(join(d, "__init__" + s)) for s in packages_only)
        ]
    return names, picked, subdirs


@dataclass(frozen=True, slots=True)
class _Rules:
    """What a scan needs to know besides the target: suffixes and directories to pass by."""

    source_suffix: str
    ext_suffixes: tuple[str, ...]
    interesting: tuple[str, ...]
    plain_suffix: str
    skip_names: frozenset[str]
    #: ``_get_supported_file_loaders`` order: extension suffixes as the target lists them,
    #: source, bytecode.
    loader_suffixes: tuple[str, ...] = ()
    #: The ``opt-N`` of the only name read (``None``: the plain name), and that name's suffix.
    optimize: int | None = None

    @classmethod
    def of(cls, target: BytecodeTarget, *, skip_site_dirs: bool = True) -> _Rules:
        ext = tuple(sorted(target.extension_suffixes, key=len, reverse=True))
        source_suffix = target.source_suffixes[0] if target.source_suffixes else ".py"
        optimize = target.optimize or None
        opt = f".opt-{optimize}" if optimize else ""
        return cls(
            source_suffix=source_suffix,
            ext_suffixes=ext,
            interesting=(".pyc", *ext),
            plain_suffix="." + target.cache_tag + opt + ".pyc",
            skip_names=_SKIP_DIRS | frozenset(_SITE_DIR_NAMES) if skip_site_dirs else _SKIP_DIRS,
            loader_suffixes=(*target.extension_suffixes, source_suffix, ".pyc"),
            optimize=optimize,
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
            packages_only=rules.loader_suffixes if task.root.importable_only else (),
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
    ext_stems: frozenset[str] = frozenset()
    if len(picked) > 0:
        ext_stems = _ext_stems((e.name for e in picked if not e.name.endswith(".pyc")), rules)
    for e in picked:
        name = e.name
        if name.endswith(".pyc"):
            _judge_legacy(
                state, rules, root=root, directory=directory, names=names, path=e.path, entry=e
            )
            continue
        stem = next(name[: -len(s)] for s in rules.ext_suffixes if name.endswith(s))
        if (
            stem + source_suffix in names
            and "." not in stem
            and _winner(directory, stem, names, rules) == name[len(stem) :]
            and os.path.isfile(os.path.join(directory, stem + source_suffix))
        ):
            state.record(BytecodeCategory.EXTENSION_BESIDE_SOURCE, loc, rp, e.path, _stat(e))
    if "__pycache__" not in names:
        return
    cache_dir = os.path.join(directory, "__pycache__")
    try:
        cache_entries = _scan_pycs(cache_dir)
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
            ext_stems=ext_stems,
        )
    finally:
        if cache_fd is not None:
            os.close(cache_fd)


def _read_head(path: str, dir_fd: int | None = None) -> tuple[os.stat_result, bytes] | None:
    """``fstat`` and the first :data:`_READ_SIZE` bytes of a regular file (symlinks followed,
    FIFOs and devices refused); ``None`` when it cannot be read."""
    try:
        fd = os.open(path, _O_READ, dir_fd=dir_fd)
    except OSError:
        return None
    try:
        pst = os.fstat(fd)
        if not stat.S_ISREG(pst.st_mode):
            return None
        return pst, os.read(fd, _READ_SIZE)
    except OSError:
        return None
    finally:
        os.close(fd)


def _judge_legacy(
    state: _Scan,
    rules: _Rules,
    *,
    root: ScanRoot,
    directory: str,
    names: set[str],
    path: str,
    entry: os.DirEntry[str] | None = None,
) -> None:
    """A ``<stem>.pyc`` outside ``__pycache__``: never read when ``stem`` is not a module name
    (``ignored``) or ``FileFinder`` picks a package, extension or source first (``shadowed``);
    else loaded by ``SourcelessFileLoader`` (``sourceless``, or ``broken`` if it cannot)."""
    if entry is not None and not _is_file(entry):
        return
    stem = os.path.basename(path)[:-4]
    loc, rp = root.location, root.path
    state.scanned += 1
    if "." in stem or not stem:
        state.record(BytecodeCategory.IGNORED, loc, rp, path, _lstat(path))
        return
    if _winner(directory, stem, names, rules) != ".pyc":
        state.record(BytecodeCategory.SHADOWED, loc, rp, path, _lstat(path))
        return
    got = _read_head(path)
    if got is None:
        if not os.access(path, os.R_OK):  # SourcelessFileLoader.get_data raises: import fails
            state.record(BytecodeCategory.BROKEN, loc, rp, path, _lstat(path))
        else:
            state.unreadable.append(path)
        return
    state.sourceless(path, loc, rp, pst=got[0], header=got[1])


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
    ext_stems: frozenset[str],
) -> None:
    """Judge every pyc of one ``__pycache__`` (or of one directory of the
    ``pycache_prefix`` tree) against the sources of ``directory`` (its listing: ``names``),
    with the common verdict (a timestamp pyc whose header matches its source, written after
    the source last changed: fresh) decided inline and counted once per directory.

    The hot loop of a scan: each pyc costs an ``openat``, ``fstat``, ``read`` (the whole pyc
    up to :data:`_WHOLE` bytes, else its header and a ``pread`` of its last :data:`_TAIL`
    bytes, for :func:`_body_complete`) and ``close``, its
    source one ``fstatat``: relative to ``cache_fd`` (the open ``__pycache__``; the source
    through its ``..``), or by full path when it is ``None``. The slow path (``FileFinder``'s
    order, :func:`_winner`) runs only for a stem that is also a directory or extension name."""
    target = state.target
    on_file = state.on_file
    loc, rp = root.location, root.path
    magic = target.magic_number
    plain_suffix = rules.plain_suffix
    cut = -len(plain_suffix)
    source_suffix = rules.source_suffix
    want_opt = rules.optimize
    if cache_fd is None:
        pyc_prefix, source_prefix = cache_dir + os.sep, directory + os.sep
    else:
        pyc_prefix, source_prefix = "", os.pardir + os.sep
    open_, read, fstat, stat_, close = os.open, os.read, os.fstat, os.stat, os.close
    isreg = stat.S_ISREG
    unpack = _FIELDS.unpack_from
    slack = _CTIME_SLACK_NS
    complete, qualname = _body_complete, tuple(target.version_info) >= (3, 11)
    pread = _pread
    fresh_files = fresh_bytes = 0
    fresh_names: list[str] = []
    for c in entries:
        name = c.name
        if name.endswith(plain_suffix) and "." not in name[:cut]:
            stem = name[:cut]
        else:
            parsed = _parse_cache_name(name)
            state.scanned += 1
            if parsed is None or parsed[1] != target.cache_tag:
                state.record(BytecodeCategory.FOREIGN, loc, rp, c.path, _stat(c))
                continue
            if parsed[2] != want_opt or "." in parsed[0]:
                # cache_from_source names only this optimization level; a dotted stem is no
                # module name.
                state.record(BytecodeCategory.IGNORED, loc, rp, c.path, _stat(c))
                continue
            stem = parsed[0]
            state.scanned -= 1
        source_name = stem + source_suffix
        if source_name not in names:
            state.scanned += 1
            state.record(BytecodeCategory.ORPHANED, loc, rp, c.path, _stat(c))
            continue
        if stem in names or stem in ext_stems:
            won = _winner(directory, stem, names, rules)
            if won != source_suffix:
                state.scanned += 1
                category = BytecodeCategory.ORPHANED if won is None else BytecodeCategory.SHADOWED
                state.record(category, loc, rp, c.path, _stat(c))
                continue
        try:
            fd = open_(pyc_prefix + name, _O_READ, dir_fd=cache_fd)
        except PermissionError:
            # get_code: get_data's OSError is passed over, the source compiled and the pyc
            # replaced if it can be (SourceLoader.get_code, set_data).
            state.scanned += 1
            if os.path.isfile(directory + os.sep + source_name):
                state.record(state.stale(c.path), loc, rp, c.path, _stat(c))
            else:
                state.record(BytecodeCategory.ORPHANED, loc, rp, c.path, _stat(c))
            continue
        except OSError:
            state.scanned += 1
            state.unreadable.append(c.path)
            continue
        try:
            pst = fstat(fd)
            if isreg(pst.st_mode):
                # The header and, for _body_complete, the end of the file: one read of a pyc
                # of up to _WHOLE bytes, else the header, then (pread) its last _TAIL bytes.
                size = pst.st_size
                if size <= _WHOLE:
                    data = tail = read(fd, _WHOLE)
                else:
                    data = read(fd, _READ_SIZE)
                    tail = pread(fd, _TAIL, size - _TAIL)
            else:
                data = tail = b""
        except OSError:
            state.scanned += 1
            state.unreadable.append(c.path)
            continue
        finally:
            close(fd)
        try:
            sst = stat_(source_prefix + source_name, dir_fd=cache_fd)
        except OSError:
            sst = None
        if sst is None or not isreg(sst.st_mode):  # _path_isfile: no source, never read
            state.scanned += 1
            state.record(BytecodeCategory.ORPHANED, loc, rp, c.path, pst)
            continue
        if (
            len(data) > HEADER_SIZE
            and data[:4] == magic
            and unpack(data, 4) == (0, int(sst.st_mtime) & 0xFFFFFFFF, sst.st_size & 0xFFFFFFFF)
            and data[16] in _CODE_TYPES
            and sst.st_ctime_ns < pst.st_mtime_ns
            and pst.st_ctime_ns - pst.st_mtime_ns <= slack
            and (
                complete(tail, qualname) or (tail is not data and _file_complete(c.path, qualname))
            )
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
            target.optimize,
            loc,
            rp,
            pst=pst,
            header=data[:_READ_SIZE],
            sst=sst,
            complete=complete(tail, qualname)
            or (tail is not data and _file_complete(c.path, qualname)),
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
        limit = tally.limit or 0
        if len(tally.examples) < limit or prefix < tally.examples[-1]:
            for name in sorted(fresh_names)[:limit]:
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
            result.append(
                ScanRoot(path=real, location=r.location, importable_only=r.importable_only)
            )
    return result


def _prefix_skip(target: BytecodeTarget) -> frozenset[str]:
    """The ``pycache_prefix`` tree, which the walks pass by (it is judged once, as a prefix)."""
    prefix = target.pycache_prefix
    if prefix is None:
        return frozenset()
    return frozenset({os.path.normcase(os.path.abspath(prefix)), os.path.realpath(prefix)})


def _tasks(
    roots: Sequence[ScanRoot],
    rules: _Rules,
    unreadable: list[str],
    *,
    depth: int,
    rules_target: BytecodeTarget,
) -> list[_Task]:
    """Split the scan of ``roots`` into tasks: each directory at ``depth`` with everything below
    it (so one large package does not make one large task), then the directories above
    ``depth`` alone, with the listing read here. The recursive tasks come first: whoever takes
    the last tasks takes small ones, so the workers finish together."""
    skip = frozenset(os.path.normcase(r.path) for r in roots) | _prefix_skip(rules_target)
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
                    packages_only=rules.loader_suffixes if root.importable_only else (),
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
            examples=tuple(sorted(t.examples)[:MAX_EXAMPLES]),
            roots=tuple(sorted(t.roots)),
            paths=() if cat is BytecodeCategory.FRESH else tuple(sorted(t.examples)),
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
    not followed into directories (a symlinked pyc is read, as import reads it); unreadable
    directories are listed in the result, never raised. Memory holds the paths of every group
    but ``fresh``, which is only counted (and a few examples), whatever its number of files.

    :param classify: location class of a source directory, for bytecode under the
        ``pycache_prefix`` tree (default: ``other``).
    :param progress: called with the number of files judged so far, every 256 directories.
    :param on_file: called with ``(category, path, lstat)`` for every file judged, so that
        ``--fix`` can list all of them (the summary itself keeps only examples).
    """
    state = _Scan(target, progress, on_file)
    unique = _unique_roots(roots, state.unreadable)
    rules = _Rules.of(target)
    skip = frozenset(os.path.normcase(r.path) for r in unique) | _prefix_skip(target)
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
        tasks = _tasks(
            self._roots, rules, self._state.unreadable, depth=self.DEPTH, rules_target=target
        )
        import pickle  # noqa: F401 - here, before the fork: the workers need it too (imported once)

        from pyenvdoctor import process

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
                pid = process.fork()  # noted as ours: never swept as an orphan
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

        from pyenvdoctor import process

        workers, self._workers = self._workers, []
        for pid, fd in workers:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)  # a finished worker is a zombie: no effect
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
            process.forget_child(pid)

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
    mirrors the absolute source directory (POSIX: without its leading ``/``); each pyc is
    judged by the same rules against the listing of that source directory."""
    target = state.target
    rules = _Rules.of(target)
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
        _listed, entries, subdirs = got
        stack.extend(subdirs)
        entries = [e for e in entries if _is_file(e)]
        if not entries:
            continue
        rel = os.path.relpath(directory, prefix_abs)
        source_dir = os.sep + ("" if rel == "." else rel)
        loc = classify(source_dir) if classify is not None else LocationClass.OTHER
        names = _names(source_dir)
        _judge_cache_dir(
            state,
            rules,
            root=ScanRoot(path=prefix, location=loc),
            directory=source_dir,
            cache_dir=directory,
            cache_fd=None,
            names=names,
            entries=entries,
            ext_stems=_ext_stems(names, rules),
        )


def _is_file(e: os.DirEntry[str]) -> bool:
    """A regular file, or a symlink to one (``_path_isfile`` follows links)."""
    try:
        return e.is_file()
    except OSError:
        return False


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except OSError:
        return None


def _stat(e: os.DirEntry[str]) -> os.stat_result | None:
    try:
        return e.stat(follow_symlinks=False)
    except OSError:
        return None
