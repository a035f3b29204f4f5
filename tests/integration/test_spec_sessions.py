"""Session windows of a spec pipeline (daemon/sink/postgres/spec_session_writer.h) against a brute
force computed here from the generated events: each user's events sorted by time, a new session
wherever an event is not within the gap of the one before.

The spec (written into a temporary pipelines.dir) reads the lab events of EVENTS.md section 3
(tests/support/lab_events.py) whose timing is shaped as sessions: per user, bursts separated by
pauses just under, exactly at, just over and far beyond the 30-minute gap, and events sharing a
second (first/last tie-breaks). Its two session tables: per user, and per user and event type
(a group key). The producer is hostile: no key (round robin over 6 partitions, so a user's
session is assembled from every partition), events shuffled over hours, some sent twice,
malformed ones; the daemon is killed (SIGKILL) after a few batches, then two instances finish
together, then one more run finds nothing left. Every session row must equal the brute force's:
bounds, last event time, count, count with a filter, sum, min, max, avg (and its state),
first/last (with and without a filter) and any.

LateBridge: a late record (policy correct) that bridges two sessions already written merges them
into one row; one later than allowed lateness is a late dead letter and changes nothing.
"""
import datetime
import json
import os
import subprocess
import sys
import tempfile
import unittest
from decimal import ROUND_HALF_UP, Decimal

import harness

sys.path.insert(0, os.path.join(harness.SOURCE_DIR, "tests", "support"))
import lab_events  # noqa: E402

PARTITIONS = 6
EVENTS = 6000
GAP = datetime.timedelta(minutes=30)

FIELDS = """
fields:
  event_id:   {pointer: /event_id, type: uuid, required: true}
  event_type: {pointer: /event_type, type: text, required: true, one_of: [view, click, purchase, cart_add]}
  user_id:    {pointer: /user_id, type: text, required: true, pattern: "user_[0-9]+", max_length: 64}
  item_id:    {pointer: /item_id, type: text, required: true, pattern: "item_[0-9]+", max_length: 64}
  price:      {pointer: /price, type: numeric, required: true, range: [0, 1000000]}
  timestamp:  {pointer: /timestamp, type: timestamp, required: true, format: iso8601}

event: {id: event_id, time: timestamp}

facts:
  fact_lab_visit_event: {grain: event, columns: [event_id, event_type, user_id, item_id, price, timestamp]}
"""

SPEC = """pipeline: lab_sessions
source: {topics: [lab_events], format: json}
""" + FIELDS + """
windows:
  win_lab_visits:
    session: {gap: 30m, key: user_id}
    bounds: [visit_start, visit_end]
    aggregates:
      events: count
      purchases: {function: count, where: {event_type: purchase}}
      revenue: {function: sum, of: price, where: {event_type: purchase}}
      cheapest: min(price)
      dearest: max(price)
      mean_price: avg(price)
      first_item: first(item_id)
      last_item: last(item_id)
      first_bought: {function: first, of: item_id, where: {event_type: purchase}}
      last_clicked: {function: last, of: item_id, where: {event_type: click}}
      bought: {function: any, where: {event_type: purchase}}
      clicked_item_7: {function: any, where: {event_type: click, item_id: item_7}}
    late: {policy: correct, allowed_lateness: 1d}
  win_lab_visits_by_type:
    session: {gap: 30m, key: user_id}
    group_by: [event_type]
    aggregates: {events: count, spent: sum(price), first_item: first(item_id), last_item: last(item_id)}
  win_lab_visits_by_type_copied:   # no sum: its new sessions are copied straight in (SpecSessionWriter::copies_new_sessions)
    session: {gap: 30m, key: user_id}
    group_by: [event_type]
    aggregates: {events: count, first_item: first(item_id), last_item: last(item_id)}
"""

KEYS = {"pipelines.run": "lab_sessions", "batch.max_records": 300, "batch.trigger_interval_ms": 100,
        # Shuffled over the whole span: a watermark 40 days behind the latest event keeps every
        # record on time, so that every session is exact whatever the batch boundaries (the late
        # paths have LateBridge below).
        "time.allowed_out_of_orderness_ms": 40 * 86400 * 1000,
        "kafka.session.timeout.ms": 6000, "kafka.heartbeat.interval.ms": 1000}


def event_time(e):
    return datetime.datetime.fromisoformat(e["timestamp"]).astimezone(datetime.timezone.utc)


def sessionize(events, key):
    """The brute force: {key(e): [[events of one session], ...]}, each key's events sorted by time,
    a new session wherever an event is `GAP` or more after the previous one."""
    by_key = {}
    for e in events:
        by_key.setdefault(key(e), []).append(e)
    out = {}
    for k, es in by_key.items():
        es.sort(key=event_time)
        sessions = []
        for e in es:
            if sessions and event_time(e) - event_time(sessions[-1][-1]) < GAP:
                sessions[-1].append(e)
            else:
                sessions.append([e])
        out[k] = sessions
    return out


def first(session, passes=lambda e: True):
    """item_id of the earliest passing event; among those at that time the least (bytewise)."""
    chosen = [e for e in session if passes(e)]
    if not chosen:
        return None, None
    t = min(event_time(e) for e in chosen)
    return min(e["item_id"] for e in chosen if event_time(e) == t), t


def last(session, passes=lambda e: True):
    chosen = [e for e in session if passes(e)]
    if not chosen:
        return None, None
    t = max(event_time(e) for e in chosen)
    return max(e["item_id"] for e in chosen if event_time(e) == t), t


def visit_row(user, s):
    start, end = event_time(s[0]), event_time(s[-1])
    purchases = [e for e in s if e["event_type"] == "purchase"]
    prices = [Decimal(e["price"]) for e in s]
    first_bought, first_bought_event_time = first(s, lambda e: e["event_type"] == "purchase")
    last_clicked, last_clicked_event_time = last(s, lambda e: e["event_type"] == "click")
    return (user, start, end + GAP, end, len(s), len(purchases),
            sum((Decimal(e["price"]) for e in purchases), Decimal(0)) if purchases else None, min(prices), max(prices),
            (sum(prices) / len(prices)).quantize(Decimal("0.000001"), ROUND_HALF_UP), sum(prices), len(prices), first(s)[0], last(s)[0], first_bought, first_bought_event_time, last_clicked, last_clicked_event_time, bool(purchases),
            any(e["event_type"] == "click" and e["item_id"] == "item_7" for e in s))


VISIT_COLUMNS = ("user_id, visit_start, visit_end, last_event_time, events, purchases, revenue, cheapest, dearest, round(mean_price, 6), mean_price_sum, mean_price_count,"
                 " first_item, last_item,"
                 " first_bought, first_bought_event_time, last_clicked, last_clicked_event_time, bought, clicked_item_7")


def expected_visits(events):
    return sorted(visit_row(user, s) for user, sessions in sessionize(events, lambda e: e["user_id"]).items() for s in sessions)


def stored_visits(dsn):
    return sorted(harness.query(dsn, f"SELECT {VISIT_COLUMNS} FROM win_lab_visits"))


def write_spec(folder, text):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "lab_sessions.yaml"), "w") as f:
        f.write(text)
    return folder


class SpecSessions(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="starstream-sessions-")
        cls.pg = harness.Postgres()
        cls.addClassCleanup(cls.pg.stop)
        cls.kafka = harness.MockKafka(partitions=PARTITIONS, topics=("lab_events",))
        cls.addClassCleanup(cls.kafka.stop)
        cls.valid, cls.partitions, _ = lab_events.generate(EVENTS, PARTITIONS, seed=23, session_gap=int(GAP.total_seconds()))
        for p, path in enumerate(lab_events.write_partitions(cls.partitions, cls.tmp)):
            subprocess.run(["kcat", "-P", "-b", cls.kafka.bootstrap, "-t", "lab_events", "-p", str(p), "-l", path],
                           check=True, capture_output=True, timeout=120)
        cls.keys = {**KEYS, "pipelines.dir": write_spec(os.path.join(cls.tmp, "pipelines"), SPEC)}
        cls.dsn = cls.pg.create_database("sessions")
        cls.run_pipeline()

    @classmethod
    def run_pipeline(cls):
        def count_facts():
            cls.killed_after = harness.scalar(cls.dsn, "SELECT count(*) FROM fact_lab_visit_event")
        harness.crash_then_scale_out(cls.dsn, cls.kafka.bootstrap, os.path.join(cls.tmp, "first.log"), "sessions", cls.keys, 2, "s-",
                                     on_crash=count_facts)

    def test_the_run_was_interrupted_midway(self):
        self.assertGreater(self.killed_after, 0)
        self.assertLess(self.killed_after, len(self.valid))
        self.assertEqual(harness.scalar(self.dsn, "SELECT count(*) FROM fact_lab_visit_event"), len(self.valid))

    def test_generated_timing_reaches_the_edges_of_the_gap(self):
        """The oracle's input has what makes sessions hard: pauses of exactly the gap and just
        under it, and events sharing their first or last second with another of its session."""
        pauses = set()
        for sessions in sessionize(self.valid.values(), lambda e: e["user_id"]).values():
            for before, after in zip(sessions, sessions[1:]):
                pauses.add(event_time(after[0]) - event_time(before[-1]))
            for s in sessions:
                pauses.update(event_time(b) - event_time(a) for a, b in zip(s, s[1:]))
        self.assertIn(GAP, pauses)
        self.assertIn(GAP - datetime.timedelta(seconds=1), pauses)
        self.assertIn(datetime.timedelta(0), pauses)

    def test_every_session_equals_the_brute_force(self):
        expected = expected_visits(self.valid.values())
        stored = stored_visits(self.dsn)
        self.assertGreater(len(expected), 2 * lab_events.USERS)
        self.assertEqual(len(stored), len(expected))
        for got, want in zip(stored, expected):
            self.assertEqual(got, want)

    def expected_group_sessions(self):
        expected = []
        for (user, event_type), sessions in sessionize(self.valid.values(), lambda e: (e["user_id"], e["event_type"])).items():
            for s in sessions:
                start, end = event_time(s[0]), event_time(s[-1])
                expected.append((user, event_type, start, end + GAP, end, len(s), sum(Decimal(e["price"]) for e in s), first(s)[0], last(s)[0]))
        return sorted(expected)

    def test_sessions_per_group_equal_the_brute_force(self):
        stored = harness.query(self.dsn, "SELECT user_id, event_type, window_start, window_end, last_event_time, events, spent, first_item, last_item"
                               " FROM win_lab_visits_by_type")
        self.assertEqual(sorted(stored), self.expected_group_sessions())

    def test_sessions_copied_straight_in_equal_the_brute_force(self):
        """The same sessions in a table whose new sessions the daemon copies in rather than merges."""
        stored = harness.query(self.dsn, "SELECT user_id, event_type, window_start, window_end, last_event_time, events, first_item, last_item"
                               " FROM win_lab_visits_by_type_copied")
        self.assertEqual(sorted(stored), [row[:6] + row[7:] for row in self.expected_group_sessions()])

    def test_nothing_was_late(self):
        self.assertEqual(harness.scalar(self.dsn, "SELECT count(*) FROM starstream.late_event"), 0)

    def test_session_table_made_by_the_generated_migration(self):
        pkey = harness.scalar(self.dsn, """
            SELECT string_agg(a.attname, ', ' ORDER BY k.ord) FROM pg_index i
            CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
            JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
            WHERE i.indrelid = 'win_lab_visits_by_type'::regclass AND i.indisprimary""")
        self.assertEqual(pkey, "user_id, event_type, window_start")
        targets = {r[0] for r in harness.query(self.dsn, "SELECT target FROM starstream.spec_migration")}
        self.assertIn("win_lab_visits", targets)


class LateBridge(unittest.TestCase):
    """One partition, the default watermark (5 minutes behind the latest event time), policy
    correct with allowed lateness 3 h (win_lab_visits; win_lab_visits_by_type drops late
    records). Written first: user_1's sessions [10:00, 10:10] and [10:50, 11:00] (a 40-minute
    pause: two sessions) and user_2's events; then, in a run of its own (so that no earlier
    record can be behind it), one at 14:00 that takes the watermark to 13:55. Then, late: user_1
    at 10:30, within the gap of both sessions (a correction: 10:30 + 30 min + 3 h is after
    13:55), which merges them into one row; user_2 at 08:00, too late (08:00 + 30 min + 3 h is
    before the watermark), a late dead letter."""

    T0 = datetime.datetime(2026, 11, 2, 10, 0, tzinfo=datetime.timezone.utc)

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="starstream-sessions-late-")
        cls.pg = harness.Postgres()
        cls.addClassCleanup(cls.pg.stop)
        cls.kafka = harness.MockKafka(partitions=1, topics=("lab_events",))
        cls.addClassCleanup(cls.kafka.stop)
        folder = write_spec(os.path.join(cls.tmp, "pipelines"), SPEC.replace("allowed_lateness: 1d", "allowed_lateness: 3h"))
        cls.keys = {"pipelines.run": "lab_sessions", "pipelines.dir": folder, "source.stop_when_caught_up": "true",
                    "kafka.session.timeout.ms": 6000, "kafka.heartbeat.interval.ms": 1000}
        cls.dsn = cls.pg.create_database("late")
        cls.sent = []

    def event(self, n, user, minutes, event_type="view", item="item_1", price="10.00"):
        return {"event_id": f"00000000-0000-4000-8000-{n:012d}", "event_type": event_type, "user_id": user, "item_id": item, "price": price,
                "timestamp": (self.T0 + datetime.timedelta(minutes=minutes)).isoformat()}

    def send_and_run(self, events):
        path = os.path.join(self.tmp, f"batch{len(self.sent)}.jsonl")
        with open(path, "w") as f:
            f.write("".join(json.dumps(e) + "\n" for e in events))
        subprocess.run(["kcat", "-P", "-b", self.kafka.bootstrap, "-t", "lab_events", "-p", "0", "-l", path], check=True, capture_output=True, timeout=60)
        self.sent += events
        out = harness.run_daemon(self.dsn, self.kafka.bootstrap, group="late", **self.keys)
        self.assertEqual(out.returncode, 0, out.stderr[-3000:])

    def test_a_correction_bridging_two_written_sessions_merges_them(self):
        early = [self.event(1, "user_1", 0, "click", "item_7"), self.event(2, "user_1", 10, "purchase", "item_3", "25.50"),
                 self.event(3, "user_1", 50, "view", "item_9"), self.event(4, "user_1", 60, "purchase", "item_2", "4.50"),
                 self.event(5, "user_2", 0), self.event(6, "user_2", 20, "click", "item_4")]
        self.send_and_run(early)
        self.send_and_run([self.event(7, "user_3", 240)])
        before = harness.query(self.dsn, "SELECT visit_start, visit_end, events FROM win_lab_visits WHERE user_id = 'user_1' ORDER BY visit_start")
        self.assertEqual(before, [(self.T0, self.T0 + datetime.timedelta(minutes=40), 2),
                                  (self.T0 + datetime.timedelta(minutes=50), self.T0 + datetime.timedelta(minutes=90), 2)])
        watermark = harness.scalar(self.dsn, "SELECT min(watermark) FROM starstream.progress WHERE topic = 'lab_events'")
        self.assertEqual(watermark, self.T0 + datetime.timedelta(minutes=235))

        bridge, too_late = self.event(8, "user_1", 30, "click", "item_8"), self.event(9, "user_2", -120)
        self.send_and_run([bridge, too_late])
        self.assertEqual(stored_visits(self.dsn), expected_visits([e for e in self.sent if e is not too_late]))
        merged = harness.query(self.dsn, "SELECT visit_start, visit_end, events, last_clicked FROM win_lab_visits WHERE user_id = 'user_1'")
        self.assertEqual(merged, [(self.T0, self.T0 + datetime.timedelta(minutes=90), 5, "item_8")])
        late = harness.query(self.dsn, "SELECT operator, kafka_offset, event_time FROM starstream.late_event")
        self.assertEqual(late, [("win_lab_visits", len(self.sent) - 1, self.T0 - datetime.timedelta(minutes=120))])
        # The table whose policy is drop counted neither late record: user_1's clicks stay two sessions.
        clicks = harness.query(self.dsn, "SELECT window_start, events FROM win_lab_visits_by_type"
                                         " WHERE user_id = 'user_1' AND event_type = 'click' ORDER BY window_start")
        self.assertEqual(clicks, [(self.T0, 1)])


if __name__ == "__main__":
    unittest.main()
