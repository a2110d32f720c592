"""Findings about names that resolve somewhere the user does not expect (rules in
:mod:`pyenvdoctor.collect.modules`): a local file shadowing the standard library or an installed
distribution, a package beside a module of the same name, a leftover directory that becomes a
namespace package and hides an editable install, a user site shadowing site-packages."""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence

from pyenvdoctor.checks.bytecode import record_owners
from pyenvdoctor.checks.project import ProjectInfo, tree_wins_over
from pyenvdoctor.collect.records import Records
from pyenvdoctor.model import (
    ContestedName,
    Distribution,
    Finding,
    Interpreter,
    LocationClass,
    NameProvider,
    Repair,
    RepairGroup,
    RepairKind,
    Severity,
)

__all__ = ["leftover_files", "shadowing_findings"]

_STDLIB = (LocationClass.STDLIB, LocationClass.LIB_DYNLOAD, LocationClass.BUILTIN)
_SITE = (
    LocationClass.VENV_SITE_PACKAGES,
    LocationClass.SITE_PACKAGES,
    LocationClass.BASE_SITE_PACKAGES,
    LocationClass.USER_SITE,
    LocationClass.DEBIAN_DIST_PACKAGES,
    LocationClass.LOCAL_DIST_PACKAGES,
)
_USER_PLACES = (
    LocationClass.SCRIPT_DIR,
    LocationClass.PYTHONPATH,
    LocationClass.PTH,
    LocationClass.OTHER,
)


def leftover_files(directory: str) -> tuple[list[str], list[str]] | None:
    """``(files, directories)`` when ``directory`` holds nothing but bytecode and empty or
    ``__pycache__`` directories (what an uninstall or a move leaves behind); ``None`` when it
    holds anything else (then it is the user's, and only explained)."""
    files: list[str] = []
    dirs: list[str] = []
    for dirpath, dirnames, names in os.walk(directory):  # does not follow symlinks
        dirs.append(dirpath)
        if any(os.path.islink(os.path.join(dirpath, d)) for d in dirnames):
            return None
        for n in names:
            path = os.path.join(dirpath, n)
            if not n.endswith(".pyc") or os.path.islink(path):
                return None
            files.append(path)
    return files, dirs


def _owner(name: str, distributions: Sequence[Distribution]) -> Distribution | None:
    return next((d for d in distributions if d.visible and name in d.top_level), None)


def shadowing_findings(
    contested: Sequence[ContestedName],
    interpreter: Interpreter,
    distributions: Sequence[Distribution],
    records: Records | None = None,
    *,
    project: ProjectInfo | None = None,
    startup_modules: frozenset[str] | None = None,
) -> list[Finding]:
    """One finding per name that resolves somewhere unexpected; user files are explained and
    never changed by ``--fix`` (only leftover bytecode-only directories are offered).

    :param records: the report's RECORD cache (a package and a module one wheel installs side
        by side are that distribution's quirk: info, not a warning); ``None``: a new one.
    :param project: the current project (:func:`~pyenvdoctor.checks.project.read_project` of
        the report's project root), ``None`` outside one: its own working tree winning over its
        installed copy is information, as for ``project-installed-as-copy``.
    :param startup_modules: the names in the target's ``sys.modules`` when its start-up ended
        (:func:`~pyenvdoctor.collect.interpreter.startup_modules`), ``None`` when unknown. A
        ``sys.path[0]`` file named like one of them never loads (:func:`_imported_at_startup`):
        the contest is judged from the next provider, the one start-up imported.
    """
    stdlib_names = set(interpreter.stdlib_module_names or ())
    findings: list[Finding] = []
    for contest in contested:
        c, w = contest, contest.winner
        if c.name == "__pycache__":
            continue
        if c.name == "distutils" and _distutils_shim_first(interpreter):
            findings.append(_answered_by_the_shim(w))
            continue
        if (
            startup_modules is not None
            and c.name in startup_modules
            and w.location is LocationClass.SCRIPT_DIR
            and c.others
        ):
            regular = [p for p in c.others if p.kind != "namespace"]
            loaded = regular[0] if regular else c.others[0]
            # The same file through another entry (PYTHONPATH names the working directory):
            # start-up imported the local file itself, which is then a shadow as usual.
            if os.path.realpath(loaded.path) != os.path.realpath(w.path):
                findings.append(_imported_at_startup(c.name, w, loaded, stdlib_names))
                c = ContestedName(
                    name=c.name,
                    winner=loaded,
                    others=tuple(p for p in c.others if p is not loaded),
                )
                w = loaded
        stdlib_other = next((p for p in c.others if p.location in _STDLIB), None)
        site_other = next(
            (p for p in c.others if p.location in _SITE and p.kind != "namespace"), None
        )
        is_stdlib = c.name in stdlib_names or stdlib_other is not None
        if w.location not in _STDLIB and stdlib_other is not None and is_stdlib:
            findings.append(
                Finding(
                    code="stdlib-shadowed",
                    subject=w.path,
                    severity=Severity.WARNING,
                    title=f"{w.path} shadows the standard library's {c.name}",
                    message=(
                        f"`import {c.name}` loads {w.path} ({w.location.value}, sys.path[{w.index}]) "
                        f"instead of the standard library's {stdlib_other.path}, everywhere in the "
                        "process, also inside other libraries. A file in the working directory does "
                        "this when Python runs from it (-c, -m, the REPL) or runs a script there. "
                        "Rename your file (and delete its __pycache__ entry)."
                    ),
                    evidence=(w.path, stdlib_other.path),
                    commands=(f"mv -- {shlex.quote(w.path)} {shlex.quote(_renamed(w.path))}",),
                )
            )
            continue
        if w.kind == "namespace":
            editable = next(
                (d for d in distributions if d.visible and d.editable and c.name in d.top_level),
                None,
            )
            if editable is not None:
                leftover = leftover_files(w.path)
                findings.append(
                    Finding(
                        code="namespace-hides-editable",
                        subject=w.path,
                        severity=Severity.ERROR,
                        title=f"Directory {w.path} hides the editable install of {editable.name}",
                        message=(
                            f"{w.path} has no __init__.py, so PathFinder imports it as an empty "
                            f"namespace package (PEP 420) before the meta path finder that serves "
                            f"the editable install of {editable.name} from {editable.editable_project} "
                            "is asked: `import` gets an empty module and your code never runs. "
                            + (
                                "It holds only bytecode: a leftover, safe to remove."
                                if leftover is not None
                                else "It holds files of yours: rename or move it."
                            )
                        ),
                        evidence=(w.path, editable.metadata_path),
                        commands=(f"rm -r -- {shlex.quote(w.path)}",)
                        if leftover is not None
                        else (),
                    )
                )
            if w.location in _SITE and not c.others and leftover_files(w.path) is not None:
                findings.append(
                    Finding(
                        code="leftover-directory",
                        subject=w.path,
                        severity=Severity.INFO,
                        title=f"{w.path} holds only bytecode",
                        message=(
                            "A directory left by an uninstall (no distribution provides it, it holds "
                            f"only .pyc files): `import {c.name}` gives an empty namespace package "
                            "instead of an ImportError. Safe to remove."
                        ),
                        evidence=(w.path,),
                        commands=(f"rm -r -- {shlex.quote(w.path)}",),
                    )
                )
            continue
        if w.location in _USER_PLACES and site_other is not None:
            if w.location is LocationClass.SCRIPT_DIR and c.others:
                # The program runs from elsewhere too: what wins there is the next provider.
                user = _user_site_finding(
                    c.name, c.others[0], c.others[1:], interpreter, distributions
                )
                if user is not None:
                    findings.append(user)
            dist = _owner(c.name, distributions)
            if dist is not None and project is not None and tree_wins_over(w, dist, project):
                findings.append(_own_tree_first(c.name, w, site_other, dist, project))
                continue
            what = f"the installed {dist.name} {dist.version}" if dist else f"{site_other.path}"
            findings.append(
                Finding(
                    code="distribution-shadowed",
                    subject=w.path,
                    severity=Severity.WARNING,
                    title=f"{w.path} shadows {what}",
                    message=(
                        f"`import {c.name}` loads {w.path} ({w.location.value}, sys.path[{w.index}]) "
                        f"instead of {what} in {site_other.path}. "
                        + (
                            "An entry of PYTHONPATH or a .pth line pointing at an old checkout does "
                            "this. Remove that entry."
                            if w.location in (LocationClass.PYTHONPATH, LocationClass.PTH)
                            else "Rename your file, or remove the installed one if you meant your copy."
                        )
                    ),
                    evidence=(w.path, site_other.path),
                )
            )
            continue
        same_dir = [
            p for p in c.others if p.index == w.index and p.kind == "module" and w.kind == "package"
        ]
        if same_dir:
            findings.append(_package_shadows_module(w.path, same_dir[0].path, records))
            continue
        user = _user_site_finding(c.name, w, c.others, interpreter, distributions)
        if user is not None:
            findings.append(user)
    return findings


#: setuptools' ``distutils-precedence.pth`` puts this finder first on ``sys.meta_path`` (unless
#: ``SETUPTOOLS_USE_DISTUTILS=stdlib``): ``import distutils`` is ``setuptools._distutils``.
_DISTUTILS_SHIM = "_distutils_hack.DistutilsMetaFinder"


def _distutils_shim_first(interpreter: Interpreter) -> bool:
    """setuptools' ``DistutilsMetaFinder`` is on the target's ``sys.meta_path`` ahead of
    ``PathFinder`` (``importlib._bootstrap._find_spec`` asks the finders in order)."""
    finders = list(interpreter.meta_path)
    path_finder = next((i for i, f in enumerate(finders) if f.endswith("PathFinder")), None)
    shim = next((i for i, f in enumerate(finders) if f == _DISTUTILS_SHIM), None)
    return shim is not None and (path_finder is None or shim < path_finder)


def _answered_by_the_shim(w: NameProvider) -> Finding:
    """Information, not a shadow: ``import distutils`` is answered by setuptools' shim
    (``_distutils_hack``: its ``find_spec`` returns ``setuptools._distutils`` for the
    top-level name ``distutils``) before ``PathFinder`` would find ``w``."""
    return Finding(
        code="stdlib-shadowed",
        subject=w.path,
        severity=Severity.INFO,
        title=f"{w.path} never loads: setuptools' distutils shim answers import distutils",
        message=(
            f"{_DISTUTILS_SHIM} (setuptools' distutils-precedence.pth) is ahead of PathFinder "
            "on sys.meta_path and answers `import distutils` with setuptools._distutils, so "
            f"{w.path} ({w.location.value}) never loads. Renaming it avoids confusion, but "
            "changes nothing that runs."
        ),
        evidence=(w.path,),
    )


def _imported_at_startup(
    name: str, w: NameProvider, loaded: NameProvider, stdlib_names: set[str]
) -> Finding:
    """Information, not a shadow: ``name`` is in ``sys.modules`` when start-up ends (the
    ``encodings`` codec machinery, on 3.8-3.10 also ``os``, ``io``, ``abc``, ``codecs``,
    ``stat``, ``site``; whatever a ``.pth`` import line or ``sitecustomize`` imports), and
    ``importlib._bootstrap._find_and_load`` returns ``sys.modules[name]`` before any finder is
    asked. ``w``, in ``sys.path[0]``, cannot have been that module: CPython puts the script's
    directory (or ``''``) on ``sys.path`` only after ``site`` ran (``Modules/main.c``,
    ``pymain_run_python``), so start-up found ``loaded``, the next provider.

    :param w: the ``sys.path[0]`` provider that would win a search; :param loaded: the one
        start-up imported.
    """
    stdlib = name in stdlib_names or loaded.location in _STDLIB
    return Finding(
        code="stdlib-shadowed" if stdlib else "distribution-shadowed",
        subject=w.path,
        severity=Severity.INFO,
        title=f"{w.path} never loads: {name} is already imported at start-up",
        message=(
            f"{name} is already imported at start-up (it is in sys.modules before your program "
            f"runs); `import {name}` returns it, {loaded.path} ({loaded.location.value}), and "
            f"the local file {w.path} never loads: sys.modules is consulted before sys.path. "
            "Renaming it avoids confusion, but changes nothing that runs."
        ),
        evidence=(w.path, loaded.path),
    )


def _own_tree_first(
    name: str, w: NameProvider, site_other: NameProvider, dist: Distribution, project: ProjectInfo
) -> Finding:
    """``distribution-shadowed`` as information: the winner ``w`` is the current project's own
    working tree and the distribution it comes before is that project's installed copy
    (:func:`~pyenvdoctor.checks.project.tree_wins_over`, the rule ``project-installed-as-copy``
    uses). ``sys.path[0]`` is the script's directory or the working directory (CPython
    ``Modules/main.c``), so running from the checkout loads the tree: nothing to rename."""
    return Finding(
        code="distribution-shadowed",
        subject=w.path,
        severity=Severity.INFO,
        title=f"{w.path} is the working tree of {dist.name}, before its installed copy",
        message=(
            f"`import {name}` loads {w.path} ({w.location.value}, sys.path[{w.index}]), part "
            f"of the current project {project.name} in {project.root}, instead of the installed "
            f"{dist.name} {dist.version} in {site_other.path}, which is this project's own copy: "
            "from here your edits run. Run from another directory, or through its entry "
            "points, the installed copy runs instead (see project-installed-as-copy)."
        ),
        evidence=(w.path, site_other.path),
    )


def _package_shadows_module(package: str, module: str, records: Records | None) -> Finding:
    """``package-shadows-module``: ``FileFinder.find_spec`` (CPython
    ``Lib/importlib/_bootstrap_external.py``) checks for a package directory before the module
    files of the same name, so ``module`` never runs. When one distribution's RECORD lists both
    (click-plugins 1.1.1.2 ships ``click_plugins.py`` beside ``click_plugins/``), reinstalling
    brings it back: that wheel's quirk, an info naming it; else a warning."""
    site = os.path.dirname(package)
    init = next(
        (
            os.path.join(package, "__init__" + suffix)
            for suffix in (".py", ".pyc")
            if os.path.isfile(os.path.join(package, "__init__" + suffix))
        ),
        os.path.join(package, "__init__.py"),
    )
    owners = record_owners([init, module], [site], records)
    shipped = owners.get(init) is not None and owners.get(init) == owners.get(module)
    message = (
        "A directory with __init__.py and a module of the same name sit side by side; the "
        "import system takes the package, so the module never runs. "
    )
    if shipped:
        message += (
            f"Both are installed by one wheel ({owners[init]}: its RECORD lists both), so the "
            "module is dead code that distribution ships; nothing to change here."
        )
    else:
        message += "Remove or rename one of them."
    return Finding(
        code="package-shadows-module",
        subject=package,
        severity=Severity.INFO if shipped else Severity.WARNING,
        title=f"Package {package} hides module {module}",
        message=message,
        evidence=(package, module),
    )


def _user_site_finding(
    name: str,
    w: NameProvider,
    others: Sequence[NameProvider],
    interpreter: Interpreter,
    distributions: Sequence[Distribution],
) -> Finding | None:
    """``user-site-shadows`` when the user site's copy of ``name`` (the winner ``w``) comes before
    a copy in another site directory."""
    site_below = next(
        (
            p
            for p in others
            if p.location in _SITE
            and p.location is not LocationClass.USER_SITE
            and p.kind != "namespace"
        ),
        None,
    )
    if w.location is LocationClass.USER_SITE and site_below is not None:
        user_dist = next(
            (
                d
                for d in distributions
                if d.location_class is LocationClass.USER_SITE and name in d.top_level
            ),
            None,
        )
        repairs = _user_site_uninstall(interpreter, user_dist)
        return Finding(
            code="user-site-shadows",
            subject=w.path,
            severity=Severity.WARNING,
            title=f"The user site shadows {name} from {site_below.location.value}",
            message=(
                "site.py puts the user site (~/.local) before the interpreter's site-packages "
                "(and before the base site-packages that a venv with system site packages "
                f"exposes): `import {name}` loads {w.path}, not {site_below.path}. Uninstall "
                "the user site's copy, or set PYTHONNOUSERSITE=1 for this environment."
            ),
            evidence=(w.path, site_below.path),
            # What --fix runs, as printed: the pip of the interpreter that owns the user site
            # (a venv's own pip refuses to uninstall outside the venv), never interactive.
            commands=tuple(shlex.join(r.command) for r in repairs),
            repairs=repairs,
        )
    return None


def user_site_owner(interpreter: Interpreter) -> str:
    """The interpreter whose user site this is: the target itself, or for a virtual environment
    (whose pip refuses to uninstall outside it) the base interpreter ``pyvenv.cfg`` ``home``
    names, ``pythonX.Y`` there (PEP 405)."""
    if not interpreter.is_virtual_environment or not interpreter.base_executable_home:
        return interpreter.executable
    major, minor = interpreter.version_info[:2]
    return os.path.join(interpreter.base_executable_home, f"python{major}.{minor}")


def _user_site_uninstall(interpreter: Interpreter, dist: Distribution | None) -> tuple[Repair, ...]:
    """``pip uninstall -y NAME`` with the pip of the interpreter that owns the user site: pip
    uninstalls the first distribution of that name on ``sys.path``, and the user site comes
    before site-packages (``site.py``). Under PEP 668 pip refuses every uninstall without
    ``--break-system-packages`` (pip ``commands/uninstall.py``), though the user site is not the
    managed directory, so the flag is added there. Never for an editable install (the user's
    own checkout)."""
    if dist is None or dist.editable or dist.location_class is not LocationClass.USER_SITE:
        return ()
    owner = user_site_owner(interpreter)
    managed = interpreter.externally_managed is not None or os.path.isfile(
        os.path.join(interpreter.sysconfig_paths.get("stdlib", ""), "EXTERNALLY-MANAGED")
    )
    flags = ("--break-system-packages",) if managed else ()
    return (
        Repair(
            kind=RepairKind.RUN,
            group=RepairGroup.INSTALLATION,
            description=f"uninstall {dist.name} {dist.version} from the user site {dist.location}",
            command=(owner, "-m", "pip", "uninstall", "-y", *flags, dist.name),
        ),
    )


def _renamed(path: str) -> str:
    head, tail = os.path.split(path)
    return os.path.join(head, "my_" + tail)
