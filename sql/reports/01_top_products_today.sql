-- Top 10 products by product detail views (collection view_product_detail) on one day.
-- Parameters: day (date, default: today). Dates and hours are in the reporting time zone
-- (starstream.setting 'reporting_time_zone'; configuration key time.reporting_time_zone, default UTC).
-- Usage: psql -v day=2020-05-03 -f sql/reports/01_top_products_today.sql
\ir reporting_day.psql
SELECT p.product_id,
       count(*) AS views,
       p.product_url
FROM fact_event f
JOIN dim_date d USING (date_key)
JOIN dim_product p USING (product_key)
JOIN dim_collection c USING (collection_key)
WHERE d.date = :'day'::date
  AND c.collection = 'view_product_detail'
GROUP BY p.product_id, p.product_url
ORDER BY views DESC, p.product_id
LIMIT 10;
