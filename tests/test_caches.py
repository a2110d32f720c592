"""Tool caches: located as each tool locates them (compared with the tool's own answer where it
can be installed or is on PATH), measured in one walk (compared with GNU ``du``), reported in all
three formats, and emptied by ``--fix cache-large`` through the tool."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from conftest import clean_env, make_venv, make_wheel, report_json, run
from pyenvdoctor import fix
from pyenvdoctor.checks.caches import CACHE_LARGE_BYTES, cache_actions, cache_findings
from pyenvdoctor.collect.caches import (
    STALE_SECONDS,
    CacheLocation,
    bytecode_caches,
    collect_caches,
    locate_caches,
    locate_conda_pkgs,
    locate_hatch,
    locate_pipenv,
    locate_poetry,
    locate_pre_commit,
    locate_uv_cache,
    measure_tree,
    pip_cache_rows,
)
from pyenvdoctor.model import (
    BytecodeCategory,
    BytecodeGroup,
    BytecodeSummary,
    LocationClass,
    PipCache,
    Report,
    ToolCache,
    from_dict,
)
from pyenvdoctor.render import OutputFormat, render
from test_render import sample_report

DAY = 24 * 60 * 60
NOW = 1_700_000_000.0


def du_bytes(path: Path) -> int | None:
    """GNU ``du -s -B1 PATH``: disk usage in bytes, each inode once; ``None`` without GNU du."""
    du = shutil.which("du")
    if du is None:
        return None
    proc = subprocess.run([du, "-s", "-B1", str(path)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return None
    return int(proc.stdout.split()[0])


def apparent_per_name(path: Path) -> tuple[int, int]:
    """``(files, bytes)`` of every regular file name under ``path`` (os.walk, no symlinks)."""
    files = size = 0
    for dirpath, _dirs, names in os.walk(path):
        for name in names:
            st = os.lstat(os.path.join(dirpath, name))
            if not os.path.islink(os.path.join(dirpath, name)):
                files += 1
                size += st.st_size
    return files, size


# --- measuring -----------------------------------------------------------------------------------


def test_hard_links_count_once_on_disk_and_once_per_name_in_apparent_size(tmp_path: Path) -> None:
    cache = tmp_path / "uv-cache"
    archive = cache / "archive-v0" / "abc123" / "pkg"
    archive.mkdir(parents=True)
    payload = archive / "module.py"
    payload.write_bytes(b"x" * 100_000)
    venv_site = cache / "venvs" / "one"
    venv_site.mkdir(parents=True)
    os.link(payload, venv_site / "module.py")
    os.link(payload, cache / "venvs" / "module-again.py")
    (cache / "CACHEDIR.TAG").write_text("Signature: 8a477f597d28d172789f06886806bc55\n")

    size = measure_tree(str(cache), now=time.time())

    assert size.files == 4
    assert size.apparent_bytes == 3 * 100_000 + (cache / "CACHEDIR.TAG").stat().st_size
    assert (size.files, size.apparent_bytes) == apparent_per_name(cache)
    assert size.disk_bytes is not None
    blocks = payload.stat().st_blocks * 512
    assert size.disk_bytes < size.apparent_bytes  # the 100 kB are on disk once, not three times
    assert size.disk_bytes >= blocks
    expected = du_bytes(cache)
    if expected is not None:
        assert size.disk_bytes == expected


def test_stale_files_are_older_than_90_days_before_now(tmp_path: Path) -> None:
    (tmp_path / "old.whl").write_bytes(b"o" * 5000)
    (tmp_path / "recent.whl").write_bytes(b"r" * 300)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "edge.bin").write_bytes(b"e" * 10)
    os.utime(tmp_path / "old.whl", (NOW - 100 * DAY, NOW - 100 * DAY))
    os.utime(tmp_path / "recent.whl", (NOW - 89 * DAY, NOW - 89 * DAY))
    os.utime(tmp_path / "sub" / "edge.bin", (NOW - 95 * DAY, NOW - 95 * DAY))

    size = measure_tree(str(tmp_path), now=NOW)

    assert (size.stale_files, size.stale_bytes) == (2, 5010)
    assert STALE_SECONDS == 90 * DAY
    later = measure_tree(str(tmp_path), now=NOW + 2 * DAY)  # 'now' is an argument: deterministic
    assert (later.stale_files, later.stale_bytes) == (3, 5310)


def test_symlinks_are_not_followed_and_unreadable_directories_are_skipped(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "big").write_bytes(b"b" * 50_000)
    root = tmp_path / "root"
    root.mkdir()
    (root / "file").write_bytes(b"f" * 10)
    (root / "link-dir").symlink_to(outside, target_is_directory=True)
    (root / "link-file").symlink_to(outside / "big")
    locked = root / "locked"
    locked.mkdir()
    (locked / "hidden").write_bytes(b"h" * 7)
    locked.chmod(0)
    try:
        size = measure_tree(str(root), now=NOW)
    finally:
        locked.chmod(0o755)
    assert size.apparent_bytes in (10, 17)  # root reads every directory
    assert size.files in (1, 2)
    if os.geteuid() != 0:
        assert size.unreadable == 1
    assert measure_tree(str(tmp_path / "missing"), now=NOW).unreadable == 1


# --- locating: rules ---------------------------------------------------------------------------


def base_env(home: Path, **extra: str) -> dict[str, str]:
    """A minimal environment: PATH and HOME, nothing from the user's XDG or tool variables."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), **extra}


def test_uv_rules(tmp_path: Path) -> None:
    home = tmp_path / "home"
    work = tmp_path / "work" / "sub"
    work.mkdir(parents=True)

    def where(**extra: str) -> CacheLocation:
        return locate_uv_cache(environ=base_env(home, **extra), working_directory=str(work))

    assert where().path == str(home / ".cache" / "uv")
    assert where(XDG_CACHE_HOME="/x/cache").path == "/x/cache/uv"
    assert where(XDG_CACHE_HOME="relative").path == str(home / ".cache" / "uv")
    assert where(UV_CACHE_DIR="rel").path == str(work / "rel")
    assert where(UV_CACHE_DIR="").source.endswith("UV_CACHE_DIR is empty: uv exits with an error")
    (work.parent / "uv.toml").write_text('cache-dir = "from-project"\n')
    assert where().path == str(work / "from-project")  # relative to the working directory
    assert where().source == f"{work.parent / 'uv.toml'} cache-dir"
    assert where(UV_NO_CONFIG="1").path == str(home / ".cache" / "uv")
    (work / "pyproject.toml").write_text('[project]\nname = "x"\n')  # no [tool.uv]: skipped
    assert where().path == str(work / "from-project")
    (work / "pyproject.toml").write_text("[tool.uv]\nnative-tls = true\n")  # stops the search
    assert where().path == str(home / ".cache" / "uv")
    assert where(UV_CACHE_DIR="/env/wins").path == "/env/wins"
    assert locate_uv_cache(
        environ=base_env(home), working_directory=str(work), platform="win32"
    ).path.endswith("uv\\cache")


def test_poetry_rules(tmp_path: Path) -> None:
    home = tmp_path / "home"
    config = tmp_path / "pc"
    config.mkdir()
    (config / "config.toml").write_text(
        'cache-dir = "~/poetry-cache"\n[virtualenvs]\npath = "{cache-dir}/envs"\n'
    )
    env = base_env(home, POETRY_CONFIG_DIR=str(config))
    locs = {
        loc.name: loc
        for loc in locate_poetry(environ=env, working_directory="/", project_root=None)
    }
    assert locs["artifacts"].path == str(home / "poetry-cache" / "artifacts")
    assert locs["virtualenvs"].path == str(home / "poetry-cache" / "envs")
    assert locs["virtualenvs"].kind == "environments"
    assert locs["repositories"].command is None  # no repository cache yet
    repositories = home / "poetry-cache" / "cache" / "repositories"
    (repositories / "PyPI").mkdir(parents=True)
    (repositories / "my-index").mkdir()
    locs = {
        loc.name: loc
        for loc in locate_poetry(environ=env, working_directory="/", project_root=None)
    }
    assert locs["repositories/PyPI"].command == "poetry cache clear --all PyPI"
    assert locs["repositories/my-index"].path == str(repositories / "my-index")
    project = tmp_path / "proj"
    project.mkdir()
    (project / "poetry.toml").write_text('cache-dir = "/local/cache"\n')
    locs = {
        loc.name: loc
        for loc in locate_poetry(
            environ=env, working_directory=str(project), project_root=str(project)
        )
    }
    assert locs["artifacts"].path == "/local/cache/artifacts"
    assert locs["virtualenvs"].path == "/local/cache/envs"  # the template follows cache-dir
    env2 = dict(env, POETRY_CACHE_DIR="/env/cache", POETRY_VIRTUALENVS_PATH="/env/venvs")
    locs = {
        loc.name: loc
        for loc in locate_poetry(environ=env2, working_directory="/", project_root=None)
    }
    assert (locs["artifacts"].path, locs["artifacts"].source) == (
        "/env/cache/artifacts",
        "POETRY_CACHE_DIR",
    )
    assert locs["virtualenvs"].path == "/env/venvs"
    default = locate_poetry(
        environ=base_env(home, XDG_CACHE_HOME="/xc"), working_directory="/", project_root=None
    )
    assert {loc.path for loc in default} >= {"/xc/pypoetry/artifacts", "/xc/pypoetry/virtualenvs"}
    mac = locate_poetry(
        environ=base_env(home), working_directory="/", project_root=None, platform="darwin"
    )
    assert str(home / "Library" / "Caches" / "pypoetry" / "artifacts") in {loc.path for loc in mac}


def test_pipenv_pre_commit_hatch_conda_rules(tmp_path: Path) -> None:
    home = tmp_path / "home"
    cache, venvs = locate_pipenv(environ=base_env(home), working_directory="/")
    assert (cache.path, cache.command) == (str(home / ".cache" / "pipenv"), "pipenv --clear")
    assert venvs.path == str(home / ".local" / "share" / "virtualenvs")
    _, venvs = locate_pipenv(
        environ=base_env(home, WORKON_HOME="$HOME/envs"), working_directory="/"
    )
    assert (venvs.path, venvs.source) == (str(home / "envs"), "WORKON_HOME")
    cache, venvs = locate_pipenv(
        environ=base_env(home, PIPENV_CACHE_DIR="/pc", XDG_DATA_HOME="/xd"), working_directory="/"
    )
    assert (cache.path, venvs.path) == ("/pc", "/xd/virtualenvs")

    assert locate_pre_commit(
        environ=base_env(home), working_directory="/"
    ).path == os.path.realpath(home / ".cache" / "pre-commit")
    assert locate_pre_commit(
        environ=base_env(home, XDG_CACHE_HOME=str(tmp_path / "xc")), working_directory="/"
    ).path == str(tmp_path / "xc" / "pre-commit")
    assert (
        locate_pre_commit(
            environ=base_env(home, PRE_COMMIT_HOME=str(tmp_path / "pch")), working_directory="/"
        ).source
        == "PRE_COMMIT_HOME"
    )

    (hatch,) = locate_hatch(environ=base_env(home), working_directory="/", project_root=None)
    assert hatch.path == str(home / ".local" / "share" / "hatch" / "env" / "virtual")
    (hatch,) = locate_hatch(
        environ=base_env(home, HATCH_DATA_DIR="/hd"), working_directory="/", project_root=None
    )
    assert (hatch.path, hatch.source) == ("/hd/env/virtual", "HATCH_DATA_DIR")
    config = tmp_path / "hatch.toml"
    config.write_text('[dirs.env]\nvirtual = ".hatch"\n')
    (hatch,) = locate_hatch(
        environ=base_env(home, HATCH_CONFIG=str(config)),
        working_directory="/",
        project_root=str(tmp_path / "proj"),
    )
    assert hatch.path == str(tmp_path / "proj" / ".hatch")  # relative: to the project

    root = tmp_path / "miniforge3"
    (root / "pkgs").mkdir(parents=True)
    (root / "bin").mkdir()
    (conda,) = locate_conda_pkgs(
        environ=base_env(home, CONDA_EXE=str(root / "bin" / "conda")), working_directory="/"
    )
    assert (conda.path, conda.command) == (str(root / "pkgs"), "conda clean --all")
    (conda,) = locate_conda_pkgs(
        environ=base_env(home, CONDA_PREFIX=str(root / "envs" / "work")), working_directory="/"
    )
    assert conda.path == str(root / "pkgs")
    assert locate_conda_pkgs(environ=base_env(home), working_directory="/") == []  # absent
    other = tmp_path / "elsewhere"
    other.mkdir()
    (home / ".condarc").parent.mkdir(parents=True, exist_ok=True)
    (home / ".condarc").write_text(
        f"channels:\n  - conda-forge\npkgs_dirs:\n  - {other}\n  - /nope\n"
    )
    (conda,) = locate_conda_pkgs(environ=base_env(home), working_directory="/")
    assert (conda.path, conda.source) == (str(other), f"{home / '.condarc'} pkgs_dirs")
    (conda,) = locate_conda_pkgs(
        environ=base_env(home, CONDA_PKGS_DIRS=f"{root / 'pkgs'},/nope"), working_directory="/"
    )
    assert conda.source == "CONDA_PKGS_DIRS"


# --- locating: the tools' own answers ------------------------------------------------------------


@pytest.fixture(scope="module")
def tools_venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A scratch venv with uv and pre-commit from PyPI (skips when they cannot be installed)."""
    venv = tmp_path_factory.mktemp("tools") / "venv"
    python = make_venv(venv)
    proc = run(
        [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "uv", "pre-commit"],
        check=False,
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot install uv and pre-commit: {proc.stderr[-300:]}")
    yield venv / "bin"


def tool_output(cmd: list[str | Path], env: Mapping[str, str], cwd: Path) -> str:
    out = run(cmd, env=env, cwd=cwd).stdout.strip()
    return os.path.normpath(os.path.join(cwd, out))  # uv prints paths under cwd relative to it


@pytest.mark.slow
def test_uv_cache_dir_matches_uv(tools_venv: Path, tmp_path: Path) -> None:
    uv = tools_venv / "uv"
    home = tmp_path / "home"
    work = tmp_path / "proj" / "sub"
    work.mkdir(parents=True)
    user_config = tmp_path / "xdg-config"
    (user_config / "uv").mkdir(parents=True)
    (user_config / "uv" / "uv.toml").write_text(f'cache-dir = "{tmp_path / "from-user"}"\n')
    system_config = tmp_path / "xdg-dirs"
    (system_config / "uv").mkdir(parents=True)
    (system_config / "uv" / "uv.toml").write_text(f'cache-dir = "{tmp_path / "from-system"}"\n')
    explicit = tmp_path / "explicit.toml"
    explicit.write_text('cache-dir = "explicit-rel"\n')
    cases: list[dict[str, str]] = [
        {},
        {"XDG_CACHE_HOME": str(tmp_path / "xc")},
        {"XDG_CACHE_HOME": "relative-is-ignored"},
        {"UV_CACHE_DIR": str(tmp_path / "env-cache")},
        {"UV_CACHE_DIR": "rel/cache"},
        {"XDG_CONFIG_DIRS": str(system_config)},
        {"XDG_CONFIG_HOME": str(user_config), "XDG_CONFIG_DIRS": str(system_config)},
        {"XDG_CONFIG_HOME": "relative-is-ignored", "XDG_CONFIG_DIRS": str(system_config)},
        {"UV_CONFIG_FILE": str(explicit), "XDG_CONFIG_HOME": str(user_config)},
    ]
    project_files = [
        None,
        ("proj/uv.toml", 'cache-dir = "project-rel"\n'),
        ("proj/sub/pyproject.toml", '[project]\nname = "x"\n'),  # no [tool.uv]: keeps looking
        ("proj/sub/pyproject.toml", '[tool.uv]\ncache-dir = "/from-pyproject"\n'),
        ("proj/sub/uv.toml", 'cache-dir = "/uv-toml-beats-pyproject"\n'),
    ]
    compared = 0
    for project_file in project_files:
        if project_file is not None:
            (tmp_path / project_file[0]).write_text(project_file[1])
        for extra in cases:
            env = base_env(home, **extra)
            expected = tool_output([uv, "cache", "dir"], env, work)
            mine = locate_uv_cache(environ=env, working_directory=str(work))
            assert mine.path == expected, (project_file, extra, mine)
            compared += 1
    assert compared == len(cases) * len(project_files)


@pytest.mark.slow
def test_pre_commit_store_is_where_pre_commit_puts_it(tools_venv: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    for extra in (
        {},
        {"XDG_CACHE_HOME": str(tmp_path / "xc")},
        {"PRE_COMMIT_HOME": str(tmp_path / "pch")},
    ):
        env = base_env(home, **extra)
        run([tools_venv / "pre-commit", "gc"], env=env, cwd=tmp_path)  # creates the store
        location = locate_pre_commit(environ=env, working_directory=str(tmp_path))
        assert (Path(location.path) / "db.db").is_file(), extra


@pytest.mark.slow
def test_real_uv_cache_hard_links_and_clean_through_fix(
    tools_venv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """uv installs a local wheel into a venv by hard-linking from its cache; the cache's disk
    usage matches du and counts those files once; ``--fix cache-large`` runs ``uv cache clean``."""
    uv = tools_venv / "uv"
    cache = tmp_path / "uv-cache"
    env = base_env(tmp_path / "home", UV_CACHE_DIR=str(cache))
    files = {f"tiny/m{i}.py": "x = 1\n" * 2000 for i in range(5)}
    wheel = make_wheel(tmp_path, "tiny", "1.0", files=files)
    run([uv, "venv", "-q", "--python", sys.executable, tmp_path / "venv"], env=env, cwd=tmp_path)
    run(
        [
            uv,
            "pip",
            "install",
            "-q",
            "--offline",
            "--link-mode",
            "hardlink",
            "--python",
            tmp_path / "venv" / "bin" / "python",
            wheel,
        ],
        env=env,
        cwd=tmp_path,
    )
    (location,) = [
        loc
        for loc in locate_caches(environ=env, working_directory=str(tmp_path), project_root=None)
        if loc.tool == "uv"
    ]
    assert location.path == tool_output([uv, "cache", "dir"], env, tmp_path) == str(cache)
    caches = collect_caches(
        environ=env,
        working_directory=str(tmp_path),
        project_root=None,
        pip_cache=None,
        bytecode=BytecodeSummary(roots=(), groups=(), unreadable=(), scanned_files=0),
        python=sys.executable,
        target_prefix=sys.prefix,
        now=time.time(),
        locations=[location],
    )
    (row,) = [c for c in caches if c.tool == "uv"]
    linked = [p for p in cache.rglob("m*.py") if p.stat().st_nlink > 1]
    assert len(linked) == 5  # the venv's copies are hard links to these
    assert (row.files, row.apparent_bytes) == apparent_per_name(cache)
    assert row.disk_bytes == du_bytes(cache) or du_bytes(cache) is None
    assert row.stale_files == 0 and row.command == "uv cache clean"
    both = measure_tree(str(tmp_path), now=time.time())  # cache and venv: linked files once
    assert both.disk_bytes is not None and row.disk_bytes is not None
    assert (du_bytes(tmp_path) or both.disk_bytes) == both.disk_bytes

    big = dataclasses.replace(row, disk_bytes=CACHE_LARGE_BYTES)
    findings = cache_findings([big])
    report = dataclasses.replace(sample_report(), caches=(big,), findings=tuple(findings))
    assert cache_actions(report, selected=()) == []  # only when selected by name
    monkeypatch.setenv("PATH", f"{tools_venv}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("UV_CACHE_DIR", str(cache))
    actions = fix.plan(report, [], selected=["cache-large"])
    (action,) = [a for a in actions if a.finding == "cache-large"]
    assert action.kind is fix.ActionKind.RUN
    assert action.command == (str(uv), "cache", "clean")
    outcome = fix.apply([action])
    assert outcome.complete, outcome.commands
    assert not list(cache.rglob("m*.py"))
    assert run([tmp_path / "venv" / "bin" / "python", "-c", "import tiny.m0"]).returncode == 0


# --- assembling, findings, rendering -----------------------------------------------------------


def test_pip_and_bytecode_rows_are_not_walked_again() -> None:
    pip = PipCache(
        directory="/c/pip",
        source="PIP_CACHE_DIR",
        disabled=False,
        exists=True,
        http_files=3,
        http_bytes=300,
        wheels_files=2,
        wheels_bytes=200,
        other_files=1,
        other_bytes=1,
    )
    http, wheels = pip_cache_rows(pip, python="/usr/bin/python3")
    assert (http.files, http.apparent_bytes, http.disk_bytes, http.stale_bytes) == (
        3,
        300,
        None,
        None,
    )
    assert wheels.command == "/usr/bin/python3 -m pip cache purge"
    assert pip_cache_rows(dataclasses.replace(pip, directory=None, disabled=True), python="p") == []

    def group(cat: BytecodeCategory, loc: LocationClass, files: int, size: int) -> BytecodeGroup:
        return BytecodeGroup(
            category=cat, location_class=loc, files=files, bytes=size, examples=(), roots=()
        )

    summary = BytecodeSummary(
        roots=("/p", "/v/lib"),
        groups=(
            group(BytecodeCategory.FRESH, LocationClass.PROJECT, 3, 30),
            group(BytecodeCategory.ORPHANED, LocationClass.PROJECT, 1, 5),
            group(BytecodeCategory.FRESH, LocationClass.VENV_SITE_PACKAGES, 10, 1000),
            group(
                BytecodeCategory.EXTENSION_BESIDE_SOURCE, LocationClass.VENV_SITE_PACKAGES, 1, 99
            ),
        ),
        unreadable=(),
        scanned_files=14,
    )
    target, project = bytecode_caches(summary, target_prefix="/v", project_root="/p")
    assert (target.name, target.files, target.apparent_bytes) == ("__pycache__ (target)", 10, 1000)
    assert (project.path, project.files, project.apparent_bytes) == ("/p", 4, 35)
    assert len(bytecode_caches(summary, target_prefix="/v", project_root=None)) == 1


def test_cache_large_finding() -> None:
    def cache(tool: str, disk: int | None, apparent: int, kind: str = "cache") -> ToolCache:
        return ToolCache(
            tool=tool,
            name="cache",
            kind=kind,
            path=f"/c/{tool}",
            source="default",
            exists=True,
            files=10,
            apparent_bytes=apparent,
            disk_bytes=disk,
            stale_files=2,
            stale_bytes=apparent // 2,
            command={"uv": "uv cache clean", "conda": "conda clean --all"}.get(tool),
        )

    found = cache_findings(
        [
            cache("uv", CACHE_LARGE_BYTES, 5 * CACHE_LARGE_BYTES),  # hard links: disk counts
            cache("conda", CACHE_LARGE_BYTES - 1, 3 * CACHE_LARGE_BYTES),
            cache("pip", None, 5 * CACHE_LARGE_BYTES),  # pip has pip-cache-large
            cache("poetry", 2 * CACHE_LARGE_BYTES, 2 * CACHE_LARGE_BYTES, kind="environments"),
            cache("poetry", None, 2 * CACHE_LARGE_BYTES),
        ]
    )
    assert [f.evidence[0] for f in found] == ["/c/uv", "/c/poetry"]
    uv, poetry = found
    assert uv.code == "cache-large" and uv.commands == ("uv cache prune", "uv cache clean")
    assert "1.0 GiB on disk, 5.0 GiB in 10 files" in uv.message
    assert "not modified for 90 days" in uv.message
    assert poetry.commands == () and "has no command" in poetry.message


@pytest.mark.slow
def test_report_lists_caches_in_all_three_formats(host_venv: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    uv_cache = home / ".cache" / "uv"
    (uv_cache / "archive-v0" / "x").mkdir(parents=True)
    (uv_cache / "archive-v0" / "x" / "a.py").write_text("a = 1\n" * 100)
    os.link(uv_cache / "archive-v0" / "x" / "a.py", uv_cache / "archive-v0" / "x" / "b.py")
    old = uv_cache / "archive-v0" / "x" / "old.py"
    old.write_text("o\n" * 10)
    os.utime(old, (time.time() - 120 * DAY,) * 2)
    (home / ".cache" / "pre-commit" / "repo1").mkdir(parents=True)
    (home / ".cache" / "pre-commit" / "repo1" / "hook.py").write_text("h\n")
    env = clean_env(HOME=str(home))
    for var in [
        k
        for k in env
        if k.startswith(
            ("XDG_", "UV_", "POETRY_", "PIPENV_", "WORKON_", "PRE_COMMIT", "HATCH_", "CONDA")
        )
    ]:
        del env[var]

    data = report_json(host_venv, env, tmp_path)
    report = from_dict(Report, data)
    rows = {(c.tool, c.name): c for c in report.caches}
    uv = rows["uv", "cache"]
    assert uv.path == str(uv_cache) and uv.exists and uv.source == "default"
    assert (uv.files, uv.apparent_bytes) == apparent_per_name(uv_cache)
    assert (uv.stale_files, uv.stale_bytes) == (1, 20)
    assert uv.disk_bytes == (du_bytes(uv_cache) or uv.disk_bytes)
    assert rows["pre-commit", "store"].files == 1
    assert not rows["poetry", "artifacts"].exists
    assert ("python", "__pycache__ (target)") in rows
    markdown = render(report, OutputFormat.MARKDOWN)
    assert "<summary>Caches (" in markdown and f"`{uv_cache}`" in markdown
    assert "Not present: " in markdown
    text = render(report, OutputFormat.TEXT, full=True)  # the tables are in --all
    assert "Caches" in text and "pre-commit" in text
    assert json.loads(render(report, OutputFormat.JSON))["caches"] == data["caches"]


@pytest.mark.skipif(shutil.which("poetry") is None, reason="poetry is not on PATH")
def test_poetry_locations_match_poetry_config(tmp_path: Path) -> None:
    poetry = shutil.which("poetry")
    assert poetry is not None
    home = tmp_path / "home"
    home.mkdir()
    config = tmp_path / "pc"
    config.mkdir()
    (config / "config.toml").write_text(
        f'cache-dir = "{tmp_path / "configured"}"\n[virtualenvs]\npath = "{{cache-dir}}/venvs"\n'
    )
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[tool.poetry]\nname = "x"\nversion = "0.1"\ndescription = ""\nauthors = []\n'
    )
    (project / "poetry.toml").write_text(f'cache-dir = "{tmp_path / "local"}"\n')
    cases: list[tuple[dict[str, str], Path]] = [
        ({}, tmp_path),
        ({"XDG_CACHE_HOME": str(tmp_path / "xc")}, tmp_path),
        ({"POETRY_CACHE_DIR": str(tmp_path / "env-cache")}, tmp_path),
        ({"POETRY_CONFIG_DIR": str(config)}, tmp_path),
        (
            {"POETRY_CONFIG_DIR": str(config), "POETRY_VIRTUALENVS_PATH": str(tmp_path / "v")},
            tmp_path,
        ),
        ({"POETRY_CONFIG_DIR": str(config)}, project),
    ]
    for extra, cwd in cases:
        env = base_env(home, **extra)
        env.setdefault("POETRY_CONFIG_DIR", str(tmp_path / "no-config"))
        cache_dir = run([poetry, "config", "cache-dir"], env=env, cwd=cwd).stdout.strip()
        venvs = run([poetry, "config", "virtualenvs.path"], env=env, cwd=cwd).stdout.strip()
        root = str(project) if cwd == project else None
        locs = {
            loc.name: loc
            for loc in locate_poetry(environ=env, working_directory=str(cwd), project_root=root)
        }
        assert os.path.dirname(locs["artifacts"].path) == os.path.expanduser(cache_dir), extra
        assert locs["virtualenvs"].path == venvs, extra


@pytest.mark.skipif(shutil.which("hatch") is None, reason="hatch is not on PATH")
def test_hatch_environments_are_where_hatch_env_find_says(tmp_path: Path) -> None:
    hatch = shutil.which("hatch")
    assert hatch is not None
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text('[project]\nname = "hx"\nversion = "0.1"\n')
    data_config = tmp_path / "data.toml"
    data_config.write_text(f'[dirs]\ndata = "{tmp_path / "configured"}"\n')
    env_config = tmp_path / "env.toml"
    env_config.write_text('[dirs.env]\nvirtual = ".hatch-envs"\n')
    for extra in (
        {"HATCH_CONFIG": str(tmp_path / "empty.toml")},
        {"HATCH_CONFIG": str(tmp_path / "empty.toml"), "XDG_DATA_HOME": str(tmp_path / "xd")},
        {"HATCH_CONFIG": str(tmp_path / "empty.toml"), "HATCH_DATA_DIR": str(tmp_path / "hd")},
        {"HATCH_CONFIG": str(data_config)},
        {"HATCH_CONFIG": str(env_config)},
    ):
        (tmp_path / "empty.toml").write_text("")
        env = base_env(tmp_path / "home", **extra)
        found = run([hatch, "env", "find"], env=env, cwd=project).stdout.strip()
        (location,) = locate_hatch(
            environ=env, working_directory=str(project), project_root=str(project)
        )
        assert found.startswith(location.path + os.sep), (extra, found, location)
