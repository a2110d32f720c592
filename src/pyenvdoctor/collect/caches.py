"""Tool caches, each located the way its own tool locates it, and sized in one walk.

Each ``locate_*`` function reads only environment variables, configuration files and the
platform's default folders, and says where its answer came from. Rules, per tool:

* **uv** (``uv cache dir``; uv ``crates/uv-cache/src/cli.rs`` ``Cache::from_settings``,
  ``crates/uv-dirs``, and the docs' "Storage" and "Configuration files" pages): ``UV_CACHE_DIR``
  (an empty value makes uv exit with an error), then ``cache-dir`` from the configuration (only
  ``UV_CONFIG_FILE`` when it is set; else the nearest ``uv.toml``, or ``pyproject.toml`` with a
  ``[tool.uv]`` table, at or above the working directory; then the user's
  ``$XDG_CONFIG_HOME/uv/uv.toml``, default ``~/.config/uv/uv.toml``; then the system's
  ``$XDG_CONFIG_DIRS/uv/uv.toml`` or ``/etc/uv/uv.toml``; none with ``UV_NO_CONFIG``), then the
  legacy native folder if it exists (macOS ``~/Library/Caches/uv``, Windows
  ``%LOCALAPPDATA%\\uv\\cache``), then ``$XDG_CACHE_HOME/uv`` (only an absolute
  ``XDG_CACHE_HOME`` counts) or ``~/.cache/uv``, on macOS too. Relative paths are relative to
  the working directory; ``~`` is not expanded (checked against uv 0.13's ``uv cache dir``).
  uv hard-links (or reflinks) files from its cache into environments: a file is counted once
  per inode on disk, once per name in the apparent size.
* **Poetry** (``poetry/locations.py``, ``poetry/config/config.py``, ``poetry/factory.py``; the
  "Configuration" docs): ``POETRY_CACHE_DIR``, else ``cache-dir`` in the project's
  ``poetry.toml``, else in ``config.toml`` of ``POETRY_CONFIG_DIR`` or platformdirs
  ``user_config_dir("pypoetry", roaming=True)``, else ``user_cache_dir("pypoetry")``. Under it:
  ``cache/repositories/<name>`` (cleared by ``poetry cache clear --all <name>``), ``artifacts``
  and the environments ``virtualenvs.path`` (``POETRY_VIRTUALENVS_PATH``, default
  ``{cache-dir}/virtualenvs``); ``~`` is expanded.
* **pipenv** (``pipenv/environments.py``, ``pipenv/utils/shell.py get_workon_home``):
  ``PIPENV_CACHE_DIR`` else platformdirs ``user_cache_dir("pipenv")`` (``pipenv --clear``
  empties it and pip's cache); environments in ``WORKON_HOME``, else
  ``$XDG_DATA_HOME/virtualenvs`` (default ``~/.local/share/virtualenvs``; ``~/.virtualenvs``
  on Windows), ``$VARS`` and ``~`` expanded.
* **conda** (``conda/base/context.py`` ``Context.pkgs_dirs``; the docs' "Concepts"): the
  comma-separated ``CONDA_PKGS_DIRS``, else ``pkgs_dirs`` in ``$CONDARC`` or a ``.condarc``,
  else ``<root prefix>/pkgs`` and ``~/.conda/pkgs``. The root prefix comes from ``CONDA_EXE``
  (``<root>/bin/conda``), else ``CONDA_ROOT``, else ``CONDA_PREFIX`` (``<root>/envs/<name>``
  or the root itself). Listed only when present.
* **pre-commit** (``pre_commit/store.py _get_default_directory``): ``PRE_COMMIT_HOME``, else
  ``$XDG_CACHE_HOME/pre-commit`` or ``~/.cache/pre-commit``, then ``realpath``.
* **hatch** (``hatch/cli/__init__.py``, ``hatch/config/model.py``,
  ``hatch/cli/application.py get_env_directory``): virtual environments in ``dirs.env.virtual``
  of hatch's ``config.toml`` (``HATCH_CONFIG``, else platformdirs
  ``user_config_dir("hatch")``), else ``<data dir>/env/virtual`` with the data dir
  ``HATCH_DATA_DIR``, else ``dirs.data``, else ``user_data_dir("hatch")``.
* **pip**: the rows come from :class:`~pyenvdoctor.model.PipCache` (pip's own walk, see
  :mod:`pyenvdoctor.collect.pip_cache`); they are not walked again, so their disk usage and
  stale figures are not measured.
* **__pycache__**: totals of the bytecode scan, per target and project (not walked again).

platformdirs rules (Linux ``unix.py``, ``macos.py``, ``windows.py``): ``XDG_*`` variables count
unless blank; macOS ``~/Library/Caches/<app>`` and ``~/Library/Application Support/<app>``;
Windows ``%LOCALAPPDATA%\\<app>\\Cache``.

Left out: Windows folders come from ``LOCALAPPDATA``/``APPDATA`` (not ``SHGetFolderPathW``);
``UV_NO_CACHE`` (a temporary cache) is ignored; conda's ``.condarc`` is read for a plain list
of ``pkgs_dirs`` only, from ``$CONDARC``, ``~/.condarc``, ``~/.conda/.condarc``,
``$XDG_CONFIG_HOME/conda/.condarc``, ``<root>/.condarc`` and ``/etc/conda/.condarc``.
"""

from __future__ import annotations

import ntpath
import os
import posixpath
import re
import shlex
import stat
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from pyenvdoctor import files
from pyenvdoctor.model import BytecodeCategory, BytecodeSummary, LocationClass, PipCache, ToolCache

__all__ = [
    "STALE_SECONDS",
    "CacheLocation",
    "TreeSize",
    "bytecode_caches",
    "collect_caches",
    "locate_caches",
    "locate_conda_pkgs",
    "locate_hatch",
    "locate_pipenv",
    "locate_poetry",
    "locate_pre_commit",
    "locate_uv_cache",
    "measure_location",
    "measure_tree",
    "pip_cache_rows",
]

#: A file not modified for this many seconds (90 days) counts as stale.
STALE_SECONDS = 90 * 24 * 60 * 60

#: Order in which tools are listed.
_TOOL_ORDER = ("pip", "uv", "poetry", "pipenv", "conda", "pre-commit", "hatch", "python")

_TRUE = frozenset({"1", "true", "yes", "y", "on", "t"})  # clap BoolishValueParser


class CacheLocation(NamedTuple):
    """Where one tool keeps one of its directories.

    :ivar kind: ``cache`` or ``environments``.
    :ivar source: the variable, ``<file> <key>`` or ``default`` it came from; problems the tool
        would report follow after ``"; "``.
    :ivar command: the tool's own cleanup command (a shell line), or ``None``.
    """

    tool: str
    name: str
    kind: str
    path: str
    source: str
    command: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class TreeSize:
    """What :func:`measure_tree` counted (bytes; see :class:`~pyenvdoctor.model.ToolCache`).

    :ivar disk_bytes: ``None`` where ``st_blocks`` does not exist (Windows).
    :ivar unreadable: directories that could not be listed (skipped).
    """

    files: int
    apparent_bytes: int
    disk_bytes: int | None
    stale_files: int
    stale_bytes: int
    unreadable: int


# --- measuring ---------------------------------------------------------------------------------


def measure_tree(root: str, *, now: float, stale_after: float = STALE_SECONDS) -> TreeSize:
    """Size everything under ``root`` in one walk: like ``du -s -B1`` and ``du -s --apparent-size``
    for regular files, plus the files older than ``stale_after``.

    ``root`` itself is followed if it is a symlink; nothing below it is (``os.scandir``, ``lstat``).
    Disk usage is ``st_blocks * 512`` of every entry, counting an inode with ``st_nlink > 1``
    once (by ``(st_dev, st_ino)``), as GNU du does; the apparent size counts every name.
    Unreadable directories and entries that vanish are skipped.

    :param now: the report's time, in seconds since the epoch.
    :param stale_after: age in seconds past which a file's ``st_mtime`` counts as stale.
    """
    cutoff = now - stale_after
    try:
        top = os.stat(root)
    except OSError:
        return TreeSize(
            files=0, apparent_bytes=0, disk_bytes=None, stale_files=0, stale_bytes=0, unreadable=1
        )
    has_blocks = hasattr(top, "st_blocks")
    seen: set[tuple[int, int]] = set()
    files = apparent = stale_files = stale_bytes = unreadable = 0
    disk = getattr(top, "st_blocks", 0) * 512
    if not stat.S_ISDIR(top.st_mode):
        stack: list[str] = []
        if stat.S_ISREG(top.st_mode):
            files, apparent = 1, top.st_size
            if top.st_mtime < cutoff:
                stale_files, stale_bytes = 1, top.st_size
    else:
        stack = [root]
    while stack:
        directory = stack.pop()
        try:
            with os.scandir(directory) as it:
                entries = list(it)
        except OSError:
            unreadable += 1
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:  # vanished
                continue
            mode = st.st_mode
            if stat.S_ISDIR(mode):
                stack.append(entry.path)
                if has_blocks:
                    disk += st.st_blocks * 512
                continue
            if has_blocks:
                if st.st_nlink > 1:
                    key = (st.st_dev, st.st_ino)
                    if key not in seen:
                        seen.add(key)
                        disk += st.st_blocks * 512
                else:
                    disk += st.st_blocks * 512
            if stat.S_ISREG(mode):
                files += 1
                apparent += st.st_size
                if st.st_mtime < cutoff:
                    stale_files += 1
                    stale_bytes += st.st_size
    return TreeSize(
        files=files,
        apparent_bytes=apparent,
        disk_bytes=disk if has_blocks else None,
        stale_files=stale_files,
        stale_bytes=stale_bytes,
        unreadable=unreadable,
    )


def measure_location(location: CacheLocation, *, now: float) -> ToolCache:
    """A located directory, measured with :func:`measure_tree` (all zero when it is missing).

    :param now: the report's time, in seconds since the epoch.
    """
    exists = os.path.isdir(location.path)
    size = measure_tree(location.path, now=now) if exists else None
    return ToolCache(
        tool=location.tool,
        name=location.name,
        kind=location.kind,
        path=location.path,
        source=location.source,
        exists=exists,
        files=size.files if size else 0,
        apparent_bytes=size.apparent_bytes if size else 0,
        disk_bytes=size.disk_bytes if size else 0,
        stale_files=size.stale_files if size else 0,
        stale_bytes=size.stale_bytes if size else 0,
        command=location.command,
    )


# --- platform folders --------------------------------------------------------------------------


def _home(environ: Mapping[str, str], platform: str) -> str:
    """The home directory as ``os.path.expanduser("~")`` finds it, reading ``environ``."""
    if platform == "win32":
        if environ.get("USERPROFILE"):
            return environ["USERPROFILE"]
        return ntpath.join(environ.get("HOMEDRIVE", ""), environ.get("HOMEPATH", ""))
    if environ.get("HOME"):
        return environ["HOME"]
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_dir
    except (ImportError, KeyError):  # pragma: no cover - no passwd entry
        return "/"


def _expanduser(path: str, environ: Mapping[str, str], platform: str) -> str:
    """``~`` and ``~/...`` (not ``~user``) expanded with :func:`_home`."""
    separators = ("~/", "~\\") if platform == "win32" else ("~/",)
    if path == "~" or path.startswith(separators):
        return _home(environ, platform) + path[1:]
    return path


def _expandvars(path: str, environ: Mapping[str, str]) -> str:
    """``os.path.expandvars`` (``$NAME``, ``${NAME}``) reading ``environ``."""
    if "$" not in path:
        return path

    def repl(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return environ.get(name, match.group(0))

    return re.sub(r"\$(?:(\w+)|\{([^}]*)\})", repl, path)


def _join(platform: str, *parts: str) -> str:
    if platform == "win32":
        return ntpath.join(*parts)
    return posixpath.join(*parts)


def _absolute(path: str, working_directory: str, platform: str) -> str:
    """``path`` made absolute against ``working_directory`` and normalized (no symlinks resolved)."""
    if platform == "win32":
        return ntpath.normpath(ntpath.join(working_directory, path))
    return posixpath.normpath(posixpath.join(working_directory, path))


def _xdg(environ: Mapping[str, str], variable: str) -> str | None:
    """platformdirs ``unix.py``: the variable unless unset or blank."""
    value = environ.get(variable, "")
    return value if value.strip() else None


def _user_cache_dir(app: str, environ: Mapping[str, str], platform: str, author: bool) -> str:
    """platformdirs ``user_cache_dir(app, appauthor=None if author else False)``."""
    if platform == "win32":
        base = environ.get("LOCALAPPDATA") or _join(
            platform, _home(environ, platform), "AppData", "Local"
        )
        return _join(platform, base, *((app,) if author else ()), app, "Cache")
    if platform == "darwin":
        return _join(platform, _home(environ, platform), "Library", "Caches", app)
    base = _xdg(environ, "XDG_CACHE_HOME") or _join(platform, _home(environ, platform), ".cache")
    return _join(platform, base, app)


def _user_data_dir(app: str, environ: Mapping[str, str], platform: str, roaming: bool) -> str:
    """platformdirs ``user_data_dir(app, appauthor=False, roaming=roaming)``."""
    home = _home(environ, platform)
    if platform == "win32":
        var = "APPDATA" if roaming else "LOCALAPPDATA"
        sub = ("AppData", "Roaming") if roaming else ("AppData", "Local")
        return _join(platform, environ.get(var) or _join(platform, home, *sub), app)
    if platform == "darwin":
        return _join(platform, home, "Library", "Application Support", app)
    base = _xdg(environ, "XDG_DATA_HOME") or _join(platform, home, ".local", "share")
    return _join(platform, base, app)


def _user_config_dir(app: str, environ: Mapping[str, str], platform: str, roaming: bool) -> str:
    """platformdirs ``user_config_dir(app, appauthor=False, roaming=roaming)`` (macOS:
    ``~/Library/Application Support``, platformdirs 3+)."""
    if platform in ("win32", "darwin"):
        return _user_data_dir(app, environ, platform, roaming)
    base = _xdg(environ, "XDG_CONFIG_HOME") or _join(platform, _home(environ, platform), ".config")
    return _join(platform, base, app)


def _read_toml(path: str) -> dict[str, Any] | None:
    """A TOML file's table, or ``None`` when it is missing, unreadable or invalid."""
    try:
        return files.read_toml(path)
    except (OSError, ValueError):  # ValueError: not UTF-8, or not TOML
        return None


def _lookup(table: Mapping[str, Any] | None, *keys: str) -> str | None:
    """``table[k1][k2]...`` when it is a non-empty string."""
    value: Any = table
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value if isinstance(value, str) and value else None


# --- uv ----------------------------------------------------------------------------------------


def _uv_config_files(
    environ: Mapping[str, str], working_directory: str, platform: str
) -> list[tuple[str, dict[str, Any] | None]]:
    """uv's configuration files, highest priority first, as ``(path, settings)``."""
    if environ.get("UV_NO_CONFIG", "").lower() in _TRUE:
        return []
    if environ.get("UV_CONFIG_FILE"):
        path = _absolute(environ["UV_CONFIG_FILE"], working_directory, platform)
        return [(path, _read_toml(path))]
    found: list[tuple[str, dict[str, Any] | None]] = []
    mod = ntpath if platform == "win32" else posixpath
    directory = mod.normpath(working_directory)
    while True:  # project: uv.toml, or pyproject.toml with [tool.uv], nearest first
        uv_toml = mod.join(directory, "uv.toml")
        if os.path.isfile(uv_toml):
            found.append((uv_toml, _read_toml(uv_toml)))
            break
        pyproject = mod.join(directory, "pyproject.toml")
        data = _read_toml(pyproject) if os.path.isfile(pyproject) else None
        tool = data.get("tool") if data else None
        if isinstance(tool, Mapping) and isinstance(tool.get("uv"), Mapping):
            found.append((pyproject, dict(tool["uv"])))
            break
        parent = mod.dirname(directory)
        if parent == directory:
            break
        directory = parent
    if platform == "win32":
        user = _join(platform, _user_data_dir("uv", environ, platform, True), "uv.toml")
    else:
        xdg = environ.get("XDG_CONFIG_HOME", "")  # etcetera: only an absolute value counts
        base = xdg if posixpath.isabs(xdg) else posixpath.join(_home(environ, platform), ".config")
        user = posixpath.join(base, "uv", "uv.toml")
    if os.path.isfile(user):
        found.append((user, _read_toml(user)))
    if platform == "win32":
        program_data = environ.get("PROGRAMDATA") or "C:\\ProgramData"
        system_candidates = [_join(platform, program_data, "uv", "uv.toml")]
    else:
        dirs = [d for d in environ.get("XDG_CONFIG_DIRS", "").split(":") if posixpath.isabs(d)]
        system_candidates = [
            *(_join(platform, d, "uv", "uv.toml") for d in dirs),
            "/etc/uv/uv.toml",
        ]
    system = next((p for p in system_candidates if os.path.isfile(p)), None)
    if system is not None:
        found.append((system, _read_toml(system)))
    return found


def locate_uv_cache(
    *, environ: Mapping[str, str], working_directory: str, platform: str = sys.platform
) -> CacheLocation:
    """The directory ``uv cache dir`` prints (made absolute against ``working_directory``).

    :param environ: the environment uv would run in (``UV_*``, ``XDG_*``, ``HOME``).
    :param working_directory: where uv would run: project configuration is searched from here,
        and relative paths resolve against it.
    :param platform: ``sys.platform`` of the machine uv runs on.
    """
    command = "uv cache clean"
    notes = ""
    value = environ.get("UV_CACHE_DIR")
    if value:
        return CacheLocation(
            "uv",
            "cache",
            "cache",
            _absolute(value, working_directory, platform),
            "UV_CACHE_DIR",
            command,
        )
    if value is not None:
        notes = "; UV_CACHE_DIR is empty: uv exits with an error"
    for path, settings in _uv_config_files(environ, working_directory, platform):
        configured = _lookup(settings, "cache-dir")
        if configured:
            key = "[tool.uv] cache-dir" if path.endswith("pyproject.toml") else "cache-dir"
            return CacheLocation(
                "uv",
                "cache",
                "cache",
                _absolute(configured, working_directory, platform),
                f"{path} {key}{notes}",
                command,
            )
    home = _home(environ, platform)
    if platform == "win32":
        local = environ.get("LOCALAPPDATA") or _join(platform, home, "AppData", "Local")
        path = _join(platform, local, "uv", "cache")
        return CacheLocation("uv", "cache", "cache", path, "default" + notes, command)
    if platform == "darwin":
        legacy = _join(platform, home, "Library", "Caches", "uv")
        if os.path.isdir(legacy):
            return CacheLocation(
                "uv", "cache", "cache", legacy, "default (legacy macOS folder)" + notes, command
            )
    xdg = environ.get("XDG_CACHE_HOME", "")
    if posixpath.isabs(xdg):  # etcetera's Xdg strategy ignores relative values
        return CacheLocation(
            "uv", "cache", "cache", posixpath.join(xdg, "uv"), "XDG_CACHE_HOME" + notes, command
        )
    return CacheLocation(
        "uv", "cache", "cache", posixpath.join(home, ".cache", "uv"), "default" + notes, command
    )


# --- Poetry ------------------------------------------------------------------------------------


def _poetry_template(value: str, cache_dir: str) -> str:
    """Poetry ``Config.process``: ``{cache-dir}`` replaced (other ``{keys}`` are kept)."""
    return value.replace("{cache-dir}", cache_dir)


def locate_poetry(
    *,
    environ: Mapping[str, str],
    working_directory: str,
    project_root: str | None,
    platform: str = sys.platform,
) -> list[CacheLocation]:
    """Poetry's repository caches (one per existing ``cache/repositories/<name>``, else the
    parent), its ``artifacts`` and its ``virtualenvs`` directory.

    :param project_root: the project whose ``poetry.toml`` (local configuration) applies.
    """
    config_dir = environ.get("POETRY_CONFIG_DIR") or _user_config_dir(
        "pypoetry", environ, platform, True
    )
    files = [_join(platform, config_dir, "config.toml")]
    if project_root is not None:
        files.insert(0, _join(platform, project_root, "poetry.toml"))
    configs = [(f, _read_toml(f)) for f in files if os.path.isfile(f)]

    def setting(variable: str, *keys: str) -> tuple[str, str] | None:
        if environ.get(variable) is not None:  # Poetry: any value, even empty, wins
            return environ[variable], variable
        for path, data in configs:
            value = _lookup(data, *keys)
            if value is not None:
                return value, f"{path} {'.'.join(keys)}"
        return None

    found = setting("POETRY_CACHE_DIR", "cache-dir")
    raw, source = found or (_user_cache_dir("pypoetry", environ, platform, False), "default")
    cache_dir = _absolute(_expanduser(raw, environ, platform), working_directory, platform)
    venvs = setting("POETRY_VIRTUALENVS_PATH", "virtualenvs", "path")
    venv_raw, venv_source = venvs or ("{cache-dir}/virtualenvs", source)
    venv_dir = _absolute(
        _expanduser(_poetry_template(venv_raw, cache_dir), environ, platform),
        working_directory,
        platform,
    )
    repositories = _join(platform, cache_dir, "cache", "repositories")
    locations = []
    try:
        names = sorted(e.name for e in os.scandir(repositories) if e.is_dir(follow_symlinks=False))
    except OSError:
        names = []
    for name in names:
        locations.append(
            CacheLocation(
                "poetry",
                f"repositories/{name}",
                "cache",
                _join(platform, repositories, name),
                source,
                f"poetry cache clear --all {shlex.quote(name)}",
            )
        )
    if not names:
        locations.append(
            CacheLocation("poetry", "repositories", "cache", repositories, source, None)
        )
    locations.append(
        CacheLocation(
            "poetry", "artifacts", "cache", _join(platform, cache_dir, "artifacts"), source, None
        )
    )
    locations.append(
        CacheLocation("poetry", "virtualenvs", "environments", venv_dir, venv_source, None)
    )
    return locations


# --- pipenv ------------------------------------------------------------------------------------


def locate_pipenv(
    *, environ: Mapping[str, str], working_directory: str, platform: str = sys.platform
) -> list[CacheLocation]:
    """pipenv's cache and its environments (``WORKON_HOME``)."""
    if environ.get("PIPENV_CACHE_DIR") is not None:
        raw, source = environ["PIPENV_CACHE_DIR"], "PIPENV_CACHE_DIR"
    else:
        raw, source = _user_cache_dir("pipenv", environ, platform, True), "default"
    cache = _absolute(raw, working_directory, platform)
    if environ.get("WORKON_HOME"):
        workon, workon_source = environ["WORKON_HOME"], "WORKON_HOME"
    elif platform == "win32":
        workon, workon_source = "~/.virtualenvs", "default"
    else:
        # pipenv reads XDG_DATA_HOME with os.environ.get: an empty value stands.
        data = environ.get("XDG_DATA_HOME", "~/.local/share")
        workon = posixpath.join(data, "virtualenvs")
        workon_source = "XDG_DATA_HOME" if "XDG_DATA_HOME" in environ else "default"
    workon = _expanduser(_expandvars(workon, environ), environ, platform)
    return [
        CacheLocation("pipenv", "cache", "cache", cache, source, "pipenv --clear"),
        CacheLocation(
            "pipenv",
            "virtualenvs",
            "environments",
            _absolute(workon, working_directory, platform),
            workon_source,
            None,
        ),
    ]


# --- conda -------------------------------------------------------------------------------------


def _conda_root(environ: Mapping[str, str], platform: str) -> tuple[str, str] | None:
    """conda's root prefix and where it came from, or ``None``."""
    mod = ntpath if platform == "win32" else posixpath
    exe = environ.get("CONDA_EXE")
    if exe:
        bindir = mod.dirname(exe)
        root = (
            bindir
            if platform == "win32" and mod.basename(bindir).lower() != "scripts"
            else mod.dirname(bindir)
        )
        return root, "CONDA_EXE"
    if environ.get("CONDA_ROOT"):
        return environ["CONDA_ROOT"], "CONDA_ROOT"
    prefix = environ.get("CONDA_PREFIX")
    if prefix:
        parent = mod.dirname(mod.normpath(prefix))
        if mod.basename(parent) == "envs":
            return mod.dirname(parent), "CONDA_PREFIX"
        return prefix, "CONDA_PREFIX"
    return None


def _condarc_pkgs_dirs(path: str) -> list[str] | None:
    """A plain YAML list ``pkgs_dirs`` (block or ``[a, b]`` flow style) from a ``.condarc``."""
    try:
        lines = files.read_text(path).splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    for i, line in enumerate(lines):
        if not line.startswith("pkgs_dirs:"):
            continue
        rest = line[len("pkgs_dirs:") :].split(" #")[0].strip()
        if rest.startswith("[") and rest.endswith("]"):
            return [v.strip().strip("'\"") for v in rest[1:-1].split(",") if v.strip()]
        values = []
        for item in lines[i + 1 :]:
            stripped = item.strip()
            if not stripped or stripped.startswith("#"):
                continue
            if not stripped.startswith("- "):
                break
            values.append(stripped[2:].split(" #")[0].strip().strip("'\""))
        return values
    return None


def locate_conda_pkgs(
    *, environ: Mapping[str, str], working_directory: str, platform: str = sys.platform
) -> list[CacheLocation]:
    """conda's package caches that exist."""
    command = "conda clean --all"
    root = _conda_root(environ, platform)
    candidates: list[tuple[str, str]] = []
    if environ.get("CONDA_PKGS_DIRS"):
        candidates = [
            (p.strip(), "CONDA_PKGS_DIRS")
            for p in environ["CONDA_PKGS_DIRS"].split(",")
            if p.strip()
        ]
    else:
        home = _home(environ, platform)
        rcs = [environ.get("CONDARC", "")]
        rcs += [
            _join(platform, home, ".condarc"),
            _join(platform, home, ".conda", ".condarc"),
            _join(
                platform,
                _xdg(environ, "XDG_CONFIG_HOME") or _join(platform, home, ".config"),
                "conda",
                ".condarc",
            ),
        ]
        if root is not None:
            rcs.append(_join(platform, root[0], ".condarc"))
        rcs.append("/etc/conda/.condarc")
        for rc in rcs:
            if rc and os.path.isfile(rc):
                listed = _condarc_pkgs_dirs(rc)
                if listed:
                    candidates = [(p, f"{rc} pkgs_dirs") for p in listed]
                    break
        if not candidates:
            if root is not None:
                candidates.append((_join(platform, root[0], "pkgs"), f"default ({root[1]})"))
            candidates.append((_join(platform, home, ".conda", "pkgs"), "default"))
    result = []
    seen = set()
    for raw, source in candidates:
        path = _absolute(
            _expanduser(_expandvars(raw, environ), environ, platform), working_directory, platform
        )
        if path in seen or not os.path.isdir(path):
            continue
        seen.add(path)
        name = "pkgs" if len(candidates) == 1 else f"pkgs ({path})"
        result.append(CacheLocation("conda", name, "cache", path, source, command))
    return result


# --- pre-commit, hatch -------------------------------------------------------------------------


def locate_pre_commit(
    *, environ: Mapping[str, str], working_directory: str, platform: str = sys.platform
) -> CacheLocation:
    """pre-commit's store (``pre_commit/store.py``): its hook repositories and environments."""
    if environ.get("PRE_COMMIT_HOME"):
        raw, source = environ["PRE_COMMIT_HOME"], "PRE_COMMIT_HOME"
    elif environ.get("XDG_CACHE_HOME"):
        raw, source = _join(platform, environ["XDG_CACHE_HOME"], "pre-commit"), "XDG_CACHE_HOME"
    else:
        raw, source = _join(platform, _home(environ, platform), ".cache", "pre-commit"), "default"
    path = os.path.realpath(_absolute(raw, working_directory, platform))
    return CacheLocation("pre-commit", "store", "cache", path, source, "pre-commit gc")


def locate_hatch(
    *,
    environ: Mapping[str, str],
    working_directory: str,
    project_root: str | None,
    platform: str = sys.platform,
) -> list[CacheLocation]:
    """hatch's virtual environments (``env/virtual`` of its data directory)."""
    config_file = environ.get("HATCH_CONFIG") or _join(
        platform, _user_config_dir("hatch", environ, platform, False), "config.toml"
    )
    config_file = _absolute(config_file, working_directory, platform)
    config = _read_toml(config_file) if os.path.isfile(config_file) else None

    def expand(path: str) -> str:  # hatch utils/fs.py Path.expand
        return _expanduser(_expandvars(path, environ), environ, platform)

    configured = _lookup(config, "dirs", "env", "virtual")
    if configured is not None:
        path = expand(configured)
        base = project_root or working_directory
        return [
            CacheLocation(
                "hatch",
                "env/virtual",
                "environments",
                _absolute(path, base, platform),
                f"{config_file} dirs.env.virtual",
                None,
            )
        ]
    if environ.get("HATCH_DATA_DIR"):
        data, source = environ["HATCH_DATA_DIR"], "HATCH_DATA_DIR"
    elif _lookup(config, "dirs", "data"):
        data, source = str(_lookup(config, "dirs", "data")), f"{config_file} dirs.data"
    else:
        data, source = _user_data_dir("hatch", environ, platform, False), "default"
    path = _join(platform, _absolute(expand(data), working_directory, platform), "env", "virtual")
    return [CacheLocation("hatch", "env/virtual", "environments", path, source, None)]


# --- everything --------------------------------------------------------------------------------


def locate_caches(
    *,
    environ: Mapping[str, str],
    working_directory: str,
    project_root: str | None,
    platform: str = sys.platform,
) -> list[CacheLocation]:
    """Every tool's directories (conda's only when present), without duplicates."""
    found = [
        locate_uv_cache(environ=environ, working_directory=working_directory, platform=platform),
        *locate_poetry(
            environ=environ,
            working_directory=working_directory,
            project_root=project_root,
            platform=platform,
        ),
        *locate_pipenv(environ=environ, working_directory=working_directory, platform=platform),
        *locate_conda_pkgs(environ=environ, working_directory=working_directory, platform=platform),
        locate_pre_commit(environ=environ, working_directory=working_directory, platform=platform),
        *locate_hatch(
            environ=environ,
            working_directory=working_directory,
            project_root=project_root,
            platform=platform,
        ),
    ]
    unique: dict[str, CacheLocation] = {}
    for location in found:
        unique.setdefault(location.path, location)
    return list(unique.values())


def pip_cache_rows(pip_cache: PipCache | None, *, python: str) -> list[ToolCache]:
    """pip's ``http`` (with ``http-v2``) and ``wheels`` rows from its own walk (not measured
    again: disk usage and stale figures are ``None``).

    :param python: the target interpreter, for ``python -m pip cache purge``.
    """
    if pip_cache is None or pip_cache.directory is None or not pip_cache.exists:
        return []
    command = f"{shlex.quote(python)} -m pip cache purge"
    d = pip_cache.directory
    return [
        ToolCache(
            tool="pip",
            name=name,
            kind="cache",
            path=d,
            source=pip_cache.source,
            exists=True,
            files=files,
            apparent_bytes=size,
            disk_bytes=None,
            stale_files=None,
            stale_bytes=None,
            command=command,
        )
        for name, files, size in (
            ("http, http-v2", pip_cache.http_files, pip_cache.http_bytes),
            ("wheels", pip_cache.wheels_files, pip_cache.wheels_bytes),
        )
    ]


def bytecode_caches(
    bytecode: BytecodeSummary, *, target_prefix: str, project_root: str | None
) -> list[ToolCache]:
    """``.pyc`` totals of the bytecode scan: the target's ``sys.path`` directories, and the
    project (groups of :attr:`LocationClass.PROJECT`). Extension modules are not counted."""
    totals = {"target": [0, 0], "project": [0, 0]}
    for group in bytecode.groups:
        if group.category is BytecodeCategory.EXTENSION_BESIDE_SOURCE:
            continue
        key = "project" if group.location_class is LocationClass.PROJECT else "target"
        totals[key][0] += group.files
        totals[key][1] += group.bytes
    rows = [("target", target_prefix, "bytecode scan of the target's sys.path directories")]
    if project_root is not None:
        rows.append(("project", project_root, "bytecode scan of the project tree"))
    return [
        ToolCache(
            tool="python",
            name=f"__pycache__ ({which})",
            kind="bytecode",
            path=path,
            source=source,
            exists=True,
            files=totals[which][0],
            apparent_bytes=totals[which][1],
            disk_bytes=None,
            stale_files=None,
            stale_bytes=None,
            command=None,
        )
        for which, path, source in rows
    ]


def _order(cache: ToolCache) -> tuple[int, str, str]:
    tool = _TOOL_ORDER.index(cache.tool) if cache.tool in _TOOL_ORDER else len(_TOOL_ORDER)
    return tool, cache.name, cache.path


def collect_caches(
    *,
    environ: Mapping[str, str],
    working_directory: str,
    project_root: str | None,
    pip_cache: PipCache | None,
    bytecode: BytecodeSummary,
    python: str,
    target_prefix: str,
    now: float,
    platform: str = sys.platform,
    locations: Iterable[CacheLocation] | None = None,
) -> tuple[ToolCache, ...]:
    """Every cache: pip's (from ``pip_cache``), the other tools' (located, then measured in one
    walk each), and the ``__pycache__`` totals (from ``bytecode``), in a fixed order.

    :param now: the report's time in seconds since the epoch (stale files are older than
        :data:`STALE_SECONDS` before it); pass the snapshot time for a reproducible report.
    :param locations: what to measure instead of :func:`locate_caches` (tests).
    """
    if locations is None:
        locations = locate_caches(
            environ=environ,
            working_directory=working_directory,
            project_root=project_root,
            platform=platform,
        )
    rows = [
        *pip_cache_rows(pip_cache, python=python),
        *(measure_location(loc, now=now) for loc in locations),
        *bytecode_caches(bytecode, target_prefix=target_prefix, project_root=project_root),
    ]
    return tuple(sorted(rows, key=_order))
