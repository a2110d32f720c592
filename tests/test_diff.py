"""``diff_reports`` and ``render_diff`` on two real virtual environments: A from the interpreter
running the tests, B from pyenv's Python 3.12 (or the same interpreter when there is none), each
with hand-built wheels installed by a real ``pip install``."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest

from conftest import (
    clean_env,
    make_venv,
    make_wheel,
    pip_install,
    pyenv_python,
    report_json,
    run,
    site_packages,
)
from pyenvdoctor.diff import Change, ReportDiff, VersionDirection, diff_reports
from pyenvdoctor.model import SCHEMA_VERSION, Report, from_dict
from pyenvdoctor.render import OutputFormat
from pyenvdoctor.render.diff import DIFF_KIND, render_diff

pytestmark = pytest.mark.slow

BROKEN = ("distribution-metadata-broken", "Unreadable distribution metadata: broken-9.9.dist-info")
MISSING = ("dependency-missing", "A required distribution is not installed (1)")


@dataclasses.dataclass(frozen=True)
class Pair:
    a: Report
    b: Report
    other_python: bool  # B runs pyenv's 3.12, not the interpreter running the tests


def _venv(root: Path, python: Path | str, wheels: list[Path]) -> Path:
    py = make_venv(root, python)
    # Python 3.11's venv bundles setuptools, 3.12's does not: remove it so both start alike.
    run([py, "-m", "pip", "uninstall", "-y", "-q", "--disable-pip-version-check", "setuptools"])
    pip_install(py, *wheels)
    return py


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    """alpha 1.0 → 2.0, beta in A only, gamma in B only (requiring epsilon, which is not
    installed), delta 1.0 in both; A also holds a ``.dist-info`` without METADATA."""
    root = tmp_path_factory.mktemp("diff")
    wheels = root / "wheels"
    wheels.mkdir()
    w = {(n, v): make_wheel(wheels, n, v) for n, v in [("alpha", "1.0"), ("alpha", "2.0")]}
    w |= {(n, "1.0"): make_wheel(wheels, n, "1.0") for n in ("beta", "delta")}
    w["gamma", "1.0"] = make_wheel(wheels, "gamma", "1.0", requires=["epsilon>=1"])
    other = pyenv_python("3.12")
    a = _venv(root / "a", sys.executable, [w["alpha", "1.0"], w["beta", "1.0"], w["delta", "1.0"]])
    b = _venv(
        root / "b",
        other or sys.executable,
        [w["alpha", "2.0"], w["gamma", "1.0"], w["delta", "1.0"]],
    )
    broken = site_packages(a) / "broken-9.9.dist-info"
    broken.mkdir()
    (broken / "RECORD").write_text("")
    reports = [from_dict(Report, report_json(py, clean_env(), root)) for py in (a, b)]
    return Pair(a=reports[0], b=reports[1], other_python=other is not None)


def _names(d: ReportDiff) -> tuple[set[str], set[str], set[str]]:
    return (
        {x.canonical_name for x in d.distributions_added},
        {x.canonical_name for x in d.distributions_removed},
        {c.name for c in d.distributions_changed},
    )


def _pip_changed(pair: Pair) -> set[str]:
    """``{"pip"}`` when the two interpreters' ensurepip bundle different pip versions."""
    return set() if pair.a.pip_version == pair.b.pip_version else {"pip"}


def test_distributions(pair: Pair) -> None:
    d = diff_reports(pair.a, pair.b)
    assert _names(d) == ({"gamma"}, {"beta"}, {"alpha"} | _pip_changed(pair))
    alpha = next(c for c in d.distributions_changed if c.name == "alpha")
    assert (alpha.a_version, alpha.b_version) == ("1.0", "2.0")
    assert alpha.direction is VersionDirection.UPGRADE
    assert alpha.changes == ()
    assert [x.version for x in d.distributions_added + d.distributions_removed] == ["1.0", "1.0"]


def test_findings_and_interpreter(pair: Pair) -> None:
    d = diff_reports(pair.a, pair.b)
    assert [(f.code, f.title) for f in d.findings_resolved] == [BROKEN]
    assert [(f.code, f.title) for f in d.findings_new] == [MISSING]
    assert [p.pip_line() for p in d.dependency_problems_new] == [
        "gamma 1.0 requires epsilon, which is not installed."
    ]
    assert d.dependency_problems_gone == ()
    assert d.environment_variables == ()
    changes = {c.field: c for c in d.interpreter}
    a_dir, b_dir = (str(Path(r.interpreter.executable).parent.parent) for r in (pair.a, pair.b))
    assert changes["prefix"] == Change(field="prefix", a=a_dir, b=b_dir)
    assert any(p.startswith(a_dir) for p in d.sys_path_only_a)
    assert any(p.startswith(b_dir) for p in d.sys_path_only_b)
    if not pair.other_python:
        assert "version" not in changes
        return
    va, vb = pair.a.interpreter.short_version, pair.b.interpreter.short_version
    assert vb.startswith("3.12.")
    assert changes["version"] == Change(field="version", a=va, b=vb)
    assert changes["cache_tag"] == Change(field="cache_tag", a="cpython-311", b="cpython-312")
    assert d.summary.startswith(f"Python {va} → {vb}; 1 distribution added, 1 removed, ")
    assert "; 1 new dependency problem; 1 new finding, 1 resolved; " in d.summary


def test_same_report_is_empty(pair: Pair) -> None:
    d = diff_reports(pair.a, pair.a)
    assert d.is_empty
    assert d.summary == "no differences"
    assert not diff_reports(pair.a, pair.b).is_empty
    assert "No differences." in render_diff(d, OutputFormat.MARKDOWN)


def test_swapped_arguments_swap_sides(pair: Pair) -> None:
    ab, ba = diff_reports(pair.a, pair.b), diff_reports(pair.b, pair.a)
    assert ba.distributions_added == ab.distributions_removed
    assert ba.distributions_removed == ab.distributions_added
    assert ba.findings_new == ab.findings_resolved and ba.findings_resolved == ab.findings_new
    assert (ba.sys_path_only_a, ba.sys_path_only_b) == (ab.sys_path_only_b, ab.sys_path_only_a)
    assert ba.interpreter == tuple(Change(field=c.field, a=c.b, b=c.a) for c in ab.interpreter)
    alpha = next(c for c in ba.distributions_changed if c.name == "alpha")
    assert (alpha.a_version, alpha.b_version, alpha.direction) == (
        "2.0",
        "1.0",
        VersionDirection.DOWNGRADE,
    )


@pytest.mark.parametrize(
    ("a", "b", "direction"),
    [
        ("1.0", "1.0.0", VersionDirection.UNORDERED),  # equal under PEP 440
        ("1.0", "not-a-version", VersionDirection.UNORDERED),
        ("1.10", "1.9", VersionDirection.DOWNGRADE),  # not string order
        ("2.0rc1", "2.0", VersionDirection.UPGRADE),
    ],
)
def test_version_direction(pair: Pair, a: str, b: str, direction: VersionDirection) -> None:
    def with_delta(report: Report, version: str, installer: str) -> Report:
        dists = tuple(
            dataclasses.replace(x, version=version, installer=installer)
            if x.canonical_name == "delta"
            else x
            for x in report.distributions
        )
        return dataclasses.replace(report, distributions=dists)

    d = diff_reports(with_delta(pair.a, a, "pip"), with_delta(pair.a, b, "uv"))
    (delta,) = d.distributions_changed
    assert (delta.name, delta.direction) == ("delta", direction)
    assert delta.changes == (Change(field="installer", a="pip", b="uv"),)


def test_environment_variables_and_pip_cache(pair: Pair) -> None:
    a = dataclasses.replace(pair.a, environment_variables={"PIP_INDEX_URL": "<redacted>", "X": "1"})
    b = dataclasses.replace(pair.a, environment_variables={"X": "2", "PYTHONPATH": "/src"})
    assert pair.a.pip_cache is not None
    cache = dataclasses.replace(pair.a.pip_cache, directory="/elsewhere", http_bytes=10**6)
    d = diff_reports(a, dataclasses.replace(b, pip_cache=cache))
    assert d.environment_variables == (
        Change(field="PIP_INDEX_URL", a="<redacted>", b=None),
        Change(field="PYTHONPATH", a=None, b="/src"),
        Change(field="X", a="1", b="2"),
    )
    assert [c.field for c in d.pip_cache] == ["directory", "total_bytes"]
    assert d.summary == "5 other differences"
    text = render_diff(d, OutputFormat.TEXT)
    assert "  PYTHONPATH     (not set)   /src" in text.splitlines()


@pytest.mark.parametrize("fmt", list(OutputFormat))
def test_render_every_format(pair: Pair, fmt: OutputFormat) -> None:
    d = diff_reports(pair.a, pair.b)
    out = render_diff(d, fmt)
    assert out.endswith("\n")
    if fmt is OutputFormat.JSON:
        data = json.loads(out)
        assert (data.pop("schema_version"), data.pop("kind")) == (SCHEMA_VERSION, DIFF_KIND)
        assert (data.pop("summary"), data.pop("is_empty")) == (d.summary, False)
        assert from_dict(ReportDiff, data) == d
        assert out == render_diff(diff_reports(pair.a, pair.b), fmt)  # deterministic
        return
    lines = out.splitlines()
    if fmt is OutputFormat.MARKDOWN:
        assert lines[:3] == ["# pyenvdoctor diff", "", f"**{d.summary}**"]
        assert "| alpha | upgrade | 1.0 | 2.0 |" in lines
        assert "| beta | removed | 1.0 (venv-site-packages) |   |" in lines
        assert f"| resolved in B | {BROKEN[0]} | warning | {BROKEN[1]} |" in lines
        assert f"| new in B | {MISSING[0]} | error | {MISSING[1]} |" in lines
        assert "| new in B | gamma 1.0 requires epsilon, which is not installed. |" in lines
        assert not any("delta" in line for line in lines)
        for i, line in enumerate(lines):  # every table: header, separator, rows of equal width
            if line.startswith("|---"):
                assert lines[i - 1].count(" | ") == line.count("|") - 2
        return
    assert lines[:4] == [
        "pyenvdoctor diff",
        f"A: {pair.a.interpreter.executable}",
        f"B: {pair.b.interpreter.executable}",
        d.summary,
    ]
    assert any(line.split() == ["alpha", "upgrade", "1.0", "2.0"] for line in lines)
    assert any(line.split() == ["gamma", "added", "1.0", "(venv-site-packages)"] for line in lines)
    assert any(line.split()[:3] == ["resolved", "in", "B"] and BROKEN[0] in line for line in lines)
    assert not any("delta" in line for line in lines)


def test_long_markdown_tables_are_folded(pair: Pair) -> None:
    d = diff_reports(pair.a, pair.b)
    long = dataclasses.replace(d, sys_path_only_b=tuple(f"/extra/{i}" for i in range(60)))
    lines = render_diff(long, OutputFormat.MARKDOWN).splitlines()
    start = lines.index("## sys.path entries")
    assert lines[start + 2 : start + 4] == [
        "<details>",
        f"<summary>{len(d.sys_path_only_a) + 60} rows</summary>",
    ]
    assert "| only in B | `/extra/59` |" in lines
    assert "<details>" not in lines[:start]


def test_findings_match_by_code_and_subject(pair: Pair) -> None:
    """Issue 17: a finding whose title changes but whose subject stays is one finding; two
    findings of one code about different subjects are two."""
    from pyenvdoctor.model import Finding, Severity

    def f(subject: str | None, title: str) -> Finding:
        return Finding(
            code="pth-executes-code",
            severity=Severity.INFO,
            title=title,
            message="m",
            subject=subject,
        )

    a = dataclasses.replace(
        pair.a, findings=(f("/s/x.pth", "x.pth runs code at every start-up"), f(None, "A 3"))
    )
    b = dataclasses.replace(
        pair.a,
        findings=(
            f("/s/x.pth", "x.pth runs code at start-up (2 lines)"),  # reworded: same finding
            f("/s/y.pth", "x.pth runs code at every start-up"),  # same title, other subject
            f(None, "A 5"),  # no subject: the title with numbers masked
        ),
    )
    d = diff_reports(a, b)
    assert [x.subject for x in d.findings_new] == ["/s/y.pth"]
    assert d.findings_resolved == ()
    # A schema 1.0 report has no subjects: both sides are matched by title then.
    old = diff_reports(dataclasses.replace(a, schema_version="1.0"), b)
    assert [x.title for x in old.findings_new] == ["x.pth runs code at start-up (2 lines)"]
