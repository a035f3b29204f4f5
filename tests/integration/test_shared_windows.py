"""Windowed tables shared by every instance (migration 005): one row per window and key for the
whole topic, whatever the producer's partitioning and however partitions are spread over
instances, killed or moved.

Each scenario produces 20,000 events over 6 h of event time (disorder up to 60 s) into 12
partitions and runs starstreamd until every offset is committed. Then:
  - every windowed table and the trending view equal a brute force over the generator's JSONL
    minus, per table, the events starstream.late_event lists for it (window_oracle.py);
  - late_event is plausible: each listed record was below the watermark it records, by the
    lateness it records, in the window it names, beyond allowed lateness where the policy is
    `correct`, and that watermark is one the topic could have had before the record was read
    (at most its partition's earlier time minus the allowed out-of-orderness), so only events
    the generator made late can be listed;
  - reports 07-09 agree with the brute force for the day.
Scenarios: DeviceKeyed (keyed by device, 1 instance, 2 % of the events 15 min late), RoundRobin
(unkeyed round robin, 1 instance, 2 % 2 h late: beyond allowed lateness in every table), Random
ThreeInstances (unkeyed random partitions, 2 % 90 min late, 3 instances in one group, one
SIGKILLed mid-run) and Rebalance (no late events at all; instance B joins while A works through
a backlog, so partitions move with backlog: nothing may be judged late, whatever the rebalance).
The window watermark must also be exactly the slowest partition's highest time minus the allowed
out-of-orderness. About 2.5 minutes."""
import datetime
import decimal
import os
import signal
import time
import unittest

import expectations as expect
import harness
import window_oracle as oracle
from kafka import KafkaConsumer, TopicPartition

EVENTS, PARTITIONS = 20_000, 12
START = 1588500000  # 2020-05-03 10:00 UTC: a fixed day for the reports
DAY = datetime.date(2020, 5, 3)
SPAN_S = 6 * 3600
OUT_OF_ORDER_S = 60
ALLOWED_OUT_OF_ORDERNESS_MS = 300_000  # the daemon's default, set explicitly: the late bounds use it
ALLOWED_LATENESS_MS = 3_600_000        # windows.allowed_lateness_ms default
GAP_S = 1800                           # windows.visit_gap_ms default
REPORTS = os.path.join(harness.SOURCE_DIR, "sql", "reports")
KEYS = {
    "time.allowed_out_of_orderness_ms": ALLOWED_OUT_OF_ORDERNESS_MS,
    # Nothing turns idle during a run: the watermark stays that of the data, not of the wall clock.
    "time.idle_timeout_ms": 600_000,
    "batch.trigger_interval_ms": 200,
    "kafka.session.timeout.ms": 6000, "kafka.heartbeat.interval.ms": 1000,
}


def ms(column):
    return f"round(extract(epoch FROM {column}) * 1000)::bigint"


def migrated(dsn):
    """True once the migrations this test reads (005 and those before it) are applied."""
    return harness.scalar(dsn, "SELECT to_regclass('starstream.window_watermark') IS NOT NULL")


def end_offsets(bootstrap):
    consumer = KafkaConsumer(bootstrap_servers=bootstrap.split(","))
    try:
        partitions = [TopicPartition("product_view", p) for p in consumer.partitions_for_topic("product_view")]
        return {tp.partition: offset for tp, offset in consumer.end_offsets(partitions).items()}
    finally:
        consumer.close()


def log_tail(path, chars=3000):
    with open(path, "rb") as f:
        return f.read()[-chars:].decode("utf-8", "replace")


# ---------------------------------------------------------------------------------------------
# The checks every scenario runs
# ---------------------------------------------------------------------------------------------
class SharedWindowChecks:
    """Mixed into each scenario; the scenario's consume(cls) leaves every offset committed."""
    SEED, PARTITIONING, LATE_SHARE, LATE_SECONDS = 42, "device", 0.02, 900
    LATE_TABLES = ()  # tables late_event must list something for (the late share makes it certain)

    @classmethod
    def setUpClass(cls):
        harness.local_stack(cls, f"starstream-shared-{cls.__name__.lower()}-", PARTITIONS, EVENTS, seed=cls.SEED,
                            partitioning=cls.PARTITIONING, start_time=START, span_seconds=SPAN_S,
                            out_of_order_seconds=OUT_OF_ORDER_S, late_share=cls.LATE_SHARE, late_seconds=cls.LATE_SECONDS)
        cls.dsn = cls.pg.create_database("shared")
        cls.ends = end_offsets(cls.kafka.bootstrap)
        started = time.monotonic()
        cls.consume()
        print(f"\n{cls.__name__}: consumed in {time.monotonic() - started:.1f} s")
        cls.events, _ = expect.read_jsonl(cls.jsonl)
        cls.collect()

    # -- what the run left ----------------------------------------------------------------------
    @classmethod
    def committed(cls):
        """True once every partition's checkpoint is at its end offset."""
        if not migrated(cls.dsn):
            return False
        progress = dict(harness.query(cls.dsn, "SELECT partition, next_offset FROM starstream.progress WHERE topic = 'product_view'"))
        return all(progress.get(p) == end for p, end in cls.ends.items() if end > 0)

    @classmethod
    def collect(cls):
        q = lambda sql: harness.query(cls.dsn, sql)  # noqa: E731
        cls.watermark_ms = harness.scalar(cls.dsn, f"SELECT {ms('watermark')} FROM starstream.window_watermark")
        cls.facts = q("SELECT event_id::text, kafka_partition, kafka_offset, extract(epoch FROM event_time)::bigint FROM fact_event")
        cls.late_rows = q(f"""SELECT l.operator, l.kafka_partition, l.kafka_offset, {ms('l.event_time')}, l.lateness_ms,
                                     {ms('l.window_start')}, {ms('l.window_end')}, {ms('l.watermark')},
                                     EXISTS (SELECT 1 FROM starstream.batch b WHERE b.batch_id = l.batch_id)
                              FROM starstream.late_event l WHERE l.kafka_topic = 'product_view'""")
        by_lineage = {(p, o): (i, t) for i, p, o, t in cls.facts}
        cls.late_ids = {table: set() for table in oracle.POLICY}
        for operator, partition, offset, *_ in cls.late_rows:
            if operator in cls.late_ids and (partition, offset) in by_lineage:
                cls.late_ids[operator].add(by_lineage[(partition, offset)][0])
        cls.counted = {table: oracle.without(cls.events, ids) for table, ids in cls.late_ids.items()}
        cls.hourly = {(s, p, st, c): (e, v, n, final) for s, e, p, st, c, v, n, final in q("""
            SELECT extract(epoch FROM h.window_start)::bigint, extract(epoch FROM h.window_end)::bigint, p.product_id, s.store_id,
                   l.country_code, h.views, h.visitors, h.is_final
            FROM hourly_product_views h JOIN dim_product p USING (product_key) JOIN dim_store s USING (store_key)
            JOIN dim_location l USING (location_key)""")}
        cls.hourly_rows = harness.scalar(cls.dsn, "SELECT count(*) FROM win_hourly_product_views")
        cls.panes = {(s, p): (e, n) for s, e, p, n in q("""
            SELECT extract(epoch FROM w.window_start)::bigint, extract(epoch FROM w.window_end)::bigint, p.product_id, w.views
            FROM win_product_view_panes w JOIN dim_product p USING (product_key)""")}
        cls.trending = {(s, p): (e, n) for s, e, p, n in q("""
            SELECT extract(epoch FROM t.window_start)::bigint, extract(epoch FROM t.window_end)::bigint, p.product_id, t.views
            FROM trending_products t JOIN dim_product p USING (product_key)""")}
        cls.visits = {(d, s): rest for d, s, *rest in q("""
            SELECT device_id, extract(epoch FROM visit_start)::bigint, extract(epoch FROM visit_end)::bigint,
                   extract(epoch FROM last_event_time)::bigint, events, product_views, first_url, last_url, reached_checkout
            FROM win_visits""")}
        cls.visit_rows = harness.scalar(cls.dsn, "SELECT count(*) FROM win_visits")

    # -- the stream itself ----------------------------------------------------------------------
    def test_every_offset_committed_exactly_once(self):
        self.assertTrue(self.committed(), "every partition's checkpoint at its end offset")
        self.assertEqual(sum(self.ends.values()), EVENTS)
        self.assertEqual(harness.scalar(self.dsn, "SELECT sum(records) FROM starstream.batch"), EVENTS)

    def test_facts_are_every_valid_event_late_or_not(self):
        self.assertEqual(sorted(i for i, *_ in self.facts), sorted(e["id"].lower() for e in self.events))

    # -- late_event -----------------------------------------------------------------------------
    def test_late_events_are_plausible(self):
        product_views = {e["id"].lower() for e in self.events if oracle.is_product_view(e)}
        made_late = oracle.generator_late(self.events, OUT_OF_ORDER_S)
        self.assertLessEqual(len(made_late), 2 * self.LATE_SHARE * EVENTS + 10, "the generator's late share")
        problems = oracle.plausible_late_events(
            self.late_rows, {(p, o): (i, t) for i, p, o, t in self.facts},
            oracle.partition_bounds([(p, o, t) for _, p, o, t in self.facts], ALLOWED_OUT_OF_ORDERNESS_MS),
            self.watermark_ms, ALLOWED_LATENESS_MS, GAP_S, product_views, made_late)
        self.assertEqual(problems[:20], [], f"{len(problems)} implausible late_event rows of {len(self.late_rows)}")
        by_table = {t: len(ids) for t, ids in self.late_ids.items()}
        print(f"{type(self).__name__}: late_event {by_table}, generator-late events {len(made_late)}, "
              f"window watermark {self.watermark_ms}")
        self.assertEqual(sum(by_table.values()), len(self.late_rows), "one row per (table, record)")
        for table in self.LATE_TABLES:
            self.assertGreater(by_table[table], 0, f"{table}: some of the late events must have been listed")

    def test_batches_count_what_late_event_lists(self):
        dead_lettered, dropped = harness.query(self.dsn, "SELECT sum(late_dead_lettered), sum(late_dropped) FROM starstream.batch")[0]
        self.assertEqual(dead_lettered, len(self.late_rows))
        self.assertEqual(dropped, 0, "no table's policy is drop")

    def test_window_watermark_is_the_slowest_partitions(self):
        # Each partition's committed watermark is its highest event time minus the allowed
        # out-of-orderness (nothing turned idle), and the window watermark their minimum.
        highest = {}
        for _, partition, _, t in self.facts:
            highest[partition] = max(highest.get(partition, t), t)
        progress = dict(harness.query(self.dsn, f"SELECT partition, {ms('watermark')} FROM starstream.progress WHERE topic = 'product_view'"))
        self.assertEqual(progress, {p: h * 1000 - ALLOWED_OUT_OF_ORDERNESS_MS for p, h in highest.items()})
        self.assertEqual(self.watermark_ms, min(progress.values()))

    # -- the tables -----------------------------------------------------------------------------
    def test_hourly_product_views_equal_the_brute_force(self):
        want = oracle.hourly(self.counted[oracle.HOURLY])
        self.assertEqual(len(self.hourly), self.hourly_rows, "one location per country: cells do not collapse")
        self.assertEqual(set(self.hourly), set(want))
        for cell, (views, visitors) in want.items():
            end = cell[0] + oracle.HOUR
            self.assertEqual(self.hourly[cell], (end, views, visitors, end * 1000 <= self.watermark_ms), cell)

    def test_product_view_panes_equal_the_brute_force(self):
        want = oracle.panes(self.counted[oracle.PANES])
        self.assertEqual(set(self.panes), set(want))
        self.assertEqual(self.panes, {k: (k[0] + oracle.FIVE_MIN, n) for k, n in want.items()})

    def test_trending_products_equal_the_brute_force(self):
        want = oracle.trending(self.counted[oracle.PANES], self.watermark_ms / 1000)
        self.assertGreater(len(want), 0)
        self.assertEqual(set(self.trending), set(want))
        self.assertEqual(self.trending, {k: (k[0] + oracle.HOUR, n) for k, n in want.items()})

    def test_visits_equal_the_brute_force(self):
        want = oracle.visits(self.counted[oracle.VISITS], GAP_S)
        self.assertEqual(len(self.visits), self.visit_rows)
        self.assertEqual(len(self.visits), len(want))
        self.assertEqual(self.visits, {k: list(v) for k, v in want.items()})

    # -- reports 07-09 on the shared tables -----------------------------------------------------
    def report(self, name):
        return expect.run_report({"port": self.pg.port, "dbname": "shared"}, os.path.join(REPORTS, name), day=DAY.isoformat())

    def test_report_07_hourly_product_views(self):
        hhmm = lambda t: datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%H:%M")  # noqa: E731
        cells = [(k, v) for k, v in oracle.hourly(self.counted[oracle.HOURLY]).items() if expect.day_of(k[0]) == DAY]
        cells.sort(key=lambda kv: (-kv[1][0], kv[0][0], kv[0][1], kv[0][2], kv[0][3]))
        want = [[hhmm(s), p, st, c, str(v), str(n), "t" if (s + oracle.HOUR) * 1000 <= self.watermark_ms else "f"]
                for (s, p, st, c), (v, n) in cells[:20]]
        self.assertEqual(len(want), 20)
        self.assertEqual(self.report("07_hourly_product_views_today.sql"), want)

    def test_report_08_trending_products(self):
        windows = {}
        for (start, product), n in oracle.trending(self.counted[oracle.PANES], self.watermark_ms / 1000).items():
            windows.setdefault(start + oracle.HOUR, []).append((product, n))
        want = []
        for end in sorted(e for e in windows if expect.day_of(e) == DAY):
            counts = windows[end]
            ranked = sorted(((1 + sum(m > n for _, m in counts), p, n) for p, n in counts))
            hhmm = datetime.datetime.fromtimestamp(end, datetime.timezone.utc).strftime("%H:%M")
            want += [[hhmm, str(r), p, str(n)] for r, p, n in ranked if r <= 3]
        self.assertGreater(len(want), 0)
        self.assertEqual(self.report("08_trending_products_today.sql"), want)

    def test_report_09_visits(self):
        by_page = {}
        for (_, start), (end, _, events, views, first, _, checkout) in oracle.visits(self.counted[oracle.VISITS], GAP_S).items():
            if expect.day_of(start) == DAY:
                by_page.setdefault(first, []).append((events, views, (end - start) / 60, checkout))
        top = sorted(by_page.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:10]
        got = self.report("09_visits_today.sql")
        self.assertEqual([(row[0], int(row[1])) for row in got], [(page, len(v)) for page, v in top])
        for row, (page, v) in zip(got, top):
            exact = [sum(x[0] for x in v) / len(v), sum(x[1] for x in v) / len(v), sum(x[2] for x in v) / len(v),
                     100 * sum(x[3] for x in v) / len(v)]
            for got_value, value in zip(row[2:6], exact):
                # round(…, 1) of the exact mean; the tolerance only covers ties rounded on numeric approximations.
                self.assertLessEqual(abs(decimal.Decimal(got_value) - decimal.Decimal(value)), decimal.Decimal("0.0500001"), (page, row))


# ---------------------------------------------------------------------------------------------
# The scenarios
# ---------------------------------------------------------------------------------------------
class DeviceKeyedOneInstance(SharedWindowChecks, unittest.TestCase):
    """Keyed by device, one instance; 2 % of the events 15 min late: late for the panes
    (dead-lettered), within allowed lateness for the others (counted)."""
    SEED, PARTITIONING, LATE_SECONDS = 11, "device", 900
    LATE_TABLES = (oracle.PANES,)

    @classmethod
    def consume(cls):
        done = harness.run_daemon(cls.dsn, cls.kafka.bootstrap, timeout=300, group="device", **KEYS, **{
            "batch.max_records": 1000, "source.stop_when_caught_up": "true"})
        assert done.returncode == 0, done.stderr[-3000:]

    def test_late_but_within_allowed_lateness_counts(self):
        self.assertGreater(harness.scalar(self.dsn, "SELECT sum(late_corrected) FROM starstream.batch"), 0)
        self.assertEqual(self.late_ids[oracle.HOURLY] | self.late_ids[oracle.VISITS], set(), "15 min late is within 1 h")


class RoundRobinOneInstance(SharedWindowChecks, unittest.TestCase):
    """Unkeyed, message i to partition i mod 12 (a device's events on every partition), one
    instance; 2 % of the events 2 h late: too late (window end + 1 h at or below the watermark)
    for the panes, for most hours and, as a visit window is [t, t + 30 min), for the visits."""
    SEED, PARTITIONING, LATE_SECONDS = 12, "round_robin", 7200
    LATE_TABLES = (oracle.PANES, oracle.HOURLY, oracle.VISITS)

    @classmethod
    def consume(cls):
        done = harness.run_daemon(cls.dsn, cls.kafka.bootstrap, timeout=300, group="round-robin", **KEYS, **{
            "batch.max_records": 1000, "source.stop_when_caught_up": "true"})
        assert done.returncode == 0, done.stderr[-3000:]


class RandomThreeInstances(SharedWindowChecks, unittest.TestCase):
    """Unkeyed random partitions, 2 % of the events 90 min late (too late for some hours, within
    allowed lateness for the visits); three instances in one consumer group started together, one
    SIGKILLed once it has committed batches (its partitions move to the others after the session
    timeout); the others run until every offset is committed and stop on SIGTERM."""
    SEED, PARTITIONING, LATE_SECONDS = 13, "random", 5400
    LATE_TABLES = (oracle.PANES,)
    NAMES = ("r1", "r2", "r3")

    @classmethod
    def consume(cls):
        keys = {**KEYS, "batch.max_records": 300}
        procs, logs = {}, {}
        for name in cls.NAMES:
            logs[name] = os.path.join(cls.tmp, f"{name}.log")
            procs[name] = harness.start_daemon(cls.dsn, cls.kafka.bootstrap, logs[name], group="random", **keys, **{"instance.id": name})
            cls.addClassCleanup(lambda p=procs[name]: p.poll() is None and p.kill())
        victim = cls.NAMES[-1]

        def victim_committed():
            for name, proc in procs.items():
                assert proc.poll() is None, f"{name} exited early with {proc.returncode}: {log_tail(logs[name])}"
            return migrated(cls.dsn) and harness.scalar(cls.dsn, "SELECT count(*) FROM starstream.batch WHERE instance_id = %s AND records > 0",
                                                        (victim,)) >= 2

        harness.wait_for(victim_committed, 120, f"{victim}'s first committed batches", interval=0.02)
        procs[victim].send_signal(signal.SIGKILL)
        procs[victim].wait(timeout=30)
        cls.records_at_kill = harness.scalar(cls.dsn, "SELECT sum(records) FROM starstream.batch")

        def all_committed():
            for name in cls.NAMES[:-1]:
                assert procs[name].poll() is None, f"{name} exited early with {procs[name].returncode}: {log_tail(logs[name])}"
            return cls.committed()

        harness.wait_for(all_committed, 180, "every offset committed by the survivors", interval=0.5)
        for name in cls.NAMES[:-1]:
            procs[name].send_signal(signal.SIGTERM)
        for name in cls.NAMES[:-1]:
            code = procs[name].wait(timeout=60)
            assert code == 0, f"{name} stopped with {code}: {log_tail(logs[name])}"

    def test_the_kill_interrupted_the_stream_and_every_instance_worked(self):
        self.assertLess(self.records_at_kill, EVENTS, "the kill came after the end of the stream")
        rows = dict(harness.query(self.dsn, "SELECT instance_id, sum(records) FROM starstream.batch GROUP BY 1"))
        self.assertEqual(set(rows), set(self.NAMES))
        self.assertTrue(all(n > 0 for n in rows.values()), rows)


class Rebalance(SharedWindowChecks, unittest.TestCase):
    """No late events at all (disorder 60 s, allowed out-of-orderness 5 min): instance A works
    through a backlog in small batches, then B joins and takes partitions with backlog. Whatever
    the rebalance moves, no record may be judged late."""
    SEED, PARTITIONING, LATE_SHARE = 14, "round_robin", 0

    @classmethod
    def consume(cls):
        keys = {**KEYS, "batch.max_records": 100}
        logs = {name: os.path.join(cls.tmp, f"{name}.log") for name in ("A", "B")}
        a = harness.start_daemon(cls.dsn, cls.kafka.bootstrap, logs["A"], group="rebalance", **keys, **{"instance.id": "A"})
        cls.addClassCleanup(lambda: a.poll() is None and a.kill())

        def a_committed():
            assert a.poll() is None, f"A exited early with {a.returncode}: {log_tail(logs['A'])}"
            return migrated(cls.dsn) and harness.scalar(cls.dsn, "SELECT count(*) FROM starstream.batch WHERE records > 0") >= 5

        harness.wait_for(a_committed, 120, "A's first batches", interval=0.02)
        cls.records_before_b = harness.scalar(cls.dsn, "SELECT sum(records) FROM starstream.batch")
        b = harness.start_daemon(cls.dsn, cls.kafka.bootstrap, logs["B"], group="rebalance", **keys, **{"instance.id": "B"})
        cls.addClassCleanup(lambda: b.poll() is None and b.kill())

        def all_committed():
            for name, proc in (("A", a), ("B", b)):
                assert proc.poll() is None, f"{name} exited early with {proc.returncode}: {log_tail(logs[name])}"
            return cls.committed()

        harness.wait_for(all_committed, 180, "every offset committed", interval=0.5)
        for name, proc in (("A", a), ("B", b)):
            proc.send_signal(signal.SIGTERM)
        for name, proc in (("A", a), ("B", b)):
            code = proc.wait(timeout=60)
            assert code == 0, f"{name} stopped with {code}: {log_tail(logs[name])}"

    def test_b_took_partitions_with_backlog(self):
        self.assertLess(self.records_before_b, EVENTS)
        self.assertGreater(harness.scalar(self.dsn, "SELECT coalesce(sum(records), 0) FROM starstream.batch WHERE instance_id = 'B'"), 0,
                           "B joined after A had consumed everything: no partition moved with backlog")

    def test_nothing_is_late(self):
        self.assertEqual(oracle.generator_late(self.events, OUT_OF_ORDER_S), set(), "the generator made no late event")
        self.assertEqual(self.late_rows, [])
        self.assertEqual(harness.query(self.dsn, """SELECT coalesce(sum(late_dropped), 0), coalesce(sum(late_dead_lettered), 0),
                                                          coalesce(sum(late_corrected), 0) FROM starstream.batch"""), [(0, 0, 0)])


if __name__ == "__main__":
    unittest.main(verbosity=2)
