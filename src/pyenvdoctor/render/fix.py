"""The ``--fix`` plan and its outcome, in the three formats (one place: the figures are the
same rows in every view)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from pyenvdoctor.checks.bytecode import format_bytes
from pyenvdoctor.fix import Action, ActionKind, FixOutcome
from pyenvdoctor.model import SCHEMA_VERSION, RepairGroup
from pyenvdoctor.render import OutputFormat, printable
from pyenvdoctor.render.json import dumps

__all__ = ["FixResult", "render_fix"]

#: Paths listed per action in text and Markdown (JSON lists all).
SHOWN = 20


@dataclass(frozen=True, kw_only=True, slots=True)
class FixResult:
    """A ``--fix`` run: the plan, what happened (``None`` when nothing was applied), and the
    finding codes before and after."""

    plan: tuple[Action, ...]
    outcome: FixOutcome | None
    dry_run: bool
    before: tuple[str, ...]
    after: tuple[str, ...] | None

    @property
    def resolved(self) -> tuple[str, ...]:
        """Codes of planned findings that are gone afterwards."""
        if self.after is None:
            return ()
        planned = {a.finding for a in self.plan}
        return tuple(sorted(c for c in planned if c not in self.after))

    @property
    def remaining(self) -> tuple[str, ...]:
        """Codes of planned findings still present afterwards."""
        if self.after is None:
            return ()
        return tuple(sorted({a.finding for a in self.plan} & set(self.after)))


_GROUP_TITLES = {
    RepairGroup.DEBRIS: "Removes debris",
    RepairGroup.INSTALLATION: "Changes what is installed",
}


def _plan_lines(result: FixResult, bullet: str, code: str) -> list[str]:
    lines: list[str] = []
    for group, title in _GROUP_TITLES.items():
        actions = [a for a in result.plan if a.group is group]
        if not actions:
            continue
        lines.append(f"{title}:")
        for a in actions:
            cost = "" if a.changes_installation else f", {format_bytes(a.bytes)}"
            lines.append(f"{bullet}{code}{a.finding}{code}: {a.description}{cost}")
            for f in a.files[:SHOWN]:
                if a.kind is ActionKind.EDIT_PTH:
                    lines.append(f"    {f.path}: remove " + ", ".join(repr(x) for x in a.lines))
                else:
                    lines.append(f"    {f.path} ({f.size} bytes)")
            if len(a.files) > SHOWN:
                lines.append(f"    … and {len(a.files) - SHOWN} more (--format json lists all)")
            if a.command:
                lines.append("    $ " + shlex.join(a.command))
            for path, reason in a.skipped[:SHOWN]:
                lines.append(f"    left alone: {path} ({reason})")
            if len(a.skipped) > SHOWN:
                lines.append(f"    left alone: {len(a.skipped) - SHOWN} more")
    if not result.plan:
        lines.append("Nothing to fix.")
    return lines


def _outcome_lines(result: FixResult) -> list[str]:
    o = result.outcome
    if o is None:
        return []
    verb = "would remove" if result.dry_run else "removed"
    lines = [
        f"{verb} {o.count('removed')} files, skipped {o.count('skipped')}, failed {o.count('failed')}; "
        f"{'would free' if result.dry_run else 'freed'} {format_bytes(o.bytes_freed)}; "
        f"{len(o.directories_removed)} empty __pycache__ directories removed",
    ]
    lines += [
        f"  {f.status}: {f.path} ({f.reason})"
        for f in o.files
        if f.status not in ("removed", "edited")
    ]
    lines += [
        f"  edited: {path} (removed {', '.join(map(repr, removed))})"
        for path, _, removed in o.pth_edits
    ]
    lines += [f"  command exited {rc}: {shlex.join(cmd)}" for cmd, rc, _ in o.commands]
    lines += [
        "    " + line
        for cmd, rc, tail in o.commands
        if rc != 0
        for line in tail.strip().splitlines()[-5:]
    ]
    if result.after is not None:
        lines.append("resolved: " + (", ".join(result.resolved) or "none"))
        if result.remaining:
            lines.append("still present: " + ", ".join(result.remaining))
    return lines


def _to_json(result: FixResult) -> dict[str, object]:
    o = result.outcome
    return {
        "schema_version": SCHEMA_VERSION,
        "dry_run": result.dry_run,
        "plan": [
            {
                "kind": a.kind.value,
                "finding": a.finding,
                "group": a.group.value,
                "description": a.description,
                "bytes": a.bytes,
                "changes_installation": a.changes_installation,
                "command": list(a.command),
                "files": [{"path": f.path, "bytes": f.size} for f in a.files],
                "lines": list(a.lines),
                "left_alone": [{"path": p, "reason": r} for p, r in a.skipped],
            }
            for a in result.plan
        ],
        "outcome": None
        if o is None
        else {
            "removed": o.count("removed"),
            "skipped": o.count("skipped"),
            "failed": o.count("failed"),
            "bytes_freed": o.bytes_freed,
            "files": [{"path": f.path, "status": f.status, "reason": f.reason} for f in o.files],
            "directories_removed": o.directories_removed,
            "commands": [{"command": list(c), "exit_status": rc} for c, rc, _ in o.commands],
            "pth_edits": [
                {"path": p, "removed_lines": list(r), "old_content": old}
                for p, old, r in o.pth_edits
            ],
        },
        "findings_before": list(result.before),
        "findings_after": None if result.after is None else list(result.after),
        "resolved": list(result.resolved),
        "remaining": list(result.remaining),
    }


def render_fix(result: FixResult, fmt: OutputFormat) -> str:
    """Render the plan and outcome of a ``--fix`` run."""
    if fmt is OutputFormat.JSON:
        return dumps(_to_json(result))
    if fmt is OutputFormat.MARKDOWN:
        title = "# pyenvdoctor fix (dry run)" if result.dry_run else "# pyenvdoctor fix"
        body = ["## Plan", "", *(printable(x) for x in _plan_lines(result, "- ", "`")), ""]
        outcome = [printable(line) for line in _outcome_lines(result)]
        if outcome:
            body += ["## Outcome", "", "```text", *outcome, "```", ""]
        return "\n".join([title, "", *body])
    title = "Plan (dry run: nothing is changed)" if result.dry_run else "Plan"
    lines = [*_plan_lines(result, "- ", ""), *_outcome_lines(result)]
    # A file name may hold a newline or a terminal escape: one line per item, escaped.
    return "\n".join([title, *(printable(line) for line in lines)]) + "\n"


def render_plan(plan: tuple[Action, ...]) -> str:
    """The plan alone, shown before asking for confirmation."""
    result = FixResult(plan=plan, outcome=None, dry_run=False, before=(), after=None)
    return render_fix(result, OutputFormat.TEXT)
