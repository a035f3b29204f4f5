"""A bad configuration stops starstreamd before it consumes anything, with a message naming
the key and a non-zero exit code (2: configuration, 3: a dependency unreachable)."""
import os
import socket
import subprocess
import unittest

import harness


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BadConfig(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.local_stack(cls, "starstream-badconf-", 4, 500)

    def start(self, *extra, env=None, dsn=None, bootstrap=None):
        dsn = dsn or self.pg.create_database("badconf")
        self.dsn = dsn
        args = [harness.DAEMON, "run", f"--postgres.dsn={dsn}", f"--kafka.bootstrap.servers={bootstrap or self.kafka.bootstrap}",
                "--source.startup_timeout_ms=3000", "--http.port=0", *extra]
        return subprocess.run(args, capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})})

    def assert_nothing_consumed(self):
        if harness.scalar(self.dsn, "SELECT to_regclass('starstream.progress') IS NOT NULL"):
            self.assertEqual(harness.scalar(self.dsn, "SELECT count(*) FROM starstream.progress"), 0)
            self.assertEqual(harness.scalar(self.dsn, "SELECT count(*) FROM fact_event"), 0)

    def test_unknown_key_in_file(self):
        path = os.path.join(self.tmp, "unknown.conf")
        with open(path, "w") as f:
            f.write("[batch]\nmax_record = 10\n")
        out = self.start("--config", path)
        self.assertEqual(out.returncode, 2, out.stderr)
        self.assertIn("'batch.max_record'", out.stderr)
        self.assert_nothing_consumed()

    def test_unknown_key_on_the_command_line(self):
        out = self.start("--sink.flavour=fast")
        self.assertEqual(out.returncode, 2, out.stderr)
        self.assertIn("'sink.flavour'", out.stderr)

    def test_invalid_value_from_the_environment(self):
        out = self.start(env={"STARSTREAM_BATCH__MAX_RECORDS": "lots"})
        self.assertEqual(out.returncode, 2, out.stderr)
        self.assertIn("batch.max_records", out.stderr)
        self.assert_nothing_consumed()

    def test_out_of_range_value(self):
        out = self.start("--batch.trigger_interval_ms=0")
        self.assertEqual(out.returncode, 2, out.stderr)
        self.assertIn("'batch.trigger_interval_ms'", out.stderr)

    def test_property_owned_by_starstream(self):
        out = self.start("--kafka.enable.auto.commit=true")
        self.assertEqual(out.returncode, 2, out.stdout + out.stderr)
        self.assertIn("kafka.enable.auto.commit", out.stdout + out.stderr)
        self.assert_nothing_consumed()

    def spec_folder(self, name, original, mistake):
        """A copy of pipelines/ whose product_view.yaml has `original` replaced by `mistake`."""
        folder = os.path.join(self.tmp, "pipelines-" + name)
        os.makedirs(folder, exist_ok=True)
        for spec in os.listdir(os.path.join(harness.SOURCE_DIR, "pipelines")):
            with open(os.path.join(harness.SOURCE_DIR, "pipelines", spec)) as f:
                text = f.read()
            if spec == "product_view.yaml":
                self.assertIn(original, text)
                text = text.replace(original, mistake, 1)
            with open(os.path.join(folder, spec), "w") as f:
                f.write(text)
        path = os.path.join(folder, "product_view.yaml")
        with open(path) as f:
            line = [i for i, text in enumerate(f, 1) if mistake in text][-1]  # a duplicate is reported where it repeats
        return folder, f"{path}:{line}:"

    def test_pipeline_spec_mistakes_stop_before_consuming(self):
        cases = {  # class of mistake: (original text, mistake, the key the message names)
            "unknown_key": ("{pointer: /resolution, type: text}", "{pointer: /resolution, typ: text}", "fields.resolution.typ"),
            "bad_pointer": ("pointer: /device_id,", "pointer: device_id,", "fields.device_id.pointer"),
            "unknown_enricher": ("function: ip_geography", "function: ip_geolocation", "enrichers.geo.function"),
            "duplicate_table": ("  win_product_view_panes:", "  win_hourly_product_views:", "windows.win_hourly_product_views"),
            "unknown_reference": ("group_by: [dim_product]", "group_by: [dim_produkt]", "windows.win_product_view_panes.group_by[0]"),
        }
        for name, (original, mistake, key) in cases.items():
            with self.subTest(name):
                folder, where = self.spec_folder(name, original, mistake)
                check = subprocess.run([harness.DAEMON, "check-config", "--postgres.dsn=host=127.0.0.1", "--kafka.bootstrap.servers=127.0.0.1:9",
                                        f"--pipelines.dir={folder}"], capture_output=True, text=True, timeout=60)
                self.assertEqual(check.returncode, 2, check.stdout + check.stderr)
                self.assertIn(where, check.stderr)
                self.assertIn(f" {key}: ", check.stderr)
        out = self.start(f"--pipelines.dir={folder}")
        self.assertEqual(out.returncode, 2, out.stderr)
        self.assertIn("pipeline spec", out.stderr)
        self.assert_nothing_consumed()

    def test_a_pipeline_a_spec_cannot_run_yet_is_refused_before_consuming(self):
        with open(os.path.join(harness.SOURCE_DIR, "pipelines", "lab_events.yaml")) as f:
            text = f.read()
        cases = {  # name: (lab_events.yaml changed from -> to, pipelines.run, extra flags, what the message says)
            "session_distinct": (("tumbling: 1m", "session: {gap: 5m, key: user_id}"), "lab_events", [],
                                 "windows.win_lab_revenue_per_minute.aggregates.buyers: count_distinct is not computed on session windows"),
            "scd2_group": (("where: {event_type: purchase}", "where: {event_type: purchase}\n    group_by: [dim_lab_item]"), "lab_events", [],
                           "windows.win_lab_revenue_per_minute.group_by[0]: dim_lab_item is an SCD type 2 dimension"),
            "unknown": (None, "lab_event", [], "pipelines.run: no spec named 'lab_event'"),
            "twice": (None, "product_view, product_view", [], "pipelines.run: 'product_view' is named twice"),
            "static_member": (None, "product_view,lab_events", ["--kafka.group.instance.id=one"],
                              "kafka.group.instance.id: a static group member id cannot be shared"),
            "compiled_unknown": (None, "lab_events", ["--pipelines.compiled=product_vue"],
                                 "pipelines.compiled: no compiled pipeline named 'product_vue'"),
            # product_view runs from its spec (the default), which states its own gap: the
            # compiled pipeline's key would be ignored, so it is refused.
            "compiled_window_key": (None, "lab_events,product_view", ["--windows.visit_gap_ms=600000"],
                                    "windows.visit_gap_ms: configures the compiled product_view pipeline, but product_view runs from its spec"),
        }
        with open(os.path.join(harness.SOURCE_DIR, "pipelines", "product_view.yaml")) as f:
            product_view = f.read()
        for name, (change, run, extra, says) in cases.items():
            folder = os.path.join(self.tmp, "pipelines-run-" + name)
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, "lab_events.yaml"), "w") as f:
                f.write(text.replace(*change, 1) if change else text)
            with open(os.path.join(folder, "product_view.yaml"), "w") as f:
                f.write(product_view)
            with self.subTest(name):
                args = [f"--pipelines.dir={folder}", f"--pipelines.run={run}", *extra]
                check = subprocess.run([harness.DAEMON, "check-config", "--postgres.dsn=host=127.0.0.1", "--kafka.bootstrap.servers=127.0.0.1:9", *args],
                                       capture_output=True, text=True, timeout=60)
                self.assertEqual(check.returncode, 2, check.stdout + check.stderr)
                self.assertIn(says, check.stderr)
                out = self.start(*args)
                self.assertEqual(out.returncode, 2, out.stderr)
                self.assertIn(says, out.stderr)
                self.assert_nothing_consumed()

    def test_pipeline_spec_compared_with_the_database(self):
        dsn = self.pg.create_database("specdb")
        common = [f"--postgres.dsn={dsn}", f"--kafka.bootstrap.servers={self.kafka.bootstrap}"]
        # Migrated with product_view.yaml alone, so that lab_events' tables stay to be made below
        # (migrate generates them from lab_events.yaml otherwise: test_spec_migrations.py).
        only_product_view = os.path.join(self.tmp, "pipelines-product-view-only")
        os.makedirs(only_product_view, exist_ok=True)
        with open(os.path.join(harness.SOURCE_DIR, "pipelines", "product_view.yaml")) as f, \
                open(os.path.join(only_product_view, "product_view.yaml"), "w") as copy:
            copy.write(f.read())
        migrated = subprocess.run([harness.DAEMON, "migrate", *common, f"--pipelines.dir={only_product_view}"], capture_output=True, text=True, timeout=120)
        self.assertEqual(migrated.returncode, 0, migrated.stderr)
        self.assertIn("(0 generated statement(s) applied)", migrated.stderr)
        # The hand-written migrations make exactly what pipelines/product_view.yaml describes.
        check = subprocess.run([harness.DAEMON, "check-config", *common], capture_output=True, text=True, timeout=60)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        self.assertIn("database compared with the specs: no conflicting column", check.stdout)
        self.assertNotIn("columns not in it yet", check.stdout)
        self.assertNotIn("fact_event (", check.stdout)  # not missing
        self.assertIn("statements generated from the specs to apply (dry run, nothing written):", check.stdout)
        self.assertNotIn("-- product_view (", check.stdout)  # only lab_events' tables are to be made
        # An operator changes a column the spec types otherwise: refused, naming both sides.
        harness.query(dsn, "ALTER TABLE fact_event ALTER COLUMN resolution TYPE integer USING NULL")
        spec = os.path.join(harness.SOURCE_DIR, "pipelines", "product_view.yaml")
        with open(spec) as f:
            line = next(i for i, text in enumerate(f, 1) if text.startswith("  fact_event:"))
        check = subprocess.run([harness.DAEMON, "check-config", *common], capture_output=True, text=True, timeout=60)
        self.assertEqual(check.returncode, 2, check.stdout + check.stderr)
        self.assertIn(f"{spec}:{line}:", check.stderr)
        self.assertIn("facts.fact_event: column resolution: the spec makes it text, the database's public.fact_event.resolution is integer", check.stderr)
        out = self.start(dsn=dsn)
        self.assertEqual(out.returncode, 2, out.stderr)
        self.assertIn("fact_event.resolution is integer", out.stderr)
        self.assert_nothing_consumed()
        harness.query(dsn, "ALTER TABLE fact_event ALTER COLUMN resolution TYPE text")

        # What information_schema hides (found in review): a type modifier, a view, a domain.
        lab = os.path.join(harness.SOURCE_DIR, "pipelines", "lab_events.yaml")
        cases = [  # (create, drop afterwards, what the message says)
            ("CREATE TABLE win_lab_revenue_per_minute (window_start timestamptz, window_end timestamptz, revenue numeric(5,2), purchases bigint, buyers bigint)",
             "DROP TABLE win_lab_revenue_per_minute",
             "column revenue: the spec makes it numeric, the database's public.win_lab_revenue_per_minute.revenue is numeric(5,2)"),
            ("CREATE VIEW win_lab_revenue_per_minute AS SELECT now() AS window_start, now() AS window_end, 1.0 AS revenue, 1::bigint AS purchases, 1::bigint AS buyers",
             "DROP VIEW win_lab_revenue_per_minute",
             "public.win_lab_revenue_per_minute is not one (a view or another relation)"),
            ("CREATE DOMAIN short_text AS text CHECK (length(VALUE) < 3); CREATE TABLE dim_lab_user (lab_user_key bigint, user_id short_text)",
             "DROP TABLE dim_lab_user; DROP DOMAIN short_text",
             "column user_id: the spec makes it text, the database's public.dim_lab_user.user_id is short_text"),
        ]
        for create, drop, says in cases:
            with self.subTest(create=create):
                harness.query(dsn, create)
                check = subprocess.run([harness.DAEMON, "check-config", *common], capture_output=True, text=True, timeout=60)
                harness.query(dsn, drop)
                self.assertEqual(check.returncode, 2, check.stdout + check.stderr)
                self.assertIn(f"{lab}:", check.stderr)
                self.assertIn(says, check.stderr)

    def test_unparsable_dsn(self):
        out = self.start(dsn="host=127.0.0.1 dbname")
        self.assertEqual(out.returncode, 2, out.stderr)
        self.assertIn("'postgres.dsn'", out.stderr)
        # libpq's parse error quotes where it stopped: never a password (found in review).
        for dsn in ("postgresql://u:Hunter2secret@[::1/db", "host=127.0.0.1 password=Hunter2 secret"):
            with self.subTest(dsn=dsn):
                out = self.start(dsn=dsn)
                self.assertEqual(out.returncode, 2, out.stderr)
                self.assertIn("'postgres.dsn'", out.stderr)
                self.assertNotIn("Hunter2", out.stdout + out.stderr)

    def test_unreachable_postgres_names_the_dsn_without_password(self):
        out = self.start(dsn=f"host=127.0.0.1 port={closed_port()} dbname=x user=u password=hunter2 connect_timeout=2")
        self.assertEqual(out.returncode, 3, out.stderr)
        self.assertIn("postgres.dsn", out.stderr)
        self.assertNotIn("hunter2", out.stdout + out.stderr)

    def test_unreachable_broker(self):
        out = self.start(bootstrap=f"127.0.0.1:{closed_port()}")
        self.assertEqual(out.returncode, 3, out.stderr)
        self.assertIn("kafka.bootstrap.servers", out.stderr)
        self.assert_nothing_consumed()

    def test_unknown_topic(self):
        out = self.start("--source.topics=no_such_topic")
        self.assertEqual(out.returncode, 3, out.stderr)
        self.assertIn("no_such_topic", out.stderr)
        self.assert_nothing_consumed()


if __name__ == "__main__":
    unittest.main(verbosity=2)
