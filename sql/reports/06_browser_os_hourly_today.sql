-- Hourly page views (collections named view_*) by browser and operating system on one day,
-- browser and OS families as ua-parser (uap-core rules) names them.
-- Parameters: day (date, default: today). Dates and hours are in the reporting time zone
-- (starstream.setting 'reporting_time_zone'; configuration key time.reporting_time_zone, default UTC).
\ir reporting_day.psql
SELECT f.hour,
       coalesce(u.browser_family, 'unknown') AS browser,
       coalesce(u.os_family, 'unknown') AS os,
       count(*) AS views
FROM fact_event f
JOIN dim_date d USING (date_key)
JOIN dim_user_agent u USING (user_agent_key)
JOIN dim_collection c USING (collection_key)
WHERE d.date = :'day'::date
  AND c.collection LIKE 'view\_%'
GROUP BY f.hour, browser, os
ORDER BY f.hour, views DESC, browser, os;
