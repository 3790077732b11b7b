"""A real, bounded Ray cluster on this machine for tests and benchmarks.

The head and each worker node are separate `ray start --block` process groups, each on its own loopback
address (127.0.0.2, .3, ...: Ray replaces 127.0.0.1 by the host's external address, and distinct addresses
make nodes look like separate hosts). Token auth is always set explicitly (with RAY_AUTH_MODE unset Ray
switches it on by itself when ~/.ray/auth_token exists). Teardown kills exactly the processes of this
cluster: never `ray stop`, which kills every Ray process on the machine, other people's included.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import psutil

RAY = os.path.join(os.path.dirname(sys.executable), "ray")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalRayCluster:
    def __init__(self, slots_per_node=1, object_store_mb=80):
        # Short: Ray's unix sockets live under it (about 107 bytes at most), so not pytest's tmp_path.
        self.temp_dir = tempfile.mkdtemp(prefix="rc-", dir="/tmp")
        self.gcs_port = _free_port()
        self.client_port = _free_port()
        self.head_ip = "127.0.0.2"
        self.slots_per_node = slots_per_node
        self.object_store_bytes = object_store_mb * 10**6
        # What the server (and any other client) needs in its environment to join.
        self.client_env = {
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN": os.urandom(16).hex(),
            "RAY_USAGE_STATS_ENABLED": "0",
            "RAY_ENABLE_AUTO_CONNECT": "0",
        }
        self.env = dict(
            os.environ,
            **self.client_env,
            RAY_memory_monitor_refresh_ms="0",  # the OOM killer would judge by this shared machine's memory
            # A dead node noticed in about 2 s instead of 15-30 s.
            RAY_health_check_period_ms="500",
            RAY_health_check_timeout_ms="500",
            RAY_health_check_failure_threshold="3",
        )
        self.nodes: dict[str, subprocess.Popen] = {}
        self._next_ip = 3

    @property
    def address(self):
        return f"{self.head_ip}:{self.gcs_port}"

    @property
    def client_address(self):
        return f"ray://{self.head_ip}:{self.client_port}"

    def _node_args(self, ip, slots):
        return [
            "--node-ip-address",
            ip,
            "--num-cpus",
            "1",
            "--num-gpus",
            "0",
            "--resources",
            json.dumps({"realcam_slot": self.slots_per_node if slots is None else slots}),
            "--object-store-memory",
            str(self.object_store_bytes),
            "--temp-dir",
            self.temp_dir,
            "--disable-usage-stats",
            "--dashboard-agent-listen-port",
            "0",
            "--block",
            "--log-style",
            "record",
        ]

    def _spawn(self, ip, args, timeout=180):
        log_path = os.path.join(self.temp_dir, f"node-{ip}.log")
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [RAY, "start", *args], stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
            )
        self.nodes[ip] = proc  # before waiting: a node that never comes up is still torn down
        deadline = time.time() + timeout
        while time.time() < deadline:
            with open(log_path, "rb") as fh:
                text = fh.read().decode(errors="replace")
            if "Ray runtime started" in text:
                return ip
            if proc.poll() is not None:
                raise RuntimeError(f"ray start on {ip} exited with {proc.returncode}:\n{text[-3000:]}")
            time.sleep(0.2)
        raise TimeoutError(f"ray start on {ip} not ready in {timeout} s")

    def start_head(self, slots=None):
        args = ["--head", "--port", str(self.gcs_port), "--ray-client-server-port", str(self.client_port)]
        return self._spawn(self.head_ip, [*args, "--include-dashboard=false", *self._node_args(self.head_ip, slots)])

    def add_node(self, slots=None):
        ip = f"127.0.0.{self._next_ip}"
        self._next_ip += 1
        return self._spawn(ip, ["--address", self.address, *self._node_args(ip, slots)])

    def kill_node(self, ip):
        """SIGKILL a whole worker node, as if its machine died: its ray start group, raylet and workers."""
        proc = self.nodes.pop(ip)
        pids = self._pids(lambda words: f"--node-ip-address={ip}" in words or f"--node_ip_address={ip}" in words)
        _kill_group(proc)
        for pid in pids:
            _kill(pid)

    def all_pids(self):
        return self._pids(lambda words: True)

    def _pids(self, match):
        """Processes of this cluster that match: their command line names its temp folder or GCS address, and
        their descendants (workers); taken before killing, since orphans are re-parented."""
        pids = set()
        for proc in psutil.process_iter(["pid", "cmdline"]):
            words = set(proc.info["cmdline"] or [])
            ours = any(
                w == self.address or w.endswith("=" + self.address) or self.temp_dir + "/" in w + "/" for w in words
            )
            if ours and match(words):
                pids.add(proc.info["pid"])
        for pid in list(pids):
            try:
                pids.update(c.pid for c in psutil.Process(pid).children(recursive=True))
            except psutil.NoSuchProcess:
                pass
        return pids

    def shutdown(self):
        """Kill every process of this cluster; returns those still alive (none, normally)."""
        pids = self.all_pids()
        for proc in list(self.nodes.values()):
            _kill_group(proc)
        self.nodes.clear()
        for _ in range(40):
            pids |= self.all_pids()
            left = {pid for pid in pids if _alive(pid)}
            if not left:
                break
            for pid in left:
                _kill(pid)
            time.sleep(0.25)
        if not os.environ.get("REALCAM_KEEP_RAY_LOGS"):
            shutil.rmtree(self.temp_dir, ignore_errors=True)
        return {pid for pid in pids if _alive(pid)}


def _kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(10)


def _kill(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _alive(pid):
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
