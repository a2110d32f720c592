"""Reports pasted in public: every planted secret is gone from every redacted format, and the
Markdown fits GitHub's limit even for 2,000 distributions."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import clean_env, cli, make_venv, make_wheel, pip_install, site_packages
from pyenvdoctor.redact import Redactor

HOST = socket.gethostname().split(".")[0]


@pytest.fixture(scope="module")
def planted(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, dict[str, str], Path, list[str]]:
    """A venv under a fake home of user ``zqxuser``, with secrets in the environment, in a
    PEP 610 URL and in paths; returns (python, env, cwd, secrets)."""
    home = tmp_path_factory.mktemp("homes") / "home-zqxuser"
    home.mkdir()
    py = make_venv(home / "venv")
    wheel = make_wheel(home, "fromurl", "1.0")
    pip_install(py, wheel)
    info = next(site_packages(py).glob("fromurl-1.0.dist-info"))
    (info / "direct_url.json").write_text(
        json.dumps(
            {"url": "https://bob:hunter22@example.invalid/fromurl-1.0.whl", "archive_info": {}}
        )
    )
    builds = home / f"{HOST}-builds"
    builds.mkdir()
    env = clean_env(
        HOME=str(home),
        USER="zqxuser",
        LOGNAME="zqxuser",
        PIP_EXTRA_INDEX_URL=f"https://alice:t0ps3cret@{HOST}.invalid/simple",
        PIP_ACCESS_TOKEN="s3cr3tvalue",
        PYTHONPATH=str(builds),
    )
    secrets = ["t0ps3cret", "s3cr3tvalue", "hunter22", "alice:", "bob:", str(home), "zqxuser"]
    if len(HOST) >= 3:
        secrets.append(HOST)
    return py, env, home, secrets


def _output(py: Path, env: dict[str, str], cwd: Path, *args: str) -> str:
    return cli("report", "--python", py, *args, env=env, cwd=cwd).stdout


def test_planting_worked_without_redaction(
    planted: tuple[Path, dict[str, str], Path, list[str]],
) -> None:
    py, env, cwd, secrets = planted
    text = _output(py, env, cwd, "--format", "json", "--no-redact")
    data = json.loads(text)
    assert data["redactions"] == []
    for secret in secrets:
        assert secret in text, secret  # else the redaction test below proves nothing


@pytest.mark.parametrize(
    "args", [("--format", "json"), ("--format", "markdown"), ("--format", "text", "--redact")]
)
def test_no_secret_in_any_redacted_format(
    planted: tuple[Path, dict[str, str], Path, list[str]], args: tuple[str, ...]
) -> None:
    py, env, cwd, secrets = planted
    text = _output(py, env, cwd, *args)
    for secret in secrets:
        assert secret not in text, secret
    assert "Redacted:" in text or '"redactions"' in text
    if args[1] == "json":
        data = json.loads(text)
        assert set(data["redactions"]) >= {
            "credentials in URLs",
            "home directory",
            "values of secret-looking environment variables",
        }
        assert data["environment_variables"]["PIP_ACCESS_TOKEN"] == "<redacted>"
        assert data["environment_variables"]["PIP_EXTRA_INDEX_URL"].startswith("https://***@")
        url = next(d["direct_url"] for d in data["distributions"] if d["name"] == "fromurl")
        assert url == "https://***@example.invalid/fromurl-1.0.whl"
        assert data["interpreter"]["executable"].startswith("~/")
        # Written straight from the redacted tree: still a valid report, which renders back
        # to the same bytes through the model.
        saved = cwd / "redacted.json"
        saved.write_text(text, encoding="utf-8")
        again = cli("render", saved, "--format", "json", env=env, cwd=cwd).stdout
        assert again == text


def test_which_is_redacted_too(planted: tuple[Path, dict[str, str], Path, list[str]]) -> None:
    py, env, cwd, _ = planted
    out = cli("which", "fromurl", "--python", py, "--format", "json", env=env, cwd=cwd).stdout
    assert str(cwd) not in out and "~/venv" in out


def test_markdown_fits_github_with_2000_distributions(tmp_path: Path) -> None:
    py = make_venv(tmp_path / "venv", sys.executable, "--without-pip")
    sp = site_packages(py)
    for i in range(2000):
        info = sp / f"dist{i:04d}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: dist{i:04d}\nVersion: 1.0\n")
        (info / "top_level.txt").write_text(f"mod{i:04d}\n")
        (sp / f"mod{i:04d}.py").write_text("")
    data = json.loads(
        cli("report", "--python", py, "--format", "json", env=clean_env(), cwd=tmp_path).stdout
    )
    assert len(data["distributions"]) == 2000
    md = cli("report", "--python", py, "--format", "markdown", env=clean_env(), cwd=tmp_path).stdout
    assert len(md) <= 65_536
    assert "more (the JSON report lists all)" in md
    assert md.index("## Findings") < md.index("## Distributions")
    assert os.linesep == "\n" and md.count("<details>") == md.count("</details>")


def test_fix_output_is_redacted_like_the_report(tmp_path: Path) -> None:
    """``--fix --format json`` hides the home directory as the report does (``--no-redact``
    keeps it)."""
    home = tmp_path / "home"
    project = home / "proj"
    (project / "__pycache__").mkdir(parents=True)
    (project / "setup.py").write_text("")
    orphan = project / "__pycache__" / f"gone.{sys.implementation.cache_tag}.pyc"
    orphan.write_bytes(b"\0" * 32)
    env = clean_env(HOME=str(home))
    args = ["report", "--python", sys.executable, "--fix", "bytecode-orphaned", "--yes"]
    out = cli(*args, "--format", "json", "--dry-run", env=env, cwd=project).stdout
    assert str(home) not in out and "~/proj/__pycache__/gone." in out
    kept = cli(*args, "--format", "json", "--no-redact", env=env, cwd=project).stdout
    assert str(orphan) in {f["path"] for f in json.loads(kept)["outcome"]["files"]}


def test_url_password_holding_at_is_hidden_whole() -> None:
    """Issue 16: pip splits userinfo at the last ``@`` (``split_auth_from_netloc``); so does
    redaction. The single-slash form ``site`` makes of a ``.pth`` URL line is hidden too."""
    r = Redactor(home=None, user=None, host=None)
    assert r.text("https://user:p@ss@host/simple") == "https://***@host/simple"
    assert r.text("--index-url https://u:a@b@c@pypi.example/x y@z") == (
        "--index-url https://***@pypi.example/x y@z"
    )
    assert r.text("/venv/lib/https:/u:PW@host/x") == "/venv/lib/https:/***@host/x"
    assert r.text("C:/Users/me@example") == "C:/Users/me@example"  # a drive, not a scheme


def test_home_at_a_component_boundary_and_through_a_symlink(tmp_path: Path) -> None:
    """Issue 16: ``/tmp/x/root/lib`` does not hold the home ``/root``; a HOME that is a symlink
    hides paths under its real location as well."""
    real = tmp_path / "real-home"
    real.mkdir()
    link = tmp_path / "home-link"
    link.symlink_to(real)
    r = Redactor(home=str(link), user=None, host=None)
    assert r.text(f"{link}/proj:{real}/lib") == "~/proj:~/lib"
    assert r.text(f"/elsewhere{real}/x") == f"/elsewhere{real}/x"
    plain = Redactor(home="/root", user=None, host=None)
    assert plain.text("/tmp/x/root/lib /root/lib") == "/tmp/x/root/lib ~/lib"


@pytest.fixture(scope="module")
def credentials_on_sys_path(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, dict[str, str], Path, list[str]]:
    """Issue 16: a ``.pth`` URL line that ``site`` normalises to ``.../https:/u:PW@host/x``,
    and ``PYTHONPATH=https://user:PW@host/x``, which ``site`` splits at ``:`` into
    ``/cwd/https``, ``//user`` and ``/cwd/PW@host/x`` (no URL left); beside them ordinary paths
    holding ``@`` and ``:``. Returns (python, env, cwd, the ordinary paths)."""
    root = tmp_path_factory.mktemp("credpaths")
    py = make_venv(root / "venv", sys.executable, "--without-pip")
    site = site_packages(py)
    (site / "https:" / "u:pthpw7788@host" / "x").mkdir(parents=True)  # the .pth line exists
    ordinary = [str(root / "a@b" / "lib"), str(root / "x:y")]
    for path in ordinary:
        Path(path).mkdir(parents=True)
    (site / "creds.pth").write_text("https://u:pthpw7788@host/x\n" + "\n".join(ordinary) + "\n")
    (root / "envpw5566@host" / "x").mkdir(parents=True)  # what PYTHONPATH's last piece names
    env = clean_env(PYTHONPATH="https://user:envpw5566@host/x", COLUMNS="400")
    return py, env, root, ordinary


def test_credentials_on_sys_path_are_planted(
    credentials_on_sys_path: tuple[Path, dict[str, str], Path, list[str]],
) -> None:
    """The oracle: the target's own ``sys.path`` holds both passwords and the ordinary paths."""
    py, env, cwd, ordinary = credentials_on_sys_path
    shown = subprocess.run(
        [py, "-c", "import sys; print('\\n'.join(sys.path))"],
        env=env, cwd=cwd, capture_output=True, text=True, check=True,
    ).stdout.splitlines()  # fmt: skip
    assert f"{cwd}/envpw5566@host/x" in shown and "//user" in shown, shown
    assert f"{site_packages(py)}/https:/u:pthpw7788@host/x" in shown, shown
    assert set(ordinary) <= set(shown)


@pytest.mark.parametrize(
    "args",
    [("--format", "json"), ("--format", "markdown"), ("--format", "text", "--redact", "--all")],
)
def test_credentials_on_sys_path_are_hidden_in_every_format(
    credentials_on_sys_path: tuple[Path, dict[str, str], Path, list[str]], args: tuple[str, ...]
) -> None:
    py, env, cwd, ordinary = credentials_on_sys_path
    text = _output(py, env, cwd, *args)
    assert "envpw5566" not in text and "pthpw7788" not in text
    assert "***@host/x" in text
    for path in ordinary:  # untouched (the tmp directory is not under HOME)
        assert path in text, path
    if args[1] == "json":
        data = json.loads(text)
        paths = [e["path"] for e in data["sys_path"]]
        assert f"{cwd}/***@host/x" in paths
        assert f"{site_packages(py)}/https:/***@host/x" in paths
        assert data["environment_variables"]["PYTHONPATH"] == "https://***@host/x"
        assert "credentials in URLs" in data["redactions"]


def test_url_passwords_of_the_environment_are_hidden_everywhere() -> None:
    """What the report test above relies on, one string at a time; paths holding ``@`` or
    ``:`` with no credential in the environment are left alone."""
    r = Redactor(home=None, user=None, host=None)
    r.learn("https://user:s3cr:etpw@host/x")  # PYTHONPATH splits the password too
    assert r.text("/cwd/s3cr:etpw@host/x") == "/cwd/***@host/x"
    assert r.text("/cwd/etpw@host/x") == "/cwd/***@host/x"
    assert r.text("/cwd/s3cr") == "/cwd/***"
    r.learn("https://ghp_tok3n@github.com/o/r")  # a token as the user name
    assert r.text("//ghp_tok3n@github.com/o/r") == "//***@github.com/o/r"
    plain = Redactor(home=None, user=None, host=None)
    for path in ("/srv/a@b/lib", "/opt/x:y", "//user", "/opt/ab@cd:ef/x"):
        assert plain.text(path) == path
    assert plain.kinds == set()


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(["/root", "root", "/root/", "x", ".", "~", "-", "/", "\\", " ", "é", "_"]),
        max_size=8,
    ).map("".join),
    st.sampled_from(["/root", "root", "a.b", "h-1"]),
)
def test_whole_word_patterns_match_as_the_lookbehind_first_form(text: str, literal: str) -> None:
    """``redact._whole`` puts the literal first (fast to search); the matches are those of the
    plain ``(?<!C)LITERAL(?=A)`` form, for the home rule's and the name rules' classes."""
    import re

    from pyenvdoctor.redact import _whole

    for before, after in ((r"[\w.~-]", r"(?=[/\\]|$|[^\w.-])"), (r"[\w.-]", r"(?![\w-])")):
        plain = re.compile("(?<!" + before + ")" + re.escape(literal) + after)
        fast = _whole(literal, before, after)
        assert [m.span() for m in fast.finditer(text)] == [m.span() for m in plain.finditer(text)]
