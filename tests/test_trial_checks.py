"""Mistakes in trial files that would otherwise pass unnoticed or be told in a programmer's
words: thresholds in the wrong unit, a concept file given as a trial, YAML syntax errors,
a mistyped trial id and a duplicated `--order` id."""

from __future__ import annotations

from pathlib import Path

import pytest

from feasibility.criteria.describe import describe
from feasibility.criteria.load import load_trials
from feasibility.criteria.model import Comparison, Truth
from feasibility.errors import TrialError
from feasibility.units import normalise_unit
from tests.support import REPO
from tests.test_errors import assert_one_line_error, feasibility

# -- thresholds outside the concept's plausible range (trials/concepts/labs.yaml: hemoglobin is
# g/L with plausible [20, 250] and knows g/dL (x10), mg/dL (x0.01) and mmol/L (x16.11))


def _trial(tmp_path, rule: str, cid: str = "IN7") -> str:
    """A one-criterion trial using the shipped library, written as a data manager would."""
    path = tmp_path / "t.yaml"
    path.write_text(
        f"id: T\ncriteria:\n  - id: {cid}\n    kind: inclusion\n    text: x\n    rule:\n      {rule}\n",
        encoding="utf-8",
    )
    return str(path)


@pytest.mark.parametrize(
    ("rule", "fragments"),
    [
        (
            "lab: {concept: hemoglobin, min: 90, unit: mmol/L, within: 90 days}",
            [
                "t.yaml:7: criterion `IN7`: the `hemoglobin` threshold `min: 90` mmol/L (1450 g/L) "
                "is outside the concept's plausible range (20..250 g/L)",
                "fix: check the threshold's unit (did you mean g/L?)",
            ],
        ),
        (
            # 9 meant g/dL; 9 mmol/L (145 g/L) would fit too, so both are offered
            "lab: {concept: hemoglobin, min: 9, unit: g/L}",
            [
                "the `hemoglobin` threshold `min: 9` g/L is outside the concept's plausible range (20..250 g/L)",
                "(did you mean g/dL or mmol/L?)",
            ],
        ),
        (
            "lab: {concept: hemoglobin, above: 60, below: 900, unit: g/L}",
            ["`below: 900` g/L", "labs.yaml:", "check the threshold and its unit against the protocol"],
        ),
        (
            # 200 mg/dL of creatinine is 17.7 mg/dL written in umol/L, or 20 mg/dL in mg/L
            "lab: {concept: creatinine, max: 200, unit: mg/dL}",
            ["`max: 200` mg/dL", "(0..30 mg/dL)", "(did you mean umol/L or mg/L?)"],
        ),
        (
            "lab: {concept: cd19_b_cells_percent, above: 150, unit: '%'}",
            ["`above: 150` %", "(0..100 %)", "against the protocol"],
        ),
        (
            "observation: {concept: ecog, max: 7, unit: '{score}'}",
            ["the `ecog` threshold `max: 7` {score}", "plausible range"],
        ),
    ],
)
def test_a_threshold_outside_the_plausible_range_is_refused(tmp_path, rule, fragments):
    path = _trial(tmp_path, rule)
    assert_one_line_error(feasibility("check", path, cwd=tmp_path), *fragments)


@pytest.mark.parametrize(
    "rule",
    [
        # the range's own ends are thresholds a protocol may state
        "lab: {concept: hemoglobin, min: 20, max: 250, unit: g/L}",
        "lab: {concept: cd19_b_cells_percent, above: 0, unit: '%'}",
        "lab: {concept: hemoglobin, min: 9, unit: g/dL}",  # 90 g/L
        "lab: {concept: hemoglobin, min: 5, unit: mmol/L}",  # 80.55 g/L
        # multiples of the ULN are not values of the concept
        "lab: {concept: alt, max: 300, unit: ULN}",
        "lab: {concept: creatinine, max: 1.5, unit: mg/dL}",
    ],
)
def test_thresholds_within_the_plausible_range_are_read(tmp_path, rule):
    assert load_trials([Path(_trial(tmp_path, rule))])[0][0].criteria[0].rule


def test_the_shipped_trials_have_plausible_thresholds():
    proc = feasibility("check", cwd=REPO)
    assert proc.returncode == 0, proc.stderr


def _refused_with_concepts(tmp_path: Path, concepts: str, rule: str, pattern: str) -> None:
    """A one-criterion trial with `rule`, beside a `concepts/` folder holding `concepts`
    (YAML), is refused with a message matching `pattern`."""
    (tmp_path / "concepts").mkdir()
    (tmp_path / "concepts" / "c.yaml").write_text("concepts:\n" + concepts, encoding="utf-8")
    with pytest.raises(TrialError, match=pattern):
        load_trials([Path(_trial(tmp_path, rule))])


IVIG = "  ivig:\n    kind: medication\n    codes: {ATC: [J06BA02]}\n"  # no dose unit


def test_a_measurement_without_a_plausible_range_of_its_own_is_non_negative(tmp_path):
    _refused_with_concepts(
        tmp_path,
        "  crp:\n    kind: measurement\n    codes: {LOINC: [1988-5]}\n    unit: mg/L\n    units: {mg/dL: 10}\n",
        "lab: {concept: crp, below: -1, unit: mg/L}",
        r"t\.yaml:7: .*`below: -1` mg/L .*\(0 mg/L or more\)",
    )


def test_a_stable_dose_of_a_medication_without_a_dose_unit_is_refused(tmp_path):
    _refused_with_concepts(
        tmp_path,
        IVIG,
        "medication: {concept: ivig, within: 8 weeks, min_days: 28, dose: {stable: true}}",
        r"t\.yaml:7: .*`ivig` has no dose unit .*give the concept `ivig` a `unit:`",
    )


def test_a_total_dose_of_a_medication_without_a_daily_unit_is_refused(tmp_path):
    _refused_with_concepts(
        tmp_path,
        IVIG,
        "medication: {concept: ivig, total: {above: 2, unit: g}}",
        r"t\.yaml:7: a total dose adds up daily doses, and `ivig` has no daily",
    )


def test_a_dose_per_kilogram_needs_a_weight_concept_in_kg(tmp_path):
    _refused_with_concepts(
        tmp_path,
        "  steroids:\n    kind: medication\n    codes: {ATC: [H02AB*]}\n    unit: mg/d\n"
        "  weight:\n    kind: measurement\n    codes: {LOINC: [29463-7]}\n    unit: '[lb_av]'\n",
        "medication: {concept: steroids, dose: {min: 1, unit: mg/kg/d}}",
        r"t\.yaml:7: a dose per kilogram needs a concept `weight` with canonical unit kg",
    )


def test_a_dose_per_kilogram_is_read_as_protocols_write_it(tmp_path):
    for unit in ("mg/kg/d", "mg/kg/day", "MG/KG/DAY", "g/kg/d"):
        path = tmp_path / "trial.yaml"
        path.write_text(
            _with_rule(f"medication: {{concept: glucocorticoids, dose: {{max: 0.5, unit: '{unit}'}}}}"),
            encoding="utf-8",
        )
        (trial,), library = load_trials([path])
        rule = trial.criteria[0].rule
        factor = 1000 if unit.startswith("g") else 1
        assert rule.per_kg, unit
        # in the concept's unit, moved out by the rounding tolerance and nothing else
        assert rule.dose_in_canonical(library["glucocorticoids"]) == Comparison(max=0.5 * factor).widened(), (
            unit
        )


@pytest.mark.parametrize(
    ("total", "canonical", "no_exposure"),
    [
        ("{above: 10, unit: g}", Comparison(above=10000), Truth.FALSE),
        ("{max: 500, unit: mg}", Comparison(max=500), Truth.TRUE),
        ("{min: 1, max: 2, unit: G}", Comparison(min=1000, max=2000), Truth.FALSE),
    ],
)
def test_a_total_dose_reads_as_a_mass_and_no_exposure_is_a_total_of_0(
    tmp_path, total, canonical, no_exposure
):
    path = tmp_path / "trial.yaml"
    path.write_text(
        _with_rule(f"medication: {{concept: cyclophosphamide, total: {total}}}"), encoding="utf-8"
    )
    (trial,), library = load_trials([path])
    rule = trial.criteria[0].rule
    assert rule.total_in_canonical(library["cyclophosphamide"]) == canonical.widened()
    assert rule.if_missing is no_exposure


# -- a concept library file given where a trial belongs


def test_a_shipped_concept_file_given_as_a_trial_says_where_trials_are(tmp_path):
    labs = REPO / "trials" / "concepts" / "labs.yaml"
    proc = feasibility("run", "x.parquet", "--trials", str(labs), "--out", "r", cwd=tmp_path)
    assert_one_line_error(
        proc,
        f"{labs}:8: this is a concept file (it has a top-level `concepts:`), not a trial",
        f"fix: give the trial files or their folder ({REPO / 'trials'}) instead",
        f"the concept files in {labs.parent}, the `concepts/` folder beside them",
    )
    assert "unknown key" not in proc.stderr


def test_a_concept_file_elsewhere_is_told_to_go_into_a_concepts_folder(tmp_path):
    (tmp_path / "labs.yaml").write_text(
        "concepts:\n  myc:\n    kind: condition\n    codes: {ICD10CM: [M32*]}\n", encoding="utf-8"
    )
    proc = feasibility("check", "labs.yaml", cwd=tmp_path)
    assert_one_line_error(
        proc,
        "labs.yaml:1: this is a concept file",
        "fix: put it in a `concepts/` folder beside the trial files that use it (concepts)",
    )
    # moved there as told, it is read for the trial beside it
    (tmp_path / "concepts").mkdir()
    (tmp_path / "labs.yaml").rename(tmp_path / "concepts" / "labs.yaml")
    _trial(tmp_path, "diagnosis: myc")
    assert feasibility("check", "t.yaml", cwd=tmp_path).returncode == 0


def test_a_trial_with_a_stray_concepts_key_is_still_an_unknown_key(tmp_path):
    path = Path(_trial(tmp_path, "sex: F"))
    path.write_text(path.read_text(encoding="utf-8") + "concepts: {}\n", encoding="utf-8")
    with pytest.raises(TrialError, match="unknown key `concepts` in a trial"):
        load_trials([path])


# -- YAML syntax errors: the parser's words and place, and a fix a data manager can act on

HEAD = "id: T\ncriteria:\n  - id: IN1\n    kind: inclusion\n"


@pytest.mark.parametrize(
    ("body", "place", "fix"),
    [
        # a criterion's `- ` forgotten
        (
            "    text: x\n    rule: {sex: F}\n  id: IN2\n    kind: inclusion\n",
            "7:3",
            'fix: line 7: items of a list start with "- " at the same indentation as the one before '
            '(line 3): add the missing "- "',
        ),
        # a line inside an item indented one space short
        (
            "   text: x\n",
            "5:4",
            'fix: line 5 is indented 3 spaces: items of a list start with "- " at the same indentation '
            "as the one before (2 spaces, line 3), and the lines inside an item line up under its "
            "first word (4 spaces)",
        ),
        # an extra `- ` among the keys of a criterion
        ("    - text: x\n", "5:5", 'fix: line 5: this "- " sits among the keys of the mapping above'),
        # list items of a rule out of line
        (
            "    text: x\n    rule:\n      any:\n        - sex: F\n         - sex: M\n",
            "9:10",
            'fix: line 9 is indented 9 spaces: items of a list start with "- " at the same indentation '
            "as the one before (8 spaces, line 8)",
        ),
        ("\ttext: x\n", "5:1", "fix: line 5: a tab is used to indent; indent with spaces only"),
        # protocol prose with ": " in an unquoted text
        (
            "    text: Renal function: serum creatinine ≤ 2.0 × ULN\n",
            "5:25",
            "fix: line 5: the text after `text:` holds a colon that YAML reads as the start of another "
            "key: put the whole text in double quotes, or write it as a block: `>-` after the key",
        ),
        # ... and on a second line of a text
        (
            "    text: Age ≥ 18\n      years: old\n",
            "6:12",
            "fix: line 6 is indented more than line 5 above it",
        ),
        (
            '    text: "Age ≥ 18\n    rule: {sex: F}\n',
            "7:1",
            "fix: line 5: the quote opened at column 11 is never closed: end the text with the same "
            "quote mark",
        ),
        (
            "    text: 'Patient's consent'\n",
            "5:20",
            "fix: line 5: text follows a closing quote: a quote mark inside the text ends it early",
        ),
        (
            "    text: x\n    rule: {age: {min: 18}\n  - id: IN2\n",
            "7:3",
            "fix: line 6: the `{` opened at column 11 is not closed where expected: close it with `}`",
        ),
        (
            "    text: x\n    rule: {any: [{sex: F}, {sex: M}}\n",
            "6:36",
            "fix: line 6: the `[` opened at column 17 is not closed where expected: close it with `]`",
        ),
        (
            "    text: > 5 years of disease\n",
            "5:13",
            'fix: line 5: a text that starts with ">" must be in quotes',
        ),
        ("    text: x\n  -id: IN2\n    kind: exclusion\n", "6:3", 'fix: line 6: put a space after the "-"'),
    ],
)
def test_a_yaml_syntax_error_names_its_cause_for_a_non_programmer(tmp_path, body, place, fix):
    path = tmp_path / "trial.yaml"
    path.write_text(HEAD + body, encoding="utf-8")
    with pytest.raises(TrialError) as caught:
        load_trials([path])
    message = str(caught.value)
    assert "\n" not in message
    assert f"trial.yaml:{place}" in message and "YAML syntax error: " in message, message
    assert fix in message, message


def test_a_syntax_error_of_unknown_cause_gets_the_general_fix(tmp_path):
    path = tmp_path / "trial.yaml"
    path.write_text(" id: T\ncriteria:\n", encoding="utf-8")
    proc = feasibility("check", str(path), cwd=tmp_path)
    assert_one_line_error(
        proc,
        "trial.yaml:2:1: YAML syntax error: did not find expected <document start>",
        'fix: check the indentation and quoting near line 2; protocol text containing ": " must be '
        "quoted or written as a block with >-",
    )


def test_a_quote_left_open_further_up_is_not_blamed_on_the_line_where_the_parser_stops(tmp_path):
    # the quote opened on line 5 swallows lines 6-7 and is closed by the one on line 8, so the
    # parser stops in the middle of line 8, whose indentation and quotes are right
    path = tmp_path / "trial.yaml"
    path.write_text(
        HEAD + '    text: "Age\n    rule:\n      any:\n        - lab: {concept: "x" y}\n', encoding="utf-8"
    )
    with pytest.raises(TrialError) as caught:
        load_trials([path])
    assert "fix: check the indentation and quoting near line 8" in str(caught.value)


def test_the_cli_reports_a_syntax_error_on_one_line(tmp_path):
    path = tmp_path / "trial.yaml"
    path.write_text(HEAD + "    text: x\n    rule: {sex: F}\n  id: IN2\n", encoding="utf-8")
    assert_one_line_error(
        feasibility("check", str(path), cwd=tmp_path),
        "trial.yaml:7:3: YAML syntax error: did not find expected '-' indicator — fix: line 7: items of "
        'a list start with "- " at the same indentation as the one before',
    )


# -- a trial id looked up (`show ID`, `sql --trial ID`) suggests the id meant


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (
            ("sql", "--trial", "mc-1-50-sle"),
            [
                "--trial: no trial with id `mc-1-50-sle`",
                "fix: did you mean `MC-1-50-SLE`? (trial ids are matched exactly, capitals included)",
            ],
        ),
        (
            ("show", "mc-1-50-sel"),
            ["TRIAL: no trial with id `mc-1-50-sel`", "fix: did you mean `MC-1-50-SLE`?"],
        ),
        (("sql", "--trial", "NCT0671146"), ["fix: did you mean `NCT06711146`?"]),
        (("show", "NOPE"), ["no trial with id `NOPE`", "fix: use one of CQPB-CD19-AID, MC-1-50-SLE"]),
    ],
)
def test_a_mistyped_trial_id_suggests_the_id_meant(tmp_path, args, fragments):
    assert_one_line_error(feasibility(*args, cwd=tmp_path), *fragments)


def test_trial_ids_are_still_matched_exactly(tmp_path):
    proc = feasibility("sql", "--trial", "MC-1-50-SLE", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "MC-1-50-SLE" in proc.stdout


# -- `run --order` with an id named twice


def test_an_order_naming_a_criterion_twice_is_refused_before_the_run(tmp_path):
    from tests.support import write_extract
    from tests.test_errors import good_rows

    extract = write_extract(good_rows(), tmp_path / "x.parquet")
    proc = feasibility(
        "run", str(extract), "--order", "IN1,IN2, IN1", "--out", str(tmp_path / "r"), cwd=tmp_path
    )
    assert_one_line_error(
        proc,
        "--order: criterion id `IN1` is named twice in the order",
        "fix: name each criterion once: `IN1,IN2`",
    )
    assert not (tmp_path / "r").exists()


def test_a_concept_file_named_from_inside_its_folder_points_one_folder_up(tmp_path):
    (tmp_path / "concepts").mkdir()
    (tmp_path / "concepts" / "c.yaml").write_text(
        "concepts:\n  myc:\n    kind: condition\n    codes: {ICD10CM: [M32*]}\n", encoding="utf-8"
    )
    proc = feasibility("check", "c.yaml", cwd=tmp_path / "concepts")
    assert_one_line_error(proc, "c.yaml:1: this is a concept file", f"their folder ({tmp_path}) instead")


# -- a new trial author's mistakes: each error says what was meant, where it can be told


def _refused(tmp_path: Path, text: str) -> str:
    """The one-line message a trial file `text` is refused with."""
    path = tmp_path / "trial.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TrialError) as caught:
        load_trials([path])
    message = str(caught.value)
    assert "\n" not in message
    return message


def _with_rule(rule: str) -> str:
    """A one-criterion trial whose rule is `rule` (YAML lines indented under `rule:`)."""
    lines = "".join(f"      {line}\n" for line in rule.splitlines())
    return HEAD + "    text: x\n    rule:\n" + lines


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        # the nearest spelling would mislead: `type` is nearer to `text`, `test` to `at_least`
        (
            HEAD.replace("kind:", "type:") + "    text: x\n    rule: {sex: F}\n",
            ["`type`", "did you mean `kind`?"],
        ),
        (
            _with_rule("test: {concept: crp, above: 5, unit: mg/L}"),
            ["`test` in a rule", "did you mean `lab`?"],
        ),
        (_with_rule("drug: methotrexate"), ["did you mean `medication`?"]),
        (_with_rule("condition: sle"), ["did you mean `diagnosis`?"]),
        (_with_rule("or:\n  - sex: F\n  - sex: M"), ["unknown key `or` in a rule", "did you mean `any`?"]),
        (
            _with_rule("lab: {concept: alt, '>': 3, unit: ULN}"),
            ["unknown key `>` in `lab`", "fix: write `above:`"],
        ),
        (_with_rule("lab: {concept: alt, gte: 3, unit: ULN}"), ["fix: write `min:`"]),
        (_with_rule("age: {between: [18, 75]}"), ["`between`", "write `min: LOW, max: HIGH`"]),
        (
            _with_rule("derived: {concept: egfr_ckd_epi_2021, min: 30}"),
            ["unknown key `concept` in `derived`", "names its `measure:`"],
        ),
        # `{below: 9,5}`: YAML splits the decimal comma into a key `5`
        (
            _with_rule("lab: {concept: hemoglobin, below: 9,5, unit: g/dL}"),
            ["unknown key `5` in `lab`", "write decimals with a point (`9.5`, not `9,5`)"],
        ),
        # a rule's atom at the criterion's indentation, under an empty `rule:`
        (
            HEAD + "    text: x\n    rule:\n    age: {min: 18}\n",
            ["trial.yaml:7: unknown key `age` in a criterion", "`age` is a rule: put it under `rule:`"],
        ),
    ],
)
def test_an_unknown_key_suggests_the_key_meant(tmp_path, text, fragments):
    message = _refused(tmp_path, text)
    for fragment in fragments:
        assert fragment in message, message


@pytest.mark.parametrize(
    ("rule", "fragments"),
    [
        (
            "lab: {concept: hemoglobin, below: '9', unit: g/dL}",
            ["not the text `9`", "write `below: 9`, a number"],
        ),
        (
            "lab: {concept: hemoglobin, below: 9 g/dL}",
            ["not the text `9 g/dL`", "put the number and the unit apart: `below: 9, unit: g/dL`"],
        ),
        ("lab: {concept: alt, above: 1.5 × ULN}", ["`above: 1.5, unit: ULN`"]),
        ("lab: {concept: alt, above: 2x ULN}", ["`above: 2, unit: ULN`"]),
        (
            "lab:\n  concept: hemoglobin\n  below: 9,5\n  unit: g/dL",
            ["write decimals with a point: `below: 9.5`"],
        ),
        ("age: {min: '>= 18'}", ["the key already says the comparison: write `min: 18`"]),
        ("age: {max: '< 75'}", ["the key says the comparison: write `below: 75` instead of `max: < 75`"]),
        # an age has no `unit:` to move the years to
        ("age: {min: 18 years}", ["write `min: 18`, a number without quotes (ages are in years)"]),
        ("age: {min: '18'}", ["(ages are in years)"]),
    ],
)
def test_a_threshold_that_is_not_a_number_says_the_number_meant(tmp_path, rule, fragments):
    message = _refused(tmp_path, _with_rule(rule))
    assert "put the unit in `unit:`" not in message or "age" not in rule, message
    for fragment in fragments:
        assert fragment in message, message


@pytest.mark.parametrize(
    ("window", "fix"),
    [
        ("6mo", "fix: did you mean `6 months`?"),
        ("4 wks", "fix: did you mean `4 weeks`?"),
        ("28d", "fix: did you mean `28 days`?"),
        ("1 yr", "fix: did you mean `1 year`?"),
        ("28", "a window needs its unit: write e.g. `28 days` or `28 months`"),
        ("4 weeks prior", "write only the length, `4 weeks`: a window always ends at the index date"),
        ("28 days before baseline", "write only the length, `28 days`"),
        ("0.5 months", "write a whole number of a smaller unit"),
        ("72 hours", "the shortest unit is a day"),
        ("1 month and 2 weeks", "write one whole number and one unit"),
        ("{weeks: 4}", "write the window as one text, e.g. `within: 6 months`, not a mapping"),
        ("six months", "write a positive whole number and a unit"),
    ],
)
def test_a_window_that_cannot_be_read_says_the_window_meant(tmp_path, window, fix):
    message = _refused(tmp_path, _with_rule(f"history: {{concept: live_vaccines, within: {window}}}"))
    assert "trial.yaml:7: cannot read the window" in message and fix in message, message


@pytest.mark.parametrize(
    ("days", "fix"),
    [
        ("12 weeks", "`min_days` counts days: write `min_days: 84` (12 weeks)"),
        ("6 months", "write `min_days: 183` (about 6 months)"),
        ("'90'", "write `min_days: 90`, a number without quotes"),
    ],
)
def test_min_days_written_as_a_duration_says_the_days(tmp_path, days, fix):
    message = _refused(tmp_path, _with_rule(f"medication: {{concept: methotrexate, min_days: {days}}}"))
    assert "`min_days` must be a whole number" in message and fix in message, message


@pytest.mark.parametrize(
    ("rule", "fragments"),
    [
        ("", ["trial.yaml:6: the rule is empty", "indented further than it"]),
        ("- sex: F", ["a rule is one mapping, not a list", "under `all:`"]),
        (
            "age: {min: 18}\nsex: F",
            ["trial.yaml:7: the rule has 2 keys (`age`, `sex`)", "join them under `all:`"],
        ),
        ("age >= 18", ["not the text `age >= 18`", "start it with one of: age, sex"]),
        # an item of `any` missing its `- `, told at the item's own line
        (
            "any:\n  - sex: F\n    age: {min: 18}",
            ["trial.yaml:8: the rule has 2 keys (`sex`, `age`)", 'starting with "- "'],
        ),
        ("not:\n  - sex: F", ["`not` takes one rule, not a list", "without a `- `"]),
        (
            "age: 18-75",
            ["`age` needs a mapping of settings, not the text `18-75`", "`age: {min: 18, max: 75}`"],
        ),
        ("medication: {concept: glucocorticoids, dose: 10}", ["not `10`", "`dose: {max: 10, unit: mg/d}`"]),
    ],
)
def test_a_rule_of_the_wrong_shape_says_what_to_write(tmp_path, rule, fragments):
    text = _with_rule(rule) if rule else HEAD + "    text: x\n    rule:\n"
    message = _refused(tmp_path, text)
    for fragment in fragments:
        assert fragment in message, message


@pytest.mark.parametrize(
    ("rule", "fragments"),
    [
        # the kind is told before the keys only a lab has (it said: unknown key `below`, did
        # you mean `before`?)
        (
            "diagnosis: {concept: hemoglobin, below: 9, unit: g/dL}",
            ["concept `hemoglobin` is a measurement, which `diagnosis` cannot use", "read with `lab:`"],
        ),
        ("lab: sle", ["concept `sle` is a condition, which `lab` cannot use", "`diagnosis:` or `history:`"]),
        (
            "lab: hemoglobin",
            ["a lab compares its result: write `lab: {concept: hemoglobin, max: 3, unit: ULN}`"],
        ),
        ("lab: {concept: rituximab, result: positive}", ["is a medication", "read with `medication:`"]),
    ],
)
def test_a_concept_of_another_kind_names_the_rule_that_reads_it(tmp_path, rule, fragments):
    message = _refused(tmp_path, _with_rule(rule))
    for fragment in fragments:
        assert fragment in message, message


def test_an_unknown_concept_suggests_the_concept_meant(tmp_path):
    message = _refused(tmp_path, _with_rule("lab: {concept: HEMOGLOBIN, min: 9, unit: g/dL}"))
    assert "did you mean `hemoglobin`? (concept names are matched exactly)" in message, message
    # the words of a concept's label find it
    message = _refused(tmp_path, _with_rule("lab: {concept: urine_protein_creatinine_ratio, min: 0.5}"))
    assert "did you mean `upcr`? (named so in docs/concepts.md)" in message, message
    # a concepts folder misnamed `concept/` is never read: the fix says so
    (tmp_path / "concept").mkdir()
    (tmp_path / "concept" / "c.yaml").write_text(
        "concepts:\n  gout_flare:\n    kind: condition\n    codes: {ICD10CM: [M10*]}\n"
    )
    message = _refused(tmp_path, _with_rule("diagnosis: gout_flare"))
    assert f"rename the folder {tmp_path / 'concept'} to `concepts`" in message, message


@pytest.mark.parametrize(
    ("body", "fragments"),
    [
        (
            "    rule: {sex: F}\n",
            ["trial.yaml:3: criterion `IN1` needs `text`", "exactly as the protocol gives them"],
        ),
        ("    text: x\n    assessable: false\n", ["needs `reason`", "e.g. `reason: consent`"]),
        (
            "    text: x\n    assessable: 'false'\n    reason: consent\n",
            [
                "`assessable` must be true or false, not the text `false`",
                "write `assessable: false` (no quotes)",
            ],
        ),
        (
            "    text: x\n    reason: consent\n",
            ["has no rule", "add `assessable: false` above its `reason:`"],
        ),
    ],
)
def test_a_criterion_missing_its_text_or_reason_says_what_to_write(tmp_path, body, fragments):
    message = _refused(tmp_path, HEAD + body)
    for fragment in fragments:
        assert fragment in message, message


@pytest.mark.parametrize(
    ("rule", "fragments"),
    [
        (
            "lab: {concept: hcg, result: positive, min: 5, unit: ULN}",
            ["gives both a threshold and `result`", "write two rules under `all:`"],
        ),
        (
            "derived: {measure: egfr_ckd_epi_2021, min: 30, unit: mL/min/1.73m²}",
            ["is in mL/min/1.73m2, not `mL/min/1.73m²`", "write `unit: mL/min/1.73m2`"],
        ),
        ("derived: {measure: egfr, min: 30}", ["`lab: {concept: egfr, ...}`"]),
        (
            "medication: {concept: glucocorticoids, dose: {max: 10}}",
            ["`dose` needs `unit`", "add `unit: mg/d`"],
        ),
        (
            # a dose is per day or per week, not per month
            "medication: {concept: methotrexate, dose: {min: 60, unit: mg/month}}",
            ["dose unit `mg/month` is not known", "use mg/d, mg/wk (a weekly dose) or mg/kg/d"],
        ),
        (
            # a dose per kilogram is per day (or week) as well
            "medication: {concept: glucocorticoids, dose: {min: 1, unit: mg/kg}}",
            ["dose unit `mg/kg` is not known", "use mg/d, mg/wk (a weekly dose) or mg/kg/d"],
        ),
        (
            "medication: {concept: glucocorticoids, dose: {min: 1, unit: mL/kg/d}}",
            ["dose unit `mL/kg/d` is not known", "use mg/d, mg/wk (a weekly dose) or mg/kg/d"],
        ),
        # a total dose: a mass, with bounds, alone
        (
            "medication: {concept: cyclophosphamide, total: {above: 10, unit: g/d}}",
            ["total dose unit `g/d` is not known", "use mg", "a total is not per day"],
        ),
        (
            "medication: {concept: cyclophosphamide, total: {above: 10}}",
            ["`total` needs `unit`", "`unit: mg`"],
        ),
        (
            "medication: {concept: cyclophosphamide, total: {unit: g}}",
            ["`total` needs min, max, above or below"],
        ),
        (
            "medication: {concept: cyclophosphamide, total: {above: 10, unit: g}, min_days: 30}",
            ["`min_days` does not go with `total`", "another `medication` rule under `all:`"],
        ),
        (
            "medication: {concept: cyclophosphamide, total: {above: 10, unit: g}, if_missing: unknown}",
            ["`if_missing` does not go with `total`", "a total of 0"],
        ),
        (
            "medication: {concept: glucocorticoids, within: 2 weeks, dose: {stable: true}}",
            ["a stable dose needs `min_days`", "`min_days: 14`"],
        ),
        (
            "medication: {concept: glucocorticoids, min_days: 14, dose: {stable: yes please}}",
            ["`stable` in `dose` must be true or false", "write `stable: true`"],
        ),
        (
            "medication: {concept: glucocorticoids, dose: {unit: mg/d}}",
            ["needs min, max, above, below or stable"],
        ),
        (
            "lab: {concept: hemoglobin, below: 9, unit: g/dL, min_count: twice}",
            ["`min_count` must be a whole number"],
        ),
        ("derived: {measure: egfr_ckd_epi_2021, min: 30, min_count: 2}", ["`min_count`"]),
        (
            "lab: {concept: ana, result: positive, apart: 12 weeks}",
            ["`apart` needs `min_count: 2`", "add `min_count: 2`"],
        ),
        (
            "lab: {concept: ana, result: positive, min_count: 3, apart: 12 weeks}",
            ["`apart` needs `min_count: 2`", "three or more results each apart are not supported"],
        ),
        (
            "lab: {concept: ana, result: positive, min_count: 2, apart: 12}",
            ["cannot read the time apart `12`", "`12 days`"],
        ),
        (
            "lab: {concept: ana, result: positive, min_count: 2, apart: ever}",
            ["`apart` needs a time, not `ever`"],
        ),
    ],
)
def test_measurement_and_dose_mistakes_say_the_fix(tmp_path, rule, fragments):
    message = _refused(tmp_path, _with_rule(rule))
    for fragment in fragments:
        assert fragment in message, message


@pytest.mark.parametrize(
    ("unit", "read"),
    [
        *[(u, "ULN") for u in ("ULN", "uln", "x ULN", "× ULN", "times ULN", "*ULN")],
        *[(u, "LLN") for u in ("LLN", "x lln", "× LLN")],
    ],
)
def test_a_multiple_of_a_limit_of_normal_is_read_as_protocols_write_it(tmp_path, unit, read):
    path = tmp_path / "trial.yaml"
    path.write_text(_with_rule(f"lab: {{concept: alt, max: 3, unit: '{unit}'}}"), encoding="utf-8")
    (trial,), _ = load_trials([path])
    rule = trial.criteria[0].rule
    assert (rule.unit, rule.uln, rule.lln) == (read, read == "ULN", read == "LLN")


@pytest.mark.parametrize("unit", ["U/L above ULN", "U/L over the ULN", "u/l ABOVE uln", "ukat/L above ULN"])
def test_a_distance_above_the_upper_limit_is_read_in_a_unit_of_the_concept(tmp_path, unit):
    path = tmp_path / "trial.yaml"
    path.write_text(_with_rule(f"lab: {{concept: alt, max: 0.5, unit: '{unit}'}}"), encoding="utf-8")
    (trial,), library = load_trials([path])
    rule = trial.criteria[0].rule
    distance_unit = unit.split()[0]
    assert (rule.unit, rule.figure, rule.uln) == (f"{distance_unit} above ULN", "excess", False)
    # compared in the concept's unit (ukat/L to U/L), widened only by the rounding tolerance
    factor = library["alt"].unit_factor(normalise_unit(distance_unit))
    assert rule.threshold(library["alt"]).max == pytest.approx(0.5 * factor, rel=1e-8)
    assert describe(rule) == f"latest lab alt ≤ 0.5 {distance_unit} above ULN"


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            "lab: {concept: alt, max: 20, unit: furlong above ULN}",
            "unit `furlong` in `furlong above ULN` is not known for `alt` — fix: write the distance "
            "in a unit `alt` knows, e.g. `unit: U/L above ULN`",
        ),
        (
            "lab: {concept: anti_sm, max: 2, unit: U/mL above ULN}",
            "`anti_sm` has no unit, so how far a result lies above its ULN cannot be read — fix: compare "
            "a multiple of the ULN instead (`unit: ULN`)",
        ),
        (
            "lab: {concept: pt, max: 4 s above ULN}",
            "put the number and the unit apart: `max: 4, unit: s above ULN`",
        ),
    ],
)
def test_a_distance_above_the_limit_in_no_unit_of_the_concept_is_refused(tmp_path, rule, message):
    assert message in _refused(tmp_path, _with_rule(rule))


def test_an_authors_mistake_is_one_line_with_exit_2_on_the_command_line(tmp_path):
    (tmp_path / "trial.yaml").write_text(_with_rule("history: {concept: live_vaccines, within: 4 wks}"))
    assert_one_line_error(
        feasibility("check", "trial.yaml", cwd=tmp_path),
        "trial.yaml:7: cannot read the window `4 wks` — fix: did you mean `4 weeks`?",
    )


# -- a code system misspelled in a concept file matched nothing, silently


@pytest.mark.parametrize(
    ("system", "meant"),
    [
        ("LONIC", "LOINC"),
        ("ACT", "ATC"),
        ("ICD10-C", "ICD10CM"),
        ("ICD-10-PC", "ICD10PCS"),
        ("RxNrom", "RXNORM"),
    ],
)
def test_a_misspelled_code_system_is_refused_with_the_system_meant(tmp_path, system, meant):
    (tmp_path / "concepts").mkdir()
    (tmp_path / "concepts" / "c.yaml").write_text(
        f"concepts:\n  myc:\n    kind: condition\n    codes:\n      {system}: [M05*]\n", encoding="utf-8"
    )
    message = _refused(tmp_path, _with_rule("diagnosis: myc"))
    assert f"c.yaml:5: code system `{system}` of concept `myc` is no system the engine knows" in message
    assert f"fix: did you mean `{meant}`?" in message, message


@pytest.mark.parametrize(
    "system", ["LOCAL", "ICD-10-CM", "ICD10GM", "ICD-10-CA", "ICD11", "ICD9", "OPCS4", "SITE_LAB"]
)
def test_known_systems_and_other_real_ones_are_not_taken_for_misspellings(tmp_path, system):
    (tmp_path / "concepts").mkdir()
    (tmp_path / "concepts" / "c.yaml").write_text(
        f"concepts:\n  myc:\n    kind: condition\n    codes:\n      {system}: [M05*]\n", encoding="utf-8"
    )
    path = tmp_path / "trial.yaml"
    path.write_text(_with_rule("diagnosis: myc"), encoding="utf-8")
    assert load_trials([path])[0][0].id == "T"


def test_a_concept_key_written_as_authors_say_it_suggests_the_key_meant(tmp_path):
    # `uln` is nearer to `unit` than to `default_uln`, which it means
    (tmp_path / "concepts").mkdir()
    (tmp_path / "concepts" / "c.yaml").write_text(
        "concepts:\n  crp:\n    kind: measurement\n    codes: {LOINC: [1988-5]}\n    unit: mg/L\n    uln: 5\n",
        encoding="utf-8",
    )
    message = _refused(tmp_path, _with_rule("lab: {concept: crp, above: 1.5, unit: ULN}"))
    assert "c.yaml:6: unknown key `uln` in concept `crp` — fix: did you mean `default_uln`?" in message, (
        message
    )


@pytest.mark.parametrize(
    ("age", "fix"),
    [
        ("16-65", "write `age: {min: 16, max: 65}` (both ends included)"),
        ("12 to 17 years", "write `age: {min: 12, max: 17}`"),
        ("40+", "write `age: {min: 40}`"),
        ("'> 50'", "write `age: {above: 50}`"),
        ("'< 65 years'", "write `age: {below: 65}`"),
        ("adult", "write `age: {min: 18, max: 75}` (docs/criteria-language.md)"),  # not told: the example
    ],
)
def test_an_age_written_as_text_says_the_age_rule_meant(tmp_path, age, fix):
    message = _refused(tmp_path, _with_rule(f"age: {age}"))
    assert "`age` needs a mapping of settings" in message and f"fix: {fix}" in message, message


@pytest.mark.parametrize(
    ("dose", "fix"),
    [
        ("'> 10 mg/d'", "write `dose: {above: 10, unit: mg/d}`"),
        ("'<= 7.5 mg/day'", "write `dose: {max: 7.5, unit: mg/day}`"),
        (
            "'7,5'",
            "write `dose: {min: 7.5, unit: mg/d}` (at least) or `dose: {max: 7.5, unit: mg/d}` (at most)",
        ),
        ("high", "write `dose: {max: 10, unit: mg/d}` (docs/criteria-language.md)"),  # not told: the example
    ],
)
def test_a_dose_written_as_text_says_the_dose_rule_meant(tmp_path, dose, fix):
    message = _refused(tmp_path, _with_rule(f"medication: {{concept: glucocorticoids, dose: {dose}}}"))
    assert "`dose` needs a mapping of settings" in message and f"fix: {fix}" in message, message
