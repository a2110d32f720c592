"""Facts the repairs need, read on the host: which files a distribution's RECORD lists (PEP 376,
627), setuptools' strict-mode editable link trees and the modules they lack, and the start-up
hooks (``sitecustomize``/``usercustomize``) that ``site`` imports.

setuptools ``command/editable_wheel.py`` (``_LinkTree``): ``editable_mode=strict`` builds
``<project>/build/__editable__.<name>-<version>-<tag>`` holding one symlink per file present at
install time, and ``__editable__.<name>-<version>.pth`` names that directory. A module added to
the project later has no link there, so it cannot be imported until the project is installed
again. ``site.execsitecustomize``/``execusercustomize`` (CPython ``Lib/site.py``) import the first
``sitecustomize``/``usercustomize`` on ``sys.path`` after the ``.pth`` files are processed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from packaging.utils import canonicalize_name

from pyenvdoctor.collect.records import Records
from pyenvdoctor.model import Distribution, LocationClass, PathEntry, PthFile

__all__ = [
    "StrictEditable",
    "find_startup_hooks",
    "find_strict_editables",
    "record_files",
]


def record_files(
    distributions: Iterable[Distribution], records: Records | None = None
) -> dict[str, Distribution]:
    """Real path -> distribution (first wins) of the files a ``.dist-info/RECORD`` lists that
    the repairs ask about: ``.pth`` files and files outside the site directory (console
    scripts, headers, data: RECORD paths starting with ``..``, such as ``../../../bin/NAME``).

    Paths in RECORD are relative to the directory holding the ``.dist-info`` (PEP 376/627).
    The real path is that of the file's directory (one ``realpath`` per directory) joined with
    its name: a 266-distribution venv lists 116,000 files, of which a few hundred are wanted.
    For a file that is itself a symlink a caller's ``realpath`` does not match, so it has no
    owner here (never a wrong one). Unreadable or malformed RECORDs own nothing.

    :param records: the report's RECORD cache (:class:`~pyenvdoctor.collect.records.Records`);
        ``None``: a new one.
    """
    records = Records() if records is None else records
    owners: dict[str, Distribution] = {}
    real_dirs: dict[str, str] = {}
    for d in distributions:
        if not d.metadata_path.endswith(".dist-info"):
            continue
        base = os.path.dirname(d.metadata_path)
        for path in (
            *records.containing(d.metadata_path, ".."),
            *records.containing(d.metadata_path, ".pth"),
        ):
            if not (path.startswith("..") or path.endswith(".pth")):
                continue
            directory, name = os.path.split(os.path.join(base, path))
            real = real_dirs.get(directory)
            if real is None:
                real = real_dirs[directory] = os.path.realpath(directory)
            if name not in ("", ".", ".."):
                owners.setdefault(os.path.join(real, name), d)
    return owners


@dataclass(frozen=True, kw_only=True, slots=True)
class StrictEditable:
    """A strict-mode editable install and the source files its link tree lacks.

    :ivar pth: the ``__editable__.*.pth`` file naming the tree; :ivar tree: the link tree.
    :ivar distribution: the editable distribution it serves.
    :ivar missing: source files (``.py``) in the directories the tree links into that have no
        link in the tree, sorted.
    """

    pth: str
    tree: str
    distribution: Distribution
    missing: tuple[str, ...]


def _tree_dirs(tree: str) -> dict[str, str]:
    """Directory of the link tree -> the source directory its symlinked files point into."""
    mapping: dict[str, str] = {}
    for dirpath, _dirs, names in os.walk(tree):  # does not follow symlinks
        for name in names:
            path = os.path.join(dirpath, name)
            if os.path.islink(path) and name.endswith(".py"):
                mapping.setdefault(dirpath, os.path.dirname(os.path.realpath(path)))
    return mapping


def find_strict_editables(
    pth_files: Sequence[PthFile], distributions: Sequence[Distribution]
) -> list[StrictEditable]:
    """Every strict-mode link tree on ``sys.path`` whose source directories hold ``.py`` files
    the tree has no link for (rule in the module docstring)."""
    found = []
    editables = {d.canonical_name: d for d in distributions if d.visible and d.editable}
    for pth in pth_files:
        name = os.path.basename(pth.path)
        if not (name.startswith("__editable__.") and name.endswith(".pth")) or pth.skipped:
            continue
        dist_name = name[len("__editable__.") : -len(".pth")].rsplit("-", 1)[0]
        dist = editables.get(canonicalize_name(dist_name))
        if dist is None:
            continue
        for line in pth.lines:
            tree = line.path
            if line.kind != "path" or not tree or not os.path.isdir(tree):
                continue
            if not os.path.basename(tree).startswith("__editable__."):
                continue
            missing = []
            for tree_dir, source_dir in _tree_dirs(tree).items():
                try:
                    names = sorted(os.listdir(source_dir))
                except OSError:
                    continue
                for n in names:
                    src = os.path.join(source_dir, n)
                    if (
                        n.endswith(".py")
                        and os.path.isfile(src)
                        and not os.path.lexists(os.path.join(tree_dir, n))
                    ):
                        missing.append(src)
            if missing:
                found.append(
                    StrictEditable(
                        pth=pth.path, tree=tree, distribution=dist, missing=tuple(sorted(missing))
                    )
                )
    return found


_HOOK_PLACES = (
    LocationClass.PYTHONPATH,
    LocationClass.STDLIB,
    LocationClass.LIB_DYNLOAD,
    LocationClass.VENV_SITE_PACKAGES,
    LocationClass.SITE_PACKAGES,
    LocationClass.BASE_SITE_PACKAGES,
    LocationClass.USER_SITE,
    LocationClass.DEBIAN_DIST_PACKAGES,
    LocationClass.LOCAL_DIST_PACKAGES,
    LocationClass.PTH,
)


def find_startup_hooks(sys_path: Sequence[PathEntry]) -> dict[str, str]:
    """``{"sitecustomize": path, "usercustomize": path}`` for the module ``site`` imports at
    start-up: the first ``NAME.py`` in a ``sys.path`` entry that existed when ``site`` ran
    (not ``sys.path[0]``, not entries added later by such a hook)."""
    hooks: dict[str, str] = {}
    for e in sys_path:
        if e.kind != "directory" or e.location not in _HOOK_PLACES:
            continue
        for name in ("sitecustomize", "usercustomize"):
            path = os.path.join(e.resolved, name + ".py")
            if name not in hooks and os.path.isfile(path):
                hooks[name] = path
    return hooks
