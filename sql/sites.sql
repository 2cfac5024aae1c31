-- The extract's sites, numbered in sort order. The demographics pass aggregates each row's
-- site as this number: MIN and MAX of the site strings cost a third of that pass, and the
-- smallest number is still the first site in sort order.
SELECT
    site_id,
    CAST(row_number() OVER (ORDER BY site_id) - 1 AS INTEGER) AS site_rank
FROM (SELECT DISTINCT site_id FROM events) AS s
