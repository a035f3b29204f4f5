"""Watermark alignment (time.watermark_alignment_drift_ms) on a real PostgreSQL and the mock Kafka.

Backlog: 4 partitions hold 24 h of event time each; partition 0 sparsely (200 events, 432 s
apart), partitions 1-3 densely (10,000 events each, about 9 s apart), all produced before
starstreamd starts. A trigger on starstream.progress keeps every committed partition watermark
per batch (an oracle independent of the daemon's own bookkeeping). With a 10-minute drift, in
every committed batch the partitions' watermarks lie within

    drift + the largest gap between consecutive event times of one partition

of each other: a record that takes a partition's watermark past the slowest's plus the drift
makes the daemon hold (pause) that partition before its next record, so it overshoots by at
most that one record's step, and the slowest watermark only grows. Without alignment (drift 0)
partition 0 runs almost 24 h ahead, which shows the check can fail. Both observed spreads are
printed.

CaughtUpPartition: a running daemon, partition 1 caught up with a watermark, partition 0 with a
backlog 2 h ahead, partitions 2 and 3 empty. A caught-up partition holds nothing back (waiting
for it would not move it): partition 0 is consumed to its end long before partition 1 could turn
idle, never held (gauge and /status), and nothing is late. Idle partitions, the empty ones
included, then commit about the wall clock minus the out-of-orderness as their watermark, so
they do not hold the topic's watermark back."""
import itertools
import json
import os
import re
import signal
import subprocess
import time
import unittest

import harness

START = 1588500000  # 2020-05-03 10:00 UTC
DAY = 86400
DRIFT_MS = 600_000
OUT_OF_ORDERNESS_MS = 60_000
SPARSE, DENSE = 200, 10_000  # events of partition 0, and of each of partitions 1-3

HISTORY_SQL = """
CREATE TABLE test_progress_history (batch_id bigint, partition integer, watermark timestamptz);
CREATE FUNCTION test_record_progress() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO test_progress_history VALUES (NEW.batch_id, NEW.partition, NEW.watermark);
    RETURN NEW;
END $$;
CREATE TRIGGER test_progress_history AFTER UPDATE ON starstream.progress
    FOR EACH ROW WHEN (NEW.batch_id IS DISTINCT FROM OLD.batch_id) EXECUTE FUNCTION test_record_progress();
"""


def event(partition, n, t):
    """A valid product_view event of `partition` (its n-th) at Unix second `t`, as JSON."""
    return json.dumps({"id": f"00000000-0000-4000-{0x8000 + partition:04x}-{n:012d}", "time_stamp": t, "store_id": "6",
                       "collection": "view_product_detail", "product_id": str(100 + n % 50), "device_id": f"device-{partition}-{n % 97}",
                       "current_url": f"https://www.shop.de/p-{100 + n % 50}.html", "ip": "93.184.216.34"})


def spread_times(count, start, span):
    """`count` increasing Unix seconds from `start` over `span` seconds."""
    return [start + i * span // count for i in range(count)]


def produce(bootstrap, partition, times):
    """Writes one event per time into `partition` with kcat (an independent client), lz4-compressed."""
    lines = "\n".join(event(partition, n, t) for n, t in enumerate(times)) + "\n"
    subprocess.run(["kcat", "-P", "-b", bootstrap, "-t", "product_view", "-p", str(partition), "-z", "lz4"],
                   input=lines, text=True, check=True, timeout=120)


def migrate(dsn):
    subprocess.run([harness.DAEMON, "migrate", f"--postgres.dsn={dsn}"], check=True, capture_output=True, timeout=120)


def committed_spreads(dsn):
    """Per committed batch (in order): max minus min of the partitions' committed watermarks
    (seconds), over the partitions with one. A partition a batch does not update keeps its last."""
    latest, spreads = {}, []
    rows = harness.query(dsn, "SELECT batch_id, partition, extract(epoch FROM watermark) FROM test_progress_history ORDER BY batch_id, partition")
    for _, batch in itertools.groupby(rows, key=lambda r: r[0]):
        latest.update({partition: float(watermark) for _, partition, watermark in batch if watermark is not None})
        if len(latest) > 1:
            spreads.append(max(latest.values()) - min(latest.values()))
    return spreads


def log_tail(path, chars=3000):
    with open(path, "rb") as f:
        return f.read()[-chars:].decode("utf-8", "replace")


def largest_step(times):
    return max(b - a for a, b in zip(times, times[1:]))


class Backlog(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.local_stack(cls, "starstream-align-", 4)
        cls.times = {0: spread_times(SPARSE, START, DAY)}
        for p in (1, 2, 3):
            cls.times[p] = spread_times(DENSE, START, DAY)
        for p, times in cls.times.items():
            produce(cls.kafka.bootstrap, p, times)
        cls.total = sum(len(t) for t in cls.times.values())
        cls.bound = DRIFT_MS / 1000 + max(largest_step(t) for t in cls.times.values())

    def consume_all(self, name, drift_ms):
        """Runs starstreamd over the whole backlog with `drift_ms`; returns its per-batch spreads
        and its log."""
        dsn = self.pg.create_database(name)
        migrate(dsn)
        harness.query(dsn, HISTORY_SQL)
        log = os.path.join(self.tmp, name + ".log")
        started = time.monotonic()
        proc = harness.start_daemon(dsn, self.kafka.bootstrap, log, group=name, **{
            "source.stop_when_caught_up": "true", "time.watermark_alignment_drift_ms": drift_ms,
            "time.allowed_out_of_orderness_ms": OUT_OF_ORDERNESS_MS,
            # No partition turns idle during the run: an idle one commits the wall clock (2020 is long ago).
            "time.idle_timeout_ms": 600_000, "batch.max_records": 2000, "batch.trigger_interval_ms": 200})
        try:
            returncode = proc.wait(timeout=300)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            self.fail(f"{name}: starstreamd did not consume the backlog within 300 s:\n" + log_tail(log))
        self.assertEqual(returncode, 0, log_tail(log))
        self.assertEqual(harness.scalar(dsn, "SELECT sum(records) FROM starstream.batch"), self.total)
        self.assertEqual(harness.scalar(dsn, "SELECT count(*) FROM fact_event"), self.total)
        spreads = committed_spreads(dsn)
        self.assertGreater(len(spreads), 5, "enough committed batches to judge")
        print(f"\n{name}: drift {drift_ms / 1000:.0f} s, {len(spreads)} batches in {time.monotonic() - started:.1f} s, "
              f"largest spread of committed partition watermarks {max(spreads):.0f} s (bound with alignment {self.bound:.0f} s)")
        return spreads, log_tail(log, 10**9)

    def test_aligned_partitions_stay_within_the_drift(self):
        spreads, log = self.consume_all("aligned", DRIFT_MS)
        self.assertLessEqual(max(spreads), self.bound)
        self.assertRegex(log, r"watermark alignment holds \d+ of 4 partitions")

    def test_without_alignment_the_sparse_partition_runs_ahead(self):
        spreads, log = self.consume_all("unaligned", 0)
        self.assertGreater(max(spreads), 10 * self.bound, "the backlog must be skewed enough for the aligned run to prove anything")
        self.assertNotIn("watermark alignment holds", log)


class CaughtUpPartition(unittest.TestCase):
    IDLE_MS = 45_000

    @classmethod
    def setUpClass(cls):
        harness.local_stack(cls, "starstream-held-", 4)
        cls.dsn = cls.pg.create_database("held")
        cls.log = os.path.join(cls.tmp, "starstreamd.log")
        cls.port = harness.free_port()
        # Partition 1: 5 minutes and caught up; partition 0: 2 hours of backlog.
        produce(cls.kafka.bootstrap, 1, range(START, START + 300, 30))
        produce(cls.kafka.bootstrap, 0, range(START, START + 2 * 3600, 30))
        cls.wall_start = time.time()
        cls.daemon = harness.start_daemon(cls.dsn, cls.kafka.bootstrap, cls.log, **{
            "http.port": cls.port, "time.watermark_alignment_drift_ms": DRIFT_MS, "time.idle_timeout_ms": cls.IDLE_MS,
            "time.allowed_out_of_orderness_ms": OUT_OF_ORDERNESS_MS, "batch.trigger_interval_ms": 200})
        cls.addClassCleanup(lambda: cls.daemon.poll() is None and cls.daemon.kill())

    def gauge(self):
        status, body = harness.http_get(self.port, "/metrics")
        m = re.search(r"^starstream_watermark_alignment_paused_partitions (\S+)$", body, re.M) if status == 200 else None
        return float(m.group(1)) if m else None

    def partition_status(self, partition):
        """The partition's entry in /status; {} before it is assigned."""
        _, body = harness.http_get(self.port, "/status")
        return next((p for p in json.loads(body)["partitions"] if p["partition"] == partition), {})

    def facts(self, partition):
        if not harness.scalar(self.dsn, "SELECT to_regclass('fact_event') IS NOT NULL"):
            return 0
        return harness.scalar(self.dsn, "SELECT count(*) FROM fact_event WHERE kafka_partition = %s", (partition,))

    def test_a_caught_up_partition_holds_nothing_back(self):
        harness.wait_for(lambda: harness.log_contains(self.log, "http: serving"), 30, "the HTTP server")
        harness.wait_for(lambda: self.facts(0) == 240 and self.facts(1) == 10, 30, "partition 0 consumed to its end", interval=0.05)
        self.assertLess(time.time() - self.wall_start, self.IDLE_MS / 1000, "partition 0 must not have waited for partition 1 to turn idle")
        self.assertEqual(self.gauge(), 0)
        # /status is a snapshot published every second: it may still show a hold released since.
        harness.wait_for(lambda: self.partition_status(0).get("aligned_paused") is False, 5, "/status to show partition 0 not held")
        self.assertEqual(harness.scalar(self.dsn, "SELECT count(*) FROM starstream.late_event"), 0)

        # Idle partitions commit about now - out-of-orderness; the empty ones got a position too.
        # Partition 0 keeps its own (2 hours after START minus the bound), until it is idle as well.
        def idle_rows():
            rows = harness.query(self.dsn, "SELECT partition, next_offset, extract(epoch FROM watermark) FROM starstream.progress ORDER BY 1")
            if len(rows) < 4 or any(w is None for _, _, w in rows):
                return None
            return rows if all(float(w) >= self.wall_start - OUT_OF_ORDERNESS_MS / 1000 - 1 for _, _, w in rows[1:]) else None
        rows = harness.wait_for(idle_rows, self.IDLE_MS / 1000 + 30, "partitions 1-3 to commit the wall clock as idle partitions")
        offsets = {p: o for p, o, _ in rows}
        self.assertEqual(offsets, {0: 240, 1: 10, 2: 0, 3: 0})
        for partition, _, watermark in rows[1:]:
            self.assertLessEqual(float(watermark), time.time(), partition)

        self.daemon.send_signal(signal.SIGTERM)
        self.assertEqual(self.daemon.wait(timeout=60), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
