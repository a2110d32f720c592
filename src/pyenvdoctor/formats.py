"""The output formats, in a module of their own: the CLI builds its parser and picks a format
before anything heavy is imported (:mod:`pyenvdoctor.render` imports the model, whose
dataclasses take tens of milliseconds to build, time the probe and the shim lookups would wait
for; see ``cli._build``). :mod:`pyenvdoctor.render` re-exports :class:`OutputFormat`."""

from __future__ import annotations

import enum

__all__ = ["OutputFormat"]


class OutputFormat(str, enum.Enum):
    """Every output format; :func:`pyenvdoctor.render.render` handles each member (a test walks
    them all)."""

    TEXT = "text"
    JSON = "json"
    MARKDOWN = "markdown"
