-- The exact distinct visitors of win_hourly_product_views (005) move to the name and shape the
-- pipeline spec language gives a count_distinct's state (pipelines/README.md: a member table
-- `<window table>_<column>_members` holding the window's key and `member`), so that the compiled
-- product_view pipeline and pipelines/product_view.yaml run as a spec (pipelines.compiled =
-- none) keep their distinct visitors in one table, in the schema the other tables are made in.
-- (A group switches all its instances at once, with the windows.* settings the spec states:
-- pipelines/product_view.yaml.)
ALTER TABLE starstream.win_hourly_product_visitor RENAME COLUMN device_id TO member;
DO $$
BEGIN
    EXECUTE format('ALTER TABLE starstream.win_hourly_product_visitor SET SCHEMA %I', current_schema());
END
$$;
ALTER TABLE win_hourly_product_visitor RENAME TO win_hourly_product_views_visitors_members;
ALTER INDEX win_hourly_product_visitor_pkey RENAME TO win_hourly_product_views_visitors_members_pkey;

-- starstream.rebuild_windows (005) names the table in its body, which PL/pgSQL resolves when it
-- runs: the same definition, with the new name (its inserts list no columns, so the renamed
-- column needs nothing).
DO $$
BEGIN
    EXECUTE replace(pg_get_functiondef('starstream.rebuild_windows(interval)'::regprocedure),
                    'starstream.win_hourly_product_visitor', 'win_hourly_product_views_visitors_members');
END
$$;

COMMENT ON FUNCTION starstream.rebuild_windows(interval) IS
    'Recomputes win_hourly_product_views (+ win_hourly_product_views_visitors_members), win_product_view_panes and win_visits from fact_event, without the events starstream.late_event lists for each; `starstreamd rebuild-windows` runs it with windows.visit_gap_ms';
