"""An extract's notice (the licence or citation its data must carry, `feasibility.notice` in
the parquet metadata) travels into every report built from it: report.json, report.html, the
terminal, and `feasibility compare`."""

from __future__ import annotations

import io
import json

import duckdb
import pytest
from rich.console import Console

from feasibility.compare import collect, describe
from feasibility.errors import FeasibilityError
from feasibility.extract.contract import NOTICE_KEY, NOTICE_MAX_CHARS, split_notices
from feasibility.extract.source import inspect_extract
from feasibility.importers.common import notice_lines
from feasibility.reports.compare_report import compare_html, print_compare
from feasibility.reports.terminal import print_report
from feasibility.run import run_feasibility
from tests.support import REPO, frame, small_trial_rows
from tests.test_errors import assert_one_line_error, feasibility

TRIAL = REPO / "tests/fixtures/trials/small.yaml"
CITATION = "Example data: CC BY 4.0; cite Doe J. Example Registry (2026)"


def noticed_extract(path, notice: str | None):
    """The small trial's patients written to `path` with `notice` as the extract's notice."""
    metadata = None if notice is None else {NOTICE_KEY: notice}
    frame(small_trial_rows()).write_parquet(path, metadata=metadata)
    return path


def latin1_noticed_extract(path):
    """The small trial's patients with a notice in Latin-1 (`étude`), not UTF-8."""
    plain = noticed_extract(path.with_name("plain.parquet"), None)
    con = duckdb.connect()
    try:
        con.execute(
            f"COPY (SELECT * FROM read_parquet('{plain}')) TO '{path}' "
            f"(FORMAT parquet, KV_METADATA {{'{NOTICE_KEY}': '\\xE9tude'::BLOB}})"
        )
    finally:
        con.close()
    return path


def notices_of(path) -> tuple[str, ...]:
    con = duckdb.connect()
    try:
        return inspect_extract(con, str(path)).notices
    finally:
        con.close()


def test_the_notice_is_read_line_by_line_once_per_extract(tmp_path):
    folder = tmp_path / "extract"
    folder.mkdir()
    # two files of one export carry the same notice, a third adds a line: each line once
    noticed_extract(folder / "a.parquet", CITATION)
    noticed_extract(folder / "b.parquet", f"{CITATION}\n\n  Site agreement 17  ")
    noticed_extract(folder / "c.parquet", None)
    assert notices_of(folder) == (CITATION, "Site agreement 17")
    assert notices_of(folder / "c.parquet") == ()


def test_control_characters_never_reach_a_report(tmp_path):
    extract = noticed_extract(tmp_path / "x.parquet", "Licence\x1b[2J text\x07")
    assert notices_of(extract) == ("Licence[2J text",)


@pytest.mark.parametrize("notice", ["latin-1", "too long"])
def test_a_notice_that_is_not_one_is_refused_before_the_run(tmp_path, notice):
    if notice == "latin-1":
        extract, fragment = latin1_noticed_extract(tmp_path / "x.parquet"), "is not UTF-8 text"
    else:
        extract, fragment = noticed_extract(tmp_path / "x.parquet", "x" * (NOTICE_MAX_CHARS + 1)), "more than"
    proc = feasibility("run", str(extract), "--trials", str(TRIAL), "--out", "rep", cwd=tmp_path)
    assert_one_line_error(proc, str(extract), NOTICE_KEY, fragment)
    assert not (tmp_path / "rep").exists()


@pytest.fixture(scope="module")
def noticed_report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("notice")
    # the site's text, shown to readers: markup and HTML in it must stay text
    notice = f"{CITATION}\n[bold]<script>alert(1)</script>"
    extract = noticed_extract(tmp / "x.parquet", notice)
    report = run_feasibility(str(extract), [TRIAL], out=tmp / "rep", site="A")
    return report, tmp / "rep"


def test_the_report_carries_the_notice(noticed_report):
    report, folder = noticed_report
    expected = [CITATION, "[bold]<script>alert(1)</script>"]
    assert report["provenance"]["extract"]["notices"] == expected
    assert json.loads((folder / "report.json").read_text())["provenance"]["extract"]["notices"] == expected
    html = (folder / "report.html").read_text()
    header = html[html.index("<header>") : html.index("</header>")]
    assert f"Data notice: {CITATION}<br>[bold]&lt;script&gt;alert(1)&lt;/script&gt;" in header
    assert "<script>alert(1)" not in html


def test_the_terminal_prints_the_notice_as_text(noticed_report):
    report, _ = noticed_report
    out = io.StringIO()
    print_report(report, Console(file=out, width=200, color_system=None))
    text = out.getvalue()
    assert f"Data notice: {CITATION}" in text
    assert "[bold]<script>alert(1)</script>" in text  # not read as rich markup


def test_a_report_without_a_notice_prints_none(small_reports):
    report, folder = small_reports["shared"]
    assert report["provenance"]["extract"]["notices"] == []
    out = io.StringIO()
    print_report(report, Console(file=out, width=200, color_system=None))
    assert "Data notice" not in out.getvalue()
    assert "Data notice" not in (folder / "report.html").read_text()


def test_compare_repeats_each_reports_notice(noticed_report, small_reports, tmp_path):
    _, noticed = noticed_report
    _, plain = small_reports["shared"]
    sites, reports = collect([noticed, plain])
    described = describe(reports, [str(noticed), str(plain)], sites)
    assert [d["notices"] for d in described] == [[CITATION, "[bold]<script>alert(1)</script>"], []]
    out = io.StringIO()
    print_compare([], [], Console(file=out, width=200, color_system=None), reports=described)
    assert f"data notice: {CITATION}" in out.getvalue()
    html = compare_html([], [], reports=described)
    assert f"<td>{CITATION}<br>[bold]&lt;script&gt;" in html
    assert "<script>alert(1)" not in html


def test_compare_reads_reports_written_before_notices(small_reports, tmp_path):
    report, _ = small_reports["shared"]
    old = json.loads(json.dumps(report))
    del old["provenance"]["extract"]["notices"]
    (tmp_path / "report.json").write_text(json.dumps(old))
    sites, reports = collect([tmp_path / "report.json"])
    assert describe(reports, ["old"], sites)[0]["notices"] == []


def test_compare_refuses_a_notice_that_is_not_text(small_reports, tmp_path):
    report, _ = small_reports["shared"]
    edited = json.loads(json.dumps(report))
    edited["provenance"]["extract"]["notices"] = [3]
    (tmp_path / "report.json").write_text(json.dumps(edited))
    with pytest.raises(FeasibilityError, match=r"provenance\.extract\.notices\[0\]` must be text"):
        collect([tmp_path / "report.json"])


def test_the_reader_and_the_import_split_a_notice_alike(tmp_path):
    # one splitting for both, each with its own policy for control characters
    texts = ["a\r\n\n  b  ", "b\na", "c"]
    assert split_notices(texts, str) == ("a", "b", "c")
    assert split_notices(["a\x07b"], lambda line: line.replace("\x07", "")) == ("ab",)
    assert notice_lines(texts) == ("a", "b", "c")
    extract = noticed_extract(tmp_path / "x.parquet", "\n".join(texts))
    assert notices_of(extract) == ("a", "b", "c")


def test_an_import_notice_is_checked_before_the_import():
    assert notice_lines(["a\nb", " a ", "c"]) == ("a", "b", "c")
    for bad, fragment in (("  ", "is empty"), ("a\x1bb", "control characters"), ("x" * 2001, "longer")):
        with pytest.raises(FeasibilityError, match=fragment) as caught:
            notice_lines([bad])
        assert caught.value.where == "--notice"
