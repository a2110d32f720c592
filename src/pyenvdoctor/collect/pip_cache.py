"""pip's cache directory, found as the target's ``pip cache dir`` finds it (without running pip),
and sized as ``pip cache info`` splits it. Rules from pip 23.2-24.2 ``src/pip/_internal/``:

* ``configuration.py`` (``get_configuration_files``, ``Configuration.iter_config_files``,
  ``_dictionary``) with ``utils/appdirs.py``: files GLOBAL (``$XDG_CONFIG_DIRS``, default
  ``/etc/xdg``, each + ``/pip``; then ``/etc``), USER (``~/.pip``, then ``$XDG_CONFIG_HOME/pip``,
  default ``~/.config/pip``; not read when ``PIP_CONFIG_FILE`` names an existing file), SITE
  (``sys.prefix``), ENV (``PIP_CONFIG_FILE``; ``os.devnull`` means no file at all), then ``PIP_*``
  variables (section ``:env:``). A later ``section.key`` replaces an earlier one.
* ``cli/parser.py ConfigOptionParser``: empty values are ignored; sections ``[global]``, the
  command's ``[cache]``, then ``:env:``. ``cli/cmdoptions.py _handle_no_cache_dir``: any valid
  ``strtobool`` value (even ``false``) of ``no-cache-dir`` disables the cache; an invalid one, or a
  file ``configparser`` rejects, makes pip exit with an error (reported here in ``source``).
* ``cmdoptions._path_option_check`` + ``utils/misc.py normalize_path`` (``cli/base_command.py``):
  ``~`` is expanded but not ``$VARS``, then ``realpath`` and ``normcase``; the default is
  platformdirs ``user_cache_dir("pip")``; ``utils/filesystem.py check_path_owner`` may disable it.
* ``commands/cache.py`` ``_find_http_files`` (``http`` + ``http-v2``), ``_find_wheels``
  (``*-*.whl`` in ``wheels``); ``utils/filesystem.py directory_size``.

Left out: Windows folders come from ``LOCALAPPDATA``/``APPDATA``/``ALLUSERSPROFILE``, not
``SHGetFolderPathW``; ``~user`` on Windows; the Homebrew and Android cases of platformdirs.
"""

from __future__ import annotations

import configparser
import fnmatch
import locale
import ntpath
import os
import posixpath
import stat
import sys
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from pyenvdoctor.files import NotRegularFileError
from pyenvdoctor.files import read_text as read_regular_text
from pyenvdoctor.model import PipCache

__all__ = ["PipCacheLocation", "locate_pip_cache", "measure_pip_cache"]

_SECTIONS = ("global", "cache", ":env:")  # pip's override order for `pip cache ...`
_KEYS = ("cache-dir", "no-cache-dir")
_BOOLEANS = frozenset({"y", "yes", "t", "true", "on", "1", "n", "no", "f", "false", "off", "0"})
_CATEGORIES = {"http": "http", "http-v2": "http", "wheels": "wheels"}  # top-level directories
_WHEEL_PATTERN = "*-*.whl"  # pip `_find_wheels(options, "*")`


class PipCacheLocation(NamedTuple):
    """Where pip's cache is: a ``(directory, source, disabled)`` tuple.

    :ivar directory: as ``pip cache dir`` prints it (absolute, real path); ``None`` if disabled.
    :ivar source: ``PIP_CACHE_DIR`` (the variable), ``"<file> [<section>] <key>"`` or
        ``default``; what makes pip fail or disables the cache follows, after ``"; "``.
    """

    directory: str | None
    source: str
    disabled: bool


def _expanduser(path: str, environ: Mapping[str, str], windows: bool) -> str:
    """``os.path.expanduser`` (CPython ``posixpath``/``ntpath``) reading ``environ``."""
    if not path.startswith("~"):
        return path
    end = next((i for i, c in enumerate(path) if c in ("\\/" if windows else "/")), len(path))
    user = path[1:end]
    if windows:
        if "USERPROFILE" in environ:
            home = environ["USERPROFILE"]
        elif "HOMEPATH" in environ:
            home = ntpath.join(environ.get("HOMEDRIVE", ""), environ["HOMEPATH"])
        else:
            return path
        return path if user else home + path[end:]
    if not user and "HOME" in environ:
        home = environ["HOME"]
    else:
        try:
            import pwd

            entry = pwd.getpwnam(user) if user else pwd.getpwuid(os.getuid())
        except (ImportError, KeyError):
            return path
        home = entry.pw_dir
    return (home.rstrip("/") + path[end:]) or "/"


def _xdg(environ: Mapping[str, str], variable: str, default: str) -> str:
    """platformdirs ``unix.py``: the variable unless unset or blank."""
    value = environ.get(variable, "")
    return value if value.strip() else default


def _default_cache_dir(environ: Mapping[str, str], platform: str) -> str:
    """platformdirs ``user_cache_dir("pip", appauthor=False)`` (pip ``utils/appdirs.py``)."""
    if platform == "win32":
        base = environ.get("LOCALAPPDATA") or _expanduser("~\\AppData\\Local", environ, True)
        return ntpath.join(ntpath.normpath(base), "pip", "Cache")
    if platform == "darwin":
        return _expanduser("~/Library/Caches/pip", environ, False)
    return posixpath.join(
        _xdg(environ, "XDG_CACHE_HOME", _expanduser("~/.cache", environ, False)), "pip"
    )


def _config_files(target_prefix: str, environ: Mapping[str, str], platform: str) -> list[str]:
    """pip's configuration files, lowest priority first (pip ``configuration.py``)."""
    windows = platform == "win32"
    path = ntpath if windows else posixpath
    env_file = environ.get("PIP_CONFIG_FILE")
    if env_file == ("nul" if windows else "/dev/null"):  # os.devnull of the target's platform
        return []
    home = _expanduser("~", environ, windows)
    if windows:
        global_dirs = [path.join(environ.get("ALLUSERSPROFILE", "C:\\ProgramData"), "pip")]
        user_dir = path.join(environ.get("APPDATA", path.join(home, "AppData", "Roaming")), "pip")
    elif platform == "darwin":
        global_dirs = ["/Library/Application Support/pip"]
        user_dir = path.join(home, "Library", "Application Support", "pip")
        if not Path(user_dir).is_dir():
            user_dir = path.join(home, ".config", "pip")
    else:
        dirs = _xdg(environ, "XDG_CONFIG_DIRS", "/etc/xdg").split(":")
        global_dirs = [*(path.join(d, "pip") for d in dirs), "/etc"]
        user_dir = path.join(_xdg(environ, "XDG_CONFIG_HOME", path.join(home, ".config")), "pip")
    user_dirs = (
        []
        if env_file and Path(env_file).exists()
        else [path.join(home, "pip" if windows else ".pip"), user_dir]
    )
    basename = "pip.ini" if windows else "pip.conf"
    files = [path.join(d, basename) for d in [*global_dirs, *user_dirs, target_prefix]]
    return [*files, env_file] if env_file else files


def _settings(
    files: list[str], environ: Mapping[str, str]
) -> tuple[dict[tuple[str, str], tuple[str, str]], list[str]]:
    """``(section, key) -> (value, origin)`` after overriding, for ``cache-dir`` and
    ``no-cache-dir`` in the sections pip reads for ``pip cache``; and the files pip cannot load."""
    settings: dict[tuple[str, str], tuple[str, str]] = {}
    problems = []
    for fname in files:
        if not Path(fname).exists():
            continue
        parser = configparser.RawConfigParser()
        try:
            text = read_regular_text(fname, encoding=locale.getpreferredencoding(False))
        except NotRegularFileError:  # a FIFO would block (issue 16); pip itself would hang
            problems.append(f"{fname} is not a regular file: not read")
            continue
        except OSError:  # unreadable files are skipped by configparser, as in pip
            continue
        except UnicodeDecodeError as exc:
            problems.append(f"pip cannot load {fname}: {type(exc).__name__}")
            continue
        try:
            parser.read_string(text, source=fname)
        except configparser.Error as exc:
            problems.append(f"pip cannot load {fname}: {type(exc).__name__}")
            continue
        for section in parser.sections():
            for name, value in parser.items(section):
                settings[section, _normalize(name)] = (value, f"{fname} [{section}] {name}")
    for variable, value in environ.items():
        if variable.startswith("PIP_"):
            settings[":env:", _normalize(variable[4:])] = (value, variable)
    wanted = {(s, k): v for (s, k), v in settings.items() if s in _SECTIONS and k in _KEYS}
    return dict(sorted(wanted.items(), key=lambda item: _SECTIONS.index(item[0][0]))), problems


def _normalize(name: str) -> str:
    """pip ``configuration._normalize_name``."""
    return name.lower().replace("_", "-").removeprefix("--")


def _pip_may_use(directory: str, platform: str) -> bool:
    """pip ``utils/filesystem.py check_path_owner`` (``lstat`` stands for its ``O_NOFOLLOW``)."""
    if platform == "win32" or not hasattr(os, "geteuid"):
        return True
    path, previous = directory, None
    while path != previous:
        if os.path.lexists(path):
            if os.geteuid() != 0:
                return os.access(path, os.W_OK)
            try:
                st = os.lstat(path)
            except OSError:
                return False
            return not stat.S_ISLNK(st.st_mode) and st.st_uid == 0
        previous, path = path, posixpath.dirname(path)
    return False


def locate_pip_cache(
    *, target_prefix: str, environ: Mapping[str, str], platform: str = sys.platform
) -> PipCacheLocation:
    """Find the cache directory the target's ``python -m pip cache dir`` would print.

    Reads configuration files and the host's file system; never raises for bad settings.

    :param target_prefix: the target's ``sys.prefix`` (holds the SITE ``pip.conf``).
    :param environ: the environment pip would run in (``PIP_*``, ``XDG_*``, ``HOME``...).
    :param platform: the target's ``sys.platform``: selects file names and default folders.
        Relative paths resolve against the host's working directory.
    :returns: ``(directory, source, disabled)``; an invalid ``no-cache-dir`` or unreadable config
        file (pip exits with an error) is reported in ``source`` and otherwise ignored.
    """
    settings, problems = _settings(_config_files(target_prefix, environ, platform), environ)
    value, source, disabled_by = None, "default", None
    for (_, key), (text, origin) in settings.items():  # in pip's order; empty values ignored
        if text and key == "cache-dir":
            value, source = text, origin
        elif text and text.lower() in _BOOLEANS:
            disabled_by = origin
        elif text:
            problems.append(f"{origin} = {text!r} is not a boolean: pip exits with an error")
    notes = "".join(f"; {p}" for p in problems)
    if disabled_by is not None:
        return PipCacheLocation(None, disabled_by + notes, True)
    path = ntpath if platform == "win32" else posixpath
    raw = _default_cache_dir(environ, platform) if value is None else value
    if "\x00" in raw:  # pip utils/misc.py normalize_path: os.path.realpath raises ValueError
        why = f"{raw!r} holds a NUL byte: pip exits with an error"
        return PipCacheLocation(None, f"{source}; {why}{notes}", True)
    directory = path.normcase(path.realpath(_expanduser(raw, environ, platform == "win32")))
    if not _pip_may_use(directory, platform):
        why = f"pip disables it: {directory} is not owned by or writable for the current user"
        return PipCacheLocation(None, f"{source}; {why}{notes}", True)
    return PipCacheLocation(directory, source + notes, False)


def _tally(root: str) -> tuple[Counter[str], Counter[str]]:
    """Files counted and bytes (``st_size``) per category ``http``/``wheels``/``other``.

    Symlinked directories are not followed, except a top-level ``http``, ``http-v2`` or ``wheels``
    (pip's ``os.walk`` follows the top it is given). Unreadable or vanished entries are skipped.
    """
    files: Counter[str] = Counter()
    sizes: Counter[str] = Counter()
    stack: list[tuple[str, str | None]] = [(root, None)]
    while stack:
        directory, category = stack.pop()
        try:
            with os.scandir(directory) as it:
                entries = list(it)
        except OSError:
            continue
        for entry in entries:
            try:
                is_dir = entry.is_dir()
            except OSError:  # e.g. a symlink loop: os.walk lists it as a file
                is_dir = False
            try:
                is_link = entry.is_symlink()
                size = 0 if is_dir or is_link else entry.stat(follow_symlinks=False).st_size
            except OSError:  # vanished
                continue
            if is_dir:
                sub = category or _CATEGORIES.get(entry.name, "other")
                if not is_link or (category is None and sub != "other"):
                    stack.append((entry.path, sub))
                continue
            kind = category or "other"
            sizes[kind] += size
            if kind != "wheels" or fnmatch.fnmatch(entry.name, _WHEEL_PATTERN):
                files[kind] += 1
    return files, sizes


def measure_pip_cache(
    *, target_prefix: str, environ: Mapping[str, str], platform: str = sys.platform
) -> PipCache:
    """Locate pip's cache (:func:`locate_pip_cache`) and size it in one walk.

    ``http_*``: every file under ``http`` and ``http-v2``; ``wheels_files``: ``*-*.whl`` files
    under ``wheels``, ``wheels_bytes``: all of ``wheels``; ``other_*``: everything else (e.g.
    ``selfcheck``). Sizes are apparent sizes in bytes; symlinks count 0 bytes, as in pip.

    :param target_prefix: the target's ``sys.prefix``.
    :param environ: the environment pip would run in.
    :param platform: the target's ``sys.platform``.
    """
    directory, source, disabled = locate_pip_cache(
        target_prefix=target_prefix, environ=environ, platform=platform
    )
    exists = directory is not None and Path(directory).is_dir()
    files, sizes = _tally(directory) if directory is not None and exists else (Counter(), Counter())
    return PipCache(
        directory=directory,
        source=source,
        disabled=disabled,
        exists=exists,
        http_files=files["http"],
        http_bytes=sizes["http"],
        wheels_files=files["wheels"],
        wheels_bytes=sizes["wheels"],
        other_files=files["other"],
        other_bytes=sizes["other"],
    )
