"""The schema follows the pipeline specs through generated, recorded migrations
(daemon/sink/postgres/spec_migrator.h): `starstreamd migrate` creates a spec's tables with the
keys the runtime needs, records every statement in starstream.spec_migration, adds what a
changed spec adds (nullable columns, existing rows kept), applies nothing the second time, and
refuses an incompatible change (exit 2, naming both sides, the file and line, and the key)
before writing anything. product_view.yaml needs nothing on a database the SQL migrations made."""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import harness

LAB = os.path.join(harness.SOURCE_DIR, "pipelines", "lab_events.yaml")
PRODUCT_VIEW = os.path.join(harness.SOURCE_DIR, "pipelines", "product_view.yaml")
COMMERCE = os.path.join(harness.SOURCE_DIR, "pipelines", "commerce_events.yaml")


class SpecMigrations(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="starstream-specmig-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.pg = harness.Postgres()
        cls.addClassCleanup(cls.pg.stop)

    def folder(self, name, *specs):
        """A pipelines.dir holding `specs`: (file name, text) pairs or paths to copy."""
        path = os.path.join(self.tmp, name)
        os.makedirs(path, exist_ok=True)
        for spec in specs:
            if isinstance(spec, str):
                shutil.copy(spec, path)
            else:
                with open(os.path.join(path, spec[0]), "w") as f:
                    f.write(spec[1])
        return path

    @staticmethod
    def lab_text(*replacements):
        with open(LAB) as f:
            text = f.read()
        for original, changed in replacements:
            assert original in text, original
            text = text.replace(original, changed, 1)
        return text

    def daemon(self, command, dsn, folder, *extra):
        # pipelines.run is product_view (the default) unless named: the folder's specs are
        # validated and compared with the database whether run or not, product_view's own spec
        # too (it makes no generated statement: the hand-written migrations make its tables).
        if not any(e.startswith("--pipelines.run=") for e in extra) and not os.path.exists(os.path.join(folder, "product_view.yaml")):
            shutil.copy(PRODUCT_VIEW, folder)
        return subprocess.run([harness.DAEMON, command, f"--postgres.dsn={dsn}", "--kafka.bootstrap.servers=127.0.0.1:9",
                               f"--pipelines.dir={folder}", "--http.port=0", "--source.startup_timeout_ms=2000", *extra],
                              capture_output=True, text=True, timeout=120)

    def migrate(self, dsn, folder):
        out = self.daemon("migrate", dsn, folder)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        return out

    @staticmethod
    def recorded(dsn, pipeline=None):
        return harness.query(dsn, "SELECT pipeline, spec_file, target, statement FROM starstream.spec_migration"
                                  " WHERE %(p)s IS NULL OR pipeline = %(p)s ORDER BY id", {"p": pipeline})

    @staticmethod
    def columns(dsn, table):
        return harness.query(dsn, "SELECT column_name, data_type, is_nullable FROM information_schema.columns"
                                  " WHERE table_schema = 'public' AND table_name = %s ORDER BY ordinal_position", (table,))

    @staticmethod
    def keys(dsn, table):
        """{index name: (primary?, unique?, partial predicate or None, [columns in order])} from the catalog."""
        rows = harness.query(dsn, """
            SELECT c.relname, i.indisprimary, i.indisunique, pg_get_expr(i.indpred, i.indrelid),
                   array(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY k(attnum, n)
                         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum ORDER BY k.n)
            FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
            WHERE i.indrelid = %s::regclass""", (table,))
        return {name: (primary, unique, predicate, list(cols)) for name, primary, unique, predicate, cols in rows}

    @staticmethod
    def spec_line(path, starts_with):
        with open(path) as f:
            return next(i for i, text in enumerate(f, 1) if text.startswith(starts_with))

    def test_lab_events_tables_created_recorded_and_evolved(self):
        dsn = self.pg.create_database("lab")
        lab = self.folder("lab", LAB)
        # check-config on the empty database: the SQL migrations come first, nothing is written.
        check = self.daemon("check-config", dsn, lab)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        self.assertIn("SQL migrations not applied yet: 001_star_schema.sql", check.stdout)
        self.assertIsNone(harness.scalar(dsn, "SELECT to_regclass('starstream.spec_migration')"))

        out = self.migrate(dsn, lab)
        self.assertIn("13 generated statement(s) applied", out.stderr)
        self.assertEqual(self.columns(dsn, "dim_lab_item"), [
            ("lab_item_key", "bigint", "NO"), ("item_id", "text", "NO"), ("price", "numeric", "YES"),
            ("valid_from", "timestamp with time zone", "NO"), ("valid_to", "timestamp with time zone", "NO"), ("is_current", "boolean", "NO")])
        self.assertEqual(self.columns(dsn, "fact_lab_event"), [
            ("date_key", "integer", "YES"), ("lab_user_key", "bigint", "YES"), ("lab_item_key", "bigint", "YES"), ("event_id", "uuid", "NO"),
            ("event_type", "text", "YES"), ("price", "numeric", "YES"), ("timestamp", "timestamp with time zone", "YES")])
        self.assertEqual([c[0] for c in self.columns(dsn, "win_lab_revenue_per_minute")],
                         ["window_start", "window_end", "revenue", "purchases", "buyers"])
        self.assertEqual(self.keys(dsn, "dim_lab_user"), {
            "dim_lab_user_pkey": (True, True, None, ["lab_user_key"]),
            "dim_lab_user_natural_key": (False, True, None, ["user_id"])})
        self.assertEqual(self.keys(dsn, "dim_lab_item"), {
            "dim_lab_item_pkey": (True, True, None, ["lab_item_key"]),
            "dim_lab_item_natural_key": (False, True, None, ["item_id", "valid_from"]),
            "dim_lab_item_current": (False, True, "is_current", ["item_id"])})
        self.assertEqual(self.keys(dsn, "fact_lab_event"), {"fact_lab_event_pkey": (True, True, None, ["event_id"]),
                                                            # re-pointing facts when a late price splits an item's version
                                                            "fact_lab_event_lab_item_key_time": (False, False, None, ["lab_item_key", "timestamp"])})
        self.assertEqual(self.keys(dsn, "win_lab_revenue_per_minute"), {"win_lab_revenue_per_minute_pkey": (True, True, None, ["window_start"])})
        # avg, first and last keep their mergeable state next to their value (pipelines/README.md).
        self.assertEqual(self.columns(dsn, "win_lab_types_per_10_minutes"), [
            ("window_start", "timestamp with time zone", "NO"), ("window_end", "timestamp with time zone", "NO"), ("event_type", "text", "NO"),
            ("events", "bigint", "YES"), ("avg_price", "numeric", "YES"), ("avg_price_sum", "numeric", "YES"), ("avg_price_count", "bigint", "YES"),
            ("first_user", "text", "YES"), ("first_user_event_time", "timestamp with time zone", "YES"),
            ("last_user", "text", "YES"), ("last_user_event_time", "timestamp with time zone", "YES")])
        self.assertEqual(self.keys(dsn, "win_lab_running_day"), {"win_lab_running_day_pkey": (True, True, None, ["window_start", "window_end"])})
        # dim_date is conformed with product_view's (001 made it): nothing generated for it.
        spec_file = os.path.join(lab, "lab_events.yaml")
        recorded = self.recorded(dsn)
        self.assertEqual([(p, f, t) for p, f, t, _ in recorded], [
            ("lab_events", spec_file, "dim_lab_user"), ("lab_events", spec_file, "dim_lab_item"), ("lab_events", spec_file, "dim_lab_item"),
            ("lab_events", spec_file, "fact_lab_event"), ("lab_events", spec_file, "win_lab_revenue_per_minute"),
            ("lab_events", spec_file, "win_lab_activity_per_minute"), ("lab_events", spec_file, "win_lab_types_per_10_minutes"),
            ("lab_events", spec_file, "win_lab_running_day"),
            # The distinct buyers counted per window (count_distinct's member tables).
            ("lab_events", spec_file, "win_lab_revenue_per_minute_buyers_members"), ("lab_events", spec_file, "win_lab_running_day_buyers_members"),
            # The SCD type 2 merge's state: key sequence, observations, the fact's (key, time) index.
            ("lab_events", spec_file, "dim_lab_item"), ("lab_events", spec_file, "dim_lab_item_observation"),
            ("lab_events", spec_file, "fact_lab_event")])
        self.assertTrue(recorded[0][3].startswith("CREATE TABLE dim_lab_user ("), recorded[0][3])
        self.assertEqual(recorded[2][3], "CREATE UNIQUE INDEX dim_lab_item_current ON dim_lab_item (item_id) WHERE is_current")

        # A second run applies and records nothing; check-config agrees.
        out = self.migrate(dsn, lab)
        self.assertIn("0 generated statement(s) applied", out.stderr)
        self.assertEqual(len(self.recorded(dsn)), 13)
        check = self.daemon("check-config", dsn, lab)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        self.assertIn("statements generated from the specs to apply: none", check.stdout)

        # Rows the runtime would have written survive a spec that grows.
        harness.query(dsn, """
            INSERT INTO dim_lab_item VALUES (1, 'item_1', 9.50, '2026-01-01', 'infinity', true);
            INSERT INTO win_lab_revenue_per_minute VALUES ('2026-01-01 10:00', '2026-01-01 10:01', 19.00, 2, 1)""")
        grown = self.folder("grown", ("lab_events.yaml", self.lab_text(
            ("attributes: [price], policy: scd2", "attributes: [price, {last_event_type: event_type}], policy: scd2"),
            ("buyers: count_distinct(user_id)}", "buyers: count_distinct(user_id), top_price: max(price), items: count_distinct(item_id),"
                                                 " avg_price: avg(price), last_item: last(item_id)}"))))
        check = self.daemon("check-config", dsn, grown)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        self.assertIn("ALTER TABLE public.dim_lab_item ADD COLUMN last_event_type text;", check.stdout)
        self.assertIn("ALTER TABLE public.win_lab_revenue_per_minute ADD COLUMN top_price numeric;", check.stdout)
        self.assertEqual(len(self.recorded(dsn)), 13)  # a dry run
        self.migrate(dsn, grown)
        added = self.recorded(dsn)[13:]
        # A count_distinct added to a window table a spec made gets its member table too.
        self.assertEqual([t for _, _, t, _ in added][0], "win_lab_revenue_per_minute_items_members")
        self.assertEqual([(t, s) for _, _, t, s in added][1:], [
            ("dim_lab_item.last_event_type", "ALTER TABLE public.dim_lab_item ADD COLUMN last_event_type text"),
            ("win_lab_revenue_per_minute.top_price", "ALTER TABLE public.win_lab_revenue_per_minute ADD COLUMN top_price numeric"),
            ("win_lab_revenue_per_minute.items", "ALTER TABLE public.win_lab_revenue_per_minute ADD COLUMN items bigint"),
            # An aggregate with merge state gets its state columns with it.
            ("win_lab_revenue_per_minute.avg_price", "ALTER TABLE public.win_lab_revenue_per_minute ADD COLUMN avg_price numeric"),
            ("win_lab_revenue_per_minute.avg_price_sum", "ALTER TABLE public.win_lab_revenue_per_minute ADD COLUMN avg_price_sum numeric"),
            ("win_lab_revenue_per_minute.avg_price_count", "ALTER TABLE public.win_lab_revenue_per_minute ADD COLUMN avg_price_count bigint"),
            ("win_lab_revenue_per_minute.last_item", "ALTER TABLE public.win_lab_revenue_per_minute ADD COLUMN last_item text"),
            ("win_lab_revenue_per_minute.last_item_event_time",
             "ALTER TABLE public.win_lab_revenue_per_minute ADD COLUMN last_item_event_time timestamp with time zone")])
        self.assertEqual(harness.query(dsn, "SELECT item_id, price::text, last_event_type, is_current FROM dim_lab_item"), [("item_1", "9.50", None, True)])
        self.assertEqual(harness.query(dsn, "SELECT revenue::text, purchases, top_price, avg_price_sum, last_item_event_time FROM win_lab_revenue_per_minute"),
                         [("19.00", 2, None, None, None)])
        self.migrate(dsn, grown)
        self.assertEqual(len(self.recorded(dsn)), 22)
        check = self.daemon("check-config", dsn, grown)  # the schema check accepts the state columns
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        self.assertIn("statements generated from the specs to apply: none", check.stdout)

    def assert_refused(self, dsn, folder, spec_path, line, key, says):
        """check-config, migrate and run each exit 2 naming file:line, the key and `says`; nothing recorded."""
        before = self.recorded(dsn)
        columns_before = harness.query(dsn, "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1, 2")
        for command in ("check-config", "migrate", "run"):
            with self.subTest(command=command):
                out = self.daemon(command, dsn, folder)
                self.assertEqual(out.returncode, 2, out.stdout + out.stderr)
                self.assertIn(f"{spec_path}:{line}:1: {key}: {says}", out.stderr)
        self.assertEqual(self.recorded(dsn), before)
        self.assertEqual(harness.query(dsn, "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1, 2"),
                         columns_before)
        if harness.scalar(dsn, "SELECT to_regclass('starstream.progress') IS NOT NULL"):
            self.assertEqual(harness.scalar(dsn, "SELECT count(*) FROM starstream.progress"), 0)

    def test_incompatible_changes_are_refused(self):
        dsn = self.pg.create_database("refused")
        self.migrate(dsn, self.folder("refused-lab", LAB))
        cases = {  # name: (replacements in lab_events.yaml, the table's line starts with, key, what the message says)
            "type_change": ([("price:      {pointer: /price, type: numeric", "price:      {pointer: /price, type: double")],
                            "  dim_lab_item:", "dimensions.dim_lab_item",
                            "column price: the spec makes it double precision, the database's public.dim_lab_item.price is numeric"),
            "renamed_natural_key": ([("dim_lab_user: {key: [user_id]}", "dim_lab_user: {key: [{user_name: user_id}]}")],
                                    "  dim_lab_user:", "dimensions.dim_lab_user",
                                    "natural key: the spec makes members unique on (user_name), the database's public.dim_lab_user has "
                                    "(lab_user_key) primary key, (user_id)"),
            "grain_change": ([("grain: event", "grain: [event_id, item_id]"), ("columns: [event_id, event_type,", "columns: [event_id, item_id, event_type,")],
                             "  fact_lab_event:", "facts.fact_lab_event",
                             "grain (primary key): the spec makes it (event_id, item_id), the database's public.fact_lab_event has (event_id) primary key"),
            # A new group key would be an added column, but the rows' key would not hold it.
            "window_group_key": ([("    where: {event_type: purchase}\n", "    where: {event_type: purchase}\n    group_by: [dim_lab_item]\n")],
                                 "  win_lab_revenue_per_minute:", "windows.win_lab_revenue_per_minute",
                                 "primary key: the spec makes it (lab_item_key, window_start), the database's public.win_lab_revenue_per_minute has "
                                 "(window_start) primary key"),
        }
        for name, (replacements, table_line, key, says) in cases.items():
            with self.subTest(name):
                folder = self.folder("refused-" + name, ("lab_events.yaml", self.lab_text(*replacements)))
                spec = os.path.join(folder, "lab_events.yaml")
                self.assert_refused(dsn, folder, spec, self.spec_line(spec, table_line), key, says)

    def test_removed_natural_key_column_is_refused(self):
        dsn = self.pg.create_database("removed")
        # The database was made when the user dimension was keyed by two columns...
        self.migrate(dsn, self.folder("two-column-key", ("lab_events.yaml", self.lab_text(
            ("dim_lab_user: {key: [user_id]}", "dim_lab_user: {key: [user_id, event_type]}")))))
        # ...and the shipped spec keys it by one.
        folder = self.folder("one-column-key", LAB)
        spec = os.path.join(folder, "lab_events.yaml")
        self.assert_refused(dsn, folder, spec, self.spec_line(spec, "  dim_lab_user:"), "dimensions.dim_lab_user",
                            "natural key: the spec makes members unique on (user_id), the database's public.dim_lab_user has "
                            "(lab_user_key) primary key, (event_type, user_id)")

    def test_product_view_needs_nothing_on_a_sql_migrated_database(self):
        dsn = self.pg.create_database("product_view")
        folder = self.folder("product-view", PRODUCT_VIEW)
        out = self.migrate(dsn, folder)
        self.assertIn("0 generated statement(s) applied", out.stderr)
        self.assertEqual(self.recorded(dsn), [])
        check = self.daemon("check-config", dsn, folder)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        self.assertIn("database compared with the specs: no conflicting column or key\n", check.stdout)
        self.assertIn("statements generated from the specs to apply: none", check.stdout)
        # With every shipped spec, only the specs-only pipelines' tables are generated.
        self.migrate(dsn, os.path.join(harness.SOURCE_DIR, "pipelines"))
        self.assertEqual({p for p, _, _, _ in self.recorded(dsn)}, {"lab_events", "commerce_events"})

    @staticmethod
    def commerce_text(*replacements):
        with open(COMMERCE) as f:
            text = f.read()
        for original, changed in replacements:
            assert original in text, original
            text = text.replace(original, changed, 1)
        return text

    def test_an_scd_type_1_dimension_made_before_its_event_time_gets_it(self):
        """A commerce database made before SCD type 1 kept attributes_event_time (and before the
        fact carried each event's category and brand): the columns are added, nullable, and the
        rows already there keep their values (a NULL time loses to any later observation)."""
        dsn = self.pg.create_database("scd1_event_time")
        fact_columns = "columns: [event_key, event_id, timestamp, event_type, user_id, user_session, product_id, price, calendar.hour, category_code, brand]"
        before = self.folder("commerce-before", ("commerce_events.yaml", self.commerce_text(
            ("attributes: [category_id, category_code, brand]}", "attributes: [category_id, category_code, brand], policy: scd0}"),
            (fact_columns, fact_columns.replace(", category_code, brand]", "]")))))
        self.migrate(dsn, before)
        self.assertNotIn("attributes_event_time", [c for c, _, _ in self.columns(dsn, "dim_commerce_product")])
        harness.query(dsn, "INSERT INTO dim_commerce_product VALUES (1, '601', '2053013555631882655', 'electronics.tablet', 'orbit')")
        now = self.folder("commerce-now", COMMERCE)
        self.migrate(dsn, now)
        added = [(t, s) for _, _, t, s in self.recorded(dsn, "commerce_events") if "ADD COLUMN" in s]
        self.assertEqual(added, [
            ("dim_commerce_product.attributes_event_time",
             "ALTER TABLE public.dim_commerce_product ADD COLUMN attributes_event_time timestamp with time zone"),
            ("fact_commerce_event.category_code", "ALTER TABLE public.fact_commerce_event ADD COLUMN category_code text"),
            ("fact_commerce_event.brand", "ALTER TABLE public.fact_commerce_event ADD COLUMN brand text")])
        self.assertEqual(harness.query(dsn, "SELECT product_id, brand, attributes_event_time FROM dim_commerce_product"), [("601", "orbit", None)])
        check = self.daemon("check-config", dsn, now)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        self.assertIn("statements generated from the specs to apply: none", check.stdout)

    def test_a_window_view_is_made_again_only_when_its_statement_changes(self):
        dsn = self.pg.create_database("views")
        self.migrate(dsn, self.folder("views", COMMERCE))
        made = [(t, s) for _, _, t, s in self.recorded(dsn, "commerce_events") if t == "customer_profile"]
        self.assertEqual([s.split(" ")[0] for _, s in made], ["DROP", "CREATE"])
        self.assertIn("CASE WHEN (purchases >= 10 and revenue >= 1000) THEN 'VIP'", made[1][1])
        # The global window's table is keyed by its group alone; mode's occurrence tables exist.
        self.assertEqual(self.keys(dsn, "customer_profile_state")["customer_profile_state_pkey"][3], ["user_id"])
        self.assertEqual([c for c, _, _ in self.columns(dsn, "customer_profile_state_favourite_brand_counts")], ["user_id", "value", "occurrences"])
        out = self.migrate(dsn, self.folder("views", COMMERCE))
        self.assertIn("0 generated statement(s) applied", out.stderr)
        # A changed rule makes the view again (its rows are read through it: nothing to migrate).
        changed = self.folder("views-changed", ("commerce_events.yaml", self.commerce_text(
            ('{name: Active Browser, when: "views >= 10"}', '{name: Active Browser, when: "views >= 20"}'))))
        out = self.migrate(dsn, changed)
        self.assertIn("2 generated statement(s) applied", out.stderr)
        self.assertIn("views >= 20", self.recorded(dsn, "commerce_events")[-1][3])
        self.assertEqual(harness.scalar(dsn, "SELECT count(*) FROM customer_profile"), 0)

    def test_an_expression_postgresql_refuses_stops_migrate_and_run(self):
        cases = {  # name: (change, the line it is on, key, what the message says)
            "unknown_column": (('average_order_value: "coalesce(purchase_value, 0) / nullif(purchases, 0)"',
                                'average_order_value: "coalesce(purchase_value, 0) / nullif(purchasez, 0)"'), "      average_order_value:",
                               "windows.customer_profile_state.derived.average_order_value", 'column "purchasez" does not exist'),
            "not_boolean": (('{name: Converting Customer, when: "purchases >= 1"}', '{name: Converting Customer, when: "purchases + 1"}'),
                            "        - {name: Converting", "windows.customer_profile_state.segments.rules[3].when", "must be type boolean"),
        }
        for name, (change, starts_with, key, says) in cases.items():
            with self.subTest(name):
                dsn = self.pg.create_database("bad_" + name)
                folder = self.folder("bad-" + name, ("commerce_events.yaml", self.commerce_text(change)))
                spec = os.path.join(folder, "commerce_events.yaml")
                line = self.spec_line(spec, starts_with)
                for command in ("migrate", "run"):
                    out = self.daemon(command, dsn, folder, "--pipelines.run=commerce_events")
                    self.assertEqual(out.returncode, 2, out.stdout + out.stderr)
                    self.assertRegex(out.stderr, f"{re.escape(spec)}:{line}:[0-9]+: {re.escape(key)}: PostgreSQL refuses the expression: .*{says}")
                # The spec's transaction rolled back: none of its tables, nothing recorded.
                self.assertIsNone(harness.scalar(dsn, "SELECT to_regclass('customer_profile_state')"))
                self.assertEqual(self.recorded(dsn, "commerce_events"), [])

    def test_instances_starting_at_once_apply_each_statement_once(self):
        dsn = self.pg.create_database("concurrent")
        lab = self.folder("concurrent-lab", LAB)
        args = [harness.DAEMON, "migrate", f"--postgres.dsn={dsn}", "--kafka.bootstrap.servers=127.0.0.1:9", f"--pipelines.dir={lab}"]
        procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
        for p in procs:
            _, err = p.communicate(timeout=120)
            self.assertEqual(p.returncode, 0, err)
        self.assertEqual(len(self.recorded(dsn)), 13)
        self.assertEqual(harness.scalar(dsn, "SELECT count(*) FROM starstream.schema_migration"),
                         len([f for f in os.listdir(os.path.join(harness.SOURCE_DIR, "sql", "migrations")) if f.endswith(".sql")]))


if __name__ == "__main__":
    unittest.main(verbosity=2)
