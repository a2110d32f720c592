"""Legacy install debris, reproduced as setuptools/easy_install wrote it: the ``__egginsert``
trick, dangling ``.egg-link`` files, bytecode-only leftover directories."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from conftest import clean_env, fix_json, make_venv, report_json, run, site_packages

EGGINSERT = (
    "import sys; sys.__plen = len(sys.path)\n"
    "./eggy-1.0-py3.egg\n"
    "import sys; new = sys.path[sys.__plen:]; del sys.path[sys.__plen:]; "
    "p = getattr(sys, '__egginsert', 0); sys.path[p:p] = new; sys.__egginsert = p + len(new)\n"
)


def codes(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["code"]: f for f in report["findings"]}


def test_egginsert_puts_an_egg_ahead_of_the_stdlib(tmp_path: Path) -> None:
    py = make_venv(tmp_path / "venv", sys.executable, "--without-pip")
    sp = site_packages(py)
    (sp / "eggy-1.0-py3.egg").mkdir()
    (sp / "easy-install.pth").write_text(EGGINSERT)
    order = run([py, "-c", "import sys; print('\\n'.join(sys.path))"], cwd=tmp_path).stdout.split(
        "\n"
    )
    egg = order.index(str(sp / "eggy-1.0-py3.egg"))
    stdlib = next(i for i, p in enumerate(order) if p.endswith("lib-dynload"))
    assert egg < stdlib  # the egg really comes before the standard library
    f = codes(report_json(py, clean_env(), tmp_path))["pth-egginsert"]
    assert f["severity"] == "warning" and f["evidence"][0] == str(sp / "easy-install.pth")


def test_dangling_egg_link_is_found_and_removed(tmp_path: Path) -> None:
    py = make_venv(tmp_path / "venv")
    sp = site_packages(py)
    link = sp / "Gone-Project.egg-link"
    link.write_text(f"{tmp_path / 'deleted-checkout'}\n.\n")
    keep = sp / "keep.pth"
    keep.write_text("# a comment\n")
    f = codes(report_json(py, clean_env(), tmp_path))["egg-link-dangling"]
    assert f["evidence"] == [str(link), str(tmp_path / "deleted-checkout")]
    out = fix_json(py, "egg-link-dangling", env=clean_env(), cwd=tmp_path)
    assert out["resolved"] == ["egg-link-dangling"]
    assert not link.exists() and keep.read_text() == "# a comment\n"


def test_leftover_directory_imports_as_an_empty_namespace_until_removed(tmp_path: Path) -> None:
    py = make_venv(tmp_path / "venv", sys.executable, "--without-pip")
    sp = site_packages(py)
    cache = sp / "uninstalled" / "__pycache__"
    cache.mkdir(parents=True)
    (cache / f"core.{sys.implementation.cache_tag}.pyc").write_bytes(b"\0" * 16)
    assert run([py, "-c", "import uninstalled"], cwd=tmp_path, check=False).returncode == 0
    f = codes(report_json(py, clean_env(), tmp_path))["leftover-directory"]
    assert f["evidence"] == [str(sp / "uninstalled")]
    out = fix_json(py, "leftover-directory", env=clean_env(), cwd=tmp_path)
    assert out["resolved"] == ["leftover-directory"]
    assert not (sp / "uninstalled").exists()
    assert run([py, "-c", "import uninstalled"], cwd=tmp_path, check=False).returncode != 0
