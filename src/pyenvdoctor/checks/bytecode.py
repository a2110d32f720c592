"""Findings about bytecode (rules in :mod:`pyenvdoctor.collect.bytecode`)."""

from __future__ import annotations

import shlex
from collections import defaultdict

from pyenvdoctor.collect.bytecode import MAX_EXAMPLES
from pyenvdoctor.model import BytecodeCategory, BytecodeGroup, BytecodeSummary, Finding, Severity

__all__ = ["bytecode_findings", "format_bytes"]


def format_bytes(n: int) -> str:
    """Human-readable size with binary units: ``1.5 MiB``."""
    size = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


_TEXT: dict[BytecodeCategory, tuple[str, Severity, str, str]] = {
    BytecodeCategory.UNCHECKED_HASH: (
        "bytecode-unchecked-hash-stale",
        Severity.ERROR,
        "Old bytecode runs although its source changed",
        "These are hash-based .pyc files (PEP 552) that the interpreter does not check against "
        "their source, and the source has changed since they were written: `import` runs the "
        "old code. Recompiling rewrites them from the current source.",
    ),
    BytecodeCategory.SOURCELESS: (
        "bytecode-sourceless",
        Severity.WARNING,
        "Legacy .pyc files without source are importable",
        "A .pyc outside __pycache__ with no .py beside it is imported by the sourceless loader: "
        "a module that was moved or deleted keeps running from its old bytecode. Remove them "
        "unless the project ships bytecode on purpose.",
    ),
    BytecodeCategory.STALE: (
        "bytecode-stale",
        Severity.INFO,
        "Bytecode out of date (will be recompiled)",
        "The recorded source mtime/size or hash no longer matches, so the interpreter ignores "
        "these files and recompiles on import. Harmless unless the directory is not writable, "
        "in which case every start pays the compile.",
    ),
    BytecodeCategory.ORPHANED: (
        "bytecode-orphaned",
        Severity.INFO,
        "Bytecode whose source is gone",
        "__pycache__ entries (or legacy .pyc beside a .py) that are never imported: their source "
        "was deleted or renamed. Debris; safe to remove.",
    ),
    BytecodeCategory.FOREIGN: (
        "bytecode-foreign",
        Severity.INFO,
        "Bytecode of another interpreter",
        "Files with another cache tag, an unknown magic number or a malformed header: this "
        "interpreter never runs them. They belong to another Python version that shares the "
        "tree, or are leftovers.",
    ),
}


def _command(
    category: BytecodeCategory,
    groups: list[BytecodeGroup],
    python: str,
    cache_tag: str,
    roots: tuple[str, ...],
) -> tuple[str, ...]:
    files = sum(g.files for g in groups)
    examples = [e for g in groups for e in g.examples]
    if category in (BytecodeCategory.SOURCELESS, BytecodeCategory.UNCHECKED_HASH) and (
        files <= MAX_EXAMPLES
    ):
        return ("rm -f -- " + " ".join(shlex.quote(p) for p in sorted(examples)),)
    quoted = " ".join(shlex.quote(r) for r in roots)
    if category is BytecodeCategory.UNCHECKED_HASH:
        return (f"{python} -m compileall -q -f --invalidation-mode unchecked-hash {quoted}",)
    if category is BytecodeCategory.STALE:
        return (f"{python} -m compileall -q {quoted}",)
    if category is BytecodeCategory.SOURCELESS:
        return (f"find {quoted} -name '*.pyc' -not -path '*/__pycache__/*'  # review, then delete",)
    if category is BytecodeCategory.FOREIGN:
        return (
            f"find {quoted} -path '*/__pycache__/*.pyc' -not -name '*.{cache_tag}.pyc' "
            f"-not -name '*.{cache_tag}.opt-*.pyc' -type f -delete",
        )
    script = (
        "import pathlib, sys; [p.unlink() for r in sys.argv[1:] for p in "
        f"pathlib.Path(r).rglob('__pycache__/*.{cache_tag}*.pyc') "
        "if not p.parent.parent.joinpath(p.name.split('.')[0] + '.py').exists()]"
    )
    return (f"{python} -c {shlex.quote(script)} {quoted}",)


def bytecode_findings(summary: BytecodeSummary, *, python: str, cache_tag: str) -> list[Finding]:
    """One finding per non-fresh category, with counts and bytes per location class.

    :param python: the target's executable, for suggested commands.
    """
    by_category: dict[BytecodeCategory, list[BytecodeGroup]] = defaultdict(list)
    for g in summary.groups:
        if g.category is not BytecodeCategory.FRESH:
            by_category[g.category].append(g)
    findings = []
    py = shlex.quote(python)
    for category, groups in by_category.items():
        code, severity, title, explanation = _TEXT[category]
        files = sum(g.files for g in groups)
        size = sum(g.bytes for g in groups)
        per_class = ", ".join(f"{g.location_class.value}: {g.files}" for g in groups)
        roots = tuple(sorted({r for g in groups for r in g.roots}))
        findings.append(
            Finding(
                code=code,
                severity=severity,
                title=f"{title}: {files} file{'s' if files != 1 else ''}, {format_bytes(size)}",
                message=f"{explanation} ({per_class}).",
                evidence=tuple(e for g in groups for e in g.examples),
                commands=_command(category, groups, py, cache_tag, roots),
            )
        )
    if summary.unreadable:
        findings.append(
            Finding(
                code="scan-unreadable",
                severity=Severity.WARNING,
                title=f"{len(summary.unreadable)} director{'ies' if len(summary.unreadable) != 1 else 'y'} could not be read",
                message="The bytecode scan could not list these; their contents were not checked.",
                evidence=summary.unreadable[:20],
            )
        )
    return findings
