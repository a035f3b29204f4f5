-- Visits (session windows per device, 30 min gap) that started on one day: how many, how long,
-- how many product views, and the share that reached checkout_success; per landing page
-- (first URL), the 10 most frequent.
-- Parameters: day (date, default: today in the reporting time zone, starstream.setting
-- 'reporting_time_zone').
\ir reporting_day.psql
SELECT v.first_url AS landing_page,
       count(*) AS visits,
       round(avg(v.events), 1) AS events_per_visit,
       round(avg(v.product_views), 1) AS product_views_per_visit,
       round(avg(extract(epoch FROM v.visit_end - v.visit_start) / 60), 1) AS minutes_incl_gap,
       round(100.0 * avg(v.reached_checkout::int), 1) AS checkout_percent
FROM win_visits v
WHERE (v.visit_start AT TIME ZONE :'time_zone')::date = :'day'::date
GROUP BY v.first_url
ORDER BY visits DESC, landing_page
LIMIT 10;
