"""Seeded random trees of modules and bytecode, the scan's verdicts, and CPython's (issue 13).

A case is one tree of ``om<i>`` modules (top level, in a regular package ``opk<j>`` or in the
namespace package ``ons0``, a directory without ``__init__``), each in one condition
(:data:`CONDITIONS`) with random modifiers (:data:`MODIFIERS`), run in one mode (:data:`MODES`:
plain, ``-B``, PYTHONDONTWRITEBYTECODE, ``-O``, ``-OO``, ``--check-hash-based-pycs
always|never``), with or without ``PYTHONPYCACHEPREFIX`` (a directory *inside* the scanned
tree), as root or, for an interpreter an unprivileged user can run, as ``nobody`` (scan and
import both, through ``setpriv``), and sometimes with a zip file of ``oz<i>`` modules on
``sys.path`` (:data:`ZIP_CONDITIONS`). Every source sets ``MARK = "new"``; a pyc compiled from
the old source carries ``MARK = "old"``.

CPython's verdict per pyc (``Lib/importlib/_bootstrap_external.py``): the pyc it considers
for a module is ``find_spec(name).cached`` (``cache_from_source`` of the source that
``FileFinder`` picked) or, for ``SourcelessFileLoader``, ``spec.origin``; any other pyc is
never read. ``-v`` prints ``# <pyc> matches <source>`` when the header was accepted
(``SourceLoader.get_code``) and ``# code object from '<pyc>'`` when its code was loaded
(``_compile_bytecode``). Loaded with ``MARK == "old"``: stale-accepted; ``"new"``: fresh;
accepted but the import failed: broken; rejected (not matched): stale when the file changed,
else stale-not-rewritten. In a zip file (``Lib/zipimport.py``) the module's ``__file__`` says
which member ran: the pyc (``old``: stale-accepted, ``new``: fresh or, without a source member,
sourceless), the source (the pyc was rejected: stale-not-rewritten; a ``__pycache__`` member
is never tried: ignored), or nothing (the import failed: broken).

Not modelled here: real extension modules (a fake ``.so`` that fails to load is used), an
unprivileged run of the pyenv interpreters (they live under ``/root``, mode 0700), append-only
files and directories, zip files with comments, ZIP64 or compression other than deflate.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import asdict, dataclass, field, replace

from pyenvdoctor.collect.bytecode import BytecodeTarget, ScanRoot, scan_bytecode
from pyenvdoctor.collect.interpreter import build_interpreter, run_probe
from pyenvdoctor.collect.zipbytecode import judge_zip_archive
from pyenvdoctor.model import BytecodeCategory as C
from pyenvdoctor.model import LocationClass

__all__ = [
    "CONDITIONS",
    "MODES",
    "MODIFIERS",
    "ZIP_CONDITIONS",
    "Case",
    "Disagreement",
    "default_pythons",
    "make_case",
    "run_case",
    "target_of",
]

#: (name, interpreter flags, extra environment, BytecodeTarget changes)
MODES: tuple[tuple[str, tuple[str, ...], dict[str, str], dict[str, object]], ...] = (
    ("plain", (), {}, {}),
    ("plain", (), {}, {}),
    ("-B", ("-B",), {}, {"dont_write_bytecode": True}),
    ("env", (), {"PYTHONDONTWRITEBYTECODE": "1"}, {"dont_write_bytecode": True}),
    ("-O", ("-O",), {}, {"optimize": 1}),
    ("-OO", ("-OO",), {}, {"optimize": 2}),
    ("always", ("--check-hash-based-pycs", "always"), {}, {"check_hash_based_pycs": "always"}),
    ("never", ("--check-hash-based-pycs", "never"), {}, {"check_hash_based_pycs": "never"}),
)

CONDITIONS = (
    "fresh",
    "stale-size",
    "stale-mtime",
    "same-size-mtime-kept",
    "syntax-error-same-size",
    "bad-magic",
    "short-header",
    "unknown-flags",
    "truncated-body",
    "truncated-body",
    "non-code-body",
    "hash-checked",
    "hash-checked-changed",
    "hash-unchecked",
    "hash-unchecked-changed",
    "other-opt",
    "opt-0-name",
    "other-tag",
    "orphaned",
    "package-shadows",
    "namespace-beside",
    "extension-shadows",
    "legacy",
    "legacy-bad-magic",
    "legacy-short",
    "legacy-truncated",
    "legacy-dotted",
    "legacy-dangling-source",
    "legacy-beside-source",
)

#: Per module, each with probability 0.12: ``long``/``huge`` (a longer module, see
#: :func:`_source`), ``symlink`` (the pyc is a link to a file outside
#: the tree), ``source-symlink`` (so is the source), ``readonly`` (pyc mode 0444), ``chmod``
#: (the pyc's ctime moves, its mtime kept), ``immutable`` (``chattr +i`` of the pyc),
#: ``append-only`` (``chattr +a``), ``unreadable`` (mode 0, as ``nobody``),
#: ``in-tree`` (under PYTHONPYCACHEPREFIX: a copy in the tree's own ``__pycache__``); per cache
#: directory: ``rodir`` (mode 0555), ``immutable-dir`` (``chattr +i``), ``append-only-dir``
#: (``chattr +a``) and, as ``nobody``,
#: ``writable-dir`` (owned by nobody) and ``sticky-dir`` (mode 1777, the pyc owned by root).
MODIFIERS = (
    "long",
    "huge",
    "symlink",
    "source-symlink",
    "readonly",
    "chmod",
    "immutable",
    "append-only",
    "unreadable",
    "in-tree",
    "rodir",
    "immutable-dir",
    "append-only-dir",
    "writable-dir",
    "sticky-dir",
)
_DIR_MODIFIERS = frozenset(
    {"rodir", "immutable-dir", "append-only-dir", "writable-dir", "sticky-dir"}
)

ZIP_CONDITIONS = (
    "zip-fresh",
    "zip-stale",
    "zip-same-size",
    "zip-sourceless",
    "zip-bad-magic",
    "zip-bad-magic-alone",
    "zip-short",
    "zip-truncated",
    "zip-hash-checked-changed",
    "zip-hash-unchecked-changed",
    "zip-pycache",
    "zip-package",
)

_COMPILE = """\
import json, py_compile, sys
for src, cfile, opt, mode in json.load(sys.stdin):
    m = py_compile.PycInvalidationMode[mode]
    py_compile.compile(src, cfile=cfile, doraise=True, optimize=opt, invalidation_mode=m)
"""

_IMPORT = """\
import importlib, importlib.util, json, sys
sys.path[0] = sys.argv[1]
if sys.argv[2]:
    sys.path.insert(1, sys.argv[2])
out = {}
for name in sys.argv[3:]:
    rec = {}
    try:
        spec = importlib.util.find_spec(name)
        if spec is not None:
            rec["origin"] = spec.origin
            rec["cached"] = spec.cached
    except BaseException as exc:
        rec["find_error"] = type(exc).__name__
    try:
        mod = importlib.import_module(name)
        rec["mark"] = getattr(mod, "MARK", None)
        rec["file"] = getattr(mod, "__file__", None)
    except BaseException as exc:
        rec["error"] = type(exc).__name__
    out[name] = rec
print("ORACLE " + json.dumps(out))
"""

#: The scan run as another user (``nobody``): the target's facts as JSON on stdin, every
#: file's category as JSON on stdout.
_SCAN_AS = """\
import json, sys
from pyenvdoctor.collect.bytecode import BytecodeTarget, ScanRoot, scan_bytecode
from pyenvdoctor.model import LocationClass
facts = json.load(sys.stdin)
facts["magic_number"] = bytes.fromhex(facts["magic_number"])
for k in ("version_info", "source_suffixes", "extension_suffixes"):
    facts[k] = tuple(facts[k])
out = {}
scan_bytecode([ScanRoot(path=sys.argv[1], location=LocationClass.PROJECT)],
    BytecodeTarget(**facts), on_file=lambda cat, path, st: out.__setitem__(path, cat.value))
print(json.dumps(out))
"""

_NEVER_READ = frozenset({C.IGNORED, C.SHADOWED, C.ORPHANED, C.FOREIGN})
_NOBODY = 65534
_SETPRIV = shutil.which("setpriv")
_CHATTR = shutil.which("chattr")


@dataclass
class Case:
    """One generated tree: ``modules`` maps module name to (condition, modifiers); ``zips``
    the modules of the zip file on ``sys.path`` to their condition (empty: no zip file)."""

    seed: int
    index: int
    python: str
    mode: str
    prefix: bool = False
    user: str = "root"
    modules: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    zips: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Disagreement:
    """A pyc whose scan category differs from what CPython did."""

    case: Case
    path: str
    module: str
    scan: str | None
    cpython: str
    detail: str

    def __str__(self) -> str:
        cond = self.case.modules.get(self.module) or self.case.zips.get(self.module)
        return (
            f"seed={self.case.seed} case={self.case.index} python={self.case.python} "
            f"mode={self.case.mode} prefix={self.case.prefix} user={self.case.user} "
            f"module={self.module} condition={cond} path={self.path}: "
            f"scan={self.scan} cpython={self.cpython} ({self.detail})"
        )


def target_of(python: str) -> BytecodeTarget:
    """The scan's target for ``python``, as ``report`` builds it (probe, then
    :meth:`BytecodeTarget.for_interpreter`)."""
    data = run_probe(python).data
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return replace(
        BytecodeTarget.for_interpreter(build_interpreter(data, env)),
        dont_write_bytecode=False,
        optimize=0,
        pycache_prefix=None,
    )


def _env(extra: dict[str, str]) -> dict[str, str]:
    drop = (
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONPATH",
        "PYTHONHOME",
        "PYTHONSTARTUP",
        "PYTHONOPTIMIZE",
        "PYTHONPYCACHEPREFIX",
        "VIRTUAL_ENV",
        "PYTHONVERBOSE",
    )
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(extra)
    return env


def _source(mark: str, pad: int = 0, mods: tuple[str, ...] = ()) -> str:
    """The module's text; ``long``/``huge`` (modifiers) add 300/3000 module-level statements
    (a pyc past the scan's 4 KiB tail read; one whose module code's last fields are too)."""
    lines = 3000 if "huge" in mods else 300 if "long" in mods else 0
    body = "".join(f"Y{i} = {i}\n" for i in range(lines))
    return f'MARK = "{mark}"\nX = {"1" * (pad + 1)}\n' + body


def _unprivileged_ok(python: str) -> bool:
    """``nobody`` can run ``python`` (every directory above it searchable by others)."""
    if _SETPRIV is None or os.geteuid() != 0:
        return False
    path = os.path.realpath(python)
    while True:
        try:
            if not os.stat(path).st_mode & stat.S_IXOTH:
                return False
        except OSError:
            return False
        parent = os.path.dirname(path)
        if parent == path:
            return True
        path = parent


def make_case(seed: int, index: int, python: str, rng: random.Random, modules: int) -> Case:
    """Choose a mode, a user, the prefix, ``modules`` (name, condition, modifiers) for one
    tree, and the zip file's modules."""
    mode = rng.choice(MODES)[0]
    case = Case(seed=seed, index=index, python=python, mode=mode)
    case.prefix = rng.random() < 0.25
    if _unprivileged_ok(python) and rng.random() < 0.5:
        case.user = "nobody"
    for i in range(modules):
        cond = rng.choice(CONDITIONS)
        r = rng.random()
        pkg = "" if r < 0.6 else "ons0." if r < 0.75 else f"opk{rng.randrange(2)}."
        mods = tuple(m for m in MODIFIERS if rng.random() < 0.12)
        if case.user == "root":
            mods = tuple(m for m in mods if m not in ("writable-dir", "sticky-dir", "unreadable"))
        if not case.prefix:
            mods = tuple(m for m in mods if m != "in-tree")
        if _CHATTR is None:
            mods = tuple(m for m in mods if "immutable" not in m and "append-only" not in m)
        case.modules[f"{pkg}om{i}"] = (cond, mods)
    if rng.random() < 0.3:
        for i in range(rng.randrange(1, 6)):
            case.zips[f"oz{i}"] = rng.choice(ZIP_CONDITIONS)
    return case


def _cache_dir(d: str, prefix: str | None) -> str:
    """``cache_from_source``'s directory for sources in ``d`` (absolute)."""
    if prefix is None:
        return os.path.join(d, "__pycache__")
    return os.path.join(prefix, d.lstrip(os.sep))


def _build(
    case: Case,
    *,
    root: str,
    outside: str,
    target: BytecodeTarget,
    rng: random.Random,
    prefix: str | None,
) -> tuple[list[str], str]:
    """Write the tree (and the zip file); returns the module names to import and the zip
    file's path (``""`` for none)."""
    tag = target.cache_tag
    mode = next(m for m in MODES if m[0] == case.mode)
    opt = int(mode[3].get("optimize", 0))  # type: ignore[call-overload]
    optsuf = f".opt-{opt}" if opt else ""
    for p in ("opk0", "opk1", "ons0"):
        os.makedirs(os.path.join(root, p))
        if p != "ons0":
            with open(os.path.join(root, p, "__init__.py"), "w") as f:
                f.write("")
    jobs: list[list[object]] = []
    post: list[tuple[str, str, str, str, tuple[str, ...]]] = []
    for name, (cond, mods) in case.modules.items():
        parts = name.split(".")
        d = os.path.join(root, *parts[:-1])
        stem = parts[-1]
        src = os.path.join(d, stem + ".py")
        cache = _cache_dir(d, prefix)
        os.makedirs(cache, exist_ok=True)
        pyc = os.path.join(cache, f"{stem}.{tag}{optsuf}.pyc")
        old = cond in (
            "stale-size",
            "stale-mtime",
            "same-size-mtime-kept",
            "syntax-error-same-size",
            "hash-checked-changed",
            "hash-unchecked-changed",
        )
        with open(src, "w") as f:
            f.write(_source("old" if old else "new", mods=mods))
        invalidation = "TIMESTAMP"
        cfile = pyc
        level = opt
        if cond.startswith("hash-checked"):
            invalidation = "CHECKED_HASH"
        elif cond.startswith("hash-unchecked"):
            invalidation = "UNCHECKED_HASH"
        elif cond == "other-opt":
            level = rng.choice([x for x in (0, 1, 2) if x != opt])
            cfile = os.path.join(
                cache, f"{stem}.{tag}" + (f".opt-{level}" if level else "") + ".pyc"
            )
        elif cond == "opt-0-name":
            cfile = os.path.join(cache, f"{stem}.{tag}.opt-0.pyc")
            level = 0
        elif cond == "other-tag":
            cfile = os.path.join(cache, f"{stem}.cpython-299.pyc")
        elif cond.startswith("legacy"):
            staged = os.path.join(outside, name + ".py")
            with open(staged, "w") as f:
                f.write(_source("new", mods=mods))
            os.unlink(src)
            cfile = os.path.join(d, stem + ".pyc")
            if cond == "legacy-dotted":
                cfile = os.path.join(d, f"{stem}.{tag}.pyc")
            jobs.append([staged, cfile, opt, "TIMESTAMP"])
            post.append((cond, src, cfile, d, mods))
            continue
        jobs.append([src, cfile, level, invalidation])
        if "in-tree" in mods:
            own = os.path.join(d, "__pycache__")
            os.makedirs(own, exist_ok=True)
            jobs.append([src, os.path.join(own, os.path.basename(cfile)), level, invalidation])
        post.append((cond, src, cfile, d, mods))
    zip_path, zip_jobs = "", _zip_jobs(case, outside, tag)
    subprocess.run(
        [case.python, "-c", _COMPILE],
        input=json.dumps(jobs + zip_jobs).encode(),
        check=True,
        env=_env({}),
        capture_output=True,
    )
    dir_mods: dict[str, set[str]] = {}
    for cond, src, cfile, d, mods in post:
        _alter(cond, src, cfile, d, mods, outside=outside, target=target, rng=rng)
        dir_mods.setdefault(os.path.dirname(cfile), set()).update(_DIR_MODIFIERS & set(mods))
    if case.zips:
        zip_path = os.path.join(root, "oz.zip")
        _write_zip(case, zip_path, outside, tag, rng)
    for d, dmods in dir_mods.items():
        if "writable-dir" in dmods:
            os.chown(d, _NOBODY, _NOBODY)
        if "sticky-dir" in dmods:
            os.chmod(d, 0o1777)
        elif "rodir" in dmods:
            os.chmod(d, 0o555)
        if "append-only-dir" in dmods:
            _chattr("+a", d)
        if "immutable-dir" in dmods:
            _chattr("+i", d)
    names = sorted({n.split(".")[0] for n in case.modules} | set(case.modules) | set(case.zips))
    return names, zip_path


def _alter(
    cond: str,
    src: str,
    cfile: str,
    d: str,
    mods: tuple[str, ...],
    *,
    outside: str,
    target: BytecodeTarget,
    rng: random.Random,
) -> None:
    """Put one module's files into its condition, then apply its file modifiers."""
    stem = os.path.basename(src)[:-3]
    if cond in ("stale-size", "hash-checked-changed", "hash-unchecked-changed"):
        with open(src, "w") as f:
            f.write(_source("new", pad=1 + rng.randrange(3), mods=mods))
    elif cond in ("same-size-mtime-kept", "syntax-error-same-size", "stale-mtime"):
        sst = os.stat(src)
        text = _source("new" if cond != "syntax-error-same-size" else "ne(", mods=mods)
        with open(src, "w") as f:
            f.write(text)
        shift = 5_000_000_000 if cond == "stale-mtime" else 0
        os.utime(src, ns=(sst.st_atime_ns, sst.st_mtime_ns + shift))
    elif cond in ("bad-magic", "legacy-bad-magic"):
        _patch(cfile, 0, b"\x00\x00")
    elif cond in ("short-header", "legacy-short"):
        _cut(cfile, 10)
    elif cond == "unknown-flags":
        _patch(cfile, 4, b"\x04")
    elif cond in ("truncated-body", "legacy-truncated"):
        # Any length from the bare header to one byte short of the whole file.
        _cut(cfile, rng.randrange(16, os.path.getsize(cfile)))
    elif cond == "non-code-body":
        with open(cfile, "rb") as f:
            head = f.read(16)
        with open(cfile, "wb") as f:
            f.write(head + b"\xe9\x2a\x00\x00\x00")
    elif cond == "orphaned":
        os.unlink(src)
    elif cond == "package-shadows":
        os.makedirs(os.path.join(d, stem))
        with open(os.path.join(d, stem, "__init__.py"), "w") as f:
            f.write(_source("pkg"))
    elif cond == "namespace-beside":
        os.makedirs(os.path.join(d, stem))
        with open(os.path.join(d, stem, "data.txt"), "w") as f:
            f.write("not a module\n")
    elif cond == "extension-shadows":
        suffix = target.extension_suffixes[0] if target.extension_suffixes else ".so"
        with open(os.path.join(d, stem + suffix), "wb") as f:
            f.write(b"not an ELF file\n")
    elif cond == "legacy-dangling-source":
        os.symlink(os.path.join(outside, "missing.py"), src)
    elif cond == "legacy-beside-source":
        with open(src, "w") as f:
            f.write(_source("new", mods=mods))
    if "source-symlink" in mods and os.path.isfile(src) and not os.path.islink(src):
        moved = os.path.join(outside, f"{len(os.listdir(outside))}.py")
        os.rename(src, moved)  # keeps the mtime
        os.symlink(moved, src)
    if "symlink" in mods:
        moved = os.path.join(outside, f"{len(os.listdir(outside))}.bin")
        shutil.move(cfile, moved)
        os.symlink(moved, cfile)
    if "readonly" in mods:
        os.chmod(cfile, 0o444)
    if "chmod" in mods:
        os.chmod(cfile, os.stat(cfile).st_mode)  # ctime moves, mtime kept
    if "unreadable" in mods:
        os.chmod(cfile, 0)  # follows a symlink: the file it points to
    if "append-only" in mods and not os.path.islink(cfile):
        _chattr("+a", cfile)
    if "immutable" in mods and not os.path.islink(cfile):
        _chattr("+i", cfile)


def _chattr(flag: str, path: str) -> None:
    assert _CHATTR is not None
    subprocess.run([_CHATTR, flag, path], check=True, capture_output=True)


def _zip_jobs(case: Case, outside: str, tag: str) -> list[list[object]]:
    """Compile jobs for the zip file's modules: staged under ``outside/zip``."""
    if not case.zips:
        return []
    base = os.path.join(outside, "zip")
    os.makedirs(base)
    jobs: list[list[object]] = []
    for name, cond in case.zips.items():
        old = cond in ("zip-stale", "zip-same-size", "zip-hash-checked-changed")
        old = old or cond == "zip-hash-unchecked-changed"
        src = os.path.join(base, name + ".py")
        with open(src, "w") as f:
            f.write(_source("old" if old else "new"))
        mode = "TIMESTAMP"
        if cond == "zip-hash-checked-changed":
            mode = "CHECKED_HASH"
        elif cond == "zip-hash-unchecked-changed":
            mode = "UNCHECKED_HASH"
        jobs.append([src, src + "c", 0, mode])
    return jobs


def _write_zip(case: Case, zip_path: str, outside: str, tag: str, rng: random.Random) -> None:
    """The zip file: per module a source member and/or a pyc member, put in its condition."""
    base = os.path.join(outside, "zip")
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, cond in case.zips.items():
            src = os.path.join(base, name + ".py")
            with open(src + "c", "rb") as f:
                pyc = f.read()
            if cond in ("zip-stale", "zip-hash-checked-changed", "zip-hash-unchecked-changed"):
                with open(src, "w") as f:
                    f.write(_source("new", pad=1 + rng.randrange(3)))
            elif cond == "zip-same-size":
                sst = os.stat(src)
                with open(src, "w") as f:
                    f.write(_source("new"))
                os.utime(src, ns=(sst.st_atime_ns, sst.st_mtime_ns))
            elif cond in ("zip-bad-magic", "zip-bad-magic-alone"):
                pyc = b"\x00\x00" + pyc[2:]
            elif cond == "zip-short":
                pyc = pyc[:10]
            elif cond == "zip-truncated":
                pyc = pyc[: rng.randrange(16, len(pyc))]
            member = name
            if cond == "zip-package":
                member = name + "/__init__"
            if cond not in ("zip-sourceless", "zip-bad-magic-alone"):
                z.write(src, member + ".py")
            info = zipfile.ZipInfo.from_file(src, member + ".pyc")
            info.compress_type = zipfile.ZIP_DEFLATED
            if cond == "zip-pycache":
                info.filename = f"__pycache__/{name}.{tag}.pyc"
            z.writestr(info, pyc)


def _patch(path: str, offset: int, data: bytes) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def _cut(path: str, size: int) -> None:
    with open(path, "r+b") as f:
        f.truncate(size)


def _pycs(root: str) -> dict[str, tuple[int, int, bytes]]:
    out = {}
    for d, _dirs, files in os.walk(root):
        for n in files:
            if n.endswith(".pyc"):
                p = os.path.join(d, n)
                st = os.lstat(p)
                try:
                    with open(p, "rb") as f:
                        data = f.read()
                except OSError:
                    data = b""
                out[p] = (st.st_ino, st.st_mtime_ns, data)
    return out


def _owner(path: str, root: str, prefix: str | None) -> str:
    if prefix is not None and path.startswith(prefix + os.sep):
        path = os.sep + os.path.relpath(path, prefix)
    rel = os.path.relpath(path, root).split(os.sep)
    if "__pycache__" in rel:
        rel.remove("__pycache__")
    return ".".join([*rel[:-1], rel[-1].split(".")[0]])


def _as_user(case: Case) -> list[str]:
    if case.user == "root":
        return []
    assert _SETPRIV is not None
    return [_SETPRIV, f"--reuid={_NOBODY}", f"--regid={_NOBODY}", "--clear-groups"]


def _scan(case: Case, root: str, target: BytecodeTarget) -> dict[str, C]:
    """Every file's category from :func:`scan_bytecode`: here, or as ``case.user``."""
    scan_root = ScanRoot(path=root, location=LocationClass.PROJECT)
    verdicts: dict[str, C] = {}
    if case.user == "root":
        summary = scan_bytecode(
            [scan_root], target, on_file=lambda cat, path, st: verdicts.__setitem__(path, cat)
        )
        for g in summary.groups:
            for p in g.paths:
                assert verdicts.get(p) is g.category, (p, g.category, verdicts.get(p))
        return verdicts
    facts = asdict(target)
    facts["magic_number"] = target.magic_number.hex()
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir, "src")
    proc = subprocess.run(
        [*_as_user(case), case.python, "-c", _SCAN_AS, root],
        input=json.dumps(facts).encode(),
        env={**_env({}), "PYTHONPATH": os.path.abspath(src)},
        capture_output=True,
        timeout=120,
        check=True,
    )
    return {p: C(v) for p, v in json.loads(proc.stdout.decode().splitlines()[-1]).items()}


def _unlock(tmp: str) -> None:
    """Undo ``chattr +i`` and read-only modes so that the tree can be removed."""
    if _CHATTR is not None:
        subprocess.run([_CHATTR, "-R", "-ia", tmp], capture_output=True, check=False)
    for d, _dirs, _files in os.walk(tmp):
        os.chmod(d, 0o755)


def run_case(
    case: Case,
    base: BytecodeTarget,
    rng: random.Random,
    coverage: dict[tuple[str, str], int] | None = None,
) -> tuple[int, list[Disagreement]]:
    """Build, scan, import; returns (pycs compared, disagreements). ``coverage`` (if given)
    counts (condition or modifier, CPython's verdict) pairs: what the cases exercised."""
    mode = next(m for m in MODES if m[0] == case.mode)
    target = replace(base, **mode[3])  # type: ignore[arg-type]
    made = tempfile.mkdtemp(prefix="oracle-")
    keep = False
    try:
        tmp = os.path.realpath(made)
        os.chmod(tmp, 0o755)
        root, outside = os.path.join(tmp, "t"), os.path.join(tmp, "outside")
        os.makedirs(root)
        os.makedirs(outside)
        prefix = os.path.join(root, "pfx") if case.prefix else None
        env = dict(mode[2])
        if prefix is not None:
            os.makedirs(prefix)
            env["PYTHONPYCACHEPREFIX"] = prefix
            target = replace(target, pycache_prefix=prefix)
        names, zip_path = _build(
            case, root=root, outside=outside, target=target, rng=rng, prefix=prefix
        )
        verdicts = _scan(case, root, target)
        before = _pycs(root)
        proc = subprocess.run(
            [*_as_user(case), case.python, *mode[1], "-v", "-c", _IMPORT, root, zip_path, *names],
            cwd=tmp,
            env=_env(env),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        keep = os.environ.get("ORACLE_KEEP") == str(case.index)
        if keep:  # debugging one case: its tree and the target's -v output stay
            with open(os.path.join(tmp, "stderr.txt"), "w") as f:
                f.write(proc.stderr)
            print(f"kept {tmp}", file=sys.stderr)
        line = next((x for x in proc.stdout.splitlines() if x.startswith("ORACLE ")), None)
        if line is None:
            raise RuntimeError(f"the target printed no result: {proc.stderr[-2000:]}")
        recs = json.loads(line[len("ORACLE ") :])
        loaded, matched = set(), set()
        for x in proc.stderr.splitlines():
            if x.startswith("# code object from "):
                loaded.add(x[len("# code object from ") :].strip("'"))
            elif x.startswith("# ") and " matches " in x:
                matched.add(x[2:].split(" matches ")[0])
        after = _pycs(root)
        considered: dict[str, tuple[str, str]] = {}
        for name, rec in recs.items():
            origin, cached = rec.get("origin"), rec.get("cached")
            if isinstance(origin, str) and origin.endswith(".pyc"):
                considered[origin] = ("legacy", name)
            elif isinstance(cached, str) and isinstance(origin, str) and origin.endswith(".py"):
                considered[cached] = ("cache", name)
        out = []
        for p in before:
            scan = verdicts.get(p)
            kind, name = considered.get(p, ("never", _owner(p, root, prefix)))
            rec = recs.get(name, {})
            err, mark = rec.get("error"), rec.get("mark")
            if kind == "never":
                want, ok = "never read", scan in _NEVER_READ
            elif kind == "legacy":
                want = "sourceless" if p in loaded else "broken"
                ok = scan is (C.SOURCELESS if p in loaded else C.BROKEN)
            elif p in loaded:
                exp = C.STALE_ACCEPTED if mark == "old" else C.FRESH
                want, ok = exp.value, scan is exp
            elif p in matched and err:
                want, ok = "broken", scan is C.BROKEN
            else:
                exp = C.STALE if before[p] != after.get(p) else C.STALE_NOT_REWRITTEN
                want, ok = exp.value, scan is exp
            if coverage is not None:
                cond, mods = case.modules.get(name, ("?", ()))
                for k in (cond, *mods, f"user={case.user}", f"prefix={case.prefix}"):
                    coverage[(k, want)] = coverage.get((k, want), 0) + 1
            if not ok:
                detail = f"mark={mark} error={err} loaded={p in loaded} matched={p in matched}"
                out.append(Disagreement(case, p, name, scan.value if scan else None, want, detail))
        compared = len(before)
        if zip_path:
            n, dis = _compare_zip(case, zip_path, target, recs, coverage)
            compared += n
            out.extend(dis)
        return compared, out
    finally:
        if not keep:
            _unlock(made)
            shutil.rmtree(made, ignore_errors=True)


def _compare_zip(
    case: Case,
    zip_path: str,
    target: BytecodeTarget,
    recs: dict[str, dict[str, object]],
    coverage: dict[tuple[str, str], int] | None,
) -> tuple[int, list[Disagreement]]:
    """Each pyc member's verdict (:func:`judge_zip_archive`) against what zipimport ran."""
    out = []
    judged = judge_zip_archive(zip_path, target)
    with zipfile.ZipFile(zip_path) as z:
        members = set(z.namelist())
    for path, scan, _size in judged:
        member = path[len(zip_path) + 1 :]
        if member.startswith("__pycache__/"):
            name = member.split("/")[1].split(".")[0]
            tried = False
        else:
            name = member.split("/")[0] if "/" in member else member[:-4]
            tried = True
        rec = recs.get(name, {})
        err, mark, file = rec.get("error"), rec.get("mark"), rec.get("file")
        if not tried:
            want, ok = "never read", scan in _NEVER_READ
        elif err:
            want, ok = "broken", scan is C.BROKEN
        elif file == path:
            exp = C.STALE_ACCEPTED if mark == "old" else C.FRESH
            if mark == "new" and member[:-1] not in members:
                exp = C.SOURCELESS
            want, ok = exp.value, scan is exp
        else:
            want, ok = "stale-not-rewritten", scan is C.STALE_NOT_REWRITTEN
        if coverage is not None:
            k = (case.zips.get(name, "?"), want)
            coverage[k] = coverage.get(k, 0) + 1
        if not ok:
            detail = f"mark={mark} error={err} file={file}"
            out.append(Disagreement(case, path, name, scan.value, want, detail))
    return len(judged), out


def default_pythons() -> list[str]:
    """The pyenv 3.8-3.13 interpreters and Debian's ``/usr/bin/python3`` that exist."""
    base = os.path.expanduser(os.path.join(os.environ.get("PYENV_ROOT", "~/.pyenv"), "versions"))
    found = []
    for minor in range(8, 14):
        try:
            names = sorted(n for n in os.listdir(base) if n.startswith(f"3.{minor}."))
        except OSError:
            names = []
        exe = os.path.join(base, names[-1], "bin", "python") if names else ""
        if exe and os.path.exists(exe):
            found.append(exe)
    if os.path.exists("/usr/bin/python3"):
        found.append("/usr/bin/python3")
    return found
