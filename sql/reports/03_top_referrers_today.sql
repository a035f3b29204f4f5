-- Top 5 referrer domains by page views (collections named view_*) on one day; direct traffic
-- (no referrer) is left out. The domain is the referrer's registrable domain
-- (m.facebook.com -> facebook.com), with its channel (search, social, email, internal, other).
-- Parameters: day (date, default: today). Dates and hours are in the reporting time zone
-- (starstream.setting 'reporting_time_zone'; configuration key time.reporting_time_zone, default UTC).
\ir reporting_day.psql
SELECT r.domain AS referrer_domain,
       r.channel,
       count(*) AS views
FROM fact_event f
JOIN dim_date d USING (date_key)
JOIN dim_referrer r USING (referrer_key)
JOIN dim_collection c USING (collection_key)
WHERE d.date = :'day'::date
  AND c.collection LIKE 'view\_%'
  AND r.domain <> ''
GROUP BY r.domain, r.channel
ORDER BY views DESC, r.domain, r.channel
LIMIT 5;
