"""The windowed tables on a real PostgreSQL and the mock Kafka (issues 4 and 13).

WindowedTables: 20,000 generated events with disorder and 2 % late events through starstreamd,
then a second run with views injected three hours behind the window watermark (certainly late,
beyond allowed lateness). Oracle: a brute force over the JSONL, minus, per table, the events
starstream.late_event lists for it; and late_event itself is checked against the rules: every
injected view is listed for every table, nothing else is listed for the tables whose policy is
correct (the generator's late events are within allowed lateness), and every listed event was
below the watermark it was judged against.

IdlePartition: a partition goes quiet while the others move on: no window past its watermark is
final, none of its later records is late; once everything is caught up and quiet, the final
windows are written within the idle timeout.

CellDeletedByHand: an hourly cell deleted by hand, its visitors left in the member table: the
next views of that cell (the copy of new cells meets the stored visitors) are counted as a brute
force over the views since the deletion counts them, visitors included, and the pipeline goes on.
Both pipelines copy new cells straight in: the compiled one (window_writer.cpp) and the spec's
(spec_window_cells.h), so integration.compiled.windows runs it too."""
import json
import os
import time
import unittest
import uuid

import expectations as expect
import harness
import window_oracle as oracle
from kafka import KafkaProducer

EVENTS = 20_000
START = 1588500000  # 2020-05-03 10:00 UTC
HOUR, GAP = 3600, 1800
INJECTED = 12


def ts(value):
    """A timestamptz from psycopg2 as Unix seconds."""
    return int(value.timestamp())


def window_watermark(dsn):
    """The window watermark (Unix seconds): lateness and finality are judged against it."""
    return harness.scalar(dsn, "SELECT extract(epoch FROM watermark) FROM starstream.window_watermark")


def late_listed(dsn, operator):
    """Event ids starstream.late_event lists for the windowed table `operator`."""
    return {str(i) for (i,) in harness.query(dsn, """
        SELECT f.event_id FROM starstream.late_event l
        JOIN fact_event f ON (f.kafka_topic, f.kafka_partition, f.kafka_offset) = (l.kafka_topic, l.kafka_partition, l.kafka_offset)
        WHERE l.operator = %s""", (operator,))}


class WindowedTables(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.local_stack(cls, "starstream-windows-", 8, EVENTS, start_time=START, span_seconds=5 * HOUR,
                            out_of_order_seconds=60, late_share=0.02, late_seconds=900)
        cls.dsn = cls.pg.create_database("windows")
        keys = {"source.stop_when_caught_up": "true", "time.allowed_out_of_orderness_ms": 120000, "batch.max_records": 2000}
        first = harness.run_daemon(cls.dsn, cls.kafka.bootstrap, **keys)
        cls.events, _ = expect.read_jsonl(cls.jsonl)
        cls.injected = cls.inject_late_views()
        cls.daemon = harness.run_daemon(cls.dsn, cls.kafka.bootstrap, **keys)
        cls.first_returncode, cls.first_stderr = first.returncode, first.stderr
        cls.events += cls.injected

    @classmethod
    def inject_late_views(cls):
        """Copies of views from the first hour, new ids, produced after the first run: far below its watermark."""
        watermark = window_watermark(cls.dsn)
        views = [e for e in cls.events if e["collection"] == "view_product_detail" and e.get("product_id")][:INJECTED]
        producer = KafkaProducer(bootstrap_servers=cls.kafka.bootstrap)
        injected = []
        for i, e in enumerate(views):
            late = dict(e, id=str(uuid.UUID(int=i + 1)), time_stamp=int(watermark) - 3 * HOUR - i)
            producer.send("product_view", json.dumps(late).encode(), partition=i % 8)
            injected.append(late)
        producer.flush()
        producer.close()
        return injected

    def counted(self, operator):
        """The events a table counts: every event but those late_event lists for it."""
        return oracle.without(self.events, late_listed(self.dsn, operator))

    def test_daemon_exits_cleanly(self):
        self.assertEqual(self.first_returncode, 0, self.first_stderr[-3000:])
        self.assertEqual(self.daemon.returncode, 0, self.daemon.stderr[-3000:])

    def test_late_events_follow_the_policies(self):
        injected = {e["id"] for e in self.injected}
        # correct (hourly, visits): only what is beyond allowed lateness, i.e. the injected views.
        self.assertEqual(late_listed(self.dsn, "win_hourly_product_views"), injected)
        self.assertEqual(late_listed(self.dsn, "win_visits"), injected)
        # dead-letter (panes): the injected views and some of the generator's late ones.
        panes = late_listed(self.dsn, "win_product_view_panes")
        self.assertTrue(injected < panes, "the generator's 2 % late views: some arrive below the watermark")
        for lateness, recorded in harness.query(self.dsn, """
                SELECT extract(epoch FROM watermark - event_time) * 1000, lateness_ms FROM starstream.late_event"""):
            self.assertEqual(int(lateness), recorded)
            self.assertGreater(recorded, 0)
        # Never silent: the batches count them by policy, the table lists them.
        self.assertEqual(harness.scalar(self.dsn, "SELECT sum(late_dead_lettered) FROM starstream.batch"),
                         harness.scalar(self.dsn, "SELECT count(*) FROM starstream.late_event"))
        self.assertGreater(harness.scalar(self.dsn, "SELECT sum(late_corrected) FROM starstream.batch"), 0)

    def test_hourly_product_views_count_every_view_not_listed_late(self):
        watermark = window_watermark(self.dsn)
        got = {(ts(start), p, s, c): (views, visitors, final) for start, p, s, c, views, visitors, final in harness.query(self.dsn, """
            SELECT h.window_start, p.product_id, s.store_id, l.country_code, h.views, h.visitors, h.is_final
            FROM hourly_product_views h JOIN dim_product p USING (product_key) JOIN dim_store s USING (store_key)
            JOIN dim_location l USING (location_key)""")}
        want = {cell: (views, visitors, cell[0] + HOUR <= watermark)
                for cell, (views, visitors) in oracle.hourly(self.counted("win_hourly_product_views")).items()}
        self.assertEqual(got, want)

    def test_visits_are_sessions_of_every_event_per_device(self):
        got = {(d, ts(start)): (ts(end), ts(last), n, pv, first, last_url, checkout)
               for d, start, end, last, n, pv, first, last_url, checkout in harness.query(self.dsn, """
               SELECT device_id, visit_start, visit_end, last_event_time, events, product_views, first_url, last_url, reached_checkout
               FROM win_visits""")}
        self.assertEqual(got, oracle.visits(self.counted("win_visits"), GAP))

    def test_trending_windows_count_every_view_not_listed_late(self):
        watermark = window_watermark(self.dsn)
        table = {(ts(s), p): n for s, p, n in harness.query(self.dsn, """
            SELECT t.window_start, p.product_id, t.views FROM trending_products t JOIN dim_product p USING (product_key)""")}
        self.assertEqual(table, oracle.trending(self.counted("win_product_view_panes"), watermark))
        self.assertFalse([k for k in table if k[0] + HOUR > watermark], "only final windows trend")


class HandProducedViews(unittest.TestCase):
    """A running starstreamd (trigger 200 ms, out-of-orderness 60 s, idle timeout IDLE_MS) fed
    product detail views one by one; its log in cls.log."""
    NAME, PARTITIONS, IDLE_MS = "views", 4, 20000

    @classmethod
    def setUpClass(cls):
        harness.local_stack(cls, f"starstream-{cls.NAME}-", cls.PARTITIONS)
        cls.dsn = cls.pg.create_database(cls.NAME)
        cls.log = os.path.join(cls.tmp, "starstreamd.log")
        cls.daemon = harness.start_daemon(cls.dsn, cls.kafka.bootstrap, cls.log, **{
            "time.allowed_out_of_orderness_ms": 60000, "time.idle_timeout_ms": cls.IDLE_MS, "batch.trigger_interval_ms": 200})
        cls.addClassCleanup(cls.daemon.kill)
        # The tests read the tables from their first step: they exist once the daemon consumes
        # (it migrates the schema first).
        harness.wait_for(lambda: harness.log_contains(cls.log, "kafka assigned"), 60, "the daemon's partition assignment")
        cls.producer = KafkaProducer(bootstrap_servers=cls.kafka.bootstrap)
        cls.addClassCleanup(cls.producer.close)
        cls.sequence = 0

    def produce_views(self, partition, views):
        """`views`: (product id, device id, event time in Unix seconds), in store 6, from one IP."""
        for product, device, t in views:
            self.sequence += 1
            event = {"id": f"00000000-0000-4000-8000-{self.sequence:012d}", "time_stamp": t, "store_id": "6",
                     "collection": "view_product_detail", "product_id": product, "device_id": device,
                     "current_url": f"https://www.shop.de/p-{product}.html", "ip": "93.184.216.34"}
            self.producer.send("product_view", json.dumps(event).encode(), partition=partition)
        self.producer.flush()


class IdlePartition(HandProducedViews):
    NAME = "idle"

    def produce(self, partition, times):
        self.produce_views(partition, [(str(100 + partition), f"device-{partition}", t) for t in times])

    def facts(self):
        return harness.scalar(self.dsn, "SELECT count(*) FROM fact_event")

    def test_quiet_partition(self):
        t0 = START
        for p in range(4):
            self.produce(p, range(t0, t0 + 600, 30))  # 10 minutes on every partition
        harness.wait_for(lambda: self.facts() == 80, 30, "the first 80 events")
        quiet_since = time.monotonic()
        # Partition 0 goes quiet while 1-3 move two hours on.
        for p in (1, 2, 3):
            self.produce(p, range(t0 + 600, t0 + 2 * HOUR, 30))
        harness.wait_for(lambda: self.facts() == 80 + 3 * 220, 30, "the others' events")
        # Partition 0 (caught up, quiet for less than the idle timeout) still holds the watermark:
        # its last event (t0 + 570 s) minus 60 s. No trending window ending later is final.
        self.assertLess(time.monotonic() - quiet_since, self.IDLE_MS / 1000, "the test must check before partition 0 turns idle")
        early = harness.scalar(self.dsn, "SELECT count(*) FROM trending_products WHERE window_end > to_timestamp(%s)", (t0 + 510,))
        self.assertEqual(early, 0)
        self.assertEqual(harness.scalar(self.dsn, "SELECT count(*) FROM hourly_product_views WHERE is_final AND window_end > to_timestamp(%s)",
                                        (t0 + 510,)), 0)
        # Partition 0 resumes where it was: none of its records is late.
        self.produce(0, range(t0 + 600, t0 + 2 * HOUR, 30))
        harness.wait_for(lambda: self.facts() == 80 + 4 * 220, 30, "partition 0's events")
        self.assertEqual(harness.scalar(self.dsn, "SELECT count(*) FROM starstream.late_event"), 0)
        # Everything caught up and quiet: within the idle timeout (plus a trigger), the watermark
        # moves with the clock and every window is final.
        quiet = time.monotonic()
        harness.wait_for(lambda: harness.scalar(self.dsn, "SELECT count(*) FROM hourly_product_views WHERE NOT is_final") == 0
                         and harness.scalar(self.dsn, "SELECT count(*) FROM trending_products WHERE window_end <= to_timestamp(%s)",
                                            (t0 + 2 * HOUR,)) > 0,
                         self.IDLE_MS / 1000 + 15, "final windows on a quiet topic")
        print(f"final windows {time.monotonic() - quiet:.1f} s after the topic went quiet (idle timeout {self.IDLE_MS / 1000:.0f} s)")
        views = harness.query(self.dsn, """SELECT p.product_id, sum(views) FROM hourly_product_views h JOIN dim_product p USING (product_key)
                                             GROUP BY 1 ORDER BY 1""")
        self.assertEqual(views, [(str(100 + p), 240) for p in range(4)])


class CellDeletedByHand(HandProducedViews):
    NAME, PARTITIONS, IDLE_MS = "cell", 2, 600000

    def produce(self, views):
        """`views`: (device, event time) of product 100's views, on partition 0."""
        self.produce_views(0, [("100", device, t) for device, t in views])

    def cell(self):
        return harness.query(self.dsn, "SELECT views, visitors FROM win_hourly_product_views")

    def test_views_after_the_deletion_are_merged(self):
        self.produce([("device-a", START), ("device-b", START + 30), ("device-a", START + 60)])
        harness.wait_for(lambda: self.cell() == [(3, 2)], 30, "the cell of the first three views")
        harness.query(self.dsn, "DELETE FROM win_hourly_product_views")
        self.assertEqual(harness.scalar(self.dsn, "SELECT count(*) FROM win_hourly_product_views_visitors_members"), 2)
        self.produce([("device-a", START + 120), ("device-c", START + 130)])
        harness.wait_for(lambda: harness.scalar(self.dsn, "SELECT count(*) FROM fact_event") == 5, 30, "the next two views committed")
        # The deleted views are gone (the hand's doing); the cell counts what came since, visitors too.
        self.assertEqual(self.cell(), [(2, 2)])
        self.assertEqual(harness.scalar(self.dsn, "SELECT count(*) FROM win_hourly_product_views_visitors_members"), 2)
        # The compiled pipeline's words, or the spec's (spec_window_cells.h).
        self.assertTrue(harness.log_contains(self.log, "deleted 2 visitors of hourly cells that win_hourly_product_views lacks")
                        or harness.log_contains(self.log, "deleted 2 members of win_hourly_product_views cells that the table lacks"))
        self.assertEqual(harness.scalar(self.dsn, "SELECT count(*) FROM starstream.late_event"), 0)
        self.assertIsNone(self.daemon.poll(), "the daemon runs on")



class CorrectionAfterTheWindowEnds(HandProducedViews):
    """A view corrected into its hour after the watermark passed the hour's end (within the 1 h
    of allowed lateness) from a device the hour already counted: still one visitor. The hour's
    distinct visitors must outlive its end by the allowed lateness, and go once the watermark
    passes that too (spec_window_writer.h step 5, window_writer.h prune_visitors)."""
    NAME, PARTITIONS, IDLE_MS = "correction", 2, 600000

    def produce_both(self, t, product):
        """A view of `product` at `t` on each partition, from a device of its own: moves the watermark."""
        for p in range(2):
            self.produce_views(p, [(product, f"device-{product}-{p}", t)])

    def step(self, facts, what):
        harness.wait_for(lambda: harness.scalar(self.dsn, "SELECT count(*) FROM fact_event") == facts, 30, what)

    def cell(self, hour):
        return harness.query(self.dsn, "SELECT h.views, h.visitors FROM win_hourly_product_views h JOIN dim_product p USING (product_key)"
                                       " WHERE p.product_id = '100' AND h.window_start = to_timestamp(%s)", (hour,))

    def members(self, hour):
        return harness.scalar(self.dsn, "SELECT count(*) FROM win_hourly_product_views_visitors_members WHERE window_start = to_timestamp(%s)",
                              (hour,))

    def test_a_correction_from_a_counted_device_adds_no_visitor(self):
        self.produce_views(0, [("100", "device-a", START + 600)])
        self.produce_both(START + 600, "101")
        self.step(3, "the hour's first views")
        # Watermark (60 s of out-of-orderness) at START + 1 h 29 min: the hour has ended, its
        # allowed lateness has not; a second batch merges after the watermark is committed.
        self.produce_both(START + HOUR + 1800, "102")
        self.step(5, "views an hour and a half on")
        self.produce_views(0, [("103", "device-z", START + HOUR + 1810)])
        self.step(6, "one more batch at that watermark")
        self.produce_views(0, [("100", "device-a", START + 1200)])
        self.step(7, "the correction")
        self.assertEqual(self.cell(START), [(2, 1)])
        self.assertEqual(harness.scalar(self.dsn, "SELECT operator FROM starstream.late_event"), "win_product_view_panes",
                         "a correction for the hour; a dead letter for its 5-minute pane (policy dead_letter)")
        self.assertGreater(self.members(START), 0)
        # Past the end plus the allowed lateness, the hour's visitors go; its row stays.
        self.produce_both(START + 4 * HOUR, "104")
        self.step(9, "views four hours on")
        self.produce_views(0, [("105", "device-y", START + 4 * HOUR + 10)])
        self.step(10, "one more batch at that watermark")
        harness.wait_for(lambda: self.members(START) == 0, 30, "the final hour's visitors deleted")
        self.assertEqual(self.cell(START), [(2, 1)])
        self.assertGreater(self.members(START + 4 * HOUR), 0)
        self.assertIsNone(self.daemon.poll(), "the daemon runs on")

if __name__ == "__main__":
    unittest.main(verbosity=2)
