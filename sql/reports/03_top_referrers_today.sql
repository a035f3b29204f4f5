-- Top 5 referrer domains by page views (collections named view_*) on one day; direct traffic
-- (no referrer) is left out. The domain is the referrer's host without "www." or "m.".
-- Parameters: day (date, default: today in UTC).
\if :{?day}
\else
SELECT (now() AT TIME ZONE 'UTC')::date AS day \gset
\endif
SELECT r.domain AS referrer_domain,
       count(*) AS views
FROM fact_event f
JOIN dim_date d USING (date_key)
JOIN dim_referrer r USING (referrer_key)
JOIN dim_collection c USING (collection_key)
WHERE d.date = :'day'::date
  AND c.collection LIKE 'view\_%'
  AND r.domain <> ''
GROUP BY r.domain
ORDER BY views DESC, r.domain
LIMIT 5;
