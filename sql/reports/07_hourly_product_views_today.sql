-- Hourly product detail views from the windowed table (tumbling 1 h windows, update mode):
-- the 20 busiest (product, store, visitor country, hour) cells of one day, with distinct
-- visitors and whether the hour is final (the watermark passed its end; until then it can grow).
-- Parameters: day (date, default: today). Windows are in UTC; the day is that of the window
-- start in the reporting time zone (starstream.setting 'reporting_time_zone', default UTC).
\ir reporting_day.psql
SELECT to_char(h.window_start AT TIME ZONE :'time_zone', 'HH24:MI') AS hour_start,
       p.product_id,
       s.store_id,
       l.country_code,
       h.views,
       h.visitors,
       h.is_final
FROM hourly_product_views h
JOIN dim_product p USING (product_key)
JOIN dim_store s USING (store_key)
JOIN dim_location l USING (location_key)
WHERE (h.window_start AT TIME ZONE :'time_zone')::date = :'day'::date
ORDER BY h.views DESC, h.window_start, p.product_id, s.store_id, l.country_code
LIMIT 20;
