"""RECORD path fields (collect/records.py) against what the stdlib's own reader says.

The oracle is ``importlib.metadata`` (``Distribution.files``, csv-based) over every distribution of
this project's own environment, plus RECORDs pip's csv writer quotes (a comma, a quote, a newline
and a form feed in a file name).
"""

from __future__ import annotations

import csv
import importlib.metadata
import os
import sys
from pathlib import Path

from pyenvdoctor.collect.records import Records


def test_every_record_of_this_environment_reads_as_importlib_metadata_reads_it() -> None:
    records = Records()
    compared = 0
    for dist in importlib.metadata.distributions(path=sys.path):
        path = getattr(dist, "_path", None)
        if path is None or not str(path).endswith(".dist-info"):
            continue
        expected = tuple(str(f) for f in dist.files or ())
        assert records.paths(str(path)) == expected, path
        for needle in ("bin", "..", ".pth", "/", ".py"):  # what the checks ask, against csv
            assert Records().containing(str(path), needle) == [
                p for p in expected if needle in p
            ], (path, needle)
        compared += 1
    assert compared >= 10  # pytest, mypy, ruff, rich, packaging ... are installed here


def test_quoted_fields_and_odd_line_breaks_follow_csv(tmp_path: Path) -> None:
    names = ["pkg/a,b.py", 'pkg/q"uote.py', "pkg/new\nline.py", "pkg/form\x0cfeed.py", "pkg/m.py"]
    info = tmp_path / "pkg-1.0.dist-info"
    info.mkdir()
    with open(info / "RECORD", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)  # what pip writes with (QUOTE_MINIMAL, \r\n)
        for name in names:
            writer.writerow([name, "sha256=x", "1"])
    assert Records().paths(str(info)) == tuple(names)


def test_unquoted_record_with_a_form_feed_in_a_name(tmp_path: Path) -> None:
    info = tmp_path / "pkg-1.0.dist-info"
    info.mkdir()
    (info / "RECORD").write_bytes(b"pkg/form\x0cfeed.py,,\r\npkg/m.py,,\npkg/n.py,,\r")
    with open(info / "RECORD", newline="", encoding="utf-8") as f:
        expected = tuple(row[0] for row in csv.reader(f) if row)
    assert Records().paths(str(info)) == expected == ("pkg/form\x0cfeed.py", "pkg/m.py", "pkg/n.py")


def test_missing_undecodable_and_fifo_records_own_nothing(tmp_path: Path) -> None:
    missing, latin, fifo = (tmp_path / f"{n}-1.0.dist-info" for n in ("missing", "latin", "fifo"))
    for d in (missing, latin, fifo):
        d.mkdir()
    (latin / "RECORD").write_bytes(b"caf\xe9.py,,\n")
    os.mkfifo(fifo / "RECORD")
    records = Records()
    assert records.paths(str(missing)) == ()
    assert records.paths(str(latin)) == ()
    assert records.paths(str(fifo)) == ()  # returns at once: not opened for a blocking read


def test_rows_containing_look_at_the_path_field_only(tmp_path: Path) -> None:
    info = tmp_path / "pkg-1.0.dist-info"
    info.mkdir()
    (info / "RECORD").write_bytes(
        b"pkg/a.py,sha256=xbinx,1\n../../../bin/tool,sha256=bin,10\r\n\npkg/bin.txt\n,bin,\r"
    )
    records = Records()
    assert records.containing(str(info), "bin") == ["../../../bin/tool", "pkg/bin.txt"]
    assert records.containing(str(info), "..") == ["../../../bin/tool"]
    assert records.paths(str(info)) == ("pkg/a.py", "../../../bin/tool", "pkg/bin.txt", "")


def test_record_owners_searching_few_paths_agrees_with_splitting_every_record() -> None:
    """``record_owners`` looks a few paths up in each RECORD's text and splits the RECORDs for
    many; both give pip's own answer (``pip show -f`` lists these files) for this venv."""
    import sysconfig

    from pyenvdoctor.checks.bytecode import record_owners

    site = sysconfig.get_paths()["purelib"]
    pip_init = os.path.join(site, "pip", "__init__.py")
    version = os.path.join(site, "packaging", "version.py")
    stray = os.path.join(site, "pip", "not-installed-by-anyone.py")
    few = record_owners([pip_init, version, stray], [site])
    padding = [os.path.join(site, "nothing", f"m{i}.py") for i in range(20)]
    many = record_owners([pip_init, version, stray, *padding], [site])
    assert few == many == {pip_init: "pip", version: "packaging"}


def test_record_owners_of_many_paths_through_their_shared_end() -> None:
    """More than a few paths are searched through the end they share (``.py`` here): the
    owners are those of splitting every RECORD, and a path with another end changes nothing."""
    import sysconfig

    from pyenvdoctor.checks import bytecode

    site = sysconfig.get_paths()["purelib"]
    wanted = [
        os.path.join(site, "pip", "__init__.py"),
        os.path.join(site, "packaging", "version.py"),
    ]
    wanted += [os.path.join(site, "nothing", f"m{i}.py") for i in range(20)]
    assert bytecode._shared_end(os.path.relpath(p, site) for p in wanted) == ".py"
    through_end = bytecode.record_owners(wanted, [site])
    mixed = bytecode.record_owners([*wanted, os.path.join(site, "nothing", "x.txt")], [site])
    assert through_end == mixed == {wanted[0]: "pip", wanted[1]: "packaging"}
