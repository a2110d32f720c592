"""The JSON report: a versioned envelope with sorted keys (like pipx ``result.py``)."""

from __future__ import annotations

import json

from pyenvdoctor.model import Report, to_dict

__all__ = ["dumps", "render_json"]


def dumps(document: object) -> str:
    """Serialize deterministically (sorted keys, 2-space indent, trailing newline).

    Non-ASCII text stays readable; a path that is not valid UTF-8 (PEP 383 surrogate escapes)
    is written as ``\\udcXX`` escapes, which is valid JSON and round-trips through
    :func:`json.loads` and :func:`os.fsencode` to the original bytes.
    """
    text = json.dumps(document, ensure_ascii=False, sort_keys=True, indent=2) + "\n"
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def render_json(report: Report) -> str:
    """The report as JSON; ``schema_version`` is the first thing a reader checks."""
    return dumps(to_dict(report))
