"""Editable installs whose edits do not run: an earlier ``sys.path`` entry (a stale ``.pth``
line, or a start-up hook) provides the same name first, or a strict-mode link tree lacks a
module added after the install. Each finding carries its repair where one is safe
(:class:`~pyenvdoctor.model.Repair`); a file the user wrote (``sitecustomize.py``) is explained,
never changed.

Order of ``sys.path`` (CPython ``Lib/site.py``): ``.pth`` files of a site directory are processed
in alphabetical order, each path line appended; then ``sitecustomize`` and ``usercustomize`` are
imported and may reorder ``sys.path``.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Collection, Mapping, Sequence

from pyenvdoctor.checks.project import reinstall_editable
from pyenvdoctor.collect.editable import StrictEditable
from pyenvdoctor.model import (
    ContestedName,
    Distribution,
    Finding,
    LocationClass,
    PathEntry,
    PthFile,
    Repair,
    RepairGroup,
    RepairKind,
    Severity,
)

__all__ = ["editable_findings"]


def _inside(path: str, root: str) -> bool:
    path, root = os.path.realpath(path), os.path.realpath(root)
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def editable_findings(
    contested: Sequence[ContestedName],
    sys_path: Sequence[PathEntry],
    pth_files: Sequence[PthFile],
    distributions: Sequence[Distribution],
    *,
    strict: Sequence[StrictEditable],
    hooks: Mapping[str, str],
    owned: Collection[str],
    python: str,
) -> list[Finding]:
    """``pth-entry-shadows-editable``, ``startup-hook-shadows-editable`` and
    ``editable-strict-missing-modules``.

    :param strict: from :func:`~pyenvdoctor.collect.editable.find_strict_editables`.
    :param hooks: from :func:`~pyenvdoctor.collect.editable.find_startup_hooks`.
    :param owned: real paths of files some distribution's RECORD lists (a ``.pth`` pip wrote
        is the distribution's, and is never edited).
    :param python: the target's executable, for the repairs.
    """
    entries = {e.index: e for e in sys_path}
    pths = {p.path: p for p in pth_files}
    editables = [d for d in distributions if d.visible and d.editable and d.editable_project]
    findings: list[Finding] = []
    for c in contested:
        w = c.winner
        for other in c.others:
            dist = next(
                (
                    d
                    for d in editables
                    if d.editable_project and _inside(other.path, d.editable_project)
                ),
                None,
            )
            if dist is None or dist.editable_project is None:
                continue
            if _inside(w.path, dist.editable_project) or w.index >= other.index:
                break
            entry = entries.get(w.index)
            if entry is None:
                break
            if entry.location is LocationClass.PTH and entry.pth_file:
                findings.append(
                    _pth_finding(
                        c.name,
                        entry=entry,
                        pth=pths.get(entry.pth_file),
                        dist=dist,
                        loses=other.path,
                        owned=owned,
                    )
                )
            elif entry.location is LocationClass.OTHER:
                findings.append(_hook_finding(c.name, entry, dist, other.path, hooks))
            break
    for s in strict:
        d = s.distribution
        root = d.editable_project or os.path.dirname(os.path.dirname(s.tree))
        shown = ", ".join(os.path.basename(m) for m in s.missing[:5])
        findings.append(
            Finding(
                code="editable-strict-missing-modules",
                severity=Severity.ERROR,
                title=f"{len(s.missing)} module(s) added to {d.name} since its strict editable install cannot be imported",
                message=(
                    f"{d.name} is installed in editable mode with editable_mode=strict: {s.pth} puts "
                    f"the link tree {s.tree} on sys.path, which holds a link for each file that "
                    f"existed at install time. {shown} came later and has no link, so importing it "
                    "fails. Install the project again (the same mode), or use the default lenient "
                    "mode, which finds new modules."
                ),
                evidence=(s.tree, s.pth, *s.missing),
                subject=d.canonical_name,
                count=len(s.missing),
                commands=(
                    f"{shlex.quote(python)} -m pip install -e {shlex.quote(root)} "
                    "--config-settings editable_mode=strict",
                ),
                repairs=(
                    reinstall_editable(
                        python, root, d.name, extra=("--config-settings", "editable_mode=strict")
                    ),
                ),
            )
        )
    return findings


def _pth_finding(
    name: str,
    *,
    entry: PathEntry,
    pth: PthFile | None,
    dist: Distribution,
    loses: str,
    owned: Collection[str],
) -> Finding:
    pth_path = entry.pth_file or ""
    lines = [
        ln
        for ln in (pth.lines if pth else ())
        if ln.kind == "path"
        and ln.path
        and os.path.realpath(ln.path) == os.path.realpath(entry.resolved)
    ]
    safe = bool(lines) and os.path.realpath(pth_path) not in owned
    return Finding(
        code="pth-entry-shadows-editable",
        severity=Severity.ERROR,
        title=f"{os.path.basename(pth_path)} puts {entry.path} before the editable install of {dist.name}",
        message=(
            f"`import {name}` loads it from {entry.path} (sys.path[{entry.index}]), added by a line "
            f"of {pth_path}, not from {loses}, the checkout {dist.name} is installed in editable "
            f"mode from: site.py processes .pth files in alphabetical order, so that line comes "
            "first and edits to the checkout do not run. "
            + (
                "Remove the line (its old content is kept in the fix log)."
                if safe
                else "The .pth file belongs to an installed distribution: uninstall that one instead."
            )
        ),
        evidence=(pth_path, entry.path, loses, dist.metadata_path),
        subject=pth_path,
        repairs=(
            Repair(
                kind=RepairKind.REMOVE_PTH_LINES,
                group=RepairGroup.INSTALLATION,
                description=f"remove the line {lines[0].text!r} from {pth_path}",
                paths=(pth_path,),
                lines=tuple(ln.text for ln in lines),
            ),
        )
        if safe
        else (),
    )


def _hook_finding(
    name: str, entry: PathEntry, dist: Distribution, loses: str, hooks: Mapping[str, str]
) -> Finding:
    hook_paths = tuple(hooks.values())
    by = (
        " and ".join(f"{os.path.basename(p)} ({p})" for p in hook_paths)
        if hook_paths
        else "code run at start-up or by the program"
    )
    return Finding(
        code="startup-hook-shadows-editable",
        severity=Severity.ERROR,
        title=f"{entry.path} is put before the editable install of {dist.name} at start-up",
        message=(
            f"`import {name}` loads it from {entry.path} (sys.path[{entry.index}]), not from "
            f"{loses}, the checkout {dist.name} is installed in editable mode from. No .pth file "
            f"or PYTHONPATH adds {entry.path}: {by} runs after the .pth files and inserts it. "
            "This is your own file: make it append instead of insert, or remove the old copy "
            "there. pyenvdoctor does not change it."
        ),
        evidence=(*hook_paths, entry.path, loses, dist.metadata_path),
        subject=dist.canonical_name,
    )
