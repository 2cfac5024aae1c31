"""The concept library's fingerprint, by which `feasibility compare` tells whether two sites
counted with the same code lists: it follows what the concepts match and how their values
are read, not where the files lie or how the concepts are described."""

from __future__ import annotations

import shutil

import pytest

from feasibility.criteria.load import load_trials
from tests.support import REPO

SHIPPED = load_trials(None)[1].sha256


def _fingerprint_of_a_copy(tmp_path, file: str | None = None, old: str = "", new: str = "") -> str:
    """The fingerprint of the shipped trials and library copied to another folder, with `old`
    replaced by `new` once in the concept file `file`."""
    folder = tmp_path / "trials"
    shutil.copytree(REPO / "trials", folder)
    if file is not None:
        path = folder / "concepts" / file
        text = path.read_text()
        assert old in text, f"{file} no longer holds the line this test edits: {old}"
        path.write_text(text.replace(old, new, 1))
    return load_trials([folder])[1].sha256


def test_the_same_definitions_from_another_folder_give_the_same_fingerprint(tmp_path):
    # the copy's concepts/ override the shipped ones with identical definitions
    assert _fingerprint_of_a_copy(tmp_path) == SHIPPED


def test_a_label_changes_nothing(tmp_path):
    edit = ("conditions.yaml", "label: Systemic lupus erythematosus", "label: SLE")
    assert _fingerprint_of_a_copy(tmp_path, *edit) == SHIPPED


@pytest.mark.parametrize(
    ("file", "old", "new"),
    [
        ("conditions.yaml", "ICD10CM: [M32*]", "ICD10CM: [M32.1*]"),  # a code list
        ("labs.yaml", '"umol/L": 0.0113122', '"umol/L": 0.0113'),  # creatinine's unit factor
        ("labs.yaml", "default_uln: 40", "default_uln: 45"),  # a default ULN
    ],
)
def test_what_changes_a_count_changes_the_fingerprint(tmp_path, file, old, new):
    assert _fingerprint_of_a_copy(tmp_path, file, old, new) != SHIPPED
