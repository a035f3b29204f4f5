-- Hourly product detail views (collection view_product_detail) of one product on one day,
-- all 24 hours listed, zeros included.
-- Parameters: day (date, default: today); product_id (default: the day's most viewed). Dates and
-- hours are in the reporting time zone (starstream.setting 'reporting_time_zone';
-- configuration key time.reporting_time_zone, default UTC).
\ir reporting_day.psql
\if :{?product_id}
\else
SELECT coalesce((
    SELECT p.product_id
    FROM fact_event f
    JOIN dim_date d USING (date_key)
    JOIN dim_product p USING (product_key)
    JOIN dim_collection c USING (collection_key)
    WHERE d.date = :'day'::date AND c.collection = 'view_product_detail'
    GROUP BY p.product_id
    ORDER BY count(*) DESC, p.product_id
    LIMIT 1), '') AS product_id \gset
\endif
SELECT :'product_id' AS product_id,
       h.hour,
       count(f.event_id) AS views
FROM generate_series(0, 23) AS h(hour)
LEFT JOIN (
    fact_event f
    JOIN dim_date d ON d.date_key = f.date_key AND d.date = :'day'::date
    JOIN dim_product p ON p.product_key = f.product_key AND p.product_id = :'product_id'
    JOIN dim_collection c ON c.collection_key = f.collection_key AND c.collection = 'view_product_detail'
) ON f.hour = h.hour
GROUP BY h.hour
ORDER BY h.hour;
