"""Modules of *this* process whose file changed on disk after they were imported, and purging
them from ``sys.modules`` so that the next import runs the new code.

A module keeps no record of its source's state at import time, so the evidence is, in order:

1. the file is gone: ``deleted``;
2. the import time, noted by a ``sys.meta_path`` entry that finds nothing and records
   ``time.time_ns()`` per name (installed when this module is first imported): a source
   modified later was modified after the import. The caller's ``since=`` stands in for it for
   modules imported before that;
3. the file's ``(st_mtime_ns, st_size)`` when pyenvdoctor first saw the module (a snapshot taken
   when this module is first imported, then at each :func:`stale_modules` call for new modules);
4. the code of the functions and methods the module defines (``__code__`` whose
   ``co_filename`` is the module's file) against a compile of the current source: a function
   whose code differs, or that the source no longer defines, means the file changed after the
   import (code objects compare bytecode, constants, names and line numbers, so a moved
   function counts). This sees an edit made before pyenvdoctor was imported even with bytecode
   writing off, but not an edit of module-level values only;
5. the module's bytecode ``__spec__.cached`` (PEP 3147/552): a timestamp pyc records the source
   mtime and size it was compiled from, a hash-based pyc the source hash
   (``importlib.util.source_hash``), as ``SourceLoader.get_code`` in CPython
   ``Lib/importlib/_bootstrap_external.py`` checks them. Trusted only while the pyc is unchanged
   since first seen and describes the source as imported: with bytecode writing on the import
   rewrote a stale pyc; with ``sys.dont_write_bytecode`` (or an unwritable ``__pycache__``) only
   a pyc that matched the source when first seen.

Limits: an edit made before pyenvdoctor first saw a module that has no trusted pyc and no noted
import time cannot be detected (such modules are listed in :attr:`StaleReport.unchecked`); a
same-size edit whose mtime is restored is seen only through a hash-based pyc; an edit within one
file-system clock tick (a few milliseconds) of the import is missed; a pyc that another process
rewrote between the import and pyenvdoctor's first look describes the newer source (only a noted
import time still catches that edit); a file with a future mtime reads as changed. Importers are approximate (module globals that reference the module object).
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import os
import sys
import time
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib.machinery import ExtensionFileLoader, SourceFileLoader, SourcelessFileLoader
from types import CodeType, FunctionType, ModuleType
from typing import Literal

__all__ = ["PurgeResult", "StaleModule", "StaleReport", "purge_modules", "stale_modules"]

_FILE_LOADERS = (SourceFileLoader, SourcelessFileLoader, ExtensionFileLoader)
_STDLIB_NAMES = sys.stdlib_module_names | frozenset(sys.builtin_module_names)
_IMPORT_NS: dict[str, int] = {}  # name -> time.time_ns() when its last import started


class _ImportClock:
    """A ``sys.meta_path`` finder that finds nothing: it notes when each import starts."""

    @staticmethod
    def find_spec(fullname: str, path: object = None, target: object = None) -> None:
        _IMPORT_NS[fullname] = time.time_ns()

    @staticmethod
    def invalidate_caches() -> None:
        """Nothing cached."""


@dataclass(frozen=True, slots=True)
class _Seen:
    """A module as first seen: its identity, noted import time and file states then."""

    module: weakref.ref[ModuleType]
    noted: int | None  # _IMPORT_NS[name] when recorded
    import_ns: int | None  # when this module object's import started, if noted
    seen_ns: int
    source: tuple[int, int] | None  # (st_mtime_ns, st_size)
    pyc: tuple[int, int, int] | None  # (st_mtime_ns, st_size, st_ino)
    pyc_matched: bool  # the pyc's header matched the source when first seen


_SEEN: dict[str, _Seen] = {}
SNAPSHOT_AT = time.time()  #: seconds since the epoch when this module was first imported


@dataclass(frozen=True, kw_only=True, slots=True)
class StaleModule:
    """A loaded module whose file changed or vanished after it was imported.

    :ivar file: ``__spec__.origin``; :ivar changed_at: the file's ``st_mtime`` in seconds since
        the epoch, ``None`` when deleted; :ivar imported_by: loaded modules whose globals
        reference this module object (approximate: ``from m import f`` is not seen);
    :ivar how: the evidence, in words.
    """

    name: str
    file: str
    reason: Literal["changed", "deleted"]
    changed_at: float | None
    imported_by: tuple[str, ...]
    how: str


@dataclass(frozen=True, kw_only=True, slots=True)
class StaleReport:
    """What :func:`stale_modules` found; iterates over :attr:`stale`.

    :ivar unchecked: modules with a file whose edits before :attr:`snapshot_at` cannot be
        detected (no trusted pyc, no noted import time, no ``since``).
    :ivar snapshot_at: seconds since the epoch when pyenvdoctor began watching this process.
    """

    stale: tuple[StaleModule, ...]
    unchecked: tuple[str, ...]
    snapshot_at: float

    def __iter__(self) -> Iterator[StaleModule]:
        return iter(self.stale)

    def __len__(self) -> int:
        return len(self.stale)


@dataclass(frozen=True, kw_only=True, slots=True)
class PurgeResult:
    """What :func:`purge_modules` did. Names sorted; ``roots`` as real paths."""

    removed: tuple[str, ...]
    extensions_kept: tuple[str, ...]
    roots: tuple[str, ...]


def _stat(path: str | None) -> os.stat_result | None:
    try:
        return os.stat(path) if path else None
    except OSError:
        return None


def _file_modules(names: Iterable[str] | None = None) -> Iterator[tuple[str, ModuleType, str]]:
    """``(name, module, origin)`` for modules loaded from a file by the standard file loaders
    (so not builtin, frozen, namespace or zip-imported); with ``names``, those and submodules."""
    wanted = (names,) if isinstance(names, str) else tuple(names) if names is not None else None
    for name, mod in list(sys.modules.items()):
        if wanted is not None and not any(name == w or name.startswith(w + ".") for w in wanted):
            continue
        spec = getattr(mod, "__spec__", None) if isinstance(mod, ModuleType) else None
        if spec is not None and spec.origin and isinstance(spec.loader, _FILE_LOADERS):
            yield name, mod, spec.origin


def _header(pyc: str) -> bytes | None:
    try:
        with open(pyc, "rb") as f:
            header = f.read(16)
    except OSError:
        return None
    flags = int.from_bytes(header[4:8], "little")
    ok = len(header) == 16 and header[:4] == importlib.util.MAGIC_NUMBER and not flags & ~0b11
    return header if ok else None


def _pyc_verdict(header: bytes, source: str, st: os.stat_result) -> str | None:
    """Why the pyc header no longer describes ``source``; ``None`` when it does."""
    if int.from_bytes(header[4:8], "little") & 0b01:  # hash-based (PEP 552)
        try:
            with open(source, "rb") as f:
                current = importlib.util.source_hash(f.read())
        except OSError:
            return None
        return None if current == header[8:16] else "the source hash differs from its pyc's"
    mtime, size = int.from_bytes(header[8:12], "little"), int.from_bytes(header[12:16], "little")
    if mtime == int(st.st_mtime) & 0xFFFFFFFF and size == st.st_size & 0xFFFFFFFF:
        return None
    return (
        f"its pyc records the source as mtime {_when(mtime)}, {size} bytes;"
        f" now {_when(st.st_mtime)}, {st.st_size} bytes"
    )


def _when(t: float) -> str:
    """Local time with milliseconds."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) + f".{int(t * 1000) % 1000:03d}"


def _observe(name: str, mod: ModuleType, origin: str) -> _Seen:
    """The record of ``mod``, made now if it is new or was imported again since."""
    seen, noted = _SEEN.get(name), _IMPORT_NS.get(name)
    if seen is not None and seen.module() is mod and seen.noted == noted:
        return seen
    # An import noted after the last record is this module's (a reload or a new module object).
    fresh = seen is None or (noted is not None and noted > seen.seen_ns)
    st, spec = _stat(origin), mod.__spec__
    cached = spec.cached if spec is not None and isinstance(spec.loader, SourceFileLoader) else None
    pst = _stat(cached)
    header = _header(cached) if cached and pst else None
    seen = _SEEN[name] = _Seen(
        module=weakref.ref(mod),
        noted=noted,
        import_ns=noted if fresh else None,
        seen_ns=time.time_ns(),
        source=(st.st_mtime_ns, st.st_size) if st else None,
        pyc=(pst.st_mtime_ns, pst.st_size, pst.st_ino) if pst else None,
        pyc_matched=bool(header and st and _pyc_verdict(header, origin, st) is None),
    )
    return seen


def stale_modules(names: Iterable[str] | None = None, *, since: float | None = None) -> StaleReport:
    """Modules in ``sys.modules`` whose file changed on disk after they were imported, or is gone.

    :param names: only these modules and their submodules (default: every module loaded from a
        file: source, sourceless bytecode, extension modules).
    :param since: seconds since the epoch before which every module without a noted import
        time was imported (a server's start time, say): a later mtime then means changed.
    :returns: the stale modules sorted by name, and the modules whose earlier edits are
        undetectable.
    """
    stale: list[StaleModule] = []
    unchecked: list[str] = []
    for name, mod, origin in _file_modules(names):
        seen = _observe(name, mod, origin)
        st = _stat(origin)
        if st is None:
            stale.append(_stale(name, origin, None, "the file is gone"))
            continue
        imported = seen.import_ns
        if imported is None and since is not None:
            imported = int(since * 1e9)
        how, trusted = _pyc_evidence(mod, seen, origin, st)
        if imported is not None and st.st_mtime_ns > imported:
            how = f"modified {_when(st.st_mtime)}, after the import at {_when(imported / 1e9)}"
        elif seen.source is not None and seen.source != (st.st_mtime_ns, st.st_size):
            how = f"mtime or size changed since pyenvdoctor first saw it at {_when(seen.seen_ns / 1e9)}"
        loader = getattr(mod.__spec__, "loader", None)
        if how is None and isinstance(loader, SourceFileLoader):
            if not trusted or _edited_after_pyc(mod, st):
                how = _code_evidence(mod, origin, st)
            if how is None and not trusted and imported is None:
                unchecked.append(name)  # only source modules can hide an earlier edit
        if how is not None:
            stale.append(_stale(name, origin, st.st_mtime, how))
    return StaleReport(
        stale=tuple(sorted(_with_importers(stale), key=lambda m: m.name)),
        unchecked=tuple(sorted(unchecked)),
        snapshot_at=SNAPSHOT_AT,
    )


#: origin -> ((st_mtime_ns, st_size, st_ino), compiled code objects by name, or None when the
#: source does not compile): one compile per file state.
_COMPILED: dict[str, tuple[tuple[int, int, int], dict[str, list[CodeType]] | None]] = {}


def _compiled(origin: str, st: os.stat_result) -> dict[str, list[CodeType]] | None:
    """Every code object a compile of the current ``origin`` makes, by ``co_name``."""
    key = (st.st_mtime_ns, st.st_size, st.st_ino)
    hit = _COMPILED.get(origin)
    if hit is not None and hit[0] == key:
        return hit[1]
    try:
        with open(origin, "rb") as f:
            code = compile(f.read(), origin, "exec", dont_inherit=True)
    except (OSError, SyntaxError, ValueError):
        _COMPILED[origin] = (key, None)
        return None
    by_name: dict[str, list[CodeType]] = {}
    stack = [code]
    while stack:
        for const in stack.pop().co_consts:
            if isinstance(const, CodeType):
                by_name.setdefault(const.co_name, []).append(const)
                stack.append(const)
    _COMPILED[origin] = (key, by_name)
    return by_name


def _defined_functions(mod: ModuleType, origin: str) -> Iterator[tuple[str, CodeType]]:
    """``(qualified name, code)`` of the functions and methods compiled from ``origin`` that the
    module's globals and their classes hold (decorator wrappers from elsewhere are not)."""
    namespace = getattr(mod, "__dict__", {})
    for value in list(namespace.values()):
        members = vars(value).values() if isinstance(value, type) else (value,)
        for member in list(members):
            func = getattr(member, "__func__", member)  # staticmethod, classmethod
            if isinstance(func, FunctionType) and func.__code__.co_filename == origin:
                yield func.__qualname__, func.__code__


def _edited_after_pyc(mod: ModuleType, st: os.stat_result) -> bool:
    """Whether the source's mtime is later than its pyc's: a timestamp pyc records whole
    seconds (PEP 552 header), so an edit of the same size within the second of the pyc write
    still matches the header; only the code can tell."""
    pst = _stat(getattr(mod.__spec__, "cached", None))
    return pst is not None and st.st_mtime_ns > pst.st_mtime_ns


def _code_evidence(mod: ModuleType, origin: str, st: os.stat_result) -> str | None:
    """Why the loaded functions are not what the current source compiles to, or ``None``."""
    loaded = list(_defined_functions(mod, origin))
    if not loaded:
        return None
    compiled = _compiled(origin, st)
    if compiled is None:
        return "the current source no longer compiles, so it is not what was imported"
    for qualname, code in loaded:
        if not any(code == other for other in compiled.get(code.co_name, ())):
            return f"the loaded code of {qualname}() differs from a compile of the current source"
    return None


def _stale(name: str, file: str, changed_at: float | None, how: str) -> StaleModule:
    reason: Literal["changed", "deleted"] = "deleted" if changed_at is None else "changed"
    return StaleModule(
        name=name, file=file, reason=reason, changed_at=changed_at, imported_by=(), how=how
    )


def _pyc_evidence(
    mod: ModuleType, seen: _Seen, origin: str, st: os.stat_result
) -> tuple[str | None, bool]:
    """``(why the trusted pyc says the source changed or None, whether a pyc is trusted)``."""
    spec = mod.__spec__
    cached = spec.cached if spec is not None and isinstance(spec.loader, SourceFileLoader) else None
    if not cached:
        return None, False
    pst, header = _stat(cached), _header(cached)
    if header is None or pst is None or seen.pyc != (pst.st_mtime_ns, pst.st_size, pst.st_ino):
        return None, False
    writes = not sys.dont_write_bytecode and os.access(os.path.dirname(cached), os.W_OK)
    if not (writes or seen.pyc_matched):
        return None, False  # a stale pyc the import ignored and could not rewrite
    why = _pyc_verdict(header, origin, st)
    return (f"{why} ({cached})" if why else None), True


def _with_importers(stale: list[StaleModule]) -> list[StaleModule]:
    """Fill ``imported_by``: one pass over every loaded module's globals."""
    if not stale:
        return stale
    targets = {id(sys.modules[m.name]): m.name for m in stale if m.name in sys.modules}
    found: dict[str, set[str]] = {m.name: set() for m in stale}
    for holder, mod in list(sys.modules.items()):
        namespace = getattr(mod, "__dict__", None)
        for value in list(namespace.values()) if isinstance(namespace, dict) else ():
            target = targets.get(id(value))
            if target is not None and target != holder:
                found[target].add(holder)
    return [dataclasses.replace(m, imported_by=tuple(sorted(found[m.name]))) for m in stale]


def _protected_dirs() -> list[str]:
    """The stdlib and site directories of this interpreter and of its base (a venv's
    ``--system-site-packages``): sysconfig's paths, ``site.getsitepackages()``, the user site."""
    import site
    import sysconfig

    keys = ("stdlib", "platstdlib", "purelib", "platlib")
    base = {"base": sys.base_prefix, "platbase": sys.base_exec_prefix}
    dirs = [p[k] for p in (sysconfig.get_paths(), sysconfig.get_paths(vars=base)) for k in keys]
    dirs += getattr(site, "getsitepackages", list)()
    if site.ENABLE_USER_SITE is not False:
        dirs.append(site.getusersitepackages())
    return [os.path.realpath(d) for d in dirs]


def _under(path: str, dirs: Iterable[str]) -> bool:
    return any(path == d or path.startswith(d.rstrip(os.sep) + os.sep) for d in dirs)


def purge_modules(*roots: str | os.PathLike[str]) -> PurgeResult:
    """Remove from ``sys.modules`` the modules whose files lie under ``roots``, submodules
    included, then call ``importlib.invalidate_caches()``: the next import loads the new code.

    Never removed: ``__main__``, builtin and stdlib names (``sys.stdlib_module_names``), files
    under the stdlib, site-packages or the user site, and ``pyenvdoctor`` itself. Extension
    modules cannot be unloaded (CPython never unloads a shared library; re-importing returns
    the same module): they are kept and listed. Objects made from the old code (instances,
    functions held elsewhere, ``from m import f`` bindings) keep the old code.

    :param roots: directories; default: the current project (nearest parent of the working
        directory with ``pyproject.toml``, ``setup.py`` or ``setup.cfg``), else the working
        directory.
    """
    if not roots:
        from pyenvdoctor.report import find_project_root

        roots = (find_project_root(os.getcwd()) or os.getcwd(),)
    real_roots = tuple(os.path.realpath(os.fspath(r)) for r in roots)
    protected = _protected_dirs()
    removed: list[str] = []
    kept: list[str] = []
    for name, mod in list(sys.modules.items()):
        top = name.partition(".")[0]
        if name == "__main__" or top == "pyenvdoctor" or top in _STDLIB_NAMES:
            continue
        spec = getattr(mod, "__spec__", None)
        if spec is not None and spec.origin and spec.has_location:
            files = [spec.origin]
        else:  # a namespace package: every portion must lie under the roots
            files = list(getattr(spec, "submodule_search_locations", None) or ())
        real = [os.path.realpath(f) for f in files]
        if not real or not all(_under(f, real_roots) and not _under(f, protected) for f in real):
            continue
        if isinstance(getattr(spec, "loader", None), ExtensionFileLoader):
            kept.append(name)
            continue
        del sys.modules[name]
        _SEEN.pop(name, None)
        removed.append(name)
    importlib.invalidate_caches()
    return PurgeResult(
        removed=tuple(sorted(removed)), extensions_kept=tuple(sorted(kept)), roots=real_roots
    )


def _install() -> None:
    if not any(isinstance(f, _ImportClock) for f in sys.meta_path):
        sys.meta_path.insert(0, _ImportClock())
    for name, mod, origin in _file_modules():
        _observe(name, mod, origin)


_install()
