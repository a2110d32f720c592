"""The Markdown report, for a bug ticket: summary and findings first, long lists folded in
``<details>`` blocks, valid GitHub tables."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextvars import ContextVar

from pyenvdoctor.checks.bytecode import format_bytes
from pyenvdoctor.model import Finding, Report
from pyenvdoctor.render.summary import summarize

__all__ = ["render_markdown"]

_ICON = {"error": "🔴", "warning": "🟠", "info": "🔵"}


class _Md(str):
    """Inline Markdown, already escaped: a table cell takes it as it is (but for ``|``)."""

    __slots__ = ()


#: ASCII punctuation that can start Markdown syntax in text (CommonMark "backslash escapes"
#: may escape any ASCII punctuation; ``|`` is the table's, see :func:`_cell`).
_SPECIAL = frozenset("\\`*_[]<>#!~&")


def _esc(value: object) -> _Md:
    """Plain text as inline Markdown: each character that could start syntax escaped."""
    text = "" if value is None else str(value)
    out = []
    for i, c in enumerate(text):
        # An underscore between letters or digits never delimits emphasis (CommonMark 6.2).
        intraword = c == "_" and 0 < i < len(text) - 1 and text[i - 1].isalnum()
        if c in _SPECIAL and not (intraword and text[i + 1].isalnum()):
            out.append("\\")
        out.append(c)
    return _Md("".join(out))


def _cell(value: object) -> str:
    """A GFM table cell: ``|`` escaped everywhere, code spans included (the GFM table
    extension removes that backslash before inline parsing); plain values escaped first."""
    md = value if isinstance(value, _Md) else _esc(value)
    return md.replace("|", "\\|").replace("\n", " ") or " "


def _code(value: object) -> _Md:
    """A code span holding ``value`` literally (CommonMark: backslashes are literal inside)."""
    text = str(value).replace("\n", " ")
    longest = run = 0
    for c in text:
        run = run + 1 if c == "`" else 0
        longest = max(longest, run)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or text[:1] == text[-1:] == " " else ""
    return _Md(f"{fence}{pad}{text}{pad}{fence}")


#: GitHub's limit for an issue or comment body, in characters.
MAX_CHARS = 65_536
#: Row caps tried in turn until the report fits (``None``: everything).
_CAPS: tuple[int | None, ...] = (None, 500, 200, 100, 50, 20)

#: The row cap of the rendering under way (set by :func:`render_markdown` only).
_CAP: ContextVar[int | None] = ContextVar("pyenvdoctor_markdown_cap", default=None)


def _more(n: int) -> str:
    return f"… and {n} more (the JSON report lists all)"


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    all_rows = list(rows)
    cap = _CAP.get()
    shown = all_rows if cap is None else all_rows[:cap]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in shown]
    if len(shown) < len(all_rows):
        lines.append(
            "| "
            + " | ".join([_more(len(all_rows) - len(shown))] + [" "] * (len(headers) - 1))
            + " |"
        )
    return lines


#: Evidence lines shown per finding in Markdown (the JSON report has them all).
MAX_EVIDENCE = 20


def _lines(items: Sequence[str], limit: int | None = None) -> list[str]:
    cap = _CAP.get()
    if limit is not None:
        cap = limit if cap is None else min(cap, limit)
    if cap is None or len(items) <= cap:
        return list(items)
    return [*items[:cap], _more(len(items) - cap)]


def _command(cmd: str) -> str:
    cap = _CAP.get()
    if cap is None or len(cmd) <= 20 * cap:
        return cmd
    return cmd[: 20 * cap] + " …  # shortened: the JSON report has the whole command"


def _details(summary: str, body: list[str]) -> list[str]:
    return ["<details>", f"<summary>{summary}</summary>", "", *body, "", "</details>", ""]


def _finding(f: Finding) -> list[str]:
    lines = [
        f"### {_ICON[f.severity.value]} {_esc(f.title)}",
        "",
        f"`{f.code}` · {f.severity.value}",
        "",
    ]
    lines += [f.message, ""]
    if f.evidence:
        lines += ["Evidence:", "", "```text", *_lines(f.evidence, MAX_EVIDENCE), "```", ""]
    if f.commands:
        lines += ["Suggested:", "", "```sh", *(_command(c) for c in f.commands), "```", ""]
    return lines


def render_markdown(report: Report, *, max_chars: int = MAX_CHARS) -> str:
    """Render ``report`` as GitHub-flavoured Markdown of at most ``max_chars`` characters.

    Long lists (tables, evidence, commands) are shortened, with counts of what was left out,
    until the text fits; the summary and the findings come first.
    """
    text = ""
    for cap in _CAPS:
        token = _CAP.set(cap)
        try:
            text = _render(report)
        finally:
            _CAP.reset(token)
        if len(text) <= max_chars:
            return text
    note = "\n\n… (shortened to GitHub's limit: the JSON report has everything)\n"
    return text[: max_chars - len(note)] + note


def _render(report: Report) -> str:
    s = summarize(report)
    it = report.interpreter
    out = [
        "# pyenvdoctor report",
        "",
        f"**{s.headline}** — {s.interpreter_line}",
        "",
        s.selection_line,
        "",
        f"Distributions: {s.distributions_total} visible"
        + (f", {s.shadowed_total} shadowed" if s.shadowed_total else "")
        + " · bytecode files scanned: "
        + str(report.bytecode.scanned_files)
        + f" · pip cache: {s.pip_cache_line}",
        "",
        "## Findings",
        "",
    ]
    if not report.findings:
        out += ["No problems found.", ""]
    for f in report.findings:
        out += _finding(f)
    for sk in report.skipped:
        out += [f"> Not checked: **{sk.check}**: {sk.reason}", ""]
    if report.redactions:
        out += [f"> Redacted: {', '.join(report.redactions)}.", ""]

    out += ["## Interpreter", ""]
    rows: list[tuple[str, object]] = [
        ("executable", _code(it.executable)),
        ("version", _code(it.version.replace("\n", " "))),
        ("implementation / cache tag", f"{it.implementation} / {it.cache_tag}"),
        ("platform", f"{it.sys_platform} · {it.platform} · {it.machine}"),
        (
            "environment",
            f"{it.kind.value}" + (" (virtual environment)" if it.is_virtual_environment else ""),
        ),
        ("prefix", _code(it.prefix)),
        ("base_prefix", _code(it.base_prefix)),
        ("exec_prefix", _code(it.exec_prefix)),
        (
            "user site",
            _Md(f"{_code(it.user_site)} ({'enabled' if it.user_site_enabled else 'disabled'})"),
        ),
        ("pycache_prefix", _code(it.pycache_prefix) if it.pycache_prefix else "not set"),
        ("check_hash_based_pycs", it.check_hash_based_pycs),
        ("EXTERNALLY-MANAGED", _code(it.externally_managed) if it.externally_managed else "no"),
        ("pip", report.pip_version or "not installed"),
    ]
    rows += [
        (f"sysconfig {k}", _code(v))
        for k, v in it.sysconfig_paths.items()
        if k in ("stdlib", "platstdlib", "purelib", "platlib", "scripts")
    ]
    flag_text = ", ".join(f"{k}={v}" for k, v in it.flags.items())
    rows.append(("flags", flag_text))
    out += _table(["fact", "value"], rows) + [""]
    if report.environment_variables:
        out += _details(
            f"Environment variables ({len(report.environment_variables)})",
            _table(
                ["variable", "value"],
                ((k, _code(v)) for k, v in report.environment_variables.items()),
            ),
        )

    out += ["## sys.path", ""]
    out += _table(
        ["#", "entry", "kind", "location"],
        (
            (
                e.index,
                _Md(_code(e.path or "''") + ("" if e.path else f" → {_code(e.resolved)}")),
                e.kind,
                _Md(e.location.value + (f" ({_code(e.pth_file)})" if e.pth_file else "")),
            )
            for e in report.sys_path
        ),
    ) + [""]
    pth_rows = [
        (
            _code(p.path),
            ln.lineno,
            ln.kind,
            _code(ln.text),
            "skipped: " + p.skipped
            if p.skipped
            else ("exists" if ln.exists else "missing")
            if ln.kind == "path"
            else "",
        )
        for p in report.pth_files
        for ln in p.lines
        if ln.kind in ("path", "import")
    ]
    if report.pth_files:
        out += _details(
            f".pth files ({len(report.pth_files)})",
            _table(["file", "line", "kind", "text", "status"], pth_rows),
        )

    if report.path_commands:
        out += ["### Commands on PATH", ""]
        out += _table(
            ["command", "found", "runs", "kind"],
            (
                (
                    c.name,
                    _code(c.path) if c.path else "not found",
                    _code(c.interpreter) if c.interpreter else "",
                    c.kind,
                )
                for c in report.path_commands
            ),
        ) + [""]
    out += ["## Distributions", ""]
    out += _table(
        ["location", "distributions"], ((c.value, n) for c, n in s.distributions_per_class)
    )
    out += [""]
    out += _details(
        f"All distributions ({len(report.distributions)})",
        _table(
            ["name", "version", "location", "installer", "editable", "top-level", "visible"],
            (
                (
                    d.name,
                    d.version,
                    d.location_class.value,
                    d.installer or "",
                    _code(d.editable_project) if d.editable else "",
                    ", ".join(d.top_level),
                    "yes" if d.visible else "shadowed",
                )
                for d in report.distributions
            ),
        ),
    )
    out += ["## Modules", ""]
    out += _table(
        ["location", "top-level names", "shadowed"],
        ((m.location_class.value, m.modules, m.shadowed) for m in report.modules),
    ) + [""]
    out += ["## Bytecode", ""]
    if report.bytecode.groups:
        out += _table(
            ["category", "location", "files", "size"],
            (
                (g.category.value, g.location_class.value, g.files, format_bytes(g.bytes))
                for g in report.bytecode.groups
            ),
        ) + [""]
    else:
        out += ["No bytecode files found.", ""]
    out += [
        f"Scanned {len(report.bytecode.roots)} roots, {report.bytecode.scanned_files} files.",
        "",
    ]
    out += ["## pip cache", "", s.pip_cache_line, ""]
    c = report.pip_cache
    if c is not None and c.exists:
        out += _table(
            ["part", "files", "size"],
            [
                ("http + http-v2", c.http_files, format_bytes(c.http_bytes)),
                ("wheels", c.wheels_files, format_bytes(c.wheels_bytes)),
                ("other", c.other_files, format_bytes(c.other_bytes)),
            ],
        ) + [""]
    out += _caches_section(report)
    out += [f"<sub>pyenvdoctor {report.tool_version}, schema {report.schema_version}</sub>", ""]
    return "\n".join(out)


def _maybe_bytes(n: int | None) -> str:
    return "" if n is None else format_bytes(n)


def _caches_section(report: Report) -> list[str]:
    """Tool caches, environments beside the project and Debian's packages, folded."""
    present = [c for c in report.caches if c.exists]
    if not (present or report.nearby_venvs or report.debian):
        return []
    out = ["## Caches and environments", ""]
    if present:
        missing = [f"{c.tool} {c.name}" for c in report.caches if not c.exists]
        body = _table(
            [
                "tool",
                "directory",
                "path",
                "files",
                "size",
                "on disk",
                "untouched 90 days",
                "found by",
            ],
            (
                (
                    c.tool,
                    c.name,
                    _code(c.path),
                    f"{c.files:,}",
                    format_bytes(c.apparent_bytes),
                    _maybe_bytes(c.disk_bytes),
                    _maybe_bytes(c.stale_bytes),
                    c.source,
                )
                for c in present
            ),
        )
        if missing:
            body += ["", "Not present: " + ", ".join(missing) + "."]
        out += _details(f"Caches ({len(present)})", body)
    if report.nearby_venvs:
        out += _details(
            f"Virtual environments beside the project ({len(report.nearby_venvs)})",
            _table(
                ["environment", "made by", "version", "from", "interpreter", "on disk"],
                (
                    (
                        _Md(_code(v.name) + (" (target)" if v.is_target else "")),
                        v.creator,
                        v.version or "",
                        _code(v.base_executable or v.home or ""),
                        "exists" if v.interpreter_exists else _Md("**missing**"),
                        _maybe_bytes(v.disk_bytes),
                    )
                    for v in report.nearby_venvs
                ),
            ),
        )
    deb = report.debian
    if deb is not None:
        body = [
            f"{deb.python3_packages} `python3-*` packages installed (`dpkg -l`); "
            f"{deb.venv_package}: {'installed' if deb.venv_package_installed else 'not installed'}; "
            f"pipx: {'installed' if deb.pipx_installed else 'not installed'}.",
            "",
        ]
        body += _table(
            ["distribution", "version", "Debian package", "package version"],
            (
                (o.distribution, o.version, o.package or _Md("**none**"), o.package_version or "")
                for o in deb.owners
            ),
        )
        if deb.local_shadows:
            body += [""] + _table(
                ["project", "pip in /usr/local", "Debian", "import gets"],
                (
                    (
                        s.canonical_name,
                        s.local_version,
                        f"{s.debian_version} ({s.debian_package or '?'})",
                        s.winner,
                    )
                    for s in deb.local_shadows
                ),
            )
        out += _details(f"Debian: dist-packages owners ({len(deb.owners)})", body)
    return out
