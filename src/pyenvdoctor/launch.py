"""Stage 0 of a report: the target interpreter chosen and its probe started.

Nothing here imports the model (:mod:`pyenvdoctor.model`, its dataclasses and enums: about
30 ms) or the pipeline, so the CLI starts the target booting a few milliseconds after its own
start; the imports of :mod:`pyenvdoctor.start` then run while the target answers.
:mod:`pyenvdoctor.collect.interpreter` turns the answer into model objects.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from pyenvdoctor import probe, process
from pyenvdoctor.errors import InterpreterError

if TYPE_CHECKING:
    import tempfile

    from pyenvdoctor.collect.interpreter import ProbeResult

__all__ = ["DEFAULT_TIMEOUT", "Choice", "RunningProbe", "choose_interpreter"]

#: Seconds a probe may take before the target counts as hung.
DEFAULT_TIMEOUT = 30.0


def _venv_python(prefix: str) -> Path:
    """The interpreter of a PEP 405 environment rooted at ``prefix``."""
    if sys.platform == "win32":
        return Path(prefix) / "Scripts" / "python.exe"
    return Path(prefix) / "bin" / "python"


class Choice(NamedTuple):
    """The interpreter to inspect and why (:class:`pyenvdoctor.model.Selection`'s fields;
    ``reason`` is a :class:`pyenvdoctor.model.SelectionReason` value)."""

    requested: str
    executable: str
    reason: str
    explanation: str


def choose_interpreter(requested: str | None, environ: Mapping[str, str]) -> Choice:
    """Decide which interpreter to inspect.

    Order: ``--python`` (a path, a virtual environment directory, or a command on ``PATH``),
    then the active environment (``VIRTUAL_ENV``, then ``CONDA_PREFIX``), then the ``python3``
    (then ``python``) on ``environ``'s ``PATH``, as the user's shell would run it (issue 17: a
    pipx-installed pyenvdoctor must not inspect its own venv), then the interpreter running
    pyenvdoctor.

    :raises InterpreterError: the requested interpreter does not exist.
    """
    if requested:
        what = f"--python {requested}"
        path = Path(requested).expanduser()
        kind = _path_kind(path, what)
        if kind == "dir":
            path = _venv_python(str(path))
            kind = _path_kind(path, what)
        elif os.sep not in requested and kind is None:
            found = shutil.which(requested)
            if found is None:
                raise InterpreterError(f"{what}: no such command on PATH")
            path = Path(found)
            kind = _path_kind(path, what)
        if kind is None:
            raise InterpreterError(f"{what}: {path} does not exist")
        if kind == "dir" or not os.access(path, os.X_OK):
            raise InterpreterError(f"{what}: {path} is not an executable file")
        return Choice(
            requested=requested,
            executable=str(path.absolute()),
            reason="--python",
            explanation=f"named with --python {requested}",
        )
    for var in ("VIRTUAL_ENV", "CONDA_PREFIX"):
        prefix = environ.get(var)
        if prefix:
            exe = _venv_python(prefix)
            if _path_kind(exe, f"{var}={prefix}") is None:
                raise InterpreterError(
                    f"{var}={prefix} is set but {exe} does not exist "
                    "(deactivate the environment or pass --python)"
                )
            return Choice(
                requested=prefix,
                executable=str(exe),
                reason=var,
                explanation=f"the active environment ({var}={prefix})",
            )
    on_path = _shell_python(environ)
    if on_path is not None:
        name, found = on_path
        return Choice(
            requested=name,
            executable=found,
            reason="PATH",
            explanation=f"no --python and no active environment: the {name} on PATH",
        )
    return Choice(
        requested=sys.executable,
        executable=sys.executable,
        reason="host",
        explanation="no --python, no active environment and no python3 on PATH:"
        " the interpreter running pyenvdoctor",
    )


def _path_kind(path: Path, what: str) -> str | None:
    """``"dir"``, ``"file"`` (anything else that exists, symlinks followed) or ``None`` (no
    such file, or a dangling symlink), from one ``stat``.

    :raises InterpreterError: ``path`` cannot be reached: a directory on the way that this
        user may not search (``EACCES``, where :meth:`pathlib.Path.exists` raises
        ``PermissionError``), a symlink loop, a name too long, a NUL byte (issue 16).
    """
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except PermissionError:
        raise InterpreterError(
            f"{what}: cannot reach {path}: permission denied (a directory on the way is not "
            "searchable by this user)"
        ) from None
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InterpreterError(f"{what}: cannot reach {path}: {reason}") from None
    return "dir" if stat.S_ISDIR(st.st_mode) else "file"


def _shell_python(environ: Mapping[str, str]) -> tuple[str, str] | None:
    """``(command, interpreter)`` for the ``python3`` (then ``python``) that ``environ``'s
    ``PATH`` runs, as a shell would find it, with shims and wrappers (pyenv, asdf) resolved by
    running it once and asking for ``sys.executable``; ``None`` when neither is on ``PATH``.
    A command that does not answer within 10 seconds is taken as the file found."""
    search = environ.get("PATH")
    if not search:
        return None
    for name in ("python3", "python"):
        found = shutil.which(name, path=search)
        if found is None:
            continue
        try:
            done = process.run(
                [found, "-c", "import sys; print(sys.executable)"],
                timeout=10,
                # 3.11+: no '' on sys.path, so 3.13's -c imports no ./linecache.py
                env={**environ, "PYTHONSAFEPATH": "1"},
            )
        except (OSError, ValueError):
            return name, str(Path(found).absolute())
        stdout = done.stdout.decode("utf-8", "replace")
        answer = stdout.strip().splitlines()[-1:] if done.returncode == 0 else []
        exe = answer[0] if answer and os.path.isabs(answer[0]) else found
        return name, exe
    return None


class RunningProbe:
    """The probe, started: the target boots while the caller goes on (imports, say);
    :meth:`result` collects its answer.

    The target runs through :mod:`pyenvdoctor.process`: in a session of its own (on time-out
    the whole group is killed, and a grandchild left holding the pipes after it exited is killed
    after a short grace period), with the probe's source pumped to its stdin, and the answer
    read from a pipe of its own (the *answer channel*), which the target's prints on stdout at
    start-up or at exit cannot reach (issue 16).
    """

    def __init__(
        self,
        executable: str,
        *,
        which: str | None = None,
        working_directory: str | None = None,
    ) -> None:
        self.executable = executable
        # The probe runs where the user stands: site.py makes relative PYTHONPATH entries
        # absolute against the working directory, and '' is searched there (the bootstrap keeps
        # '' off sys.path while the probe imports its own modules). An empty directory of its
        # own is the fallback when there is no such directory.
        self._neutral: tempfile.TemporaryDirectory[str] | None = None
        if working_directory and os.path.isdir(working_directory):
            cwd = working_directory
        else:
            import tempfile  # here only: it imports random, which seeds itself (milliseconds)

            self._neutral = tempfile.TemporaryDirectory(prefix="pyenvdoctor-probe-")
            cwd = self._neutral.name
        self._error: InterpreterError | None = None
        self._running: process.Running | None = None
        self._collected = False
        argv = [
            executable,
            "-c",
            probe.BOOTSTRAP,
            process.ANSWER_FD,
            "-" if os.environ.get("PYTHONSAFEPATH") else "P",
            *(("which", which, working_directory or "") if which else ()),
        ]
        # PYTHONSAFEPATH=1 (3.11+, ignored before): ``-c`` puts no '' on sys.path, so nothing
        # in the user's directory is imported before the bootstrap runs (3.13 imports
        # linecache for -c); the bootstrap puts '' back where -c puts it (probe.BOOTSTRAP).
        env = None if os.environ.get("PYTHONSAFEPATH") else {**os.environ, "PYTHONSAFEPATH": "1"}
        try:
            source = Path(probe.__file__).read_bytes()
            self._running = process.start(argv, input=source, cwd=cwd, env=env, answer_channel=True)
        except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
            self._cleanup()
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self._error = InterpreterError(f"{executable}: cannot run it ({reason})")

    def answered(self) -> bool:
        """Whether the target has exited (answered, or failed), moving what it wrote so far
        without waiting (an answer larger than a pipe buffer must be read for it to end)."""
        return self._running is None or self._running.poll()

    def result(self, timeout: float = DEFAULT_TIMEOUT) -> ProbeResult:
        """Wait for the answer and parse it.

        :param timeout: seconds since the probe started before the target counts as hung; it
            is then killed with everything it started, and this returns within about
            :data:`pyenvdoctor.process.GRACE` seconds more.
        :raises InterpreterError: cannot run, times out, is older than 3.8, or prints no report
            or a malformed one.
        """
        if self._error is not None or self._running is None:
            raise self._error or InterpreterError(f"{self.executable}: cannot run it")
        try:
            done = self._running.wait(timeout)
        finally:
            self._collected = True
            self._cleanup()
        if done.timed_out:
            raise InterpreterError(
                f"{self.executable}: no answer within {timeout:g} s (hung at start-up?)"
            )
        from pyenvdoctor.collect.interpreter import parse_probe  # the model: imported late

        return parse_probe(self.executable, done)

    def close(self) -> None:
        """Kill the target with its group and reap it, unless :meth:`result` collected it
        (then nothing is done): for a caller that gives up before asking (a usage error found
        while the target boots, an interrupt)."""
        if self._running is not None and not self._collected:
            self._collected = True
            self._running.kill()
        self._cleanup()

    def _cleanup(self) -> None:
        if self._neutral is not None:
            self._neutral.cleanup()
            self._neutral = None
