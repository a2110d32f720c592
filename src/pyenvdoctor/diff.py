"""What differs between two reports ("works on my machine"), as data.

:func:`diff_reports` compares two :class:`~pyenvdoctor.model.Report` objects, typically two saved
``report --format json`` outputs read back with :func:`~pyenvdoctor.model.from_dict`. ``a`` is the
reference (the machine where it works), ``b`` the other; "new" and "added" mean "in B only".
Swapping the arguments swaps every pair of sides. Values are compared as the reports hold them:
a redacted value (``<redacted>``) is just a string.
"""

from __future__ import annotations

import enum
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from typing import TypeVar

from packaging.version import InvalidVersion, Version

from pyenvdoctor.model import DependencyProblem, Distribution, Finding, LocationClass, Report

__all__ = [
    "Change",
    "CountChange",
    "DistributionChange",
    "ReportDiff",
    "VersionDirection",
    "diff_reports",
]

T = TypeVar("T")

#: Interpreter fields compared (after ``version``, the short version); flags follow, one by one.
_INTERPRETER_FIELDS = (
    "implementation",
    "cache_tag",
    "sys_platform",
    "platform",
    "machine",
    "kind",
    "is_virtual_environment",
    "prefix",
    "sysconfig_scheme",
    "user_site_enabled",
    "pycache_prefix",
    "externally_managed",
)


class VersionDirection(str, enum.Enum):
    """How a distribution's version moved from A to B (PEP 440 ordering, ``packaging``).

    ``unordered``: a version is not PEP 440, or both are equal under it (``1.0`` / ``1.0.0``).
    """

    UPGRADE = "upgrade"
    DOWNGRADE = "downgrade"
    UNORDERED = "unordered"


@dataclass(frozen=True, kw_only=True, slots=True)
class Change:
    """One value that differs. ``None``: absent or not set on that side."""

    field: str
    a: str | None
    b: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class CountChange:
    """How many ``sys.path`` entries of one location class each side has."""

    location: LocationClass
    a: int
    b: int


@dataclass(frozen=True, kw_only=True, slots=True)
class DistributionChange:
    """A distribution visible on both sides that differs.

    :ivar name: the PEP 503 canonical name.
    :ivar direction: ``None`` when the version is the same string on both sides.
    :ivar changes: ``location_class``, ``editable``, ``editable_project``, ``installer``
        when they differ.
    """

    name: str
    a_version: str
    b_version: str
    direction: VersionDirection | None
    changes: tuple[Change, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class ReportDiff:
    """Everything that differs between report A and report B. Distributions, dependency problems
    and findings are sorted by their key; interpreter fields keep the order of
    :data:`_INTERPRETER_FIELDS`, ``sys.path`` entries their order in the report.

    :ivar sys_path_only_a: ``sys.path`` entries (compared as path strings) in A only, in A's
        order; :ivar sys_path_locations: location classes whose entry counts differ.
    :ivar pip_cache: ``directory`` and ``total_bytes`` (bytes) when they differ.
    """

    a_executable: str
    b_executable: str
    interpreter: tuple[Change, ...]
    environment_variables: tuple[Change, ...]
    distributions_added: tuple[Distribution, ...]
    distributions_removed: tuple[Distribution, ...]
    distributions_changed: tuple[DistributionChange, ...]
    dependency_problems_new: tuple[DependencyProblem, ...]
    dependency_problems_gone: tuple[DependencyProblem, ...]
    findings_new: tuple[Finding, ...]
    findings_resolved: tuple[Finding, ...]
    sys_path_locations: tuple[CountChange, ...]
    sys_path_only_a: tuple[str, ...]
    sys_path_only_b: tuple[str, ...]
    pip_cache: tuple[Change, ...]

    @property
    def is_empty(self) -> bool:
        """``True`` when the two reports agree on everything compared."""
        return not any(v for f in fields(self) if isinstance(v := getattr(self, f.name), tuple))

    @property
    def summary(self) -> str:
        """One line: ``Python 3.11.7 → 3.12.1; 3 distributions added, 2 removed; ...``."""
        head = [c for c in self.interpreter if c.field in ("version", "implementation")]
        parts = [f"{'Python ' if c.field == 'version' else ''}{c.a} → {c.b}" for c in head]
        changed = self.distributions_changed
        moved = sum(c.direction is not None for c in changed)
        counted = [
            _counted(
                "distribution",
                [
                    (len(self.distributions_added), "{} added"),
                    (len(self.distributions_removed), "{} removed"),
                    (moved, "{} changed version"),
                    (len(changed) - moved, "{} changed otherwise"),
                ],
            ),
            _counted(
                "dependency problem",
                [
                    (len(self.dependency_problems_new), "new {}"),
                    (len(self.dependency_problems_gone), "{} gone"),
                ],
            ),
            _counted(
                "finding",
                [(len(self.findings_new), "new {}"), (len(self.findings_resolved), "{} resolved")],
            ),
        ]
        other = len(self.interpreter) - len(head) + len(self.environment_variables)
        other += len(self.sys_path_locations) + len(self.sys_path_only_a)
        other += len(self.sys_path_only_b) + len(self.pip_cache)
        counted.append(_counted("other difference", [(other, "{}")]))
        parts += [p for p in counted if p]
        return "; ".join(parts) or "no differences"


def _counted(noun: str, items: list[tuple[int, str]]) -> str | None:
    """``"3 distributions added, 2 removed"``: the noun goes with the first non-zero count."""
    shown = [(n, label) for n, label in items if n]
    words = [
        f"{n} " + " ".join(label.format(noun + ("s" if n != 1 else "") if i == 0 else "").split())
        for i, (n, label) in enumerate(shown)
    ]
    return ", ".join(words) or None


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return str(value.value)
    return str(value)


def _changes(pairs: Iterable[tuple[str, object, object]]) -> tuple[Change, ...]:
    texts = ((name, _text(a), _text(b)) for name, a, b in pairs)
    return tuple(Change(field=name, a=a, b=b) for name, a, b in texts if a != b)


def _interpreter(ra: Report, rb: Report) -> tuple[Change, ...]:
    a, b = ra.interpreter, rb.interpreter
    pairs: list[tuple[str, object, object]] = [("version", a.short_version, b.short_version)]
    pairs += [(f, getattr(a, f), getattr(b, f)) for f in _INTERPRETER_FIELDS]
    pairs += [(f"flags.{k}", a.flags.get(k), b.flags.get(k)) for k in sorted(a.flags | b.flags)]
    return _changes(pairs)


def _mapping(a: Mapping[str, str], b: Mapping[str, str]) -> tuple[Change, ...]:
    return _changes((k, a.get(k), b.get(k)) for k in sorted(a.keys() | b.keys()))


def _split(
    a: Iterable[T], b: Iterable[T], key: Callable[[T], tuple[str, ...]]
) -> tuple[tuple[T, ...], tuple[T, ...], list[tuple[T, T]]]:
    """``(only in b, only in a, pairs in both)`` by ``key``, sorted; the first of a key wins."""
    ka: dict[tuple[str, ...], T] = {}
    kb: dict[tuple[str, ...], T] = {}
    for items, keyed in ((a, ka), (b, kb)):
        for item in items:
            keyed.setdefault(key(item), item)
    return (
        tuple(kb[k] for k in sorted(kb.keys() - ka.keys())),
        tuple(ka[k] for k in sorted(ka.keys() - kb.keys())),
        [(ka[k], kb[k]) for k in sorted(ka.keys() & kb.keys())],
    )


def _direction(a: str, b: str) -> VersionDirection | None:
    if a == b:
        return None
    try:
        va, vb = Version(a), Version(b)
    except InvalidVersion:
        return VersionDirection.UNORDERED
    if va == vb:
        return VersionDirection.UNORDERED
    return VersionDirection.UPGRADE if vb > va else VersionDirection.DOWNGRADE


def _distribution_change(x: Distribution, y: Distribution) -> DistributionChange | None:
    direction = _direction(x.version, y.version)
    changes = _changes(
        (f, getattr(x, f), getattr(y, f))
        for f in ("location_class", "editable", "editable_project", "installer")
    )
    if direction is None and not changes:
        return None
    return DistributionChange(
        name=x.canonical_name,
        a_version=x.version,
        b_version=y.version,
        direction=direction,
        changes=changes,
    )


def diff_reports(a: Report, b: Report) -> ReportDiff:
    """Compare report ``a`` (the reference) with report ``b``.

    Distributions are the visible ones (what ``pip list`` shows), matched by canonical name;
    dependency problems by the line ``pip check`` prints; findings by their code and subject
    (:attr:`~pyenvdoctor.model.Finding.subject`), those without one by code and title with
    numbers ignored (titles carry counts: "3 files" and "5 files" are one finding).
    """
    added, removed, both = _split(
        a.visible_distributions(), b.visible_distributions(), lambda d: (d.canonical_name,)
    )
    problems_new, problems_gone, _ = _split(
        a.dependency_problems, b.dependency_problems, lambda p: (p.pip_line(),)
    )
    # A report of schema 1.0 has no subjects: then both sides are matched by title.
    by_subject = all(_minor(r.schema_version) >= 1 for r in (a, b))
    findings_new, findings_resolved, _ = _split(
        a.findings, b.findings, _finding_key if by_subject else _title_key
    )
    count_a = Counter(e.location for e in a.sys_path)
    count_b = Counter(e.location for e in b.sys_path)
    paths_a, paths_b = [e.path for e in a.sys_path], [e.path for e in b.sys_path]
    set_a, set_b = set(paths_a), set(paths_b)
    ca, cb = a.pip_cache, b.pip_cache  # None: not checked
    return ReportDiff(
        a_executable=a.interpreter.executable,
        b_executable=b.interpreter.executable,
        interpreter=_interpreter(a, b),
        environment_variables=_mapping(a.environment_variables, b.environment_variables),
        distributions_added=added,
        distributions_removed=removed,
        distributions_changed=tuple(
            c for x, y in both if (c := _distribution_change(x, y)) is not None
        ),
        dependency_problems_new=problems_new,
        dependency_problems_gone=problems_gone,
        findings_new=findings_new,
        findings_resolved=findings_resolved,
        sys_path_locations=tuple(
            CountChange(location=c, a=count_a[c], b=count_b[c])
            for c in LocationClass
            if count_a[c] != count_b[c]
        ),
        sys_path_only_a=tuple(dict.fromkeys(p for p in paths_a if p not in set_b)),
        sys_path_only_b=tuple(dict.fromkeys(p for p in paths_b if p not in set_a)),
        pip_cache=_changes(
            [
                ("directory", ca and ca.directory, cb and cb.directory),
                ("total_bytes", ca and ca.total_bytes, cb and cb.total_bytes),
            ]
        ),
    )


def _finding_key(f: Finding) -> tuple[str, str]:
    """``(code, subject)``; a finding without a subject (one per code and report) by its
    title (:func:`_title_key`)."""
    if f.subject is not None:
        return f.code, "subject:" + f.subject
    return _title_key(f)


def _title_key(f: Finding) -> tuple[str, str]:
    """``(code, title)`` with the numbers masked ("3 files" and "5 files" are one finding)."""
    return f.code, "title:" + re.sub(r"\d[\d,.]*", "#", f.title)


def _minor(version: str) -> int:
    """The minor number of a ``MAJOR.MINOR`` schema version (0 when unreadable)."""
    try:
        return int(version.split(".")[1])
    except (IndexError, ValueError):
        return 0
