"""Seeded random trees of modules and bytecode, the scan's verdicts, and CPython's (issue 13).

A case is one tree of ``om<i>`` modules (top level or in a regular package ``opk<j>``), each in
one condition (:data:`CONDITIONS`), run in one mode (:data:`MODES`: plain, ``-B``,
PYTHONDONTWRITEBYTECODE, ``-O``, ``-OO``, ``--check-hash-based-pycs always|never``). Every
source sets ``MARK = "new"``; a pyc compiled from the old source carries ``MARK = "old"``.

CPython's verdict per pyc (``Lib/importlib/_bootstrap_external.py``): the pyc it considers
for a module is ``find_spec(name).cached`` (``cache_from_source`` of the source that
``FileFinder`` picked) or, for ``SourcelessFileLoader``, ``spec.origin``; any other pyc is
never read. ``-v`` prints ``# <pyc> matches <source>`` when the header was accepted
(``SourceLoader.get_code``) and ``# code object from '<pyc>'`` when its code was loaded
(``_compile_bytecode``). Loaded with ``MARK == "old"``: stale-accepted; ``"new"``: fresh;
accepted but the import failed: broken; rejected (not matched): stale when the file changed,
else stale-not-rewritten. Not modelled here: ``PYTHONPYCACHEPREFIX``, zip files, immutable
files (``chattr``), unwritable directories (the tests run as root, which writes anyway), real
extension modules (a fake ``.so`` that fails to load is used).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field, replace

from pyenvdoctor.collect.bytecode import BytecodeTarget, ScanRoot, scan_bytecode
from pyenvdoctor.collect.interpreter import build_interpreter, run_probe
from pyenvdoctor.model import BytecodeCategory as C
from pyenvdoctor.model import LocationClass

__all__ = [
    "CONDITIONS",
    "MODES",
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
    "extension-shadows",
    "legacy",
    "legacy-bad-magic",
    "legacy-short",
    "legacy-truncated",
    "legacy-dotted",
    "legacy-dangling-source",
    "legacy-beside-source",
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
out = {}
for name in sys.argv[2:]:
    rec = {}
    try:
        spec = importlib.util.find_spec(name)
        if spec is not None:
            rec["origin"] = spec.origin
            rec["cached"] = spec.cached
    except BaseException as exc:
        rec["find_error"] = type(exc).__name__
    try:
        rec["mark"] = getattr(importlib.import_module(name), "MARK", None)
    except BaseException as exc:
        rec["error"] = type(exc).__name__
    out[name] = rec
print("ORACLE " + json.dumps(out))
"""

_NEVER_READ = frozenset({C.IGNORED, C.SHADOWED, C.ORPHANED, C.FOREIGN})


@dataclass
class Case:
    """One generated tree: ``modules`` maps module name to (condition, modifiers)."""

    seed: int
    index: int
    python: str
    mode: str
    modules: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)


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
        cond = self.case.modules.get(self.module)
        return (
            f"seed={self.case.seed} case={self.case.index} python={self.case.python} "
            f"mode={self.case.mode} module={self.module} condition={cond} path={self.path}: "
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


def _source(mark: str, pad: int = 0) -> str:
    return f'MARK = "{mark}"\nX = {"1" * (pad + 1)}\n'


def make_case(seed: int, index: int, python: str, rng: random.Random, modules: int) -> Case:
    """Choose a mode and ``modules`` (name, condition, modifiers) for one tree."""
    mode = rng.choice(MODES)[0]
    case = Case(seed=seed, index=index, python=python, mode=mode)
    for i in range(modules):
        cond = rng.choice(CONDITIONS)
        pkg = f"opk{rng.randrange(2)}." if rng.random() < 0.3 else ""
        mods = tuple(m for m in ("symlink", "readonly", "chmod") if rng.random() < 0.15)
        case.modules[f"{pkg}om{i}"] = (cond, mods)
    return case


def _build(
    case: Case, root: str, outside: str, target: BytecodeTarget, rng: random.Random
) -> list[str]:
    """Write the tree; returns the module names to import."""
    tag = target.cache_tag
    mode = next(m for m in MODES if m[0] == case.mode)
    opt = int(mode[3].get("optimize", 0))  # type: ignore[call-overload]
    optsuf = f".opt-{opt}" if opt else ""
    for p in ("opk0", "opk1"):
        os.makedirs(os.path.join(root, p))
        with open(os.path.join(root, p, "__init__.py"), "w") as f:
            f.write("")
    jobs: list[list[object]] = []
    post: list[tuple[str, str, str | None, str, tuple[str, ...]]] = []
    for name, (cond, mods) in case.modules.items():
        parts = name.split(".")
        d = os.path.join(root, *parts[:-1])
        stem = parts[-1]
        src = os.path.join(d, stem + ".py")
        cache = os.path.join(d, "__pycache__")
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
            f.write(_source("old" if old else "new"))
        invalidation = "TIMESTAMP"
        cfile: str | None = pyc
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
                f.write(_source("new"))
            os.unlink(src)
            cfile = os.path.join(d, stem + ".pyc")
            if cond == "legacy-dotted":
                cfile = os.path.join(d, f"{stem}.{tag}.pyc")
            jobs.append([staged, cfile, opt, "TIMESTAMP"])
            post.append((cond, src, cfile, d, mods))
            continue
        jobs.append([src, cfile, level, invalidation])
        post.append((cond, src, cfile, d, mods))
    subprocess.run(
        [case.python, "-c", _COMPILE],
        input=json.dumps(jobs).encode(),
        check=True,
        env=_env({}),
        capture_output=True,
    )
    for cond, src, cfile, d, mods in post:
        assert cfile is not None
        st = os.stat(cfile)
        stem = os.path.basename(src)[:-3]
        if cond in ("stale-size", "hash-checked-changed", "hash-unchecked-changed"):
            with open(src, "w") as f:
                f.write(_source("new", pad=1 + rng.randrange(3)))
        elif cond in ("same-size-mtime-kept", "syntax-error-same-size", "stale-mtime"):
            sst = os.stat(src)
            text = _source("new") if cond != "syntax-error-same-size" else _source("ne(")
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
            _cut(cfile, 16 + 5)
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
        elif cond == "extension-shadows":
            suffix = target.extension_suffixes[0] if target.extension_suffixes else ".so"
            with open(os.path.join(d, stem + suffix), "wb") as f:
                f.write(b"not an ELF file\n")
        elif cond == "legacy-dangling-source":
            os.symlink(os.path.join(outside, "missing.py"), src)
        elif cond == "legacy-beside-source":
            with open(src, "w") as f:
                f.write(_source("new"))
        if "symlink" in mods:
            moved = os.path.join(outside, f"{len(os.listdir(outside))}.bin")
            shutil.move(cfile, moved)
            os.symlink(moved, cfile)
        if "readonly" in mods:
            os.chmod(cfile, 0o444)
        if "chmod" in mods:
            os.chmod(cfile, os.stat(cfile).st_mode)  # ctime moves, mtime kept
        del st
    return sorted({n.split(".")[0] for n in case.modules} | set(case.modules))


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


def _owner(path: str, root: str) -> str:
    rel = os.path.relpath(path, root).split(os.sep)
    if "__pycache__" in rel:
        rel.remove("__pycache__")
    return ".".join([*rel[:-1], rel[-1].split(".")[0]])


def run_case(
    case: Case, base: BytecodeTarget, rng: random.Random
) -> tuple[int, list[Disagreement]]:
    """Build, scan, import; returns (pycs compared, disagreements)."""
    mode = next(m for m in MODES if m[0] == case.mode)
    target = replace(base, **mode[3])  # type: ignore[arg-type]
    with tempfile.TemporaryDirectory(prefix="oracle-") as made:
        tmp = os.path.realpath(made)
        root, outside = os.path.join(tmp, "t"), os.path.join(tmp, "outside")
        os.makedirs(root)
        os.makedirs(outside)
        names = _build(case, root, outside, target, rng)
        verdicts: dict[str, C] = {}
        summary = scan_bytecode(
            [ScanRoot(path=root, location=LocationClass.PROJECT)],
            target,
            on_file=lambda cat, path, st: verdicts.__setitem__(path, cat),
        )
        for g in summary.groups:
            for p in g.paths:
                assert verdicts.get(p) is g.category, (p, g.category, verdicts.get(p))
        before = _pycs(root)
        proc = subprocess.run(
            [case.python, *mode[1], "-v", "-c", _IMPORT, root, *names],
            cwd=tmp,
            env=_env(mode[2]),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
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
            kind, name = considered.get(p, ("never", _owner(p, root)))
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
            if not ok:
                detail = f"mark={mark} error={err} loaded={p in loaded} matched={p in matched}"
                out.append(Disagreement(case, p, name, scan.value if scan else None, want, detail))
        return len(before), out


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
