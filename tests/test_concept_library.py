"""The concept library's fingerprint, by which `feasibility compare` tells whether two sites
counted with the same code lists: it follows what the concepts match and how their values
are read, not where the files lie or how the concepts are described."""

from __future__ import annotations

import shutil

from feasibility.criteria.load import load_trials
from tests.support import REPO

SHIPPED = load_trials(None)[1].sha256


def _copy(tmp_path):
    folder = tmp_path / "trials"
    shutil.copytree(REPO / "trials", folder)
    return folder


def _fingerprint(folder) -> str:
    return load_trials([folder])[1].sha256


def test_the_same_definitions_from_another_folder_give_the_same_fingerprint(tmp_path):
    # the copy's concepts/ override the shipped ones with identical definitions
    assert _fingerprint(_copy(tmp_path)) == SHIPPED


def test_a_label_or_a_note_changes_nothing(tmp_path):
    folder = _copy(tmp_path)
    conditions = folder / "concepts" / "conditions.yaml"
    text = conditions.read_text()
    edited = text.replace("label: Systemic lupus erythematosus", "label: SLE", 1)
    assert edited != text
    conditions.write_text(edited)
    assert _fingerprint(folder) == SHIPPED


def test_a_code_list_change_changes_the_fingerprint(tmp_path):
    folder = _copy(tmp_path)
    conditions = folder / "concepts" / "conditions.yaml"
    text = conditions.read_text()
    edited = text.replace("ICD10CM: [M32*]", "ICD10CM: [M32.1*]", 1)
    assert edited != text
    conditions.write_text(edited)
    assert _fingerprint(folder) != SHIPPED


def test_a_unit_factor_change_changes_the_fingerprint(tmp_path):
    folder = _copy(tmp_path)
    labs = folder / "concepts" / "labs.yaml"
    text = labs.read_text()
    edited = text.replace('"umol/L": 0.0113122', '"umol/L": 0.0113', 1)
    assert edited != text, "the creatinine unit factor this test edits is no longer in labs.yaml"
    labs.write_text(edited)
    assert _fingerprint(folder) != SHIPPED
