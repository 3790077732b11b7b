"""Which torch build fits this machine: its NVIDIA GPUs and driver found without importing torch (nvidia-smi, or
Linux's /proc), then the build PyTorch publishes for that driver's CUDA version, or the CPU build."""

from __future__ import annotations

import ntpath
import os
import platform
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass, field

from .env import is_windows

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
