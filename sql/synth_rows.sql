-- `feasibility synth`, part 2: the rows of one block of patients (the registered table `pat`,
-- a slice of synth_patients), over the slot, code, unit and noise tables that
-- feasibility/synth/generate.py registers and the one-row cfg (seed, as_of, odd_share,
-- lapsed_share, sort_rows, ...).

-- Every event of every slot: presence, record count, code, date, value.
CREATE OR REPLACE TEMP VIEW synth_events AS
WITH hits AS (
    SELECT p.pid, p.seed, p.site_idx, p.traits, p.sex, s.*, sp.pos, sp.ongoing,
           (p.traits & s.abn_bit) <> 0 AS has_abn,
           (p.traits & 1) <> 0 AS refr,
           (p.traits & 2) <> 0 AS workup
    FROM pat p
    JOIN slot_profile sp ON sp.profile = p.profile
    JOIN slots s ON s.slot_id = sp.slot_id
    WHERE (s.sex IS NULL OR p.sex = s.sex)
      AND u(p.seed, p.pid, s.slot_id, 'present') <
          CASE WHEN (p.traits & s.abn_bit) <> 0 THEN s.p_abn
               WHEN (p.traits & 1) <> 0 AND sp.p_refr IS NOT NULL THEN sp.p_refr
               WHEN (p.traits & 2) <> 0 AND sp.p_workup IS NOT NULL THEN sp.p_workup
               ELSE sp.p END
), recs AS (
    -- record count skewed to the low end: (1, 3) gives 1.6 records on average; patients with
    -- refractory disease or a recent work-up are seen often, the others have only n_lo records
    SELECT h.*, unnest(range(h.n_lo + CASE WHEN h.refr OR h.workup
                                           THEN CAST(floor(pow(u(h.seed, h.pid, h.slot_id, 'n'), 2)
                                                           * (h.n_hi - h.n_lo + 1)) AS INTEGER)
                                           ELSE 0 END)) AS k
    FROM hits h
), drawn AS (
    SELECT r.*,
           -- latest record (k = 0) and older ones, in days before as_of
           CASE r.date_model
             WHEN 'lab' THEN
               CASE WHEN r.workup THEN floor(u(r.seed, r.pid, r.slot_id, 'd0') * 45)
                    ELSE floor(pow(u(r.seed, r.pid, r.slot_id, 'd0'), 2) * r.span) END
             WHEN 'pulse' THEN floor(u(r.seed, r.pid, r.slot_id, 'd0') * 30)
             WHEN 'course' THEN
               CASE WHEN u(r.seed, r.pid, r.slot_id, 'ongoing') <
                         CASE WHEN r.refr THEN r.ongoing_refr ELSE r.ongoing END THEN 0
                    ELSE floor(15 + pow(u(r.seed, r.pid, r.slot_id, 'd0'), 1.5) * 900) END
             ELSE
               CASE WHEN u(r.seed, r.pid, r.slot_id, 'recent') < r.recent
                    THEN floor(pow(u(r.seed, r.pid, r.slot_id, 'd0'), 2) * r.recent_days)
                    ELSE floor(pow(u(r.seed, r.pid, r.slot_id, 'd0'), 1.3) * r.horizon) END
           END AS d0,
           u(r.seed, r.pid, r.slot_id * 64 + r.k, 'dk') AS u_dk,
           r.dur_lo + floor(u(r.seed, r.pid, r.slot_id * 64 + r.k, 'dur')
                            * (r.dur_hi - r.dur_lo + 1)) AS dur,
           0.8 * z(r.seed, r.pid, r.slot_id, 'zp') + 0.45 * z(r.seed, r.pid, r.slot_id * 64 + r.k, 'zr')
               AS zv,
           r.has_abn OR u(r.seed, r.pid, r.slot_id, 'tail') < r.tail_p AS abnormal,
           CASE WHEN r.has_abn THEN r.abn_lo + u(r.seed, r.pid, r.slot_id, 'mult') * (r.abn_hi - r.abn_lo)
                ELSE r.tail_lo + u(r.seed, r.pid, r.slot_id, 'mult') * (r.tail_hi - r.tail_lo)
           END AS mult,
           CAST(hash(r.seed, r.pid, r.slot_id, 'code') % r.n_codes AS INTEGER) AS code_idx,
           u(r.seed, r.pid, r.slot_id * 64 + r.k, 'odd') < cfg.odd_share AS odd,
           u(r.seed, r.pid, r.slot_id * 64 + r.k, 'ref') AS u_ref,
           u(r.seed, r.pid, r.slot_id, 'pos') AS u_pos
    FROM recs r CROSS JOIN cfg
), valued AS (
    SELECT d.*,
           CASE WHEN d.k = 0 THEN d.d0
                WHEN d.date_model = 'course' THEN d.d0 + d.dur + 1 + floor(pow(d.u_dk, 2) * d.horizon)
                ELSE d.d0 + 1 + floor(d.u_dk * greatest(d.horizon - d.d0, 1)) END AS days_end,
           round(least(greatest(
               CASE d.dist
                 WHEN 'lognormal' THEN (d.center + CASE WHEN d.refr THEN d.refr_shift ELSE 0 END)
                                       * exp(d.spread * d.zv)
                 WHEN 'dose' THEN d.center * exp(d.spread * d.zv)
                 ELSE d.center + CASE WHEN d.refr THEN d.refr_shift ELSE 0 END + d.spread * d.zv
               END * CASE WHEN d.abnormal THEN d.mult ELSE 1 END, d.lo), d.hi),
               CAST(d.digits AS INTEGER)) AS v
    FROM drawn d
), sited AS (
    -- the site's habits for the slot: its unit and factor, reference range and spellings,
    -- its upper limit as written in its unit (a row's ref_high, and the number of a bound),
    -- and whether it writes a result below the assay's limit as a bound
    SELECT v.*, su.* EXCLUDE (slot_id, site_idx),
           round(v.uln * su.uln_scale / su.factor, 3) AS site_uln,
           su.writes_bounds AND v.censored AND v.v < v.uln * su.uln_scale AS below_limit
    FROM valued v
    JOIN slot_units su ON su.slot_id = v.slot_id AND su.site_idx = v.site_idx
)
SELECT v.pid, 2 AS src, v.slot_id, v.k, v.domain, c.code_system, c.code,
       CASE WHEN v.below_limit THEN NULL
            WHEN v.dist IN ('lognormal', 'normal') THEN
                round(v.v / v.factor, CAST(v.digits + greatest(0, ceil(log10(v.factor))) AS INTEGER))
            WHEN v.dist = 'dose' THEN round(v.v / c.dose_factor, 2) END AS value_num,
       CASE WHEN v.dist = 'qual' THEN
                CASE WHEN v.has_abn OR v.u_pos < v.pos THEN v.pos_text ELSE v.neg_text END
            -- below the assay's limit, written as a bound at the limit, as its ref_high says
            WHEN v.below_limit THEN printf('<%g', v.site_uln)
       END AS value_text,
       CASE WHEN v.odd AND v.odd_unit IS NOT NULL THEN v.odd_unit ELSE v.unit END AS unit,
       CASE WHEN v.dist IN ('lognormal', 'normal') AND v.lln IS NOT NULL
                 AND v.u_ref >= v.ref_missing
            THEN round(v.lln * v.uln_scale / v.factor, 3) END AS ref_low,
       CASE WHEN v.dist IN ('lognormal', 'normal') AND v.uln IS NOT NULL
                 AND v.u_ref >= v.ref_missing
            THEN v.site_uln END AS ref_high,
       CAST(cfg.as_of - CAST(v.days_end + CASE WHEN v.date_model IN ('course', 'pulse')
                                               THEN v.dur ELSE 0 END AS INTEGER) AS DATE)
           AS start_date,
       CASE WHEN v.date_model IN ('course', 'pulse')
            THEN CAST(cfg.as_of - CAST(v.days_end AS INTEGER) AS DATE)
            WHEN v.date_model = 'once' AND v.domain = 'medication'
            THEN CAST(cfg.as_of - CAST(v.days_end AS INTEGER) AS DATE) END AS end_date
FROM sited v
JOIN slot_codes c ON c.slot_id = v.slot_id AND c.idx = v.code_idx
CROSS JOIN cfg;

-- Codes no trial uses, about cfg.noise rows per patient.
CREATE OR REPLACE TEMP VIEW synth_noise AS
WITH n AS (
    SELECT p.pid, p.seed,
           unnest(range(CAST(floor(u(p.seed, p.pid, 0, 'noise') * (2 * cfg.noise + 1)) AS INTEGER)))
               AS k
    FROM pat p, cfg
), picked AS (
    SELECT n.*, CAST(hash(n.seed, n.pid, n.k, 'item') % (SELECT count(*) FROM noise) AS INTEGER)
               AS idx,
           floor(pow(u(n.seed, n.pid, n.k, 'ndate'), 1.5) * 1095) AS days
    FROM n
)
SELECT p.pid, 1 AS src, 0 AS slot_id, p.k, i.domain, i.code_system, i.code,
       CASE WHEN i.median IS NOT NULL THEN
           round(i.median * exp(i.sigma * z(p.seed, p.pid, p.k, 'nv')),
                 CAST(i.digits AS INTEGER)) END AS value_num,
       CAST(NULL AS VARCHAR) AS value_text, i.unit, CAST(NULL AS DOUBLE) AS ref_low,
       i.ref_high, CAST(cfg.as_of - CAST(p.days AS INTEGER) AS DATE) AS start_date,
       -- a vaccine is given on one day, other drugs are taken for one to eleven months
       CASE WHEN i.domain = 'medication' AND i.code_system = 'CVX'
            THEN CAST(cfg.as_of - CAST(p.days AS INTEGER) AS DATE)
            WHEN i.domain = 'medication'
            THEN CAST(cfg.as_of - CAST(greatest(0, p.days - 30 - floor(u(p.seed, p.pid, p.k, 'ndur') * 300))
                                       AS INTEGER) AS DATE) END AS end_date
FROM picked p JOIN noise i ON i.idx = p.idx CROSS JOIN cfg;

CREATE OR REPLACE TEMP VIEW synth_person AS
SELECT pid, 0 AS src, 0 AS slot_id, 0 AS k, 'person' AS domain,
       CAST(NULL AS VARCHAR) AS code_system, CAST(NULL AS VARCHAR) AS code,
       CAST(NULL AS DOUBLE) AS value_num, CAST(NULL AS VARCHAR) AS value_text,
       CAST(NULL AS VARCHAR) AS unit, CAST(NULL AS DOUBLE) AS ref_low,
       CAST(NULL AS DOUBLE) AS ref_high, CAST(NULL AS DATE) AS start_date,
       CAST(NULL AS DATE) AS end_date
FROM pat;

-- The extract's rows. A share of patients (cfg.lapsed_share) left the site's care years ago
-- (moved, changed hospital, died without a record of it): every record of theirs is moved
-- back by more than two years, so the still-in-care step (--active-within) has someone to
-- remove. A patient with a recent work-up is in care, so never lapsed. Rows are in patient
-- order, or in a random order fixed by the seed.
CREATE OR REPLACE TEMP VIEW synth_rows AS
SELECT 'P' || lpad(CAST(e.pid + 1 AS VARCHAR), 8, '0') AS patient_id,
       s.site_id, p.sex, p.birth_year, e.domain, e.code_system, e.code, e.value_num,
       e.value_text, e.unit, e.ref_low, e.ref_high,
       CAST(e.start_date - lapse.days AS DATE) AS start_date,
       CAST(e.end_date - lapse.days AS DATE) AS end_date
FROM (SELECT * FROM synth_person UNION ALL SELECT * FROM synth_noise UNION ALL SELECT * FROM synth_events) e
JOIN pat p USING (pid)
JOIN (
    SELECT pat.pid,
           CASE WHEN u(pat.seed, pat.pid, 0, 'lapsed') < cfg.lapsed_share AND (pat.traits & 2) = 0
                THEN CAST(760 + floor(u(pat.seed, pat.pid, 0, 'lapse') * 1500) AS INTEGER)
                ELSE 0 END AS days
    FROM pat, cfg
) lapse USING (pid)
JOIN sites s ON s.site_idx = p.site_idx
CROSS JOIN cfg
ORDER BY CASE WHEN cfg.sort_rows THEN 0 ELSE hash(p.seed, e.pid, e.src, e.slot_id, e.k, 'order') END,
         e.pid, e.src, e.slot_id, e.k;
