"""No poison pill (issue 12): records that cannot be stored become dead letters with their
reason and everything else commits, windows on. A time_stamp in milliseconds, one in year 9999
and a negative one are refused by the event-time bounds (`event_time_out_of_range`); a record
that violates a CHECK constraint the test adds to fact_event is found by bisection and
dead-lettered with SQLSTATE 23514, and so is one whose store violates a CHECK on dim_store (the
members themselves are refused: the other bisection path). Then the unknown commit: a proxy loses one COMMIT's reply
after the server committed; the daemon must find out that the batch landed, neither doubling
nor wedging, and end with the tables of an uninterrupted run. And a table that refuses every
record (a NOT NULL column an operator added) stops the daemon with nothing written, instead of
dead-lettering the stream record by record. Oracle: the generator's JSONL and
the poison messages the test wrote itself."""
import json
import os
import re
import signal
import subprocess
import sys
import unittest
import uuid

import expectations as expect
import harness

sys.path.insert(0, os.path.join(harness.SOURCE_DIR, "tests", "support"))
from pg_proxy import PgProxy  # noqa: E402

PARTITIONS = 8
KEYS = {"batch.max_records": 500, "batch.trigger_interval_ms": 200, "postgres.retry_initial_ms": 100, "postgres.retry_max_ms": 1000,
        "kafka.session.timeout.ms": 6000, "kafka.heartbeat.interval.ms": 1000, "time.idle_timeout_ms": 1000}
REJECTED_RESOLUTION = "13x13"  # what the test's CHECK constraint on fact_event refuses
REJECTED_STORE = "999999"      # what its CHECK constraint on dim_store refuses
UNIQUE_STORES = ("store-unique-a", "store-unique-b")  # at most one may be a member (the test's unique index on dim_store): a is, from the start


def produce(bootstrap, partition, payloads):
    """Writes raw messages into one partition with kcat (an independent client)."""
    subprocess.run(["kcat", "-P", "-b", bootstrap, "-t", "product_view", "-p", str(partition)], input=b"\n".join(payloads) + b"\n",
                   check=True, timeout=60)


class PoisonRecords(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # Two hours of event time up to now: the earlier hour has closed and is final whatever the
        # minute the test runs at (one hour of data had no final window early in each hour).
        harness.local_stack(cls, "starstream-poison-", PARTITIONS, 4000, malformed_share=0.01, duplicate_share=0.01, span_seconds=7200)
        first, malformed_first = expect.read_jsonl(cls.jsonl)
        template = first[0]
        cls.poison = {}
        for name, change in {"milliseconds": {"time_stamp": template["time_stamp"] * 1000},
                             "year 9999": {"time_stamp": 253402300799},
                             "negative": {"time_stamp": -template["time_stamp"]},
                             "constraint": {"resolution": REJECTED_RESOLUTION},
                             "member constraint": {"store_id": REJECTED_STORE},
                             # An operator's unique index, not a primary key: a dead letter, neither
                             # a concurrent duplicate to retry nor a batch no record explains.
                             "member unique": {"store_id": UNIQUE_STORES[1]}}.items():
            event = {**template, **change, "id": str(uuid.uuid4())}
            cls.poison[name] = json.dumps(event).encode()
        for i, payload in enumerate(cls.poison.values()):
            produce(cls.kafka.bootstrap, 1 + i, [payload])
        # Thousands of valid events after the poison, in every partition.
        second_jsonl = os.path.join(cls.tmp, "second.jsonl")
        harness.generate(4000, second_jsonl, brokers=cls.kafka.bootstrap, seed=7, malformed_share=0.01, span_seconds=7200)
        second, malformed_second = expect.read_jsonl(second_jsonl)
        cls.valid_ids = {e["id"].lower() for e in first + second}
        cls.malformed = len(malformed_first) + len(malformed_second)
        cls.messages = 8000 + len(cls.poison)

    def prepare(self, name):
        dsn = self.pg.create_database(name)
        done = subprocess.run([harness.DAEMON, "migrate", f"--postgres.dsn={dsn}"], capture_output=True, text=True, timeout=120)
        self.assertEqual(done.returncode, 0, done.stderr)
        harness.query(dsn, "ALTER TABLE fact_event ADD CONSTRAINT test_refuses_a_resolution"
                           f" CHECK (resolution IS DISTINCT FROM '{REJECTED_RESOLUTION}')")
        harness.query(dsn, f"ALTER TABLE dim_store ADD CONSTRAINT test_refuses_a_store CHECK (store_id <> '{REJECTED_STORE}')")
        harness.query(dsn, "CREATE UNIQUE INDEX test_one_of_two_stores ON dim_store ((1)) WHERE store_id IN %s", (UNIQUE_STORES,))
        harness.query(dsn, "INSERT INTO dim_store (store_key, store_id, first_seen, last_seen) VALUES (-1, %s, now(), now())", (UNIQUE_STORES[0],))
        return dsn

    def assert_outcome(self, dsn):
        ids = [row[0] for row in harness.query(dsn, "SELECT event_id::text FROM fact_event")]
        self.assertEqual(len(ids), len(set(ids)))
        self.assertEqual(set(ids), self.valid_ids)
        letters = {bytes(payload): (reason, sqlstate) for reason, sqlstate, payload in
                   harness.query(dsn, "SELECT reason, sqlstate, payload FROM starstream.dead_letter")}
        self.assertEqual(len(letters), self.malformed + len(self.poison))
        for name in ("milliseconds", "year 9999", "negative"):
            reason, sqlstate = letters[self.poison[name]]
            self.assertTrue(reason.startswith("event_time_out_of_range"), (name, reason))
            self.assertIsNone(sqlstate, name)
        reason, sqlstate = letters[self.poison["constraint"]]
        self.assertEqual(sqlstate, "23514", reason)
        self.assertIn("test_refuses_a_resolution", reason)
        reason, sqlstate = letters[self.poison["member constraint"]]
        self.assertEqual(sqlstate, "23514", reason)
        self.assertIn("test_refuses_a_store", reason)
        self.assertEqual(harness.scalar(dsn, "SELECT count(*) FROM dim_store WHERE store_id = %s", (REJECTED_STORE,)), 0)
        reason, sqlstate = letters[self.poison["member unique"]]
        self.assertEqual(sqlstate, "23505", reason)
        self.assertIn("test_one_of_two_stores", reason)
        self.assertEqual(harness.scalar(dsn, "SELECT count(*) FROM dim_store WHERE store_id = %s", (UNIQUE_STORES[1],)), 0)
        # Every message is counted once; every partition's checkpoint reached its log end.
        self.assertEqual(harness.scalar(dsn, "SELECT sum(records) FROM starstream.batch"), self.messages)

    def test_poison_records_are_dead_letters_and_everything_else_commits(self):
        dsn = self.prepare("poison")
        out = harness.run_daemon(dsn, self.kafka.bootstrap, group="poison", **KEYS, **{"source.stop_when_caught_up": "true"})
        self.assertEqual(out.returncode, 0, out.stderr[-3000:])
        self.assertEqual(sum(int(n) for n in re.findall(r"Postgres rejects (\d+) record", out.stderr)), 3, out.stderr[-3000:])
        self.assert_outcome(dsn)
        # No watermark was dragged to the end of time: windows keep finalising by the wall clock.
        self.assertTrue(harness.scalar(dsn, "SELECT max(watermark) < now() + interval '1 day' FROM starstream.progress"))
        self.assertTrue(harness.scalar(dsn, "SELECT max(watermark) < now() + interval '1 day' FROM starstream.batch"))
        self.assertGreater(harness.scalar(dsn, "SELECT count(*) FROM hourly_product_views WHERE is_final"), 0)
        self.assertGreater(harness.scalar(dsn, "SELECT count(*) FROM hourly_product_views WHERE NOT is_final"), 0)

    def test_a_lost_commit_reply_neither_doubles_nor_wedges(self):
        dsn = self.prepare("lost_reply")
        proxy = PgProxy(self.pg.port)
        self.addCleanup(proxy.stop)
        log = os.path.join(self.tmp, "lost_reply.log")
        proc = harness.start_daemon(harness.dsn_through(dsn, proxy.port), self.kafka.bootstrap, log, group="lost_reply", **KEYS)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        harness.wait_for(lambda: harness.scalar(dsn, "SELECT count(*) FROM starstream.batch") >= 2, 60, "two committed batches", interval=0.02)
        proxy.drop_next_commit_reply()
        harness.wait_for(lambda: proxy.commit_replies_dropped == 1, 60, "a COMMIT reply to be lost")
        harness.wait_for(lambda: harness.scalar(dsn, "SELECT coalesce(sum(records), 0) FROM starstream.batch") >= self.messages, 120,
                         "every message committed", interval=0.2)
        self.assertTrue(harness.log_contains(log, "was committed although its COMMIT's reply was lost"), open(log).read()[-3000:])
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(timeout=60), 0)
        self.assert_outcome(dsn)

    def stopped_by_a_table_refusing_every_record(self, name, **keys):
        """Runs the daemon against a database where an operator added a NOT NULL column to
        fact_event that the pipeline does not fill: every record is refused alike. That is the
        table's problem, not the records': the daemon must stop (exit 4) naming the error and the
        limit, with no fact written. Returns the DSN and the run's stderr."""
        dsn = self.prepare(name)
        harness.query(dsn, "ALTER TABLE fact_event ADD COLUMN test_analyst_note text NOT NULL")
        out = harness.run_daemon(dsn, self.kafka.bootstrap, group=name, **keys, **{"source.stop_when_caught_up": "true"})
        self.assertEqual(out.returncode, 4, out.stderr[-3000:])
        self.assertIn("postgres.max_rejected_records", out.stderr)
        self.assertEqual(harness.scalar(dsn, "SELECT count(*) FROM fact_event"), 0)
        return dsn, out.stderr

    def refused_dead_letters(self, dsn):
        return harness.scalar(dsn, "SELECT count(*) FROM starstream.dead_letter WHERE sqlstate IS NOT NULL")

    def test_a_table_refusing_every_record_stops_the_daemon_and_loses_nothing(self):
        # Batches sealed by size (500 records, all produced beforehand), not by the clock: a batch
        # smaller than the limit would have its records dead-lettered, as documented, before the
        # next one stopped the daemon. The first batch passes the limit: nothing is written.
        dsn, stderr = self.stopped_by_a_table_refusing_every_record("refuses_all", **{**KEYS, "batch.trigger_interval_ms": 60000})
        self.assertIn("test_analyst_note", stderr)
        self.assertIn("23502", stderr)
        self.assertEqual(self.refused_dead_letters(dsn), 0)
        # The operator makes the column nullable: a column the pipeline does not know is no
        # obstacle (every COPY names its columns), and the restart loses nothing.
        harness.query(dsn, "ALTER TABLE fact_event ALTER COLUMN test_analyst_note DROP NOT NULL")
        out = harness.run_daemon(dsn, self.kafka.bootstrap, group="refuses_all", **KEYS, **{"source.stop_when_caught_up": "true"})
        self.assertEqual(out.returncode, 0, out.stderr[-3000:])
        self.assert_outcome(dsn)

    def test_small_batches_refused_whole_stop_the_daemon_at_the_limit(self):
        # A quiet topic: batches of 20 records, each refused whole. Counted per batch the limit
        # would never be passed and the whole stream would become dead letters; counted since a
        # batch last committed facts, the daemon stops after at most 100.
        small = {**KEYS, "batch.max_records": 20}
        dsn, _ = self.stopped_by_a_table_refusing_every_record("refuses_small", **small)
        refused = self.refused_dead_letters(dsn)
        self.assertGreater(refused, 0)
        self.assertLessEqual(refused, 100)
        # A supervisor restarts it (Docker's restart: on-failure): the count resumes, so the
        # restarted daemon stops at its first refused record instead of 100 more dead letters.
        out = harness.run_daemon(dsn, self.kafka.bootstrap, group="refuses_small", **small, **{"source.stop_when_caught_up": "true"})
        self.assertEqual(out.returncode, 4, out.stderr[-3000:])
        self.assertEqual(self.refused_dead_letters(dsn), refused)

if __name__ == "__main__":
    unittest.main(verbosity=2)
