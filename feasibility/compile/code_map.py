"""The code map: the extract's distinct (code system, code, unit) triples mapped to the
concepts the trials use, with each row's unit factor and plausible range.

Built in Python from the code dictionary (up to tens of thousands of triples at a large
site, not millions of rows), with the concepts' code patterns indexed by code, then joined
to the events by every pass over coded rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields

import pyarrow as pa
from sqlglot import exp

from feasibility.compile.plan import Plan
from feasibility.compile.sqlexpr import and_, col, func, lit
from feasibility.criteria.code_systems import normalise_system
from feasibility.criteria.concepts import normalise_code
from feasibility.criteria.model import VALUED_KINDS, CodePattern, Concept
from feasibility.units import TITRE, normalise_unit

Codes = Mapping[int, Sequence[str]]  # concept id -> the raw codes of its code map rows
# a row of the code dictionary (`pipeline.code_dictionary`): code system, code and unit as
# the extract spells them, its rows, and those of them read as a number in that unit (a
# `value_num`, or a number written as a bound, `<20`)
DictionaryRow = tuple[str | None, str | None, str | None, int, int]


def codes_by_concept(rows: Iterable[tuple[int, str]]) -> dict[int, list[str]]:
    """The code map's (concept id, raw code) rows as `Codes`: the rows worth reading."""
    out: dict[int, set[str]] = {}
    for concept_id, code in rows:
        out.setdefault(concept_id, set()).add(code)
    return {cid: sorted(codes) for cid, codes in sorted(out.items())}


def code_map_join(events: str = "e", code_map: str = "m", unit: exp.Expr | None = None) -> exp.Expr:
    """The condition joining a row to its code map rows: system, code and unit (no unit
    is the empty unit; `unit` another key for it, see `results_query`). Every reader of
    coded rows uses this one key, so the passes and the duplicate count see the same rows."""
    return and_(
        exp.EQ(this=col("code_system", code_map), expression=col("code_system", events)),
        exp.EQ(this=col("code", code_map), expression=col("code", events)),
        exp.EQ(this=col("unit", code_map), expression=unit or row_unit(events)),
    )


def row_unit(events: str = "e") -> exp.Expr:
    """A row's unit as the code map spells it: as written, the empty unit for none."""
    return func("coalesce", col("unit", events), lit(""))


@dataclass(frozen=True)
class CodeMapRow:
    """How rows with one (code system, code, unit) map into one concept."""

    code_system: str
    code: str
    unit: str  # '' for a missing unit, so the join key is never NULL
    concept_id: int
    factor: float | None  # value * factor = canonical value; None: unit unknown
    # the concept's plausible range in this row's own unit (None: no bound, or unit unknown)
    low: float | None = None
    high: float | None = None
    uln: float | None = None  # the concept's default upper limit of normal, canonical unit
    # the cut-off from which a result reads as positive, and the factor a row's number is
    # multiplied by to compare with it (`Concept.positive_cut_off`): the concept's own where
    # this row's unit is known (`factor`), its titre cut-off for a titre (1)
    positive_from: float | None = None
    positive_factor: float | None = None
    # 1 where the concept reads a text titre as its number, else None: a factor on the
    # titre (see `results_query`), cheaper than a test at each of its many appearances
    titre_reader: float | None = None


def code_map_table(rows: Sequence[CodeMapRow]) -> pa.Table:
    """The code map as an Arrow table, one column per field of CodeMapRow."""
    types = {
        "concept_id": pa.int32(),
        "factor": pa.float64(),
        "low": pa.float64(),
        "high": pa.float64(),
        "uln": pa.float64(),
        "positive_from": pa.float64(),
        "positive_factor": pa.float64(),
        "titre_reader": pa.float64(),
    }
    columns = {}
    for f in fields(CodeMapRow):
        kind = types.get(f.name, pa.string())
        columns[f.name] = pa.array([getattr(r, f.name) for r in rows], kind)
    return pa.table(columns)


def _plausible_in_unit(concept: Concept, factor: float | None) -> tuple[float | None, float | None]:
    if concept.plausible is None:
        return None, None
    low, high = concept.plausible
    if factor is None:
        # a negative value is absurd in any unit; other bounds need the unit's factor
        return (0.0 if low == 0 else None), None
    return (None if low is None else low / factor), (None if high is None else high / factor)


def unread_code_systems(plan: Plan, dictionary: Iterable[DictionaryRow]) -> dict[str, int]:
    """Per code system of the extract (as the extract spells it) that no concept of the plan
    uses, its rows: they are never read. A site whose systems are spelled in a way the
    library does not know would otherwise see every criterion fail, and not know why."""
    used = {p.system for concept in plan.concepts for p in concept.codes}
    unread: dict[str, int] = {}
    for system, _, _, n_rows, _ in dictionary:
        if system is not None and normalise_system(system) not in used:
            unread[system] = unread.get(system, 0) + n_rows
    return unread


@dataclass
class _SystemPatterns:
    """One system's patterns of one kind (codes or exclusions), by code: the concept ids of
    whole-code patterns, those of prefix patterns, and the prefixes' lengths."""

    whole: dict[str, set[int]] = field(default_factory=dict)
    prefixes: dict[str, set[int]] = field(default_factory=dict)
    lengths: list[int] = field(default_factory=list)

    def add(self, pattern: CodePattern, cid: int) -> None:
        (self.prefixes if pattern.prefix else self.whole).setdefault(pattern.code, set()).add(cid)
        if pattern.prefix and len(pattern.code) not in self.lengths:
            self.lengths.append(len(pattern.code))

    def matching(self, code: str) -> set[int]:
        """The ids of the concepts with a pattern of this kind matching `code`."""
        found = set(self.whole.get(code, ()))
        # a prefix pattern matches the code and everything below it: only the code's own
        # prefixes of a length some pattern has can match
        for length in self.lengths:
            if length <= len(code):
                found.update(self.prefixes.get(code[:length], ()))
        return found


class CodeIndex:
    """The concepts' code patterns by system and code, so a code finds its concepts in a few
    dictionary lookups rather than by testing every pattern: a site's dictionary holds tens
    of thousands of codes and the library hundreds of patterns, and testing each against
    each took seconds (5 s for 130,000 codes and the seed trials)."""

    def __init__(self, concepts: Sequence[Concept]) -> None:
        self._codes: dict[str, _SystemPatterns] = {}
        self._excluded: dict[str, _SystemPatterns] = {}
        for cid, concept in enumerate(concepts):
            for pattern in concept.codes:
                self._codes.setdefault(pattern.system, _SystemPatterns()).add(pattern, cid)
            for pattern in concept.exclude:
                self._excluded.setdefault(pattern.system, _SystemPatterns()).add(pattern, cid)

    def concepts_of(self, system: str, code: str) -> list[int]:
        """The ids of the concepts whose codes match `code` of `system` (both normalised) and
        whose exclusions do not, in id order (`CodePattern.matches` says what matches)."""
        codes = self._codes.get(system)
        found = codes.matching(code) if codes is not None else set()
        excluded = self._excluded.get(system)
        if found and excluded is not None:
            found -= excluded.matching(code)
        return sorted(found)


def _code_map_row(concept: Concept, cid: int, system: str, code: str, unit: str | None) -> CodeMapRow:
    normalised = normalise_unit(unit)
    factor: float | None = None
    if concept.kind in VALUED_KINDS:
        factor = concept.unit_factor(normalised)
        if factor is not None and concept.dose_factors:
            factor *= dict(concept.dose_factors).get(normalise_code(code), 1.0)
    low, high = _plausible_in_unit(concept, factor)
    positive_from, positive_factor = concept.positive_cut_off(normalised, factor) or (None, None)
    reader = 1.0 if concept.kind == "measurement" and concept.reads_titres else None
    uln = concept.default_uln
    return CodeMapRow(
        system, code, unit or "", cid, factor, low, high, uln, positive_from, positive_factor, reader
    )


def build_code_map(
    plan: Plan, dictionary: Iterable[DictionaryRow]
) -> tuple[list[CodeMapRow], dict[str, dict[str, int]]]:
    """Map the extract's distinct (code system, code, unit) triples to concepts.

    Done on the distinct triples (tens of thousands), not on the rows (millions), so prefix patterns,
    exclusions, unit spellings and dose factors cost nothing per row. Returns the map and,
    per concept name and unit as spelled in the extract ("" for none), the number of rows
    with a number (or a number written as a bound) in a unit the concept does not know
    (they will compare as UNKNOWN).
    """
    index = CodeIndex(plan.concepts)
    rows: list[CodeMapRow] = []
    unknown_units: dict[str, dict[str, int]] = {}
    for system, code, unit, _, n_numbers in dictionary:
        if system is None or code is None:
            continue
        code_norm = normalise_code(code)
        for cid in index.concepts_of(normalise_system(system), code_norm):
            concept = plan.concepts[cid]
            rows.append(_code_map_row(concept, cid, system, code, unit))
            # a titre read for its positivity alone is not in a unit the concept misses
            unknown = rows[-1].factor is None and rows[-1].positive_from is None and concept.unit is not None
            if unknown and concept.kind == "measurement" and n_numbers:
                by_unit = unknown_units.setdefault(concept.name, {})
                by_unit[unit or ""] = by_unit.get(unit or "", 0) + n_numbers
    if plan.reads_titres:
        # the results pass joins a row with a text titre by the unit TITRE, whatever its own
        # (see `results_query`): each code of the concepts it reads needs a row of that unit
        results = set(plan.result_concepts)
        spelled = {(r.code_system, r.code, r.unit, r.concept_id) for r in rows}
        wanted = {(r.code_system, r.code, r.concept_id) for r in rows if r.concept_id in results}
        for system, code, cid in sorted(wanted):
            if (system, code, TITRE, cid) not in spelled:
                rows.append(_code_map_row(plan.concepts[cid], cid, system, code, TITRE))
    return rows, unknown_units
