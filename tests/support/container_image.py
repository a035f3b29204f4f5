"""A container image built and run without a Docker engine, for tests/integration.

- base_tarball(): a Debian root file system made by mmdebstrap (the stand-in for the base image
  the Dockerfile names: no registry is reachable), cached by the hash of its recipe.
- Podman: podman on a private storage folder (the machine's own images are never touched):
  import the base under the FROM line's name, build with --isolation=chroot, mount the image.
- command_in_image(): the argv that runs a command of a mounted image as a container would, but
  under chroot (starting a container fails here: crun cannot set RLIMIT_NOFILE): a private mount
  and PID namespace, the image's /proc, the host's /dev, a tmpfs /tmp, the image's user and only
  the environment given. The network is the host's, so loopback servers are reachable.
Every call has a timeout; a failure raises AssertionError with the tool's output.
"""
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time

# The recipe of the base, as close to the official debian:12-slim as mmdebstrap gets: minbase,
# merged /usr by symlinks with usr-is-merged (not the usrmerge package, which brings 50 MB of
# perl), the three suites of the official image, and its dpkg filters (no manuals, documentation
# beyond copyright, or translations).
MMDEBSTRAP_ARGS = [
    "--variant=minbase", "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
    "--dpkgopt=path-exclude=/usr/share/man/*", "--dpkgopt=path-exclude=/usr/share/info/*",
    "--dpkgopt=path-exclude=/usr/share/doc/*", "--dpkgopt=path-include=/usr/share/doc/*/copyright",
    "--dpkgopt=path-exclude=/usr/share/locale/*",
    "bookworm",
]
MIRRORS = [
    "deb http://deb.debian.org/debian bookworm main",
    "deb http://deb.debian.org/debian bookworm-updates main",
    "deb http://deb.debian.org/debian-security bookworm-security main",
]
# A cached base older than this is made again, so security updates reach the base's packages.
BASE_MAX_AGE_S = 7 * 24 * 3600


def _run(args, timeout, what, **kwargs):
    """subprocess.run that raises AssertionError naming `what`, with the tail of its output."""
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kwargs)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"{what}: no result within {timeout} s ({' '.join(args)})") from None
    if out.returncode != 0:
        raise AssertionError(f"{what} failed (exit {out.returncode}): {' '.join(args)}\n{(out.stdout + out.stderr)[-4000:]}")
    return out.stdout


def base_tarball(cache_dir):
    """Path of the base root file system tarball, made by mmdebstrap unless a fresh one with the
    same recipe is cached (about 30 s saved). Written under a temporary name, then renamed, so
    an interrupted run never leaves half a tarball behind."""
    key = hashlib.sha256(json.dumps([MMDEBSTRAP_ARGS, MIRRORS]).encode()).hexdigest()[:16]
    path = os.path.join(cache_dir, f"debian-bookworm-minbase-{key}.tar")
    if os.path.exists(path) and time.time() - os.path.getmtime(path) < BASE_MAX_AGE_S:
        return path
    os.makedirs(cache_dir, exist_ok=True)
    partial = path.removesuffix(".tar") + f".{os.getpid()}.partial.tar"
    try:
        _run(["mmdebstrap", "--quiet", "--format=tar", *MMDEBSTRAP_ARGS, partial, *MIRRORS], 900, "mmdebstrap (the base image)")
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    for name in os.listdir(cache_dir):  # bases of older recipes: nothing reads them again
        # (another run's .partial. file is being written: left alone)
        if name.startswith("debian-bookworm-minbase-") and name.endswith(".tar") and ".partial." not in name and os.path.join(cache_dir, name) != path:
            os.remove(os.path.join(cache_dir, name))
    return path


class Podman:
    """podman with its storage in a temporary folder; close() unmounts, removes every image and
    the folder."""

    def __init__(self):
        remove_stale_storage()
        self.dir = tempfile.mkdtemp(prefix=STORAGE_PREFIX, dir="/var/tmp")
        with open(os.path.join(self.dir, "owner.pid"), "w") as f:
            f.write(str(os.getpid()))
        self.base = ["podman", "--root", os.path.join(self.dir, "storage"), "--runroot", os.path.join(self.dir, "run")]
        self.mounted = []

    def __call__(self, *args, timeout=120, what=None):
        return _run([*self.base, *args], timeout, what or "podman " + args[0])

    def import_base(self, tarball, name):
        self("import", tarball, name, timeout=300, what=f"podman import of the base as {name}")

    def build(self, context, dockerfile, tag, log_path):
        """Builds offline (--pull=never: the base is the imported one). --format docker keeps
        HEALTHCHECK, which the OCI format drops. --layers=false: no intermediate images, fewer
        commits, since nothing here reuses them. The build's output goes to log_path."""
        args = [*self.base, "build", "--isolation=chroot", "--pull=never", "--format=docker", "--layers=false",
                "-f", dockerfile, "-t", tag, context]
        with open(log_path, "w") as log:
            try:
                code = subprocess.run(args, stdout=log, stderr=subprocess.STDOUT, timeout=1200).returncode
            except subprocess.TimeoutExpired:
                code = "timeout (1200 s)"
        if code != 0:
            with open(log_path) as log:
                raise AssertionError(f"podman build of {dockerfile} failed ({code}); the end of {log_path}:\n{log.read()[-6000:]}")

    def inspect(self, image):
        return json.loads(self("image", "inspect", image))[0]

    def mount(self, image):
        """The read-only root file system of the image."""
        path = self("image", "mount", image).strip()
        self.mounted.append(image)
        return path

    def close(self):
        for image in self.mounted:
            subprocess.run([*self.base, "image", "unmount", image], capture_output=True, timeout=60)
        subprocess.run([*self.base, "rmi", "--all", "--force"], capture_output=True, timeout=300)
        # The overlay folders are unmounted now; what podman left behind goes with the folder.
        left = mounts_under(self.dir)
        if left:
            subprocess.run(["umount", "-l", *reversed(left)], capture_output=True, timeout=60)
        shutil.rmtree(self.dir, ignore_errors=True)
        if os.path.exists(self.dir):
            raise AssertionError(f"podman's storage {self.dir} could not be removed (mounts left: {mounts_under(self.dir)})")


STORAGE_PREFIX = "starstream-podman-"


def mounts_under(folder):
    """Mount points at or below `folder`, in mount order (/proc/self/mountinfo)."""
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return [p for p in points if p == folder or p.startswith(folder.rstrip("/") + "/")]


def remove_stale_storage():
    """Removes the storage of earlier runs whose process is gone (killed by a ctest timeout, its
    cleanup never ran): their mounts are lazily unmounted, then the folders deleted, so that a
    stale build never fills /var/tmp run after run."""
    for name in os.listdir("/var/tmp"):
        folder = os.path.join("/var/tmp", name)
        if not name.startswith(STORAGE_PREFIX) or not os.path.isdir(folder):
            continue
        try:
            with open(os.path.join(folder, "owner.pid")) as f:
                os.kill(int(f.read().strip()), 0)
            continue  # its run is alive
        except (OSError, ValueError):
            pass
        left = mounts_under(folder)
        if left:
            subprocess.run(["umount", "-l", *reversed(left)], capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


def image_environment(config, **overrides):
    """The environment a container of this image config starts with (its ENV lines), plus
    overrides, as `docker run -e KEY=VALUE` would give."""
    env = dict(item.split("=", 1) for item in config.get("Env") or [])
    env.update(overrides)
    return env


def command_in_image(root, user, env, argv):
    """argv for subprocess that runs `argv` inside the mounted image at `root` as `user`
    ("uid:gid") with exactly `env`. The command is PID 1 of a new PID namespace (so an
    ENTRYPOINT's tini behaves as in a container); --kill-child takes the namespace down if
    the test kills unshare. The mounts live in a private mount namespace and vanish with it."""
    setup = ('mount --rbind /dev "$0/dev" && mount -t tmpfs -o mode=1777 tmpfs "$0/tmp"'
             ' && exec chroot --userspec="$1" "$0" /usr/bin/env -i "${@:2}"')
    return ["unshare", "--mount", "--propagation=private", "--pid", "--kill-child", f"--mount-proc={root}/proc", "--",
            "/bin/bash", "-c", setup, root, user, *(f"{k}={v}" for k, v in env.items()), *argv]


def process_ids(pid):
    """(uid, PID inside its innermost namespace) of a running process."""
    with open(f"/proc/{pid}/status") as f:
        status = dict(line.split(":", 1) for line in f.read().splitlines())
    return int(status["Uid"].split()[0]), int(status["NSpid"].split()[-1])


def pid1_of(unshare_pid):
    """The PID (in our namespace) of the command command_in_image started, or None before the fork."""
    try:
        with open(f"/proc/{unshare_pid}/task/{unshare_pid}/children") as f:
            children = f.read().split()
    except FileNotFoundError:
        return None
    return int(children[0]) if children else None
