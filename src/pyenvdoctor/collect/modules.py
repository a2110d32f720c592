"""Top-level importable names per location class, resolved in ``sys.path`` order.

Rules: ``sys.meta_path`` asks ``BuiltinImporter`` and ``FrozenImporter`` before ``PathFinder``;
``PathFinder`` asks each ``sys.path`` entry in order; in a directory ``FileFinder`` takes a
package (``name/__init__`` + a loader suffix) or a module (``name`` + an extension, source or
bytecode suffix); a directory without ``__init__`` is only a namespace portion, which any later
regular module or package beats (PEP 420). CPython ``Lib/importlib/_bootstrap_external.py``.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterable, Sequence

from pyenvdoctor.model import Interpreter, LocationClass, ModuleCount, PathEntry

__all__ = ["count_modules", "top_level_names"]


def top_level_names(directory: str, suffixes: Sequence[str]) -> tuple[set[str], set[str]]:
    """``(regular, namespace)``: names of modules and packages in ``directory``, and of
    directories that are only namespace portions. Unreadable directories give empty sets.

    :param suffixes: the target's extension, source and bytecode suffixes.
    """
    regular: set[str] = set()
    namespace: set[str] = set()
    if os.path.isfile(directory) and zipfile.is_zipfile(directory):  # zipimport entry
        try:
            with zipfile.ZipFile(directory) as zf:
                for name in zf.namelist():
                    head, sep, _ = name.partition("/")
                    if sep and head.isidentifier():
                        regular.add(head)
                    elif not sep:
                        _add_module(name, suffixes, regular)
        except (OSError, zipfile.BadZipFile):
            pass
        return regular, namespace
    try:
        with os.scandir(directory) as it:
            entries = list(it)
    except OSError:
        return regular, namespace
    for e in entries:
        try:
            is_dir = e.is_dir()
        except OSError:
            continue
        if is_dir:
            if not e.name.isidentifier():
                continue
            if any(os.path.exists(os.path.join(e.path, "__init__" + s)) for s in suffixes):
                regular.add(e.name)
            else:
                namespace.add(e.name)
        else:
            _add_module(e.name, suffixes, regular)
    return regular, namespace - regular


def _add_module(name: str, suffixes: Sequence[str], into: set[str]) -> None:
    for s in suffixes:
        if name.endswith(s) and len(name) > len(s):
            stem = name[: -len(s)]
            if stem.isidentifier():
                into.add(stem)
            return


def count_modules(
    interpreter: Interpreter, entries: Iterable[PathEntry]
) -> tuple[ModuleCount, ...]:
    """How many top-level names resolve to each location class, and how many are shadowed
    there by an earlier entry. Builtin modules count as :attr:`LocationClass.BUILTIN`."""
    suffixes = (
        *interpreter.extension_suffixes,
        *interpreter.source_suffixes,
        *interpreter.bytecode_suffixes,
    )
    winner: dict[str, LocationClass] = {}
    for name in interpreter.builtin_module_names:
        winner[name] = LocationClass.BUILTIN
    namespace_winner: dict[str, LocationClass] = {}
    shadowed: dict[LocationClass, int] = {}
    for entry in entries:
        if not entry.exists:
            continue
        regular, namespace = top_level_names(entry.resolved, suffixes)
        for name in regular:
            if name in winner:
                shadowed[entry.location] = shadowed.get(entry.location, 0) + 1
            else:
                winner[name] = entry.location
                namespace_winner.pop(name, None)
        for name in namespace:
            if name not in winner:
                namespace_winner.setdefault(name, entry.location)
    for name, loc in namespace_winner.items():
        winner.setdefault(name, loc)
    counts: dict[LocationClass, int] = {}
    for loc in winner.values():
        counts[loc] = counts.get(loc, 0) + 1
    classes = sorted(set(counts) | set(shadowed), key=list(LocationClass).index)
    return tuple(
        ModuleCount(location_class=c, modules=counts.get(c, 0), shadowed=shadowed.get(c, 0))
        for c in classes
    )
