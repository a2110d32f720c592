"""``pyenvdoctor which``: text (plain, so the command starts without importing rich), JSON and
Markdown, from the same rows."""

from __future__ import annotations

from pyenvdoctor.model import LocationClass, WhichReport, to_dict
from pyenvdoctor.render import OutputFormat
from pyenvdoctor.render.json import dumps

__all__ = ["render_which"]


def _lines(r: WhichReport) -> list[str]:
    last = r.levels[-1] if r.levels else None
    if r.found and last is not None:
        where = last.origin or last.kind or "?"
        head = [f"import {r.name} loads {where}", f"  found by {last.finder} ({last.kind})"]
    elif r.unresolved is not None:
        head = [f"import {r.name}: {r.unresolved}"]
    else:
        head = [f"import {r.name} fails: not found"]
    head.append(f"  in {r.executable} (Python {r.version}): {r.selection.explanation}")
    body: list[str] = []
    for level in r.levels:
        if len(r.levels) > 1 or level.candidates:
            body.append(f"{level.name}: {level.finder or 'not found'}")
        for c in level.candidates:
            mark = "->" if c.wins else "  "
            shadow = "" if c.wins else "  (shadowed)" if level.finder else ""
            body.append(
                f"  {mark} [{c.index}] {c.origin or c.entry} ({c.kind}, {c.location.value}){shadow}"
            )
    if r.owner is not None:
        o = r.owner
        body.append(
            f"owned by {o.name} {o.version} ({o.location_class.value})"
            + (f", editable from {o.editable_project}" if o.editable else "")
        )
    elif r.found and last is not None and _is_stdlib(r):
        body.append("part of the standard library")
    elif r.found:
        body.append("owned by no installed distribution")
    if r.bytecode_path:
        verdict = r.bytecode.value if r.bytecode else "none yet"
        body.append(f"bytecode: {r.bytecode_path} ({verdict})")
    body += [f"note: {n}" for n in r.notes if n != r.unresolved]  # the headline says it
    return head + body


def _is_stdlib(r: WhichReport) -> bool:
    last = r.levels[-1]
    if last.kind in ("built-in", "frozen"):
        return True
    top = r.levels[0]
    stdlib = (LocationClass.STDLIB, LocationClass.LIB_DYNLOAD)
    return any(c.wins and c.location in stdlib for c in top.candidates)


def render_which(report: WhichReport, fmt: OutputFormat) -> str:
    """Render a :class:`~pyenvdoctor.model.WhichReport`."""
    if fmt is OutputFormat.JSON:
        return dumps(to_dict(report))
    lines = _lines(report)
    if fmt is OutputFormat.MARKDOWN:
        return "\n".join([f"### `{lines[0]}`", "", "```text", *lines[1:], "```", ""])
    return "\n".join(lines) + "\n"
