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

import io
import json
import os
import sys
from typing import (
    Any,
    Callable,
    Dict,
    List,
    Optional,
    Set,
    Tuple,
)  # stdlib since 3.5; 3.8 needs these

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
    "_fd = sys.argv.pop(1) if len(sys.argv) > 1 else '-'\n"
    "if sys.version_info[:2] < (3, 8):\n"
    '    _a = \'\\n--pyenvdoctor-probe-v1--\\n{"unsupported": "%s", '
    '"executable": "%s"}\\n\' % (sys.version.split()[0], '
    "(sys.executable or '').replace('\\\\', '/').replace('\"', ''))\n"
    "    if _fd.isdigit():\n"
    "        import os\n"
    "        os.write(int(_fd), _a if str is bytes else _a.encode('ascii', 'replace'))\n"
    "    else:\n"
    "        sys.stdout.write(_a)\n"
    "else:\n"
    "    _m = sorted(sys.modules)\n"
    "    _p = list(sys.path)\n"
    "    _h = sys.argv.pop(1) == 'P' if len(sys.argv) > 1 else False\n"
    "    if _h:\n"
    "        import os\n"
    "        os.environ.pop('PYTHONSAFEPATH', None)\n"
    "        if getattr(sys.flags, 'safe_path', False):\n"
    "            _p.insert(0, '')\n"
    "    import os\n"
    "    _d = os.path.dirname(getattr(os, '__file__', None) or '')\n"
    "    sys.path[:] = [p for p in _p if p and isinstance(p, str) and '\\0' not in p and (not _d"
    " or p == _d or p.startswith(_d + os.sep) or os.path.dirname(p) == os.path.dirname(_d))]\n"
    "    _src = sys.stdin.read()\n"
    "    exec(compile(_src, '<pyenvdoctor-probe>', 'exec'), {'__name__': '__pyenvdoctor_probe__',"
    " '_startup_modules': _m, '_startup_path': _p, '_answer_fd': _fd, '_host_safe_path': _h})\n"
)
#: The host appends the number of the descriptor the answer goes to (the *answer channel*, a
#: pipe the host made, :mod:`pyenvdoctor.process`) as the first argument, which the bootstrap
#: removes from ``sys.argv`` again; ``-`` means stdout. Text a ``sitecustomize``, a ``.pth``
#: line or an ``atexit`` hook prints on stdout then cannot mix with the answer (issue 16).
#: The bootstrap records the names in ``sys.modules`` and ``sys.path`` before anything of the
#: probe runs (``_startup_modules``, ``_startup_path``), and for as long as the probe imports
#: anything keeps on ``sys.path`` only the standard library's directories (the one ``os`` came
#: from, what lies below it such as ``lib-dynload``, and what lies beside it such as
#: ``python3X.zip``): the probe runs in the *user's* working directory (so relative
#: ``PYTHONPATH`` entries, which ``site.removeduppaths`` made absolute, and ``''`` mean what
#: they mean for the user), and a ``./json.py`` or ``./subprocess.py`` there, or in a
#: ``PYTHONPATH`` directory (``platform`` imports subprocess lazily), must not run. Only
#: :func:`resolve` searches the whole path, and the finders it asks that are not the import
#: system's own see it without the working directory.
#:
#: The second argument is ``P`` when the host set ``PYTHONSAFEPATH=1`` for the target (the
#: user's environment did not set it), else ``-``. On 3.11+ ``-c`` then does not put ``''`` on
#: ``sys.path`` before the bootstrap runs (``-P``; 3.13 imports ``linecache`` for ``-c``
#: before it: a ``./linecache.py`` would run); the bootstrap puts ``''`` back at
#: ``sys.path[0]`` in ``_startup_path`` (where ``-c`` puts it, after ``site`` ran: CPython
#: ``Modules/main.c`` ``pymain_run_python``), reports ``sys.flags.safe_path`` as the user's
#: (false) and removes the variable from ``os.environ``. Older interpreters ignore it.

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
        # True only if the user set it: the host's PYTHONSAFEPATH=1 is not the user's.
        "safe_path": bool(getattr(f, "safe_path", False)) and not globals().get("_host_safe_path"),
        "verbose": f.verbose,
        "pycache_prefix": getattr(sys, "pycache_prefix", None),
        # "default", "always" or "never" (--check-hash-based-pycs, PEP 552).
        "check_hash_based_pycs": getattr(_imp, "check_hash_based_pycs", "default"),
    }


def _str_path() -> List[str]:
    """``sys.path`` as the target started with it (``_startup_path``, see :data:`BOOTSTRAP`;
    the live ``sys.path`` when run otherwise) without the entries that are not ``str`` (bytes,
    an int, ``None`` put
    there by a ``.pth`` line or a ``sitecustomize``): ``PathFinder._get_spec`` skips them
    (CPython ``Lib/importlib/_bootstrap_external.py``: ``if not isinstance(entry, str):
    continue``), and they cannot be written as JSON.

    A ``str`` holding a NUL byte is left out as well: the first import that reaches it raises
    ``ValueError: embedded null byte`` (``_path_stat`` in ``FileFinder``'s path hook), and no
    path holding one exists on POSIX or Windows.
    """
    startup_path = globals().get("_startup_path")
    entries = sys.path if startup_path is None else startup_path
    return [p for p in entries if isinstance(p, str) and "\0" not in p]


def _path_left_out() -> List[int]:
    """The indices, in the target's real ``sys.path``, of the entries :func:`_str_path`
    leaves out, so the host numbers the others as ``sys.path`` does (``sys.path[i]`` in the
    report is ``sys.path[i]`` of the target)."""
    startup_path = globals().get("_startup_path")
    entries = sys.path if startup_path is None else startup_path
    return [i for i, p in enumerate(entries) if not isinstance(p, str) or "\0" in p]


def _non_str_path(errors: List[Dict[str, str]]) -> None:
    """Record each ``sys.path`` entry :func:`_str_path` leaves out in ``errors`` (step
    ``sys.path``)."""
    startup_path = globals().get("_startup_path")
    for i, p in enumerate(list(sys.path if startup_path is None else startup_path)):
        if not isinstance(p, str):
            message = "sys.path[%d] is %s %s, not str: the import system skips it" % (
                i,
                type(p).__name__,
                _safe_repr(p),
            )
        elif "\0" in p:
            message = (
                "sys.path[%d] is %s, which holds a NUL byte: an import that reaches it raises"
                " ValueError (embedded null byte)" % (i, _safe_repr(p))
            )
        else:
            continue
        errors.append({"step": "sys.path", "message": message})


def _safe_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:
        text = "<unprintable>"
    return text[:200]


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
        "path": _str_path(),
        "path_left_out": _path_left_out(),
        "meta_path": [_describe(f) for f in sys.meta_path],
        "path_hooks": [_describe(h) for h in sys.path_hooks],
        "stdlib_module_names": sorted(stdlib_names) if stdlib_names is not None else None,
        # The names in sys.modules when start-up ended, before the probe ran (BOOTSTRAP):
        # import returns these without searching sys.path (checks.shadowing, which).
        "startup_modules": globals().get("_startup_modules"),
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
    """Whether this ``site`` ignores ``.pth`` files whose name starts with a dot (3.13, and any
    release the rule is backported to): ``addsitedir``'s own code (with the code objects nested
    in it, a comprehension before 3.12) calls ``startswith`` with ``"."``. Read from the code
    object, not the source: ``site`` is a frozen module from 3.11 on (no source to read)."""

    def walk(code: Any, names: Set[str], consts: Set[str]) -> None:
        names.update(code.co_names)
        for const in code.co_consts:
            if hasattr(const, "co_names"):
                walk(const, names, consts)
            elif isinstance(const, str):
                consts.add(const)

    try:
        names: Set[str] = set()
        consts: Set[str] = set()
        walk(site.addsitedir.__code__, names, consts)
        return "startswith" in names and "." in consts
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
    path_set = {os.path.normcase(os.path.abspath(p)) for p in _str_path() if p}
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
            if sys.version_info >= (3, 13):  # site.addpackage: decode, then splitlines()
                lines = text.splitlines()
            else:  # site.addpackage iterates a text-mode file: lines end at \n, \r, \r\n only
                lines = [ln.rstrip("\r\n") for ln in io.StringIO(text, newline=None)]
            for n, line in enumerate(lines, 1):
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


def _search_locations(spec: Any) -> Optional[List[str]]:
    """``spec.submodule_search_locations`` as a list, without recomputing a PEP 420 path.

    Iterating a ``_NamespacePath`` recalculates it from ``sys.modules[parent].__path__``
    (``_bootstrap_external._NamespacePath._recalculate``), which raises ``KeyError`` for a nested
    namespace package whose parent was never imported (``google.cloud``): read the path it was
    built with (``_path``, 3.8-3.13) instead.
    """
    locations = spec.submodule_search_locations
    if locations is None:
        return None
    raw = getattr(locations, "_path", None)
    if isinstance(raw, list):
        return list(raw)
    return list(locations)


def _spec_info(spec: Any) -> Dict[str, Any]:
    """The parts of a ModuleSpec the host needs (no module code runs to get them)."""
    locations = _search_locations(spec)
    origin = spec.origin
    loader = _describe(spec.loader) if spec.loader is not None else None
    if locations is not None and origin in (None, "namespace"):
        kind = "namespace"
    elif origin in ("built-in", "frozen"):
        kind = origin
    elif loader is not None and loader.endswith(("FrozenImporter", "BuiltinImporter")):
        kind = "frozen" if loader.endswith("FrozenImporter") else "built-in"
    elif locations is not None:
        kind = "package"
    else:
        kind = "module"
    return {
        "origin": origin if origin not in (None, "namespace") else None,
        "kind": kind,
        "loader": loader,
        "spec_name": spec.name,
        "cached": getattr(spec, "cached", None) if spec.has_location else None,
        "submodule_search_locations": locations,
    }


def _meta_path_installers(origin: str) -> List[str]:
    """Classes a module's source adds to ``sys.meta_path`` (``sys.meta_path.append(X)`` /
    ``.insert(i, X)``, ``X`` a class or a name bound to ``Class(...)``), read with :mod:`ast`
    (six adds ``_SixMetaPathImporter``, which builds ``six.moves`` at run time)."""
    import ast

    try:
        with open(origin, "rb") as f:
            tree = ast.parse(f.read())
    except Exception:
        return []
    bound = {}  # type: Dict[str, str]
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Name)
        ):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    bound[t.id] = node.value.func.id
    found = []  # type: List[str]
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        target = node.func.value
        if not (
            node.func.attr in ("append", "insert")
            and isinstance(target, ast.Attribute)
            and target.attr == "meta_path"
            and node.args
        ):
            continue
        arg = node.args[-1]
        if isinstance(arg, ast.Call) and isinstance(arg.func, ast.Name):
            found.append(arg.func.id)
        elif isinstance(arg, ast.Name):
            found.append(bound.get(arg.id, arg.id))
    return found


def _extend_path(sub: str, init_origin: str, path: List[str], parent_path: Any) -> List[str]:
    """The ``__path__`` a package's ``__init__`` makes with
    ``__path__ = pkgutil.extend_path(__path__, __name__)``, computed by the target's own
    :func:`pkgutil.extend_path` (which searches ``sys.path``, or the parent's ``__path__``)."""
    import pkgutil
    import types

    parent = sub.rpartition(".")[0]
    placed = False
    if parent and parent not in sys.modules:
        stub = types.ModuleType(parent)
        stub.__path__ = list(parent_path or [])  # type: ignore[attr-defined]
        sys.modules[parent] = stub
        placed = True
    try:
        return list(pkgutil.extend_path(list(path), sub))
    finally:
        if placed:
            del sys.modules[parent]


def resolve(name: str, startup_modules: Any = ()) -> Dict[str, Any]:
    """Where ``import name`` would load from, without executing any module's code.

    Each level of a dotted name is found as ``importlib._bootstrap._find_and_load`` does:
    ``sys.modules`` first (a module imported at start-up, ``startup_modules``, is what
    ``import`` returns: ``encodings``, ``os`` on 3.8-3.10, ``os.path`` bound to ``posixpath``),
    then every finder of ``sys.meta_path`` in order with the parent's ``__path__`` as the path
    (``_find_spec``). The parent's ``__init__`` is not run: a ``pkgutil.extend_path`` line in it
    is modelled with the target's own ``pkgutil``, other ``__path__`` changes are noted.
    Candidates that lose are found by asking ``PathFinder`` one path entry at a time.
    """

    started = set(startup_modules)
    stubs: List[str] = []
    try:
        return _resolve(name, started, stubs)
    finally:
        for stub in stubs:
            sys.modules.pop(stub, None)


def _resolve(name: str, started: Any, stubs: List[str]) -> Dict[str, Any]:
    import types
    from importlib import machinery

    result: Dict[str, Any] = {"name": name, "levels": [], "notes": []}
    path: Optional[List[str]] = None
    # (module, finder class or None): a parent whose import may make the next level appear
    # (a finder it adds to sys.meta_path, a __path__ it changes) that is not run here.
    unresolved = None  # type: Optional[Tuple[str, Optional[str]]]
    next_ahead = False  # that parent's __init__ may put __path__ entries ahead of its own
    parts = name.split(".")
    for i in range(len(parts)):
        sub = ".".join(parts[: i + 1])
        level: Dict[str, Any] = {"name": sub, "finder": None, "spec": None, "candidates": []}
        parent_why, unresolved = unresolved, None  # only the direct parent's import counts
        ahead, next_ahead = next_ahead, False
        result["levels"].append(level)
        module = sys.modules.get(sub) if sub in started else None
        module_spec = getattr(module, "__spec__", None) if module is not None else None
        if module is not None and module_spec is not None:
            level["finder"] = "sys.modules"
            level["spec"] = _spec_info(module_spec)
            real_path = getattr(module, "__path__", None)
            level["spec"]["submodule_search_locations"] = (
                list(real_path) if real_path is not None else None
            )
            also = "" if module_spec.name == sub else " (module %s)" % module_spec.name
            result["notes"].append(
                "%s was imported at start-up: import returns sys.modules[%r]%s; "
                "sys.path is not searched" % (sub, sub, also)
            )
        else:
            for finder in sys.meta_path:
                find_spec = getattr(finder, "find_spec", None)
                if find_spec is None:
                    continue
                try:
                    spec = _ask_finder(finder, find_spec, sub, path)
                except Exception as exc:  # a broken finder is data
                    result["notes"].append(
                        "%s raised %s: %s" % (_describe(finder), type(exc).__name__, exc)
                    )
                    continue
                if spec is not None:
                    level["finder"] = _describe(finder)
                    level["spec"] = _spec_info(spec)
                    break
        # The real sys.path, junk included (skipped below), so the indices are its own.
        entries = (globals().get("_startup_path") or sys.path) if path is None else path
        for index, entry in enumerate(entries):
            if not isinstance(entry, str) or "\0" in entry:  # see _str_path
                continue
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
        if found is not None and parent_why and parent_why[1] is None and ahead:
            # Found in the __path__ the parent starts with, but its __init__ inserts entries
            # before it or replaces it: another file may win (only appending is safe).
            result["notes"].append(
                UNRESOLVED + "%s: %s is in the __path__ it starts with, but it puts other "
                "entries ahead of those (or replaces them) when imported, and another %s may "
                "win there" % (parent_why[0], sub, sub)
            )
            level["finder"] = None
            level["spec"] = None
            break
        if found is None:
            if i > 0:
                parent_origin = result["levels"][i - 1]["spec"]["origin"] or ""
                if parent_origin.endswith(".py"):
                    installers = _meta_path_installers(parent_origin)
                    if installers and not parent_why:
                        parent_why = (".".join(parts[:i]), ", ".join(installers))
            result["notes"].append("%s: no finder found it" % sub)
            if parent_why:
                result["notes"].append(_unresolved_note(sub, parent_why))
            break
        if i < len(parts) - 1:
            next_path = found["submodule_search_locations"]
            if ".".join(parts[: i + 2]) in started and sys.modules.get(".".join(parts[: i + 2])):
                path = next_path or []  # already in sys.modules (os.path): found there
                continue
            if next_path is None:
                next_path = _path_of_returned_package(result, sub, level)
            if next_path is None:
                origin = found["origin"] or ""
                installers = _meta_path_installers(origin) if origin.endswith(".py") else []
                if installers:
                    result["notes"].append(
                        _unresolved_note(".".join(parts[: i + 2]), (sub, ", ".join(installers)))
                    )
                else:
                    result["notes"].append(
                        "%s is a module, not a package: no submodule %s" % (sub, parts[i + 1])
                    )
                break
            origin = found["origin"] or ""
            if level["finder"] != "sys.modules" and origin.endswith("__init__.py"):
                notes_before = len(result["notes"])
                next_path = _path_changes(result, sub, origin, next_path, path)
                if any(n.endswith(_CHANGES_PATH) for n in result["notes"][notes_before:]):
                    unresolved = (sub, None)
                    next_ahead = _may_put_entries_ahead(origin)
            if sub not in sys.modules:
                # A bodiless stand-in, so PathFinder can build a nested _NamespacePath (its
                # constructor reads sys.modules[parent].__path__); removed when done.
                stub = types.ModuleType(sub)
                stub.__path__ = list(next_path)  # type: ignore[attr-defined]
                sys.modules[sub] = stub
                stubs.append(sub)
            path = next_path
    return result


def _may_put_entries_ahead(origin: str) -> bool:
    """Whether a package's ``__init__`` may put ``__path__`` entries before those it starts
    with, or replace them: anything but ``__path__.append(...)``, ``__path__.extend(...)`` and
    ``__path__ += ...`` (which only add later entries, so a submodule found in the first ones
    still wins: ``FileFinder``s are asked in ``__path__`` order)."""
    import re

    try:
        with open(origin, "rb") as f:
            text = f.read(65536)
    except OSError:
        return True
    uses = re.findall(rb"__path__\s*(\.\s*\w+|\+=|\[|=(?!=))?", text)
    return any(u.replace(b" ", b"") not in (b".append", b".extend", b"+=") for u in uses)


def _ask_finder(finder: Any, find_spec: Any, sub: str, path: Any) -> Any:
    """``finder.find_spec(sub, path)``. The import system's own finders (``PathFinder``,
    ``BuiltinImporter``, ``FrozenImporter``) import nothing; another finder may import modules
    as it answers (setuptools' ``DistutilsMetaFinder`` imports ``traceback``, ``pathlib``,
    ``setuptools._distutils``), so it is asked with the working directory and the
    ``PYTHONPATH`` directories off ``sys.path``: nothing of the user's own code runs (the
    user's program would import a module of theirs there; that is not modelled)."""
    module = getattr(finder, "__module__", None) or type(finder).__module__
    if module in ("_frozen_importlib", "_frozen_importlib_external"):
        return find_spec(sub, path)
    saved = sys.path[:]
    try:
        here = os.getcwd()
    except OSError:
        here = None
    users = {here}
    for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep):
        users.add(os.path.abspath(entry) if entry else here)
    sys.path[:] = [p for p in saved if p and os.path.abspath(p) not in users]
    try:
        return find_spec(sub, path)
    finally:
        sys.path[:] = saved


def _path_changes(
    result: Dict[str, Any], sub: str, origin: str, path: List[str], parent_path: Any
) -> List[str]:
    """The package ``__path__`` after its ``__init__`` ran, as far as it can be known
    without running it (``pkgutil.extend_path`` is computed; anything else is noted)."""
    import re

    try:
        with open(origin, "rb") as f:
            text = f.read(65536)
    except OSError:
        return path
    if re.search(rb"__path__\s*=\s*[\w.()'\"]*extend_path\(\s*__path__\s*,\s*__name__\s*\)", text):
        try:
            extended = _extend_path(sub, origin, path, parent_path)
        except Exception as exc:
            result["notes"].append("%s: pkgutil.extend_path failed: %s" % (sub, exc))
            return path
        result["notes"].append(
            "%s extends its __path__ with pkgutil.extend_path: %d entr%s"
            % (sub, len(extended), "y" if len(extended) == 1 else "ies")
        )
        return extended
    if b"declare_namespace" in text or b"__path__" in text:
        result["notes"].append(sub + _CHANGES_PATH)
    return path


_CHANGES_PATH = " changes its __path__ when imported; resolved without running it"

#: The start of the note :func:`resolve` ends with when a level is not found but a parent's
#: import, not run here, may make it (the host's headline says "not resolved", not "fails").
UNRESOLVED = "not resolved without running "


def _unresolved_note(sub: str, why: Tuple[str, Optional[str]]) -> str:
    module, finder = why
    if finder is not None:
        return (
            UNRESOLVED + "%s: importing it adds the finder %s to sys.meta_path, which "
            "builds %s at run time" % (module, finder, sub)
        )
    return (
        UNRESOLVED + "%s: it changes its __path__ when imported, and %s is not in the "
        "__path__ it starts with" % (module, sub)
    )


def _path_of_returned_package(
    result: Dict[str, Any], sub: str, level: Dict[str, Any]
) -> Optional[List[str]]:
    """The ``__path__`` of the package a meta path finder's loader returns as ``sub`` when
    its spec gives no ``submodule_search_locations``: setuptools' ``DistutilsMetaFinder``
    (``_distutils_hack``) imports ``setuptools._distutils`` in ``find_spec`` and its loader's
    ``create_module`` returns that module, so ``import distutils.core`` searches
    ``setuptools/_distutils``. Recognised by the spec's origin being the ``__file__`` of a
    package now in ``sys.modules``; ``None`` otherwise (and for the import system's own
    finders, whose specs say it themselves)."""
    finder = str(level.get("finder") or "")
    origin = (level.get("spec") or {}).get("origin")
    if not origin or finder == "sys.modules" or finder.startswith("_frozen_importlib"):
        return None
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__path__", None)
        if getattr(module, "__file__", None) == origin and path is not None:
            result["notes"].append(
                "%s: the loader of %s returns the package %s (%s), so its __path__ is "
                "searched for submodules" % (sub, finder, name, origin)
            )
            return list(path)
    return None


def collect() -> Dict[str, Any]:
    """Gather every fact as a JSON-serialisable dict (see the host's ``collect.interpreter``)."""
    errors: List[Dict[str, str]] = []
    data: Dict[str, Any] = {"probe_version": PROBE_VERSION}
    data["interpreter"] = _guard(errors, "interpreter", _interpreter, {})
    data["prefixes"] = _guard(errors, "prefixes", _prefixes, {})
    data["sysconfig"] = _guard(errors, "sysconfig", _sysconfig, {"paths": {}})
    data["site"] = _guard(errors, "site", _site, {"imported": False})
    data["flags"] = _guard(errors, "flags", _flags, {})
    _guard(errors, "sys.path", lambda: _non_str_path(errors))
    data["imports"] = _guard(errors, "imports", _imports, {"path": _str_path()})
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
    # Everything the probe imports is imported while '' is off sys.path (see BOOTSTRAP); only
    # resolve() searches the path the target started with.
    import ast  # noqa: F401
    import importlib.machinery  # noqa: F401
    import importlib.util  # noqa: F401
    import locale  # noqa: F401
    import pkgutil  # noqa: F401
    import platform  # noqa: F401
    import re  # noqa: F401
    import sysconfig  # noqa: F401
    import types  # noqa: F401

    if len(sys.argv) >= 3 and sys.argv[1] == "which":
        facts = collect()
        # Only the search sees sys.path as the target started with it ('' included); entries
        # that are not str, or hold a NUL byte, are skipped (see _str_path).
        sys.path[:] = _str_path()
        found = resolve(sys.argv[2], globals().get("_startup_modules") or ())
        answer = {"probe_version": PROBE_VERSION, "which": found, "facts": facts}
    else:
        answer = collect()
    # default: a value of another type left somewhere by a hostile start-up becomes its repr
    # instead of a TypeError with no answer; the host checks the answer's shape.
    document = json.dumps(answer, ensure_ascii=True, sort_keys=True, default=_safe_repr)
    framed = "\n" + MARKER + "\n" + document + "\n"
    fd = globals().get("_answer_fd")
    if isinstance(fd, str) and fd.isdigit():
        data = framed.encode("ascii")
        try:
            os.set_inheritable(int(fd), False)
            while data:
                data = data[os.write(int(fd), data) :]
            os.close(int(fd))
            return
        except OSError:  # a sitecustomize closed it: stdout then
            pass
    sys.stdout.write(framed)
    sys.stdout.flush()


if __name__ == "__pyenvdoctor_probe__":
    main()
