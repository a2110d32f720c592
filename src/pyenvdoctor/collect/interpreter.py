"""Choose the target interpreter, run the probe in it, and turn its answer into model objects.

The probe (:mod:`pyenvdoctor.probe`) runs in the target; everything here runs on the host.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyenvdoctor import probe, process
from pyenvdoctor.errors import InterpreterError
from pyenvdoctor.launch import DEFAULT_TIMEOUT, Choice, RunningProbe, choose_interpreter
from pyenvdoctor.model import (
    EnvironmentKind,
    Interpreter,
    LocationClass,
    PathEntry,
    PthFile,
    PthLine,
    Selection,
    SelectionReason,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "ENVIRONMENT_VARIABLES",
    "PathClassifier",
    "ProbeResult",
    "RunningProbe",
    "Target",
    "build_interpreter",
    "build_pth_files",
    "build_sys_path",
    "environment_variables",
    "inspect_target",
    "parse_probe",
    "run_probe",
    "select_interpreter",
    "selection_of",
    "startup_modules",
    "sys_path_indices",
    "validate_probe_answer",
]

#: Environment variables that change what ``import`` or pip does (PIP_* are added by prefix).
ENVIRONMENT_VARIABLES = (
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONNOUSERSITE",
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONPYCACHEPREFIX",
    "PYTHONSAFEPATH",
    "PYTHONUSERBASE",
    "PYTHONSTARTUP",
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
    "CONDA_DEFAULT_ENV",
    "PYENV_VERSION",
)


def select_interpreter(requested: str | None, environ: Mapping[str, str]) -> Selection:
    """Decide which interpreter to inspect (:func:`pyenvdoctor.launch.choose_interpreter`).

    :raises InterpreterError: the requested interpreter does not exist.
    """
    return selection_of(choose_interpreter(requested, environ))


def selection_of(choice: Choice) -> Selection:
    """The :class:`~pyenvdoctor.model.Selection` of a :class:`~pyenvdoctor.launch.Choice`."""
    return Selection(
        requested=choice.requested,
        executable=choice.executable,
        reason=SelectionReason(choice.reason),
        explanation=choice.explanation,
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class ProbeResult:
    """The probe's JSON document and what the target printed besides it.

    :ivar data: the document (see :func:`pyenvdoctor.probe.collect`).
    :ivar startup_output: anything printed on stdout before the marker (a noisy
        ``sitecustomize`` or ``.pth``), at most 2,000 characters.
    :ivar stderr: the target's standard error, at most 2,000 characters.
    """

    data: dict[str, Any]
    startup_output: str
    stderr: str


def run_probe(
    executable: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    which: str | None = None,
    working_directory: str | None = None,
) -> ProbeResult:
    """Run the probe in ``executable`` from an empty working directory and parse its answer.

    :param timeout: seconds before the target counts as hung.
    :param which: a module name to resolve as well (the answer then has ``which`` and
        ``facts`` keys), searching ``working_directory`` where ``sys.path`` has ``''``.
    :raises InterpreterError: cannot run, times out, is older than 3.8, or prints no report.
    """
    return RunningProbe(executable, which=which, working_directory=working_directory).result(
        timeout
    )


def parse_probe(executable: str, done: process.Finished) -> ProbeResult:
    """The probe's answer from the answer channel (else from stdout, after the last marker),
    checked against its shape (:func:`validate_probe_answer`).

    :raises InterpreterError: no answer, not JSON, unsupported, or the wrong shape.
    """
    stdout = done.stdout.decode("utf-8", "replace")
    stderr = done.stderr.decode("utf-8", "replace")
    channel = done.answer.decode("utf-8", "replace")
    frame = "\n" + probe.MARKER + "\n"
    noise, marker, document = channel.rpartition(frame)
    before = stdout
    if not marker:  # no answer channel (not POSIX), or the probe fell back to stdout
        before, marker, document = stdout.rpartition(frame)
        noise = ""
    if not marker:
        hint = (stderr.strip() or stdout.strip()).splitlines()
        last = hint[-1][:200] if hint else f"exit status {done.returncode}, no output"
        raise InterpreterError(f"{executable}: not a working Python interpreter ({last})")
    try:
        data = json.loads(document)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise InterpreterError(
            f"{executable}: the probe's answer is not valid JSON ({_one_line(exc)})"
        ) from None
    if not isinstance(data, dict):
        raise InterpreterError(f"{executable}: the probe's answer is not a JSON object")
    if "unsupported" in data:
        raise InterpreterError(
            f"{executable}: Python {_one_line(data['unsupported'])} is unsupported "
            f"(pyenvdoctor inspects Python {probe.MIN_TARGET[0]}.{probe.MIN_TARGET[1]} or newer)"
        )
    if data.get("probe_version") != probe.PROBE_VERSION:
        raise InterpreterError(
            f"{executable}: unexpected probe version {_one_line(data.get('probe_version'))}"
        )
    problem = validate_probe_answer(data)
    if problem is not None:
        raise InterpreterError(f"{executable}: the probe's answer is malformed: {problem}")
    return ProbeResult(
        data=data,
        startup_output=(before.strip() + noise.strip())[:2000],
        stderr=stderr[:2000],
    )


class _Optional:
    """A shape that also admits ``None``."""

    __slots__ = ("shape",)

    def __init__(self, shape: object) -> None:
        self.shape = shape


class _Required:
    """A key of an object shape that must be present, with ``shape``."""

    __slots__ = ("shape",)

    def __init__(self, shape: object) -> None:
        self.shape = shape


class _MapOf:
    """A shape: a JSON object whose every value has ``shape``."""

    __slots__ = ("shape",)

    def __init__(self, shape: object) -> None:
        self.shape = shape


_ANY = object()
_OPT_STR = _Optional(str)
_OPT_BOOL = _Optional(bool)
_STRS = [str]
_FACTS_SHAPE: dict[str, object] = {
    "interpreter": {
        "executable": _OPT_STR,
        "version": str,
        "version_info": (int, int, int, str, int),
        "implementation": {"name": str, "cache_tag": _OPT_STR},
        "magic_number": str,
        "platform": _MapOf(_OPT_STR),
    },
    "prefixes": {
        "prefix": str,
        "base_prefix": str,
        "exec_prefix": str,
        "base_exec_prefix": str,
        "real_prefix": _OPT_STR,
    },
    "sysconfig": {
        "scheme": str,
        "paths": _MapOf(str),
        "platform": _OPT_STR,
        "config_vars": _MapOf(_ANY),
    },
    "site": {
        "imported": bool,
        "user_site": _OPT_STR,
        "site_packages": _STRS,
        "enable_user_site": _Optional(bool),
    },
    "flags": {"pycache_prefix": _OPT_STR, "check_hash_based_pycs": str},
    "imports": {
        "path": _STRS,
        "path_left_out": [int],
        "meta_path": _STRS,
        "suffixes": _MapOf(_STRS),
        "builtin_module_names": _STRS,
        "frozen_module_names": _STRS,
        "stdlib_module_names": _Optional(_STRS),
        "startup_modules": _Optional(_STRS),
    },
    "marker_environment": _MapOf(str),
    "pth_files": [
        {
            "path": _Required(str),
            "sitedir": _Required(str),
            "lines": [
                {
                    "lineno": _Required(int),
                    "kind": _Required(str),
                    "text": _Required(str),
                    "path": _OPT_STR,
                    "exists": _OPT_BOOL,
                    "on_sys_path": _OPT_BOOL,
                }
            ],
        }
    ],
    "externally_managed": _OPT_STR,
    "pyvenv_cfg": _Optional({"path": str, "values": _MapOf(str)}),
    "cwd": _OPT_STR,
    "errors": [{"step": str, "message": str}],
}


_SPEC_SHAPE = {
    "origin": _OPT_STR,
    "kind": _OPT_STR,
    "loader": _OPT_STR,
    "cached": _OPT_STR,
}
#: The answer of ``probe.resolve`` (``pyenvdoctor which``), as :mod:`pyenvdoctor.collect.which`
#: reads it.
_WHICH_SHAPE: dict[str, object] = {
    "levels": [
        {
            "name": _Required(str),
            "finder": _OPT_STR,
            "spec": _Optional(_SPEC_SHAPE),
            "candidates": [
                {
                    **_SPEC_SHAPE,
                    "entry": _Required(str),
                    "index": _Required(int),
                    "kind": _Required(str),
                    "origin": _Required(_OPT_STR),
                }
            ],
        }
    ],
    "notes": _STRS,
}


def _shape_error(value: object, shape: object, where: str) -> str | None:
    """Where ``value`` first departs from ``shape`` (``None`` if it does not). Shapes: a type
    (``bool`` is not an ``int`` here, nor the reverse), a one-item list (a list of those), a
    tuple (a list of exactly those), a dict (an object; listed keys checked when present, and
    required when :class:`_Required`), :class:`_MapOf`, :class:`_Optional`, or ``_ANY``."""
    if shape is _ANY:
        return None
    if isinstance(shape, _Optional):
        return None if value is None else _shape_error(value, shape.shape, where)
    if isinstance(shape, type):
        ok = isinstance(value, shape) and (shape is bool or not isinstance(value, bool))
        if ok:
            return None
        return (
            f"{where} is {type(value).__name__} {_one_line(repr(value))[:40]}, not {shape.__name__}"
        )
    if isinstance(shape, tuple):
        if not isinstance(value, list) or len(value) != len(shape):
            return f"{where} is not a list of {len(shape)} items"
        for i, (item, sub) in enumerate(zip(value, shape, strict=False)):
            problem = _shape_error(item, sub, f"{where}[{i}]")
            if problem:
                return problem
        return None
    if isinstance(shape, list):
        if not isinstance(value, list):
            return f"{where} is {type(value).__name__}, not a list"
        for i, item in enumerate(value):
            problem = _shape_error(item, shape[0], f"{where}[{i}]")
            if problem:
                return problem
        return None
    if not isinstance(value, dict):
        return f"{where} is {type(value).__name__}, not an object"
    if isinstance(shape, _MapOf):
        for key, item in value.items():
            problem = _shape_error(item, shape.shape, f"{where}.{key}")
            if problem:
                return problem
        return None
    assert isinstance(shape, dict)
    for key, declared in shape.items():
        name = f"{where}.{key}" if where else key
        sub = declared.shape if isinstance(declared, _Required) else declared
        if isinstance(declared, _Required) and key not in value:
            return f"{name} is missing"
        if key in value:
            problem = _shape_error(value[key], sub, name)
            if problem:
                return problem
    return None


def validate_probe_answer(data: Mapping[str, Any]) -> str | None:
    """What is wrong with the probe's answer, in one line, or ``None`` when it has the shape
    :func:`pyenvdoctor.probe.collect` gives it (a ``which`` answer: ``which`` an object and
    ``facts`` that shape). Keys a failed probe step left out are not required; the host reads
    every value through this shape, so a patched ``json`` or a fake interpreter answering
    ``version_info: ["three"]`` ends here, not in a traceback (issue 16)."""
    if "which" in data or "facts" in data:
        return _shape_error(data, {"which": _WHICH_SHAPE, "facts": _FACTS_SHAPE}, "")
    return _shape_error(data, _FACTS_SHAPE, "")


def _one_line(value: object) -> str:
    return " ".join(str(value).split())[:200]


def environment_variables(environ: Mapping[str, str]) -> dict[str, str]:
    """The variables of :data:`ENVIRONMENT_VARIABLES` and every ``PIP_*`` that are set."""
    return {
        k: v
        for k, v in sorted(environ.items())
        if k in ENVIRONMENT_VARIABLES or k.startswith("PIP_")
    }


def _environment_kind(
    data: Mapping[str, Any], is_venv: bool, environ: Mapping[str, str]
) -> EnvironmentKind:
    prefixes = data.get("prefixes", {})
    prefix = prefixes.get("prefix", "")
    cfg = data.get("pyvenv_cfg")
    if prefixes.get("real_prefix"):
        return EnvironmentKind.LEGACY_VIRTUALENV
    if is_venv:
        if cfg and "virtualenv" in cfg.get("values", {}):
            return EnvironmentKind.VIRTUALENV
        return EnvironmentKind.VENV
    if prefix and Path(prefix, "conda-meta").is_dir():
        return EnvironmentKind.CONDA
    pyenv_root = environ.get("PYENV_ROOT") or str(Path("~/.pyenv").expanduser())
    if prefix and _is_under(prefix, str(Path(pyenv_root, "versions"))):
        return EnvironmentKind.PYENV
    paths = data.get("imports", {}).get("path", [])
    if prefix == "/usr" and any(p.startswith("/usr/lib/python3/dist-packages") for p in paths):
        return EnvironmentKind.DEBIAN_SYSTEM
    return EnvironmentKind.OTHER


def _is_under(path: str, root: str) -> bool:
    try:
        return os.path.commonpath(
            [os.path.abspath(path), os.path.abspath(root)]
        ) == os.path.abspath(root)
    except ValueError:  # different drives on Windows
        return False


def build_interpreter(data: Mapping[str, Any], environ: Mapping[str, str]) -> Interpreter:
    """Turn the probe's document into an :class:`~pyenvdoctor.model.Interpreter`.

    Missing pieces (a probe step that failed) become empty values; the step's error is reported
    separately as a finding.
    """
    it = data.get("interpreter") or {}
    px = data.get("prefixes") or {}
    sc = data.get("sysconfig") or {}
    site = data.get("site") or {}
    flags = data.get("flags") or {}
    imports = data.get("imports") or {}
    suffixes = imports.get("suffixes") or {}
    cfg = data.get("pyvenv_cfg")
    cfg_values: dict[str, str] = (cfg or {}).get("values", {})
    prefix = px.get("prefix", "")
    base_prefix = px.get("base_prefix", prefix)
    # PEP 405: a venv is where sys.prefix differs from sys.base_prefix; virtualenv < 20 set
    # sys.real_prefix instead.
    is_venv = prefix != base_prefix or bool(px.get("real_prefix"))
    vi = it.get("version_info") or [0, 0, 0, "final", 0]
    impl = it.get("implementation") or {}
    plat = it.get("platform") or {}
    include_system = cfg_values.get("include-system-site-packages")
    return Interpreter(
        executable=it.get("executable") or "",
        version=it.get("version", ""),
        version_info=(int(vi[0]), int(vi[1]), int(vi[2]), str(vi[3]), int(vi[4])),
        implementation=impl.get("name", ""),
        cache_tag=impl.get("cache_tag"),
        magic_number=it.get("magic_number", ""),
        sys_platform=plat.get("sys_platform", ""),
        platform=plat.get("platform", ""),
        machine=plat.get("machine", ""),
        prefix=prefix,
        base_prefix=base_prefix,
        exec_prefix=px.get("exec_prefix", prefix),
        base_exec_prefix=px.get("base_exec_prefix", base_prefix),
        is_virtual_environment=is_venv,
        kind=_environment_kind(data, is_venv, environ),
        pyvenv_cfg=(cfg or {}).get("path"),
        base_executable_home=cfg_values.get("home"),
        include_system_site_packages=(
            None if include_system is None else include_system.lower() == "true"
        ),
        sysconfig_scheme=sc.get("scheme", ""),
        sysconfig_paths=dict(sorted((sc.get("paths") or {}).items())),
        site_imported=bool(site.get("imported")),
        user_site=site.get("user_site"),
        user_site_enabled=bool(site.get("enable_user_site")),
        site_packages=tuple(site.get("site_packages") or ()),
        flags={k: v for k, v in sorted(flags.items()) if k != "pycache_prefix"},
        pycache_prefix=flags.get("pycache_prefix"),
        check_hash_based_pycs=flags.get("check_hash_based_pycs", "default"),
        externally_managed=data.get("externally_managed"),
        meta_path=tuple(imports.get("meta_path") or ()),
        source_suffixes=tuple(suffixes.get("source") or (".py",)),
        bytecode_suffixes=tuple(suffixes.get("bytecode") or (".pyc",)),
        extension_suffixes=tuple(suffixes.get("extension") or ()),
        builtin_module_names=tuple(imports.get("builtin_module_names") or ()),
        frozen_module_names=tuple(imports.get("frozen_module_names") or ()),
        stdlib_module_names=(
            tuple(imports["stdlib_module_names"])
            if imports.get("stdlib_module_names") is not None
            else None
        ),
        marker_environment=dict(sorted((data.get("marker_environment") or {}).items())),
    )


#: Modules ``python -c`` itself imports before the command runs, which ``python script.py``
#: does not: from 3.13 the command's source is registered with ``linecache`` so tracebacks show
#: it (CPython ``Python/pythonrun.c``, ``_PyRun_SimpleStringFlagsWithName``). The probe starts
#: with ``-c``; a program started from a file would still load a local ``linecache.py``.
_DASH_C_IMPORTS: tuple[tuple[tuple[int, int], str], ...] = (((3, 13), "linecache"),)


def startup_modules(data: Mapping[str, Any]) -> frozenset[str] | None:
    """The names in the target's ``sys.modules`` when its start-up ended (``site``, ``.pth``
    import lines, ``sitecustomize``), before any probe code ran (the probe's bootstrap records
    them), as ``imports.startup_modules`` in the probe's answer; ``None`` when the probe did not
    report them. ``import`` returns these without searching ``sys.path``
    (``importlib._bootstrap._find_and_load`` looks in ``sys.modules`` first), which is how
    ``pyenvdoctor which`` answers too. What only ``-c`` imports (:data:`_DASH_C_IMPORTS`) is
    left out, so the names are those of ``python script.py`` as well."""
    names = (data.get("imports") or {}).get("startup_modules")
    if names is None:
        return None
    vi = tuple((data.get("interpreter") or {}).get("version_info") or (0, 0))[:2]
    dash_c = {name for since, name in _DASH_C_IMPORTS if vi >= since}
    return frozenset(n for n in names if isinstance(n, str) and n not in dash_c)


def _norm(path: str) -> str:
    return os.path.normcase(os.path.abspath(path))


class PathClassifier:
    """Assign a :class:`~pyenvdoctor.model.LocationClass` to any path of the target.

    A path is classified by the ``sys.path`` entry it lies in (the longest that contains it),
    and an entry by what put it there: ``site.py`` (site directories, user site), the
    interpreter's own layout (stdlib, lib-dynload), PYTHONPATH, a ``.pth`` line, or ``sys.path[0]``.
    """

    def __init__(
        self,
        interpreter: Interpreter,
        sys_path: Sequence[str],
        pth_files: Sequence[PthFile],
        environ: Mapping[str, str],
    ) -> None:
        self._interp = interpreter
        paths = interpreter.sysconfig_paths
        flags = interpreter.flags
        ignore_env = bool(flags.get("ignore_environment")) or bool(flags.get("isolated"))
        pythonpath = "" if ignore_env else environ.get("PYTHONPATH", "")
        self._pythonpath = {_norm(p) for p in pythonpath.split(os.pathsep) if p}
        stdlib = {paths.get("stdlib"), paths.get("platstdlib")}
        self._stdlib = {_norm(p) for p in stdlib if p}
        self._lib_dynload = {_norm(os.path.join(p, "lib-dynload")) for p in stdlib if p}
        self._user_site = (
            _norm(interpreter.user_site)
            if interpreter.user_site and interpreter.user_site_enabled
            else None
        )
        self._site_dirs = {
            _norm(p)
            for p in (*interpreter.site_packages, paths.get("purelib"), paths.get("platlib"))
            if p
        }
        self._pth_added: dict[str, str] = {}
        for pth in pth_files:
            for line in pth.lines:
                if line.kind == "path" and line.path and line.on_sys_path:
                    self._pth_added.setdefault(_norm(line.path), pth.path)
        # Longest entries first, so a path is attributed to the innermost entry holding it.
        self._entries = sorted({_norm(p) for p in sys_path if p}, key=len, reverse=True)

    def classify_entry(self, path: str, index: int) -> tuple[LocationClass, str | None]:
        """The class of the ``sys.path`` entry at ``index``, and the ``.pth`` file that added
        it (or ``None``)."""
        if index == 0 and path == "":
            return LocationClass.SCRIPT_DIR, None
        n = _norm(path)
        interp = self._interp
        if n in self._pythonpath:
            return LocationClass.PYTHONPATH, None
        if n in self._lib_dynload or (
            os.path.basename(n) == "lib-dynload" and self._within_stdlib(n)
        ):
            return LocationClass.LIB_DYNLOAD, None
        if n in self._stdlib or self._is_stdlib_zip(n):
            return LocationClass.STDLIB, None
        if self._user_site is not None and n == self._user_site:
            return LocationClass.USER_SITE, None
        if n in self._pth_added and n not in self._site_dirs:
            # Before the name heuristic below: pipx's shared libraries
            # (``pipx_shared.pth`` -> ``.../shared/lib/pythonX.Y/site-packages``) are a .pth
            # entry of this venv, not the base interpreter's site-packages (issue 14).
            return LocationClass.PTH, self._pth_added[n]
        if n in self._site_dirs or self._looks_like_site_dir(n):
            if "dist-packages" in n.split(os.sep)[-1]:
                if _is_under(n, "/usr/local"):
                    return LocationClass.LOCAL_DIST_PACKAGES, None
                if _is_under(n, "/usr"):
                    return LocationClass.DEBIAN_DIST_PACKAGES, None
            if interp.is_virtual_environment:
                if _is_under(n, interp.prefix):
                    return LocationClass.VENV_SITE_PACKAGES, None
                return LocationClass.BASE_SITE_PACKAGES, None
            return LocationClass.SITE_PACKAGES, None
        if n in self._pth_added:
            return LocationClass.PTH, self._pth_added[n]
        if index == 0:
            return LocationClass.SCRIPT_DIR, None
        return LocationClass.OTHER, None

    def _within_stdlib(self, n: str) -> bool:
        return any(_is_under(n, s) for s in self._stdlib)

    def _is_stdlib_zip(self, n: str) -> bool:
        # getpath: <prefix>/lib/pythonXY.zip on POSIX, <prefix>/pythonXY.zip on Windows.
        major, minor = self._interp.version_info[:2]
        name = os.path.basename(n)
        return name == f"python{major}{minor}.zip" and (
            _is_under(n, self._interp.base_prefix) or _is_under(n, self._interp.prefix)
        )

    @staticmethod
    def _looks_like_site_dir(n: str) -> bool:
        return os.path.basename(n) in ("site-packages", "dist-packages")

    def classify_path(self, path: str) -> LocationClass:
        """The class of the ``sys.path`` entry that contains ``path`` (``other`` if none)."""
        n = _norm(path)
        for entry in self._entries:
            if _is_under(n, entry):
                return self.classify_entry(entry, index=-1)[0]
        return LocationClass.OTHER


def _entry_kind(path: str) -> tuple[bool, str]:
    if not os.path.exists(path):
        return False, "missing"
    if os.path.isdir(path):
        return True, "egg" if path.endswith(".egg") else "directory"
    if path.endswith(".egg"):
        return True, "egg"
    import zipfile

    try:
        return True, "zip" if zipfile.is_zipfile(path) else "file"
    except (OSError, ValueError):
        return True, "file"


def build_pth_files(data: Mapping[str, Any]) -> tuple[PthFile, ...]:
    """The probe's ``.pth`` analysis as model objects, in processing order."""
    result = []
    for item in data.get("pth_files") or ():
        lines = tuple(
            PthLine(
                lineno=int(line["lineno"]),
                kind=str(line["kind"]),
                text=str(line["text"]),
                path=line.get("path"),
                exists=line.get("exists"),
                on_sys_path=line.get("on_sys_path"),
            )
            for line in item.get("lines", ())
        )
        result.append(
            PthFile(
                path=item["path"], sitedir=item["sitedir"], skipped=item.get("skipped"), lines=lines
            )
        )
    return tuple(result)


def sys_path_indices(count: int, left_out: Iterable[int]) -> list[int]:
    """The index in the target's real ``sys.path`` of each of the ``count`` entries the probe
    reports (``imports.path``), given the indices of the entries it left out
    (``imports.path_left_out``: bytes, an int, ``None`` or a str with a NUL byte that a
    ``.pth`` line or a ``sitecustomize`` put there, reported as findings instead).

    >>> sys_path_indices(3, [1])
    [0, 2, 3]
    """
    skip = set(left_out)
    indices: list[int] = []
    i = 0
    while len(indices) < count:
        if i not in skip:
            indices.append(i)
        i += 1
    return indices


def build_sys_path(
    sys_path: Sequence[str],
    classifier: PathClassifier,
    working_directory: str,
    indices: Sequence[int] | None = None,
) -> tuple[PathEntry, ...]:
    """Every ``sys.path`` entry, in order, with its kind and location class.

    ``''`` (the probe runs with ``-c``) stands for the directory of the script being run, or
    the working directory for ``-c``, ``-m`` and the REPL: it is resolved to
    ``working_directory``, the user's, not the probe's.

    :param indices: each entry's index in the real ``sys.path`` (:attr:`Target.sys_path_index`,
        where the probe left entries out); default ``0, 1, 2, ...``.
    """
    entries = []
    if indices is None or len(indices) != len(sys_path):
        indices = range(len(sys_path))
    for index, path in zip(indices, sys_path, strict=True):
        resolved = working_directory if path == "" else path
        exists, kind = _entry_kind(resolved)
        location, pth = classifier.classify_entry(path, index)
        entries.append(
            PathEntry(
                index=index,
                path=path,
                resolved=resolved,
                exists=exists,
                kind=kind,
                location=location,
                pth_file=pth,
            )
        )
    return tuple(entries)


@dataclass(frozen=True, kw_only=True, slots=True)
class Target:
    """A probed target: the first steps every command shares.

    :ivar data: the probe's facts; :ivar sys_path: its raw ``sys.path`` (``''`` included),
        without the entries that are not a path (:func:`sys_path_indices`);
    :ivar sys_path_index: the index of each of those in the real ``sys.path``.
    """

    selection: Selection
    probe: ProbeResult
    data: dict[str, Any]
    interpreter: Interpreter
    pth_files: tuple[PthFile, ...]
    sys_path: list[str]
    classifier: PathClassifier
    sys_path_index: tuple[int, ...] = ()


def inspect_target(
    python: str | None,
    environ: Mapping[str, str],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    which: str | None = None,
    working_directory: str | None = None,
    started: tuple[Selection, RunningProbe] | None = None,
) -> Target:
    """Select the target, run its probe, and build the interpreter facts and the classifier.

    :param started: the selection and its probe, already started by the caller.
    :raises InterpreterError: the target cannot be inspected.
    """
    if started is not None:
        selection, running = started
        probe = running.result(timeout)
    else:
        selection = select_interpreter(python, environ)
        probe = run_probe(
            selection.executable, timeout=timeout, which=which, working_directory=working_directory
        )
    data = probe.data.get("facts") or {} if which else probe.data
    interpreter = build_interpreter(data, environ)
    pth_files = build_pth_files(data)
    imports = data.get("imports") or {}
    sys_path = list(imports.get("path") or ())
    indices = sys_path_indices(len(sys_path), imports.get("path_left_out") or ())
    return Target(
        selection=selection,
        probe=probe,
        data=data,
        interpreter=interpreter,
        pth_files=pth_files,
        sys_path=sys_path,
        classifier=PathClassifier(interpreter, sys_path, pth_files, environ),
        sys_path_index=tuple(indices),
    )
