"""Plan the per-patient features every trial needs, shared across trials and criteria.

The plan is what makes the work grow with the data rather than with the trials: the
extract is joined to a small code map and aggregated once per (patient, concept), for all
trials together, in one pass per family of data. Many criteria share a concept-level aggregate
(the latest ALT serves every ALT window; the latest diagnosis date serves every diagnosis
window), so the plan collects the few distinct aggregates and the predicates read from them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property

from feasibility.criteria.concepts import ConceptLibrary
from feasibility.criteria.model import (
    BOUNDING_INPUT,
    DOSE_WEIGHT,
    Comparison,
    Concept,
    Derived,
    DerivedMeasure,
    Duration,
    History,
    Measurement,
    Medication,
    Trial,
    walk,
)


@dataclass(frozen=True)
class CountFeature:
    """Number of a concept's records in a window (only for `min_count` > 1)."""

    concept_id: int
    within: Duration | None


@dataclass(frozen=True)
class CoverageFeature:
    """Days covered by a medication concept's exposures in a window (None: ever), counting
    only exposures with a daily dose in `dose` (canonical unit; None: any dose) and, when
    `stable`, at the current dose (see `Medication`); when `possible`, also those whose
    dose may qualify (an unknown dose, or an unknown current dose). With `per_kg` the
    bounds are per kilogram of the patient's weight (`Plan.dose_weight`), which an unknown
    weight leaves unknown."""

    concept_id: int
    within: Duration | None
    dose: Comparison | None
    possible: bool
    stable: bool = False
    per_kg: bool = False


@dataclass(frozen=True)
class TotalFeature:
    """The total dose of a medication concept's exposures in a window (None: ever): the sum
    of each known daily dose times its days in the window, and the number of exposures in
    the window without a dose (see `Medication.total`)."""

    concept_id: int
    within: Duration | None


ConceptAtom = History | Measurement | Medication

# The look-back windows of a concept's atoms in one family, or None when some atom reads
# every record however old (no window, or `before`): rows older than every window can
# change no atom, so a pass may skip them.
Lookback = tuple[Duration, ...] | None

ATOMS_PER_WORD = 31  # two bits per atom in a positive BIGINT

# The families of data, each with its pass over the coded rows (see aggregate.py), in the
# order their atoms take bits in the masks.
FAMILIES = ("records", "results", "exposures", "coverage")


@dataclass(frozen=True)
class Plan:
    """Every concept the trials use (position = concept id), the aggregates they need, and
    the distinct single-concept atoms (position = bit in the per-patient atom masks), ordered
    by family and concept, so a family's atoms fill mask words of their own and each
    concept's atoms sit in one or two of them."""

    concepts: tuple[Concept, ...]
    counts: tuple[CountFeature, ...]
    atoms: tuple[ConceptAtom, ...] = ()
    coverages: tuple[CoverageFeature, ...] = ()
    totals: tuple[TotalFeature, ...] = ()
    derived_inputs: tuple[int, ...] = ()  # concepts whose latest result the patient row keeps
    derived_measures: tuple[DerivedMeasure, ...] = ()  # computed on the patient row
    # the weight concept, when a dose is per kilogram: its latest result reaches the coverage pass
    dose_weight: int | None = None
    # (family, concept id, look-back) for the families "records", "results", "exposures"
    # (medication atoms of one day on any dose) and "coverage" (those that count days)
    lookbacks: tuple[tuple[str, int, Lookback], ...] = ()
    # the concepts whose rows in the extract hold a number or a titre written as a bound
    # (`<20`, `<1:80`), which the code dictionary tells; None before it does: any may
    written_bounds: frozenset[int] | None = None

    def reading(self, written_bounds: frozenset[int]) -> Plan:
        """This plan for an extract whose code dictionary found numbers or titres written as
        bounds on `written_bounds`' rows alone."""
        return replace(self, written_bounds=written_bounds)

    def may_write_bounds(self, concept_id: int) -> bool:
        """Whether the concept's rows may hold a number written as a bound."""
        return self.written_bounds is None or concept_id in self.written_bounds

    def concept_id(self, name: str) -> int:
        """The concept's number in this plan (its column value in the passes)."""
        return self._ids[name]

    def atom_index(self, atom: ConceptAtom) -> int:
        """The atom's number in this plan: its two bits in the mask words."""
        return self._atom_ids[atom]

    @cached_property
    def _ids(self) -> dict[str, int]:
        return {c.name: i for i, c in enumerate(self.concepts)}

    @cached_property
    def _atom_ids(self) -> dict[ConceptAtom, int]:
        return {a: i for i, a in enumerate(self.atoms)}

    def count_column(self, concept: str, within: Duration | None) -> str:
        """The records pass's column counting the concept's record days in the window."""
        return f"n{self.counts.index(CountFeature(self.concept_id(concept), within))}"

    def coverage_column(self, feature: CoverageFeature) -> str:
        """The coverage pass's column holding the feature's covered days."""
        return f"cov{self.coverages.index(feature)}"

    def lookback(self, family: str) -> dict[int, Lookback]:
        """Per concept of the family, the windows its atoms look back over."""
        return {cid: windows for fam, cid, windows in self.lookbacks if fam == family}

    def _atom_concepts(self, kind: type) -> tuple[int, ...]:
        return tuple(sorted({self.concept_id(a.concept) for a in self.atoms if isinstance(a, kind)}))

    @property
    def record_concepts(self) -> tuple[int, ...]:
        """Concepts history atoms read (their records)."""
        return self._atom_concepts(History)

    @property
    def result_concepts(self) -> tuple[int, ...]:
        """Concepts measurement atoms, derived measures and doses per kilogram read (their
        latest result)."""
        weight = () if self.dose_weight is None else (self.dose_weight,)
        return tuple(sorted({*self._atom_concepts(Measurement), *self.derived_inputs, *weight}))

    @property
    def exposure_concepts(self) -> tuple[int, ...]:
        """Concepts read by medication atoms of one day on any dose (their latest exposure)."""
        return tuple(sorted(self.lookback("exposures")))

    @property
    def coverage_concepts(self) -> tuple[int, ...]:
        """Concepts read by medication atoms that count days or add up doses (their
        exposures, as a list)."""
        return tuple(sorted({f.concept_id for f in self.coverages} | {t.concept_id for t in self.totals}))

    def total_columns(self, feature: TotalFeature) -> tuple[str, str]:
        """The coverage pass's columns holding the feature's total of known doses, and its
        number of exposures without a dose."""
        i = self.totals.index(feature)
        return f"tot{i}", f"totu{i}"

    def family(self, atom: ConceptAtom) -> str:
        """The family whose pass holds the figures the atom reads."""
        concept_id = self.concept_id(atom.concept)
        return _family(atom, self.concepts[concept_id], concept_id)

    def family_atoms(self, family: str) -> tuple[ConceptAtom, ...]:
        """The atoms whose figures the family's pass holds (see `family`)."""
        return self._family_atoms[family]

    @cached_property
    def _family_atoms(self) -> dict[str, tuple[ConceptAtom, ...]]:
        return {f: tuple(a for a in self.atoms if self.family(a) == f) for f in FAMILIES}

    def family_words(self, family: str) -> range:
        """The mask words holding the family's atoms (empty when it has none)."""
        atoms = self.family_atoms(family)
        if not atoms:
            return range(0)
        return range(self.atom_bit(atoms[0])[0], self.atom_bit(atoms[-1])[0] + 1)

    @cached_property
    def result_counts(self) -> tuple[Measurement, ...]:
        """Measurement atoms that count results on distinct days (`min_count` above 1)."""
        return tuple(a for a in self.atoms if isinstance(a, Measurement) and a.min_count > 1)

    def result_count_columns(self, atom: Measurement) -> tuple[str, str]:
        """The results pass's columns counting the days with a result that meets the atom,
        and with one that may (its figure not known: a unit the concept does not know)."""
        i = self.result_counts.index(atom)
        return f"rk{i}", f"rp{i}"

    def result_span_columns(self, atom: Measurement) -> tuple[str, str]:
        """For an atom with `apart`, the results pass's columns holding the first and the
        last day with a result that meets it."""
        i = self.result_counts.index(atom)
        return f"rf{i}", f"rl{i}"

    @property
    def reads_titres(self) -> bool:
        """Some concept whose results the plan reads takes a text titre as a number."""
        return any(self.concepts[cid].reads_titres for cid in self.result_concepts)

    @property
    def positive_cut_offs(self) -> bool:
        """Some concept whose results the plan reads has a positive cut-off (`positive_from`,
        `titre_positive_from`)."""
        return any(
            self.concepts[cid].positive_from is not None or self.concepts[cid].titre_positive_from is not None
            for cid in self.result_concepts
        )

    def figure_concepts(self, figure: str) -> tuple[int, ...]:
        """Concepts with measurement atoms that read `figure` of a result (see
        `Measurement.figure`: a ULN or LLN multiple, a distance above the ULN, positivity)."""
        measured = [a for a in self.atoms if isinstance(a, Measurement) and a.figure == figure]
        return tuple(sorted({self.concept_id(a.concept) for a in measured}))

    def bound_concepts(self, figure: str) -> tuple[int, ...]:
        """The concepts whose latest result's `figure` an atom compares with a threshold, or
        whose number the derived measures read (`bounded_input`), and may be a number
        written as a bound (see `may_write_bounds`)."""
        concepts = {
            self.concept_id(a.concept)
            for a in self.atoms
            if isinstance(a, Measurement) and a.result is None and a.min_count == 1 and a.figure == figure
        }
        concepts = {c for c in concepts if self.may_write_bounds(c)}
        if figure == "number" and self.bounded_input is not None:
            concepts.add(self.bounded_input)
        return tuple(sorted(concepts))

    @property
    def bounded_input(self) -> int | None:
        """The derived measures' input read where written as a bound (`BOUNDING_INPUT`), if
        the trials compute a measure and its rows may hold one."""
        if not self.derived_measures:
            return None
        concept_id = self.concept_id(BOUNDING_INPUT)
        return concept_id if self.may_write_bounds(concept_id) else None

    @property
    def needs_first_date(self) -> bool:
        """Some history atom asks for a record old enough (`before`)."""
        return any(isinstance(a, History) and a.before is not None for a in self.atoms)

    @property
    def atom_words(self) -> int:
        """BIGINT words of the per-patient atom masks (at least one, for a fixed shape)."""
        return max(1, -(-len(self.atoms) // ATOMS_PER_WORD))

    def atom_bit(self, atom: ConceptAtom) -> tuple[int, int]:
        """(word, the lower of the atom's two bits)."""
        w, j = divmod(self.atom_index(atom), ATOMS_PER_WORD)
        return w, 1 << (2 * j)


def plan_features(trials: Sequence[Trial], library: ConceptLibrary) -> Plan:
    """Collect the distinct concepts and aggregates of all trials."""
    names: list[str] = []
    counts: list[tuple[str, Duration | None]] = []
    atoms: list[ConceptAtom] = []
    derived: list[tuple[str, Duration | None]] = []  # (input concept, the measure's window)
    measures: list[DerivedMeasure] = []

    def use(name: str) -> None:
        if name not in names:
            names.append(name)

    for trial in trials:
        for criterion in trial.criteria:
            if criterion.rule is None:
                continue
            for node in walk(criterion.rule):
                if isinstance(node, History | Measurement | Medication) and node not in atoms:
                    atoms.append(node)
                if isinstance(node, History):
                    use(node.concept)
                    if node.min_count > 1 and (node.concept, node.within) not in counts:
                        counts.append((node.concept, node.within))
                elif isinstance(node, Measurement | Medication):
                    use(node.concept)
                    if isinstance(node, Medication) and node.per_kg:
                        use(DOSE_WEIGHT)
                elif isinstance(node, Derived):
                    if node.measure not in measures:
                        measures.append(node.measure)
                    for name in node.inputs:
                        use(name)
                        derived.append((name, node.within))
    per_kg = any(isinstance(a, Medication) and a.per_kg for a in atoms)
    concepts = tuple(library[n] for n in names)
    ids = {c.name: i for i, c in enumerate(concepts)}
    coverages: list[CoverageFeature] = []
    totals: list[TotalFeature] = []
    for atom in atoms:
        if isinstance(atom, Medication) and atom.total is not None:
            total = TotalFeature(ids[atom.concept], atom.within)
            if total not in totals:
                totals.append(total)
        elif isinstance(atom, Medication):
            for feature in coverage_features(atom, ids[atom.concept], library[atom.concept]):
                if feature not in coverages:
                    coverages.append(feature)
    windows: dict[tuple[str, int], list[Duration | None]] = {}
    for atom in atoms:
        family = _family(atom, library[atom.concept], ids[atom.concept])
        if family != "coverage":  # the coverage features carry their own windows
            old_enough = isinstance(atom, History) and atom.before is not None
            windows.setdefault((family, ids[atom.concept]), []).append(None if old_enough else atom.within)
    for name, within in derived:
        windows.setdefault(("results", ids[name]), []).append(within)
    if per_kg:
        # the latest weight however old (`DOSE_WEIGHT`)
        windows.setdefault(("results", ids[DOSE_WEIGHT]), []).append(None)
    for cid, within in [(f.concept_id, f.within) for f in coverages] + [
        (t.concept_id, t.within) for t in totals
    ]:
        windows.setdefault(("coverage", cid), []).append(within)

    def by_family(atom: ConceptAtom) -> tuple[int, int]:  # sorted stably: first-seen order within a concept
        return FAMILIES.index(_family(atom, library[atom.concept], ids[atom.concept])), ids[atom.concept]

    lookbacks = tuple(
        (family, cid, None if None in ws else tuple(w for w in dict.fromkeys(ws) if w is not None))
        for (family, cid), ws in windows.items()
    )
    return Plan(
        concepts=concepts,
        counts=tuple(CountFeature(ids[n], w) for n, w in counts),
        coverages=tuple(coverages),
        totals=tuple(totals),
        lookbacks=lookbacks,
        atoms=tuple(sorted(atoms, key=by_family)),
        derived_inputs=tuple(dict.fromkeys(ids[n] for n, _ in derived)),
        derived_measures=tuple(measures),
        dose_weight=ids[DOSE_WEIGHT] if per_kg else None,
    )


def _family(atom: ConceptAtom, concept: Concept, concept_id: int) -> str:
    if isinstance(atom, History):
        return "records"
    if isinstance(atom, Measurement):
        return "results"
    if atom.total is not None or coverage_features(atom, concept_id, concept):
        return "coverage"
    return "exposures"


def coverage_features(atom: Medication, concept_id: int, concept: Concept) -> tuple[CoverageFeature, ...]:
    """The coverage features a medication atom reads: none when any exposure in the window
    decides it (one day, any dose: the latest end date does); else the days with a known
    qualifying dose and, with a dose range or a stable dose, the days that may qualify.
    None for a total dose, which is a `TotalFeature`."""
    if (atom.min_days <= 1 and atom.dose is None) or atom.total is not None:
        return ()
    dose = atom.dose_in_canonical(concept)
    known, possible = (
        CoverageFeature(concept_id, atom.within, dose, may, atom.stable_dose, atom.per_kg)
        for may in (False, True)
    )
    return (known,) if dose is None and not atom.stable_dose else (known, possible)
