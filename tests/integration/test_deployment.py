"""Deployment, checked without systemd or a Docker engine: the notify protocol (READY after
assignment, WATCHDOG while progressing, STOPPING on SIGTERM, exit 0), the healthcheck
subcommand, the unit file (systemd-analyze verify and security), the compose file, the
Grafana dashboard's metric names against a live /metrics, and shellcheck on every script."""
import glob
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import harness
import yaml

ROOT = harness.SOURCE_DIR


class NotifyAndHealthcheck(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.local_stack(cls, "starstream-deploy-", 4, 2_000)

    def test_notify_protocol_and_healthcheck(self):
        dsn = self.pg.create_database("notify")
        sock_path = os.path.join(self.tmp, "notify.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(sock_path)
        sock.settimeout(0.5)
        self.addCleanup(sock.close)
        port = harness.free_port()
        env = {**os.environ, "NOTIFY_SOCKET": sock_path, "WATCHDOG_USEC": "1000000"}
        args = harness.daemon_args(dsn, self.kafka.bootstrap, **{"http.port": port})
        proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        messages = []

        def receive_until(predicate, timeout):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                try:
                    messages.append(sock.recv(4096).decode())
                except socket.timeout:
                    continue
                if predicate(messages[-1]):
                    return messages[-1]
            raise AssertionError(f"timed out; received {messages}")

        receive_until(lambda m: "READY=1" in m, 60)
        # READY=1 comes only after the partitions were claimed in Postgres (assignment done).
        self.assertEqual(harness.scalar(dsn, "SELECT count(*) FROM starstream.progress"), 4)
        ready_at = len(messages)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            try:
                messages.append(sock.recv(4096).decode())
            except socket.timeout:
                pass
        self.assertGreaterEqual(sum(m == "WATCHDOG=1" for m in messages[ready_at:]), 4, messages)

        healthy = subprocess.run([harness.DAEMON, "healthcheck", f"--http.port={port}"], capture_output=True, text=True, timeout=30)
        self.assertEqual(healthy.returncode, 0, healthy.stdout)

        proc.send_signal(signal.SIGTERM)
        receive_until(lambda m: "STOPPING=1" in m, 30)
        self.assertEqual(proc.wait(timeout=60), 0)
        stopped = subprocess.run([harness.DAEMON, "healthcheck", f"--http.port={port}"], capture_output=True, text=True, timeout=30)
        self.assertEqual(stopped.returncode, 1, stopped.stdout)

    def test_dashboard_uses_only_exported_metrics(self):
        dsn = self.pg.create_database("dashboard")
        port = harness.free_port()
        log = os.path.join(self.tmp, "dashboard.log")
        proc = harness.start_daemon(dsn, self.kafka.bootstrap, log, group="dashboard", **{"http.port": port})
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        harness.wait_for(lambda: harness.log_contains(log, "kafka assigned"), 60, "assignment")
        harness.wait_for(lambda: "starstream_consumer_lag_records{" in harness.http_get(port, "/metrics")[1], 30, "partition metrics")
        exported = set(re.findall(r"^([a-z_:]+)(?:\{| )", harness.http_get(port, "/metrics")[1], re.M))
        with open(os.path.join(ROOT, "deploy", "grafana", "dashboards", "starstream.json")) as f:
            dashboard = json.load(f)
        used = set()
        for panel in dashboard["panels"]:
            for target in panel["targets"]:
                used |= {n for n in re.findall(r"[a-z_:]+", target["expr"]) if n.startswith(("starstream_", "process_"))}
        self.assertGreater(len(used), 10)
        self.assertEqual(used - exported, set())
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


class StaticChecks(unittest.TestCase):
    def test_log_lines_carry_journald_levels_when_stderr_is_the_journal(self):
        path = os.path.join(tempfile.mkdtemp(prefix="starstream-journal-"), "stderr")
        with open(path, "wb") as err:
            st = os.fstat(err.fileno())
            env = {**os.environ, "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
            out = subprocess.run([harness.DAEMON, "run", f"--postgres.dsn=host=127.0.0.1 port={harness.free_port()} dbname=x connect_timeout=2",
                                  "--kafka.bootstrap.servers=127.0.0.1:1", "--http.port=0"], stdout=err, stderr=err, env=env, timeout=60)
        self.assertEqual(out.returncode, 3)
        lines = open(path).read().splitlines()
        self.assertTrue(lines[0].startswith("<6>info "), lines)
        self.assertTrue(any(line.startswith("<2>critical postgres.dsn") for line in lines), lines)

    def test_systemd_unit_verifies_and_is_hardened(self):
        tmp = tempfile.mkdtemp(prefix="starstream-unit-")
        unit = os.path.join(tmp, "starstreamd.service")
        with open(os.path.join(ROOT, "systemd", "starstreamd.service")) as f:
            text = f.read().replace("/usr/local/bin/starstreamd", harness.DAEMON)  # verify checks that the binary exists
        with open(unit, "w") as f:
            f.write(text)
        verify = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, text=True)
        self.assertEqual(verify.returncode, 0, verify.stdout + verify.stderr)
        self.assertEqual(verify.stdout + verify.stderr, "")
        security = subprocess.run(["systemd-analyze", "security", "--offline=true", unit], capture_output=True, text=True)
        score = float(re.search(r"Overall exposure level for \S+: ([0-9.]+)", security.stdout).group(1))
        print(f"\n  systemd-analyze security exposure: {score}")
        self.assertLessEqual(score, 2.0)

    def test_compose_file_parses_and_pins_every_image(self):
        compose = os.path.join(ROOT, "deploy", "docker-compose.yml")
        out = subprocess.run(["docker-compose", "-f", compose, "config", "-q"], capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stderr)
        with open(compose) as f:
            spec = yaml.safe_load(f)
        services = spec["services"]
        for name, service in services.items():
            image = service.get("image")
            self.assertIsNotNone(image, name)
            self.assertRegex(image, r":[0-9v][\w.-]*$", f"{name}: image not pinned")
        self.assertEqual(spec["networks"]["default"], {"name": "streaming-network", "external": True})
        for name in ("starstreamd", "prometheus", "kafka-init"):
            self.assertIn("depends_on", services[name])

    def test_shellcheck_passes_on_every_script(self):
        scripts = glob.glob(os.path.join(ROOT, "**", "*.sh"), recursive=True) + [os.path.join(ROOT, ".ci", "run")]
        scripts = [s for s in scripts if "/build/" not in s]
        self.assertGreaterEqual(len(scripts), 5)
        # -x follows `source` lines; their "shellcheck source=" paths are relative to the repository root.
        out = subprocess.run(["shellcheck", "-x", *scripts], capture_output=True, text=True, cwd=ROOT)
        self.assertEqual(out.returncode, 0, out.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
