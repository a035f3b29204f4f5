"""Offsets never move silently (issue 12, DESIGN.md invariant 10): a checkpoint above the log
end (the topic was recreated) or below the log start (retention deleted the records while the
daemon was down) is handled by source.offset_out_of_range, recorded in starstream.offset_gap
with the first batch after it, counted in starstream_offset_out_of_range_total and logged.
Log bounds come from Kafka through kcat, not from starstream's tables."""
import os
import subprocess
import unittest

import expectations as expect
import harness

KEYS = {"batch.max_records": 2000, "batch.trigger_interval_ms": 200, "kafka.session.timeout.ms": 6000,
        "kafka.heartbeat.interval.ms": 1000, "windows.enabled": "false", "source.stop_when_caught_up": "true"}
PARTITIONS = 4


def log_bounds(bootstrap, topic, partition):
    """(log start, log end) of a partition, read with kcat: the first and last message's offsets."""
    def offset(at):
        out = subprocess.run(["kcat", "-C", "-b", bootstrap, "-t", topic, "-p", str(partition), "-o", at, "-c", "1", "-e", "-f", "%o\n"],
                             check=True, capture_output=True, text=True, timeout=60).stdout.split()
        return int(out[-1])
    return offset("beginning"), offset("-1") + 1


class OffsetGaps(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.local_stack(cls, "starstream-gaps-", PARTITIONS, 6000, topics=("product_view", "tiny:1"), malformed_share=0.01)
        cls.events, cls.malformed = expect.read_jsonl(cls.jsonl)

    def caught_up(self, dsn, **keys):
        out = harness.run_daemon(dsn, self.kafka.bootstrap, group=dsn.split("dbname=")[1].split()[0], **{**KEYS, **keys})
        return out

    def test_a_checkpoint_above_the_log_end_resumes_at_the_log_start_and_is_recorded(self):
        dsn = self.pg.create_database("above_end")
        out = self.caught_up(dsn)
        self.assertEqual(out.returncode, 0, out.stderr[-2000:])
        # The topic "was recreated": partition 2's checkpoint lies far beyond its log.
        harness.query(dsn, "UPDATE starstream.progress SET next_offset = 1000000 WHERE partition = 2 RETURNING 1")
        out = self.caught_up(dsn)
        self.assertEqual(out.returncode, 0, out.stderr[-2000:])
        self.assertIn("is outside its log", out.stderr)
        start, end = log_bounds(self.kafka.bootstrap, "product_view", 2)
        gaps = harness.query(dsn, "SELECT topic, partition, from_offset, to_offset, log_start, log_end, policy, batch_id IS NOT NULL"
                                  " FROM starstream.offset_gap")
        self.assertEqual(gaps, [("product_view", 2, 1000000, start, start, end, "earliest", True)])
        self.assertEqual(harness.scalar(dsn, "SELECT next_offset FROM starstream.progress WHERE partition = 2"), end)
        # Re-read from the log start: the facts are still exactly the valid events.
        ids = {row[0] for row in harness.query(dsn, "SELECT event_id::text FROM fact_event")}
        self.assertEqual(ids, {e["id"].lower() for e in self.events})
        # windows.enabled = false (KEYS): facts and dimensions only, from the spec as compiled.
        for table in ("win_hourly_product_views", "win_product_view_panes", "win_visits"):
            self.assertEqual(harness.scalar(dsn, f"SELECT count(*) FROM {table}"), 0, table)

    def test_latest_skips_to_the_end_and_fail_stops_with_exit_code_5(self):
        dsn = self.pg.create_database("policies")
        out = self.caught_up(dsn)
        self.assertEqual(out.returncode, 0, out.stderr[-2000:])
        harness.query(dsn, "UPDATE starstream.progress SET next_offset = 1000000 WHERE partition = 1 RETURNING 1")
        out = self.caught_up(dsn, **{"source.offset_out_of_range": "fail"})
        self.assertEqual(out.returncode, 5, out.stderr[-2000:])
        self.assertIn("source.offset_out_of_range = fail", out.stderr)
        self.assertEqual(harness.scalar(dsn, "SELECT next_offset FROM starstream.progress WHERE partition = 1"), 1000000)
        out = self.caught_up(dsn, **{"source.offset_out_of_range": "latest"})
        self.assertEqual(out.returncode, 0, out.stderr[-2000:])
        _, end = log_bounds(self.kafka.bootstrap, "product_view", 1)
        self.assertEqual(harness.query(dsn, "SELECT from_offset, to_offset, policy FROM starstream.offset_gap"), [(1000000, end, "latest")])
        self.assertEqual(harness.scalar(dsn, "SELECT next_offset FROM starstream.progress WHERE partition = 1"), end)

    def test_a_checkpoint_below_the_log_start_after_retention(self):
        # The mock cluster keeps about 5 MB per partition: 60,000 events push the log start of
        # the one-partition topic well past offset 0 (DESIGN.md, test infrastructure).
        harness.generate(60000, os.path.join(self.tmp, "tiny.jsonl"), brokers=self.kafka.bootstrap, topic="tiny", seed=3)
        start, end = log_bounds(self.kafka.bootstrap, "tiny", 0)
        self.assertGreater(start, 0, "retention moved the log start")
        dsn = self.pg.create_database("below_start")
        # A checkpoint from before the retention: the daemon was down while it deleted records.
        subprocess.run([harness.DAEMON, "migrate", f"--postgres.dsn={dsn}"], check=True, capture_output=True, timeout=120)
        harness.query(dsn, "INSERT INTO starstream.progress (topic, partition, next_offset, epoch) VALUES ('tiny', 0, 10, 1) RETURNING 1")
        out = self.caught_up(dsn, **{"source.topics": "tiny"})
        self.assertEqual(out.returncode, 0, out.stderr[-2000:])
        gap = harness.query(dsn, "SELECT from_offset, to_offset, log_start, policy FROM starstream.offset_gap")
        self.assertEqual(len(gap), 1, gap)
        self.assertEqual(gap[0][0], 10)
        self.assertGreaterEqual(gap[0][1], start)  # retention may have moved on since kcat looked
        self.assertEqual(gap[0][1], gap[0][2])
        self.assertEqual(gap[0][3], "earliest")
        self.assertEqual(harness.scalar(dsn, "SELECT next_offset FROM starstream.progress WHERE topic = 'tiny'"),
                         log_bounds(self.kafka.bootstrap, "tiny", 0)[1])


if __name__ == "__main__":
    unittest.main(verbosity=2)
