"""The container image, really built and run, without a Docker engine (issue 16).

podman builds deploy/Dockerfile (--isolation=chroot) on a Debian base made here by mmdebstrap
and imported under the name its FROM lines use. Containers cannot start on these machines, so
the built image is mounted and its commands run under chroot as the image's user (see
tests/support/container_image.py): `version` and `check-config` through the ENTRYPOINT, then a
real ingestion of 10,000 events from the mock Kafka into the test PostgreSQL, `healthcheck`,
and the HEALTHCHECK command exactly as the Dockerfile writes it. Also: every library the
binaries link resolves inside the image (deploy/runtime-packages.txt is complete), nothing to
build with is in it, and the compose stack's files pass their own tools, the Grafana dashboard
asking only for metrics the image's daemon serves.

Label `image`: `bash tests/run.sh -L image` runs it alone (2 to 4 minutes on 2 cores). It needs
root (podman build --isolation=chroot, image mount, chroot, unshare) and fails without it, unless
STARSTREAM_SKIP_IMAGE_TEST=1 asks to skip it.
STARSTREAM_IMAGE_CACHE names the folder caching the base tarball (default
/var/cache/starstream/image-test); the test's own images and storage are removed afterwards.
"""
import json
import os
import re
import signal
import subprocess
import tempfile
import time
import unittest

import expectations as expect
import harness
import yaml

import container_image
import dockerfile

ROOT = harness.SOURCE_DIR
DOCKERFILE = os.path.join(ROOT, "deploy", "Dockerfile")
RUNTIME_PACKAGES = os.path.join(ROOT, "deploy", "runtime-packages.txt")
CACHE_DIR = os.environ.get("STARSTREAM_IMAGE_CACHE", "/var/cache/starstream/image-test")
TAG = f"localhost/starstream/starstreamd:image-test-{os.getpid()}"
BINARIES = ("/usr/local/bin/starstreamd", "/usr/local/bin/starstream-generate", "/usr/local/bin/starstream-load")
EVENTS = 10_000
# Names of a compiler in any of its Debian spellings (gcc, g++-12, x86_64-linux-gnu-gcc-12, cc1plus).
COMPILER = re.compile(r"^(?:[\w.]+-linux-gnu-)?(?:gcc|g\+\+|c\+\+|cc1|cc1plus)(?:-\d+)?$")
# Files the daemon and the generator read at run time, which no shared library needs (ldd cannot
# see them): written here, not read from deploy/runtime-packages.txt, so that a package dropped
# from that list fails the test.
RUNTIME_FILES = {
    "/etc/ssl/certs/ca-certificates.crt": "ca-certificates (SASL_SSL without ssl.ca.location)",
    "/usr/share/publicsuffix/public_suffix_list.dafsa": "publicsuffix (registrable domains; libpsl falls back silently)",
    "/usr/share/GeoIP/GeoIP.dat": "geoip-database (country by IP)",
    "/usr/share/uap-core/regexes.yaml": "uap-core (user agent parser)",
    "/usr/share/uap-core/tests/test_ua.yaml": "uap-core (the generator's user agents)",
    "/usr/share/zoneinfo/UTC": "tzdata (time.reporting_time_zone)",
    "/usr/bin/tini": "tini (the ENTRYPOINT's PID 1)",
}
# Compiler packages (gcc-12-base, libgcc-s1 are the runtime's, not compilers).
COMPILER_PACKAGE = re.compile(r"^(?:gcc|g\+\+|cpp|clang|build-essential)(?:-\d+)?$")


def runtime_packages():
    """deploy/runtime-packages.txt as install-deps.sh reads it: comments and blanks dropped."""
    with open(RUNTIME_PACKAGES, encoding="utf-8") as f:
        return [line.split("#", 1)[0].strip() for line in f if line.split("#", 1)[0].strip()]


def tail(path, chars=3000):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()[-chars:]


def project_version():
    with open(os.path.join(ROOT, "CMakeLists.txt"), encoding="utf-8") as f:
        return re.search(r"project\(starstream VERSION ([0-9.]+)", f.read()).group(1)


def installed_packages(root):
    """{package: installed size in KiB} from the image's dpkg database."""
    packages = {}
    with open(os.path.join(root, "var", "lib", "dpkg", "status"), encoding="utf-8") as f:
        for stanza in f.read().split("\n\n"):
            fields = dict(re.findall(r"^([\w-]+): (.*)$", stanza, re.M))
            if fields.get("Status", "").endswith(" installed"):
                packages[fields["Package"]] = int(fields.get("Installed-Size", 0))
    return packages


def host_package_of(library):
    """The non -dev Debian package that ships `library` on this machine (a hint for the error
    message), or '?'."""
    out = subprocess.run(["dpkg-query", "-S", f"*/{library}"], capture_output=True, text=True)
    owners = {line.split(":")[0] for line in out.stdout.splitlines()}
    owners = sorted(p for p in owners if not p.endswith("-dev"))
    return ", ".join(owners) or "?"


def metric_names(exposition):
    """Metric names a Prometheus query can use against this /metrics text: every sample's name
    and every declared family (a labelled family with no child yet has a TYPE line only); a
    histogram or summary family also as its _bucket, _sum and _count series."""
    names = set(re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{| )", exposition, re.M))
    for name, kind in re.findall(r"^# TYPE (\S+) (\w+)$", exposition, re.M):
        names.add(name)
        if kind in ("histogram", "summary"):
            names |= {name + "_bucket", name + "_sum", name + "_count"}
    return names


PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset", "inf", "nan"}


def promql_metrics(expr):
    """The metric names a PromQL expression selects: what is left once strings, label matchers,
    ranges, grouping clauses, function calls' names, keywords and numbers are taken out."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", expr)
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    names = re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", expr)
    return {n for n in names if n.lower() not in PROMQL_WORDS}


def dashboard_queries(node):
    """Every `expr` in a Grafana dashboard, nested rows and panels included."""
    if isinstance(node, dict):
        found = [node["expr"]] if isinstance(node.get("expr"), str) else []
        return found + [e for v in node.values() for e in dashboard_queries(v)]
    if isinstance(node, list):
        return [e for v in node for e in dashboard_queries(v)]
    return []


class ContainerImage(unittest.TestCase):
    """One build for all tests: the base, the image, its mount, and the stack it ingests from."""

    @classmethod
    def setUpClass(cls):
        if os.environ.get("STARSTREAM_SKIP_IMAGE_TEST") == "1":
            raise unittest.SkipTest("STARSTREAM_SKIP_IMAGE_TEST=1")
        if os.geteuid() != 0:
            raise AssertionError("the image test needs root (podman build --isolation=chroot, image mount, chroot, unshare); "
                                 "run the suite as root, or set STARSTREAM_SKIP_IMAGE_TEST=1 to skip it")
        cls.tmp = tempfile.mkdtemp(prefix="starstream-image-")
        cls.podman = container_image.Podman()
        cls.addClassCleanup(cls.podman.close)  # unmounts and removes every image, also after a failure
        started = time.monotonic()
        tarball = container_image.base_tarball(CACHE_DIR)
        for base in dockerfile.base_images(DOCKERFILE):
            cls.podman.import_base(tarball, dockerfile.qualified(base))
        built = time.monotonic()
        cls.podman.build(ROOT, DOCKERFILE, TAG, os.path.join(cls.tmp, "build.log"))
        cls.seconds = (built - started, time.monotonic() - built)
        cls.inspected = cls.podman.inspect(TAG)
        cls.config = cls.inspected["Config"]
        cls.root = cls.podman.mount(TAG)
        cls.user = cls.config["User"]
        harness.local_stack(cls, "starstream-image-stack-", 4, EVENTS, malformed_share=0.01, duplicate_share=0.01)

    # ---- running the image's commands ------------------------------------------------------

    def environment(self, **overrides):
        return container_image.image_environment(self.config, **overrides)

    def entrypoint(self, *args):
        """ENTRYPOINT + args, as `docker run IMAGE args...` runs them."""
        return [*self.config["Entrypoint"], *args]

    def run_in_image(self, argv, env, timeout=60):
        command = container_image.command_in_image(self.root, self.user, env, argv)
        try:
            return subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:  # run() killed unshare; --kill-child ends the command
            raise AssertionError(f"{argv} in the image: no result within {timeout} s") from None

    def start_in_image(self, argv, env, log_path):
        command = container_image.command_in_image(self.root, self.user, env, argv)
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())  # --kill-child ends the namespace too
        return proc

    def pid1(self, proc):
        """Our PID of the command's PID 1 (the ENTRYPOINT's tini) in its namespace."""
        return harness.wait_for(lambda: container_image.pid1_of(proc.pid), 10, "the command's PID 1 in its namespace")

    def stop(self, proc, timeout=60):
        """SIGTERM to the image's PID 1 (tini), as `docker stop` sends STOPSIGNAL; its exit code."""
        os.kill(self.pid1(proc), getattr(signal, self.config.get("StopSignal") or "SIGTERM"))
        return proc.wait(timeout=timeout)

    # ---- what is in the image ----------------------------------------------------------------

    def test_every_library_the_binaries_link_resolves_in_the_image(self):
        for binary in BINARIES:
            out = self.run_in_image(["/usr/bin/ldd", binary], self.environment())
            self.assertEqual(out.returncode, 0, f"ldd {binary} in the image: {out.stdout}{out.stderr}")
            missing = re.findall(r"^\s*(\S+) => not found", out.stdout, re.M)
            self.assertEqual(missing, [], "".join(
                f"\n  {binary} needs {lib}, which does not resolve in the image (on this machine {host_package_of(lib)}"
                f" ships it): add that package to deploy/runtime-packages.txt" for lib in missing))

    def test_every_file_read_at_run_time_is_in_the_image(self):
        missing = [f"{path} ({why})" for path, why in RUNTIME_FILES.items() if not os.path.isfile(os.path.join(self.root, path.lstrip("/")))]
        self.assertEqual(missing, [], "missing from the image: add the package to deploy/runtime-packages.txt")

    def test_the_images_generator_runs(self):
        # (its user cannot reopen the test's stdout pipe as /dev/stdout: the file goes to the image's /tmp)
        out = self.run_in_image(["/bin/sh", "-c", "/usr/local/bin/starstream-generate --events 50 --jsonl /tmp/events.jsonl >/dev/null && cat /tmp/events.jsonl"],
                                self.environment())
        self.assertEqual(out.returncode, 0, f"starstream-generate in the image: {out.stdout[-2000:]}{out.stderr[-2000:]}")
        self.assertEqual(sum(1 for line in out.stdout.splitlines() if '"time_stamp"' in line), 50,
                         f"the image's generator did not write 50 events:\n{out.stdout[-2000:]}")

    def test_the_images_loader_runs(self):
        out = self.run_in_image(["/usr/local/bin/starstream-load", "--help"], self.environment())
        self.assertEqual(out.returncode, 0, f"starstream-load in the image: {out.stdout[-2000:]}{out.stderr[-2000:]}")
        self.assertIn("--kafka-property", out.stdout)

    def test_runtime_packages_are_installed_and_nothing_to_build_with(self):
        packages = installed_packages(self.root)
        self.report_contents(packages)
        self.assertEqual([p for p in runtime_packages() if p not in packages], [], "listed in deploy/runtime-packages.txt, not installed")
        self.assertEqual(sorted(p for p in packages if p.endswith("-dev") or COMPILER_PACKAGE.match(p)), [],
                         "development packages in the runtime image")
        compilers = [os.path.join(d, n)[len(self.root):] for d, _, files in os.walk(self.root) for n in files if COMPILER.match(n)]
        self.assertEqual(compilers, [], "compilers in the runtime image")
        leftovers = [os.path.join(d, n)[len(self.root):] for folder in ("var/lib/apt/lists", "var/cache/apt")
                     for d, _, files in os.walk(os.path.join(self.root, folder)) for n in files if n != "lock"]
        self.assertEqual(leftovers, [], "apt's lists or downloads left in the image")

    def report_contents(self, packages):
        """Prints the image's size and what is in it (ctest -V or --output-on-failure shows it)."""
        size = self.podman.inspect(TAG)["Size"]
        base = self.podman.inspect(dockerfile.qualified(dockerfile.base_images(DOCKERFILE)[-1]))["Size"]
        biggest = sorted(packages.items(), key=lambda item: -item[1])[:8]
        with open(os.path.join(self.root, "etc", "debian_version")) as f:
            debian = f.read().strip()
        print(f"\n  base {self.seconds[0]:.0f} s, build {self.seconds[1]:.0f} s; image {size / 1e6:.0f} MB ({base / 1e6:.0f} MB base, Debian {debian},"
              f" mmdebstrap minbase as the slim stand-in), {len(packages)} packages;"
              f" largest: {', '.join(f'{p} {kib / 1024:.1f} MiB' for p, kib in biggest)}")

    def test_image_runs_as_non_root_and_keeps_the_dockerfiles_healthcheck(self):
        self.assertNotIn(self.user.split(":")[0], ("", "0", "root"), "the image runs as root")
        argv, timeout = dockerfile.healthcheck(DOCKERFILE)
        # podman shows it beside Config; Docker inside it.
        built = self.inspected.get("Healthcheck") or self.config.get("Healthcheck") or {}
        self.assertEqual((built.get("Test"), built.get("Timeout")), (["CMD", *argv], int(timeout * 1e9)),
                         "the built image lost or changed the Dockerfile's HEALTHCHECK")

    def test_version_and_check_config_as_the_image_user(self):
        version = self.run_in_image(self.entrypoint("version"), self.environment())
        self.assertEqual((version.returncode, version.stdout), (0, f"starstreamd {project_version()}\n"), version.stderr)
        # check-config opens the reference data (GeoIP, uap-core, tz database) at the image's paths.
        checked = self.run_in_image(self.entrypoint("check-config"), self.environment())
        self.assertEqual(checked.returncode, 0, checked.stdout + checked.stderr)
        self.assertIn("configuration OK", checked.stdout)
        # ... and the pipeline specs the image ships (STARSTREAM_PIPELINES__DIR of the Dockerfile).
        self.assertIn("product_view (/usr/share/starstream/pipelines/product_view.yaml)", checked.stdout)

    # ---- a real ingestion --------------------------------------------------------------------

    def test_ingests_events_is_healthy_and_serves_the_dashboards_metrics(self):
        dsn = self.pg.create_database("image")
        port = harness.free_port()
        # As `docker run -e` would set them. The host's network is shared here: a free loopback
        # port instead of the image's 0.0.0.0:9470, which another process may hold.
        env = self.environment(STARSTREAM_POSTGRES__DSN=dsn, STARSTREAM_KAFKA__BOOTSTRAP_SERVERS=self.kafka.bootstrap,
                               STARSTREAM_KAFKA__GROUP_ID="starstream-image", STARSTREAM_HTTP__LISTEN_ADDRESS="127.0.0.1",
                               STARSTREAM_HTTP__PORT=str(port))
        log = os.path.join(self.tmp, "daemon.log")
        proc = self.start_in_image(self.entrypoint(*self.config["Cmd"]), env, log)
        events, malformed = expect.read_jsonl(self.jsonl)

        def facts():
            self.assertIsNone(proc.poll(), f"starstreamd exited with {proc.returncode}: {tail(log)}")
            if not harness.scalar(dsn, "SELECT to_regclass('public.fact_event') IS NOT NULL"):
                return 0
            return harness.scalar(dsn, "SELECT count(*) FROM fact_event")

        harness.wait_for(lambda: facts() >= len(events), 120, f"{len(events)} facts")
        # As in a container: PID 1 of its namespace, and the image's user, not root.
        self.assertEqual(container_image.process_ids(self.pid1(proc)), (int(self.user.split(":")[0]), 1))
        ids = [row[0] for row in harness.query(dsn, "SELECT event_id::text FROM fact_event")]
        self.assertEqual(len(ids), len(events), "facts: one per distinct valid event")
        self.assertEqual(set(ids), {e["id"].lower() for e in events})
        harness.wait_for(lambda: harness.scalar(dsn, "SELECT count(*) FROM starstream.dead_letter") >= len(malformed), 60, "dead letters")
        self.assertEqual(harness.scalar(dsn, "SELECT count(*) FROM starstream.dead_letter"), len(malformed))

        self.assert_dashboard_metrics_served(harness.http_get(port, "/metrics")[1])
        harness.wait_for(lambda: harness.http_get(port, "/readyz")[0] == 200, 60, "/readyz 200 once caught up")
        healthcheck = self.run_in_image(self.entrypoint("healthcheck"), env)
        self.assertEqual(healthcheck.returncode, 0, healthcheck.stdout + healthcheck.stderr)
        argv, timeout = dockerfile.healthcheck(DOCKERFILE)
        probe = self.run_in_image(argv, env, timeout=timeout)
        self.assertEqual(probe.returncode, 0, f"HEALTHCHECK {argv}: {probe.stdout}{probe.stderr}")

        self.assertEqual(self.stop(proc), 0, tail(log))

    def assert_dashboard_metrics_served(self, exposition):
        with open(os.path.join(ROOT, "deploy", "grafana", "dashboards", "starstream.json"), encoding="utf-8") as f:
            queries = dashboard_queries(json.load(f))
        used = set().union(*(promql_metrics(q) for q in queries))
        self.assertGreater(len(used), 10, queries)
        self.assertEqual(used - metric_names(exposition), set(), "the Grafana dashboard queries metrics the daemon does not serve")


class ComposeStack(unittest.TestCase):
    """The compose stack's files, each checked by the tool that reads it."""

    def test_compose_file_is_valid(self):
        compose = os.path.join(ROOT, "deploy", "docker-compose.yml")
        out = subprocess.run(["docker-compose", "-f", compose, "config", "-q"], capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        with open(compose, encoding="utf-8") as f:
            service = yaml.safe_load(f)["services"]["starstreamd"]
        built = os.path.normpath(os.path.join(ROOT, "deploy", service["build"]["context"], service["build"]["dockerfile"]))
        self.assertEqual(built, DOCKERFILE)

    def test_prometheus_config_passes_promtool_and_scrapes_the_images_port(self):
        config = os.path.join(ROOT, "deploy", "prometheus", "prometheus.yml")
        out = subprocess.run(["promtool", "check", "config", config], capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        env = " ".join(arguments for keyword, arguments in dockerfile.instructions(DOCKERFILE) if keyword == "ENV")
        port = re.search(r"STARSTREAM_HTTP__PORT=(\d+)", env).group(1)
        with open(config, encoding="utf-8") as f:
            targets = [t for job in yaml.safe_load(f)["scrape_configs"] for c in job["static_configs"] for t in c["targets"]]
        self.assertIn(f"starstreamd:{port}", targets)

    def test_grafana_files_are_well_formed(self):
        with open(os.path.join(ROOT, "deploy", "grafana", "dashboards", "starstream.json"), encoding="utf-8") as f:
            dashboard = json.load(f)
        self.assertTrue(dashboard_queries(dashboard), "the dashboard has no queries")
        for folder in ("dashboards", "datasources"):
            path = os.path.join(ROOT, "deploy", "grafana", "provisioning", folder)
            for name in os.listdir(path):
                with open(os.path.join(path, name), encoding="utf-8") as f:
                    self.assertIsInstance(yaml.safe_load(f), dict, name)


if __name__ == "__main__":
    unittest.main(verbosity=2)
