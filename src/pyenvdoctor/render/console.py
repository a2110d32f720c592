"""The terminal view with rich: summary, findings, then the facts. The only module that
imports rich."""

from __future__ import annotations

import io

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from pyenvdoctor.checks.bytecode import format_bytes
from pyenvdoctor.model import Finding, Report
from pyenvdoctor.render.summary import summarize

__all__ = ["render_console"]

_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def _finding(f: Finding) -> Panel:
    body: list[Text] = [Text(f.message)]
    if f.evidence:
        body.append(
            Text(
                "\n".join(f.evidence[:10])
                + (f"\n… {len(f.evidence) - 10} more" if len(f.evidence) > 10 else ""),
                style="dim",
            )
        )
    for cmd in f.commands:
        body.append(Text("$ " + cmd, style="bold"))
    title = Text.assemble((f.severity.value.upper(), _STYLE[f.severity.value]), " ", f.title)
    return Panel(
        Group(*body), title=title, title_align="left", subtitle=f.code, subtitle_align="right"
    )


def _kv_table(title: str, rows: list[tuple[str, str]]) -> Table:
    table = Table(title=title, show_header=False, title_justify="left", expand=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for k, v in rows:
        table.add_row(k, v)
    return table


def render_console(report: Report, *, color: bool = False, width: int = 100) -> str:
    """Render ``report`` for a terminal.

    :param color: emit ANSI colour codes; :param width: columns.
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
    console.print(s.interpreter_line)
    console.print(s.selection_line, style="dim")
    console.print()
    for f in report.findings:
        console.print(_finding(f))
    for sk in report.skipped:
        console.print(f"Not checked: {sk.check}: {sk.reason}", style="dim")
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
    return buf.getvalue()
