"""``pyenvdoctor which NAME``: resolve a module in the target without running its code, then
add what only the host reads: location classes, the owning distribution, the bytecode verdict."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from pyenvdoctor import __version__
from pyenvdoctor.collect.bytecode import BytecodeTarget, judge_file
from pyenvdoctor.collect.distributions import _distributions_in, scan_distributions
from pyenvdoctor.collect.interpreter import (
    DEFAULT_TIMEOUT,
    PathClassifier,
    inspect_target,
)
from pyenvdoctor.collect.zipbytecode import describe, judge_zip_module, split_zip_path
from pyenvdoctor.model import (
    SCHEMA_VERSION,
    Distribution,
    ImportCandidate,
    ImportLevel,
    LocationClass,
    WhichReport,
)

__all__ = ["build_which", "owning_distribution"]


def _real(path: str) -> str:
    return os.path.normcase(os.path.realpath(path))


def _top_level_of(origin: str, entries: Sequence[str]) -> str | None:
    """The top-level import name ``origin`` lies under in the deepest of the ``sys.path``
    directories ``entries`` that holds it (``.../site-packages/setuptools/_distutils/core.py``
    -> ``setuptools``; a module file -> its stem); ``None`` when no entry holds it."""
    real = _real(origin)
    best: str | None = None
    for entry in entries:
        base = _real(entry) if entry else ""
        if base and real.startswith(base.rstrip(os.sep) + os.sep) and len(base) > len(best or ""):
            best = base
    if best is None:
        return None
    first = real[len(best.rstrip(os.sep)) + 1 :].split(os.sep, 1)[0]
    return first.split(".", 1)[0]


def owning_distribution(
    origin: str, top_level: str, distributions: Sequence[Distribution]
) -> Distribution | None:
    """The visible distribution that owns ``origin``: its RECORD lists the file, or it is an
    editable install whose project directory holds it. Only distributions that declare
    ``top_level`` (or are editable) are read, so this stays cheap."""

    target = _real(origin)
    for d in distributions:
        if not d.visible:
            continue
        if (
            d.editable
            and d.editable_project
            and target.startswith(_real(d.editable_project) + os.sep)
        ):
            return d
        if top_level not in d.top_level:
            continue
        for dist in _distributions_in(d.location):
            if str(getattr(dist, "_path", "")) != d.metadata_path:
                continue
            try:
                files = dist.files or ()
            except Exception:
                files = ()
            if any(_real(str(f.locate())) == target for f in files):
                return d
    return None


def _level(
    raw: Mapping[str, Any], classifier: PathClassifier, working_directory: str
) -> ImportLevel:
    spec = raw.get("spec") or {}
    winner_origin = spec.get("origin")
    raw_candidates = list(raw.get("candidates", ()))
    # PEP 420 / PathFinder: the first regular candidate wins; namespace portions win only
    # when there is none. A meta path finder other than PathFinder shadows them all.
    by_path = str(raw.get("finder") or "").endswith("PathFinder")
    regular = [c for c in raw_candidates if c["kind"] != "namespace"]
    winners = [regular[0]] if regular else raw_candidates
    candidates = []
    for c in raw_candidates:
        entry = c["entry"]
        location = (
            LocationClass.SCRIPT_DIR
            if entry in ("", working_directory) and c["index"] == 0
            else classifier.classify_path(entry)
        )
        candidates.append(
            ImportCandidate(
                index=int(c["index"]),
                entry=entry,
                location=location,
                origin=c["origin"],
                kind=c["kind"],
                wins=by_path and any(c is w for w in winners),
            )
        )
    return ImportLevel(
        name=raw["name"],
        finder=raw.get("finder"),
        origin=winner_origin,
        kind=spec.get("kind"),
        loader=spec.get("loader"),
        cached=spec.get("cached"),
        candidates=tuple(candidates),
    )


def build_which(
    name: str,
    *,
    python: str | None,
    environ: Mapping[str, str],
    working_directory: str,
    timeout: float = DEFAULT_TIMEOUT,
) -> WhichReport:
    """Where ``import name`` loads from in the target interpreter, and why.

    :raises InterpreterError: the target cannot be inspected.
    """
    target = inspect_target(
        python, environ, timeout=timeout, which=name, working_directory=working_directory
    )
    selection, interpreter = target.selection, target.interpreter
    sys_path, classifier = target.sys_path, target.classifier
    raw = target.probe.data.get("which") or {}
    levels = tuple(_level(lv, classifier, working_directory) for lv in raw.get("levels", ()))
    found = (
        bool(levels)
        and all(lv.finder is not None for lv in levels)
        and len(levels) == len(name.split("."))
    )
    notes = list(raw.get("notes", ()))
    owner = None
    bytecode = None
    bytecode_path = None
    if found:
        last = levels[-1]
        if last.origin and os.path.isabs(last.origin):
            scan = scan_distributions(sys_path, classifier)
            top = name.split(".", maxsplit=1)[0]
            owner = owning_distribution(last.origin, top, scan.distributions)
            where = _top_level_of(last.origin, [p or working_directory for p in sys_path])
            if owner is None and where not in (None, top):
                # A finder returned another package under this name (setuptools' distutils
                # shim: distutils is setuptools/_distutils): its files are that one's.
                owner = owning_distribution(last.origin, where, scan.distributions)
            in_zip = (last.loader or "").endswith("zipimporter")
            split = split_zip_path(last.origin) if in_zip else None
            if split is not None:
                archive, member = split
                module_path = member.rpartition(".")[0]
                if last.kind == "package":
                    module_path = module_path.rpartition("/")[0]
                code = judge_zip_module(
                    archive, module_path, BytecodeTarget.for_interpreter(interpreter)
                )
                if code is not None:
                    bytecode = code.category
                    bytecode_path = f"{archive}/{code.pyc}" if code.pyc else None
                    notes.append("zipimport: " + describe(code))
            elif last.origin.endswith(".pyc"):
                bytecode_path = last.origin
                bytecode = judge_file(
                    last.origin, None, BytecodeTarget.for_interpreter(interpreter)
                )
            elif last.cached:
                bytecode_path = last.cached
                bytecode = judge_file(
                    last.cached, last.origin, BytecodeTarget.for_interpreter(interpreter)
                )
                if bytecode is None:
                    notes.append("no bytecode yet: it is compiled from source on import")
        elif last.kind == "frozen":
            notes.append(
                "frozen into the interpreter: its .py file is not what runs "
                "(unless -X frozen_modules=off)"
            )
    return WhichReport(
        schema_version=SCHEMA_VERSION,
        tool_version=__version__,
        selection=selection,
        executable=interpreter.executable,
        version=interpreter.short_version,
        name=name,
        found=found,
        levels=levels,
        owner=owner,
        bytecode=bytecode,
        bytecode_path=bytecode_path,
        notes=tuple(notes),
    )
