"""The backend's private environment, in plain Python: where it lives, how its commands are written, which torch
build fits this machine, and what a failed pip run means for the artist.

Shared by the add-on (setup.py) and the set-up worker (setup_worker.py, a script that Blender's own Python runs in a
separate process, which loads this file by its path): standard library only, no bpy, nothing imported relative to
the add-on.
"""

from __future__ import annotations

import json
import ntpath
import os
import platform
import re
import shlex
import shutil
import signal
import subprocess
from dataclasses import asdict, dataclass, field

# Inside the extension: the backend's wheel, its constraints and backend.json. Blender ignores the folder (no
# __init__.py, not the manifest's `wheels`), so nothing is installed into Blender's own Python.
BUNDLE_DIR = "backend_dist"
BUNDLE_INFO = "backend.json"

# Inside the extension's user folder (bpy.utils.extension_path_user).
ENV_DIR = "env"
PARTIAL_PREFIX = "env.partial-"  # an environment being built; never used, removed when found
OLD_PREFIX = "env.old-"  # the previous environment during an update's swap
SETUP_RECORD = "realcam-setup.json"  # inside the environment: what was installed, from what
STATUS_FILE = "backend-status.json"  # the last check's result, shown in the preferences
LOG_DIR = "logs"
SETUP_LOG = "backend-setup.log"
DOWNLOAD_LOG = "model-download.log"

# The builds PyTorch publishes per CUDA version (newest first) for the torch releases this backend is tested
# with; a driver runs a build whose CUDA version is at most the one it supports. Overridable in the preferences.
TORCH_INDEX = "https://download.pytorch.org/whl"
CUDA_BUILDS = (("cu130", (13, 0)), ("cu128", (12, 8)), ("cu126", (12, 6)))
# Minimum driver per CUDA version (Linux, Windows), from NVIDIA's CUDA release notes: used when only the driver
# version is known (no nvidia-smi, e.g. /proc/driver/nvidia/version).
DRIVER_CUDA = (
    ((13, 0), "580.65", "580.88"),
    ((12, 8), "570.26", "570.65"),
    ((12, 6), "560.28", "560.76"),
    ((12, 4), "550.54", "551.61"),
)

# Free disk the set-up wants before it starts (environment plus pip's download cache), in GiB.
NEEDED_GB = {"cpu": 4.0, "cuda": 12.0, "default": 6.0}

STAGES = ("environment", "torch", "backend", "check")


class SetupError(Exception):
    """A reason the set-up stopped, written for the artist."""


# ----------------------------------------------------------------- paths


def is_windows(system: str | None = None) -> bool:
    return (system or platform.system()) == "Windows"


def env_python(env_dir: str, system: str | None = None) -> str:
    """The environment's Python: Scripts\\python.exe on Windows, bin/python elsewhere."""
    if is_windows(system):
        return ntpath.join(env_dir, "Scripts", "python.exe")
    return os.path.join(env_dir, "bin", "python")


def start_argv(env_dir: str, system: str | None = None) -> list[str]:
    """How the add-on starts the installed backend. `-m realcam`, not the `realcam` script: the script's first line
    names the folder it was installed in, and the environment is built elsewhere and moved into place.
    --offline: the embedded backend never downloads weights on its own (the preferences' Download model does)."""
    return [env_python(env_dir, system), "-m", "realcam", "serve", "--offline"]


# ----------------------------------------------------------------- command lines (argv <-> the preference string)


def join_command(argv: list[str], windows: bool | None = None) -> str:
    """One string for the start-command preference, quoted so that split_command gives argv back."""
    windows = is_windows() if windows is None else windows
    return subprocess.list2cmdline(argv) if windows else shlex.join(argv)


def split_command(command: str, windows: bool | None = None) -> list[str]:
    """argv from the start-command preference: POSIX shell quoting, or Windows' own rules on Windows (where
    backslashes are path separators, not escapes). Never run through a shell."""
    windows = is_windows() if windows is None else windows
    return _split_windows(command) if windows else shlex.split(command)


def _split_windows(command: str) -> list[str]:
    """The Microsoft C runtime's rules (CommandLineToArgvW), which subprocess.list2cmdline writes for: 2n
    backslashes before a quote are n backslashes and the quote delimits; 2n+1 are n and a literal quote."""
    args, cur, in_arg, quoted, i = [], [], False, False, 0
    while i < len(command):
        c = command[i]
        if c == "\\":
            n = 0
            while i < len(command) and command[i] == "\\":
                n, i = n + 1, i + 1
            if i < len(command) and command[i] == '"':
                cur.append("\\" * (n // 2))
                if n % 2:
                    cur.append('"')
                    i += 1
            else:
                cur.append("\\" * n)
            in_arg = True
            continue
        if c == '"':
            if quoted and i + 1 < len(command) and command[i + 1] == '"':
                cur.append('"')  # "" inside quotes is a literal quote
                i += 2
                continue
            quoted, in_arg = not quoted, True
        elif c in " \t" and not quoted:
            if in_arg:
                args.append("".join(cur))
                cur, in_arg = [], False
        else:
            cur.append(c)
            in_arg = True
        i += 1
    if in_arg:
        args.append("".join(cur))
    return args


# ----------------------------------------------------------------- the machine's GPU, without importing torch


@dataclass
class Gpu:
    name: str
    driver: str = ""
    memory_mib: int | None = None
    cuda: tuple | None = None  # the newest CUDA version the driver runs


def parse_smi_query(text: str) -> list[Gpu]:
    """`nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader,nounits` output."""
    out = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 3 or not parts[0]:
            continue
        try:
            mem = int(float(parts[2]))
        except ValueError:
            mem = None
        out.append(Gpu(parts[0], parts[1], mem))
    return out


def parse_cuda_version(text: str) -> tuple | None:
    """The driver's CUDA version from plain `nvidia-smi` output ("CUDA Version: 12.8")."""
    m = re.search(r"CUDA Version\s*:\s*(\d+)\.(\d+)", text)
    return (int(m.group(1)), int(m.group(2))) if m else None


def parse_proc_driver(text: str) -> str | None:
    """The driver version from Linux's /proc/driver/nvidia/version."""
    m = re.search(r"Kernel Module(?: for [\w-]+)?\s+(\d+\.\d+(?:\.\d+)?)", text)
    return m.group(1) if m else None


def _version(text: str) -> tuple:
    return tuple(int(p) for p in re.findall(r"\d+", text)[:3])


def cuda_for_driver(driver: str, system: str) -> tuple | None:
    """The newest CUDA a driver runs (driver versions compare part by part: 570.133 is newer than 570.26)."""
    have = _version(driver)
    if not have:
        return None
    for cuda, linux_min, windows_min in DRIVER_CUDA:
        if have >= _version(windows_min if is_windows(system) else linux_min):
            return cuda
    return None


def _smi_candidates(system: str) -> list[str]:
    found = shutil.which("nvidia-smi")
    out = [found] if found else []
    if is_windows(system):
        root = os.environ.get("SystemRoot", r"C:\Windows")
        progs = os.environ.get("ProgramFiles", r"C:\Program Files")
        out += [
            ntpath.join(root, "System32", "nvidia-smi.exe"),
            ntpath.join(progs, "NVIDIA Corporation", "NVSMI", "nvidia-smi.exe"),
        ]
    elif system == "Linux":
        out += ["/usr/bin/nvidia-smi", "/usr/lib/wsl/lib/nvidia-smi"]  # the latter: WSL 2
    return [p for p in dict.fromkeys(out) if os.path.isfile(p)]


def _quiet_run(argv: list[str], timeout: float = 20.0) -> str | None:
    kw = {"creationflags": subprocess.CREATE_NO_WINDOW} if os.name == "nt" else {}
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, **kw)
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout if r.returncode == 0 else None


def detect_nvidia(system: str | None = None) -> tuple[list[Gpu], str]:
    """NVIDIA GPUs with a working driver, and how they were found. macOS has no CUDA: always none."""
    system = system or platform.system()
    if system == "Darwin":
        return [], "macOS: no CUDA"
    for smi in _smi_candidates(system):
        text = _quiet_run([smi, "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader,nounits"])
        gpus = parse_smi_query(text or "")
        if gpus:
            cuda = parse_cuda_version(_quiet_run([smi]) or "")
            for g in gpus:
                g.cuda = cuda or cuda_for_driver(g.driver, system)
            return gpus, f"nvidia-smi ({smi})"
        if text is not None:
            return [], f"nvidia-smi ({smi}) lists no GPU"
    if system == "Linux":
        try:
            with open("/proc/driver/nvidia/version", encoding="utf-8", errors="replace") as fh:
                driver = parse_proc_driver(fh.read())
        except OSError:
            driver = None
        if driver:
            return [Gpu("NVIDIA GPU", driver, None, cuda_for_driver(driver, system))], "/proc/driver/nvidia/version"
    return [], "no NVIDIA driver found (no nvidia-smi" + (", no /proc/driver/nvidia)" if system == "Linux" else ")")


# ----------------------------------------------------------------- which torch


@dataclass
class TorchChoice:
    requirement: str
    index_url: str | None  # None: pip's own settings (PyPI unless configured otherwise)
    build: str  # "cuda", "cpu" or "default"
    reason: str
    constrained: bool = True  # the tested requirement: install it with the backend's constraints
    gpus: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def choose_torch(
    default_requirement: str,
    gpus: list[Gpu],
    system: str,
    source: str = "AUTO",
    requirement: str = "",
    index_url: str = "",
    how_found: str = "",
) -> TorchChoice:
    """The torch to install. source: AUTO (this machine), CPU, or CUSTOM (index_url; empty means pip's own
    settings). requirement overrides the tested version (then the backend's pins do not constrain torch)."""
    req = requirement.strip() or default_requirement
    constrained = not requirement.strip() or requirement.strip() == default_requirement
    if source == "CUSTOM":
        where = index_url.strip() or None
        return TorchChoice(
            req, where, "default", f"the index set in the preferences ({where or 'pip settings'})", constrained
        )
    if source == "CPU" or not gpus:
        why = "CPU build chosen in the preferences" if source == "CPU" else f"no NVIDIA GPU ({how_found})"
        if system == "Darwin":
            # PyPI's macOS build is the one to use there (it has Apple's MPS on Apple silicon); no CUDA builds exist.
            return TorchChoice(req, None, "default", f"macOS: PyPI's build ({why})", constrained)
        # On Linux PyPI's default torch carries gigabytes of CUDA libraries: the CPU index has the small build.
        return TorchChoice(req, f"{TORCH_INDEX}/cpu", "cpu", why, constrained)
    gpu = gpus[0]
    cuda = gpu.cuda
    for tag, version in CUDA_BUILDS:
        if cuda and cuda >= version:
            reason = (
                f"{gpu.name}, driver {gpu.driver} (CUDA {cuda[0]}.{cuda[1]}): the CUDA {version[0]}.{version[1]} build"
            )
            return TorchChoice(req, f"{TORCH_INDEX}/{tag}", "cuda", reason, constrained, [asdict(g) for g in gpus])
    oldest = CUDA_BUILDS[-1][1]
    have = f"CUDA {cuda[0]}.{cuda[1]}" if cuda else "an unknown CUDA version"
    reason = (
        f"{gpu.name}: its driver {gpu.driver} supports {have}, older than torch's oldest CUDA build "
        f"({oldest[0]}.{oldest[1]}); update the NVIDIA driver and set up again to generate on the GPU. CPU build"
    )
    return TorchChoice(req, f"{TORCH_INDEX}/cpu", "cpu", reason, constrained, [asdict(g) for g in gpus])


# ----------------------------------------------------------------- pip's failures, for the artist

_NETWORK = (
    "NewConnectionError",
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Name or service not known",
    "nodename nor servname",
    "getaddrinfo failed",
    "Network is unreachable",
    "Connection refused",
    "ConnectTimeoutError",
    "Read timed out",
    "ProxyError",
    "SSLError",
    "CERTIFICATE_VERIFY_FAILED",
)


def probe_index(index_url: str, project: str = "torch", timeout: float = 20.0) -> str | None:
    """Why pip could not use this package index at all, or None. pip's own output (without retries) cannot tell an
    index that does not answer from one that lacks the package, so after a failure ask it once (one small page).
    Only a refused or unresolvable connection counts: certificates and proxies pip knows of may differ from
    Python's, so those failures stay pip's to explain."""
    import ssl
    import urllib.error
    import urllib.parse
    import urllib.request

    parts = urllib.parse.urlparse(index_url)
    if parts.scheme == "file":
        folder = urllib.request.url2pathname(parts.path)
        return None if os.path.isdir(folder) else f"the package index folder {folder} does not exist"
    if parts.scheme not in ("http", "https"):
        return f"{index_url} is not a package index URL (http://, https:// or file://)"
    try:
        with urllib.request.urlopen(index_url.rstrip("/") + f"/{project}/", timeout=timeout):
            return None
    except urllib.error.HTTPError:
        return None  # it answers; whether it has the package is pip's to say
    except urllib.error.URLError as e:
        if isinstance(e.reason, ssl.SSLError):
            return None
        return (
            f"cannot reach the package index {index_url} ({e.reason}): check the network connection "
            "(or the proxy), or set another index in the preferences, then set up again"
        )
    except (OSError, ValueError) as e:
        return (
            f"cannot reach the package index {index_url} ({getattr(e, 'reason', e)}): check the network connection "
            "(or the proxy), or set another index in the preferences, then set up again"
        )


def explain_pip_failure(
    output: str,
    stage: str,
    requirement: str,
    index_url: str | None,
    env_dir: str,
    log: str,
    unreachable: str | None = None,
) -> str:
    """One message that says what went wrong and what to do, from pip's output (and probe_index's finding)."""
    where = index_url or "the package index in pip's settings (PyPI by default)"
    tail = f" (details in {log})"
    if "No space left on device" in output or "[Errno 28]" in output:
        return f"the disk holding {env_dir} is full: free some space and set up again{tail}"
    if unreachable:
        return unreachable + tail
    if any(marker in output for marker in _NETWORK):
        return (
            f"pip cannot reach {where}: check the network connection (or the proxy), or set another package "
            f"index in the preferences, then set up again{tail}"
        )
    if re.search(r"(HTTP error|Client Error|Server Error)\s*:?\s*\d{3}|\b40[134]\b.*for url", output):
        return f"{where} refused pip's requests: check the index URL in the preferences{tail}"
    missing = re.search(r"No matching distribution found for ([^\s]+)", output)
    if stage == "torch" and (missing or "Could not find a version" in output):
        return (
            f"no torch build matching '{requirement}' for Python {platform.python_version()} on "
            f"{platform.system()} {platform.machine()} at {where}: choose another torch build, requirement or index "
            f"in the preferences (the CPU build installs everywhere){tail}"
        )
    if "ResolutionImpossible" in output or "conflicting dependencies" in output:
        return (
            f"the packages conflict: the torch requirement '{requirement}' does not fit the backend's tested "
            f"dependencies; clear the torch requirement in the preferences to use the tested one{tail}"
        )
    if missing:
        return (
            f"{where} has no {missing.group(1)} for Python {platform.python_version()} on {platform.system()} "
            f"{platform.machine()}: set a package index that has it in the preferences{tail}"
        )
    errors = [ln.strip() for ln in output.splitlines() if ln.startswith("ERROR")]
    return f"pip failed installing {stage}: {errors[-1] if errors else 'see the log'}{tail}"


# ----------------------------------------------------------------- the backend the extension carries


def read_bundle(extension_dir: str) -> dict:
    """backend.json of the backend shipped in the extension, with the absolute paths of its files."""
    folder = os.path.join(extension_dir, BUNDLE_DIR)
    path = os.path.join(folder, BUNDLE_INFO)
    try:
        with open(path, encoding="utf-8") as fh:
            info = json.load(fh)
    except (OSError, ValueError):
        raise SetupError(
            f"this copy of the add-on carries no backend ({path} is missing): install the extension zip built by "
            "scripts/build_addon.py"
        ) from None
    info["wheel_path"] = os.path.join(folder, info["wheel"])
    info["constraints_path"] = os.path.join(folder, info["constraints"])
    return info


def read_json(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def write_json(path: str, data: dict) -> None:
    """Whole or not at all: a reader never sees half a file."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1)
    os.replace(tmp, path)


def leftovers(user_dir: str) -> list[str]:
    """Environments being built or swapped out, left by a set-up that was killed."""
    try:
        names = os.listdir(user_dir)
    except OSError:
        return []
    return [os.path.join(user_dir, n) for n in names if n.startswith((PARTIAL_PREFIX, OLD_PREFIX))]


def remove_tree(path: str) -> bool:
    """Delete a folder, read-only files included (Windows); True when it is gone."""

    def _retry(func, p, _exc):
        try:
            os.chmod(p, 0o700)
            func(p)
        except OSError:
            pass

    if os.path.islink(path):
        os.unlink(path)
        return True
    if os.path.isdir(path):
        shutil.rmtree(path, onerror=_retry)
    return not os.path.exists(path)


def clean_env(base: dict | None = None) -> dict:
    """The environment for the backend's processes: nothing from Blender's or a test's Python leaks in."""
    env = dict(os.environ if base is None else base)
    for k in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONEXECUTABLE", "VIRTUAL_ENV", "__PYVENV_LAUNCHER__"):
        env.pop(k, None)
    env["PYTHONNOUSERSITE"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def spawn_kw() -> dict:
    """Popen options for a worker: its own process group (so stopping it stops what it started), no console
    window on Windows."""
    if os.name == "nt":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.CREATE_NO_WINDOW}
    return {"start_new_session": True}


def kill_tree(p: subprocess.Popen, grace: float = 10.0) -> None:
    """Stop a process started with spawn_kw and everything it started."""
    if p.poll() is not None:
        return
    if os.name == "nt":
        subprocess.run(["taskkill", "/PID", str(p.pid), "/T", "/F"], capture_output=True, **spawn_kw())
    else:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except OSError:
            p.terminate()
    try:
        p.wait(grace)
    except subprocess.TimeoutExpired:
        if os.name != "nt":
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
        p.kill()
        p.wait(grace)
