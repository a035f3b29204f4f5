-- The 10 categories and the 10 brands with the most revenue (purchases' prices) in a range, with
-- their purchases; uncategorised and brandless purchases are left out. Each purchase is credited
-- to its own category and brand (the fact's), not to the product's current ones (the dimension
-- holds its latest event's). A purchase without a price adds 0 (coalesce: a NULL sum would sort
-- first under DESC).
-- Parameters: from, to (dates, both included; default: day, default today), reporting time zone.
-- Usage: psql -v from=2020-09-24 -v to=2020-10-23 -f sql/reports/commerce/commerce_top_categories_brands.sql
\ir reporting_range.psql
WITH purchases AS (
    SELECT f.price, f.category_code, f.brand
    FROM fact_commerce_event f
    WHERE f.event_type = 'purchase'
      AND f.date_key BETWEEN to_char(:'from'::date, 'YYYYMMDD')::integer AND to_char(:'to'::date, 'YYYYMMDD')::integer
)
(SELECT 'category' AS kind, category_code AS name, coalesce(sum(price), 0) AS revenue, count(*) AS purchases
 FROM purchases WHERE category_code <> '' GROUP BY category_code ORDER BY revenue DESC, name LIMIT 10)
UNION ALL
(SELECT 'brand', brand, coalesce(sum(price), 0) AS revenue, count(*)
 FROM purchases WHERE brand <> '' GROUP BY brand ORDER BY revenue DESC, brand LIMIT 10);
