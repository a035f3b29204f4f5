"""The lab events of EVENTS.md section 3 through pipelines/lab_events.yaml, a spec written only in
YAML, against an oracle computed here from the generated messages; in the same daemons, on the
same consumer group, the compiled product_view pipeline on its own topic
(pipelines.run = product_view,lab_events, pipelines.compiled = product_view: a compiled and a
spec pipeline side by side): both exactly once.

The producer does what a lab's producer does: no key (messages spread round robin over 6
partitions), events out of order within each partition, some sent twice, and malformed ones
(a missing user, an unknown event type, a negative price, an unparsable timestamp, a price that
is no number, a line that is no JSON). Item prices change over time, so dim_lab_item (SCD type 2)
gets versions, and late events land inside older versions. The daemon is killed (SIGKILL) once
it has committed a few batches, then two instances finish the topic together, then one more run
confirms nothing is left. Checked against the oracle:
  - fact_lab_event: exactly the distinct valid events, every column;
  - dead letters: exactly the malformed messages (their bytes), each with a reason;
  - dim_lab_user: the distinct users; dim_date: every event date;
  - dim_lab_item: per item, versions that tile time from -infinity to infinity, each holding the
    price in force (the latest observation at or before it, ties to the greater price), and
    every fact pointing at the version in force at its event time;
  - win_lab_revenue_per_minute: per minute, the purchases' revenue, count and distinct buyers;
  - win_lab_activity_per_minute (tumbling), win_lab_types_per_10_minutes (hopping, per event
    type), win_lab_running_day (cumulative): avg with its sum and count, first and last with the
    chosen event's time (the generator makes events share a second, and the tests check that such
    ties between different values decide some windows: the least/greater value wins, as in
    session windows), any with its filter,
    every column exact (an avg to 1e-12 of the oracle's sum / count: PostgreSQL's numeric
    division rounds to at least 16 significant digits);
  - starstream.progress: every partition's next offset is its log end.
"""
import datetime
import json
import os
import subprocess
import sys
import tempfile
import unittest
from decimal import Decimal

import expectations as expect
import harness

sys.path.insert(0, os.path.join(harness.SOURCE_DIR, "tests", "support"))
import lab_events  # noqa: E402  (the generator, shared with bench/lab_events_benchmark.sh)

PARTITIONS = 6
EVENTS = 6000
# Out of order by up to two days and written weeks before the test runs: a watermark 40 days
# behind the latest event time keeps every record on time, so the windows are exact whatever the
# batch boundaries (lateness has its own tests: test_windows, test_shared_windows).
PRODUCT_VIEWS = 5000
KEYS = {"pipelines.run": "product_view,lab_events", "pipelines.compiled": "product_view", "batch.max_records": 300, "batch.trigger_interval_ms": 100,
        "time.allowed_out_of_orderness_ms": 40 * 86400 * 1000,
        "kafka.session.timeout.ms": 6000, "kafka.heartbeat.interval.ms": 1000}


def event_time(e):
    return datetime.datetime.fromisoformat(e["timestamp"]).astimezone(datetime.timezone.utc)


def item_versions(valid):
    """The brute force: per item, [(valid_from, valid_to, price)] from -infinity, the price in
    force being that of the latest observation at or before the time (ties: the greater price)."""
    observations = {}
    for e in valid.values():
        observations.setdefault(e["item_id"], []).append((event_time(e), Decimal(e["price"])))
    return expect.scd2_versions(observations)


def utc_time(seconds):
    """Unix seconds as an aware UTC datetime (what psycopg2 returns for timestamptz)."""
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)


def tumbling(size):
    return lambda t: [(t - t % size, t - t % size + size)]


def hopping(size, slide):
    return lambda t: [(s, s + size) for s in range(t - t % slide - size + slide, t - t % slide + 1, slide)]


def cumulative(size, step):
    def assign(t):
        start = t - t % size
        return [(start, end) for end in range(start + (t - start) // step * step + step, start + size + 1, step)]
    return assign


def windowed(events, assign, group=lambda e: ()):
    """The brute force of window assignment: {(start, end, *group): [events]} (seconds are the
    events' resolution), every event in each of its windows."""
    out = {}
    for e in events:
        for start, end in assign(int(event_time(e).timestamp())):
            out.setdefault((utc_time(start), utc_time(end), *group(e)), []).append(e)
    return out


def chosen(events, pick, value):
    """first (pick=min) or last (pick=max) by (event time, value), the value compared as its type
    (text by code point, which is byte order for these ASCII ids): (value, event time), both None
    without events. Every lab field is required: no value is None."""
    if not events:
        return (None, None)
    e = pick(events, key=lambda e: (event_time(e), value(e)))
    return (value(e), event_time(e))


def sum_and_count(events):
    """avg's state: (sum of the prices or None, count)."""
    prices = [Decimal(e["price"]) for e in events]
    return (sum(prices) if prices else None, len(prices))


def ties(windows, pick, value):
    """How many windows have their first (pick=min) or last (max) event time shared by events of
    different values: windows whose first (last) the value decides."""
    def decided_by_value(es):
        at = pick(event_time(e) for e in es)
        return len({value(e) for e in es if event_time(e) == at}) > 1
    return sum(1 for es in windows.values() if decided_by_value(es))


def price(e):
    return Decimal(e["price"])


def item(e):
    return e["item_id"]


def user(e):
    return e["user_id"]


def purchases(events):
    return [e for e in events if e["event_type"] == "purchase"]


class WindowChecks:
    """The tables of avg, first, last and any against the oracle over `events` (the events each table counted)."""

    def assert_averages(self, dsn, table, key_columns, averages, expected):
        """`averages`: avg columns; `expected`: {key: [(sum, count) per avg column]}."""
        rows = harness.query(dsn, f"SELECT {key_columns}, {', '.join(averages)} FROM {table}")
        stored = {tuple(r[:-len(averages)]): r[-len(averages):] for r in rows}
        self.assertEqual(set(stored), set(expected))
        for key, states in expected.items():
            for column, value, (total, n) in zip(averages, stored[key], states):
                if n == 0:
                    self.assertIsNone(value, (table, column, key))
                else:
                    self.assertLess(abs(value - total / n), Decimal("1e-12"), (table, column, key, value, total, n))

    def check_activity_per_minute(self, dsn, events):
        windows = windowed(events, tumbling(60))
        expected = {w: (len(es), *sum_and_count(es), *sum_and_count(purchases(es)), *chosen(es, min, item),
                        *chosen(es, max, item), *chosen(purchases(es), min, price),
                        any(e["event_type"] == "cart_add" for e in es))
                    for w, es in windows.items()}
        rows = harness.query(dsn, """
            SELECT window_start, window_end, events, avg_price_sum, avg_price_count, avg_purchase_price_sum, avg_purchase_price_count,
                   first_item, first_item_event_time, last_item, last_item_event_time,
                   first_purchase_price, first_purchase_price_event_time, cart_added
            FROM win_lab_activity_per_minute""")
        self.assertEqual({(r[0], r[1]): tuple(r[2:]) for r in rows}, expected)
        self.assert_averages(dsn, "win_lab_activity_per_minute", "window_start, window_end", ["avg_price", "avg_purchase_price"],
                             {w: [sum_and_count(es), sum_and_count(purchases(es))] for w, es in windows.items()})
        self.assertGreater(sum(1 for v in expected.values() if v[-1]), 0, "some minute has a cart_add")
        self.assertGreater(sum(1 for v in expected.values() if not v[-1]), 0, "some minute has none")
        return windows

    def check_types_per_10_minutes(self, dsn, events):
        windows = windowed(events, hopping(600, 300), lambda e: (e["event_type"],))
        expected = {w: (len(es), *sum_and_count(es), *chosen(es, min, user), *chosen(es, max, user))
                    for w, es in windows.items()}
        rows = harness.query(dsn, """
            SELECT window_start, window_end, event_type, events, avg_price_sum, avg_price_count,
                   first_user, first_user_event_time, last_user, last_user_event_time
            FROM win_lab_types_per_10_minutes""")
        self.assertEqual({tuple(r[:3]): tuple(r[3:]) for r in rows}, expected)
        self.assert_averages(dsn, "win_lab_types_per_10_minutes", "window_start, window_end, event_type", ["avg_price"],
                             {w: [sum_and_count(es)] for w, es in windows.items()})
        return windows


class LabEvents(WindowChecks, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="starstream-lab-")
        cls.pg = harness.Postgres()
        cls.addClassCleanup(cls.pg.stop)
        cls.kafka = harness.MockKafka(partitions=PARTITIONS, topics=("lab_events", "product_view"))
        cls.addClassCleanup(cls.kafka.stop)
        cls.product_views = os.path.join(cls.tmp, "product_view.jsonl")
        harness.generate(PRODUCT_VIEWS, cls.product_views, brokers=cls.kafka.bootstrap, partitioning="round_robin",
                         malformed_share=0.01, duplicate_share=0.01)
        cls.valid, cls.partitions, cls.broken = lab_events.generate(EVENTS, PARTITIONS)
        for p, path in enumerate(lab_events.write_partitions(cls.partitions, cls.tmp)):
            subprocess.run(["kcat", "-P", "-b", cls.kafka.bootstrap, "-t", "lab_events", "-p", str(p), "-l", path],
                           check=True, capture_output=True, timeout=120)
        cls.dsn = cls.pg.create_database("lab")
        cls.run_pipeline()

    @classmethod
    def run_pipeline(cls):
        cls.log = harness.crash_then_scale_out(cls.dsn, cls.kafka.bootstrap, os.path.join(cls.tmp, "first.log"), "lab", KEYS, 2, "lab-")

    def test_facts_are_exactly_the_distinct_valid_events(self):
        rows = harness.query(self.dsn, "SELECT event_id::text, event_type, price, timestamp, date_key FROM fact_lab_event")
        self.assertEqual(len(rows), len(self.valid))
        self.assertEqual({r[0] for r in rows}, set(self.valid))
        for event_id, event_type, price, ts, date_key in rows:
            e = self.valid[event_id]
            self.assertEqual((event_type, price, ts), (e["event_type"], Decimal(e["price"]), event_time(e)), event_id)
            self.assertEqual(date_key, int(event_time(e).strftime("%Y%m%d")), event_id)  # reporting time zone: UTC

    def test_malformed_messages_are_dead_letters_with_reasons(self):
        rows = harness.query(self.dsn, "SELECT payload, reason FROM starstream.dead_letter WHERE topic = 'lab_events'")
        self.assertEqual(sorted(bytes(p) for p, _ in rows), sorted(self.broken))
        self.assertTrue(all(reason for _, reason in rows))
        reasons = " ".join(r for _, r in rows)
        for words in ("user_id", "event_type", "price", "timestamp"):
            self.assertIn(words, reasons)

    def test_users_and_dates(self):
        users = {r[0] for r in harness.query(self.dsn, "SELECT user_id FROM dim_lab_user")}
        self.assertEqual(users, {e["user_id"] for e in self.valid.values()})
        keys = harness.query(self.dsn, "SELECT f.lab_user_key = u.lab_user_key FROM fact_lab_event f JOIN dim_lab_user u USING (lab_user_key)")
        self.assertEqual(len(keys), len(self.valid), "every fact finds its user")
        dates = {r[0] for r in harness.query(self.dsn, "SELECT date_key FROM dim_date")}
        self.assertTrue({int(event_time(e).strftime("%Y%m%d")) for e in self.valid.values()} <= dates)

    def test_item_price_versions_tile_time_and_facts_point_at_the_price_in_force(self):
        expected = item_versions(self.valid)
        rows = harness.query(self.dsn, "SELECT item_id, lab_item_key, CASE WHEN valid_from = '-infinity' THEN NULL ELSE valid_from END AS v_from,"
                                       " CASE WHEN valid_to = 'infinity' THEN NULL ELSE valid_to END AS v_to, price, is_current"
                                       " FROM dim_lab_item ORDER BY item_id, dim_lab_item.valid_from")
        stored = {}
        for item, key, start, end, price, current in rows:
            stored.setdefault(item, []).append((start, end, price))
            self.assertEqual(current, end is None, (item, key))
        for item in sorted(set(stored) | set(expected)):
            self.assertEqual(stored.get(item), expected.get(item), item)
        # Every fact points at the version in force at its event time, whose price is the fact's own.
        wrong = harness.query(self.dsn, """
            SELECT f.event_id FROM fact_lab_event f JOIN dim_lab_item d USING (lab_item_key)
            WHERE NOT (f.timestamp >= d.valid_from AND f.timestamp < d.valid_to) OR d.item_id IS NULL""")
        self.assertEqual(wrong, [])
        pointing = harness.scalar(self.dsn, "SELECT count(*) FROM fact_lab_event f JOIN dim_lab_item d USING (lab_item_key)")
        self.assertEqual(pointing, len(self.valid))
        for event_id, item, price in harness.query(
                self.dsn, "SELECT f.event_id::text, d.item_id, d.price FROM fact_lab_event f JOIN dim_lab_item d USING (lab_item_key)"):
            e = self.valid[event_id]
            self.assertEqual(item, e["item_id"])
            in_force = [p for s, t, p in expected[item] if (s is None or s <= event_time(e)) and (t is None or event_time(e) < t)]
            self.assertEqual([price], in_force, event_id)

    def test_product_view_in_the_same_daemons_exactly_once(self):
        events, malformed = expect.read_jsonl(self.product_views)
        ids = [r[0] for r in harness.query(self.dsn, "SELECT event_id::text FROM fact_event")]
        self.assertEqual(len(ids), len(set(ids)))
        self.assertEqual(set(ids), {e["id"].lower() for e in events})
        self.assertEqual(harness.scalar(self.dsn, "SELECT count(*) FROM starstream.dead_letter WHERE topic = 'product_view'"), len(malformed))
        consumed = harness.scalar(self.dsn, "SELECT sum(next_offset) FROM starstream.progress WHERE topic = 'product_view'")
        self.assertEqual(consumed, PRODUCT_VIEWS)

    def test_every_partition_committed_to_its_end(self):
        progress = dict(harness.query(self.dsn, "SELECT partition, next_offset FROM starstream.progress WHERE topic = 'lab_events'"))
        self.assertEqual(progress, {p: len(m) for p, m in enumerate(self.partitions)})

    def test_revenue_per_minute_counts_each_purchase_once(self):
        expected = {}
        for e in self.valid.values():
            if e["event_type"] != "purchase":
                continue
            t = event_time(e)
            minute = t.replace(second=0, microsecond=0)
            revenue, purchases, buyers = expected.get(minute, (Decimal(0), 0, set()))
            expected[minute] = (revenue + Decimal(e["price"]), purchases + 1, buyers | {e["user_id"]})
        rows = harness.query(self.dsn, "SELECT window_start, window_end, revenue, purchases, buyers FROM win_lab_revenue_per_minute")
        self.assertEqual({start: (revenue, purchases, buyers) for start, _, revenue, purchases, buyers in rows},
                         {m: (r, p, len(b)) for m, (r, p, b) in expected.items()})
        self.assertTrue(all(end - start == datetime.timedelta(minutes=1) for start, end, *_ in rows))
        self.assertEqual(harness.scalar(self.dsn, "SELECT count(*) FROM starstream.late_event"), 0)

    def test_activity_per_minute_avg_first_last_any(self):
        windows = self.check_activity_per_minute(self.dsn, self.valid.values())
        # The data must decide some first and some last by the value (a tie in event time).
        self.assertGreater(ties(windows, min, item), 0)
        self.assertGreater(ties(windows, max, item), 0)

    def test_event_types_per_hopping_10_minutes(self):
        windows = self.check_types_per_10_minutes(self.dsn, self.valid.values())
        self.assertGreater(ties(windows, min, user), 0)
        self.assertGreater(ties(windows, max, user), 0)

    def test_running_day_cumulative(self):
        windows = windowed(self.valid.values(), cumulative(86400, 6 * 3600))
        expected = {w: (*chosen(es, min, item), *chosen(es, max, price), any(e["event_type"] == "purchase" for e in es),
                        len({e["user_id"] for e in purchases(es)}))
                    for w, es in windows.items()}
        rows = harness.query(self.dsn, """
            SELECT window_start, window_end, first_item, first_item_event_time, last_price, last_price_event_time, purchased, buyers
            FROM win_lab_running_day""")
        self.assertEqual({(r[0], r[1]): tuple(r[2:]) for r in rows}, expected)


class LabEventsLateness(WindowChecks, unittest.TestCase):
    """The same lab events with the default watermark (5 minutes behind the latest event time)
    and the revenue table's late policy dead_letter: shuffled over two days, most purchases
    arrive behind the watermark. Whatever the batch boundaries decide, every distinct purchase
    is either counted in its minute or listed in starstream.late_event, never both, never
    neither; the same for every event in the tables of avg, first, last and any, whose values
    are those of the events not listed: win_lab_types_per_10_minutes is dead_letter here too,
    win_lab_activity_per_minute keeps its policy correct (1 h of allowed lateness), so that late
    records within it are corrections merged into their minute (a tumbling window: a correction
    reaches its one window), the others listed."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="starstream-lab-late-")
        cls.pg = harness.Postgres()
        cls.addClassCleanup(cls.pg.stop)
        cls.kafka = harness.MockKafka(partitions=PARTITIONS, topics=("lab_events",))
        cls.addClassCleanup(cls.kafka.stop)
        cls.valid, partitions, _ = lab_events.generate(EVENTS, PARTITIONS, seed=11)
        cls.partitions = partitions
        for p, path in enumerate(lab_events.write_partitions(partitions, cls.tmp)):
            subprocess.run(["kcat", "-P", "-b", cls.kafka.bootstrap, "-t", "lab_events", "-p", str(p), "-l", path],
                           check=True, capture_output=True, timeout=120)
        specs = os.path.join(cls.tmp, "pipelines")
        os.makedirs(specs)
        with open(os.path.join(harness.SOURCE_DIR, "pipelines", "lab_events.yaml")) as f:
            text = f.read()
        with open(os.path.join(specs, "lab_events.yaml"), "w") as f:
            f.write(text.replace("late: {policy: correct, allowed_lateness: 10m}", "late: {policy: dead_letter}"))
        cls.dsn = cls.pg.create_database("late")
        out = harness.run_daemon(cls.dsn, cls.kafka.bootstrap, group="late", **{
            "pipelines.run": "lab_events", "pipelines.dir": specs, "batch.max_records": 300, "batch.trigger_interval_ms": 100,
            "source.stop_when_caught_up": "true"})
        assert out.returncode == 0, out.stderr[-3000:]

    def test_every_purchase_is_counted_or_listed_late_exactly_once(self):
        purchases = {e["event_id"]: e for e in self.valid.values() if e["event_type"] == "purchase"}
        late_rows = harness.query(self.dsn, "SELECT kafka_partition, kafka_offset FROM starstream.late_event WHERE operator = 'win_lab_revenue_per_minute'")
        self.assertEqual(len(late_rows), len(set(late_rows)), "a record listed late twice")
        # A message's offset is its place in its partition's file: the late ones, by event id.
        late = {json.loads(self.partitions[p][o])["event_id"] for p, o in late_rows}
        self.assertEqual(len(late), len(late_rows), "two listings of one event (a duplicate message counted)")
        self.assertTrue(late <= set(purchases), "only purchases pass the table's filter")
        self.assertGreater(len(late), 0, "the shuffled purchases must include late ones")
        expected = {}
        for event_id, e in purchases.items():
            if event_id in late:
                continue
            minute = event_time(e).replace(second=0, microsecond=0)
            revenue, count, buyers = expected.get(minute, (Decimal(0), 0, set()))
            expected[minute] = (revenue + Decimal(e["price"]), count + 1, buyers | {e["user_id"]})
        self.assertGreater(len(expected), 0)
        rows = harness.query(self.dsn, "SELECT window_start, revenue, purchases, buyers FROM win_lab_revenue_per_minute")
        self.assertEqual({start: (revenue, count, buyers) for start, revenue, count, buyers in rows},
                         {m: (r, c, len(b)) for m, (r, c, b) in expected.items()})

    def late_events(self, table):
        """The event ids `table` listed in starstream.late_event (each listed once)."""
        rows = harness.query(self.dsn, "SELECT kafka_partition, kafka_offset FROM starstream.late_event WHERE operator = %s", (table,))
        late = {json.loads(self.partitions[p][o])["event_id"] for p, o in rows}
        self.assertEqual(len(late), len(rows), f"{table}: an event listed late twice")
        return late

    def test_distinct_members_are_kept_only_while_their_window_can_change(self):
        """A window's distinct members (spec_window_writer.h step 5) are what a later record of
        the window is compared with; once the watermark passes its end (dead_letter: no record
        reaches it any more) they are deleted, its count staying in its row. Brute force: the
        members of every purchase not listed late, per window."""
        watermark = harness.scalar(self.dsn, "SELECT watermark FROM starstream.pipeline_watermark WHERE pipeline = 'lab_events'")
        self.assertIsNotNone(watermark)
        for table, assign, stored in (
                ("win_lab_revenue_per_minute", tumbling(60), "SELECT window_start, window_start + interval '1 minute', member"),
                ("win_lab_running_day", cumulative(86400, 6 * 3600), "SELECT window_start, window_end, member")):
            with self.subTest(table=table):
                late = self.late_events(table)
                counted = purchases(e for i, e in self.valid.items() if i not in late)
                want = {(start, end, e["user_id"]) for (start, end), es in windowed(counted, assign).items() for e in es}
                got = set(harness.query(self.dsn, f"{stored} FROM {table}_buyers_members"))
                self.assertLessEqual(got, want, "a member no counted purchase has")
                deleted = want - got
                self.assertGreater(len(deleted), 0, "the watermark passed most windows: their members go")
                self.assertLessEqual(max(end for _, end, _ in deleted), watermark, "only members of final windows go")
                if got:
                    self.assertLess(max(end for _, end, _ in deleted), min(end for _, end, _ in got), "a final window keeps members")
        self.assertGreater(harness.scalar(self.dsn, "SELECT count(*) FROM win_lab_running_day_buyers_members"), 0,
                           "the day still open keeps its members")

    def test_avg_first_last_any_count_only_the_events_not_listed_late(self):
        for table, check in (("win_lab_activity_per_minute", self.check_activity_per_minute),
                             ("win_lab_types_per_10_minutes", self.check_types_per_10_minutes)):
            with self.subTest(table=table):
                late = self.late_events(table)
                self.assertGreater(len(late), 0)
                check(self.dsn, [e for i, e in self.valid.items() if i not in late])
        # Only win_lab_activity_per_minute corrects: its late records within allowed lateness.
        self.assertGreater(harness.scalar(self.dsn, "SELECT sum(late_corrected) FROM starstream.batch"), 0)


if __name__ == "__main__":
    unittest.main()
