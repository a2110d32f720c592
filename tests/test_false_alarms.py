"""False alarms of issue 14, rebuilt on real environments: each situation is healthy, so its
report must hold no error or warning of the class fixed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import make_venv, report_json, run

pytestmark = pytest.mark.slow


def test_mypyc_wheel_shipping_its_source_is_no_warning(tmp_path: Path) -> None:
    # charset-normalizer's wheels are built with mypyc: md.cpython-*.so beside md.py, both in
    # its RECORD. Import loads the extension, as the wheel intends.
    venv_python = make_venv(tmp_path / "venv")
    try:
        run(
            [
                venv_python,
                "-m",
                "pip",
                "install",
                "-q",
                "--only-binary",
                ":all:",
                "charset-normalizer==3.4.1",
            ]
        )
    except (AssertionError, subprocess.CalledProcessError) as exc:  # no network and no local wheel
        pytest.skip(f"charset-normalizer wheel not available: {str(exc)[:200]}")
    out = run([venv_python, "-c", "import charset_normalizer.md as m; print(m.__file__)"])
    assert out.stdout.strip().endswith(".so"), out.stdout  # the extension is what runs
    data = report_json(venv_python, None, tmp_path)
    found = [f for f in data["findings"] if f["code"] == "extension-shadows-source"]
    assert len(found) == 1  # still said, as information
    assert found[0]["severity"] == "info"
    assert "charset_normalizer" in found[0]["message"]
    assert not [f for f in data["findings"] if f["severity"] in ("error", "warning")], [
        (f["code"], f["title"]) for f in data["findings"] if f["severity"] != "info"
    ]

    # An extension no RECORD lists beside a source (an in-place build) is still a warning.
    site = Path(
        run([venv_python, "-c", "import charset_normalizer as c; print(c.__file__)"]).stdout.strip()
    ).parent
    ext = next(site.glob("md.cpython-*.so"))
    inplace = site / ext.name.replace("md.", "cd.", 1)
    assert (site / "cd.py").is_file()
    shutil.copy(ext, inplace)
    data = report_json(venv_python, None, tmp_path)
    (finding,) = [f for f in data["findings"] if f["code"] == "extension-shadows-source"]
    assert finding["severity"] == "warning"
    assert [e.split(" (")[0] for e in finding["evidence"]] == [str(inplace)]
