"""Real parts for integration tests: a throwaway PostgreSQL, librdkafka's mock Kafka cluster,
the event generator and starstreamd, all as child processes on loopback.

Paths come from the environment CTest sets (STARSTREAM_BUILD_DIR, STARSTREAM_SOURCE_DIR).
Every wait polls a condition with a deadline; nothing sleeps to hide a race.
"""
import json
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time

import psycopg2

SOURCE_DIR = os.environ.get("STARSTREAM_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD_DIR = os.environ.get("STARSTREAM_BUILD_DIR", os.path.join(SOURCE_DIR, "build"))
DAEMON = os.path.join(BUILD_DIR, "daemon", "starstreamd")
GENERATOR = os.path.join(BUILD_DIR, "bench", "starstream-generate")
MOCK_KAFKA = os.path.join(BUILD_DIR, "tests", "starstream-mock-kafka")
AUTH_GATEWAY = os.path.join(BUILD_DIR, "tests", "starstream-auth-gateway")
LOCAL_POSTGRES = os.path.join(SOURCE_DIR, "tests", "support", "local_postgres.sh")

sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "support"))
from pg_proxy import PgProxy  # noqa: E402,F401  (re-exported: harness.PgProxy(upstream_port))


def wait_for(condition, timeout, what, interval=0.1):
    """Polls condition() until it returns a truthy value; raises AssertionError after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


class Postgres:
    """A PostgreSQL 15 server in a temporary folder; databases are created per test."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="starstream-pg-")
        os.chmod(self.dir, 0o755)
        out = subprocess.run([LOCAL_POSTGRES, "start", os.path.join(self.dir, "pg")], check=True, capture_output=True, text=True)
        self.base_dsn = out.stdout.strip()
        self.port = int(self.base_dsn.split("port=")[1].split()[0])

    def create_database(self, name):
        conn = psycopg2.connect(self.base_dsn)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
            cur.execute(f'CREATE DATABASE "{name}"')
        conn.close()
        return f"host=127.0.0.1 port={self.port} dbname={name} user=postgres"

    def stop(self):
        subprocess.run([LOCAL_POSTGRES, "stop", os.path.join(self.dir, "pg")], check=False, capture_output=True)
        subprocess.run(["rm", "-rf", self.dir], check=False)


def query(dsn, sql, params=None):
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall() if cur.description else []
    conn.close()
    return rows


def scalar(dsn, sql, params=None):
    return query(dsn, sql, params)[0][0]


class MockKafka:
    """librdkafka's mock cluster in a child process (tests/support/mock_kafka_cluster.cpp).
    broker_down(n) / broker_up(n) / broker_rtt(n, ms) inject broker faults (broker ids 1..brokers)
    through its stdin command channel and return once the cluster has applied them."""

    def __init__(self, brokers=3, partitions=24, topics=("product_view",)):
        args = [MOCK_KAFKA, "--brokers", str(brokers), "--partitions", str(partitions)]
        for t in topics:
            args += ["--topic", t]
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline().strip()
        assert line.startswith("bootstrap.servers="), f"mock Kafka did not start: {line!r}"
        self.bootstrap = line.split("=", 1)[1]
        self._commands = threading.Lock()

    def command(self, line, timeout=10):
        """Sends one command ("down 2", "up 2", "rtt 1 500"); returns its "ok ..." answer, raises
        AssertionError on an "error ..." answer or none within timeout seconds."""
        with self._commands:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
            ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
            answer = self.proc.stdout.readline().strip() if ready else ""
        assert answer == "ok " + line, f"mock Kafka command {line!r}: answer {answer!r}"
        return answer

    def broker_down(self, broker_id):
        self.command(f"down {broker_id}")

    def broker_up(self, broker_id):
        self.command(f"up {broker_id}")

    def broker_rtt(self, broker_id, ms):
        self.command(f"rtt {broker_id} {ms}")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)
        self.proc.stdin.close()
        self.proc.stdout.close()


class AuthGateway:
    """starstream-auth-gateway in front of a MockKafka: SASL (PLAIN, SCRAM-SHA-256/512) for `users`
    ({name: password}); with `tls`, a (certificate, key) pair of PEM paths, its listeners speak
    TLS. .bootstrap lists its listeners; refusals() counts the clients it refused so far (one
    stderr line each); rotate(users) replaces the user table and closes every connection."""

    def __init__(self, kafka, users, log_path, mechanisms="PLAIN,SCRAM-SHA-256,SCRAM-SHA-512", tls=None):
        self.users_file = log_path + ".users"
        self._write_users(users)
        args = [AUTH_GATEWAY, "--upstream", kafka.bootstrap.split(",")[0], "--users-file", self.users_file, "--mechanisms", mechanisms]
        if tls:
            args += ["--tls-cert", tls[0], "--tls-key", tls[1], "--advertised-host", "localhost"]
        self.log_path = log_path
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, text=True)
        self.bootstrap = self.proc.stdout.readline().strip()
        assert self.bootstrap, f"auth gateway did not start: {open(log_path).read()}"

    def _write_users(self, users):
        with open(self.users_file, "w", encoding="utf-8") as f:
            f.writelines(f"{user}:{password}\n" for user, password in users.items())

    def _count(self, text):
        with open(self.log_path, "rb") as f:
            return f.read().count(text)

    def refusals(self):
        return self._count(b"auth-gateway: refused ")

    def rotate(self, users):
        """New credentials, as a rolling broker restart would bring: returns once applied."""
        reloads = self._count(b"auth-gateway: users reloaded")
        self._write_users(users)
        self.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: self._count(b"auth-gateway: users reloaded") > reloads, 30, "the gateway to reload its users")

    def stop(self):
        self.proc.kill()
        self.proc.wait(timeout=30)


class KafkaGateway:
    """starstream-auth-gateway --no-sasl in front of a MockKafka: plain Kafka (clients use
    security.protocol=plaintext) whose Metadata shows only partitions 0..visible_partitions-1
    of every topic until reveal_partitions(); consumers find the others at their next metadata
    refresh (kafka.topic.metadata.refresh.interval.ms), as if partitions had been added. The
    producer should write to kafka.bootstrap directly (all partitions). .bootstrap lists its
    listeners."""

    def __init__(self, kafka, log_path, visible_partitions=None):
        args = [AUTH_GATEWAY, "--upstream", kafka.bootstrap.split(",")[0], "--no-sasl"]
        if visible_partitions is not None:
            args += ["--visible-partitions", str(visible_partitions)]
        self.log_path = log_path
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, text=True)
        self.bootstrap = self.proc.stdout.readline().strip()
        assert self.bootstrap, f"Kafka gateway did not start: {open(log_path).read()}"

    def reveal_partitions(self):
        """Shows every partition from now on; returns once the gateway has applied it."""
        self.proc.send_signal(signal.SIGUSR1)
        wait_for(lambda: log_contains(self.log_path, "auth-gateway: partitions revealed"), 30, "the gateway to reveal partitions")

    def stop(self):
        self.proc.kill()
        self.proc.wait(timeout=30)
        self.proc.stdout.close()


class TestCertificates:
    """A throwaway CA, made with the openssl command line in `folder`, and a broker certificate
    it signed for localhost and 127.0.0.1: .ca_cert, .server_cert, .server_key (PEM paths).
    issue() signs more."""

    def __init__(self, folder):
        os.makedirs(folder, exist_ok=True)
        self.folder = folder
        self.ca_cert, self.ca_key = os.path.join(folder, "ca.pem"), os.path.join(folder, "ca.key")
        self._openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", self.ca_key, "-out", self.ca_cert, "-days", "2",
                      "-subj", "/CN=starstream test CA")
        self.server_cert, self.server_key = self.issue("broker", "DNS:localhost,IP:127.0.0.1")

    def issue(self, name, subject_alt_names):
        """(certificate, key) paths of a server certificate for `subject_alt_names` signed by the CA."""
        cert, key, csr, extensions = (os.path.join(self.folder, name + suffix) for suffix in (".pem", ".key", ".csr", ".ext"))
        with open(extensions, "w", encoding="utf-8") as f:
            f.write(f"subjectAltName={subject_alt_names}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
        self._openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=" + name)
        self._openssl("x509", "-req", "-in", csr, "-CA", self.ca_cert, "-CAkey", self.ca_key, "-CAcreateserial", "-out", cert,
                      "-days", "2", "-extfile", extensions)
        return cert, key

    @staticmethod
    def _openssl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def generate(events, jsonl, brokers=None, topic="product_view", seed=42, partitioning="device", **knobs):
    """Runs starstream-generate; returns its JSON summary (counts by message kind). partitioning:
    "device" (keyed by device id), "round_robin" (unkeyed, message i to partition i mod N) or
    "random" (unkeyed, drawn from the seed); the JSONL is the same whichever is chosen. Other
    knobs become options: out_of_order_seconds=60 -> --out-of-order-seconds 60."""
    args = [GENERATOR, "--events", str(events), "--seed", str(seed), "--jsonl", jsonl, "--topic", topic, "--partitioning", partitioning]
    if brokers:
        args += ["--brokers", brokers]
    for key, value in knobs.items():
        args += ["--" + key.replace("_", "-"), str(value)]
    out = subprocess.run(args, check=True, capture_output=True, text=True, timeout=600)
    return json.loads(out.stdout)


def daemon_args(dsn, bootstrap, group="starstream-test", **keys):
    args = [DAEMON, "run", f"--postgres.dsn={dsn}", f"--kafka.bootstrap.servers={bootstrap}", f"--kafka.group.id={group}",
            "--log.progress_interval_ms=2000", "--http.port=0"]
    for key, value in keys.items():
        args = [a for a in args if not a.startswith(f"--{key}=")]
        args.append(f"--{key}={value}")
    return args


def run_daemon(dsn, bootstrap, timeout=600, **keys):
    """Runs starstreamd until it stops (use source.stop_when_caught_up=true); returns CompletedProcess."""
    return subprocess.run(daemon_args(dsn, bootstrap, **keys), capture_output=True, text=True, timeout=timeout)


def start_daemon(dsn, bootstrap, log_path, **keys):
    log = open(log_path, "ab")
    return subprocess.Popen(daemon_args(dsn, bootstrap, **keys), stdout=log, stderr=subprocess.STDOUT)


def crash_then_scale_out(dsn, bootstrap, log_path, group, keys, instances, instance_prefix, after_batches=3, on_crash=None):
    """A run SIGKILLed once `after_batches` batches with records are committed (on_crash() is
    called then), `instances` daemons of `group` consuming together until caught up (instance.id
    <instance_prefix><n>), then one more run: what a crash and a scale-out leave. Returns the last
    run's stderr; an instance that fails raises AssertionError with its stderr's end."""
    first = start_daemon(dsn, bootstrap, log_path, group=group, **keys)
    try:
        wait_for(lambda: scalar(dsn, "SELECT count(*) FROM starstream.batch WHERE records > 0") >= after_batches
                 if scalar(dsn, "SELECT to_regclass('starstream.batch') IS NOT NULL") else False,
                 120, f"{after_batches} batches committed", interval=0.05)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    if on_crash:
        on_crash()
    return scale_out(dsn, bootstrap, group, {**keys, "source.stop_when_caught_up": "true"}, instances, instance_prefix)


def scale_out(dsn, bootstrap, group, keys, instances, instance_prefix, timeout=300):
    """`instances` daemons of `group` consuming together (instance.id <instance_prefix><n>; keys
    should stop them when caught up), then one more run. Returns the last run's stderr; an
    instance that fails raises AssertionError with its stderr's end."""
    together = [subprocess.Popen(daemon_args(dsn, bootstrap, group=group, **keys, **{"instance.id": f"{instance_prefix}{n}"}),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for n in range(instances)]
    for proc in together:
        _, err = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, err[-3000:]
    last = run_daemon(dsn, bootstrap, group=group, **keys)
    assert last.returncode == 0, last.stderr[-3000:]
    return last.stderr


def restart_postgres_later(pg):
    """Stops pg's server now; returns a function that starts it again on the same port."""
    folder = os.path.join(pg.dir, "pg")
    subprocess.run([LOCAL_POSTGRES, "stop", folder], check=True, capture_output=True)
    return lambda: subprocess.run([LOCAL_POSTGRES, "start", folder], check=True, capture_output=True)


def dsn_through(dsn, port):
    """dsn (key=value form) with its port replaced, e.g. to connect through a PgProxy."""
    return re.sub(r"port=\d+", f"port={port}", dsn)


def http_port_from_log(log_path, after=0):
    """The port of "http: serving ... on ADDRESS:PORT" in a daemon log (the first such line
    after byte offset `after`, for a log that several runs append to), or None."""
    with open(log_path, "rb") as f:
        f.seek(after)
        m = re.search(rb"http: serving \S+ \S+ \S+ \S+ on [0-9.]+:(\d+)", f.read())
    return int(m.group(1)) if m else None


def log_contains(path, text):
    with open(path, "rb") as f:
        return text.encode() in f.read()


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port, path, timeout=10):
    """(status, body) of GET http://127.0.0.1:port/path."""
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        conn.close()


def local_stack(cls, prefix, partitions, events=None, topics=("product_view",), **generate_knobs):
    """Class fixture: cls.tmp, cls.pg and cls.kafka with `topics` (stopped at class clean-up);
    with `events`, also cls.jsonl holding that many generated messages, produced into
    product_view, and cls.summary, the generator's counts. generate_knobs go to generate()
    (seed, partitioning, start_time, late_share...)."""
    cls.tmp = tempfile.mkdtemp(prefix=prefix)
    cls.pg = Postgres()
    cls.addClassCleanup(cls.pg.stop)
    cls.kafka = MockKafka(partitions=partitions, topics=topics)
    cls.addClassCleanup(cls.kafka.stop)
    if events:
        cls.jsonl = os.path.join(cls.tmp, "events.jsonl")
        cls.summary = generate(events, cls.jsonl, brokers=cls.kafka.bootstrap, **generate_knobs)
