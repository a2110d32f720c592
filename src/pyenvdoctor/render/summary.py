"""Figures every view shows, computed once (like pipdeptree ``_render/summary.py``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from pyenvdoctor.checks.bytecode import format_bytes
from pyenvdoctor.model import BytecodeCategory, LocationClass, Report, Severity

__all__ = ["Summary", "summarize"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Summary:
    """Headline figures.

    :ivar distributions_per_class: visible distributions per location class, in enum order.
    :ivar bytecode_per_category: ``(files, bytes)`` per category, in enum order.
    """

    headline: str
    interpreter_line: str
    selection_line: str
    severity_counts: tuple[tuple[Severity, int], ...]
    distributions_total: int
    shadowed_total: int
    distributions_per_class: tuple[tuple[LocationClass, int], ...]
    bytecode_per_category: tuple[tuple[BytecodeCategory, int, int], ...]
    pip_cache_line: str


def summarize(report: Report) -> Summary:
    """Compute the headline figures of ``report``."""
    it = report.interpreter
    sev = Counter(f.severity for f in report.findings)
    counts = tuple((s, sev.get(s, 0)) for s in Severity)
    problems = ", ".join(f"{n} {s.value}{'s' if n != 1 else ''}" for s, n in counts if n)
    headline = f"{len(report.findings)} finding{'s' if len(report.findings) != 1 else ''}"
    headline += f" ({problems})" if problems else ": nothing wrong found"
    hidden = sum(i.findings for i in report.ignored)
    if report.ignored:  # issue 14: ignored findings are counted in the summary
        headline += f"; {hidden} ignored (" + ", ".join(i.code for i in report.ignored) + ")"
    visible = report.visible_distributions()
    per_class = Counter(d.location_class for d in visible)
    byte_files: Counter[BytecodeCategory] = Counter()
    byte_bytes: Counter[BytecodeCategory] = Counter()
    for g in report.bytecode.groups:
        byte_files[g.category] += g.files
        byte_bytes[g.category] += g.bytes
    cache = report.pip_cache
    if cache is None:
        cache_line = "not checked"
    elif cache.disabled:
        cache_line = f"disabled ({cache.source})"
    elif not cache.exists:
        cache_line = f"{cache.directory} (does not exist)"
    else:
        cache_line = (
            f"{cache.directory}: {format_bytes(cache.total_bytes)} "
            f"(http {cache.http_files} files, wheels {cache.wheels_files})"
        )
    env_kind = it.kind.value + (" virtual environment" if it.is_virtual_environment else "")
    return Summary(
        headline=headline,
        interpreter_line=(
            f"{it.implementation} {it.short_version} ({env_kind}) at {it.executable}, "
            f"{it.sys_platform} {it.machine}"
        ),
        selection_line=f"Inspected {report.selection.executable}: {report.selection.explanation}.",
        severity_counts=counts,
        distributions_total=len(visible),
        shadowed_total=len(report.distributions) - len(visible),
        distributions_per_class=tuple((c, per_class[c]) for c in LocationClass if per_class.get(c)),
        bytecode_per_category=tuple(
            (c, byte_files[c], byte_bytes[c]) for c in BytecodeCategory if byte_files.get(c)
        ),
        pip_cache_line=cache_line,
    )
