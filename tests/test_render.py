"""Renderers give exactly the expected output for a small, fixed report (golden files in
``tests/golden/``; regenerate with ``PYENVDOCTOR_REGENERATE=1`` and review the diff)."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from pyenvdoctor.errors import ReportFormatError
from pyenvdoctor.model import (
    SCHEMA_VERSION,
    BytecodeCategory,
    BytecodeGroup,
    BytecodeSummary,
    DependencyProblem,
    DependencyProblemKind,
    Distribution,
    EnvironmentKind,
    Finding,
    Interpreter,
    LocationClass,
    ModuleCount,
    PathCommand,
    PathEntry,
    PipCache,
    PthFile,
    PthLine,
    Report,
    Selection,
    SelectionReason,
    Severity,
    from_dict,
    to_dict,
)
from pyenvdoctor.render import OutputFormat, render

GOLDEN = Path(__file__).parent / "golden"


def sample_report() -> Report:
    """A small report with one of everything, built by hand."""
    interp = Interpreter(
        executable="/p/venv/bin/python",
        version="3.11.7 (main) [GCC 12.2.0]",
        version_info=(3, 11, 7, "final", 0),
        implementation="cpython",
        cache_tag="cpython-311",
        magic_number="a70d0d0a",
        sys_platform="linux",
        platform="Linux-6.1-x86_64-with-glibc2.36",
        machine="x86_64",
        prefix="/p/venv",
        base_prefix="/usr/local",
        exec_prefix="/p/venv",
        base_exec_prefix="/usr/local",
        is_virtual_environment=True,
        kind=EnvironmentKind.VENV,
        pyvenv_cfg="/p/venv/pyvenv.cfg",
        base_executable_home="/usr/local/bin",
        include_system_site_packages=False,
        sysconfig_scheme="venv",
        sysconfig_paths={
            "purelib": "/p/venv/lib/python3.11/site-packages",
            "stdlib": "/usr/local/lib/python3.11",
        },
        site_imported=True,
        user_site="/home/u/.local/lib/python3.11/site-packages",
        user_site_enabled=False,
        site_packages=("/p/venv/lib/python3.11/site-packages",),
        flags={"isolated": 0, "safe_path": False},
        pycache_prefix=None,
        check_hash_based_pycs="default",
        externally_managed=None,
        meta_path=("_frozen_importlib.BuiltinImporter",),
        source_suffixes=(".py",),
        bytecode_suffixes=(".pyc",),
        extension_suffixes=(".so",),
        builtin_module_names=("sys",),
        frozen_module_names=("os",),
        stdlib_module_names=("json", "sys"),
        marker_environment={"python_version": "3.11"},
    )
    dist = Distribution(
        name="Alpha",
        canonical_name="alpha",
        version="1.0",
        location="/p/venv/lib/python3.11/site-packages",
        location_class=LocationClass.VENV_SITE_PACKAGES,
        metadata_path="/p/venv/lib/python3.11/site-packages/alpha-1.0.dist-info",
        installer="pip",
        requested=True,
        editable=False,
        editable_project=None,
        editable_via=None,
        top_level=("alpha",),
        visible=True,
    )
    return Report(
        schema_version=SCHEMA_VERSION,
        tool_version="0.0.test",
        generated_at=None,
        selection=Selection(
            requested="/p/venv",
            executable="/p/venv/bin/python",
            reason=SelectionReason.VIRTUAL_ENV,
            explanation="the active environment (VIRTUAL_ENV=/p/venv)",
        ),
        interpreter=interp,
        environment_variables={"VIRTUAL_ENV": "/p/venv"},
        working_directory="/p",
        project_root="/p",
        sys_path=(
            PathEntry(
                index=0,
                path="",
                resolved="/p",
                exists=True,
                kind="directory",
                location=LocationClass.SCRIPT_DIR,
            ),
            PathEntry(
                index=1,
                path="/p/venv/lib/python3.11/site-packages",
                resolved="/p/venv/lib/python3.11/site-packages",
                exists=True,
                kind="directory",
                location=LocationClass.VENV_SITE_PACKAGES,
            ),
        ),
        pth_files=(),
        distributions=(dist,),
        dependency_problems=(
            DependencyProblem(
                kind=DependencyProblemKind.MISSING,
                distribution="alpha",
                version="1.0",
                dependency="beta",
                requirement="beta>=2",
                installed_version=None,
            ),
        ),
        modules=(
            ModuleCount(location_class=LocationClass.VENV_SITE_PACKAGES, modules=1, shadowed=0),
        ),
        contested_names=(),
        path_commands=(
            PathCommand(
                name="pip",
                path="/p/venv/bin/pip",
                resolved="/p/venv/bin/pip",
                interpreter="/p/venv/bin/python",
                kind="script",
            ),
        ),
        bytecode=BytecodeSummary(
            roots=("/p",),
            groups=(
                BytecodeGroup(
                    category=BytecodeCategory.ORPHANED,
                    location_class=LocationClass.PROJECT,
                    files=2,
                    bytes=3072,
                    examples=("/p/pkg/__pycache__/gone.cpython-311.pyc",),
                    roots=("/p",),
                ),
            ),
            unreadable=(),
            scanned_files=10,
        ),
        pip_cache=PipCache(
            directory="/home/u/.cache/pip",
            source="default",
            disabled=False,
            exists=True,
            http_files=3,
            http_bytes=2048,
            wheels_files=1,
            wheels_bytes=1024,
            other_files=0,
            other_bytes=0,
        ),
        pip_version="24.0",
        findings=(
            Finding(
                code="dependency-missing",
                severity=Severity.ERROR,
                title="A required distribution is not installed (1)",
                message="As `pip check` reports it: alpha 1.0 requires beta, which is not installed.",
                evidence=("alpha 1.0 requires beta, which is not installed.",),
                commands=("/p/venv/bin/python -m pip install 'beta>=2'",),
            ),
            Finding(
                code="bytecode-orphaned",
                severity=Severity.INFO,
                title="Bytecode whose source is gone: 2 files, 3.0 KiB",
                message="Debris | safe to remove.",
                evidence=("/p/pkg/__pycache__/gone.cpython-311.pyc",),
            ),
        ),
    )


@pytest.mark.parametrize("fmt", list(OutputFormat))
def test_golden_output(fmt: OutputFormat) -> None:
    text = render(sample_report(), fmt)
    golden = GOLDEN / f"report.{fmt.value}"
    if os.environ.get("PYENVDOCTOR_REGENERATE"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


def test_json_round_trip_and_validation() -> None:
    report = sample_report()
    data = json.loads(render(report, OutputFormat.JSON))
    assert data["schema_version"] == SCHEMA_VERSION
    assert from_dict(Report, data) == report
    assert to_dict(from_dict(Report, data)) == data
    bad = dict(data, distributions=[dict(data["distributions"][0], version=1)])
    with pytest.raises(
        ReportFormatError, match=r"\$\.distributions\[0\]\.version: expected a string"
    ):
        from_dict(Report, bad)
    with pytest.raises(ReportFormatError, match="unknown keys"):
        from_dict(Report, dict(data, surprise=1))
    with pytest.raises(ReportFormatError, match="is not a Severity"):
        from_dict(Finding, dict(data["findings"][0], severity="fatal"))


def test_markdown_table_cells_escape_pipes() -> None:
    text = render(sample_report(), OutputFormat.MARKDOWN)
    assert "Debris | safe" in text  # prose is not a table cell
    for line in text.splitlines():
        if line.startswith("| "):
            cells = line.replace("\\|", "").count("|")
            assert cells >= 3, line


def _rendered_markdown_texts(text: str) -> tuple[list[str], list[str]]:
    """Render Markdown with a real CommonMark + GFM tables implementation (markdown-it-py, which
    rich depends on): the code spans' contents and the plain text runs, as a reader sees them."""
    from markdown_it import MarkdownIt

    codes: list[str] = []
    texts: list[str] = []
    for block in MarkdownIt("commonmark").enable("table").parse(text):
        for child in block.children or ():
            if child.type == "code_inline":
                codes.append(child.content)
            elif child.type == "text":
                texts.append(child.content)
    return codes, texts


def test_markdown_shows_values_as_they_are() -> None:
    """Issue 17: backslashes, pipes, backticks and Markdown syntax in values come out literally
    in the rendered Markdown (code spans are not escaped twice; ``__init__`` is not bold)."""
    base = sample_report()
    tricky_exe = r"C:\Python\python.exe"
    tricky_line = r"import os; exec('try:\n  x | y')"
    entries = list(base.sys_path)
    entries[0] = dataclasses.replace(entries[0], path=r"C:\work\a|b", resolved=r"C:\work\a|b")
    pth = PthFile(
        path="/p/venv/lib/python3.11/site-packages/x.pth",
        sitedir="/p/venv/lib/python3.11/site-packages",
        skipped=None,
        lines=(PthLine(lineno=1, kind="import", text=tricky_line),),
    )
    dists = list(base.distributions)
    dists[0] = dataclasses.replace(dists[0], top_level=("__init__", "*star*", "a`b"))
    report = dataclasses.replace(
        base,
        interpreter=dataclasses.replace(base.interpreter, executable=tricky_exe),
        sys_path=tuple(entries),
        pth_files=(pth,),
        distributions=tuple(dists),
    )
    codes, texts = _rendered_markdown_texts(render(report, OutputFormat.MARKDOWN))
    assert tricky_exe in codes
    assert tricky_line.replace("\n", " ") in codes
    assert r"C:\work\a|b" in codes
    assert "__init__, *star*, a`b" in "".join(texts)


def test_markdown_evidence_is_capped_with_a_count_and_json_keeps_all() -> None:
    """Issue 17: a long evidence list ends with "… and N more"; the JSON has every line."""
    base = sample_report()
    many = tuple(f"/p/venv/lib/python3.11/site-packages/m{i}.pyc" for i in range(45))
    finding = dataclasses.replace(base.findings[0], evidence=many)
    report = dataclasses.replace(base, findings=(finding, *base.findings[1:]))
    text = render(report, OutputFormat.MARKDOWN)
    assert many[19] in text and many[20] not in text
    assert "… and 25 more (the JSON report lists all)" in text
    assert json.loads(render(report, OutputFormat.JSON))["findings"][0]["evidence"] == list(many)


def test_golden_text_all() -> None:
    text = render(sample_report(), OutputFormat.TEXT, full=True)
    golden = GOLDEN / "report.text-all"
    if os.environ.get("PYENVDOCTOR_REGENERATE"):
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


def _with_long_command(report: Report) -> tuple[Report, str]:
    command = (
        "/home/someone/projects/a-rather-long-project-name/.venv/bin/python -m pip install "
        "--force-reinstall --no-deps black==24.10.0 charset-normalizer==3.4.0 'zope.interface==7.1'"
    )
    warning = Finding(
        code="console-script-other-environment",
        severity=Severity.WARNING,
        title="3 scripts in /p/venv/bin run another environment's Python",
        message="A virtual environment cannot be moved or copied.\nReinstall what owns them.",
        evidence=tuple(f"/p/venv/bin/tool{i}: #!/old/venv/bin/python" for i in range(12)),
        commands=(command,),
    )
    return dataclasses.replace(report, findings=(*report.findings, warning)), command


@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("width", [60, 80, 120])
def test_text_commands_are_whole_on_their_own_lines_and_the_rest_fits(
    width: int, full: bool
) -> None:
    report, command = _with_long_command(sample_report())
    text = render(report, OutputFormat.TEXT, width=width, full=full)
    lines = text.splitlines()
    for f in report.findings:
        if full or f.severity is not Severity.INFO:
            for cmd in f.commands:
                assert "$ " + cmd in lines  # one line, unbroken, nothing around it (no box)
    assert "$ " + command in lines and len(command) > 120
    too_wide = [ln for ln in lines if len(ln) > width and not ln.startswith("$ ")]
    assert too_wide == []
    if not full:  # (rich pads the titles of the --all tables)
        assert [ln for ln in lines if ln != ln.rstrip()] == []
    assert "Reinstall what owns them." in text  # a newline in a message is kept


def test_default_text_view_is_short_and_all_adds_the_tables() -> None:
    report, _ = _with_long_command(sample_report())
    short = render(report, OutputFormat.TEXT, width=80)
    full = render(report, OutputFormat.TEXT, width=80, full=True)
    # Errors and warnings whole, evidence capped; infos one line each; no tables.
    assert "As `pip check` reports it" in short
    assert "/p/venv/bin/tool4:" in short and "/p/venv/bin/tool5:" not in short
    assert "… and 7 more (--all shows them all)" in short
    assert "  INFO bytecode-orphaned: Bytecode whose source is gone" in short
    assert "Debris | safe to remove." not in short
    assert "┏━━━┳" not in short and "Alpha" not in short  # no sys.path table
    assert "add --all." in short
    assert len(short.splitlines()) <= 30
    # --all: every finding whole, every evidence line, and the tables.
    assert "Debris | safe to remove." in full and "/p/venv/bin/tool11:" in full
    for table in ("Interpreter", "sys.path", "Commands on PATH", "Distributions (1 visible)"):
        assert table in full
    assert "Alpha" in full
