-- Store performance by visitor country on one day: page views (collections named view_*) of
-- each store from each country, the country's rank and share within the store; stores are
-- ranked by their total page views, and each shows its top 3 countries.
-- Parameters: day (date, default: today). Dates and hours are in the reporting time zone
-- (starstream.setting 'reporting_time_zone'; configuration key time.reporting_time_zone, default UTC).
\ir reporting_day.psql
WITH by_country AS (
    SELECT s.store_id, s.domain, l.country_code, count(*) AS views
    FROM fact_event f
    JOIN dim_date d USING (date_key)
    JOIN dim_store s USING (store_key)
    JOIN dim_location l USING (location_key)
    JOIN dim_collection c USING (collection_key)
    WHERE d.date = :'day'::date
      AND c.collection LIKE 'view\_%'
    GROUP BY s.store_id, s.domain, l.country_code
), ranked AS (
    SELECT *,
           sum(views) OVER (PARTITION BY store_id) AS store_views,
           row_number() OVER (PARTITION BY store_id ORDER BY views DESC, country_code) AS country_rank
    FROM by_country
)
SELECT dense_rank() OVER (ORDER BY store_views DESC, store_id) AS store_rank,
       store_id, domain, store_views, country_rank, country_code, views,
       round(100.0 * views / store_views, 1) AS share_percent
FROM ranked
WHERE country_rank <= 3
ORDER BY store_rank, country_rank;
