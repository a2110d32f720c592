"""Renderers: each turns a :class:`~pyenvdoctor.model.Report` into a ``str``; the CLI decides
where it goes (like pip-audit ``_format``)."""

from __future__ import annotations

import enum

from pyenvdoctor.model import Report

__all__ = ["OutputFormat", "render"]


class OutputFormat(str, enum.Enum):
    """Every output format; :func:`render` handles each member (a test walks them all)."""

    TEXT = "text"
    JSON = "json"
    MARKDOWN = "markdown"


def render(report: Report, fmt: OutputFormat, *, color: bool = False, width: int = 100) -> str:
    """Render ``report`` in ``fmt``.

    :param color: ANSI colours (text only); :param width: columns (text only).
    """
    if fmt is OutputFormat.JSON:
        from pyenvdoctor.render.json import render_json

        return render_json(report)
    if fmt is OutputFormat.MARKDOWN:
        from pyenvdoctor.render.markdown import render_markdown

        return render_markdown(report)
    from pyenvdoctor.render.console import render_console

    return render_console(report, color=color, width=width)
