"""The synthetic extract generator: deterministic, contract-shaped, fast enough to test small."""

from __future__ import annotations

import errno
import os
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from feasibility.compile.code_map import build_code_map
from feasibility.compile.plan import plan_features
from feasibility.criteria.load import load_trials
from feasibility.errors import FeasibilityError
from feasibility.extract.contract import COLUMNS
from feasibility.synth.generate import (
    MAX_AGE,
    SEED_MAX,
    SEED_MIN,
    check_as_of,
    days_back,
    generate,
    site_ids,
)
from feasibility.synth.tables import build_tables
from tests.test_errors import assert_one_line_error, feasibility

AS_OF = date(2025, 6, 30)
FIXTURES = Path(__file__).parent / "fixtures" / "trials"


def _make(path: Path, **kw) -> int:
    args = dict(patients=400, sites=3, seed=7, as_of=AS_OF)
    args.update(kw)
    return generate(path, **args)


def _rows(path: Path) -> list[tuple]:
    return duckdb.sql(f"SELECT * FROM read_parquet('{path}') ORDER BY ALL").fetchall()


@pytest.fixture(scope="module")
def sorted_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("synth") / "sorted.parquet"
    _make(path)
    return path


def test_same_seed_same_file(tmp_path, sorted_file):
    again = tmp_path / "again.parquet"
    _make(again)
    assert again.read_bytes() == sorted_file.read_bytes()


def test_thread_count_does_not_change_rows(tmp_path, sorted_file):
    one = tmp_path / "one.parquet"
    _make(one, threads=1)
    assert _rows(one) == _rows(sorted_file)


def test_different_seed_different_rows(tmp_path, sorted_file):
    other = tmp_path / "other.parquet"
    _make(other, seed=8)
    assert _rows(other) != _rows(sorted_file)


@pytest.fixture(scope="module")
def benchmark_like(tmp_path_factory) -> tuple[Path, int]:
    """2,000 patients: enough for the workload's shape to show."""
    path = tmp_path_factory.mktemp("synth") / "2000.parquet"
    return path, _make(path, patients=2000)


def test_row_count_about_fifty_per_patient(benchmark_like):
    path, rows = benchmark_like
    assert rows == duckdb.sql(f"SELECT count(*) FROM read_parquet('{path}')").fetchall()[0][0]
    assert 45 * 2000 <= rows <= 55 * 2000


def test_about_a_third_of_rows_carry_a_code_the_trials_use(benchmark_like):
    # counted the way the engine maps codes: (code system, code, unit) triples of the code map
    path, rows = benchmark_like
    trials, library = load_trials(None)
    dictionary = duckdb.sql(
        f"SELECT code_system, code, unit, count(*), count(value_num) FROM read_parquet('{path}') GROUP BY ALL"
    ).fetchall()
    code_map, _ = build_code_map(plan_features(trials, library), dictionary)
    mapped = {(r.code_system, r.code, r.unit) for r in code_map}
    trial_rows = sum(n for system, code, unit, n, _ in dictionary if (system, code, unit or "") in mapped)
    assert 0.25 <= trial_rows / rows <= 0.40


def test_contract_columns_and_types(sorted_file):
    described = duckdb.sql(f"DESCRIBE SELECT * FROM read_parquet('{sorted_file}')").fetchall()
    types = {name: kind for name, kind, *_ in described}
    # the optional dates the generator does not write: birth dates, index dates, deaths
    expected = {c.name: c.type for c in COLUMNS if c.name not in ("birth_date", "index_date", "death_date")}
    assert types == expected


def test_one_person_row_and_constant_demographics(sorted_file):
    con = duckdb.connect()
    con.execute(f"CREATE VIEW x AS SELECT * FROM read_parquet('{sorted_file}')")
    assert con.execute("SELECT count(DISTINCT patient_id) FROM x").fetchone()[0] == 400
    assert con.execute("SELECT count(*) FROM x WHERE domain = 'person'").fetchone()[0] == 400
    bad = con.execute("""SELECT count(*) FROM (SELECT patient_id FROM x GROUP BY 1
                         HAVING count(DISTINCT sex) > 1 OR count(DISTINCT birth_year) > 1
                             OR count(DISTINCT site_id) > 1)""").fetchone()[0]
    assert bad == 0
    ages = con.execute("SELECT min(2025 - birth_year), max(2025 - birth_year) FROM x").fetchone()
    assert 16 <= ages[0] <= 19 and ages[1] <= 85
    assert (
        con.execute(
            "SELECT count(*) FROM x WHERE domain <> 'person' AND "
            "(code IS NULL OR start_date IS NULL OR start_date > ?)",
            [AS_OF],
        ).fetchone()[0]
        == 0
    )


@pytest.mark.parametrize("sites", [1, 2, 5])
def test_sites_as_requested(tmp_path, sites):
    path = tmp_path / "s.parquet"
    _make(path, patients=300, sites=sites)
    found = [
        r[0] for r in duckdb.sql(f"SELECT DISTINCT site_id FROM read_parquet('{path}') ORDER BY 1").fetchall()
    ]
    assert found == site_ids(sites)


def test_shuffled_holds_the_same_rows(tmp_path, sorted_file):
    shuffled = tmp_path / "shuffled.parquet"
    _make(shuffled, sort_rows=False)
    assert _rows(shuffled) == _rows(sorted_file)
    order = [r[0] for r in duckdb.sql(f"SELECT patient_id FROM read_parquet('{sorted_file}')").fetchall()]
    assert order == sorted(order)
    mixed = [r[0] for r in duckdb.sql(f"SELECT patient_id FROM read_parquet('{shuffled}')").fetchall()]
    assert mixed != sorted(mixed)


def test_site_unit_habits_and_quality_noise(sorted_file):
    con = duckdb.connect()
    con.execute(f"CREATE VIEW x AS SELECT * FROM read_parquet('{sorted_file}')")
    units = dict(
        con.execute("""SELECT site_id, string_agg(DISTINCT unit, ',') FROM x
                                WHERE code IN ('2160-0', '14682-9', '59826-8')
                                GROUP BY 1""").fetchall()
    )
    assert "mg/dL" in units["SITE-A"] and "umol/L" in units["SITE-B"]
    missing = dict(
        con.execute("""SELECT site_id, avg((ref_high IS NULL)::INT) FROM x
                                  WHERE code IN ('1742-6', '1743-4', '1744-2', '76625-3')
                                  GROUP BY 1""").fetchall()
    )
    assert missing["SITE-A"] == 0 and missing["SITE-C"] > 0.1
    texts = {
        r[0]
        for r in con.execute(
            "SELECT DISTINCT lower(value_text) FROM x WHERE value_text IS NOT NULL"
        ).fetchall()
    }
    assert {"positive", "negative"} <= texts


def test_complement_has_its_lower_limit_and_is_low_in_some_patients(sorted_file):
    """C3 and C4 carry a ref_low (the seed trials read them against it), in each site's unit,
    and some results fall below it: low complement in active lupus."""
    below, above, without = duckdb.sql(
        f"""SELECT count(*) FILTER (value_num < ref_low), count(*) FILTER (value_num >= ref_low),
                   count(*) FILTER (ref_low IS NULL)
            FROM read_parquet('{sorted_file}') WHERE code IN ('4485-9', '4498-2')"""
    ).fetchall()[0]
    assert below > 0 and above > below and without == 0


def test_one_site_writes_viral_loads_below_the_limit_as_bounds(sorted_file):
    """SITE-A writes a viral load below its assay's limit as `<limit`, with no number, as
    labs report one below the limit of quantification; the other sites write the number."""
    rows = duckdb.sql(
        f"""SELECT site_id, value_num, value_text, ref_high
            FROM read_parquet('{sorted_file}') WHERE code IN ('42595-9', '29615-2', '11258-1')"""
    ).fetchall()
    bounds = [(site, num, text, ref) for site, num, text, ref in rows if text is not None]
    assert bounds and {site for site, *_ in bounds} == {"SITE-A"}
    assert all(
        num is None and text.startswith("<") and float(text[1:]) == ref for _, num, text, ref in bounds
    )
    numbers_below = [num for site, num, _, ref in rows if site != "SITE-A" and num is not None and num < ref]
    assert numbers_below


def test_other_trials_folder(tmp_path):
    path = tmp_path / "fixture.parquet"
    rows = _make(path, patients=200, trials_paths=[FIXTURES])
    assert rows > 200


def _slot_ids(trials_paths: list[Path] | None) -> dict[str, list[int]]:
    """Per concept, the ids of its slots in `build_tables` for the given trials."""
    slots = build_tables(*load_trials(trials_paths), sites=3).slots
    ids: dict[str, list[int]] = {}
    for concept, slot_id in zip(slots["concept"], slots["slot_id"], strict=True):
        ids.setdefault(concept, []).append(slot_id)
    return ids


def test_a_concept_keeps_its_random_draws_whatever_else_is_generated():
    """A slot's random draws are keyed by its id, and a concept's slots keep their ids when
    other concepts are generated beside it: a concept the trials come to use, or another trial,
    leaves the others' events as they were (unless it changes their look-back windows)."""
    every = _slot_ids(None)
    one = _slot_ids([Path(__file__).parent.parent / "trials" / "MC-1-50-SLE.yaml"])
    flat = [slot_id for ids in every.values() for slot_id in ids]
    assert len(set(flat)) == len(flat), "two slots share an id"
    # a concept whose codes another concept's slots already emit has none of its own
    both = one.keys() & every.keys()
    assert 0 < len(both) < len(every)
    assert {name: every[name] for name in both} == {name: one[name] for name in both}


def test_big_files_get_several_row_groups(tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    import feasibility.synth.generate as synth

    monkeypatch.setattr(synth, "ROW_GROUP_SIZE", 5000)
    path = tmp_path / "groups.parquet"
    rows = _make(path, patients=300)
    assert pq.ParquetFile(path).metadata.num_row_groups >= rows // 5000


def test_blocks_of_patients_give_the_same_rows_and_report_progress(tmp_path, monkeypatch, sorted_file):
    import feasibility.synth.generate as synth

    # millions of patients are made a block at a time; the blocks change nothing in the rows
    monkeypatch.setattr(synth, "CHUNK_PATIENTS", 150)
    heard: list[str] = []
    path = tmp_path / "blocks.parquet"
    _make(path, progress=heard.append)
    assert _rows(path) == _rows(sorted_file)
    assert heard == [
        "generating patients 1 to 150 of 400",
        "generating patients 151 to 300 of 400",
        "generating patients 301 to 400 of 400",
        "writing blocks.parquet",
    ]


def test_the_shipped_sample_is_what_its_readme_command_makes(tmp_path):
    """The sample is made from the concept library: a library edit must regenerate it (with
    the command sample_data/README.md gives), or the sample exercises stale code lists."""
    from tests.support import REPO

    readme = (REPO / "sample_data" / "README.md").read_text(encoding="utf-8")
    command = next(line for line in readme.splitlines() if line.startswith("feasibility synth"))
    words = command.split()
    option = {words[i]: words[i + 1] for i in range(2, len(words) - 1, 2)}
    again = tmp_path / "sample.parquet"
    generate(
        again,
        patients=int(option["--patients"]),
        sites=int(option["--sites"]),
        seed=int(option["--seed"]),
        # the command's --as-of, else the synth command's default, which AS_OF is
        as_of=date.fromisoformat(option["--as-of"]) if "--as-of" in option else AS_OF,
    )
    assert _rows(again) == _rows(REPO / "sample_data" / "extract.parquet"), (
        "sample_data/extract.parquet is stale: run the command in sample_data/README.md"
    )


def test_no_row_is_dated_further_back_than_days_back_says(benchmark_like):
    # days_back mirrors the SQL's date models to refuse an --as-of too early: it must bound them
    path, _ = benchmark_like
    trials, library = load_trials(None)
    bound = days_back(build_tables(trials, library, 3).slots)
    oldest = duckdb.sql(
        f"SELECT min(least(start_date, coalesce(end_date, start_date))), min(birth_year) "
        f"FROM read_parquet('{path}')"
    ).fetchall()[0]
    assert oldest[0] >= AS_OF - timedelta(days=bound)
    assert oldest[1] >= AS_OF.year - MAX_AGE


def test_the_earliest_as_of_gives_dates_python_reads(tmp_path):
    trials, library = load_trials(None)
    slots = build_tables(trials, library, 3).slots
    earliest = date(MAX_AGE + 1, 1, 1)
    check_as_of(earliest, slots)
    with pytest.raises(FeasibilityError, match=r"0085-12-31 is too early.*--as-of 0086-01-01 or later"):
        check_as_of(earliest - timedelta(days=1), slots)
    path = tmp_path / "early.parquet"
    _make(path, as_of=earliest)
    # Python refuses to convert a date before year 1: fetching every row would fail on one
    rows = duckdb.sql(f"SELECT birth_year, start_date, end_date FROM read_parquet('{path}')").fetchall()
    assert min(r[0] for r in rows) >= 1
    assert max(r[1] for r in rows if r[1]) == earliest


def test_an_as_of_too_early_writes_nothing(tmp_path):
    with pytest.raises(FeasibilityError, match="--as-of: 0001-01-01 is too early"):
        _make(tmp_path / "new" / "x.parquet", as_of=date(1, 1, 1))
    assert list(tmp_path.iterdir()) == []


def test_the_seed_is_a_bigint(tmp_path):
    with pytest.raises(FeasibilityError, match="--seed: the seed is out of range"):
        _make(tmp_path / "x.parquet", seed=SEED_MAX + 1)
    with pytest.raises(FeasibilityError, match="--seed"):
        _make(tmp_path / "x.parquet", seed=SEED_MIN - 1)
    assert list(tmp_path.iterdir()) == []
    assert _make(tmp_path / "max.parquet", patients=20, seed=SEED_MAX) > 20
    assert _make(tmp_path / "min.parquet", patients=20, seed=SEED_MIN) > 20


def test_an_out_that_is_no_file_to_write_is_refused_first(tmp_path):
    folder = tmp_path / "folder"
    folder.mkdir()
    plain = tmp_path / "plain.txt"
    plain.write_text("keep me")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    before = sorted(tmp_path.rglob("*"))
    for out, message, where in [
        (folder, "this is a folder", folder),
        (plain / "x.parquet", "is a file, not a folder", plain),
        (fifo, "exists and is not a regular file", fifo),
    ]:
        with pytest.raises(FeasibilityError, match=message) as caught:
            _make(out)
        assert caught.value.where == str(where)
    assert sorted(tmp_path.rglob("*")) == before
    assert plain.read_text() == "keep me"


def test_a_new_extract_is_named_as_parquet_and_has_a_patient_at_every_site(tmp_path):
    # `synth --out x.csv` would put parquet in a file every reader takes for CSV
    proc = feasibility("synth", "--patients", "10", "--out", "x.csv", cwd=tmp_path)
    assert_one_line_error(proc, "--out x.csv", "must say so", "--out x.parquet")
    proc = feasibility("synth", "--patients", "10", "--sites", "20", "--out", "x.parquet", cwd=tmp_path)
    assert_one_line_error(proc, "--sites", "20 sites for 10 patients")
    assert not list(tmp_path.iterdir())


def test_only_an_earlier_extract_is_replaced(tmp_path):
    # a mistyped --out naming a trial or a CSV must not turn it into parquet
    trial = tmp_path / "trial.yaml"
    trial.write_text("id: T\n")
    with pytest.raises(FeasibilityError, match="exists and is not a parquet file") as caught:
        _make(trial)
    assert caught.value.where == str(trial) and trial.read_text() == "id: T\n"
    out = tmp_path / "x.parquet"
    first = _make(out, patients=20, seed=1)
    assert _make(out, patients=30, seed=2) > first  # the earlier extract was replaced


def test_a_failed_write_leaves_nothing_behind(tmp_path, monkeypatch):
    def full(self, target):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Path, "replace", full)
    out = tmp_path / "new" / "deeper" / "x.parquet"
    with pytest.raises(
        FeasibilityError, match=r"cannot write the extract here \(the disk is full\)"
    ) as caught:
        _make(out, patients=20)
    assert caught.value.where == str(out)
    assert list(tmp_path.iterdir()) == []  # neither the file, its scratch, nor the folders made


def test_an_unwritable_place_is_one_error(tmp_path):
    with pytest.raises(FeasibilityError, match="cannot write the extract here") as caught:
        _make(Path("/proc/x.parquet"), patients=20)
    assert caught.value.where == "/proc/x.parquet"
