"""Command line: ``build_parser()`` and ``main(argv=None) -> int``; wiring only.

Exit status (README "Exit status"): 0 report written; 1 ``--fail-on`` matched a finding, or an
unexpected error; 2 usage error; 3 target interpreter cannot be inspected; 4 output cannot be
written. stdout carries only the report; errors go to stderr as one line.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from pyenvdoctor import __version__
from pyenvdoctor.errors import DoctorError, OutputError

__all__ = ["build_parser", "main"]

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (subcommand ``report``)."""
    from pyenvdoctor.render import OutputFormat

    parser = argparse.ArgumentParser(
        prog="pyenvdoctor",
        description="A doctor for Python environments: what is installed where, stale bytecode, "
        "pip's cache, and how to fix what is wrong.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    report = sub.add_parser(
        "report",
        help="inspect an interpreter and its environment",
        description="Inspect one interpreter and its environment and say what is wrong. Without "
        "--python: the active virtual environment (VIRTUAL_ENV, else CONDA_PREFIX), else the "
        "interpreter running pyenvdoctor.",
    )
    report.add_argument(
        "--python",
        metavar="PATH",
        help="interpreter to inspect: a path, a virtual environment directory, or a command "
        "on PATH (e.g. python3.12)",
    )
    report.add_argument(
        "--format",
        choices=[f.value for f in OutputFormat],
        default=None,
        help="text (default on a terminal), json, or markdown (default otherwise: json)",
    )
    report.add_argument("--output", "-o", metavar="FILE", help="write the report to FILE")
    report.add_argument(
        "--path",
        action="append",
        default=[],
        metavar="DIR",
        help="also scan DIR for bytecode (repeatable); sys.path directories and the current "
        "project are always scanned",
    )
    report.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="how long the target interpreter may take to answer (default 30)",
    )
    report.add_argument(
        "--fail-on",
        choices=["error", "warning", "info"],
        default=None,
        help="exit with status 1 when a finding of this severity or worse is present",
    )
    report.add_argument(
        "--timestamp",
        action="store_true",
        help="record the current time in the report (off by default: reports are reproducible)",
    )
    return parser


def _write(text: str, output: str | None) -> None:
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"cannot write {output}: {exc.strerror}") from None


def _run_report(args: argparse.Namespace) -> int:
    from pyenvdoctor.model import Severity
    from pyenvdoctor.render import OutputFormat, render
    from pyenvdoctor.report import build_report

    if args.format is not None:
        fmt = OutputFormat(args.format)
    else:
        fmt = (
            OutputFormat.TEXT if args.output is None and sys.stdout.isatty() else OutputFormat.JSON
        )
    now = (
        datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        if args.timestamp
        else None
    )
    progress = None
    if sys.stderr.isatty():
        from pyenvdoctor.render.console import ScanProgress

        progress = ScanProgress()
    try:
        report = build_report(
            python=args.python,
            environ=dict(os.environ),
            working_directory=os.getcwd(),
            generated_at=now,
            timeout=args.timeout,
            paths=args.path,
            progress=progress,
        )
    finally:
        if progress is not None:
            progress.close()
    color = (
        fmt is OutputFormat.TEXT
        and args.output is None
        and sys.stdout.isatty()
        and "NO_COLOR" not in os.environ
    )
    width = os.get_terminal_size().columns if color else 100
    _write(render(report, fmt, color=color, width=width), args.output)
    if args.fail_on is not None:
        limit = Severity(args.fail_on).rank
        if any(f.severity.rank <= limit for f in report.findings):
            return EXIT_FINDINGS
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status. Errors become one line on stderr."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "report":
            return _run_report(args)
    except DoctorError as exc:
        print(f"pyenvdoctor: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("pyenvdoctor: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    parser.error(f"unknown command {args.command}")  # pragma: no cover - argparse enforces it
    return EXIT_USAGE  # pragma: no cover
