"""Top-level importable names, resolved in ``sys.path`` order: counts per location class and
the names that more than one place provides.

Rules: ``sys.meta_path`` asks ``BuiltinImporter`` and ``FrozenImporter`` before ``PathFinder``;
``PathFinder`` asks each ``sys.path`` entry in order; in a directory ``FileFinder`` takes a
package (``name/__init__`` + a loader suffix) before a module (``name`` + an extension, source
or bytecode suffix, in that order); a directory without ``__init__`` is only a namespace
portion, which any later regular module or package beats (PEP 420). CPython
``Lib/importlib/_bootstrap_external.py``.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pyenvdoctor.model import (
    ContestedName,
    Interpreter,
    LocationClass,
    ModuleCount,
    NameProvider,
    PathEntry,
)

__all__ = ["EntryNames", "resolve_names", "top_level_names"]

_STDLIB = (LocationClass.STDLIB, LocationClass.LIB_DYNLOAD)


@dataclass(frozen=True, kw_only=True, slots=True)
class EntryNames:
    """What one ``sys.path`` entry provides.

    :ivar packages: names of regular packages; :ivar modules: names of module files;
    :ivar namespace: directories that are only namespace portions (no ``__init__``).
    """

    packages: frozenset[str]
    modules: frozenset[str]
    namespace: frozenset[str]


def _module_name(name: str, suffixes: Sequence[str]) -> str | None:
    for s in suffixes:
        if name.endswith(s) and len(name) > len(s):
            stem = name[: -len(s)]
            return stem if stem.isidentifier() else None
    return None


def top_level_names(directory: str, suffixes: Sequence[str]) -> EntryNames:
    """The top-level names ``directory`` (or a zip file) provides; unreadable gives nothing.

    :param suffixes: the target's extension, source and bytecode suffixes.
    """
    packages: set[str] = set()
    modules: set[str] = set()
    namespace: set[str] = set()
    init_order = sorted(suffixes, key=lambda s: s != ".py")
    if os.path.isfile(directory) and zipfile.is_zipfile(directory):  # zipimport entry
        try:
            with zipfile.ZipFile(directory) as zf:
                for name in zf.namelist():
                    head, sep, _ = name.partition("/")
                    if sep and head.isidentifier():
                        packages.add(head)
                    elif not sep and (m := _module_name(name, suffixes)):
                        modules.add(m)
        except (OSError, zipfile.BadZipFile):
            pass
        return EntryNames(
            packages=frozenset(packages), modules=frozenset(modules), namespace=frozenset()
        )
    try:
        with os.scandir(directory) as it:
            entries = list(it)
    except OSError:
        return EntryNames(packages=frozenset(), modules=frozenset(), namespace=frozenset())
    for e in entries:
        try:
            is_dir = e.is_dir()
        except OSError:
            continue
        if is_dir:
            if not e.name.isidentifier() or e.name == "__pycache__":
                continue
            # Whether any __init__ exists (not which wins): the common .py first, one stat.
            if any(os.path.exists(os.path.join(e.path, "__init__" + s)) for s in init_order):
                packages.add(e.name)
            else:
                namespace.add(e.name)
        elif m := _module_name(e.name, suffixes):
            modules.add(m)
    return EntryNames(
        packages=frozenset(packages), modules=frozenset(modules), namespace=frozenset(namespace)
    )


def _path_of(entry: PathEntry, name: str, kind: str, suffixes: Sequence[str]) -> str:
    base = os.path.join(entry.resolved, name)
    if kind != "module":
        return base
    for s in suffixes:
        if os.path.exists(base + s):
            return base + s
    return base


def resolve_names(
    interpreter: Interpreter, entries: Iterable[PathEntry]
) -> tuple[tuple[ModuleCount, ...], tuple[ContestedName, ...]]:
    """Resolve every top-level name as the import system would.

    :returns: ``(counts, contested)``: how many names resolve to each location class (and how
        many are shadowed there), and every name that more than one place provides, or that
        only namespace portions provide. A package and a module of one name in the same
        directory count as two providers (the package wins).
    """
    suffixes = (
        *interpreter.extension_suffixes,
        *interpreter.source_suffixes,
        *interpreter.bytecode_suffixes,
    )
    providers: dict[str, list[NameProvider]] = {}
    special = LocationClass.BUILTIN
    for name in (*interpreter.builtin_module_names, *interpreter.frozen_module_names):
        providers.setdefault(name, []).append(
            NameProvider(
                index=-1,
                location=special,
                path="built-in" if name in interpreter.builtin_module_names else "frozen",
                kind="module",
            )
        )
    for entry in entries:
        if not entry.exists:
            continue
        found = top_level_names(entry.resolved, suffixes)
        for kind, names in (
            ("package", found.packages),
            ("module", found.modules),
            ("namespace", found.namespace),
        ):
            for name in names:
                providers.setdefault(name, []).append(
                    NameProvider(
                        index=entry.index,
                        location=entry.location,
                        path=_path_of(entry, name, kind, suffixes),
                        kind=kind,
                    )
                )
    counts: dict[LocationClass, int] = {}
    shadowed: dict[LocationClass, int] = {}
    contested: list[ContestedName] = []
    for name, provs in providers.items():
        regular = [p for p in provs if p.kind != "namespace"]
        winner = regular[0] if regular else provs[0]
        counts[winner.location] = counts.get(winner.location, 0) + 1
        others = tuple(p for p in provs if p is not winner)
        if winner.location is LocationClass.BUILTIN and all(p.location in _STDLIB for p in others):
            others = ()  # a frozen module and its own stdlib source: one module, not a contest
        for p in others:
            if p.kind != "namespace" or regular:
                shadowed[p.location] = shadowed.get(p.location, 0) + 1
        if others or winner.kind == "namespace":
            contested.append(ContestedName(name=name, winner=winner, others=others))
    order = list(LocationClass)
    classes = sorted(set(counts) | set(shadowed), key=order.index)
    return (
        tuple(
            ModuleCount(location_class=c, modules=counts.get(c, 0), shadowed=shadowed.get(c, 0))
            for c in classes
        ),
        tuple(sorted(contested, key=lambda c: c.name)),
    )
