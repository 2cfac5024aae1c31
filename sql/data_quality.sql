-- Patient-level data-quality counts over the feature table `patients`. Only counts leave
-- this query: no patient-level value is ever reported.
SELECT
    count(*) AS patients,
    count(*) FILTER (WHERE sex_conflict) AS patients_with_two_sexes,
    count(*) FILTER (WHERE sex = 'U') AS patients_with_unknown_sex,
    count(*) FILTER (WHERE sex_unrecognised) AS patients_with_unrecognised_sex,
    count(*) FILTER (WHERE by_lo <> by_hi OR bd_lo <> bd_hi) AS patients_with_two_birth_years,
    count(*) FILTER (WHERE by_lo IS NULL AND bd_lo IS NULL) AS patients_without_birth_year,
    count(*) FILTER (WHERE site_conflict) AS patients_at_two_sites,
    count(*) FILTER (WHERE idx_conflict) AS patients_with_inconsistent_index_date,
    count(*) FILTER (WHERE NOT idx_given) AS patients_on_default_index_date,
    count(*) FILTER (WHERE n_future > 0) AS patients_with_events_after_index,
    coalesce(sum(n_future), 0) AS events_after_index,
    -- a birth year no calendar holds (a typo such as 19855) is an implausible age below,
    -- not a date to build
    count(*) FILTER (
        WHERE first_date < coalesce(
            bd_lo, CASE WHEN by_lo BETWEEN 1 AND 9999 THEN make_date(CAST(by_lo AS BIGINT), 1, 1) END
        )
    ) AS patients_with_events_before_birth,
    count(*) FILTER (WHERE age_hi < 0 OR age_lo > 120) AS patients_with_implausible_age,
    count(*) FILTER (WHERE dead_by_index) AS patients_deceased_by_index
FROM patients
