"""`feasibility import mimic-iv` on the MIMIC-IV Clinical Database Demo v2.2.

Data: Johnson A, Bulgarelli L, Pollard T, Horng S, Celi LA, Mark R. MIMIC-IV Clinical Database
Demo (v2.2). PhysioNet (2023). Open Database License 1.0 (ODbL); the lab-to-LOINC map is from
MIT-LCP/mimic-code v2.4.0 (MIT licence). Both live in ../shared/data beside the checkout.

Each criterion of a small test trial is counted twice: by the engine on the imported extract,
and directly from the raw hosp tables in polars (independently of the importer's SQL). The
counts must agree.
"""

from __future__ import annotations

import csv
import gzip
import re
import shutil
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from feasibility.cli import cli
from feasibility.criteria.load import load_trials
from feasibility.errors import FeasibilityError
from feasibility.importers.mimic import DRUG_ATC, MIMIC_NOTICE, import_mimic
from feasibility.run import run_feasibility
from feasibility.units import normalise_unit
from tests.support import REPO
from tests.test_errors import assert_one_line_error, feasibility
from tests.test_notice import notices_of

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mimic-iv-demo-2.2"
HOSP = DATA / "hosp"
MAP = DATA / "mimic_code_concept_map" / "d_labitems_to_loinc.csv"

pytestmark = pytest.mark.skipif(not HOSP.is_dir(), reason="shared MIMIC-IV demo data not present")

CONCEPTS = """
concepts:
  t_ckd_icd10:
    label: CKD (ICD-10-CM N18)
    kind: condition
    codes: {ICD10CM: [N18*]}
  t_ckd_icd9:
    label: CKD (ICD-9-CM 585)
    kind: condition
    codes: {ICD9CM: [585*]}
  t_creatinine:
    label: Creatinine
    kind: measurement
    codes: {LOINC: [2160-0]}
    unit: mg/dL
    units: {mg/dL: 1}
    default_uln: 1.2
  t_platelets:
    label: Platelets
    kind: measurement
    codes: {LOINC: [777-3]}
    unit: 10*9/L
    units: {"10*9/L": 1, K/uL: 1}
  t_anticoag:
    label: Warfarin, DOACs, enoxaparin
    kind: medication
    codes: {ATC: [B01AA03, B01AF01, B01AF02, B01AB05]}
    unit: mg/d
    units: {mg/d: 1}
  t_warfarin:
    label: Warfarin
    kind: medication
    codes: {ATC: [B01AA03]}
    unit: mg/d
    units: {mg/d: 1}
"""

TRIAL = """
id: T-MIMIC
title: importer cross-check
criteria:
  - {id: ADULT, kind: inclusion, text: adult, rule: {age: {min: 18}}}
  - {id: OLD, kind: inclusion, text: 65 or older, rule: {age: {min: 65}}}
  - {id: N18, kind: inclusion, text: ICD-10 N18, rule: {diagnosis: t_ckd_icd10}}
  - {id: C585, kind: inclusion, text: ICD-9 585, rule: {diagnosis: t_ckd_icd9}}
  - id: CREAT
    kind: inclusion
    text: latest creatinine above 1.5 x ULN
    rule: {lab: {concept: t_creatinine, above: 1.5, unit: ULN}}
  - id: CREAT_ABOVE
    kind: inclusion
    text: latest creatinine more than 0.1 mg/dL above the ULN
    rule: {lab: {concept: t_creatinine, above: 0.1, unit: mg/dL above ULN}}
  - id: PLT
    kind: inclusion
    text: platelets below 100 in the 90 days before index
    rule: {lab: {concept: t_platelets, below: 100, unit: 10*9/L, within: 90 days}}
  - id: ANTICOAG
    kind: inclusion
    text: warfarin, apixaban, rivaroxaban or enoxaparin in the 180 days before index
    rule: {medication: {concept: t_anticoag, within: 180 days}}
  - id: WARF5
    kind: inclusion
    text: warfarin at 5 mg/d or more in the 180 days before index
    rule: {medication: {concept: t_warfarin, within: 180 days, dose: {min: 5, unit: mg/d}}}
  - id: WARF_WK
    kind: inclusion
    text: warfarin at 15 mg a week or less in the 730 days before index
    rule: {medication: {concept: t_warfarin, within: 730 days, dose: {max: 15, unit: mg/wk}}}
  - id: WT80
    kind: inclusion
    text: latest weight 80 kg or more
    rule: {observation: {concept: weight, min: 80, unit: kg}}
  - id: SBP140
    kind: inclusion
    text: latest systolic blood pressure in the 365 days before index above 140 mmHg
    rule: {observation: {concept: systolic_bp, above: 140, unit: "mm[Hg]", within: 365 days}}
"""


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mimic")
    out = tmp / "extract.parquet"
    summary = import_mimic(HOSP, out)
    (tmp / "concepts").mkdir()
    (tmp / "concepts" / "test.yaml").write_text(CONCEPTS)
    trial = tmp / "trial.yaml"
    trial.write_text(TRIAL)
    report = run_feasibility(str(out), [trial], out=tmp / "report", min_cell=0, active_within=None)
    criteria = report["trials"][0]["sites"][0]["criteria"]
    ids = [
        "ADULT",
        "OLD",
        "N18",
        "C585",
        "CREAT",
        "CREAT_ABOVE",
        "PLT",
        "ANTICOAG",
        "WARF5",
        "WARF_WK",
        "WT80",
        "SBP140",
    ]
    counts = {cid: c["alone"]["true"] for cid, c in zip(ids, criteria, strict=True)}
    return summary, counts, out


def _csv(name: str, **overrides) -> pl.DataFrame:
    return pl.read_csv(HOSP / f"{name}.csv.gz", infer_schema_length=None, schema_overrides=overrides)


@pytest.fixture(scope="module")
def raw():
    """Per-patient index (last discharge) and birth year, straight from the raw tables."""
    patients = _csv("patients")
    adm = _csv("admissions").with_columns(
        pl.col("admittime").str.to_datetime().dt.date().alias("admit"),
        pl.col("dischtime").str.to_datetime().dt.date().alias("disch"),
    )
    idx = adm.group_by("subject_id").agg(pl.col("disch").max().alias("idx"))
    people = patients.join(idx, on="subject_id", how="left").with_columns(
        (pl.col("anchor_year") - pl.col("anchor_age")).alias("birth_year")
    )
    return people, adm


def _age_true(people: pl.DataFrame, minimum: int) -> int:
    # birth year only: age is (year(idx) - birth_year) or one less; TRUE only if both pass
    hi = pl.col("idx").dt.year() - pl.col("birth_year")
    dec31 = (pl.col("idx").dt.month() == 12) & (pl.col("idx").dt.day() == 31)
    lo = pl.when(dec31).then(hi).otherwise(hi - 1)
    return people.filter(lo >= minimum).height


def _latest(people, labs: pl.DataFrame) -> pl.DataFrame:
    """Per patient, the result up to index the checks below read: on the latest date, the
    row with the highest value (then text, unit, code, ref_high). The engine takes each
    figure's highest value on the latest date (docs/criteria-language.md); for the figures
    checked here, that is this row's."""
    big = -1e308
    return (
        labs.join(people.select("subject_id", "idx"), on="subject_id")
        .filter(
            (pl.col("d") <= pl.col("idx")) & (pl.col("valuenum").is_not_null() | pl.col("text").is_not_null())
        )
        .with_columns(
            pl.col("valuenum").fill_null(big).alias("v_key"),
            pl.col("text").fill_null("").alias("t_key"),
            pl.col("valueuom").fill_null("").alias("u_key"),
            pl.col("ref_range_upper").fill_null(big).alias("rh_key"),
        )
        .sort(
            ["subject_id", "d", "v_key", "t_key", "u_key", "code", "rh_key"],
            descending=[False, True, True, True, True, True, True],
        )
        .group_by("subject_id", maintain_order=True)
        .first()
    )


_WEEKDAYS = {"MON", "TUE", "TUES", "WED", "THU", "THUR", "THURS", "FRI", "SAT", "SUN"}
_DAY_PAIRS = {"MO", "TU", "WE", "TH", "FR", "SA", "SU"}


def _doses_a_week(frequency: str | None, per_day: float | None) -> float | None:
    """Doses a week of a MIMIC prescription, as docs/importing.md says the importer reads
    them: doses_per_24_hrs when above 0, else the pharmacy frequency's schedule."""
    if per_day is not None and per_day > 0:
        return 7.0 * per_day
    f = " ".join((frequency or "").upper().split())
    if m := re.fullmatch(r"([1-7]) ?X ?/ ?(WEEK|WK)", f):
        return float(m[1])
    if m := re.fullmatch(r"Q ?(\d+) ?(H|HR|HRS)", f):
        return 168 / int(m[1]) if int(m[1]) > 0 else None
    if f in ("QOD", "EVERY OTHER DAY"):
        return 3.5
    if f.startswith("Q") and f[1:].strip() in _WEEKDAYS:
        return 1.0
    pairs = [f[i : i + 2] for i in range(1, len(f), 2)]
    if f.startswith("Q") and len(f) % 2 == 1 and len(pairs) >= 2 and set(pairs) <= _DAY_PAIRS:
        return float(len(pairs)) if len(set(pairs)) == len(pairs) else None
    return None


def test_counts_match_raw_tables(imported, raw):
    summary, engine, _ = imported
    people, adm = raw
    loinc = (
        pl.read_csv(MAP, infer_schema_length=None)
        .rename({"itemid (omop_source_code)": "itemid"})
        .filter(pl.col("omop_vocabulary_id") == "LOINC")
        .select("itemid", pl.col("omop_concept_code").alias("code"))
    )
    labs = (
        _csv("labevents", value=pl.Utf8, valueuom=pl.Utf8)
        .join(loinc, on="itemid")
        .with_columns(
            pl.col("charttime").str.to_datetime().dt.date().alias("d"),
            pl.when(pl.col("valuenum").is_null())
            .then(pl.col("value").str.strip_chars())
            .otherwise(None)
            .alias("text"),
        )
    )

    expected: dict[str, int] = {}
    expected["ADULT"] = _age_true(people, 18)
    expected["OLD"] = _age_true(people, 65)

    dx = _csv("diagnoses_icd", icd_code=pl.Utf8).join(adm.select("hadm_id", "admit"), on="hadm_id")
    expected["N18"] = dx.filter((pl.col("icd_version") == 10) & pl.col("icd_code").str.starts_with("N18"))[
        "subject_id"
    ].n_unique()
    expected["C585"] = dx.filter((pl.col("icd_version") == 9) & pl.col("icd_code").str.starts_with("585"))[
        "subject_id"
    ].n_unique()

    creat = _latest(people, labs.filter(pl.col("code") == "2160-0"))
    ratio = (
        pl.when(pl.col("ref_range_upper") > 0)
        .then(pl.col("valuenum") / pl.col("ref_range_upper"))
        .when(pl.col("valueuom") == "mg/dL")
        .then(pl.col("valuenum") / 1.2)
    )
    expected["CREAT"] = creat.filter(ratio > 1.5).height
    # the distance above the limit needs the unit; rounded to the data's decimals, so that a
    # result exactly 0.1 above its limit is not above it (the engine's tolerance)
    above = (
        pl.when((pl.col("ref_range_upper") > 0) & (pl.col("valueuom") == "mg/dL"))
        .then(pl.col("valuenum") - pl.col("ref_range_upper"))
        .when(pl.col("valueuom") == "mg/dL")
        .then(pl.col("valuenum") - 1.2)
    )
    expected["CREAT_ABOVE"] = creat.filter(above.round(6) > 0.1).height

    plt = _latest(people, labs.filter(pl.col("code") == "777-3"))
    expected["PLT"] = plt.filter(
        (pl.col("d") >= pl.col("idx") - timedelta(days=90))
        & pl.col("valueuom").is_in(["K/uL", "10*9/L"])
        & (pl.col("valuenum") < 100)
    ).height

    rx = (
        _csv("prescriptions", dose_val_rx=pl.Utf8, ndc=pl.Utf8)
        .with_columns(
            pl.col("starttime").str.to_datetime().dt.date().alias("s"),
            pl.col("stoptime").str.to_datetime().dt.date().alias("e"),
            pl.col("drug").str.to_lowercase().alias("name"),
        )
        .join(people.select("subject_id", "idx"), on="subject_id")
    )

    def exposed(frame: pl.DataFrame, days: int) -> int:
        ws = pl.col("idx") - timedelta(days=days)
        end = pl.coalesce("e", "s")
        first = pl.max_horizontal("s", ws)
        last = pl.min_horizontal(end, "idx")
        span = ((last - first).dt.total_days() + 1).clip(lower_bound=0)
        f = frame.filter((pl.col("s") <= pl.col("idx")) & (end >= ws)).with_columns(span.alias("n"))
        return f.group_by("subject_id").agg(pl.col("n").sum()).filter(pl.col("n") >= 1).height

    anticoag = rx.filter(pl.col("name").str.contains(r"\b(warfarin|apixaban|rivaroxaban|enoxaparin)\b"))
    expected["ANTICOAG"] = exposed(anticoag, 180)
    warfarin = rx.filter(
        pl.col("name").str.contains(r"\bwarfarin\b")
        & (pl.col("dose_unit_rx") == "mg")
        & (pl.col("dose_val_rx").cast(pl.Float64, strict=False) * pl.col("doses_per_24_hrs") >= 5)
    )
    expected["WARF5"] = exposed(warfarin, 180)
    # a week's dose, from doses_per_24_hrs or else pharmacy's frequency (the demo gives
    # warfarin 1X/WEEK to 6X/WEEK and every 48 hours with doses_per_24_hrs 0 or none)
    frequency = _csv("pharmacy").select("pharmacy_id", "frequency")
    weekly = (
        rx.join(frequency, on="pharmacy_id", how="left")
        .filter(pl.col("name").str.contains(r"\bwarfarin\b") & (pl.col("dose_unit_rx") == "mg"))
        .with_columns(
            pl.struct("frequency", "doses_per_24_hrs")
            .map_elements(lambda r: _doses_a_week(r["frequency"], r["doses_per_24_hrs"]), pl.Float64)
            .alias("n")
        )
        .filter(pl.col("dose_val_rx").cast(pl.Float64, strict=False) * pl.col("n") <= 15 + 1e-9)
    )
    expected["WARF_WK"] = exposed(weekly, 730)
    # the case at stake: some patients pass only by a dose the schedule gives
    assert expected["WARF_WK"] > exposed(weekly.filter(pl.col("doses_per_24_hrs") > 0), 730)

    # the outpatient record: weight in pounds; blood pressure "systolic/diastolic", plain or
    # sitting (lying and standing readings are an orthostatic work-up, not imported)
    omr = (
        _csv("omr", result_value=pl.Utf8)
        .with_columns(pl.col("chartdate").str.to_date().alias("d"))
        .join(people.select("subject_id", "idx"), on="subject_id")
        .filter(pl.col("d") <= pl.col("idx"))
    )

    def latest_value(rows: pl.DataFrame) -> pl.DataFrame:
        # the latest date's highest value, per patient
        return (
            rows.sort(["subject_id", "d", "v"], descending=[False, True, True]).group_by("subject_id").first()
        )

    weight = omr.filter(pl.col("result_name") == "Weight (Lbs)").with_columns(
        (pl.col("result_value").cast(pl.Float64) * 0.45359237).alias("v")
    )
    expected["WT80"] = latest_value(weight).filter(pl.col("v") >= 80).height
    systolic = omr.filter(
        pl.col("result_name").is_in(["Blood Pressure", "Blood Pressure Sitting"])
    ).with_columns(pl.col("result_value").str.split("/").list.first().cast(pl.Float64).alias("v"))
    recent = latest_value(systolic).filter(pl.col("d") >= pl.col("idx") - timedelta(days=365))
    expected["SBP140"] = recent.filter(pl.col("v") > 140).height

    assert engine == expected
    # the criteria are not vacuous on this data
    assert all(expected[k] > 0 for k in expected), expected
    assert summary.patients == 100


def test_a_patient_dead_by_the_last_discharge_is_not_in_care(imported, raw, tmp_path):
    """`dod` is every row's death_date; the in-care step removes the patients dead by their
    index date (the last discharge: most died in hospital), which data quality counts, as the
    raw tables give them."""
    summary, _, out = imported
    people, _ = raw
    dod = people.select(
        pl.col("subject_id").cast(pl.Utf8).alias("patient_id"),
        pl.col("dod").str.to_date().alias("dod"),
        "idx",
    )
    extract = pl.read_parquet(out).select("patient_id", "death_date").unique()
    joined = extract.join(dod, on="patient_id", how="left")
    assert extract.height == people.height  # one death date (or none) per patient
    assert joined.filter(pl.col("death_date").ne_missing(pl.col("dod"))).height == 0
    assert summary.counts["patients with a date of death (dod)"] == dod["dod"].count()
    dead = dod.filter(pl.col("dod") <= pl.col("idx")).height
    assert 0 < dead < dod["dod"].count()  # some died after their last discharge
    seed_trials = Path(__file__).resolve().parents[1] / "trials"
    report = run_feasibility(str(out), [seed_trials], out=tmp_path / "r", min_cell=0)
    assert report["data_quality"]["counts"]["patients_deceased_by_index"] == dead


def test_summary_counts_gaps(imported):
    summary, _, _ = imported
    c = summary.counts
    labs = _csv("labevents", value=pl.Utf8, valueuom=pl.Utf8)
    assert c["lab rows read"] == labs.height == 107727
    lab_map = pl.read_csv(MAP, infer_schema_length=None)
    mapped = lab_map.filter(pl.col("omop_concept_code").is_not_null())["itemid (omop_source_code)"]
    unmapped = labs.filter(~pl.col("itemid").is_in(mapped.implode()))
    assert c["lab rows of items not in the LOINC map"] == unmapped.height > 0
    assert (
        c["lab results without an upper reference limit (ULN)"]
        == labs.filter(pl.col("valuenum").is_not_null() & pl.col("ref_range_upper").is_null()).height
    )
    two_units = (
        labs.filter(pl.col("valuenum").is_not_null() & pl.col("valueuom").is_not_null())
        .group_by("itemid")
        .agg(pl.col("valueuom").n_unique().alias("n"))
        .filter(pl.col("n") > 1)
    )
    assert c["lab items reported in two or more units"] == two_units.height > 0
    assert c["patients without a discharge (no index_date)"] == 0
    omr = _csv("omr", result_value=pl.Utf8)
    assert c["omr rows read"] == omr.height > 0
    not_imported = omr.filter(
        ~pl.col("result_name").str.contains(
            r"^(Weight \(Lbs\)|Height \(Inches\)|BMI \(kg/m2\)|Blood Pressure( Sitting)?)$"
        )
    )
    assert (
        c["omr rows not imported (measures other than weight, height, BMI and office blood pressure)"]
        == not_imported.height
        > 0
    )
    text = "\n".join(summary.lines())
    assert "ODbL" in text and "Johnson A, Bulgarelli L, Pollard T, Horng S, Celi LA, Mark R. MIMIC-IV" in text


def test_extract_shape(imported):
    _, _, out = imported
    df = pl.read_parquet(out)
    assert set(df["domain"].unique()) == {
        "person",
        "lab",
        "diagnosis",
        "medication",
        "procedure",
        "observation",
    }
    # the outpatient record: weight, height, BMI, and each blood pressure as two rows
    observations = df.filter(pl.col("domain") == "observation")
    assert dict(observations.group_by("code").agg(pl.col("unit").unique().first()).iter_rows()) == {
        "29463-7": "[lb_av]",
        "8302-2": "[in_i]",
        "39156-5": "kg/m2",
        "8480-6": "mm[Hg]",
        "8462-4": "mm[Hg]",
    }
    codes = observations["code"].value_counts()
    per_code = dict(codes.iter_rows())
    assert per_code["8480-6"] == per_code["8462-4"]
    assert set(df.filter(pl.col("domain") == "diagnosis")["code_system"].unique()) == {"ICD9CM", "ICD10CM"}
    # every patient has one index_date, their last discharge
    assert df.group_by("patient_id").agg(pl.col("index_date").n_unique())["index_date"].max() == 1
    # creatinine 50912 -> LOINC 2160-0, platelets 51265 -> 777-3
    assert {"2160-0", "777-3"} <= set(df.filter(pl.col("code_system") == "LOINC")["code"].unique())
    meds = df.filter(pl.col("code_system") == "ATC")
    assert sorted(meds.filter(pl.col("value_num").is_not_null())["unit"].unique()) == ["mg/d", "mg/wk"]
    assert meds.filter(pl.col("value_num").is_null() & pl.col("unit").is_not_null()).height == 0
    assert df.filter(pl.col("patient_id").is_null()).height == 0


def test_the_demos_results_are_in_units_the_library_knows(imported):
    """Every number of a measurement concept with a unit is in a unit the concept knows: a
    spelling missed (MIMIC-IV's `#/uL` lymphocytes, `Ratio` for a protein/creatinine ratio)
    makes those results UNKNOWN."""
    _, _, out = imported
    _, library = load_trials(None)
    units = (
        pl.read_parquet(out)
        .filter(pl.col("value_num").is_not_null() & pl.col("unit").is_not_null())
        .group_by("code_system", "code")
        .agg(pl.col("unit").unique())
    )
    seen, unknown = set(), []
    for concept in library.concepts.values():
        if concept.unit is None:  # qualitative: read against each result's own limits
            continue
        for system, code, spellings in units.iter_rows():
            if any(
                p.system == system and (code.startswith(p.code) if p.prefix else code == p.code)
                for p in concept.codes
            ):
                seen.add(concept.name)
                unknown += [
                    (concept.name, u) for u in spellings if concept.unit_factor(normalise_unit(u)) is None
                ]
    assert {"lymphocytes", "upcr", "creatinine", "weight"} <= seen
    assert unknown == []


def test_cli_on_the_mimic_folder(tmp_path):
    # DIR may be the MIMIC-IV folder itself: hosp/ inside, the map in DIR/mimic_code_concept_map
    out = tmp_path / "x.parquet"
    result = CliRunner().invoke(
        cli, ["import", "mimic-iv", str(DATA), "--out", str(out), "--notice", "Site agreement 17"]
    )
    assert result.exit_code == 0, result.output
    assert out.is_file()
    assert not list(tmp_path.glob(".*tmp"))  # the temporary file was renamed away
    assert "lab items reported in two or more units" in result.output
    # the ODbL citation always, and the site's own notice after it
    assert notices_of(out) == (MIMIC_NOTICE, "Site agreement 17")


def test_the_extract_carries_the_odbl_citation_into_reports(imported, tmp_path):
    _, _, out = imported
    assert notices_of(out) == (MIMIC_NOTICE,)
    report = run_feasibility(str(out), [REPO / "tests/fixtures/trials/small.yaml"], out=tmp_path / "rep")
    assert report["provenance"]["extract"]["notices"] == [MIMIC_NOTICE]
    assert "ODbL 1.0" in (tmp_path / "rep" / "report.html").read_text()


def test_a_bad_notice_is_refused_before_the_import(tmp_path):
    out = tmp_path / "x.parquet"
    proc = feasibility("import", "mimic-iv", str(DATA), "--out", str(out), "--notice", " ", cwd=tmp_path)
    assert_one_line_error(proc, "--notice", "is empty")
    assert not out.exists()


def _tiny_hosp(tmp: Path, drop: str | None = None) -> Path:
    hosp = tmp / "hosp"
    hosp.mkdir(parents=True)
    for name in ("patients", "admissions", "diagnoses_icd", "labevents", "prescriptions"):
        if name != drop:
            with (
                gzip.open(HOSP / f"{name}.csv.gz", "rt") as src,
                gzip.open(hosp / f"{name}.csv.gz", "wt") as dst,
            ):
                for i, line in enumerate(src):
                    if i > 50:
                        break
                    dst.write(line)
    return hosp


def test_errors_are_one_line(tmp_path):
    with pytest.raises(FeasibilityError, match="not found"):
        import_mimic(tmp_path / "nope", tmp_path / "x.parquet", loinc_map=MAP)
    hosp = _tiny_hosp(tmp_path / "a", drop="labevents")
    with pytest.raises(FeasibilityError, match="required table `labevents` is missing —"):
        import_mimic(hosp, tmp_path / "x.parquet", loinc_map=MAP)
    # a missing table is named before the lab map is looked for; a folder without any of
    # MIMIC's tables is probably something else
    with pytest.raises(FeasibilityError, match="required table `labevents`"):
        import_mimic(hosp, tmp_path / "x.parquet")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "person.csv").write_text("person_id\n1\n")
    with pytest.raises(FeasibilityError, match=r"`patients` is missing \(not a MIMIC-IV hosp folder\?\)"):
        import_mimic(tmp_path / "other", tmp_path / "x.parquet")
    hosp = _tiny_hosp(tmp_path / "b")
    # no map beside the folder and none given
    with pytest.raises(FeasibilityError, match="--loinc-map"):
        import_mimic(hosp, tmp_path / "x.parquet")
    (hosp / "patients.csv.gz").write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(FeasibilityError, match="cannot read") as e:
        import_mimic(hosp, tmp_path / "x.parquet", loinc_map=MAP)
    assert "\n" not in str(e.value)
    assert not (tmp_path / "x.parquet").exists()
    # a small but complete copy imports, with the map found beside the hosp folder
    hosp = _tiny_hosp(tmp_path / "c")
    shutil.copytree(MAP.parent, tmp_path / "c" / "mimic_code_concept_map")
    summary = import_mimic(hosp, tmp_path / "c.parquet")
    assert summary.rows > 0 and summary.patients > 0


def test_a_table_without_a_column_the_import_reads_is_named(tmp_path):
    """A column the import reads, of a required table or of an optional one given, is named
    with its table; the prescriptions' pharmacy_id may be absent (only schedules need it)."""
    hosp = _tiny_hosp(tmp_path / "a")
    out = tmp_path / "x.parquet"
    with gzip.open(hosp / "pharmacy.csv.gz", "wt") as f:
        f.write("pharmacy_id,route\n1,PO\n")
    line = assert_one_line_error(
        feasibility("import", "mimic-iv", str(hosp), "--loinc-map", str(MAP), "--out", str(out), cwd=tmp_path)
    )
    assert "table `pharmacy` has no column `frequency`" in line
    (hosp / "pharmacy.csv.gz").unlink()

    _drop_column(hosp / "labevents.csv.gz", "valuenum")
    with pytest.raises(FeasibilityError, match="table `labevents` has no column `valuenum`"):
        import_mimic(hosp, out, loinc_map=MAP)
    assert not out.exists()


def test_the_drug_table_of_the_docs_is_the_importers():
    """docs/importing.md's drug names -> ATC table is DRUG_ATC, pair for pair. A row lists
    its codes in order (`H02AB01, 02` abbreviates H02AB02) and, in the same order, the names
    of each code (`a / b`: two names of one code; a bracket is a comment)."""
    doc = (Path(__file__).resolve().parents[1] / "docs" / "importing.md").read_text(encoding="utf-8")
    section = doc.split("**Drug names → ATC.**", 1)[1].split("\n\n", 2)[1]
    pairs = set()
    for codes_cell, names_cell in re.findall(r"^\| ([A-Z0-9, ]+) \| (.+) \|$", section, re.M):
        if codes_cell == "ATC":
            continue  # the heading
        codes: list[str] = []
        for token in codes_cell.split(", "):
            codes.append(codes[-1][: -len(token)] + token if token.isdigit() else token)
        groups = [re.sub(r"\(.*?\)", "", group).strip() for group in names_cell.split(", ")]
        assert len(codes) == len(groups), codes_cell
        for code, group in zip(codes, groups, strict=True):
            pairs.update((name.strip(), code) for name in group.split(" / "))
    assert pairs == set(DRUG_ATC)


def _edit_csv(path: Path, edit) -> None:
    """Rewrite the gzipped CSV `path` after `edit` changed its rows (header first) in place."""
    with gzip.open(path, "rt", newline="") as f:
        rows = list(csv.reader(f))
    edit(rows)
    with gzip.open(path, "wt", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)


def _drop_column(path: Path, column: str) -> None:
    def edit(rows: list[list[str]]) -> None:
        at = rows[0].index(column)
        for row in rows:
            del row[at]

    _edit_csv(path, edit)


def test_out_inside_the_source_is_refused(tmp_path):
    hosp = _tiny_hosp(tmp_path / "mimic")
    lab_map = tmp_path / "mimic" / "mimic_code_concept_map" / MAP.name
    shutil.copytree(MAP.parent, lab_map.parent)
    before = {p: p.read_bytes() for p in (hosp / "patients.csv.gz", lab_map)}
    for given, out in (
        (hosp, hosp / "patients.csv.gz"),
        (hosp, hosp / "extract" / "x.parquet"),
        (hosp.parent, tmp_path / "mimic" / "x.parquet"),  # the MIMIC-IV folder holding hosp/
    ):
        with pytest.raises(FeasibilityError, match="--out is inside the MIMIC-IV folder"):
            import_mimic(given, out)
    with pytest.raises(FeasibilityError, match="--out is the lab-to-LOINC map itself"):
        import_mimic(hosp, lab_map)
    line = assert_one_line_error(
        feasibility("import", "mimic-iv", str(hosp), "--out", str(hosp / "patients.csv.gz"), cwd=tmp_path)
    )
    assert "inside the MIMIC-IV folder" in line
    assert {p: p.read_bytes() for p in before} == before
    assert not (hosp / "extract").exists() and not list(hosp.glob(".*"))
    assert import_mimic(hosp, tmp_path / "x.parquet").patients > 0


def test_a_source_without_patients_is_refused(tmp_path):
    hosp = _tiny_hosp(tmp_path / "a")
    out = tmp_path / "x.parquet"
    _edit_csv(hosp / "patients.csv.gz", lambda rows: rows.__delitem__(slice(1, None)))  # header only
    line = assert_one_line_error(
        feasibility("import", "mimic-iv", str(hosp), "--loinc-map", str(MAP), "--out", str(out), cwd=tmp_path)
    )
    assert "no patients in the source (table `patients` has no rows)" in line
    assert not out.exists() and not list(tmp_path.glob(".*.tmp"))


def test_rows_with_unreadable_dates_are_counted(tmp_path):
    hosp = _tiny_hosp(tmp_path / "a")
    out = tmp_path / "x.parquet"
    with gzip.open(hosp / "patients.csv.gz", "rt") as f:
        someone = next(csv.DictReader(f))["subject_id"]

    def to_someone(rows: list[list[str]]) -> None:
        # four lab rows made a known patient's, so that the extract has them while dated
        for row in rows[1:5]:
            row[rows[0].index("subject_id")] = someone

    _edit_csv(hosp / "labevents.csv.gz", to_someone)
    before = import_mimic(hosp, out, loinc_map=MAP)
    assert not [k for k in before.counts if "could not be read" in k]  # listed where it happens
    labs_before = pl.read_parquet(out).filter(pl.col("domain") == "lab").height

    def garble(rows: list[list[str]]) -> None:
        at = rows[0].index("charttime")
        for i, text in ((1, "32/13/2180 25:61"), (2, "garbled"), (3, "2180-02-30 10:00:00"), (4, "")):
            rows[i][at] = text

    def no_start(rows: list[list[str]]) -> None:
        rows[1][rows[0].index("starttime")] = "yesterday"

    with gzip.open(hosp / "diagnoses_icd.csv.gz", "rt") as f:
        diagnoses = [row["hadm_id"] for row in csv.DictReader(f)]

    def no_admittime(rows: list[list[str]]) -> None:
        # the admission of the first diagnosis: its diagnoses lose their date
        for row in rows[1:]:
            if row[rows[0].index("hadm_id")] == diagnoses[0]:
                row[rows[0].index("admittime")] = "2180-99-01"

    _edit_csv(hosp / "labevents.csv.gz", garble)
    _edit_csv(hosp / "prescriptions.csv.gz", no_start)
    _edit_csv(hosp / "admissions.csv.gz", no_admittime)
    summary = import_mimic(hosp, out, loinc_map=MAP)
    c = summary.counts
    assert c["labevents rows whose charttime could not be read (dropped)"] == 3
    assert c["lab rows without a charttime (dropped)"] == 1
    assert c["prescriptions rows whose starttime could not be read (dropped)"] == 1
    assert c["prescriptions without a start (dropped)"] == 0
    assert "procedures_icd rows whose chartdate could not be read (dropped)" not in c
    assert c["diagnoses_icd rows whose admission's admittime could not be read (dropped)"] == diagnoses.count(
        diagnoses[0]
    )
    assert (
        c["diagnoses without a dated admission (dropped)"]
        == before.counts["diagnoses without a dated admission (dropped)"]
    )
    extract = pl.read_parquet(out)
    assert extract.filter(pl.col("domain") == "lab").height == labs_before - 4
    text = "\n".join(summary.lines())
    assert not any(v in text for v in ("32/13", "garbled", "2180-02-30", "yesterday", "2180-99"))


def test_the_outpatient_record_gives_weight_height_bmi_and_blood_pressure(tmp_path):
    hosp = _tiny_hosp(tmp_path / "a")
    with gzip.open(hosp / "patients.csv.gz", "rt") as f:
        someone = next(csv.DictReader(f))["subject_id"]
    rows = [
        ("2180-01-02", "Blood Pressure", "120/80"),
        ("2180-01-03", "Blood Pressure Sitting", "150/95"),
        ("2180-01-03", "Blood Pressure Standing (1 min)", "110/70"),  # orthostatic: not imported
        ("2180-01-04", "Blood Pressure", "130/"),  # no diastolic
        ("2180-01-02", "Weight (Lbs)", "154"),
        ("2180-01-05", "Weight (Lbs)", "n/a"),
        ("2180-13-01", "Weight (Lbs)", "160"),  # a date that cannot be read
        ("2180-01-02", "Height (Inches)", "65.5"),
        ("2180-01-02", "BMI (kg/m2)", "25.1"),
        ("2180-01-02", "eGFR", ">60"),  # not imported
    ]
    with gzip.open(hosp / "omr.csv.gz", "wt") as f:
        f.write("subject_id,chartdate,seq_num,result_name,result_value\n")
        f.writelines(f"{someone},{day},1,{name},{value}\n" for day, name, value in rows)
    out = tmp_path / "x.parquet"
    summary = import_mimic(hosp, out, loinc_map=MAP)
    observations = (
        pl.read_parquet(out)
        .filter(pl.col("domain") == "observation")
        .select("code", "start_date", "value_num", "unit")
        .sort("code", "start_date")
    )
    assert observations.rows() == [
        ("29463-7", date(2180, 1, 2), 154.0, "[lb_av]"),
        ("39156-5", date(2180, 1, 2), 25.1, "kg/m2"),
        ("8302-2", date(2180, 1, 2), 65.5, "[in_i]"),
        ("8462-4", date(2180, 1, 2), 80.0, "mm[Hg]"),
        ("8462-4", date(2180, 1, 3), 95.0, "mm[Hg]"),
        ("8480-6", date(2180, 1, 2), 120.0, "mm[Hg]"),
        ("8480-6", date(2180, 1, 3), 150.0, "mm[Hg]"),
        ("8480-6", date(2180, 1, 4), 130.0, "mm[Hg]"),
    ]
    c = summary.counts
    assert c["omr rows read"] == len(rows)
    assert c["omr rows not imported (measures other than weight, height, BMI and office blood pressure)"] == 2
    assert c["omr values that are not a number (dropped)"] == 2  # "n/a" and the missing diastolic
    assert c["omr rows whose chartdate could not be read (dropped)"] == 1
    text = "\n".join(summary.lines())
    assert not any(v in text for v in ("n/a", "2180-13-01", "154", ">60"))


# (frequency, doses_per_24_hrs, dose_val_rx, dose_unit_rx) -> the warfarin row's (value_num, unit)
_SCHEDULES = [
    ("DAILY", "1", "5", "mg", (5.0, "mg/d")),
    ("3X/WEEK", "1", "5", "mg", (5.0, "mg/d")),  # doses_per_24_hrs above 0 decides
    ("3X/WEEK", "0", "2", "mg", (6.0, "mg/wk")),
    ("6X/WEEK", "", "5", "mg", (30.0, "mg/wk")),
    ("1x / wk", "0", "10", "mg", (10.0, "mg/wk")),
    ("Q48H", "0", "4", "mg", (2.0, "mg/d")),
    ("Q 72H", "0", "3", "mg", (1.0, "mg/d")),
    ("Q6H", "", "1", "mg", (4.0, "mg/d")),
    ("Q0H", "0", "5", "mg", (None, None)),
    ("EVERY OTHER DAY", "0", "3", "mg", (1.5, "mg/d")),
    ("QMOWEFR", "", "2", "mg", (6.0, "mg/wk")),
    ("QTHUR", "0", "2500", "mcg", (2.5, "mg/wk")),
    ("QMONTH", "0", "5", "mg", (None, None)),  # monthly: no unit to write it in
    ("QMO", "0", "5", "mg", (None, None)),  # Monday or monthly: not guessed
    ("QMOMO", "0", "5", "mg", (None, None)),  # a day twice
    ("PRN", "0", "5", "mg", (None, None)),
    ("Q4H:PRN", "", "5", "mg", (None, None)),
    ("3X/WEEK", "0", "1-2", "mg", (None, None)),  # a range is no dose
]


_BY_SCHEDULE = "prescriptions dosed by pharmacy's frequency (no doses_per_24_hrs)"


def test_a_dose_without_doses_per_24_hrs_is_read_from_its_schedule(tmp_path):
    """Where doses_per_24_hrs is 0 or none (MIMIC-IV writes 0 for `3X/WEEK`, `Q48H`), the
    pharmacy table's frequency gives the dose per day or per week (docs/importing.md)."""
    hosp = _tiny_hosp(tmp_path / "a")
    with gzip.open(hosp / "patients.csv.gz", "rt") as f:
        someone = next(csv.DictReader(f))["subject_id"]
    with gzip.open(HOSP / "prescriptions.csv.gz", "rt") as f:
        header = next(csv.reader(f))
    prescriptions = [header]
    pharmacy = [["pharmacy_id", "frequency"]]
    for n, (frequency, per_day, dose, unit, _) in enumerate(_SCHEDULES):
        row = dict.fromkeys(header, "")
        row.update(
            subject_id=someone,
            pharmacy_id=str(900 + n),
            starttime=f"2180-01-{n + 1:02} 08:00:00",
            drug="Warfarin",
            dose_val_rx=dose,
            dose_unit_rx=unit,
            doses_per_24_hrs=per_day,
            route="PO",
        )
        prescriptions.append([row[c] for c in header])
        pharmacy.append([str(900 + n), frequency])
    # a pharmacy_id listed twice with two schedules gives none
    prescriptions.append([*prescriptions[3][:2], "999", *prescriptions[3][3:]])
    pharmacy += [["999", "2X/WEEK"], ["999", "Q48H"]]
    for name, rows in (("prescriptions", prescriptions), ("pharmacy", pharmacy)):
        with gzip.open(hosp / f"{name}.csv.gz", "wt", newline="") as f:
            csv.writer(f, lineterminator="\n").writerows(rows)

    def doses(extract: Path) -> list[tuple[float | None, str | None]]:
        rows = pl.read_parquet(extract).filter(pl.col("code") == "B01AA03")
        rows = rows.sort("start_date", "value_num", nulls_last=True)
        return list(zip(rows["value_num"], rows["unit"], strict=True))

    out = tmp_path / "x.parquet"
    summary = import_mimic(hosp, out, loinc_map=MAP)
    expected = [dose for *_, dose in _SCHEDULES]
    assert doses(out) == [*expected[:3], (None, None), *expected[3:]]  # the duplicate is dated day 3
    scheduled = [d for _, per_day, *_, d in _SCHEDULES if d[0] is not None and per_day in ("", "0")]
    assert summary.counts[_BY_SCHEDULE] == len(scheduled)
    no_dose = [d for *_, d in _SCHEDULES if d[0] is None]
    without = "ATC-mapped prescriptions without a dose in mg (a day or a week)"
    assert summary.counts[without] == len(no_dose) + 1  # and the pharmacy_id listed twice

    # without the pharmacy table, or the prescriptions' pharmacy_id, only doses_per_24_hrs counts
    by_day = [dose if dose[1] == "mg/d" and float(s[1] or 0) > 0 else (None, None) for *s, dose in _SCHEDULES]
    (hosp / "pharmacy.csv.gz").unlink()
    summary = import_mimic(hosp, out, loinc_map=MAP)
    assert doses(out) == [*by_day[:3], (None, None), *by_day[3:]]
    assert summary.counts[_BY_SCHEDULE] == 0
    with gzip.open(hosp / "pharmacy.csv.gz", "wt", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(pharmacy)
    _drop_column(hosp / "prescriptions.csv.gz", "pharmacy_id")
    import_mimic(hosp, out, loinc_map=MAP)
    assert doses(out) == [*by_day[:3], (None, None), *by_day[3:]]


def test_a_csv_with_a_ragged_row_says_so(tmp_path):
    hosp = _tiny_hosp(tmp_path / "a")
    out = tmp_path / "x.parquet"
    _edit_csv(hosp / "patients.csv.gz", lambda rows: rows[3].extend(["extra", "fields"]))
    line = assert_one_line_error(
        feasibility("import", "mimic-iv", str(hosp), "--loinc-map", str(MAP), "--out", str(out), cwd=tmp_path)
    )
    assert "patients.csv.gz: cannot parse the CSV (line 4 has more fields than the header's 6)" in line
    assert "no column" not in line and "extra" not in line
    _edit_csv(hosp / "patients.csv.gz", lambda rows: rows[3].__delitem__(slice(2, None)))
    with pytest.raises(FeasibilityError, match=r"line 4 has 2 fields, the header 6"):
        import_mimic(hosp, out, loinc_map=MAP)
    assert not out.exists()
