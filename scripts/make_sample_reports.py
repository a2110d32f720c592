"""Regenerate ``sample_reports/`` from real environments.

Writes JSON and Markdown reports (redacted, as users paste them) of: a fresh venv, Debian's
system Python (``/usr/bin/python3``, skipped where absent), and a venv with planted problems (a dependency conflict, a missing
dependency, an editable install whose project is gone, a broken ``.dist-info``, stale and
orphaned bytecode, a duplicate install on PYTHONPATH); and the diff of the first two. Run after
any change to the report format:

    .venv/bin/python scripts/make_sample_reports.py
"""

from __future__ import annotations

import json
import os
import py_compile
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "sample_reports"


def _run(
    *cmd: str | Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    ok: tuple[int, ...] = (0,),
) -> str:
    proc = subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, env=env, cwd=cwd, check=False
    )
    if proc.returncode not in ok:
        raise subprocess.CalledProcessError(proc.returncode, proc.args, proc.stdout, proc.stderr)
    return proc.stdout


def _wheel(directory: Path, name: str, version: str, requires: tuple[str, ...] = ()) -> Path:
    """A minimal wheel: one module, METADATA, WHEEL, RECORD (hashes omitted: pip accepts that
    for files it installs only when RECORD lists no hash; these are listed without)."""
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}.py": f"VERSION = {version!r}\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        + "".join(f"Requires-Dist: {r}\n" for r in requires),
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: sample\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files[f"{info}/RECORD"] = "".join(f"{p},,\n" for p in [*files, f"{info}/RECORD"])
    path = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for arc, text in files.items():
            zf.writestr(arc, text)
    return path


def _report(python: Path | str, name: str, env: dict[str, str], cwd: Path) -> None:
    for fmt, ext in (("json", "json"), ("markdown", "md")):
        out = OUT / f"{name}.{ext}"
        _run(
            sys.executable,
            "-I",
            "-m",
            "pyenvdoctor",
            "report",
            "--python",
            python,
            "--format",
            fmt,
            "--output",
            out,
            env=env,
            cwd=cwd,
        )
        print(f"wrote {out}", file=sys.stderr)


def _planted(root: Path) -> tuple[Path, dict[str, str]]:
    venv = root / "planted-venv"
    _run(sys.executable, "-m", "venv", venv)
    py = venv / "bin" / "python"
    sp = Path(_run(py, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))").strip())
    wheels = root / "wheels"
    wheels.mkdir()
    pip = (py, "-m", "pip", "install", "-q", "--no-index", "--no-deps")
    _run(
        *pip,
        _wheel(wheels, "alpha", "1.0", ("beta>=2.0", "gamma")),
        _wheel(wheels, "beta", "1.0"),
        _wheel(wheels, "gone_editable", "0.1"),
    )
    info = sp / "gone_editable-0.1.dist-info"
    (info / "direct_url.json").write_text(
        json.dumps({"url": (root / "deleted-checkout").as_uri(), "dir_info": {"editable": True}})
    )
    (sp / "broken-9.9.dist-info").mkdir()
    extra = root / "old-checkout"
    _run(*pip, "--target", extra, _wheel(wheels, "beta", "0.9"))
    project = root / "project"
    (project / "pkg").mkdir(parents=True)
    (project / "pyproject.toml").write_text('[project]\nname = "sample"\nversion = "0"\n')
    (project / "pkg" / "__init__.py").write_text("")
    (project / "pkg" / "mod.py").write_text("X = 1\n")
    py_compile.compile(str(project / "pkg" / "mod.py"))
    (project / "pkg" / "mod.py").write_text("X = 22\n")  # now stale
    (project / "pkg" / "old.py").write_text("Y = 1\n")
    py_compile.compile(str(project / "pkg" / "old.py"))
    (project / "pkg" / "old.py").unlink()  # now orphaned
    edited = project / "pkg" / "edited.py"
    edited.write_text("VALUE = 'old'\n")
    py_compile.compile(str(edited))
    st = edited.stat()
    edited.write_text("VALUE = 'new'\n")  # same size ...
    os.utime(edited, ns=(st.st_atime_ns, st.st_mtime_ns))  # ... mtime restored: stale-accepted
    env = {**_user_env(), "PYTHONPATH": str(extra)}
    return py, env


def _user_env() -> dict[str, str]:
    """This environment without what would not be on a typical developer's machine: an active
    venv, PYTHONPATH, and this build machine's PYTHONDONTWRITEBYTECODE=1."""
    drop = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONDONTWRITEBYTECODE")
    return {k: v for k, v in os.environ.items() if k not in drop}


def main() -> int:
    """Write every sample report; return 0."""
    OUT.mkdir(exist_ok=True)
    base_env = _user_env()
    # Reproducible paths: build everything under one fixed directory.
    root = Path(tempfile.gettempdir()) / "pyenvdoctor-samples"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    try:
        _run(sys.executable, "-m", "venv", root / "fresh-venv")
        _report(root / "fresh-venv" / "bin" / "python", "fresh-venv", base_env, root)
        if Path("/usr/bin/python3").exists():
            _report("/usr/bin/python3", "debian-system", base_env, root)
        py, env = _planted(root)
        _report(py, "planted-problems", env, root / "project")
        if (OUT / "debian-system.json").exists():  # "works on my machine": two real environments
            for fmt, ext in (("markdown", "md"), ("json", "json")):
                out = OUT / f"diff-fresh-venv-vs-debian-system.{ext}"
                _run(
                    sys.executable,
                    "-I",
                    "-m",
                    "pyenvdoctor",
                    "diff",
                    OUT / "fresh-venv.json",
                    OUT / "debian-system.json",
                    "--format",
                    fmt,
                    "--output",
                    out,
                    env=base_env,
                    ok=(0, 1),  # diff(1)'s convention: 1 when the reports differ
                )
                print(f"wrote {out}", file=sys.stderr)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
