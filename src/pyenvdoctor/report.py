"""The pipeline: probe -> collect -> diagnose -> :class:`~pyenvdoctor.model.Report`.

Pure with respect to the file system (reads only); wall-clock time enters as an argument.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Generic, TypeVar, cast

from pyenvdoctor import __version__
from pyenvdoctor.checks import sort_findings, without_managed_installs
from pyenvdoctor.checks.bytecode import bytecode_findings
from pyenvdoctor.checks.caches import (
    cache_findings,
    debian_findings,
    externally_managed_finding,
    nearby_findings,
)
from pyenvdoctor.checks.commands import (
    command_findings,
    console_script_findings,
    path_commands,
    script_repairs,
)
from pyenvdoctor.checks.distributions import distribution_findings
from pyenvdoctor.checks.editable import editable_findings
from pyenvdoctor.checks.environment import environment_findings
from pyenvdoctor.checks.project import project_findings, read_project
from pyenvdoctor.checks.shadowing import shadowing_findings
from pyenvdoctor.collect.bytecode import BytecodeTarget, FileSink
from pyenvdoctor.collect.caches import collect_caches
from pyenvdoctor.collect.debian import collect_debian, read_externally_managed
from pyenvdoctor.collect.dependencies import (
    check_dependencies,
    check_supported,
    read_installed,
    target_supported_tags,
)
from pyenvdoctor.collect.distributions import dangling_egg_links, scan_distributions
from pyenvdoctor.collect.editable import find_startup_hooks, find_strict_editables, record_files
from pyenvdoctor.collect.interpreter import (
    DEFAULT_TIMEOUT,
    RunningProbe,
    environment_variables,
    startup_modules,
)
from pyenvdoctor.collect.managed import managed_environment
from pyenvdoctor.collect.modules import resolve_names
from pyenvdoctor.collect.nearby import find_nearby_venvs
from pyenvdoctor.collect.pip_cache import measure_pip_cache
from pyenvdoctor.collect.records import Records
from pyenvdoctor.collect.zipbytecode import add_zip_groups
from pyenvdoctor.model import (
    SCHEMA_VERSION,
    CheckSkipped,
    Finding,
    NearbyVenv,
    PathCommand,
    PipCache,
    Report,
    Selection,
    SelectionReason,
)
from pyenvdoctor.start import PROJECT_MARKERS, StartedReport, find_project_root, start_report

__all__ = ["PROJECT_MARKERS", "build_report", "find_project_root"]

_T = TypeVar("_T")


class _InThread(Generic[_T]):
    """``function()`` in a thread of its own; :meth:`result` joins it, so no thread outlives a
    report and the next report's scan can fork (:class:`~pyenvdoctor.collect.bytecode.
    BackgroundScan` scans in-process while another thread runs)."""

    def __init__(self, function: Callable[[], _T]) -> None:
        self._function = function
        self._value: _T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="pyenvdoctor", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._function()
        except BaseException as exc:  # handed to result()
            self._error = exc

    def result(self) -> _T:
        """The function's value (waits for it); re-raises its exception."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return cast("_T", self._value)


def build_report(
    *,
    python: str | None,
    environ: Mapping[str, str],
    working_directory: str,
    generated_at: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    paths: Sequence[str] = (),
    progress: Callable[[int], None] | None = None,
    on_file: FileSink | None = None,
    now: float | None = None,
    started: tuple[Selection, RunningProbe] | None = None,
    begun: StartedReport | None = None,
) -> Report:
    """Inspect one interpreter and diagnose it.

    :param python: ``--python`` (path, environment directory or command), or ``None`` to choose
        as :func:`~pyenvdoctor.collect.interpreter.select_interpreter` does.
    :param environ: the environment the user runs in (PYTHONPATH, PIP_* ...).
    :param working_directory: the user's, for ``sys.path[0]`` and the current project.
    :param generated_at: an ISO 8601 timestamp to record, or ``None`` for a reproducible report.
    :param timeout: seconds the probe may take.
    :param paths: more directories to scan for bytecode (``--path``).
    :param progress: called with the number of bytecode files judged so far.
    :param on_file: receives every judged bytecode file (``--fix`` plans from these).
    :param started: the selection and its probe, already started (the CLI starts it before
        importing this module, so the target boots while the imports run).
    :param begun: the first stage, already done by :func:`~pyenvdoctor.start.start_report`
        with these same arguments (the CLI forks the scan before importing this module);
        ``None``: done here.
    :param now: the time the report describes, in seconds since the epoch (for "not modified
        for 90 days"); ``None``: the current time.
    :raises InterpreterError: the target cannot be inspected.
    """
    now = time.time() if now is None else now
    if begun is None:
        # The scan reads the disk while this process reads metadata: both cores work.
        begun = start_report(
            python=python,
            environ=environ,
            working_directory=working_directory,
            timeout=timeout,
            paths=paths,
            progress=progress,
            on_file=on_file,
            started=started,
        )
    try:
        return _diagnose(
            begun,
            environ=environ,
            working_directory=working_directory,
            generated_at=generated_at,
            now=now,
        )
    finally:
        begun.scan.close()


def _diagnose(
    begun: StartedReport,
    *,
    environ: Mapping[str, str],
    working_directory: str,
    generated_at: str | None,
    now: float,
) -> Report:
    """The second stage of :func:`build_report`: everything but the target and the scan."""
    target_facts, sys_path, project_root = begun.facts, begun.sys_path, begun.project_root
    pending_scan = begun.scan
    selection, probe, data = target_facts.selection, target_facts.probe, target_facts.data
    interpreter, pth_files = target_facts.interpreter, target_facts.pth_files
    raw_path, classifier = target_facts.sys_path, target_facts.classifier
    skipped: list[CheckSkipped] = list(begun.skipped)

    # pip's cache and the environments beside the project are walks of stat calls (they
    # release the GIL): a thread overlaps them with the metadata work below. Started after the
    # scan's fork: no thread may run across a fork.
    def walks() -> tuple[
        PipCache, tuple[Finding, ...], tuple[NearbyVenv, ...], tuple[PathCommand, ...]
    ]:
        cache = measure_pip_cache(target_prefix=interpreter.prefix, environ=environ)
        scripts = console_script_findings(
            interpreter.sysconfig_paths.get("scripts", ""),
            target_prefix=interpreter.prefix,
            target_executable=interpreter.executable,
            site_dirs=(*interpreter.site_packages, interpreter.user_site or ""),
            records=records,
        )
        nearby = find_nearby_venvs(
            dict.fromkeys([project_root or working_directory, working_directory]),
            now=now,
            target_prefix=interpreter.prefix,
        )
        # Shims are resolved by running their tool (pyenv/asdf which): a wait, overlapped.
        commands = path_commands(
            environ, working_directory=working_directory, lookups=begun.lookups
        )
        return cache, tuple(scripts), nearby, commands

    records = Records()  # every RECORD read once, by the three checks that ask
    pending_walks = _InThread(walks)
    site_dirs = [
        *(
            (interpreter.user_site,)
            if interpreter.user_site and interpreter.user_site_enabled
            else ()
        ),
        *interpreter.site_packages,
    ]
    scan = scan_distributions(raw_path, classifier, site_dirs, records)
    visible = [(d, m) for d, m in zip(scan.distributions, scan.metadata, strict=True) if d.visible]
    installed = [read_installed(m) for _, m in visible]
    check = check_dependencies(installed, marker_environment=interpreter.marker_environment)
    problems = check.problems
    skipped.extend(check.skipped)
    if interpreter.implementation and interpreter.cache_tag:
        # pip checks only distributions under sys.prefix in a venv (local_only).
        local = [
            i
            for (d, _), i in zip(visible, installed, strict=True)
            if not interpreter.is_virtual_environment or _is_local(d.location, interpreter.prefix)
        ]
        tags = target_supported_tags(
            implementation=interpreter.implementation,
            version_info=(interpreter.version_info[0], interpreter.version_info[1]),
            soabi=_config_var(data, "SOABI"),
            ext_suffix=_config_var(data, "EXT_SUFFIX"),
            sysconfig_platform=str((data.get("sysconfig") or {}).get("platform") or ""),
        )
        problems += check_supported(local, supported_tags=tags)
    pip_version = next(
        (d.version for d in scan.distributions if d.visible and d.canonical_name == "pip"), None
    )

    # Before waiting for the scan: these need neither its result nor each other.
    debian = collect_debian(
        interpreter=interpreter, distributions=scan.distributions, environ=environ
    )
    # RECORDs are read while the scan is still running (the owners of extensions are looked up
    # in the same cache afterwards).
    owners = record_files(scan.distributions, records)
    pip_cache, script_findings, nearby_venvs, commands = pending_walks.result()
    # Still before waiting for the scan (its workers have both cores; this thread would
    # otherwise sit idle in the wait): every check that does not read the bytecode summary.
    modules, contested = resolve_names(interpreter, sys_path)
    project = read_project(project_root) if project_root is not None else None
    scripts_dir = interpreter.sysconfig_paths.get("scripts", "")
    before_scan = (
        *environment_findings(
            interpreter,
            sys_path=sys_path,
            pth_files=pth_files,
            pip_cache=pip_cache,
            pip_version=pip_version,
            probe_errors=data.get("errors") or (),
            startup_output=probe.startup_output,
            dangling_egg_links=dangling_egg_links(site_dirs),
        ),
        *distribution_findings(
            scan.distributions,
            scan.broken,
            problems,
            python=interpreter.executable,
            contested=contested,
        ),
        *shadowing_findings(
            contested,
            interpreter,
            scan.distributions,
            records,
            project=project,
            startup_modules=startup_modules(data),
        ),
        *(
            project_findings(
                project,
                scan.distributions,
                python=interpreter.executable,
                contested=contested,
                managed=managed_environment(interpreter.prefix),
            )
            if project is not None
            else ()
        ),
        *command_findings(
            commands,
            target_executable=interpreter.executable,
            target_prefix=interpreter.prefix,
            scripts_dir=scripts_dir,
            env_is_active=selection.reason
            in (SelectionReason.VIRTUAL_ENV, SelectionReason.CONDA_PREFIX),
            target_from_path=selection.reason is SelectionReason.PATH,
        ),
        *script_repairs(
            script_findings,
            owners,
            python=interpreter.executable,
            prefix=interpreter.prefix,
            project_root=project_root,
        ),
        *editable_findings(
            contested,
            sys_path,
            pth_files,
            scan.distributions,
            strict=find_strict_editables(pth_files, scan.distributions),
            hooks=find_startup_hooks(sys_path),
            owned=owners.keys(),
            python=interpreter.executable,
        ),
    )
    bytecode = pending_scan.result()
    bytecode = add_zip_groups(bytecode, sys_path, BytecodeTarget.for_interpreter(interpreter))
    caches = collect_caches(
        environ=environ,
        working_directory=working_directory,
        project_root=project_root,
        pip_cache=pip_cache,
        bytecode=bytecode,
        python=interpreter.executable,
        target_prefix=interpreter.prefix,
        now=now,
    )

    findings = [
        *before_scan,
        *bytecode_findings(
            bytecode,
            python=interpreter.executable,
            site_dirs=site_dirs,
            records=records,
        ),
        *cache_findings(caches),
        *nearby_findings(nearby_venvs),
        *debian_findings(debian, scan.distributions, problems),
        *filter(
            None,
            [
                externally_managed_finding(
                    interpreter,
                    debian,
                    marker_error=(
                        read_externally_managed(interpreter.externally_managed)
                        if interpreter.externally_managed
                        else None
                    ),
                    project_root=project_root,
                )
            ],
        ),
    ]
    return Report(
        schema_version=SCHEMA_VERSION,
        tool_version=__version__,
        generated_at=generated_at,
        selection=selection,
        interpreter=interpreter,
        environment_variables=environment_variables(environ),
        working_directory=working_directory,
        project_root=project_root,
        sys_path=sys_path,
        pth_files=pth_files,
        distributions=scan.distributions,
        dependency_problems=problems,
        modules=modules,
        contested_names=contested,
        bytecode=bytecode,
        path_commands=commands,
        pip_cache=pip_cache,
        pip_version=pip_version,
        findings=sort_findings(without_managed_installs(findings, interpreter)),
        skipped=tuple(skipped),
        caches=caches,
        debian=debian,
        nearby_venvs=nearby_venvs,
    )


def _is_local(path: str, prefix: str) -> bool:
    """pip ``utils/misc.py`` ``dist_is_local``/``is_local``: under ``sys.prefix``."""
    return os.path.abspath(path).startswith(os.path.abspath(prefix) + os.sep)


def _config_var(data: Mapping[str, object], name: str) -> str | None:
    """A string ``sysconfig.get_config_var(name)`` of the target, from the probe."""
    sc = data.get("sysconfig")
    config_vars = sc.get("config_vars") if isinstance(sc, dict) else None
    value = config_vars.get(name) if isinstance(config_vars, dict) else None
    return value if isinstance(value, str) else None
