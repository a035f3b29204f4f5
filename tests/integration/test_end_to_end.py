"""The main job end to end on a real PostgreSQL and the mock Kafka: 100,000 generated events
with 1 % malformed and 1 % duplicates; starstreamd runs until caught up; then the star schema,
the dead letters, the progress table and all six reports match what this test computes
independently from the generated JSONL."""
import datetime
import os
import unittest

import expectations as expect
import harness
from kafka import KafkaConsumer, TopicPartition

EVENTS = 100_000
START = 1588500000  # 2020-05-03 10:00 UTC: a fixed day keeps "today" deterministic
DAY = datetime.date(2020, 5, 3)
REPORTS = os.path.join(harness.SOURCE_DIR, "sql", "reports")


class EndToEnd(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.local_stack(cls, "starstream-e2e-", 24, EVENTS, start_time=START, span_seconds=6 * 3600,
                            malformed_share=0.01, duplicate_share=0.01)
        cls.dsn = cls.pg.create_database("e2e")
        cls.daemon = harness.run_daemon(cls.dsn, cls.kafka.bootstrap, **{"source.stop_when_caught_up": "true", "batch.max_records": 20000})
        cls.events, cls.malformed = expect.read_jsonl(cls.jsonl)

    def test_daemon_exits_cleanly(self):
        self.assertEqual(self.daemon.returncode, 0, self.daemon.stderr[-3000:])

    def test_generator_made_what_was_asked(self):
        kinds = self.summary["kinds"]
        self.assertEqual(sum(kinds.values()), EVENTS)
        self.assertGreater(kinds["duplicate"], 0)
        self.assertEqual(len(self.malformed), EVENTS - kinds["valid"] - kinds["duplicate"])

    def test_facts_are_exactly_the_distinct_valid_events(self):
        ids = {row[0] for row in harness.query(self.dsn, "SELECT event_id::text FROM fact_event")}
        self.assertEqual(harness.scalar(self.dsn, "SELECT count(*) FROM fact_event"), len(ids))
        self.assertEqual(ids, {e["id"].lower() for e in self.events})

    def test_dead_letters_are_exactly_the_malformed_messages_with_reasons(self):
        rows = harness.query(self.dsn, "SELECT payload, reason FROM starstream.dead_letter")
        self.assertEqual(sorted(bytes(p) for p, _ in rows), sorted(self.malformed))
        self.assertTrue(all(reason for _, reason in rows))
        reasons = {reason.split(":")[0] for _, reason in rows}
        self.assertTrue({"invalid JSON", "missing field", "wrong type", "invalid UTF-8", "oversized"} <= reasons, reasons)

    def test_progress_holds_the_end_offsets(self):
        consumer = KafkaConsumer(bootstrap_servers=self.kafka.bootstrap.split(","))
        partitions = [TopicPartition("product_view", p) for p in consumer.partitions_for_topic("product_view")]
        end = {tp.partition: offset for tp, offset in consumer.end_offsets(partitions).items()}
        consumer.close()
        progress = dict(harness.query(self.dsn, "SELECT partition, next_offset FROM starstream.progress WHERE topic = 'product_view'"))
        self.assertEqual(progress, {p: o for p, o in end.items() if o > 0})
        self.assertEqual(sum(end.values()), EVENTS)

    def test_nothing_lost_every_message_is_accounted_for(self):
        facts = harness.scalar(self.dsn, "SELECT count(*) FROM fact_event")
        dead = harness.scalar(self.dsn, "SELECT count(*) FROM starstream.dead_letter")
        records, duplicates = harness.query(self.dsn, "SELECT sum(records), sum(duplicates) FROM starstream.batch")[0]
        self.assertEqual(records, EVENTS)
        self.assertEqual(facts + dead + duplicates, EVENTS)

    def test_no_fact_has_an_orphan_key(self):
        for dim, key in [("dim_date", "date_key"), ("dim_store", "store_key"), ("dim_location", "location_key"),
                         ("dim_user_agent", "user_agent_key"), ("dim_referrer", "referrer_key"), ("dim_collection", "collection_key")]:
            orphans = harness.scalar(self.dsn, f"SELECT count(*) FROM fact_event f WHERE NOT EXISTS (SELECT 1 FROM {dim} d WHERE d.{key} = f.{key})")
            self.assertEqual(orphans, 0, dim)
        orphans = harness.scalar(self.dsn, "SELECT count(*) FROM fact_event f WHERE product_key IS NOT NULL"
                                           " AND NOT EXISTS (SELECT 1 FROM dim_product p WHERE p.product_key = f.product_key)")
        self.assertEqual(orphans, 0, "dim_product")

    def report(self, name, **variables):
        return expect.run_report({"port": self.pg.port, "dbname": "e2e"}, os.path.join(REPORTS, name), day=DAY.isoformat(), **variables)

    def test_report_top_products(self):
        expected = [[p, str(n), url] for p, n, url in expect.top_products(self.events, DAY)]
        self.assertEqual(len(expected), 10)
        self.assertEqual(self.report("01_top_products_today.sql"), expected)

    def test_report_top_countries(self):
        expected = [(c, str(n)) for c, n in expect.top_countries(self.events, DAY)]
        self.assertEqual([(row[0], row[2]) for row in self.report("02_top_countries_today.sql")], expected)
        self.assertNotEqual(expected[0][0], "ZZ")

    def test_report_top_referrers(self):
        expected = [[d, c, str(n)] for d, c, n in expect.top_referrers(self.events, DAY)]
        self.assertEqual(self.report("03_top_referrers_today.sql"), expected)
        self.assertEqual(expected[0][0], "facebook.com")

    def test_report_store_performance_by_country(self):
        expected = [[str(x) for x in row] for row in expect.store_performance(self.events, DAY)]
        self.assertEqual([row[:7] for row in self.report("04_store_performance_by_country.sql")], expected)

    def test_report_product_hourly_for_the_top_product(self):
        top = expect.top_products(self.events, DAY)[0][0]
        expected = [[p, str(h), str(n)] for p, h, n in expect.product_hourly(self.events, DAY, top)]
        self.assertEqual(self.report("05_product_hourly_today.sql"), expected)
        other = expect.top_products(self.events, DAY)[3][0]
        expected = [[p, str(h), str(n)] for p, h, n in expect.product_hourly(self.events, DAY, other)]
        self.assertEqual(self.report("05_product_hourly_today.sql", product_id=other), expected)

    def test_report_browser_os_hourly(self):
        expected = [[str(h), b, o, str(n)] for h, b, o, n in expect.browser_os_hourly(self.events, DAY)]
        self.assertEqual(self.report("06_browser_os_hourly_today.sql"), expected)


if __name__ == "__main__":
    unittest.main(verbosity=2)
