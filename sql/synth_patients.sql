-- `feasibility synth`, part 1: the patients. Reads the tables feasibility/synth/generate.py registers
-- (cfg, profiles, trait_probs); every draw comes from a hash of the seed, so the same
-- arguments give the same rows whatever the threads.

-- u(...) is uniform in [0, 1), z(...) standard normal (Box-Muller); both from hashes only.
CREATE OR REPLACE TEMP MACRO u(a, b, c, d) AS (hash(a, b, c, d) % 1000003) / 1000003.0;
CREATE OR REPLACE TEMP MACRO z(a, b, c, d) AS
    sqrt(-2 * ln((hash(a, b, c, d, 'r') % 1000003 + 0.5) / 1000003.5))
    * cos(2 * pi() * (hash(a, b, c, d, 'a') % 1000003) / 1000003.0);

-- One row per patient: site, profile, sex, birth year and a bit set of traits.
CREATE OR REPLACE TEMP VIEW synth_patients AS
WITH base AS (
    SELECT r.i AS pid, cfg.seed,
           CAST(hash(cfg.seed, r.i, 'site') % cfg.sites AS INTEGER) AS site_idx,
           u(cfg.seed, r.i, 0, 'profile') AS u_profile,
           u(cfg.seed, r.i, 0, 'sex') AS u_sex,
           u(cfg.seed, r.i, 0, 'teen') AS u_teen,
           z(cfg.seed, r.i, 0, 'age') AS z_age,
           cfg.year
    FROM range((SELECT patients FROM cfg)) r(i), cfg
), typed AS (
    SELECT b.*, pr.profile, pr.female, pr.mean_age,
           u(b.seed, b.pid, 1, 'trait') < pr.refractory AS refr
    FROM base b JOIN profiles pr ON b.u_profile >= pr.lo AND b.u_profile < pr.hi
), traits AS (
    SELECT t.pid, bit_or(tr.bit) AS traits
    FROM typed t JOIN trait_probs tr ON tr.profile = t.profile
    WHERE CASE WHEN tr.bit = 1 THEN t.refr
               ELSE u(t.seed, t.pid, tr.bit, 'trait') < CASE WHEN t.refr THEN tr.p_refr
                                                              ELSE tr.p END END
    GROUP BY t.pid
)
SELECT t.pid, t.seed, t.site_idx, t.profile,
       CASE WHEN t.u_sex > 0.999 THEN 'U' WHEN t.u_sex < t.female THEN 'F' ELSE 'M' END AS sex,
       CAST(t.year - CASE WHEN t.u_teen < 0.015 THEN 17 + CAST(t.u_teen * 1000 AS INTEGER) % 2
                          ELSE least(85, greatest(19, round(t.mean_age + 14 * t.z_age)))
                     END AS INTEGER) AS birth_year,
       coalesce(tr.traits, 0) AS traits
FROM typed t LEFT JOIN traits tr USING (pid);
