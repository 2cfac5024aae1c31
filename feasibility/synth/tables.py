"""The small driving tables the generator's SQL cross-joins with the patients."""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from feasibility.criteria.concepts import ConceptLibrary, normalise_code
from feasibility.criteria.model import Concept, Trial, walk
from feasibility.synth.codes import concept_codes
from feasibility.synth.models import MODELS, ODD_UNITS, SITE_HABITS, default_slot
from feasibility.synth.population import PROFILES, TRAITS, by_profile
from feasibility.units import TITRE, normalise_unit


def trial_windows(trials: Sequence[Trial]) -> tuple[set[str], dict[str, float]]:
    """Concepts the trials use (plus the inputs of derived measures) and, per concept, the
    longest finite look-back window in days (recent events are dated skewed towards as_of
    inside it, so shorter windows catch a good share too)."""
    used: set[str] = set()
    windows: dict[str, float] = {}
    for t in trials:
        used |= t.concepts()
        for c in t.criteria:
            if c.rule is None:
                continue
            for node in walk(c.rule):
                name = getattr(node, "concept", None)
                within = getattr(node, "within", None)
                if name and within is not None:
                    days = within.approx_days()
                    windows[name] = max(windows.get(name, days), days)
    return used, windows


def _covered(concept: Concept, others: Iterable[Concept]) -> bool:
    """Whether every code of a union concept (immunosuppressants = the drugs) is emitted by
    other concepts, so it needs no events of its own."""
    mine = {(p.system, p.code, p.prefix) for p in concept.codes}
    theirs = {(p.system, p.code, p.prefix) for o in others for p in o.codes}
    return bool(mine) and mine <= theirs


@dataclass
class Tables:
    """The small driving tables, as column lists ready for pyarrow, and the library's
    concepts the trials use, which they were built from."""

    concepts: list[Concept] = field(default_factory=list)
    slots: dict[str, list] = field(default_factory=dict)
    slot_profile: dict[str, list] = field(default_factory=dict)
    slot_codes: dict[str, list] = field(default_factory=dict)
    slot_units: dict[str, list] = field(default_factory=dict)

    def add(self, table: str, **row: object) -> None:
        """One row appended to the named table's columns."""
        cols = getattr(self, table)
        for k, v in row.items():
            cols.setdefault(k, []).append(v)


def _site_unit(concept: Concept, habit: dict) -> tuple[str, float] | None:
    """The unit spelling a site uses for a concept and its factor to the canonical unit."""
    if concept.unit is None:
        return None
    for spelling in habit["units"]:
        factor = concept.unit_factor(normalise_unit(spelling))
        if factor is not None:
            return spelling, factor
    return concept.unit, 1.0


def _odd_unit(concept: Concept) -> str | None:
    for spelling in ODD_UNITS:
        if concept.unit is not None and concept.unit_factor(normalise_unit(spelling)) is None:
            return spelling
    return None


def _slot_id(concept: str, index: int) -> int:
    # Each slot's random draws are keyed by its id, so the id comes from the concept's name,
    # not its place in the list: a concept the trials come to use then adds its own events
    # and leaves the others' as they were (unless it changes their look-back windows).
    return zlib.crc32(f"{concept}#{index}".encode())


def build_tables(trials: Sequence[Trial], library: ConceptLibrary, sites: int) -> Tables:
    """The slot tables for the concepts the trials use."""
    used, windows = trial_windows(trials)
    concepts = {name: library[name] for name in sorted(used) if name in library}
    bits = {name: 1 << i for i, name in enumerate(TRAITS)}
    t = Tables(concepts=list(concepts.values()))
    for name, concept in concepts.items():
        model = MODELS.get(name)
        if model is None:
            if _covered(concept, [c for n, c in concepts.items() if n != name]):
                continue
            model = default_slot(concept)
        codes_all = concept_codes(concept)
        if not codes_all:
            continue
        domain = {
            "condition": "diagnosis",
            "procedure": "procedure",
            "medication": "medication",
            "measurement": "lab",
            "other": "diagnosis",
        }[concept.kind]
        window = windows.get(name)
        for slot_index, slot in enumerate(model if isinstance(model, list) else [model]):
            slot_id = _slot_id(name, slot_index)
            codes = [(codes_all[0][0], c) for c in slot.codes] if slot.codes else codes_all
            factors = dict(concept.dose_factors)
            for i, (system, code) in enumerate(codes):
                t.add(
                    "slot_codes",
                    slot_id=slot_id,
                    idx=i,
                    code_system=system,
                    code=code,
                    dose_factor=factors.get(normalise_code(code), 1.0),
                )
            recent = slot.recent if slot.recent is not None else (0.7 if window else 0.0)
            recent_days = max(1, int(window if window else 180) - 1)
            uln = slot.uln if slot.uln is not None else concept.default_uln
            t.add(
                "slots",
                slot_id=slot_id,
                concept=name,
                domain=slot.domain or domain,
                dist=slot.dist,
                n_codes=len(codes),
                n_lo=slot.n[0],
                n_hi=slot.n[1],
                date_model=slot.date,
                horizon=slot.horizon,
                span=slot.span,
                recent=recent,
                recent_days=recent_days,
                center=float(slot.center),
                spread=float(slot.spread),
                lo=float(slot.lo),
                hi=float(slot.hi),
                digits=slot.digits,
                refr_shift=float(slot.refr_shift),
                tail_p=float(slot.tail_p),
                tail_lo=float(slot.tail[0]),
                tail_hi=float(slot.tail[1]),
                abn_lo=float((slot.tail_abn or slot.tail)[0]),
                abn_hi=float((slot.tail_abn or slot.tail)[1]),
                abn_bit=bits.get(slot.abn, 0) if slot.abn else 0,
                p_abn=float(slot.p_abn),
                sex=slot.sex,
                uln=None if uln is None else float(uln),
                lln=None if slot.lln is None else float(slot.lln),
                dur_lo=slot.dur[0],
                dur_hi=slot.dur[1],
                ongoing_refr=float(
                    slot.ongoing_refr
                    if slot.ongoing_refr is not None
                    else by_profile(slot.ongoing, "SLE") or 0.0
                ),
                dose_unit="mg/d" if slot.dist == "dose" else None,
                censored=slot.censored,
            )
            for profile, *_ in PROFILES:
                t.add(
                    "slot_profile",
                    slot_id=slot_id,
                    profile=profile,
                    p=by_profile(slot.p, profile),
                    p_workup=by_profile(slot.p_workup, profile),
                    p_refr=by_profile(slot.p_refr, profile),
                    pos=by_profile(slot.pos, profile) or 0.0,
                    ongoing=by_profile(slot.ongoing, profile) or 0.0,
                )
            for s in range(sites):
                habit = SITE_HABITS[s % len(SITE_HABITS)]
                unit = _site_unit(concept, habit) if slot.dist not in ("dose", "none") else None
                # titres only where they are the concept's values (ANA's 1:320 and 1:40 are
                # positive and negative against 1:80; anti-dsDNA's CLIFT, from 1:10, is not
                # simulated)
                texts = habit.get("titre") if concept.unit_factor(TITRE) is not None else None
                texts = texts or habit["text"]
                t.add(
                    "slot_units",
                    slot_id=slot_id,
                    site_idx=s,
                    unit=unit[0] if unit else ("mg/d" if slot.dist == "dose" else None),
                    factor=unit[1] if unit else 1.0,
                    odd_unit=_odd_unit(concept)
                    if slot.dist in ("lognormal", "normal") and (slot.domain or domain) == "lab"
                    else None,
                    uln_scale=habit["uln_scale"] * (1 + 0.02 * (s // len(SITE_HABITS))),
                    ref_missing=habit["ref_missing"] if concept.default_uln else 0.0,
                    pos_text=texts[0],
                    neg_text=texts[1],
                    writes_bounds=bool(habit.get("bounds")),
                )
    return t
