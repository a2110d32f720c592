"""Findings about the interpreter, ``sys.path``, ``.pth`` files, pip and its cache."""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from pyenvdoctor.checks.bytecode import format_bytes
from pyenvdoctor.model import (
    Finding,
    Interpreter,
    LocationClass,
    PathEntry,
    PipCache,
    PthFile,
    Repair,
    RepairGroup,
    RepairKind,
    Severity,
)

__all__ = ["PIP_CACHE_LARGE_BYTES", "environment_findings"]

#: A pip cache larger than this (bytes) is reported.
PIP_CACHE_LARGE_BYTES = 1 << 30


def environment_findings(
    interpreter: Interpreter,
    *,
    sys_path: Sequence[PathEntry],
    pth_files: Sequence[PthFile],
    pip_cache: PipCache | None,
    pip_version: str | None,
    probe_errors: Sequence[Mapping[str, Any]],
    startup_output: str,
    dangling_egg_links: Sequence[tuple[str, str]] = (),
) -> list[Finding]:
    """Findings that need only the probe's facts, the pip cache and whether pip is installed."""
    py = shlex.quote(interpreter.executable)
    findings: list[Finding] = []
    for err in probe_errors:
        findings.append(
            Finding(
                code="probe-step-failed",
                severity=Severity.WARNING,
                title=f"The interpreter could not report {err.get('step')}",
                message=f"{err.get('message')}. The parts of the report that need it are incomplete.",
                subject=str(err.get("step")),
            )
        )
    if startup_output:
        findings.append(
            Finding(
                code="interpreter-startup-output",
                severity=Severity.WARNING,
                title="The interpreter prints text at start-up or at exit",
                message=(
                    "Something run at start-up (sitecustomize, usercustomize or a .pth import line, "
                    "or an atexit hook it registered) writes to stdout, which breaks tools that "
                    "read a Python program's output."
                ),
                evidence=tuple(startup_output.splitlines()[:5]),
            )
        )
    missing = [
        e
        for e in sys_path
        if not e.exists
        and e.path
        and not (e.location is LocationClass.STDLIB and e.path.endswith(".zip"))
    ]
    if missing:
        findings.append(
            Finding(
                code="sys-path-missing",
                severity=Severity.INFO,
                title=f"{len(missing)} sys.path entr{'ies do' if len(missing) != 1 else 'y does'} not exist",
                message=(
                    "Entries that do not exist cost a failed lookup on every import and usually point "
                    "at an old checkout or a removed environment (from PYTHONPATH or a .pth file)."
                ),
                evidence=tuple(f"{e.path} ({e.location.value})" for e in missing),
                count=len(missing),
            )
        )
    for pth in pth_files:
        imports = [ln for ln in pth.lines if ln.kind == "import"]
        if imports and pth.skipped is None:
            findings.append(
                Finding(
                    code="pth-executes-code",
                    severity=Severity.INFO,
                    title=f"{os.path.basename(pth.path)} runs code at every start-up",
                    message=(
                        "Lines starting with `import` in a .pth file are executed by site.py each time "
                        "the interpreter starts (editable-install finders, distutils-precedence, "
                        "coverage hooks use this). Check that you expect it."
                    ),
                    evidence=(pth.path, *(f"line {ln.lineno}: {ln.text}" for ln in imports)),
                    subject=pth.path,
                    count=len(imports),
                )
            )
        egginsert = [ln for ln in imports if "__egginsert" in ln.text or "__plen" in ln.text]
        if egginsert and pth.skipped is None:
            findings.append(
                Finding(
                    code="pth-egginsert",
                    severity=Severity.WARNING,
                    title=f"{os.path.basename(pth.path)} moves entries ahead of the standard library",
                    message=(
                        "This is easy_install's old `__egginsert` trick: its import lines reorder "
                        "sys.path so that the eggs it lists come before everything else, the "
                        "standard library and PYTHONPATH included. Reinstall those projects with "
                        "pip and delete the file."
                    ),
                    evidence=(pth.path, *(f"line {ln.lineno}: {ln.text}" for ln in egginsert)),
                    subject=pth.path,
                    count=len(egginsert),
                    repairs=(
                        Repair(
                            kind=RepairKind.REMOVE_PTH_LINES,
                            group=RepairGroup.INSTALLATION,
                            description=f"remove the __egginsert lines from {pth.path} (its eggs "
                            "stay on sys.path, after site-packages)",
                            paths=(pth.path,),
                            lines=tuple(ln.text for ln in egginsert),
                        ),
                    ),
                )
            )
        dead = [ln for ln in pth.lines if ln.kind == "path" and not ln.exists]
        if dead and pth.skipped is None:
            findings.append(
                Finding(
                    code="pth-missing-path",
                    severity=Severity.INFO,
                    title=f"{os.path.basename(pth.path)} names directories that do not exist",
                    message="site.py skips these lines; they are left by an uninstalled or moved project.",
                    evidence=(pth.path, *(f"line {ln.lineno}: {ln.text}" for ln in dead)),
                    subject=pth.path,
                    count=len(dead),
                )
            )
    for link, target in dangling_egg_links:
        findings.append(
            Finding(
                code="egg-link-dangling",
                severity=Severity.WARNING,
                title=f"{os.path.basename(link)} points at a directory that is gone",
                message=(
                    f"A legacy editable install (`setup.py develop`) left {link}, which points at "
                    f"{target}; that checkout no longer exists. pip still counts it; remove it "
                    "(and its line in easy-install.pth)."
                ),
                evidence=(link, target),
                commands=(f"rm -- {shlex.quote(link)}",),
                subject=link,
            )
        )
    if pip_version is None:
        findings.append(
            Finding(
                code="pip-not-installed",
                severity=Severity.INFO,
                title="pip is not installed in this environment",
                message="`python -m pip` fails here; a `pip` found on PATH belongs to another interpreter.",
                commands=(f"{py} -m ensurepip --upgrade",),
            )
        )
    if pip_cache is not None and pip_cache.total_bytes >= PIP_CACHE_LARGE_BYTES:
        findings.append(
            Finding(
                code="pip-cache-large",
                severity=Severity.INFO,
                title=f"pip's cache holds {format_bytes(pip_cache.total_bytes)}",
                message=(
                    f"HTTP responses {format_bytes(pip_cache.http_bytes)} ({pip_cache.http_files} files), "
                    f"locally built wheels {format_bytes(pip_cache.wheels_bytes)} "
                    f"({pip_cache.wheels_files}). pip re-downloads what it needs after a purge."
                ),
                evidence=(pip_cache.directory or "",),
                commands=(f"{py} -m pip cache purge",),
                subject=pip_cache.directory,
                count=pip_cache.http_files + pip_cache.wheels_files + pip_cache.other_files,
                bytes=pip_cache.total_bytes,
            )
        )
    return findings
