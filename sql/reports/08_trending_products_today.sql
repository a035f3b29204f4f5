-- Trending products: the top N products by detail views in each 1 h window sliding every
-- 5 min (hopping windows, final rows only), for the windows that end on one day.
-- Parameters: day (date, default: today; windows ending on it in the reporting time zone,
-- starstream.setting 'reporting_time_zone'); top (default 3).
\ir reporting_day.psql
\if :{?top}
\else
\set top 3
\endif
WITH ranked AS (
    SELECT t.window_start, t.window_end, p.product_id, t.views,
           rank() OVER (PARTITION BY t.window_start, t.window_end ORDER BY t.views DESC) AS rank
    FROM trending_products t
    JOIN dim_product p USING (product_key)
    WHERE (t.window_end AT TIME ZONE :'time_zone')::date = :'day'::date
)
SELECT to_char(window_end AT TIME ZONE :'time_zone', 'HH24:MI') AS window_end, rank, product_id, views
FROM ranked
WHERE rank <= :top
ORDER BY window_end, rank, product_id;
