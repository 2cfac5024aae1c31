"""Conversion shares: the default, per-site overrides, and the user's conversion file."""

from __future__ import annotations

import pytest

from feasibility.analytics.conversion import load_conversion, site_conversions
from feasibility.errors import FeasibilityError


def test_site_conversions_override_the_default_and_refuse_unknown_sites():
    assert site_conversions(["a", "b"], 0.3, {"b": 0.5}) == {"a": 0.3, "b": 0.5}
    with pytest.raises(FeasibilityError, match="site `zz` has a conversion but is not a site") as e:
        site_conversions(["a", "b"], 0.3, {"zz": 0.5}, source="conv.yaml")
    assert e.value.where == "conv.yaml"


def test_load_conversion_yaml(tmp_path):
    path = tmp_path / "conversion.yaml"
    path.write_text("# per-site conversion\nsite_a: 0.25\n001: 0.5\n'b c': .3\nd: 1\ne: 1e-1\n")
    assert load_conversion(path) == {"site_a": 0.25, "001": 0.5, "b c": 0.3, "d": 1.0, "e": 0.1}


def test_load_conversion_csv(tmp_path):
    path = tmp_path / "conversion.csv"
    path.write_text('\ufeffconversion, site_id\n0.25,site_a\n\n0.5,"x,y"\n1,001\n', encoding="utf-8")
    assert load_conversion(path) == {"site_a": 0.25, "x,y": 0.5, "001": 1.0}


@pytest.mark.parametrize(
    ("name", "text", "line", "message"),
    [
        ("c.yaml", "a: 0.2\nb: [0.3\n", "3:1", "YAML syntax error"),  # a syntax error has its column too
        ("c.yaml", "- a\n- b\n", 1, "expected a mapping of site id to conversion"),
        ("c.yaml", "a: 0.2\nb: high\n", 2, "conversion of site `b` is not a number (`high`)"),
        ("c.yaml", "a: 0.2\nb: yes\n", 2, "conversion of site `b` is not a number"),
        ("c.yaml", "a: 0.2\nb: [0.3]\n", 2, "conversion of site `b` is not a number"),
        ("c.yaml", "a: 0.2\nb:\n", 2, "site `b` has no conversion"),
        ("c.yaml", "a: 0.2\nb: 30\n", 2, "conversion of site `b` is 30, outside (0, 1]"),
        ("c.yaml", "a: 0\n", 1, "outside (0, 1]"),
        ("c.yaml", "a: .nan\n", 1, "conversion of site `a` is not a number (`.nan`)"),
        ("c.yml", "a: 0.2\nb: 0.3\na: 0.4\n", 3, "site `a` appears twice (first on line 1)"),
        ("c.yaml", "# nothing\n", 1, "the file lists no site"),
        ("c.csv", "site_id,conversion\na,0.2\nb,x\n", 3, "conversion of site `b` is not a number (`x`)"),
        ("c.csv", "site_id,conversion\na,-0.1\n", 2, "outside (0, 1]"),
        ("c.csv", "site_id,conversion\na,1.01\n", 2, "outside (0, 1]"),
        ("c.csv", "site_id,conversion\na,0.2\n\na,0.3\n", 4, "site `a` appears twice"),
        ("c.csv", "site_id,conversion,notes\na,0.2,x\n", 1, "unknown column `notes`"),
        ("c.csv", "site,conversion\na,0.2\n", 1, "unknown column `site`"),
        ("c.csv", "site_id\na\n", 1, "missing column `conversion`"),
        ("c.csv", "site_id,conversion,site_id\n", 1, "a column appears twice"),
        ("c.csv", "site_id,conversion\na,0.2,9\n", 2, "expected 2 fields, found 3"),
        ("c.csv", "site_id,conversion\n,0.2\n", 2, "empty site id"),
        ("c.csv", 'site_id,conversion\n"a"b,0.2\n', 2, "malformed CSV"),
        ("c.csv", "", 1, "the file lists no site"),
    ],
)
def test_load_conversion_errors(tmp_path, name, text, line, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(FeasibilityError) as e:
        load_conversion(path)
    assert e.value.where == f"{path}:{line}"
    assert message in str(e.value)
    assert e.value.fix
    assert "\n" not in str(e.value)


def test_load_conversion_file_problems(tmp_path):
    with pytest.raises(FeasibilityError, match="conversion file not found") as e:
        load_conversion(tmp_path / "missing.yaml")
    assert e.value.where == str(tmp_path / "missing.yaml")
    (tmp_path / "c.json").write_text("{}")
    with pytest.raises(FeasibilityError, match="unknown conversion file type"):
        load_conversion(tmp_path / "c.json")
    (tmp_path / "latin.csv").write_bytes(b"site_id,conversion\n\xe9,0.2\n")
    with pytest.raises(FeasibilityError, match="not UTF-8"):
        load_conversion(tmp_path / "latin.csv")


def test_a_character_yaml_refuses_is_one_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("a: 0.2\nb: \x07\n")
    with pytest.raises(FeasibilityError, match="YAML error: unacceptable character") as e:
        load_conversion(path)
    assert e.value.where == str(path)
    assert e.value.fix == "remove that character"
    assert "\n" not in str(e.value)
