"""Renderers: each turns a :class:`~pyenvdoctor.model.Report` into a ``str``; the CLI decides
where it goes (like pip-audit ``_format``)."""

from __future__ import annotations

import re
from typing import Any

from pyenvdoctor.formats import OutputFormat
from pyenvdoctor.model import Report, from_dict, to_dict

__all__ = ["OutputFormat", "printable", "render"]

#: C0 controls, DEL and C1 controls (ESC starts terminal escape sequences; CSI is U+009B).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_KEEP_NEWLINE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def render(
    report: Report,
    fmt: OutputFormat,
    *,
    color: bool = False,
    width: int = 100,
    full: bool = False,
) -> str:
    """Render ``report`` in ``fmt``.

    :param color: ANSI colours (text only); :param width: columns (text only).
    :param full: text only: every finding whole and the tables (``--all``); JSON and Markdown
        always hold everything.
    """
    if fmt is OutputFormat.JSON:
        from pyenvdoctor.render.json import render_json

        return render_json(report)
    if fmt is OutputFormat.MARKDOWN:
        from pyenvdoctor.render.markdown import render_markdown

        return render_markdown(report)
    from pyenvdoctor.render.console import render_console

    return render_console(_printable_report(report), color=color, width=width, full=full)


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` safe to print on a terminal: every control character (C0 but newline when
    ``keep_newlines``, DEL, C1: terminal escapes, carriage returns, a newline inside a file
    name) shown as a Python escape (``\\x1b``, ``\\n``), so a name cannot fake lines or
    colours. JSON escapes them itself; this is for text output."""
    pattern = _CONTROL_KEEP_NEWLINE if keep_newlines else _CONTROL
    return pattern.sub(lambda m: repr(m.group())[1:-1], text)


def _printable_report(report: Report) -> Report:
    """``report`` with :func:`printable` applied to every string (newlines kept in the
    finding messages we write; every other value is a name, a path or a line of a file)."""

    def walk(value: Any, key: str | None = None) -> Any:
        if isinstance(value, str):
            return printable(value, keep_newlines=key == "message")
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, dict):
            return {
                printable(k) if key == "environment_variables" else k: walk(v, k)
                for k, v in value.items()
            }
        return value

    return from_dict(Report, walk(to_dict(report)))
