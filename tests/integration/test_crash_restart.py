"""Exactly once across crashes: the same events consumed by an uninterrupted daemon and by a
daemon killed with SIGKILL at three different moments (restarted each time) end in exactly the
same table contents, windowed tables included (the tables are the state: each batch merges its
partial aggregates with its offsets): no loss, no duplicate."""
import os
import signal
import unittest

import harness

EVENTS = 100_000
# A short session timeout: a killed member leaves the group quickly, so restarts rejoin fast.
KEYS = {"batch.max_records": 2000, "batch.trigger_interval_ms": 200, "kafka.session.timeout.ms": 6000, "kafka.heartbeat.interval.ms": 1000}
KILL_AFTER_BATCHES = (3, 15, 30)  # three moments: early, middle, late

def rows_md5(table, columns):
    return (f"SELECT md5(string_agg(r, E'\\n' ORDER BY r)), count(*) FROM (SELECT concat_ws('|', {columns}) AS r FROM {table}) t")


CONTENT = {
    "win_hourly_product_views": rows_md5("hourly_product_views", "window_start, window_end, product_key, store_key, location_key,"
                                         " views, visitors, is_final"),
    "win_product_view_panes": rows_md5("win_product_view_panes", "window_start, window_end, product_key, views"),
    "win_visits": rows_md5("visits", "device_id, visit_start, visit_end, last_event_time, events, product_views, first_url,"
                           " last_url, reached_checkout, is_final"),
    "late_event": rows_md5("starstream.late_event", "operator, kafka_topic, kafka_partition, kafka_offset"),
    "fact_event": "SELECT md5(string_agg(t::text, E'\\n' ORDER BY event_id)), count(*) FROM fact_event t",
    "dim_date": "SELECT md5(string_agg(t::text, E'\\n' ORDER BY date_key)), count(*) FROM dim_date t",
    "dim_store": "SELECT md5(string_agg(t::text, E'\\n' ORDER BY store_key)), count(*) FROM dim_store t",
    "dim_product": "SELECT md5(string_agg(t::text, E'\\n' ORDER BY product_key)), count(*) FROM dim_product t",
    "dim_location": "SELECT md5(string_agg(t::text, E'\\n' ORDER BY location_key)), count(*) FROM dim_location t",
    "dim_user_agent": "SELECT md5(string_agg(t::text, E'\\n' ORDER BY user_agent_key)), count(*) FROM dim_user_agent t",
    "dim_referrer": "SELECT md5(string_agg(t::text, E'\\n' ORDER BY referrer_key)), count(*) FROM dim_referrer t",
    "dim_collection": "SELECT md5(string_agg(t::text, E'\\n' ORDER BY collection_key)), count(*) FROM dim_collection t",
    "dead_letter": "SELECT md5(string_agg(concat_ws('|', topic, partition, \"offset\", reason, md5(payload)), E'\\n'"
                   " ORDER BY topic, partition, \"offset\")), count(*) FROM starstream.dead_letter",
    "progress": "SELECT md5(string_agg(concat_ws('|', topic, partition, next_offset), E'\\n' ORDER BY topic, partition)), count(*)"
                " FROM starstream.progress",
}


def contents(dsn):
    return {table: harness.query(dsn, sql)[0] for table, sql in CONTENT.items()}


class CrashRestart(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.local_stack(cls, "starstream-crash-", 24, EVENTS, malformed_share=0.01, duplicate_share=0.01,
                            out_of_order_seconds=120)

    def test_sigkill_three_times_then_same_tables_as_an_uninterrupted_run(self):
        straight = self.pg.create_database("straight")
        done = harness.run_daemon(straight, self.kafka.bootstrap, group="straight", **KEYS, **{"source.stop_when_caught_up": "true"})
        self.assertEqual(done.returncode, 0, done.stderr[-2000:])

        crashed = self.pg.create_database("crashed")
        log = os.path.join(self.tmp, "crashed.log")
        for threshold in KILL_AFTER_BATCHES:
            proc = harness.start_daemon(crashed, self.kafka.bootstrap, log, group="crashed", **KEYS)

            def committed():
                if proc.poll() is not None:
                    raise AssertionError(f"daemon exited early with {proc.returncode}; see {log}")
                return harness.scalar(crashed, "SELECT count(*) FROM starstream.batch") >= threshold if self._migrated(crashed) else False

            harness.wait_for(committed, 120, f"{threshold} committed batches", interval=0.01)
            self.assertIsNone(proc.poll(), "the daemon must still be running when killed")
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        self.assertLess(harness.scalar(crashed, "SELECT sum(records) FROM starstream.batch"), EVENTS,
                        "the kills came too late to interrupt the stream")
        done = harness.run_daemon(crashed, self.kafka.bootstrap, group="crashed", **KEYS, **{"source.stop_when_caught_up": "true"})
        self.assertEqual(done.returncode, 0, done.stderr[-2000:])

        # Every message committed exactly once: the batches' record counts add up to the topic.
        self.assertEqual(harness.scalar(crashed, "SELECT sum(records) FROM starstream.batch"), EVENTS)
        self.assertEqual(harness.scalar(straight, "SELECT sum(records) FROM starstream.batch"), EVENTS)
        expected = contents(straight)
        self.assertGreater(expected["fact_event"][1], 0.97 * EVENTS)
        self.assertGreater(expected["win_product_view_panes"][1], 0)
        self.assertGreater(expected["win_visits"][1], 0)
        self.assertEqual(contents(crashed), expected)

    @staticmethod
    def _migrated(dsn):
        return harness.scalar(dsn, "SELECT to_regclass('starstream.batch') IS NOT NULL")


if __name__ == "__main__":
    unittest.main(verbosity=2)
