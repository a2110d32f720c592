"""Bytecode inside zip files on ``sys.path``, judged by ``zipimport``'s rules.

CPython ``Lib/zipimport.py`` (3.8-3.13, the same logic in each; 3.13 adds ZIP64 only):

* ``_zip_searchorder``: for a module path ``p`` the archive members ``p/__init__.pyc``,
  ``p/__init__.py``, ``p.pyc``, ``p.py`` are tried in that order: bytecode *before* source, and
  only the legacy name beside the source (a ``__pycache__`` member is never read).
* ``_get_module_code``: a ``.pyc`` that ``_unmarshal_code`` rejects (returns ``None`` or raises
  ``ImportError``: bad magic, unknown flag bits, a hash that does not match, a stale time stamp)
  is skipped and the next member tried; ``EOFError`` (a header shorter than 16 bytes) and a body
  that does not unmarshal into a code object escape: the import fails.
* ``_unmarshal_code``: a time-stamp pyc is checked against the source member's DOS time and
  uncompressed size (``_get_mtime_and_size_of_source``) with a 1-second tolerance
  (``_eq_mtime``: DOS times have 2-second resolution); with no source member (mtime 0) it is not
  checked at all. A hash-based pyc is checked only when ``check_source`` is set or
  ``--check-hash-based-pycs always`` (and not ``never``).
* zipimport never writes bytecode: a rejected pyc is recompiled from source on every start.
"""

from __future__ import annotations

import dataclasses
import os
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass

from pyenvdoctor.collect.bytecode import BytecodeTarget, _run_in_target
from pyenvdoctor.model import (
    BytecodeCategory,
    BytecodeGroup,
    BytecodeSummary,
    LocationClass,
    PathEntry,
)

__all__ = [
    "ZipModuleCode",
    "add_zip_groups",
    "describe",
    "judge_zip_module",
    "split_zip_path",
]

_SEARCH_ORDER = (
    ("/__init__.pyc", True),
    ("/__init__.py", False),
    (".pyc", True),
    (".py", False),
)


@dataclass(frozen=True, kw_only=True, slots=True)
class ZipModuleCode:
    """What ``zipimport`` runs for one module of an archive.

    :ivar archive: the zip file's path.
    :ivar member: the member whose code runs (``pkg/mod.pyc`` or ``pkg/mod.py``), ``None`` when
        the import fails.
    :ivar category: the verdict on the member's pyc: ``fresh``, ``stale-accepted`` (old code
        runs), ``sourceless``, ``stale-not-rewritten`` (a pyc rejected, the source compiled on
        every start), ``broken`` (the import fails); ``None``: there is no pyc, source runs.
    :ivar pyc: the pyc member judged, ``None`` when there is none.
    :ivar reason: one line on why.
    """

    archive: str
    member: str | None
    category: BytecodeCategory | None
    pyc: str | None
    reason: str


def split_zip_path(origin: str) -> tuple[str, str] | None:
    """``(archive, member)`` for a zipimport origin ``/x/archive.zip/pkg/mod.py``: the longest
    existing regular-file prefix, as ``zipimporter.__init__`` splits its path; ``None`` when no
    prefix is a file."""
    head, tail = origin, ""
    while head and head != os.path.dirname(head):
        if os.path.isfile(head):
            return head, tail
        head, base = os.path.split(head)
        tail = base if not tail else f"{base}/{tail}"
    return None


def _dos_mtime(info: zipfile.ZipInfo) -> float:
    """``zipimport._parse_dostime``: the member's DOS date and time read as local time."""
    return time.mktime((*info.date_time, -1, -1, -1))


_CODE_CHECK = """\
import _imp, json, marshal, sys, zipfile
archive, pyc, src, key = json.load(sys.stdin)
z = zipfile.ZipFile(archive)
out = {}
data = z.read(pyc)
try:
    old = marshal.loads(data[16:])
    out['code'] = type(old).__name__ == 'code'
except Exception:
    out['code'] = False
if src is not None:
    text = z.read(src)
    out['hash'] = _imp.source_hash(key, text).hex()
    if out['code']:
        try:
            text = text.replace(b'\\r\\n', b'\\n').replace(b'\\r', b'\\n')
            out['same'] = old == compile(text, archive + '/' + src, 'exec', dont_inherit=True)
        except Exception:
            out['same'] = False
print(json.dumps(out))
"""


def _target_check(
    target: BytecodeTarget, archive: str, pyc: str, src: str | None
) -> dict[str, object]:
    key = int.from_bytes(target.magic_number, "little")
    result = _run_in_target(target.executable, _CODE_CHECK, [archive, pyc, src, key])
    return result if isinstance(result, dict) else {}


def judge_zip_module(
    archive: str, module_path: str, target: BytecodeTarget
) -> ZipModuleCode | None:
    """Judge the code ``zipimport`` runs for ``module_path`` (``pkg/mod``, no suffix) in
    ``archive`` by the rules in this module's docstring, running the target to unmarshal and
    compare code objects and to hash the source (``_imp.source_hash``).

    :returns: ``None`` when the archive cannot be read or holds no such module.
    """
    try:
        with zipfile.ZipFile(archive) as z:
            infos = {i.filename: i for i in z.infolist()}
            members = {}
            for suffix, is_pyc in _SEARCH_ORDER:
                name = module_path + suffix
                if name in infos:
                    members[name] = (is_pyc, z.read(name))
    except (OSError, zipfile.BadZipFile, ValueError):
        return None
    if not members:
        return None
    rejected: list[str] = []
    for suffix, is_pyc in _SEARCH_ORDER:
        name = module_path + suffix
        if name not in members:
            continue
        if not is_pyc:
            if rejected:
                return ZipModuleCode(
                    archive=archive,
                    member=name,
                    category=BytecodeCategory.STALE_NOT_REWRITTEN,
                    pyc=rejected[0],
                    reason=f"{rejected[0]} is rejected ({rejected[1]}): {name} is compiled on "
                    "every import (zipimport never writes bytecode)",
                )
            return ZipModuleCode(
                archive=archive, member=name, category=None, pyc=None, reason="source runs"
            )
        data = members[name][1]
        source = name[:-1] if name[:-1] in infos else None
        verdict = _judge_pyc(
            target, archive=archive, name=name, data=data, source=source, infos=infos
        )
        if isinstance(verdict, str):  # rejected: the next member is tried
            if not rejected:
                rejected = [name, verdict]
            continue
        return verdict
    return ZipModuleCode(
        archive=archive,
        member=None,
        category=BytecodeCategory.BROKEN,
        pyc=rejected[0] if rejected else None,
        reason=f"{rejected[0]} is rejected ({rejected[1]}) and there is no source: the import fails"
        if rejected
        else "nothing importable",
    )


def _judge_pyc(
    target: BytecodeTarget,
    *,
    archive: str,
    name: str,
    data: bytes,
    source: str | None,
    infos: dict[str, zipfile.ZipInfo],
) -> ZipModuleCode | str:
    """The verdict on one pyc member, or why it is rejected (a string: try the next member)."""

    def verdict(
        category: BytecodeCategory, reason: str, member: str | None = name
    ) -> ZipModuleCode:
        return ZipModuleCode(
            archive=archive, member=member, category=category, pyc=name, reason=reason
        )

    if data[:4] != target.magic_number:
        return "bad magic number"
    if len(data) < 16:  # _classify_pyc raises EOFError: not caught
        return verdict(BytecodeCategory.BROKEN, "header shorter than 16 bytes", None)
    flags = int.from_bytes(data[4:8], "little")
    if flags & ~0b11:
        return "unknown flag bits"
    if not flags & 0b1 and source is not None:
        info = infos[source]
        pyc_mtime = int.from_bytes(data[8:12], "little")
        pyc_size = int.from_bytes(data[12:16], "little")
        # _eq_mtime: 1 second either way; the size is the member's uncompressed size.
        if abs(pyc_mtime - _dos_mtime(info)) > 1 or pyc_size != (info.file_size & 0xFFFFFFFF):
            return "time stamp or size differs from the source member"
    checked = _target_check(target, archive, name, source)
    if flags & 0b1:
        check_source = bool(flags & 0b10)
        mode = target.check_hash_based_pycs
        checks = source is not None and mode != "never" and (check_source or mode == "always")
        if checks and data[8:16].hex() != checked.get("hash"):
            return "source hash differs"
    if not checked.get("code"):
        return verdict(BytecodeCategory.BROKEN, "the body is not a code object", None)
    if source is None:
        return verdict(BytecodeCategory.SOURCELESS, "no source member: the pyc is not checked")
    if checked.get("same"):
        return verdict(BytecodeCategory.FRESH, "the pyc's code is the source's")
    return verdict(
        BytecodeCategory.STALE_ACCEPTED,
        f"the pyc is accepted but its code differs from {source}: the old code runs",
    )


def describe(code: ZipModuleCode) -> str:
    """One line for a report: ``archive/member (category): reason``."""
    where = f"{code.archive}/{code.member}" if code.member else code.archive
    cat = code.category.value if code.category else "source"
    return f"{where} ({cat}): {code.reason}"


def judge_zip_archive(
    archive: str, target: BytecodeTarget
) -> list[tuple[str, BytecodeCategory, int]]:
    """Every pyc member of ``archive`` as ``(archive/member, category, uncompressed bytes)``:
    those ``zipimport`` tries judged by :func:`judge_zip_module`; a pyc it never reads (a
    ``__pycache__`` member, or one behind a package or an accepted pyc) is ``ignored``."""
    try:
        with zipfile.ZipFile(archive) as z:
            sizes = {i.filename: i.file_size for i in z.infolist() if i.filename.endswith(".pyc")}
    except (OSError, zipfile.BadZipFile, ValueError):
        return []
    judged: dict[str, BytecodeCategory] = {}
    stems = {
        n[: -len("/__init__.pyc")] if n.endswith("/__init__.pyc") else n[:-4]
        for n in sizes
        if "__pycache__/" not in n
    }
    for stem in sorted(stems):
        code = judge_zip_module(archive, stem, target)
        if code is not None and code.pyc is not None and code.category is not None:
            judged[code.pyc] = code.category
    return [
        (f"{archive}/{n}", judged.get(n, BytecodeCategory.IGNORED), sizes[n]) for n in sorted(sizes)
    ]


def add_zip_groups(
    summary: BytecodeSummary, sys_path: Sequence[PathEntry], target: BytecodeTarget
) -> BytecodeSummary:
    """``summary`` with the pycs of every zip file on ``sys.path`` added as groups of their
    own (one per archive and category, the entry's location class; ``bytes``: uncompressed);
    fresh ones counted, the others listed whole, as the directory scan does."""
    tallies: dict[tuple[str, BytecodeCategory], list[tuple[str, int]]] = {}
    locations: dict[str, LocationClass] = {}
    for entry in sys_path:
        if entry.kind != "zip":
            continue
        locations[entry.resolved] = entry.location
        for path, category, size in judge_zip_archive(entry.resolved, target):
            tallies.setdefault((entry.resolved, category), []).append((path, size))
    if not tallies:
        return summary
    groups = list(summary.groups)
    for (archive, category), files in sorted(
        tallies.items(), key=lambda kv: (kv[0][0], kv[0][1].value)
    ):
        paths = sorted(p for p, _ in files)
        groups.append(
            BytecodeGroup(
                category=category,
                location_class=locations[archive],
                files=len(files),
                bytes=sum(n for _, n in files),
                examples=tuple(paths[:5]),
                roots=(archive,),
                paths=() if category is BytecodeCategory.FRESH else tuple(paths),
            )
        )
    return dataclasses.replace(summary, groups=tuple(groups))
