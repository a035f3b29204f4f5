"""Health and metrics over HTTP, scraped by a real Prometheus (Debian's prometheus package):
the scraped counters equal what the daemon committed, promtool finds nothing to lint, errors
get the right status codes, /readyz follows a Postgres outage, and a bounded load of 20,000
requests on 50 connections gets no error while ingestion runs."""
import json
import os
import socket
import subprocess
import threading
import time
import unittest
import urllib.parse
import urllib.request

import expectations as expect
import harness

EVENTS = 30_000


def committed(dsn):
    if not harness.scalar(dsn, "SELECT to_regclass('starstream.batch') IS NOT NULL"):
        return 0
    return harness.scalar(dsn, "SELECT coalesce(sum(records), 0) FROM starstream.batch")


class Fixture(unittest.TestCase):
    partitions = 12

    @classmethod
    def setUpClass(cls):
        harness.local_stack(cls, "starstream-http-", cls.partitions, EVENTS, malformed_share=0.01, duplicate_share=0.01)
        cls.dsn = cls.pg.create_database("http")
        cls.port = harness.free_port()
        cls.log = os.path.join(cls.tmp, "daemon.log")
        cls.daemon = harness.start_daemon(cls.dsn, cls.kafka.bootstrap, cls.log, **{
            "http.port": cls.port, "batch.max_records": 5000, "postgres.retry_initial_ms": 100, "postgres.retry_max_ms": 500})
        cls.addClassCleanup(lambda: cls.daemon.poll() is None and cls.daemon.kill())
        harness.wait_for(lambda: committed(cls.dsn) == EVENTS, 120, "every event committed", interval=0.2)


class HttpAndMetrics(Fixture):
    def metrics(self):
        status, body = harness.http_get(self.port, "/metrics")
        self.assertEqual(status, 200)
        return body

    def test_promtool_finds_nothing_to_lint(self):
        out = subprocess.run(["promtool", "check", "metrics"], input=self.metrics(), capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertEqual(out.stdout + out.stderr, "")

    def test_metrics_cover_every_stage(self):
        body = self.metrics()
        for name in ("starstream_records_consumed_total", "starstream_records_decoded_total", "starstream_dead_letters_total",
                     "starstream_records_deduplicated_total", "starstream_rows_written_total", "starstream_batches_committed_total",
                     "starstream_batches_failed_total", 'starstream_batch_phase_duration_seconds_bucket{phase="merge"',
                     'starstream_batch_phase_duration_seconds_bucket{phase="windows"',
                     "starstream_consumer_lag_records", "starstream_consumer_lag_seconds", "starstream_watermark_timestamp_seconds",
                     "starstream_watermark_age_seconds", "starstream_event_freshness_seconds_count", "starstream_postgres_reconnects_total",
                     "starstream_postgres_retries_total", "starstream_kafka_errors_total", "starstream_kafka_authentication_failures_total", "starstream_build_info",
                     "process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds", "process_start_time_seconds"):
            self.assertIn(name, body)

    def test_prometheus_scrapes_what_the_daemon_committed(self):
        prom_port = harness.free_port()
        config = os.path.join(self.tmp, "prometheus.yml")
        with open(config, "w") as f:
            f.write(f"global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: starstreamd\n"
                    f"    static_configs:\n      - targets: ['127.0.0.1:{self.port}']\n")
        prom = subprocess.Popen(["prometheus", f"--config.file={config}", f"--storage.tsdb.path={self.tmp}/tsdb",
                                 f"--web.listen-address=127.0.0.1:{prom_port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(prom.wait, 30)
        self.addCleanup(prom.terminate)

        def query(expr):
            url = f"http://127.0.0.1:{prom_port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    result = json.load(r)["data"]["result"]
            except OSError:
                return None
            return float(result[0]["value"][1]) if result else None

        records = committed(self.dsn)
        batches = harness.scalar(self.dsn, "SELECT count(*) FROM starstream.batch")
        end_offsets = harness.scalar(self.dsn, "SELECT sum(next_offset) FROM starstream.progress")
        harness.wait_for(lambda: query("starstream_records_consumed_total") == records, 60, "Prometheus to scrape the consumed counter")
        self.assertEqual(end_offsets, records)
        self.assertEqual(query("sum(starstream_consumer_lag_records)"), 0.0)
        self.assertEqual(query("count(starstream_consumer_lag_records)"), float(self.partitions))
        self.assertEqual(query('starstream_batch_phase_duration_seconds_count{phase="commit"}'), float(batches))
        # Every batch merged its windows (windows are on by default), within its merge phase.
        self.assertEqual(query('starstream_batch_phase_duration_seconds_count{phase="windows"}'), float(batches))
        self.assertLess(query('starstream_batch_phase_duration_seconds_sum{phase="windows"}'),
                        query('starstream_batch_phase_duration_seconds_sum{phase="merge"}'))
        self.assertEqual(query("starstream_batches_committed_total"), float(batches))
        facts = harness.scalar(self.dsn, "SELECT count(*) FROM fact_event")
        self.assertEqual(query('starstream_rows_written_total{table="fact_event",operation="inserted"}'), float(facts))

    def test_status_watermarks_are_max_event_time_minus_the_allowed_disorder(self):
        expected = {p: float(t) - 300.0 for p, t in harness.query(
            self.dsn, "SELECT kafka_partition, extract(epoch FROM max(event_time)) FROM fact_event GROUP BY 1")}

        def watermarks():
            status = json.loads(harness.http_get(self.port, "/status")[1])
            got = {p["partition"]: p["watermark"] for p in status["partitions"]}
            return got if got.keys() == expected.keys() and all(got[p] >= expected[p] for p in got) else None

        got = harness.wait_for(watermarks, 30, "every partition's watermark published")
        self.assertEqual(got, expected)

    def test_no_personal_data_in_logs_status_or_metrics(self):
        with open(self.jsonl, "rb") as f:
            self.assertIn(b"@example.com", f.read())  # the events do carry email addresses
        exposed = open(self.log, "rb").read().decode("utf-8", "replace") + harness.http_get(self.port, "/status")[1] + self.metrics()
        self.assertNotIn("@example.com", exposed)
        self.assertNotIn("email", exposed)

    def test_error_statuses_and_the_server_keeps_serving(self):
        self.assertEqual(harness.http_get(self.port, "/nope")[0], 404)
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/metrics", method="POST", data=b"x")
        with self.assertRaises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(req, timeout=5)
        self.assertEqual(caught.exception.code, 405)
        for garbage in (b"GARBAGE\r\n\r\n", b"GET /metrics HTTP/1.1\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n"):
            with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
                s.sendall(garbage)
                self.assertTrue(s.recv(100).startswith(b"HTTP/1.1 400"), garbage[:20])
        status, body = harness.http_get(self.port, "/livez")
        self.assertEqual((status, body), (200, "ok\n"))
        status, body = harness.http_get(self.port, "/status")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["last_batch"]["batch_id"], harness.scalar(self.dsn, "SELECT max(batch_id) FROM starstream.batch"))

    def test_load_20000_requests_from_50_connections_during_ingestion(self):
        import http.client
        producer = threading.Thread(target=harness.generate, args=(20_000, os.path.join(self.tmp, "more.jsonl")),
                                    kwargs={"brokers": self.kafka.bootstrap, "seed": 7, "rate": 5000})
        producer.start()
        failures, done = [], []

        def client(n):
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            for i in range(n):
                try:
                    conn.request("GET", "/metrics" if i % 2 else "/status")
                    response = conn.getresponse()
                    response.read()
                except OSError as e:  # a dropped connection is a failure too, not a silent thread death
                    failures.append(repr(e))
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                    continue
                (done if response.status == 200 else failures).append(response.status)
                if response.getheader("Connection") == "close":
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            conn.close()

        started = time.monotonic()
        threads = [threading.Thread(target=client, args=(400,)) for _ in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        elapsed = time.monotonic() - started
        producer.join(timeout=120)
        self.assertEqual(failures, [])
        self.assertEqual(len(done), 20_000)
        print(f"\n  load: 20000 requests in {elapsed:.1f} s ({20000 / elapsed:.0f} req/s)")
        harness.wait_for(lambda: committed(self.dsn) == EVENTS + 20_000, 120, "ingestion to go on under load", interval=0.2)


class ReadinessAcrossOutage(Fixture):
    partitions = 6

    def readyz(self):
        status, body = harness.http_get(self.port, "/readyz")
        return status, json.loads(body)

    def test_readyz_follows_a_postgres_outage_and_nothing_is_lost(self):
        # Lag and watermarks are published once a second: right after the last commit a
        # partition can still show lag with an old watermark (the events span the last hour).
        harness.wait_for(lambda: self.readyz()[0] == 200, 30, "/readyz 200 once caught up")
        start_again = harness.restart_postgres_later(self.pg)
        status, body = harness.wait_for(lambda: (lambda r: r if r[0] == 503 else None)(self.readyz()), 30, "/readyz to turn 503")
        self.assertIn("postgres_reachable", [f["check"] for f in body["failing"]])
        self.assertEqual(harness.http_get(self.port, "/livez")[0], 200)  # alive, just not ready
        more = os.path.join(self.tmp, "during-outage.jsonl")
        harness.generate(5_000, more, brokers=self.kafka.bootstrap, seed=11)
        start_again()
        harness.wait_for(lambda: self.readyz()[0] == 200, 60, "/readyz back to 200")
        harness.wait_for(lambda: committed(self.dsn) == EVENTS + 5_000, 60, "the events produced during the outage")
        events, _ = expect.read_jsonl(self.jsonl)
        extra, _ = expect.read_jsonl(more)
        ids = [row[0] for row in harness.query(self.dsn, "SELECT event_id::text FROM fact_event")]
        self.assertEqual(len(ids), len(set(ids)))
        self.assertEqual(set(ids), {e["id"].lower() for e in events + extra})


if __name__ == "__main__":
    unittest.main(verbosity=2)
