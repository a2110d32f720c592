"""Diagnosis: pure functions from collected facts to :class:`~pyenvdoctor.model.Finding` s.

One module per family; :func:`sort_findings` gives the one order every view uses (most severe
first, then by code).
"""

from __future__ import annotations

from collections.abc import Iterable

from pyenvdoctor.model import Finding

__all__ = ["sort_findings"]


def sort_findings(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """Most severe first, then by code and title (deterministic)."""
    return tuple(sorted(findings, key=lambda f: (f.severity.rank, f.code, f.title)))
