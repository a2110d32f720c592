"""The probe: runs *inside* the target interpreter and prints what only it knows, as JSON.

Standard library only, and valid Python 3.8 (the oldest target we support). It is never
imported by the target from pyenvdoctor's installation: the host sends this file's source on
the probe's standard input to a small bootstrap (:data:`BOOTSTRAP`) given with ``-c``, so that

* nothing of pyenvdoctor is put on the target's ``sys.path``;
* an interpreter too old for this file (2.7, 3.6, 3.7) still runs the bootstrap and answers
  "unsupported" instead of a SyntaxError;
* the output is framed by :data:`MARKER`, so a ``sitecustomize`` or a ``.pth`` line that prints
  at start-up does not corrupt it.

The host runs it from an empty working directory and *without* ``-I``: ``-I`` would hide
PYTHONPATH and the user site, which are what we diagnose (pypa/pipx ``venv_inspect.py`` and
pipdeptree ``_discovery.py`` query a target interpreter the same way).

Every step is guarded: a failing step is recorded in ``errors`` and the rest goes on, because a
broken environment is data, not a crash.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Callable, Dict, List, Optional  # stdlib since 3.5; 3.8 needs these

#: Version of the JSON document this probe prints; the host refuses another.
PROBE_VERSION = 1

#: Line printed just before the JSON document (and nothing after it but a newline).
MARKER = "--pyenvdoctor-probe-v1--"

#: Oldest target interpreter the probe supports.
MIN_TARGET = (3, 8)

#: Bootstrap given with ``-c``. Valid Python 2.7 and 3.x: it reports an unsupported interpreter
#: itself and otherwise executes the probe source read from standard input.
BOOTSTRAP = (
    "import sys\n"
    "if sys.version_info[:2] < (3, 8):\n"
    '    sys.stdout.write(\'\\n--pyenvdoctor-probe-v1--\\n{"unsupported": "%s", '
    '"executable": "%s"}\\n\' % (sys.version.split()[0], '
    "(sys.executable or '').replace('\\\\', '/').replace('\"', '')))\n"
    "else:\n"
    "    _src = sys.stdin.read()\n"
    "    exec(compile(_src, '<pyenvdoctor-probe>', 'exec'), {'__name__': '__pyenvdoctor_probe__'})\n"
)

_ENV_VARS_PREFIXES = ("PIP_",)


def _guard(
    errors: List[Dict[str, str]], step: str, func: Callable[[], Any], default: Any = None
) -> Any:
    """Run one probe step; record ``{"step", "message"}`` in ``errors`` if it raises."""
    try:
        return func()
    except Exception as exc:  # a broken environment is data
        errors.append({"step": step, "message": "%s: %s" % (type(exc).__name__, exc)})
        return default


def _interpreter() -> Dict[str, Any]:
    import importlib.util
    import platform

    impl = sys.implementation
    vi = sys.version_info
    return {
        "executable": sys.executable,
        "version": sys.version,
        "version_info": [vi.major, vi.minor, vi.micro, vi.releaselevel, vi.serial],
        "hexversion": sys.hexversion,
        "implementation": {
            "name": impl.name,
            "cache_tag": impl.cache_tag,
            "version": [impl.version.major, impl.version.minor, impl.version.micro],
        },
        "magic_number": importlib.util.MAGIC_NUMBER.hex(),
        "platform": {
            "sys_platform": sys.platform,
            "platform": platform.platform(),
            "machine": platform.machine(),
        },
        "byteorder": sys.byteorder,
        "maxsize": sys.maxsize,
    }


def _prefixes() -> Dict[str, Any]:
    return {
        "prefix": sys.prefix,
        "base_prefix": getattr(sys, "base_prefix", sys.prefix),
        "exec_prefix": sys.exec_prefix,
        "base_exec_prefix": getattr(sys, "base_exec_prefix", sys.exec_prefix),
        # Set by virtualenv < 20 (before PEP 405 venvs were used by virtualenv).
        "real_prefix": getattr(sys, "real_prefix", None),
    }


def _sysconfig() -> Dict[str, Any]:
    import sysconfig

    if hasattr(sysconfig, "get_default_scheme"):  # 3.10+
        scheme = sysconfig.get_default_scheme()
    else:
        scheme = sysconfig._get_default_scheme()  # type: ignore[attr-defined]
    config_vars = {}
    for name in ("EXT_SUFFIX", "SOABI", "Py_DEBUG", "Py_GIL_DISABLED", "MULTIARCH", "LDVERSION"):
        value = sysconfig.get_config_var(name)
        if value is not None:
            config_vars[name] = value
    return {
        "scheme": scheme,
        "paths": sysconfig.get_paths(),
        "platform": sysconfig.get_platform(),
        "config_vars": config_vars,
    }


def _site() -> Dict[str, Any]:
    site = sys.modules.get("site")
    if site is None:  # -S: site was not imported at start-up
        return {"imported": False}
    getsitepackages = getattr(site, "getsitepackages", None)
    return {
        "imported": True,
        "enable_user_site": site.ENABLE_USER_SITE,
        "user_site": site.getusersitepackages(),
        "user_base": site.getuserbase(),
        "site_packages": getsitepackages() if getsitepackages else None,
    }


def _flags() -> Dict[str, Any]:
    import _imp

    f = sys.flags
    return {
        "dont_write_bytecode": bool(sys.dont_write_bytecode),
        "flag_dont_write_bytecode": f.dont_write_bytecode,
        "isolated": f.isolated,
        "no_site": f.no_site,
        "ignore_environment": f.ignore_environment,
        "no_user_site": f.no_user_site,
        "optimize": f.optimize,
        "safe_path": getattr(f, "safe_path", False),
        "verbose": f.verbose,
        "pycache_prefix": getattr(sys, "pycache_prefix", None),
        # "default", "always" or "never" (--check-hash-based-pycs, PEP 552).
        "check_hash_based_pycs": getattr(_imp, "check_hash_based_pycs", "default"),
    }


def _imports() -> Dict[str, Any]:
    from importlib import machinery

    stdlib_names = getattr(sys, "stdlib_module_names", None)  # 3.10+
    frozen = []  # type: List[str]
    imp = sys.modules.get("_imp")
    names_of_frozen = getattr(imp, "_frozen_module_names", None)  # 3.11+
    if names_of_frozen is not None:
        for n in names_of_frozen():
            try:  # FrozenImporter answers only while frozen modules are in use (-X frozen_modules)
                if "." not in n and machinery.FrozenImporter.find_spec(n) is not None:
                    frozen.append(n)
            except Exception:
                pass
    return {
        "frozen_module_names": sorted(frozen),
        "path": list(sys.path),
        "meta_path": [_describe(f) for f in sys.meta_path],
        "path_hooks": [_describe(h) for h in sys.path_hooks],
        "stdlib_module_names": sorted(stdlib_names) if stdlib_names is not None else None,
        "builtin_module_names": sorted(sys.builtin_module_names),
        "suffixes": {
            "source": list(machinery.SOURCE_SUFFIXES),
            "bytecode": list(machinery.BYTECODE_SUFFIXES),
            "extension": list(machinery.EXTENSION_SUFFIXES),
        },
    }


def _describe(obj: Any) -> str:
    cls = obj if isinstance(obj, type) else type(obj)
    return "%s.%s" % (cls.__module__, cls.__qualname__)


def _marker_environment() -> Dict[str, str]:
    """PEP 508 environment markers, computed as pypa/packaging ``default_environment()`` does."""
    import platform

    impl = sys.implementation
    iv = impl.version
    impl_version = "%d.%d.%d" % (iv.major, iv.minor, iv.micro)
    if iv.releaselevel != "final":
        impl_version += iv.releaselevel[0] + str(iv.serial)
    return {
        "implementation_name": impl.name,
        "implementation_version": impl_version,
        "os_name": os.name,
        "platform_machine": platform.machine(),
        "platform_release": platform.release(),
        "platform_system": platform.system(),
        "platform_version": platform.version(),
        "python_full_version": platform.python_version(),
        "platform_python_implementation": platform.python_implementation(),
        "python_version": ".".join(platform.python_version_tuple()[:2]),
        "sys_platform": sys.platform,
    }


def _pth_skips_dot_files(site: Any) -> bool:
    """Whether this ``site`` ignores ``.pth`` files whose name starts with a dot (3.13+)."""
    import inspect

    try:
        return 'startswith(".")' in inspect.getsource(site.addsitedir)
    except Exception:
        return sys.version_info >= (3, 13)


def _site_dirs_in_order(site_info: Dict[str, Any]) -> List[str]:
    """Site directories in the order ``site.main()`` processes them: user site, then the rest."""
    dirs: List[str] = []
    if site_info.get("enable_user_site") and site_info.get("user_site"):
        dirs.append(site_info["user_site"])
    for d in site_info.get("site_packages") or []:
        if d not in dirs:
            dirs.append(d)
    return dirs


def _pth_files(site_info: Dict[str, Any], errors: List[Dict[str, str]]) -> List[Dict[str, Any]]:
    """Each ``.pth`` file ``site.addsitedir`` processes, line by line (CPython ``Lib/site.py``).

    A line starting with ``#`` is a comment; ``import `` or ``import\\t`` is executed; any
    other non-blank line is joined to the site directory and appended to ``sys.path`` if it
    exists and is not there yet.
    """
    site = sys.modules.get("site")
    if site is None:
        return []
    skip_dot = _pth_skips_dot_files(site)
    path_set = {os.path.normcase(os.path.abspath(p)) for p in sys.path if p}
    result: List[Dict[str, Any]] = []
    for sitedir in _site_dirs_in_order(site_info):
        try:
            names = sorted(n for n in os.listdir(sitedir) if n.endswith(".pth"))
        except OSError:
            continue
        for name in names:
            full = os.path.join(sitedir, name)
            entry: Dict[str, Any] = {
                "sitedir": sitedir,
                "name": name,
                "path": full,
                "skipped": None,
                "lines": [],
            }
            result.append(entry)
            if skip_dot and name.startswith("."):
                entry["skipped"] = "hidden (name starts with '.')"
                continue
            try:
                with open(full, "rb") as f:
                    raw = f.read()
            except OSError as exc:
                entry["skipped"] = "unreadable: %s" % exc
                continue
            try:
                text = raw.decode("utf-8-sig" if sys.version_info >= (3, 13) else "utf-8")
            except UnicodeDecodeError:
                import locale

                text = raw.decode(locale.getpreferredencoding(False), "replace")
            for n, line in enumerate(text.splitlines(), 1):
                item: Dict[str, Any] = {"lineno": n, "text": line}
                if line.startswith("#"):
                    item["kind"] = "comment"
                elif not line.strip():
                    item["kind"] = "blank"
                elif line.startswith(("import ", "import\t")):
                    item["kind"] = "import"
                else:
                    target = os.path.abspath(os.path.join(sitedir, line.rstrip()))
                    item["kind"] = "path"
                    item["path"] = target
                    item["exists"] = os.path.exists(target)
                    item["on_sys_path"] = os.path.normcase(target) in path_set
                entry["lines"].append(item)
    return result


def _externally_managed(paths: Dict[str, str]) -> Optional[str]:
    """PEP 668: the marker lives in ``sysconfig.get_path("stdlib")``."""
    stdlib = paths.get("stdlib")
    if not stdlib:
        return None
    marker = os.path.join(stdlib, "EXTERNALLY-MANAGED")
    return marker if os.path.isfile(marker) else None


def _pyvenv_cfg() -> Optional[Dict[str, Any]]:
    """PEP 405: ``pyvenv.cfg`` beside the executable or one directory up."""
    exe_dir = os.path.dirname(os.path.abspath(sys.executable or ""))
    for candidate in (
        os.path.join(exe_dir, "pyvenv.cfg"),
        os.path.join(os.path.dirname(exe_dir), "pyvenv.cfg"),
    ):
        if os.path.isfile(candidate):
            values: Dict[str, str] = {}
            with open(candidate, encoding="utf-8", errors="replace") as f:
                for line in f:
                    key, sep, value = line.partition("=")
                    if sep:
                        values[key.strip().lower()] = value.strip()
            return {"path": candidate, "values": values}
    return None


def _spec_info(spec: Any) -> Dict[str, Any]:
    """The parts of a ModuleSpec the host needs (no module code runs to get them)."""
    locations = spec.submodule_search_locations
    origin = spec.origin
    if locations is not None and origin in (None, "namespace"):
        kind = "namespace"
    elif origin in ("built-in", "frozen"):
        kind = origin
    elif locations is not None:
        kind = "package"
    else:
        kind = "module"
    return {
        "origin": origin if origin not in (None, "namespace") else None,
        "kind": kind,
        "loader": _describe(spec.loader) if spec.loader is not None else None,
        "cached": getattr(spec, "cached", None) if spec.has_location else None,
        "submodule_search_locations": list(locations) if locations is not None else None,
    }


def resolve(name: str) -> Dict[str, Any]:
    """Where ``import name`` would load from, without executing any module's code.

    Each level of a dotted name is found as ``importlib._bootstrap._find_spec`` does: every
    finder of ``sys.meta_path`` in order, with the parent's ``submodule_search_locations`` as
    the path. The parent's ``__init__`` is not run, so a package that changes its
    ``__path__`` at import time (pkgutil/pkg_resources namespace helpers) is noted. Candidates
    that lose are found by asking ``PathFinder`` one path entry at a time.
    """
    from importlib import machinery

    result: Dict[str, Any] = {"name": name, "levels": [], "notes": []}
    path: Optional[List[str]] = None
    parts = name.split(".")
    for i in range(len(parts)):
        sub = ".".join(parts[: i + 1])
        level: Dict[str, Any] = {"name": sub, "finder": None, "spec": None, "candidates": []}
        result["levels"].append(level)
        for finder in sys.meta_path:
            find_spec = getattr(finder, "find_spec", None)
            if find_spec is None:
                continue
            try:
                spec = find_spec(sub, path)
            except Exception as exc:  # a broken finder is data
                result["notes"].append(
                    "%s raised %s: %s" % (_describe(finder), type(exc).__name__, exc)
                )
                continue
            if spec is not None:
                level["finder"] = _describe(finder)
                level["spec"] = _spec_info(spec)
                break
        entries = sys.path if path is None else path
        for index, entry in enumerate(entries):
            try:
                spec = machinery.PathFinder.find_spec(sub, [entry])
            except Exception:
                spec = None
            if spec is not None:
                info = _spec_info(spec)
                info["entry"] = entry
                info["index"] = index
                level["candidates"].append(info)
        found = level["spec"]
        if found is None:
            result["notes"].append("%s: no finder found it" % sub)
            break
        if i < len(parts) - 1:
            path = found["submodule_search_locations"]
            if path is None:
                result["notes"].append(
                    "%s is a module, not a package: no submodule %s" % (sub, parts[i + 1])
                )
                break
            origin = found["origin"] or ""
            if origin.endswith("__init__.py"):
                try:
                    with open(origin, "rb") as f:
                        text = f.read(65536)
                    if (
                        b"extend_path" in text
                        or b"declare_namespace" in text
                        or b"__path__" in text
                    ):
                        result["notes"].append(
                            "%s changes its __path__ when imported; resolved without running it"
                            % sub
                        )
                except OSError:
                    pass
    return result


def collect() -> Dict[str, Any]:
    """Gather every fact as a JSON-serialisable dict (see the host's ``collect.interpreter``)."""
    errors: List[Dict[str, str]] = []
    data: Dict[str, Any] = {"probe_version": PROBE_VERSION}
    data["interpreter"] = _guard(errors, "interpreter", _interpreter, {})
    data["prefixes"] = _guard(errors, "prefixes", _prefixes, {})
    data["sysconfig"] = _guard(errors, "sysconfig", _sysconfig, {"paths": {}})
    data["site"] = _guard(errors, "site", _site, {"imported": False})
    data["flags"] = _guard(errors, "flags", _flags, {})
    data["imports"] = _guard(errors, "imports", _imports, {"path": list(sys.path)})
    data["marker_environment"] = _guard(errors, "marker_environment", _marker_environment, {})
    data["pth_files"] = _guard(errors, "pth_files", lambda: _pth_files(data["site"], errors), [])
    data["externally_managed"] = _guard(
        errors,
        "externally_managed",
        lambda: _externally_managed(data["sysconfig"].get("paths", {})),
    )
    data["pyvenv_cfg"] = _guard(errors, "pyvenv_cfg", _pyvenv_cfg)
    data["cwd"] = _guard(errors, "cwd", os.getcwd)
    data["errors"] = errors
    return data


def main() -> None:
    """Print :data:`MARKER` and the JSON document on standard output."""
    # ensure_ascii keeps undecodable paths (surrogate escapes) as valid JSON escapes.
    # ``python -c BOOTSTRAP which NAME`` resolves NAME instead of collecting facts.
    if len(sys.argv) >= 3 and sys.argv[1] == "which":
        facts = collect()
        if len(sys.argv) >= 4:  # the user's working directory stands for '' (finders only look)
            sys.path[:] = [sys.argv[3] if p == "" else p for p in sys.path]
        answer = {"probe_version": PROBE_VERSION, "which": resolve(sys.argv[2]), "facts": facts}
    else:
        answer = collect()
    document = json.dumps(answer, ensure_ascii=True, sort_keys=True)
    sys.stdout.write("\n" + MARKER + "\n" + document + "\n")
    sys.stdout.flush()


if __name__ == "__pyenvdoctor_probe__":
    main()
