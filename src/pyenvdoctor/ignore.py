"""Finding codes a team accepts: ``report --ignore CODE`` (repeatable) and, in the current
project's ``pyproject.toml``::

    [tool.pyenvdoctor]
    ignore = ["bytecode-stale", "path-python-other-interpreter"]

(the ``[tool.NAME]`` table is the tool's own, PEP 518). Ignored findings are left out of the
report's findings, so of the text and Markdown views and of ``--fail-on``; the JSON lists each
ignored code with how many findings it hid and where it was asked for. ``pyproject.toml`` is
read with :mod:`tomllib` (3.11+), or ``tomli`` on 3.10 (a dependency there).
"""

from __future__ import annotations

import dataclasses
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from pyenvdoctor import files
from pyenvdoctor.checks import FINDING_CODES
from pyenvdoctor.errors import UsageError
from pyenvdoctor.model import Finding, IgnoredCode, Report

__all__ = [
    "IGNORE_OPTION",
    "IgnoreList",
    "apply_ignore",
    "check_codes",
    "read_ignore",
    "split_ignored",
]

#: The ``source`` of codes given on the command line.
IGNORE_OPTION = "--ignore"


@dataclass(frozen=True, kw_only=True, slots=True)
class IgnoreList:
    """The codes to leave out, each with where it was asked for.

    :ivar codes: ``{code: source}``, ``source`` being :data:`IGNORE_OPTION` or a
        ``pyproject.toml`` path (the command line wins when both name a code).
    :ivar note: one line for stderr when the project's ``pyproject.toml`` exists but cannot be
        read as TOML (its list is then not applied), else ``None``.
    """

    codes: dict[str, str]
    note: str | None = None


def check_codes(codes: Iterable[str], source: str) -> list[str]:
    """``codes`` in order, each a code of :data:`~pyenvdoctor.checks.FINDING_CODES`.

    :raises UsageError: an unknown code (exit 2, as ``--fix CODE``), with the nearest known
        one when there is a close match.
    """
    result = list(codes)
    for code in result:
        if code not in FINDING_CODES:
            import difflib  # only for the error: it costs milliseconds to import

            near = difflib.get_close_matches(code, sorted(FINDING_CODES), n=1)
            hint = f" (did you mean {near[0]}?)" if near else ""
            raise UsageError(
                f"{source} {code!r}: no finding has this code{hint}; the codes are listed in "
                'the README, "Finding codes"'
            )
    return result


def _project_codes(project_root: str) -> tuple[list[str], str, str | None]:
    """``(codes, pyproject path, note)`` from ``[tool.pyenvdoctor] ignore``.

    :raises UsageError: ``ignore`` is not a list of strings, or names an unknown code.
    """
    path = os.path.join(project_root, "pyproject.toml")
    if not os.path.isfile(path):
        return [], path, None
    try:
        data = files.read_toml(path)
    except (OSError, ValueError) as exc:  # ValueError: not UTF-8, or not TOML
        return (
            [],
            path,
            f"{path} cannot be read, its [tool.pyenvdoctor] ignore is not applied: {exc}",
        )
    tool = data.get("tool")
    table = tool.get("pyenvdoctor") if isinstance(tool, dict) else None
    if table is None:
        return [], path, None
    value = table.get("ignore", []) if isinstance(table, dict) else None
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        raise UsageError(f"{path}: [tool.pyenvdoctor] ignore must be a list of finding codes")
    return check_codes(value, f"{path}: [tool.pyenvdoctor] ignore"), path, None


def read_ignore(option: Iterable[str], project_root: str | None) -> IgnoreList:
    """The codes of ``--ignore`` and of the project's ``pyproject.toml``.

    :param option: the ``--ignore`` values, in order.
    :param project_root: the current project (:func:`~pyenvdoctor.start.find_project_root`),
        or ``None``.
    :raises UsageError: an unknown code in either, or a malformed ``ignore`` value.
    """
    codes: dict[str, str] = {}
    note = None
    if project_root is not None:
        found, path, note = _project_codes(project_root)
        codes.update(dict.fromkeys(found, path))
    codes.update(dict.fromkeys(check_codes(option, IGNORE_OPTION), IGNORE_OPTION))
    return IgnoreList(codes=codes, note=note)


def split_ignored(
    findings: Iterable[Finding], ignore: IgnoreList
) -> tuple[tuple[Finding, ...], tuple[IgnoredCode, ...]]:
    """``(the findings kept, the ignored codes with how many findings each left out)``, the
    codes sorted. The same rule for a report and for the findings shown instead of one when
    the target cannot start (``venv-base-missing``, exit 3)."""
    found = tuple(findings)
    left_out = Counter(f.code for f in found if f.code in ignore.codes)
    return (
        tuple(f for f in found if f.code not in ignore.codes),
        tuple(
            IgnoredCode(code=code, findings=left_out[code], source=source)
            for code, source in sorted(ignore.codes.items())
        ),
    )


def apply_ignore(report: Report, ignore: IgnoreList) -> Report:
    """``report`` without the findings of the ignored codes, which
    :attr:`~pyenvdoctor.model.Report.ignored` lists (sorted by code) with their counts."""
    if not ignore.codes:
        return report
    kept, ignored = split_ignored(report.findings, ignore)
    return dataclasses.replace(report, findings=kept, ignored=ignored)
