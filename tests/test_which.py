"""``pyenvdoctor which`` on real interpreters and real installs: the file that really loads,
what it shadows, who owns it, and the bytecode verdict, without running the module's code."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from conftest import clean_env, cli, install_flat_editable, make_venv, make_wheel, pip_install, run


def which(
    name: str, python: Path | str, cwd: Path, env: dict[str, str] | None = None, check: bool = True
) -> dict[str, Any]:
    proc = cli(
        "which",
        name,
        "--python",
        python,
        "--format",
        "json",
        env=env or clean_env(),
        cwd=cwd,
        check=check,
    )
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def loaded_file(python: Path | str, name: str, cwd: Path) -> str:
    """What the interpreter really imports (this runs the module: only for the check)."""
    return run([python, "-c", f"import {name}; print({name}.__file__)"], cwd=cwd).stdout.strip()


def test_local_file_shadowing_the_stdlib(tmp_path: Path) -> None:
    (tmp_path / "random.py").write_text("raise SystemExit('the module ran')\n")
    assert run([sys.executable, "-c", "import random"], cwd=tmp_path, check=False).returncode != 0
    data = which("random", sys.executable, tmp_path)  # and which did not run it
    (level,) = data["levels"]
    assert level["origin"] == str(tmp_path / "random.py")
    winners = [c for c in level["candidates"] if c["wins"]]
    assert [(c["origin"], c["location"]) for c in winners] == [
        (str(tmp_path / "random.py"), "script-dir")
    ]
    shadowed = [c for c in level["candidates"] if not c["wins"]]
    assert shadowed and shadowed[0]["location"] == "stdlib"


def test_installed_module_owner_and_bytecode(tmp_path: Path) -> None:
    py = make_venv(tmp_path / "venv")
    wheel = make_wheel(
        tmp_path,
        "owned-dist",
        "2.5",
        files={"ownedpkg/__init__.py": "", "ownedpkg/sub.py": "VALUE = 1\n"},
    )
    pip_install(py, wheel)
    env = clean_env()
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    run([py, "-c", "import ownedpkg.sub"], env=env, cwd=tmp_path)  # writes its bytecode
    data = which("ownedpkg.sub", py, tmp_path)
    assert data["found"] is True
    assert [lv["name"] for lv in data["levels"]] == ["ownedpkg", "ownedpkg.sub"]
    assert data["levels"][-1]["origin"] == loaded_file(py, "ownedpkg.sub", tmp_path)
    assert (data["owner"]["name"], data["owner"]["version"]) == ("owned-dist", "2.5")
    assert data["bytecode"] == "fresh"
    sub = Path(data["levels"][-1]["origin"])
    st = sub.stat()
    sub.write_text("VALUE = 2\n")  # same size, mtime restored: the old bytecode runs
    os.utime(sub, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (
        run(
            [py, "-c", "import ownedpkg.sub as s; print(s.VALUE)"], env=env, cwd=tmp_path
        ).stdout.strip()
        == "1"
    )
    assert which("ownedpkg.sub", py, tmp_path)["bytecode"] == "stale-accepted"


def test_submodule_resolved_without_running_the_parent(tmp_path: Path) -> None:
    pkg = tmp_path / "boom"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("raise SystemExit('parent ran')\n")
    (pkg / "child.py").write_text("")
    data = which("boom.child", sys.executable, tmp_path)
    assert data["found"] is True and data["levels"][-1]["origin"] == str(pkg / "child.py")


def test_not_found_and_not_a_package(tmp_path: Path) -> None:
    proc = cli(
        "which",
        "no_such_module_here",
        "--python",
        sys.executable,
        env=clean_env(),
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 8 and "fails: not found" in proc.stdout
    data = which("json.decoder.x", sys.executable, tmp_path, check=False)
    assert data["found"] is False
    assert any("not a package" in n for n in data["notes"])


def test_namespace_leftover_hides_an_editable_finder(tmp_path: Path) -> None:
    """A directory left in the working directory (only __pycache__ after a move) is a PEP 420
    namespace portion; PathFinder returns it before the editable meta path finder is asked."""
    py = make_venv(tmp_path / "venv")
    proj = tmp_path / "proj"
    install_flat_editable(py, proj)
    work = tmp_path / "work"
    (work / "edpkg" / "__pycache__").mkdir(parents=True)
    assert (
        run(
            [py, "-c", "import edpkg; print(getattr(edpkg, 'VALUE', 'namespace'))"], cwd=work
        ).stdout.strip()
        == "namespace"
    )
    data = which("edpkg", py, work)
    level = data["levels"][0]
    assert level["kind"] == "namespace" and level["finder"].endswith("PathFinder")
    assert level["candidates"][0]["location"] == "script-dir"
    assert which("edpkg", py, tmp_path)["levels"][0]["finder"].startswith("__editable__")


def test_every_format(tmp_path: Path) -> None:
    for fmt in ("text", "markdown", "json"):
        out = cli(
            "which",
            "json",
            "--python",
            sys.executable,
            "--format",
            fmt,
            env=clean_env(),
            cwd=tmp_path,
        ).stdout
        assert "json" in out and "PathFinder" in out


def test_which_json_has_a_kind_and_render_reads_it(tmp_path: Path) -> None:
    (tmp_path / "random.py").write_text("A = 1\n")
    env = clean_env()
    args = ("which", "random", "--python", sys.executable, "--no-redact", "--format")
    saved = tmp_path / "which.json"
    saved.write_text(cli(*args, "json", env=env, cwd=tmp_path).stdout)
    assert json.loads(saved.read_text())["kind"] == "which"
    rendered = cli("render", saved, "--format", "text", env=env, cwd=tmp_path).stdout
    assert rendered.splitlines()[0] == f"import random loads {tmp_path / 'random.py'}"
    assert rendered == cli(*args, "text", env=env, cwd=tmp_path).stdout
