"""Findings about bytecode (rules in :mod:`pyenvdoctor.collect.bytecode`): one per category
that needs attention, with counts, bytes, examples and a command that touches only those files."""

from __future__ import annotations

import os
import shlex
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from pyenvdoctor.collect.records import Records, searchable
from pyenvdoctor.model import BytecodeCategory, BytecodeGroup, BytecodeSummary, Finding, Severity

__all__ = ["bytecode_findings", "format_bytes", "record_owners"]


def format_bytes(n: int) -> str:
    """Human-readable size with binary units: ``1.5 MiB``."""
    size = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True, slots=True)
class _Text:
    code: str
    severity: Severity
    title: str
    explanation: str


_TEXT: dict[BytecodeCategory, _Text] = {
    BytecodeCategory.STALE_ACCEPTED: _Text(
        "bytecode-stale-accepted",
        Severity.ERROR,
        "Old bytecode runs although its source changed",
        "The interpreter accepts these .pyc files although their source was edited afterwards, so "
        "`import` runs the OLD code: a timestamp pyc whose recorded mtime and size still match "
        "(an edit of the same size within the same second, or an mtime restored by an editor, "
        "`touch -r`, a checkout or `rsync -t`; confirmed by compiling the current source), or a "
        "hash-based pyc (PEP 552) that this interpreter does not check. Deleting them makes the "
        "interpreter compile the current source.",
    ),
    BytecodeCategory.BROKEN: _Text(
        "bytecode-broken",
        Severity.ERROR,
        "Bytecode that makes the import fail",
        "The interpreter reads these .pyc files and cannot load them, so `import` raises: the "
        "header is accepted (it matches the source, or the file is a legacy .pyc with no "
        "source) but the rest is truncated or not a code object (`_compile_bytecode` raises "
        "EOFError/ValueError/ImportError), or a legacy sourceless .pyc has a wrong magic number "
        "or a short header. Deleting them lets the interpreter compile the source again (a "
        "sourceless one has nothing to fall back to: the import then fails as 'no module').",
    ),
    BytecodeCategory.SOURCELESS: _Text(
        "bytecode-sourceless",
        Severity.WARNING,
        "Legacy .pyc files without source are importable",
        "A .pyc outside __pycache__ with no .py beside it is imported by the sourceless loader: a "
        "module that was moved or deleted keeps running from its old bytecode (a package whose "
        "only __init__ is __init__.pyc too). Remove them unless the project ships bytecode on "
        "purpose.",
    ),
    BytecodeCategory.EXTENSION_BESIDE_SOURCE: _Text(
        "extension-shadows-source",
        Severity.WARNING,
        "Compiled extension modules shadow their .py source",
        "The import system tries extension modules before source files, so this .so/.pyd is "
        "imported and the .py beside it never runs; edits to the .py have no effect. Often a "
        "leftover of `setup.py build_ext --inplace`. Remove the extension (or rebuild it) if the "
        ".py is what you work on.",
    ),
    BytecodeCategory.STALE_NOT_REWRITTEN: _Text(
        "bytecode-stale-slow-imports",
        Severity.WARNING,
        "Stale bytecode is recompiled on every start",
        "These .pyc files no longer match their source, and the interpreter cannot replace them "
        "(the directory is not writable, or bytecode writing is off: -B or "
        "PYTHONDONTWRITEBYTECODE), so every start compiles the source again: slow imports. "
        "Recompiling once, as the directory's owner, fixes it.",
    ),
    BytecodeCategory.STALE: _Text(
        "bytecode-stale",
        Severity.INFO,
        "Bytecode out of date (will be recompiled)",
        "The recorded source mtime/size or hash no longer matches, so the interpreter ignores "
        "these files and rewrites them on the next import. Harmless.",
    ),
    BytecodeCategory.SHADOWED: _Text(
        "bytecode-shadowed",
        Severity.INFO,
        "Bytecode of a module that import finds elsewhere first",
        "The import system never reads these: for the same module name in the same directory it "
        "picks a package directory first, then an extension module, then the .py, then a legacy "
        ".pyc (`FileFinder`), so this bytecode belongs to a file that loses. Debris.",
    ),
    BytecodeCategory.ORPHANED: _Text(
        "bytecode-orphaned",
        Severity.INFO,
        "Bytecode whose source is gone",
        "__pycache__ entries (or legacy .pyc beside a .py) that are never imported: their source "
        "was deleted or renamed. Debris; safe to remove.",
    ),
    BytecodeCategory.IGNORED: _Text(
        "bytecode-ignored",
        Severity.INFO,
        "Bytecode this interpreter never reads as configured",
        "Never read by this interpreter with its current options: in-tree __pycache__ while "
        "sys.pycache_prefix is set (PYTHONPYCACHEPREFIX, -X pycache_prefix), a .opt-N.pyc of "
        "another optimization level than sys.flags.optimize (-O/-OO use them), an .opt-0 name, "
        "or a file name that is no module name (a dot in the stem). Another interpreter or "
        "another -O level may still use them.",
    ),
    BytecodeCategory.FOREIGN: _Text(
        "bytecode-foreign",
        Severity.INFO,
        "Bytecode of another interpreter",
        "Files with another cache tag, an unknown magic number or a malformed header: this "
        "interpreter never runs them. They belong to another Python version that shares the tree, "
        "or are leftovers.",
    ),
}


#: Zip files on sys.path whose pycs ``add_zip_groups`` judged: rebuilding the archive is the
#: user's call, so no command is suggested for them.
_ZIP_SUFFIXES = (".zip", ".egg", ".pyz", ".whl")


#: At most this many bytes per ``rm`` command: well under Linux's ``MAX_ARG_STRLEN`` (128 KiB,
#: the longest single argument, which a command run as ``sh -c COMMAND`` is) and ``ARG_MAX``.
#: A longer list is split into several commands of the same form.
_MAX_COMMAND_BYTES = 64 * 1024


def _rm(paths: Sequence[str]) -> tuple[str, ...]:
    """``rm -f -- FILE...`` of exactly ``paths``, as few commands as fit
    :data:`_MAX_COMMAND_BYTES` each."""
    commands: list[str] = []
    words: list[str] = []
    size = 0
    for p in paths:
        word = shlex.quote(p)
        n = len(os.fsencode(word)) + 1
        if words and size + n > _MAX_COMMAND_BYTES:
            commands.append("rm -f -- " + " ".join(words))
            words, size = [], 0
        words.append(word)
        size += n
    if words:
        commands.append("rm -f -- " + " ".join(words))
    return tuple(commands)


def _command(
    category: BytecodeCategory,
    groups: list[BytecodeGroup],
    python: str,
    *,
    shipped: Iterable[str] = (),
) -> tuple[str, ...]:
    """The command that removes or rewrites exactly the files of ``groups`` (each run as
    printed by ``tests/test_suggested_commands.py`` and the bytecode tests).

    Files are named one by one, never found again under the scan roots: the scan passes by
    what is not the target's (``.tox``, ``.nox``, ``node_modules``, other virtual
    environments, site directories that are not roots, symlinked directories;
    ``collect/bytecode.py`` ``_listing``), and a ``find ROOT`` or ``rglob`` would reach them
    (another tox env's pip-installed pycs of its own Python). No paths for every file: no
    command.

    :param shipped: files a distribution's RECORD lists (a wheel that ships sourceless
        bytecode on purpose): never removed, as ``--fix`` never removes them.
    """
    if any(r.endswith(_ZIP_SUFFIXES) for g in groups for r in g.roots):
        return ()  # members of a zip file (collect/zipbytecode.py): no file to remove
    files = sum(g.files for g in groups)
    listed = sorted(e for g in groups for e in g.paths)
    if not listed or len(listed) != files:
        return ()
    roots = {r.rstrip(os.sep) for g in groups for r in g.roots}
    if _behind_a_symlink(listed, roots):
        return ()  # rm would reach through it, out of the tree (--fix skips such a file)
    if category in (
        BytecodeCategory.STALE_ACCEPTED,
        BytecodeCategory.SOURCELESS,
        BytecodeCategory.BROKEN,
        BytecodeCategory.FOREIGN,
        BytecodeCategory.ORPHANED,
    ):
        # The scan keeps the path of every file but fresh ones: exactly those go.
        keep = set(shipped)
        return _rm([p for p in listed if p not in keep])
    if category in (BytecodeCategory.STALE, BytecodeCategory.STALE_NOT_REWRITTEN):
        # Each source, forced: without -f compileall skips a pyc whose recorded mtime matches
        # although the size differs (``compileall.compile_file`` compares magic, flags and
        # mtime only), which is how an edit within the same second is stale.
        sources = [_source_of(p) for p in listed]
        if None in sources:
            return ()  # e.g. under sys.pycache_prefix: no source path to name here
        return (f"{python} -m compileall -q -f " + " ".join(shlex.quote(str(p)) for p in sources),)
    # EXTENSION_BESIDE_SOURCE, SHADOWED, IGNORED: explained, or repaired by --fix only.
    return ()


def _behind_a_symlink(paths: Iterable[str], roots: set[str]) -> bool:
    """Whether a directory between one of ``paths`` and the scan root it lies under is a
    symlink (a symlinked ``__pycache__``): ``rm`` of the path would remove a file outside the
    tree, which ``--fix`` never does (``fix._symlink_on_the_way``). Each directory is checked
    once (``lstat``); the roots themselves may be reached through symlinks."""
    seen: dict[str, bool] = {}

    def linked(directory: str) -> bool:
        if directory in roots or os.path.dirname(directory) == directory:
            return False
        if directory not in seen:
            seen[directory] = os.path.islink(directory) or linked(os.path.dirname(directory))
        return seen[directory]

    return any(linked(os.path.dirname(p)) for p in paths)


def _source_of(pyc: str) -> str | None:
    """The source a ``__pycache__`` pyc was compiled from (PEP 3147 ``source_from_cache``)."""
    cache_dir, name = os.path.split(pyc)
    if os.path.basename(cache_dir) != "__pycache__":
        return None
    return os.path.join(os.path.dirname(cache_dir), name.split(".", 1)[0] + ".py")


def _evidence(category: BytecodeCategory, groups: list[BytecodeGroup]) -> tuple[str, ...]:
    """Every path of an error or warning group (the pyc and, for old code that runs, the
    source it hides); a few examples of the others."""
    if _TEXT[category].severity is Severity.INFO:
        return tuple(e for g in groups for e in g.examples)
    paths = sorted(p for g in groups for p in g.paths)
    if category is BytecodeCategory.EXTENSION_BESIDE_SOURCE:
        return tuple(
            f"{p} (imported instead of {os.path.join(os.path.dirname(p), _stem(p) + '.py')})"
            for p in paths
        )
    if category is not BytecodeCategory.STALE_ACCEPTED:
        return tuple(paths)
    out = []
    for p in paths:
        source = _source_of(p)
        out.append(p if source is None else f"{p} (old code of {source})")
    return tuple(out)


def _stem(path: str) -> str:
    return os.path.basename(path).split(".", 1)[0]


#: Up to this many paths per site directory, :func:`record_owners` searches each RECORD's text
#: for each path; more, and it splits the RECORDs once.
_FEW = 16


def _shared_end(paths: Iterable[str]) -> str | None:
    """The longest end all of ``paths`` share, when :meth:`Records.containing` can search for
    it and it is at least 3 characters long (``.so``); else ``None``."""
    end = os.path.commonprefix([p[::-1] for p in paths])[::-1]  # noqa: RUF071 - by character
    return end if len(end) >= 3 and searchable(end) else None


def record_owners(
    paths: Iterable[str], site_dirs: Sequence[str], records: Records | None = None
) -> dict[str, str]:
    """``{path: distribution}`` for those of ``paths`` that a ``.dist-info/RECORD`` lists.

    RECORD paths are relative to the site directory the ``.dist-info`` is in (PEP 376, PEP
    627); a file listed there was installed from the distribution's wheel, by design. Only the
    site directories that hold one of ``paths`` have their RECORDs read.

    A path matches a site directory spelled as ``sys.path`` has it or as its real path: the
    bytecode scan reports real paths (its roots are resolved), ``sys.path`` keeps the symlinks a
    venv was reached through (``/work/lnk/venv`` for ``/work/real/venv``), and a RECORD's rows
    are relative, so either spelling names the same row. One ``realpath`` per site directory.

    :param paths: absolute file paths; :param site_dirs: the target's site-packages.
    :param records: the report's RECORD cache; ``None``: a new one.
    """
    records = Records() if records is None else records
    spellings = [
        (site, prefix)
        for site in site_dirs
        if site
        for prefix in dict.fromkeys(
            d.rstrip(os.sep) + os.sep for d in (site, os.path.realpath(site))
        )
    ]
    wanted: dict[str, dict[str, str]] = defaultdict(dict)  # site -> {relative path: path}
    for path in paths:
        for site, prefix in spellings:
            if path.startswith(prefix):
                wanted[site][path[len(prefix) :].replace(os.sep, "/")] = path
                break
    owners: dict[str, str] = {}
    for site, relative in wanted.items():
        try:
            infos = sorted(e.name for e in os.scandir(site) if e.name.endswith(".dist-info"))
        except OSError:
            continue
        # Without splitting every RECORD of the site (Records.containing searches its text):
        # a few paths (a package and the module it hides) are each looked up; more (the
        # extensions beside their sources) through the end they share (".so"), since a row
        # naming one of them holds that end.
        few = len(relative) <= _FEW and all(searchable(r) for r in relative)
        shared = _shared_end(relative)
        for info in infos:
            dist = info[: -len(".dist-info")].split("-")[0]
            dist_info = os.path.join(site, info)
            if few:
                for rel, path in relative.items():
                    if rel in records.containing(dist_info, rel):
                        owners.setdefault(path, dist)
                continue
            rows = records.containing(dist_info, shared) if shared else records.paths(dist_info)
            for row in rows:
                if row in relative:
                    owners.setdefault(relative[row], dist)
    return owners


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _split_extensions(
    groups: list[BytecodeGroup], site_dirs: Sequence[str], records: Records | None
) -> tuple[list[BytecodeGroup], Severity, str]:
    """The extension-beside-source groups without the files a RECORD ships (warning), or, when
    every one is shipped so, all of them at info, and a sentence naming the distributions."""
    owners = record_owners((p for g in groups for p in g.paths), site_dirs, records)
    if not owners:
        return groups, Severity.WARNING, ""
    by = ", ".join(sorted(set(owners.values())))
    shipped = (
        f" {len(owners)} of them are installed together with their .py by one wheel's RECORD "
        f"({by}): a compiled build (mypyc, Cython) that ships its source by design, not a "
        "problem."
    )
    kept = []
    for g in groups:
        left = tuple(p for p in g.paths if p not in owners)
        if left:
            kept.append(
                replace(
                    g,
                    paths=left,
                    files=len(left),
                    bytes=sum(_size(p) for p in left),
                    examples=tuple(e for e in g.examples if e not in owners),
                )
            )
    if kept:
        return kept, Severity.WARNING, shipped
    return groups, Severity.INFO, shipped


def bytecode_findings(
    summary: BytecodeSummary,
    *,
    python: str,
    site_dirs: Sequence[str] = (),
    records: Records | None = None,
) -> list[Finding]:
    """One finding per category other than fresh, with counts and bytes per location class.

    ``extension-shadows-source`` is a warning for extensions no RECORD lists (an in-place
    build beside a source the user edits); extensions a wheel ships with their ``.py`` (mypyc,
    Cython) are left out of it, or make an info finding when there is nothing else.

    :param python: the target's executable, for suggested commands.
    :param site_dirs: the target's site-packages, whose RECORDs say which files wheels installed.
    :param records: the report's RECORD cache; ``None``: a new one.
    """
    by_category: dict[BytecodeCategory, list[BytecodeGroup]] = defaultdict(list)
    for g in summary.groups:
        if g.category is not BytecodeCategory.FRESH:
            by_category[g.category].append(g)
    findings = []
    py = shlex.quote(python)
    for category, found in by_category.items():
        text = _TEXT[category]
        groups, severity, note = found, text.severity, ""
        if category is BytecodeCategory.EXTENSION_BESIDE_SOURCE:
            groups, severity, note = _split_extensions(found, site_dirs, records)
        files = sum(g.files for g in groups)
        size = sum(g.bytes for g in groups)
        per_class = ", ".join(f"{g.location_class.value}: {g.files}" for g in groups)
        findings.append(
            Finding(
                code=text.code,
                severity=severity,
                title=f"{text.title}: {files} file{'s' if files != 1 else ''}, {format_bytes(size)}",
                message=f"{text.explanation} ({per_class}).{note}",
                evidence=_evidence(category, groups),
                commands=_command(
                    category,
                    groups,
                    py,
                    shipped=record_owners((p for g in groups for p in g.paths), site_dirs, records)
                    if category is BytecodeCategory.SOURCELESS
                    else (),
                ),
                count=files,
                bytes=size,
            )
        )
    if summary.unreadable:
        n = len(summary.unreadable)
        findings.append(
            Finding(
                code="scan-unreadable",
                severity=Severity.WARNING,
                title=f"{n} director{'ies' if n != 1 else 'y'} or files could not be read",
                message="The bytecode scan could not read these; their contents were not checked.",
                evidence=summary.unreadable,
                count=n,
            )
        )
    return findings
