"""The terminal view with rich: summary, findings, then the facts. The only module that
imports rich."""

from __future__ import annotations

import io
import textwrap

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from pyenvdoctor.checks.bytecode import format_bytes
from pyenvdoctor.model import Finding, Report, Severity
from pyenvdoctor.render.summary import summarize

__all__ = ["ScanProgress", "render_console"]


class ScanProgress:
    """A transient progress line on a terminal's stderr, shown only once the scan has taken
    more than ``delay`` seconds. Call the instance with the number of files judged so far;
    :meth:`close` removes the line."""

    def __init__(self, *, delay: float = 1.0) -> None:
        import time

        self._clock = time.monotonic
        self._start = self._clock()
        self._delay = delay
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __call__(self, files: int) -> None:
        if self._progress is None:
            if self._clock() - self._start < self._delay:
                return
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("checking bytecode: {task.completed:,} files"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task("scan", total=None)
        assert self._task is not None
        self._progress.update(self._task, completed=files)

    def close(self) -> None:
        """Remove the progress line, if it was shown."""
        if self._progress is not None:
            self._progress.stop()


_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}
#: Evidence lines shown per finding in the default view (``--all``: every one).
EVIDENCE_LINES = 5


def _wrapped(text: str, width: int, *, indent: str = "  ", first: str = "") -> str:
    """``text`` wrapped to ``width`` columns, every line but the first (``first``: its
    prefix) indented by ``indent``, no trailing spaces; words longer than a line (paths) are
    folded."""
    out: list[str] = []
    for n, paragraph in enumerate(text.split("\n")):  # a newline in the text is kept
        out += textwrap.wrap(
            paragraph,
            width=max(width, len(indent) + 10),
            initial_indent=first if n == 0 else indent,
            subsequent_indent=indent,
            break_on_hyphens=False,
        ) or [""]
    return "\n".join(out)


def _heading(f: Finding, width: int) -> Text:
    """``SEVERITY code: title``, wrapped, the severity coloured."""
    sev = f.severity.value.upper()
    text = Text(_wrapped(f"{sev} {f.code}: {f.title}", width))
    text.stylize(_STYLE[f.severity.value], 0, len(sev))
    text.stylize("bold", len(sev) + 1)
    return text


def _print_finding(console: Console, f: Finding, *, full: bool, width: int) -> None:
    """A finding without a box: its heading, the explanation and the evidence indented two
    columns and wrapped to ``width``, then each command alone on its line, never wrapped by us
    (``soft_wrap``: the terminal folds a long one visually, and it pastes whole)."""
    console.print(_heading(f, width), soft_wrap=True)
    console.print(_wrapped(f.message, width, first="  "), soft_wrap=True)
    shown = f.evidence if full else f.evidence[:EVIDENCE_LINES]
    lines = [_wrapped(e, width, first="  ", indent="    ") for e in shown]
    if len(f.evidence) > len(shown):
        more = f"… and {len(f.evidence) - len(shown)} more (--all shows them all)"
        lines.append(_wrapped(more, width, first="  "))
    if lines:
        console.print(Text("\n".join(lines), style="dim"), soft_wrap=True)
    for cmd in f.commands:
        console.print(Text("$ " + cmd, style="bold"), soft_wrap=True)
    console.print()


def _kv_table(title: str, rows: list[tuple[str, str]]) -> Table:
    table = Table(title=title, show_header=False, title_justify="left", expand=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for k, v in rows:
        table.add_row(k, v)
    return table


def render_console(
    report: Report, *, color: bool = False, width: int = 100, full: bool = False
) -> str:
    """Render ``report`` for a terminal.

    The default view answers "what is wrong and what do I run": the summary, every error and
    warning with its commands, one line per info, a few figures, and a pointer to ``--all``.
    ``full`` (``--all``) shows every finding whole and then the tables (interpreter, sys.path,
    commands on PATH, distributions, bytecode, caches).

    :param color: emit ANSI colour codes; :param width: columns (commands are never wrapped,
        every other line fits); :param full: the long view.
    """
    buf = io.StringIO()
    console = Console(
        file=buf,
        width=width,
        color_system="standard" if color else None,
        force_terminal=color,
        no_color=not color,
        highlight=False,
        emoji=False,
    )
    s = summarize(report)
    it = report.interpreter
    console.print(Text(s.headline, style="bold"))
    console.print(_wrapped(s.interpreter_line, width), soft_wrap=True)
    console.print(Text(_wrapped(s.selection_line, width), style="dim"), soft_wrap=True)
    console.print()
    infos = [f for f in report.findings if f.severity is Severity.INFO]
    for f in report.findings:
        if full or f.severity is not Severity.INFO:
            _print_finding(console, f, full=full, width=width)
    if infos and not full:
        console.print(Text(f"{len(infos)} note{'s' if len(infos) != 1 else ''}:", style="bold"))
        for f in infos:
            console.print(
                Text.assemble("  ", ("INFO", _STYLE["info"]), " ", (f.code, "dim"), ": ", f.title),
                no_wrap=True,
                overflow="ellipsis",
            )
        console.print()
    for sk in report.skipped:
        console.print(f"Not checked: {sk.check}: {sk.reason}", style="dim")
    if report.redactions:
        console.print(f"Redacted: {', '.join(report.redactions)}.", style="dim")
    if not full:
        classes = ", ".join(f"{c.value}: {n}" for c, n in s.distributions_per_class)
        console.print(
            f"{s.distributions_total} distributions" + (f" ({classes})" if classes else "")
        )
        console.print(f"Bytecode: {report.bytecode.scanned_files:,} files checked")
        console.print(f"pip cache: {s.pip_cache_line}")
        hint = (
            "Details of every note and the tables (interpreter, sys.path, commands on PATH, "
            "distributions, bytecode, caches): add --all."
        )
        console.print(Text(_wrapped(hint, width, indent=""), style="dim"), soft_wrap=True)
        return buf.getvalue()
    rows = [
        ("executable", it.executable),
        ("version", it.version.replace("\n", " ")),
        (
            "implementation",
            f"{it.implementation}, cache tag {it.cache_tag}, magic {it.magic_number}",
        ),
        ("platform", f"{it.sys_platform} · {it.platform} · {it.machine}"),
        (
            "environment",
            it.kind.value + (" (virtual environment)" if it.is_virtual_environment else ""),
        ),
        ("prefix", it.prefix),
        ("base_prefix", it.base_prefix),
        ("exec_prefix", it.exec_prefix),
        ("user site", f"{it.user_site} ({'enabled' if it.user_site_enabled else 'disabled'})"),
        ("pycache_prefix", it.pycache_prefix or "not set"),
        ("EXTERNALLY-MANAGED", it.externally_managed or "no"),
        ("pip", report.pip_version or "not installed"),
        *(
            (f"sysconfig {k}", v)
            for k, v in it.sysconfig_paths.items()
            if k in ("stdlib", "platstdlib", "purelib", "platlib", "scripts")
        ),
        ("flags", ", ".join(f"{k}={v}" for k, v in it.flags.items())),
        *((k, v) for k, v in report.environment_variables.items()),
    ]
    console.print(_kv_table("Interpreter", rows))
    path_table = Table(title="sys.path", title_justify="left")
    for col in ("#", "entry", "kind", "location"):
        path_table.add_column(col, overflow="fold")
    for e in report.sys_path:
        entry = e.path or f"'' → {e.resolved}"
        loc = e.location.value + (f" ({e.pth_file})" if e.pth_file else "")
        path_table.add_row(str(e.index), entry, e.kind, loc)
    console.print(path_table)
    if report.path_commands:
        cmd_table = Table(title="Commands on PATH", title_justify="left")
        for col in ("command", "found", "runs", "kind"):
            cmd_table.add_column(col, overflow="fold")
        for c in report.path_commands:
            cmd_table.add_row(c.name, c.path or "not found", c.interpreter or "", c.kind)
        console.print(cmd_table)
    dist_table = Table(
        title=f"Distributions ({s.distributions_total} visible)", title_justify="left"
    )
    for col in ("name", "version", "location", "installer", "editable"):
        dist_table.add_column(col, overflow="fold")
    for d in report.distributions:
        dist_table.add_row(
            d.name if d.visible else f"{d.name} (shadowed)",
            d.version,
            d.location_class.value,
            d.installer or "",
            d.editable_project or "",
        )
    console.print(dist_table)
    counts = Table(title="Per location", title_justify="left")
    for col in ("location", "distributions", "top-level names", "shadowed names"):
        counts.add_column(col)
    per_class = dict(s.distributions_per_class)
    for m in report.modules:
        counts.add_row(
            m.location_class.value,
            str(per_class.get(m.location_class, 0)),
            str(m.modules),
            str(m.shadowed),
        )
    console.print(counts)
    byte_table = Table(
        title=f"Bytecode ({report.bytecode.scanned_files} files scanned)", title_justify="left"
    )
    for col in ("category", "location", "files", "size"):
        byte_table.add_column(col)
    for g in report.bytecode.groups:
        byte_table.add_row(
            g.category.value, g.location_class.value, str(g.files), format_bytes(g.bytes)
        )
    console.print(byte_table)
    console.print(f"pip cache: {s.pip_cache_line}")
    for table in _cache_tables(report):
        console.print(table)
    return buf.getvalue()


def _cache_tables(report: Report) -> list[Table]:
    """Tool caches, environments beside the project, Debian's packages (only what exists)."""
    tables = []
    present = [c for c in report.caches if c.exists]
    if present:
        table = Table(title="Caches", title_justify="left")
        for col in ("tool", "directory", "path", "files", "size", "on disk", "untouched 90 days"):
            table.add_column(col, overflow="fold")
        for c in present:
            table.add_row(
                c.tool,
                c.name,
                c.path,
                f"{c.files:,}",
                format_bytes(c.apparent_bytes),
                "" if c.disk_bytes is None else format_bytes(c.disk_bytes),
                "" if c.stale_bytes is None else format_bytes(c.stale_bytes),
            )
        tables.append(table)
    if report.nearby_venvs:
        table = Table(title="Virtual environments beside the project", title_justify="left")
        for col in ("environment", "made by", "from", "interpreter", "on disk"):
            table.add_column(col, overflow="fold")
        for v in report.nearby_venvs:
            table.add_row(
                v.name + (" (target)" if v.is_target else ""),
                f"{v.creator} {v.version or ''}".strip(),
                v.base_executable or v.home or "",
                "exists" if v.interpreter_exists else "missing",
                "" if v.disk_bytes is None else format_bytes(v.disk_bytes),
            )
        tables.append(table)
    deb = report.debian
    if deb is not None:
        table = Table(
            title=f"Debian: {deb.python3_packages} python3-* packages installed",
            title_justify="left",
        )
        for col in ("distribution", "version", "Debian package", "local copy in /usr/local"):
            table.add_column(col, overflow="fold")
        local = {s.debian_metadata_path: s for s in deb.local_shadows}
        for o in deb.owners:
            shadow = local.get(o.metadata_path)
            table.add_row(
                o.distribution,
                o.version,
                f"{o.package} {o.package_version}" if o.package else "none",
                f"{shadow.local_version} (import gets {shadow.winner})" if shadow else "",
            )
        tables.append(table)
    return tables
