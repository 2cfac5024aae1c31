"""Conversion: the share of eligible patients who enroll (approached, consenting and
passing screening), one default for every site or per site from the user's file."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

from feasibility.criteria.yaml_source import SafeLoader, yaml_error
from feasibility.errors import FeasibilityError
from feasibility.user_files import read_user_text

DEFAULT_CONVERSION = 0.3


def is_share(p: object) -> bool:
    """Whether `p` is a conversion share: a number (not a boolean) above 0 and at most 1."""
    return not isinstance(p, bool) and isinstance(p, int | float) and 0 < float(p) <= 1


def check_share(p: float, where: str) -> float:
    """A conversion must be a share in (0, 1]."""
    if not is_share(p):
        raise FeasibilityError(
            f"conversion {p!r} is not a share in (0, 1]",
            where=where,
            fix="give the share of eligible patients who enroll, e.g. 0.3 for 30%",
        )
    return float(p)


def site_conversions(
    sites: Sequence[str], default: float, overrides: Mapping[str, float], *, source: str = "conversion"
) -> dict[str, float]:
    """Each site's conversion: `overrides` (e.g. from `load_conversion`) over `default`; a site
    in `overrides` that is not among `sites` is refused (most likely a misspelt id). The shares
    themselves are checked where the model reads them, in `forecast`."""
    check_sites(sites, overrides, source=source)
    return {s: overrides.get(s, default) for s in sites}


def check_sites(
    sites: Sequence[str], overrides: Mapping[str, float], *, source: str, of: str = "this run"
) -> None:
    """Refuse a site of `overrides` that is not among `sites`: most likely a misspelt id,
    whose share would otherwise be dropped without a word."""
    unknown = [s for s in overrides if s not in sites]
    if unknown:
        raise FeasibilityError(
            f"site `{unknown[0]}` has a conversion but is not a site of {of}",
            where=source,
            fix="sites: " + ", ".join(sites),
        )


def load_conversion(path: Path) -> dict[str, float]:
    """Per-site conversion shares from a file, by its suffix:

    * `.yaml` / `.yml`: one mapping of site id to share, e.g. `site_a: 0.25` per line (site ids
      are kept as written: `001: 0.2` is site `001`);
    * `.csv`: header `site_id,conversion` (in either order), one row per site.

    Shares must be numbers in (0, 1]; a site may appear once. Errors are one line naming the
    file and line.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".csv"):
        raise FeasibilityError(
            "unknown conversion file type", where=str(path), fix="use a .yaml, .yml or .csv file"
        )
    text = read_user_text(path, what="conversion file")
    entries = _conversion_yaml(text, path) if suffix != ".csv" else _conversion_csv(text, path)
    out: dict[str, float] = {}
    lines: dict[str, int] = {}
    for site, raw, line in entries:
        where = f"{path}:{line}"
        if site in out:
            raise FeasibilityError(
                f"site `{site}` appears twice (first on line {lines[site]})", where=where, fix="keep one"
            )
        out[site], lines[site] = _conversion_value(raw, site, where), line
    if not out:
        raise FeasibilityError("the file lists no site", where=f"{path}:1", fix="add one site per line")
    return out


def _conversion_value(raw: object, site: str, where: str) -> float:
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise FeasibilityError(
            f"conversion of site `{site}` is not a number (`{raw}`)",
            where=where,
            fix="write the share as a number, e.g. 0.3 for 30%",
        ) from None
    if not 0 < value <= 1:  # also refuses nan
        raise FeasibilityError(
            f"conversion of site `{site}` is {raw}, outside (0, 1]",
            where=where,
            fix="write a share between 0 and 1, e.g. 0.3 for 30%",
        )
    return value


_YAML_NUMBER_TAGS = {"tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:str"}


def _conversion_yaml(text: str, path: Path) -> list[tuple[str, object, int]]:
    """(site, raw value, line) from a YAML mapping, read as nodes so that keys keep their text
    and every entry keeps its line."""
    try:
        root = yaml.compose(text, Loader=SafeLoader)
    except yaml.YAMLError as e:
        raise yaml_error(e, path, "write one `site_id: share` per line", text=text) from None
    if root is None:
        return []
    if not isinstance(root, yaml.MappingNode):
        raise FeasibilityError(
            "expected a mapping of site id to conversion",
            where=f"{path}:{root.start_mark.line + 1}",
            fix="write one `site_id: share` per line, e.g. `site_a: 0.25`",
        )
    entries = []
    for key, value in root.value:
        line = key.start_mark.line + 1
        if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:null" or not key.value:
            raise FeasibilityError(
                "a site id must be a plain word", where=f"{path}:{line}", fix="write `site_id: share`"
            )
        if isinstance(value, yaml.ScalarNode) and value.tag == "tag:yaml.org,2002:null":
            raise FeasibilityError(
                f"site `{key.value}` has no conversion",
                where=f"{path}:{line}",
                fix="write the share after the colon, e.g. `site_a: 0.3`",
            )
        if not isinstance(value, yaml.ScalarNode) or value.tag not in _YAML_NUMBER_TAGS:
            shown = f" (`{value.value}`)" if isinstance(value, yaml.ScalarNode) else ""
            raise FeasibilityError(
                f"conversion of site `{key.value}` is not a number{shown}",
                where=f"{path}:{line}",
                fix="write the share as a number, e.g. 0.3 for 30%",
            )
        entries.append((key.value, value.value, line))
    return entries


def _conversion_csv(text: str, path: Path) -> list[tuple[str, object, int]]:
    """(site, raw value, line) from a CSV file with header site_id,conversion."""
    reader = csv.reader(text.splitlines(), strict=True)
    entries: list[tuple[str, object, int]] = []
    header: list[str] | None = None
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue  # blank line
            cells = [cell.strip() for cell in row]
            if header is None:
                header = cells
                _check_header(header, f"{path}:{line}")
                continue
            if len(cells) != len(header):
                raise FeasibilityError(
                    f"expected {len(header)} fields, found {len(cells)}",
                    where=f"{path}:{line}",
                    fix="write `site_id,conversion` on each line (quote a site id containing a comma)",
                )
            fields = dict(zip(header, cells, strict=True))
            if not fields["site_id"]:
                raise FeasibilityError("empty site id", where=f"{path}:{line}", fix="name the site")
            entries.append((fields["site_id"], fields["conversion"], line))
    except csv.Error as e:
        raise FeasibilityError(
            f"malformed CSV: {e}", where=f"{path}:{reader.line_num}", fix="check the quoting on that line"
        ) from None
    return entries


def _check_header(header: list[str], where: str) -> None:
    expected = ("site_id", "conversion")
    fix = "the first line must be `site_id,conversion`"
    for name in header:
        if name not in expected:
            raise FeasibilityError(f"unknown column `{name}`", where=where, fix=fix)
    if len(set(header)) != len(header):
        raise FeasibilityError("a column appears twice", where=where, fix=fix)
    for name in expected:
        if name not in header:
            raise FeasibilityError(f"missing column `{name}`", where=where, fix=fix)
