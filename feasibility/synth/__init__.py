"""Deterministic synthetic extracts (contract v1), generated inside DuckDB.

Python builds a handful of small tables from the concept library and the shipped trials:

* `slots`: one row per kind of event ("a patient's ALT results", "a course of mycophenolate",
  "a stroke diagnosis"), with its value model, record count and date model;
* `slot_profile`: per slot and patient profile, the probability of having it (and of a
  qualitative result being positive);
* `slot_codes` / `slot_units`: the codes a slot may use and each site's unit habit for it;
* `traits`: latent patient traits (refractory disease, a recent screening work-up, hepatitis B,
  heart failure, ...) that tie related events together so that combined criteria
  (`all(diagnosis heart_failure; NYHA >= 3)`) are met by some patients;
* `noise`: common codes no trial uses, each drawn as often as its weight says.

DuckDB cross-joins these with `range(patients)` (the fixed SQL of `sql/synth_patients.sql`
and `sql/synth_rows.sql`) and draws every random number from
`hash(seed, patient, slot, record, salt)`, so the result depends only on the seed and the
arguments, never on the thread count or on Python. Normal deviates come from Box-Muller.
"""
