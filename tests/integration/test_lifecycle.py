"""The daemon's life cycle around failures: SIGTERM commits the open batch, leaves the group
and exits 0; a PostgreSQL outage pauses consumption and is retried, losing and doubling
nothing."""
import os
import signal
import subprocess
import time
import unittest

import expectations as expect
import harness

EVENTS = 60_000
KEYS = {"batch.max_records": 2000, "batch.trigger_interval_ms": 200, "postgres.retry_initial_ms": 100,
        "postgres.retry_max_ms": 1000, "kafka.session.timeout.ms": 6000, "kafka.heartbeat.interval.ms": 1000}


def signal_if_alive(pid, sig):
    """Sends sig to pid; a process that has already exited is not an error."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


class Lifecycle(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.local_stack(cls, "starstream-life-", 12, EVENTS, malformed_share=0.01, duplicate_share=0.01)
        cls.events, cls.malformed = expect.read_jsonl(cls.jsonl)

    def assert_exactly_the_events(self, dsn):
        ids = [row[0] for row in harness.query(dsn, "SELECT event_id::text FROM fact_event")]
        self.assertEqual(len(ids), len(set(ids)))
        self.assertEqual(set(ids), {e["id"].lower() for e in self.events})
        self.assertEqual(harness.scalar(dsn, "SELECT count(*) FROM starstream.dead_letter"), len(self.malformed))
        self.assertEqual(harness.scalar(dsn, "SELECT sum(records) FROM starstream.batch"), EVENTS)

    def batches(self, dsn):
        if not harness.scalar(dsn, "SELECT to_regclass('starstream.batch') IS NOT NULL"):
            return 0
        return harness.scalar(dsn, "SELECT count(*) FROM starstream.batch")

    def start(self, name, **keys):
        """A running daemon on a new database `name` (group `name`): (dsn, log path, process),
        killed at clean-up if still running."""
        dsn = self.pg.create_database(name)
        log = os.path.join(self.tmp, name + ".log")
        proc = harness.start_daemon(dsn, self.kafka.bootstrap, log, group=name, **{**KEYS, **keys})
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        return dsn, log, proc

    def wait_for_batches(self, dsn, n=3):
        harness.wait_for(lambda: self.batches(dsn) >= n, 60, f"{n} committed batches", interval=0.01)

    def test_sigterm_commits_what_was_consumed_and_exits_0(self):
        dsn, log, proc = self.start("sigterm")
        self.wait_for_batches(dsn)
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(timeout=60), 0, open(log).read()[-2000:])
        self.assertTrue(harness.log_contains(log, "stopped cleanly"))
        # Every consumed record was committed: the progress rows equal the batches' records.
        committed = harness.scalar(dsn, "SELECT sum(records) FROM starstream.batch")
        self.assertEqual(harness.scalar(dsn, "SELECT sum(next_offset) FROM starstream.progress"), committed)
        # A restart resumes from there and ends with exactly the events.
        out = harness.run_daemon(dsn, self.kafka.bootstrap, group="sigterm", **KEYS, **{"source.stop_when_caught_up": "true"})
        self.assertEqual(out.returncode, 0, out.stderr[-2000:])
        self.assert_exactly_the_events(dsn)

    def test_rewinding_a_partition_replays_without_changing_the_tables(self):
        dsn = self.pg.create_database("rewind")
        keys = {**KEYS, "source.stop_when_caught_up": "true"}
        out = harness.run_daemon(dsn, self.kafka.bootstrap, group="rewind", **keys)
        self.assertEqual(out.returncode, 0, out.stderr[-2000:])
        before = harness.query(dsn, "SELECT (SELECT count(*) FROM fact_event), (SELECT count(*) FROM starstream.dead_letter)")
        # The documented reset (README, Operations): rewind and bump the epoch to fence owners.
        harness.query(dsn, "UPDATE starstream.progress SET next_offset = 0, epoch = epoch + 1 RETURNING 1")
        out = harness.run_daemon(dsn, self.kafka.bootstrap, group="rewind", **keys)
        self.assertEqual(out.returncode, 0, out.stderr[-2000:])
        self.assertEqual(harness.scalar(dsn, "SELECT sum(records) FROM starstream.batch"), 2 * EVENTS)
        self.assertEqual(harness.query(dsn, "SELECT (SELECT count(*) FROM fact_event), (SELECT count(*) FROM starstream.dead_letter)"), before)

    def test_a_fenced_partition_is_left_to_its_new_owner(self):
        # Slow batches (100 records, 200 ms apart) so that the fence lands while the stream runs.
        dsn, log, proc = self.start("fenced", **{"batch.max_records": 100})
        self.wait_for_batches(dsn)
        # Another instance takes partition 0: its epoch moves on and the row names the new owner
        # (what a claim does).
        fenced_at = harness.query(dsn, "UPDATE starstream.progress SET epoch = epoch + 1, owner_instance = 'other-instance'"
                                       " WHERE partition = 0 RETURNING next_offset")[0][0]
        harness.wait_for(lambda: harness.log_contains(log, "is owned by instance other-instance now"), 60, "the daemon to release the partition")
        harness.wait_for(lambda: self.batches(dsn) >= 10, 60, "more batches after the fence", interval=0.05)
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(timeout=60), 0)
        # Nothing of partition 0 past the fence was written by the fenced daemon, and its
        # checkpoint did not move; the other partitions went on.
        self.assertEqual(harness.scalar(dsn, "SELECT next_offset FROM starstream.progress WHERE partition = 0"), fenced_at)
        self.assertEqual(harness.scalar(dsn, "SELECT count(*) FROM fact_event WHERE kafka_partition = 0 AND kafka_offset >= %s",
                                        (fenced_at or 0,)), 0)
        # The new owner (a restart here) resumes partition 0 from that checkpoint: exactly once.
        out = harness.run_daemon(dsn, self.kafka.bootstrap, group="fenced", **KEYS, **{"source.stop_when_caught_up": "true"})
        self.assertEqual(out.returncode, 0, out.stderr[-2000:])
        self.assert_exactly_the_events(dsn)

    def test_an_online_reset_is_followed_within_seconds_without_a_restart(self):
        dsn, log, proc = self.start("online_reset")
        harness.wait_for(lambda: self.batches(dsn) and harness.scalar(dsn, "SELECT sum(records) FROM starstream.batch") == EVENTS, 120,
                         "every event committed", interval=0.2)
        facts = harness.scalar(dsn, "SELECT count(*) FROM fact_event")
        # Partition 3's log end, from Kafka itself (kcat: the last message's offset + 1).
        last = subprocess.run(["kcat", "-C", "-b", self.kafka.bootstrap, "-t", "product_view", "-p", "3", "-o", "-1", "-c", "1", "-e",
                               "-f", "%o\n"], check=True, capture_output=True, text=True, timeout=60).stdout.split()
        log_end = int(last[-1]) + 1
        # The documented online reset: rewind partition 3 and bump its epoch, owner unchanged.
        harness.query(dsn, "UPDATE starstream.progress SET next_offset = 0, epoch = epoch + 1 WHERE partition = 3 RETURNING 1")
        harness.wait_for(lambda: harness.log_contains(log, "claiming them again"), 30, "the daemon to claim the reset partition again")
        harness.wait_for(lambda: harness.scalar(dsn, "SELECT sum(records) FROM starstream.batch") == EVENTS + log_end, 60,
                         "partition 3 read again from offset 0", interval=0.2)
        self.assertEqual(harness.scalar(dsn, "SELECT next_offset FROM starstream.progress WHERE partition = 3"), log_end)
        self.assertEqual(harness.scalar(dsn, "SELECT count(*) FROM fact_event"), facts)
        self.assertIsNone(proc.poll(), "no restart")
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(timeout=60), 0)

    def sigterm_while_postgres_is_frozen(self, name, frozen=lambda dsn, log: None, **keys):
        """Freezes every process of the server (connections stay open, nothing answers), calls
        frozen(dsn, log), sends SIGTERM and asserts exit 0 within shutdown.timeout_ms (3 s) plus
        a small margin; then a restart must end with exactly the events."""
        dsn, log, proc = self.start(name, **{"shutdown.timeout_ms": 3000, **keys})
        self.wait_for_batches(dsn)
        # The postmaster (first line of postmaster.pid) and every backend and worker it forked.
        with open(os.path.join(self.pg.dir, "pg", "data", "postmaster.pid")) as f:
            postmaster = int(f.readline())
        children = subprocess.run(["pgrep", "-P", str(postmaster)], capture_output=True, text=True).stdout.split()
        server = [postmaster] + [int(p) for p in children]
        self.assertGreater(len(server), 3, "postmaster, checkpointer, the daemon's backends...")
        # The postmaster stops first, so it forks nothing new; a child that exits meanwhile (an
        # autovacuum worker, a backend whose client left) has nothing left to freeze.
        for pid in server:
            signal_if_alive(pid, signal.SIGSTOP)
        try:
            frozen(dsn, log)
            proc.send_signal(signal.SIGTERM)
            started = time.monotonic()
            code = proc.wait(timeout=60)
            elapsed = time.monotonic() - started
        finally:
            for pid in server:
                signal_if_alive(pid, signal.SIGCONT)
        self.assertEqual(code, 0, open(log).read()[-3000:])
        self.assertLess(elapsed, 3.0 + 5.0, "shutdown.timeout_ms plus a small margin")
        # Whatever was abandoned is read again: nothing lost, nothing doubled.
        out = harness.run_daemon(dsn, self.kafka.bootstrap, group=name, **KEYS, **{"source.stop_when_caught_up": "true"})
        self.assertEqual(out.returncode, 0, out.stderr[-2000:])
        self.assert_exactly_the_events(dsn)

    def test_sigterm_against_a_frozen_postgres_exits_within_the_deadline(self):
        self.sigterm_while_postgres_is_frozen("frozen")

    def test_sigterm_while_reconnecting_to_a_frozen_postgres_exits_within_the_deadline(self):
        # A call misses its deadline (statement timeout 1 s + 5 s), the sink drops the connection
        # and connects again: the frozen server accepts TCP and never answers the start-up
        # packet, for longer than connect_timeout_ms would allow SIGTERM to wait.
        def call_gave_up(dsn, log):
            port = harness.wait_for(lambda: harness.http_port_from_log(log), 30, "the HTTP port in the log")
            harness.wait_for(lambda: "Postgres does not answer" in harness.http_get(port, "/readyz?verbose")[1]
                             or "commit failed" in harness.http_get(port, "/readyz?verbose")[1], 60,
                             "a Postgres call to miss its deadline", interval=0.2)
        self.sigterm_while_postgres_is_frozen("frozen_reconnect", call_gave_up,
                                              **{"postgres.statement_timeout_ms": 1000, "postgres.connect_timeout_ms": 60000})

    def test_postgres_outage_pauses_and_retries_without_loss(self):
        dsn, log, proc = self.start("outage")
        self.wait_for_batches(dsn)
        start_again = harness.restart_postgres_later(self.pg)
        harness.wait_for(lambda: harness.log_contains(log, "not committed (attempt 2"), 60, "the daemon to retry a batch")
        self.assertIsNone(proc.poll(), "the daemon must survive the outage")
        start_again()
        harness.wait_for(lambda: harness.scalar(dsn, "SELECT coalesce(sum(records), 0) FROM starstream.batch") == EVENTS, 120,
                         "every event committed after the outage", interval=0.2)
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(timeout=60), 0)
        self.assert_exactly_the_events(dsn)


if __name__ == "__main__":
    unittest.main(verbosity=2)
