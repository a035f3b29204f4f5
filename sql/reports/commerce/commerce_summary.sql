-- The commerce summary of a range: events by type (count and share), purchases, revenue, the
-- customers active in the range and their average value (revenue / customers), and those
-- customers by segment (their profile's segment, all time: customer_profile) with shares.
-- Parameters: from, to (dates, both included; default: day, default today), in the reporting
-- time zone (time.reporting_time_zone, default UTC).
-- Usage: psql -v from=2020-09-24 -v to=2020-10-23 -f sql/reports/commerce/commerce_summary.sql
\ir reporting_range.psql
WITH events AS (
    SELECT f.* FROM fact_commerce_event f
    WHERE f.date_key BETWEEN to_char(:'from'::date, 'YYYYMMDD')::integer AND to_char(:'to'::date, 'YYYYMMDD')::integer
), customers AS (
    SELECT p.segment FROM customer_profile p WHERE p.user_id IN (SELECT user_id FROM events)
), totals AS (
    SELECT count(*) AS events, count(*) FILTER (WHERE event_type = 'purchase') AS purchases,
           coalesce(sum(price) FILTER (WHERE event_type = 'purchase'), 0) AS revenue,
           count(DISTINCT user_id) AS customers
    FROM events
)
SELECT 'total' AS section, 'events' AS name, events::numeric AS value, NULL::numeric AS share FROM totals
UNION ALL SELECT 'total', 'purchases', purchases, NULL FROM totals
UNION ALL SELECT 'total', 'revenue', revenue, NULL FROM totals
UNION ALL SELECT 'total', 'customers', customers, NULL FROM totals
UNION ALL SELECT 'total', 'average_customer_value', round(revenue / nullif(customers, 0), 2), NULL FROM totals
UNION ALL (SELECT 'event_type', event_type, count(*), round(count(*) / sum(count(*)) OVER (), 4) FROM events GROUP BY event_type ORDER BY count(*) DESC)
UNION ALL (SELECT 'segment', segment, count(*), round(count(*) / sum(count(*)) OVER (), 4) FROM customers GROUP BY segment ORDER BY count(*) DESC, segment);
