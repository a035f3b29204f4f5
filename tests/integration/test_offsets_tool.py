"""`starstreamd offsets show|reset` on a real PostgreSQL and the mock Kafka, checked against
oracles that do not come from starstream's tables: the generated JSONL (its distinct valid ids)
and kcat (`-L` metadata, `-Q` offsets for times; -2 asks for the log start, -1 for the log end).

Events are produced in two phases with a pause between them, so that a point in time lies
between them. librdkafka 2.0.2's mock cluster does not look timestamps up (its ListOffsets
handler answers -1, "no record that late", for every real timestamp: a FIXME in
rdkafka_mock_handlers.c), so against it the timestamp case proves the request and the
tool's reading of the answer (-1 -> log end), both compared with kcat; a real broker is
needed to see a lookup land mid-log.

A daemon running during a reset (re-claiming the fenced partition) is tested elsewhere."""
import datetime
import json
import os
import re
import subprocess
import time
import unittest

import expectations as expect
import harness

TOPIC = "product_view"
PARTITIONS = 6
PHASE_EVENTS = 3000
KEYS = {"batch.trigger_interval_ms": 200, "source.stop_when_caught_up": "true"}
PROGRESS = "SELECT topic, partition, next_offset, epoch, owner_instance, updated_at FROM starstream.progress ORDER BY 1, 2"


def kcat_offset(bootstrap, partition, when):
    """kcat's answer to ListOffsets for one partition: when is -2 (log start), -1 (log end) or Unix ms."""
    out = subprocess.run(["kcat", "-b", bootstrap, "-Q", "-t", f"{TOPIC}:{partition}:{when}"], check=True, capture_output=True,
                         text=True, timeout=60).stdout
    match = re.search(rf"{TOPIC} \[{partition}\] offset (-?\d+)", out)
    assert match, f"unexpected kcat output: {out!r}"
    return int(match.group(1))


def kcat_partitions(bootstrap):
    out = subprocess.run(["kcat", "-b", bootstrap, "-L", "-J", "-t", TOPIC], check=True, capture_output=True, text=True, timeout=60).stdout
    (topic,) = json.loads(out)["topics"]
    return sorted(p["partition"] for p in topic["partitions"])


def iso(ms, zone=datetime.timezone.utc):
    return datetime.datetime.fromtimestamp(ms / 1000, tz=zone).isoformat(timespec="milliseconds")


class OffsetsTool(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.local_stack(cls, "starstream-offsets-", PARTITIONS)
        cls.jsonl = [os.path.join(cls.tmp, f"phase{n}.jsonl") for n in (1, 2)]
        harness.generate(PHASE_EVENTS, cls.jsonl[0], brokers=cls.kafka.bootstrap, seed=1, malformed_share=0.01, duplicate_share=0.01)
        time.sleep(1.0)  # a point in time strictly between the phases' records
        cls.between_ms = int(time.time() * 1000)
        time.sleep(1.0)
        harness.generate(PHASE_EVENTS, cls.jsonl[1], brokers=cls.kafka.bootstrap, seed=2, malformed_share=0.01, duplicate_share=0.01)
        cls.partitions = kcat_partitions(cls.kafka.bootstrap)
        cls.log_start = {p: kcat_offset(cls.kafka.bootstrap, p, -2) for p in cls.partitions}
        cls.log_end = {p: kcat_offset(cls.kafka.bootstrap, p, -1) for p in cls.partitions}
        # One consumed database for the read-only cases (show, refusals, dry run).
        cls.dsn = cls.pg.create_database("consumed")
        done = harness.run_daemon(cls.dsn, cls.kafka.bootstrap, group="consumed", **KEYS)
        assert done.returncode == 0, done.stderr[-3000:]

    def offsets(self, dsn, *args, timeout=120):
        return subprocess.run([harness.DAEMON, "offsets", *args, f"--postgres.dsn={dsn}", f"--kafka.bootstrap.servers={self.kafka.bootstrap}"],
                              capture_output=True, text=True, timeout=timeout)

    def offsets_json(self, dsn, *args):
        done = self.offsets(dsn, *args, "--format", "json")
        self.assertEqual(done.returncode, 0, done.stderr)
        return {row["partition"]: row for row in json.loads(done.stdout)["partitions"]}

    def distinct_valid_ids(self):
        ids = set()
        for path in self.jsonl:
            ids |= {e["id"].lower() for e in expect.read_jsonl(path)[0]}
        return len(ids)

    def test_the_oracle_saw_both_phases(self):
        self.assertEqual(self.partitions, list(range(PARTITIONS)))
        self.assertEqual(sum(self.log_end.values()) - sum(self.log_start.values()), 2 * PHASE_EVENTS)

    def test_show_after_a_run_matches_the_log_ends_with_zero_lag(self):
        rows = self.offsets_json(self.dsn, "show")
        self.assertEqual(sorted(rows), self.partitions)
        for p, row in rows.items():
            self.assertEqual((row["log_start"], row["log_end"], row["checkpoint"], row["lag"]),
                             (self.log_start[p], self.log_end[p], self.log_end[p], 0), f"partition {p}")
            self.assertTrue(row["owner_instance"], f"partition {p} has no owner")
            self.assertGreaterEqual(row["epoch"], 1)
            self.assertRegex(row["updated_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        text = self.offsets(self.dsn, "show", "--partitions", "0,3")
        self.assertEqual(text.returncode, 0, text.stderr)
        lines = text.stdout.splitlines()
        self.assertEqual(lines[0].split(), ["TOPIC", "PARTITION", "CHECKPOINT", "LOG-START", "LOG-END", "LAG", "OWNER", "EPOCH", "UPDATED"])
        self.assertEqual([line.split()[:6] for line in lines[1:]],
                         [[TOPIC, str(p), str(self.log_end[p]), str(self.log_start[p]), str(self.log_end[p]), "0"] for p in (0, 3)])

    def test_reset_to_earliest_rereads_every_partition_and_facts_do_not_change(self):
        dsn = self.pg.create_database("rewound")
        done = harness.run_daemon(dsn, self.kafka.bootstrap, group="rewound", **KEYS)
        self.assertEqual(done.returncode, 0, done.stderr[-3000:])
        facts_sql = "SELECT md5(string_agg(t::text, E'\\n' ORDER BY event_id)), count(*) FROM fact_event t"
        facts = harness.query(dsn, facts_sql)[0]
        self.assertEqual(facts[1], self.distinct_valid_ids())
        dead_letters = harness.scalar(dsn, "SELECT count(*) FROM starstream.dead_letter")
        epochs = dict(harness.query(dsn, "SELECT partition, epoch FROM starstream.progress"))

        moved = self.offsets_json(dsn, "reset", "--to", "earliest")
        self.assertEqual({p: (m["old"], m["new"], m["epoch"]) for p, m in moved.items()},
                         {p: (self.log_end[p], self.log_start[p], epochs[p] + 1) for p in self.partitions})
        shown = self.offsets_json(dsn, "show")
        self.assertEqual({p: (r["checkpoint"], r["lag"]) for p, r in shown.items()},
                         {p: (self.log_start[p], self.log_end[p] - self.log_start[p]) for p in self.partitions})

        done = harness.run_daemon(dsn, self.kafka.bootstrap, group="rewound", **KEYS)
        self.assertEqual(done.returncode, 0, done.stderr[-3000:])
        # Every partition was read again from its log start: the batches' record counts grew by the
        # whole log, and each checkpoint is back at its log end.
        self.assertEqual(harness.scalar(dsn, "SELECT sum(records) FROM starstream.batch"), 2 * 2 * PHASE_EVENTS)
        self.assertEqual(dict(harness.query(dsn, "SELECT partition, next_offset FROM starstream.progress")), self.log_end)
        self.assertEqual(harness.query(dsn, facts_sql)[0], facts)
        self.assertEqual(harness.scalar(dsn, "SELECT count(*) FROM starstream.dead_letter"), dead_letters)

    def test_reset_to_a_timestamp_picks_what_kcat_reports(self):
        dsn = self.pg.create_database("by_time")
        migrated = subprocess.run([harness.DAEMON, "migrate", f"--postgres.dsn={dsn}"], capture_output=True, text=True, timeout=120)
        self.assertEqual(migrated.returncode, 0, migrated.stderr)
        before_all = self.between_ms - 3_600_000
        cases = ((self.between_ms, iso(self.between_ms)),
                 (before_all, iso(before_all, datetime.timezone(datetime.timedelta(hours=2)))))  # the same instant at +02:00
        for n, (when_ms, written) in enumerate(cases, start=1):
            with self.subTest(timestamp=written):
                expected = {}
                for p in self.partitions:
                    found = kcat_offset(self.kafka.bootstrap, p, when_ms)
                    expected[p] = found if found >= 0 else self.log_end[p]  # -1: no record that late
                moved = self.offsets_json(dsn, "reset", "--to", f"timestamp={written}")
                self.assertEqual({p: m["new"] for p, m in moved.items()}, expected)
                # The first reset inserts rows (epoch 1), the second bumps them.
                self.assertEqual({m["epoch"] for m in moved.values()}, {n})
        self.assertEqual(dict(harness.query(dsn, "SELECT partition, next_offset FROM starstream.progress")), expected)

    def test_an_offset_outside_the_log_is_refused_and_nothing_changes(self):
        before = harness.query(self.dsn, PROGRESS)
        beyond = max(self.log_end.values()) + 1
        done = self.offsets(self.dsn, "reset", "--to", f"offset={beyond}")
        self.assertEqual(done.returncode, 2, done.stdout + done.stderr)
        self.assertIn(f"offset {beyond} is outside the log", done.stderr)
        for p in self.partitions:
            self.assertIn(f"{TOPIC}[{p}] accepts {self.log_start[p]}..{self.log_end[p]}", done.stderr)
        self.assertEqual(done.stdout, "")
        self.assertEqual(harness.query(self.dsn, PROGRESS), before)

    def test_dry_run_prints_the_moves_and_changes_nothing(self):
        before = harness.query(self.dsn, PROGRESS)
        done = self.offsets(self.dsn, "reset", "--to", "earliest", "--dry-run")
        self.assertEqual(done.returncode, 0, done.stderr)
        rows = [line.split() for line in done.stdout.splitlines()[1:1 + PARTITIONS]]
        self.assertEqual([r[:4] for r in rows], [[TOPIC, str(p), str(self.log_end[p]), str(self.log_start[p])] for p in self.partitions])
        self.assertIn("dry run: nothing changed", done.stdout)
        self.assertEqual(harness.query(self.dsn, PROGRESS), before)

    def test_unknown_topics_and_partitions_are_refused(self):
        before = harness.query(self.dsn, PROGRESS)
        cases = {
            "missing on the cluster": (["--topic", "no_such_topic", f"--source.topics={TOPIC},no_such_topic"], "topic 'no_such_topic' does not exist"),
            "not configured": (["--topic", "elsewhere"], "topic 'elsewhere' is not in source.topics"),
            "no such partition": (["--partitions", f"1,{PARTITIONS + 3}"], f"topic '{TOPIC}' has no partition {PARTITIONS + 3}"),
        }
        for case, (args, message) in cases.items():
            with self.subTest(case):
                done = self.offsets(self.dsn, "reset", "--to", "latest", *args)
                self.assertEqual(done.returncode, 2, done.stdout + done.stderr)
                self.assertIn(message, done.stderr)
                shown = self.offsets(self.dsn, "show", *args)
                self.assertEqual(shown.returncode, 2, shown.stdout + shown.stderr)
        self.assertEqual(harness.query(self.dsn, PROGRESS), before)

    def test_unreachable_kafka_or_postgres_exits_3_within_the_deadlines(self):
        secret = "offsets-tool-secret-42"
        started = time.monotonic()
        done = subprocess.run([harness.DAEMON, "offsets", "show", f"--postgres.dsn={self.dsn}", f"--kafka.bootstrap.servers=127.0.0.1:{harness.free_port()}",
                               "--source.startup_timeout_ms=2000", "--log.level=debug", "--kafka.debug=conf,broker",
                               "--kafka.sasl.username=u", f"--kafka.sasl.password={secret}"], capture_output=True, text=True, timeout=60)
        self.assertEqual(done.returncode, 3, done.stderr)
        self.assertLess(time.monotonic() - started, 20)
        self.assertIn("kafka", done.stderr)
        self.assertNotIn(secret, done.stdout + done.stderr)
        closed = f"host=127.0.0.1 port={harness.free_port()} dbname=x user=postgres"
        done = self.offsets(closed, "reset", "--to", "earliest", "--postgres.connect_timeout_ms=2000")
        self.assertEqual(done.returncode, 3, done.stderr)
        self.assertIn("nothing changed", done.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
