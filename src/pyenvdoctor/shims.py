"""The commands the shell finds on ``PATH``, looked up early, with pyenv/asdf shims resolving.

A pyenv or asdf shim picks its interpreter at run time; the only exact way to know what it runs
here is to ask its tool (``pyenv which NAME``, ``asdf which NAME``) in the user's directory with
the user's environment (``.python-version``, ``.tool-versions``, ``PYENV_VERSION``). Each ask is a
chain of shell scripts: about 50 ms of CPU. :class:`Lookups` starts them all at once, before the
report imports its pipeline (the CLI starts it first thing, beside the probe);
:func:`pyenvdoctor.checks.commands.path_commands` reads the answers later. They run at the normal
priority (:data:`NICE` is 0): niced, they only used idle time on a quiet machine, but on a busy
one they were starved and the report waited for them at its end.

This module imports only :mod:`pyenvdoctor.files` and :mod:`pyenvdoctor.process` (no model, no
dataclasses), so starting it costs no import time.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping, Sequence

from pyenvdoctor import files, process

__all__ = ["NAMES", "SHIM_EXEC", "Lookups"]

#: The commands looked up on ``PATH``.
NAMES = ("python", "python3", "pip", "pip3")

#: A pyenv or asdf shim's last line: ``exec "/root/.pyenv/libexec/pyenv" exec "$program" "$@"``
#: (pyenv ``libexec/pyenv-rehash``), ``exec asdf exec "pip" "$@"`` (asdf ``lib/commands/reshim``).
SHIM_EXEC = re.compile(rb'^exec\s+"?([^"\s]+)"?\s+exec\s', re.MULTILINE)

#: Bytes read of each command found (a shim's ``exec`` line is within them).
READ_BYTES = 8192

#: Seconds from the start a tool's ``which`` may take; after that the shim stays unresolved.
TIMEOUT = 10.0

#: Niceness added to the tools' ``which`` processes (see the module docstring for why 0).
NICE = 0


class Lookups:
    """``names`` looked up on ``environ["PATH"]`` (``os.defpath`` if unset) as ``shutil.which``
    finds them, each found file's first :data:`READ_BYTES` read, and for each that is a pyenv or
    asdf shim (:data:`SHIM_EXEC`) ``TOOL which NAME`` started in ``working_directory`` with
    ``environ`` (each in a session of its own, :mod:`pyenvdoctor.process`).

    :meth:`close` (or :meth:`resolved` for every name) must be called: it reaps the processes.
    Start it while no other thread runs when ``nice`` is not 0 (``preexec_fn``).
    """

    def __init__(
        self,
        environ: Mapping[str, str],
        working_directory: str | None,
        names: Sequence[str] = NAMES,
        *,
        nice: int = 0,
    ) -> None:
        search = environ.get("PATH", os.defpath)
        self.names = tuple(names)
        #: name -> absolute path of the first hit on PATH, or ``None``.
        self.hits: dict[str, str | None] = {}
        #: name -> the hit's first :data:`READ_BYTES` bytes (``b""``: unreadable or no hit).
        self.heads: dict[str, bytes] = {}
        self._running: dict[str, process.Running] = {}
        self._answers: dict[str, str | None] = {}
        cwd = working_directory if working_directory and os.path.isdir(working_directory) else None
        for name in self.names:
            hit = shutil.which(name, path=search)
            path = None if hit is None else os.path.abspath(hit)
            self.hits[name] = path
            head = b""
            if path is not None:
                try:
                    head = files.read_bytes(path, READ_BYTES)
                except OSError:
                    head = b""
            self.heads[name] = head
            match = SHIM_EXEC.search(head) if head.startswith(b"#!") else None
            if match is None:
                continue
            try:  # in a session of its own: a hung tool is killed with its group (issue 16)
                self._running[name] = process.start(
                    [os.fsdecode(match.group(1)), "which", name], env=environ, cwd=cwd, nice=nice
                )
            except (OSError, ValueError):  # ValueError: a NUL byte in the tool's path
                continue

    def is_shim(self, name: str) -> bool:
        """Whether ``name``'s hit on PATH is a pyenv/asdf shim whose tool was asked."""
        return name in self._running or name in self._answers

    def resolved(self, name: str) -> str | None:
        """What ``TOOL which NAME`` printed (its last line, an existing absolute path), waiting
        for it (at most :data:`TIMEOUT` seconds from the start); ``None`` when ``name`` is not a
        shim, the tool failed (the version is not installed) or printed something else."""
        if name in self._answers:
            return self._answers[name]
        running = self._running.pop(name, None)
        if running is None:
            return None
        done = running.wait(TIMEOUT)
        lines = os.fsdecode(done.stdout).strip().splitlines()
        answer = lines[-1] if done.returncode == 0 and lines else ""
        found = answer if os.path.isabs(answer) and os.path.exists(answer) else None
        self._answers[name] = found
        return found

    def close(self) -> None:
        """Kill and reap every lookup not yet collected."""
        while self._running:
            _, running = self._running.popitem()
            running.kill()
