"""``pyenvdoctor diff A.json B.json`` in the three formats. The sections and their rows are
computed once (:func:`_sections`); each view lays out the same rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pyenvdoctor.checks.bytecode import format_bytes
from pyenvdoctor.diff import Change, ReportDiff
from pyenvdoctor.model import SCHEMA_VERSION, Distribution, to_dict
from pyenvdoctor.render import OutputFormat
from pyenvdoctor.render.json import dumps
from pyenvdoctor.render.markdown import _code, _details, _table

__all__ = ["DIFF_KIND", "render_diff"]

#: The ``kind`` of the JSON envelope.
DIFF_KIND = "pyenvdoctor-diff"
#: Markdown tables longer than this are folded in ``<details>``.
FOLD_ROWS = 50


class _Code(str):
    """A value Markdown shows as code (a path, a variable's value); text shows it as is."""

    __slots__ = ()


#: (title, column headers, rows)
_Section = tuple[str, Sequence[str], list[tuple[str, ...]]]


def _value(value: str | None) -> str:
    return "(not set)" if value is None else _Code(value)


def _pairs(changes: Sequence[Change]) -> list[tuple[str, ...]]:
    return [(c.field, _value(c.a), _value(c.b)) for c in changes]


def _cache_row(c: Change) -> tuple[str, ...]:
    if c.field != "total_bytes":
        return (c.field, _value(c.a), _value(c.b))
    return (c.field, *(_value(v) if v is None else format_bytes(int(v)) for v in (c.a, c.b)))


def _where(d: Distribution) -> str:
    return f"{d.version} ({d.location_class.value})"


def _sections(d: ReportDiff) -> list[_Section]:
    dists: list[tuple[str, ...]] = [
        (x.canonical_name, "added", "", _where(x)) for x in d.distributions_added
    ]
    dists += [(x.canonical_name, "removed", _where(x), "") for x in d.distributions_removed]
    for c in d.distributions_changed:
        if c.direction is not None:
            dists.append((c.name, c.direction.value, c.a_version, c.b_version))
        dists += [(c.name, ch.field, _value(ch.a), _value(ch.b)) for ch in c.changes]
    problems: list[tuple[str, ...]] = [
        ("new in B", p.pip_line()) for p in d.dependency_problems_new
    ]
    problems += [("gone in B", p.pip_line()) for p in d.dependency_problems_gone]
    findings: list[tuple[str, ...]] = [
        ("new in B", f.code, f.severity.value, f.title) for f in d.findings_new
    ]
    findings += [("resolved in B", f.code, f.severity.value, f.title) for f in d.findings_resolved]
    paths: list[tuple[str, ...]] = [("only in A", _Code(p or "''")) for p in d.sys_path_only_a]
    paths += [("only in B", _Code(p or "''")) for p in d.sys_path_only_b]
    sections: list[_Section] = [
        ("Interpreter", ("field", "A", "B"), _pairs(d.interpreter)),
        ("Environment variables", ("variable", "A", "B"), _pairs(d.environment_variables)),
        ("Distributions", ("distribution", "change", "A", "B"), dists),
        ("Dependency problems (pip check)", ("", "problem"), problems),
        ("Findings", ("", "code", "severity", "title"), findings),
        (
            "sys.path entries per location",
            ("location", "A", "B"),
            [(c.location.value, str(c.a), str(c.b)) for c in d.sys_path_locations],
        ),
        ("sys.path entries", ("", "entry"), paths),
        ("pip cache", ("field", "A", "B"), [_cache_row(c) for c in d.pip_cache]),
    ]
    return [s for s in sections if s[2]]


def _aligned(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    return [
        "  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [headers, *rows]
    ]


def _text(d: ReportDiff) -> str:
    out = ["pyenvdoctor diff", f"A: {d.a_executable}", f"B: {d.b_executable}", d.summary]
    for title, headers, rows in _sections(d):
        out += ["", title, *_aligned(headers, rows)]
    return "\n".join(out) + "\n"


def _markdown(d: ReportDiff) -> str:
    out = ["# pyenvdoctor diff", "", f"**{d.summary}**", ""]
    out += [f"A: {_code(d.a_executable)} · B: {_code(d.b_executable)}", ""]
    if d.is_empty:
        out += ["No differences.", ""]
    for title, headers, rows in _sections(d):
        cells = [[_code(c) if isinstance(c, _Code) and c else c for c in r] for r in rows]
        table = _table(headers, cells)
        if len(rows) > FOLD_ROWS:
            out += [f"## {title}", "", *_details(f"{len(rows)} rows", table)]
        else:
            out += [f"## {title}", "", *table, ""]
    return "\n".join(out)


def _json(d: ReportDiff) -> dict[str, Any]:
    body = to_dict(d)
    body.update(
        schema_version=SCHEMA_VERSION, kind=DIFF_KIND, summary=d.summary, is_empty=d.is_empty
    )
    return body


def render_diff(d: ReportDiff, fmt: OutputFormat) -> str:
    """Render ``d`` in ``fmt``. JSON is a versioned envelope with sorted keys: ``schema_version``,
    ``kind`` (:data:`DIFF_KIND`), ``summary``, ``is_empty`` and every field of
    :class:`~pyenvdoctor.diff.ReportDiff`."""
    if fmt is OutputFormat.JSON:
        return dumps(_json(d))
    if fmt is OutputFormat.MARKDOWN:
        return _markdown(d)
    return _text(d)
