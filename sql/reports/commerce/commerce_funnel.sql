-- The view -> cart -> purchase funnel of a range: per step, its events and the customers who
-- took it, and the share of the previous step's customers who did (conversion between steps).
-- cart_abandonment, on the cart step only: 1 - purchases / cart additions, events of the range,
-- at least 0 (more purchases than cart adds is no negative abandonment: a purchase need not
-- follow a cart add), NULL without cart adds. The same rate customer_profile's
-- cart_abandonment_rate gives one customer (pipelines/commerce_events.yaml), over everyone.
-- Parameters: from, to (dates, both included; default: day, default today), reporting time zone.
-- Usage: psql -v from=2020-09-24 -v to=2020-10-23 -f sql/reports/commerce/commerce_funnel.sql
\ir reporting_range.psql
WITH steps(step, event_type) AS (VALUES (1, 'view'), (2, 'cart'), (3, 'purchase')),
counted AS (
    SELECT s.step, s.event_type, count(f.event_key) AS events, count(DISTINCT f.user_id) AS customers
    FROM steps s
    LEFT JOIN fact_commerce_event f ON f.event_type = s.event_type
     AND f.date_key BETWEEN to_char(:'from'::date, 'YYYYMMDD')::integer AND to_char(:'to'::date, 'YYYYMMDD')::integer
    GROUP BY s.step, s.event_type
)
SELECT step, event_type, events, customers,
       round(customers::numeric / nullif(lag(customers) OVER (ORDER BY step), 0), 4) AS from_previous_step,
       CASE WHEN event_type = 'cart'
            THEN round(greatest(0, 1 - (SELECT events FROM counted WHERE event_type = 'purchase')::numeric / nullif(events, 0)), 4)
       END AS cart_abandonment  -- greatest skips a NULL: no cart adds stays NULL
FROM counted
ORDER BY step;
