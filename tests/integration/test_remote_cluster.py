"""Remote clusters behind SASL and TLS (issue 6): starstreamd, kcat and python3-kafka through
the authenticating gateway (tests/support/auth_gateway) in front of the mock cluster.

Two gateways on the same mock cluster: SASL_PLAINTEXT with every mechanism (a private network,
like the course cluster), and SASL_SSL with SCRAM-SHA-512 only and a certificate from a CA this
test makes (AWS MSK / Aiven style). SASL_PLAINTEXT + PLAIN, SASL_PLAINTEXT + SCRAM-SHA-256 and
SASL_SSL + SCRAM-SHA-512 each ingest 20,000 messages exactly once. A wrong password, a wrong
mechanism, an untrusted certificate and a certificate for another host are each reported once (broker, mechanism, no secret),
keep /readyz at 503, are retried with backoff (counted at the gateway) without spinning, and
write nothing; fixed credentials then resume from the committed offsets with nothing lost.
Credentials rotated under a running daemon turn /readyz to 503 and back. No log line, /status or
/metrics body of these runs carries the password.
"""
import json
import os
import signal
import subprocess
import sys
import time
import unittest

import expectations as expect
import harness

EVENTS = 20_000
ROTATION_EVENTS = 5_000  # per half of the credentials-fixed scenario
USER, PASSWORD = "starstream", "Tr0ub4dor-and-3"


def read(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def readiness(port):
    """(status, {failing check: detail}) of GET /readyz; (None, {}) while nothing answers."""
    try:
        status, body = harness.http_get(port, "/readyz")
    except OSError:
        return None, {}
    return status, {} if status == 200 else {c["check"]: c["detail"] for c in json.loads(body).get("failing", [])}


def cpu_seconds(pid):
    """User + system CPU time of a process so far, seconds (/proc/PID/stat fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class RemoteCluster(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.local_stack(cls, "starstream-remote-", 8, EVENTS, topics=("product_view", "rotation"))
        cls.certs = harness.TestCertificates(os.path.join(cls.tmp, "tls"))
        users = {USER: PASSWORD}
        cls.gateway = harness.AuthGateway(cls.kafka, users, os.path.join(cls.tmp, "gateway.log"))
        cls.addClassCleanup(cls.gateway.stop)
        cls.tls_gateway = harness.AuthGateway(cls.kafka, users, os.path.join(cls.tmp, "tls-gateway.log"), mechanisms="SCRAM-SHA-512",
                                              tls=(cls.certs.server_cert, cls.certs.server_key))
        cls.addClassCleanup(cls.tls_gateway.stop)
        cls.events, _ = expect.read_jsonl(cls.jsonl)

    # --- helpers -------------------------------------------------------------------------

    def security_keys(self, mechanism, password=PASSWORD, tls=False, ca=True):
        keys = {"kafka.security.protocol": "SASL_SSL" if tls else "SASL_PLAINTEXT", "kafka.sasl.mechanisms": mechanism,
                "kafka.sasl.username": USER, "kafka.sasl.password": password}
        if tls and ca:
            keys["kafka.ssl.ca.location"] = self.certs.ca_cert
        return keys

    def run_to_end(self, database, gateway, keys, dsn=None):
        dsn = dsn or self.pg.create_database(database)
        out = harness.run_daemon(dsn, gateway.bootstrap, group=database, timeout=300,
                                 **{"source.stop_when_caught_up": "true", "source.startup_timeout_ms": 8000, **keys})
        self.assertNotIn(PASSWORD, out.stdout + out.stderr, "the password must never reach a log line")
        self.assertEqual(out.returncode, 0, out.stderr[-3000:])
        return dsn

    def assert_ingested_exactly_once(self, dsn):
        self.assertEqual(harness.scalar(dsn, "SELECT count(*) FROM fact_event"), len(self.events))
        self.assertEqual(harness.scalar(dsn, "SELECT sum(records) FROM starstream.batch"), EVENTS)
        self.assertEqual(harness.scalar(dsn, "SELECT sum(next_offset) FROM starstream.progress WHERE topic = 'product_view'"), EVENTS)

    def written(self, dsn):
        """What starstreamd has committed: batches, facts, claimed partitions and their offsets."""
        return harness.query(dsn, "SELECT (SELECT count(*) FROM starstream.batch), (SELECT count(*) FROM fact_event), "
                                  "(SELECT count(*) FROM starstream.progress), (SELECT coalesce(sum(next_offset), 0) FROM starstream.progress)")[0]

    def assert_refused_and_waiting(self, database, gateway, keys, words, dsn=None, topic="product_view"):
        """Starts starstreamd with `keys` that the gateway refuses; checks the refusal is reported
        once with `words` and no secret, /readyz is 503, the cluster is retried with backoff without
        spinning, and nothing is written; stops it with SIGTERM. Returns the database's DSN."""
        dsn = dsn or self.pg.create_database(database)
        log, port = os.path.join(self.tmp, database + ".log"), harness.free_port()
        before = self.written(dsn) if harness.scalar(dsn, "SELECT to_regclass('starstream.batch') IS NOT NULL") else (0, 0, 0, 0)
        proc = harness.start_daemon(dsn, gateway.bootstrap, log, group=database, **{"http.port": port, "source.topics": topic, **keys})
        try:
            detail = harness.wait_for(lambda: readiness(port)[1].get("kafka_authenticated"), 60, "/readyz to report the refused connection")
            for word in words + [USER]:
                self.assertIn(word, detail)
            self.assertTrue(any(f":{b.split(':')[1]}/" in detail for b in gateway.bootstrap.split(",")), f"no broker named: {detail}")

            # librdkafka keeps trying, with backoff: three more refusals at the gateway, slowly,
            # while the daemon sleeps (a busy loop would burn a core).
            start_refusals, start_cpu, start = gateway.refusals(), cpu_seconds(proc.pid), time.monotonic()
            harness.wait_for(lambda: gateway.refusals() >= start_refusals + 3, 60, "the cluster to be tried again")
            harness.wait_for(lambda: time.monotonic() - start >= 5, 10, "an observation window of 5 s")
            elapsed, attempts = time.monotonic() - start, gateway.refusals() - start_refusals
            cpu = cpu_seconds(proc.pid) - start_cpu
            self.assertLess(attempts / elapsed, 10, f"{attempts} attempts in {elapsed:.1f} s: no backoff")
            self.assertLess(cpu, 0.25 * elapsed, f"{cpu:.2f} s CPU in {elapsed:.1f} s while waiting: busy loop")
            self.assertIsNone(proc.poll(), "the daemon waits for the cluster instead of exiting")
            print(f"\n  {database}: {attempts} refused attempts in {elapsed:.1f} s, {cpu:.2f} s CPU", file=sys.stderr)

            status, body = harness.http_get(port, "/status")
            self.assertEqual(json.loads(body)["kafka_security_failure"], detail)
            self.assertNotIn(keys["kafka.sasl.password"], body)
            status, metrics = harness.http_get(port, "/metrics")
            self.assertNotIn(keys["kafka.sasl.password"], metrics)
            failures = [float(line.split()[1]) for line in metrics.splitlines() if line.startswith("starstream_kafka_authentication_failures_total ")]
            self.assertGreaterEqual(failures[0], 1)
            self.assertEqual(self.written(dsn), before, "nothing is consumed or written while refused")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        text = read(log)
        self.assertEqual(proc.returncode, 0, text[-3000:])
        reports = [line for line in text.splitlines() if " error kafka " in line]
        self.assertEqual(len(reports), 1, "reported once:\n" + "\n".join(reports))
        for word in words:
            self.assertIn(word, reports[0])
        self.assertNotIn(keys["kafka.sasl.password"], text)
        self.assertNotIn(PASSWORD, text)
        return dsn

    # --- ingesting through each setup ----------------------------------------------------

    def test_sasl_plaintext_plain(self):
        self.assert_ingested_exactly_once(self.run_to_end("plain", self.gateway, self.security_keys("PLAIN")))

    def test_sasl_plaintext_scram_sha_256(self):
        self.assert_ingested_exactly_once(self.run_to_end("scram256", self.gateway, self.security_keys("SCRAM-SHA-256")))

    def test_sasl_ssl_scram_sha_512_keeps_the_password_out_of_logs_status_and_metrics(self):
        """SASL_SSL with CA verification; the password comes from a file (kafka.sasl.password_file),
        and librdkafka dumps its configuration and security steps into the log (debug=conf,security)."""
        secret = os.path.join(self.tmp, "sasl_password")
        with open(secret, "w", encoding="utf-8") as f:
            f.write(PASSWORD + "\n")
        keys = self.security_keys("SCRAM-SHA-512", tls=True)
        del keys["kafka.sasl.password"]
        keys.update({"kafka.sasl.password_file": secret, "kafka.debug": "conf,security", "log.level": "debug"})
        dsn, log, port = self.pg.create_database("scram512"), os.path.join(self.tmp, "scram512.log"), harness.free_port()
        proc = harness.start_daemon(dsn, self.tls_gateway.bootstrap, log, group="scram512", **{"http.port": port, **keys})
        try:
            harness.wait_for(lambda: harness.scalar(dsn, "SELECT count(*) FROM fact_event") == len(self.events)
                             if harness.scalar(dsn, "SELECT to_regclass('fact_event') IS NOT NULL") else False, 180, "every event")
            bodies = {path: harness.http_get(port, path)[1] for path in ("/status", "/metrics", "/readyz")}
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        self.assertEqual(proc.returncode, 0)
        text = read(log)
        self.assertIn("sasl.password", text, "librdkafka's configuration dump is in the log (debug=conf)")
        for where, body in [("log", text)] + list(bodies.items()):
            self.assertNotIn(PASSWORD, body, f"the password appears in the {where}")
        self.assertIn('"sasl.password": "(redacted)"', bodies["/status"])
        self.assertIn("sasl_ssl://localhost:", text)
        self.assert_ingested_exactly_once(dsn)

    # --- independent clients through the same gateways -------------------------------------

    def test_kcat_authenticates_with_scram_sha_512_over_tls(self):
        out = subprocess.run(["kcat", "-b", self.tls_gateway.bootstrap, "-L", "-t", "product_view", "-X", "security.protocol=SASL_SSL",
                              "-X", "sasl.mechanisms=SCRAM-SHA-512", "-X", f"sasl.username={USER}", "-X", f"sasl.password={PASSWORD}",
                              "-X", f"ssl.ca.location={self.certs.ca_cert}"], capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn('topic "product_view" with 8 partitions', out.stdout)
        for broker in self.tls_gateway.bootstrap.split(","):
            self.assertIn(broker, out.stdout)  # brokers are announced at the gateway

    def test_python_kafka_authenticates_with_plain_and_scram_over_tls(self):
        """kafka-python is pure Python (not librdkafka) and uses SaslHandshake v0 with bare tokens."""
        from kafka import KafkaConsumer, TopicPartition
        for gateway, keys in [(self.gateway, {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN"}),
                              (self.tls_gateway, {"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512", "ssl_cafile": self.certs.ca_cert})]:
            consumer = KafkaConsumer(bootstrap_servers=gateway.bootstrap.split(","), sasl_plain_username=USER, sasl_plain_password=PASSWORD,
                                     request_timeout_ms=20000, **keys)
            partitions = [TopicPartition("product_view", p) for p in sorted(consumer.partitions_for_topic("product_view"))]
            self.assertEqual(sum(consumer.end_offsets(partitions).values()), EVENTS, keys)
            consumer.close()

    # --- refusals --------------------------------------------------------------------------

    def test_wrong_password_is_refused_then_fixed_credentials_resume_from_the_checkpoint(self):
        first, second = os.path.join(self.tmp, "rotation1.jsonl"), os.path.join(self.tmp, "rotation2.jsonl")
        harness.generate(ROTATION_EVENTS, first, brokers=self.kafka.bootstrap, topic="rotation", seed=7)
        keys = {**self.security_keys("SCRAM-SHA-256"), "source.topics": "rotation"}
        dsn = self.run_to_end("rotation", self.gateway, keys)
        harness.generate(ROTATION_EVENTS, second, brokers=self.kafka.bootstrap, topic="rotation", seed=8)

        self.assert_refused_and_waiting("rotation", self.gateway, self.security_keys("SCRAM-SHA-256", password="not-" + PASSWORD),
                                        ["SASL authentication failed", "SCRAM-SHA-256"], dsn=dsn, topic="rotation")

        self.run_to_end("rotation", self.gateway, keys, dsn=dsn)
        events = expect.read_jsonl(first)[0] + expect.read_jsonl(second)[0]
        ids = {row[0] for row in harness.query(dsn, "SELECT event_id::text FROM fact_event")}
        self.assertEqual(ids, {e["id"].lower() for e in events})
        self.assertEqual(harness.scalar(dsn, "SELECT sum(records) FROM starstream.batch"), 2 * ROTATION_EVENTS)
        self.assertEqual(harness.scalar(dsn, "SELECT sum(next_offset) FROM starstream.progress"), 2 * ROTATION_EVENTS)

    def test_credentials_rotated_while_running_are_reported_once_and_recovered(self):
        """The brokers restart with a password starstreamd does not have, then with its own again:
        /readyz goes 503 naming the refusal (one error line), then 200 on the quiet topic."""
        gateway = harness.AuthGateway(self.kafka, {USER: PASSWORD}, os.path.join(self.tmp, "rotating-gateway.log"))
        self.addCleanup(gateway.stop)
        dsn, log, port = self.pg.create_database("rotated"), os.path.join(self.tmp, "rotated.log"), harness.free_port()
        proc = harness.start_daemon(dsn, gateway.bootstrap, log, group="rotated", **{"http.port": port, **self.security_keys("SCRAM-SHA-256")})
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        harness.wait_for(lambda: readiness(port)[0] == 200 and harness.scalar(dsn, "SELECT count(*) FROM fact_event") == len(self.events),
                         180, "every event and /readyz 200")
        gateway.rotate({USER: "rotated-" + PASSWORD})
        detail = harness.wait_for(lambda: readiness(port)[1].get("kafka_authenticated"), 60, "/readyz to report the refusal")
        self.assertIn("SCRAM-SHA-256", detail)
        gateway.rotate({USER: PASSWORD})
        harness.wait_for(lambda: readiness(port)[0] == 200, 60, "/readyz 200 once the cluster accepts the credentials again")
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        text = read(log)
        self.assertEqual(proc.returncode, 0, text[-3000:])
        self.assertEqual(len([line for line in text.splitlines() if " error kafka " in line]), 1, text[-3000:])
        self.assertIn("kafka connection accepted", text)
        self.assertNotIn(PASSWORD, text)
        self.assert_ingested_exactly_once(dsn)

    def test_wrong_mechanism_is_refused(self):
        self.assert_refused_and_waiting("mechanism", self.tls_gateway, self.security_keys("PLAIN", tls=True),
                                        ["SASL authentication failed", "PLAIN", "SCRAM-SHA-512"])

    def test_certificate_for_another_host_is_refused(self):
        """Signed by the trusted CA, but for another name: librdkafka checks the broker's host name."""
        gateway = harness.AuthGateway(self.kafka, {USER: PASSWORD}, os.path.join(self.tmp, "elsewhere-gateway.log"), mechanisms="SCRAM-SHA-512",
                                      tls=self.certs.issue("elsewhere", "DNS:kafka.elsewhere.example"))
        self.addCleanup(gateway.stop)
        self.assert_refused_and_waiting("elsewhere", gateway, self.security_keys("SCRAM-SHA-512", tls=True), ["TLS handshake failed"])

    def test_untrusted_certificate_is_refused(self):
        self.assert_refused_and_waiting("untrusted", self.tls_gateway, self.security_keys("SCRAM-SHA-512", tls=True, ca=False),
                                        ["TLS handshake failed", "certificate verify failed"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
