-- Top 10 visitor countries by page views (collections named view_*) on one day.
-- Country comes from the client IP (geoip-database); 'ZZ' = unknown or private address.
-- Parameters: day (date, default: today). Dates and hours are in the reporting time zone
-- (starstream.setting 'reporting_time_zone'; configuration key time.reporting_time_zone, default UTC).
\ir reporting_day.psql
SELECT l.country_code,
       l.country_name,
       count(*) AS views
FROM fact_event f
JOIN dim_date d USING (date_key)
JOIN dim_location l USING (location_key)
JOIN dim_collection c USING (collection_key)
WHERE d.date = :'day'::date
  AND c.collection LIKE 'view\_%'
GROUP BY l.country_code, l.country_name
ORDER BY views DESC, l.country_code
LIMIT 10;
