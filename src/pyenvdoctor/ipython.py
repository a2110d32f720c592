"""IPython and Jupyter: ``%load_ext pyenvdoctor`` warns (on stderr) before a cell runs when a
module the cell uses changed on disk since it was imported; ``%pyenvdoctor`` shows the
in-process report: stale modules, then the environment's findings (``%pyenvdoctor --stale``:
stale modules only). rich renders the report, as HTML in a notebook.

A cell *uses* the modules it imports and, for each name it reads that is bound in the user
namespace, the module bound there or the module defining the function or class bound there;
each with its submodules (``pkg`` covers a stale ``pkg.sub.leaf``). IPython's own hooks:
``InteractiveShell.events`` (``pre_run_cell``) and ``register_magic_function``.
"""

from __future__ import annotations

import argparse
import ast
import os
import shlex
import sys
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any, NoReturn

from pyenvdoctor.live import StaleModule, StaleReport, stale_modules

__all__ = ["load", "modules_used", "show_report", "unload", "warning_text"]

_CALLBACKS: dict[int, Callable[[Any], None]] = {}  # id(shell) -> its pre_run_cell callback


def modules_used(source: str, namespace: Mapping[str, Any]) -> set[str]:
    """Names of the modules a cell's Python ``source`` uses (see the module docstring)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return set()
    used: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            used.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            used.add(node.module)
        elif isinstance(node, ast.Name) and node.id in namespace:
            value = namespace[node.id]
            module = value.__name__ if isinstance(value, ModuleType) else None
            if module is None and callable(value):  # a function or class: its module
                module = getattr(value, "__module__", None)
            if isinstance(module, str) and module != "__main__":
                used.add(module)
    return used


def warning_text(stale: StaleModule) -> str:
    """One line warning about ``stale``."""
    what = "its file is gone" if stale.reason == "deleted" else "changed on disk"
    return (
        f"pyenvdoctor: {stale.name} ({stale.file}) {what} since it was imported ({stale.how}):"
        " this cell runs the old code. Run pyenvdoctor.purge_modules() and import it again,"
        " or restart the kernel."
    )


def load(shell: Any) -> None:
    """Register the ``pre_run_cell`` warning and the ``%pyenvdoctor`` line magic on ``shell``
    (an ``IPython.core.interactiveshell.InteractiveShell``)."""

    def before_cell(info: Any) -> None:
        try:
            source = shell.transform_cell(getattr(info, "raw_cell", "") or "")
        except Exception:  # a cell IPython itself will report
            return
        names = modules_used(source, shell.user_ns)
        for stale in stale_modules(names) if names else ():
            print(warning_text(stale), file=sys.stderr)

    unload(shell)
    import pyenvdoctor

    # The warnings tell the user to call pyenvdoctor.purge_modules(): make that name work.
    shell.push({"pyenvdoctor": pyenvdoctor}, interactive=False)
    _CALLBACKS[id(shell)] = before_cell
    shell.events.register("pre_run_cell", before_cell)
    shell.register_magic_function(show_report, magic_kind="line", magic_name="pyenvdoctor")


def unload(shell: Any) -> None:
    """Undo :func:`load` (``%unload_ext pyenvdoctor``)."""
    callback = _CALLBACKS.pop(id(shell), None)
    if callback is not None:
        shell.events.unregister("pre_run_cell", callback)
        shell.magics_manager.magics["line"].pop("pyenvdoctor", None)


class _MagicParser(argparse.ArgumentParser):
    """``argparse`` for a line magic: ``--help`` and a wrong option raise instead of exiting
    the kernel (IPython's ``UsageError`` when IPython is there, as its own magics do)."""

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            self.error(message)
        raise _HelpShown

    def error(self, message: str) -> NoReturn:
        try:
            from IPython.core.error import UsageError
        except ImportError:  # pragma: no cover - the magic runs only inside IPython
            raise SystemExit(f"%pyenvdoctor: {message}") from None
        raise UsageError(f"%pyenvdoctor: {message}\n{self.format_usage().strip()}")


class _HelpShown(Exception):
    """``--help`` printed the help: nothing else to do."""


def _magic_parser() -> _MagicParser:
    parser = _MagicParser(
        prog="%pyenvdoctor",
        description="Modules changed on disk since this kernel imported them, then the"
        " findings of `pyenvdoctor report` for this interpreter.",
    )
    parser.add_argument(
        "--stale", action="store_true", help="only the modules changed since their import"
    )
    return parser


def show_report(line: str = "") -> None:
    """``%pyenvdoctor [--stale] [--help]``: print, as one rich output, the stale modules and
    (without ``--stale``) the findings of ``pyenvdoctor report`` on this interpreter.

    :raises IPython.core.error.UsageError: an unknown option (IPython shows it as one line).
    """
    try:
        args = _magic_parser().parse_args(shlex.split(line))
    except _HelpShown:
        return
    from rich.console import Console, Group, RenderableType
    from rich.text import Text

    parts: list[RenderableType] = []
    report: StaleReport = stale_modules()
    if not report.stale:
        parts.append(Text("No loaded module changed on disk since it was imported."))
    for m in report.stale:
        parts.append(Text.assemble((m.name, "bold"), f"  {m.reason}", style="yellow"))
        parts.append(Text(f"  {m.file}\n  {m.how}", style="dim"))
        if m.imported_by:
            parts.append(Text(f"  imported by: {', '.join(m.imported_by)}", style="dim"))
    if report.stale:
        parts.append(Text("Run pyenvdoctor.purge_modules() and import them again, or restart"))
    mine = {*sys.stdlib_module_names, "pyenvdoctor"}
    unchecked = [n for n in report.unchecked if n.partition(".")[0] not in mine]
    if unchecked:
        shown = ", ".join(unchecked[:8]) + (" …" if len(unchecked) > 8 else "")
        parts.append(
            Text(
                f"{len(unchecked)} source module(s) outside the standard library have no"
                " trusted pyc or noted import time: their functions match the current source,"
                " but an edit of module-level values made before pyenvdoctor began watching"
                f" cannot be seen ({shown}).",
                style="dim",
            )
        )
    if not args.stale:
        parts.extend(_findings())
    Console(highlight=False, emoji=False).print(Group(*parts))


def _findings() -> list[Any]:
    """The environment's findings as rich renderables."""
    from rich.text import Text

    from pyenvdoctor.errors import DoctorError
    from pyenvdoctor.report import build_report

    try:
        env = build_report(python=sys.executable, environ=os.environ, working_directory=os.getcwd())
    except DoctorError as exc:
        return [Text(f"The environment could not be inspected: {exc}", style="red")]
    style = {"error": "bold red", "warning": "yellow", "info": "cyan"}
    parts: list[Any] = [Text(f"\n{len(env.findings)} findings for {sys.executable}", style="bold")]
    for f in env.findings:
        severity = (f.severity.value.upper(), style[f.severity.value])
        parts.append(Text.assemble(severity, " ", f.title, (f"  [{f.code}]", "dim")))
        parts.append(Text(f"  {f.message}"))
        parts.extend(Text(f"  $ {cmd}", style="bold") for cmd in f.commands)
    return parts
