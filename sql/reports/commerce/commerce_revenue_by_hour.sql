-- Revenue and purchases per hour of a range (dates and hours in the reporting time zone), hours
-- without a purchase left out; a purchase without a price adds 0.
-- Parameters: from, to (dates, both included; default: day, default today), reporting time zone.
-- Usage: psql -v day=2020-09-24 -f sql/reports/commerce/commerce_revenue_by_hour.sql
\ir reporting_range.psql
SELECT d.date, f.hour, coalesce(sum(f.price), 0) AS revenue, count(*) AS purchases
FROM fact_commerce_event f
JOIN dim_date d USING (date_key)
WHERE f.event_type = 'purchase'
  AND f.date_key BETWEEN to_char(:'from'::date, 'YYYYMMDD')::integer AND to_char(:'to'::date, 'YYYYMMDD')::integer
GROUP BY d.date, f.hour
ORDER BY d.date, f.hour;
