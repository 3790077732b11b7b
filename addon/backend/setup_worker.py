"""The backend set-up, run by Blender's own Python in a worker process (never inside Blender):

    python -I setup_worker.py PLAN.json

PLAN.json: {"action": "setup" | "check", "user_dir", "extension_dir", "log",
            "torch": {"source": "AUTO" | "CPU" | "CUSTOM", "requirement", "index_url"}, "index_url"}

setup: a new environment in a temporary folder next to the final one (environment, torch, backend, check), then
moved into place only once the check passed; a failed or cancelled set-up removes its folder, so the add-on never
sees a half-made environment. check: starts the installed backend and asks it what it is.

Progress goes to stdout as one JSON object per line ({"event": "stage" | "message" | "done" | "failed" |
"cancelled", ...}); everything pip and the backend print goes to the log. A line "cancel" on stdin, or stdin
closing (Blender went away), cancels: the running pip or backend is stopped and the temporary folder removed.
Standard library only; argv lists only, never a shell.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import platform
import queue
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request
import uuid

PACKAGE = "realcam_backend_setup"


def sibling(name: str):
    """A module beside this script (env.py, torch_build.py, ...), imported as part of a private package made of this
    folder: the worker runs alone (no add-on package around it, the folder's __init__.py is not run), a plain
    `import env` could find another module of that name on Blender's Python path, and the modules still import
    each other relatively, as they do inside the add-on."""
    import importlib
    import types

    if PACKAGE not in sys.modules:
        package = types.ModuleType(PACKAGE)
        package.__path__ = [os.path.dirname(os.path.abspath(__file__))]
        sys.modules[PACKAGE] = package
    return importlib.import_module(f"{PACKAGE}.{name}")


be = sibling("env")
pip_failures = sibling("pip_failures")
process_tree = sibling("process_tree")
torch_build = sibling("torch_build")

CHECK_TIMEOUT = 300.0  # a first start compiles and imports torch, diffusers and transformers
_LIST_INSTALLED = "import importlib.metadata as m; print(' '.join(d.metadata['Name'] for d in m.distributions()))"


class Cancelled(Exception):
    pass


CANCEL = threading.Event()
_out_lock = threading.Lock()


def emit(**event) -> None:
    with _out_lock:
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()


def _watch_stdin() -> None:
    for line in sys.stdin:
        if line.strip() == "cancel":
            break
    CANCEL.set()  # "cancel", or stdin closed because Blender is gone


class Log:
    def __init__(self, path: str):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.fh = open(path, "a", encoding="utf-8", errors="replace")

    def write(self, text: str) -> None:
        self.fh.write(text if text.endswith("\n") else text + "\n")
        self.fh.flush()

    def note(self, text: str) -> None:
        self.write(f"[{datetime.datetime.now().isoformat(timespec='seconds')}] {text}")


# ----------------------------------------------------------------- processes


def run(argv: list[str], log: Log, on_line=None) -> tuple[int, str]:
    """Run argv to its end (output to the log), stopping it when the set-up is cancelled."""
    log.note("run: " + " ".join(argv))
    p = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        encoding="utf-8",
        errors="replace",
        env=process_tree.clean_env(),
        **process_tree.spawn_kw(),
    )
    lines: queue.Queue = queue.Queue()

    def read():
        for line in p.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    output = []
    while True:
        if CANCEL.is_set():
            process_tree.kill_tree(p)
            raise Cancelled()
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            continue
        if line is None:
            break
        log.write(line)
        output.append(line)
        if on_line:
            on_line(line)
    return p.wait(), "".join(output)


def _pip_progress(line: str) -> None:
    """Short progress messages from pip's own lines."""
    line = line.strip()
    m = re.match(r"(Collecting|Downloading|Processing|Installing collected packages:)\s*(.*)", line)
    if m:
        what = m.group(2)
        if m.group(1) == "Downloading":
            what = re.sub(r"^https?://\S+/", "", what)
        emit(event="message", message=f"{m.group(1).lower()} {what}"[:120])


def pip_install(py: str, args: list[str], stage: str, requirement: str, index_url: str | None, env_dir: str, log: Log):
    argv = [py, "-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--no-compile", *args]
    if index_url:
        argv += ["--index-url", index_url]
    rc, output = run(argv, log, _pip_progress)
    if rc != 0:
        unreachable = pip_failures.probe_index(index_url, "torch" if stage == "torch" else "pip") if index_url else None
        raise be.SetupError(
            pip_failures.explain_pip_failure(output, stage, requirement, index_url, env_dir, log.fh.name, unreachable)
        )


# ----------------------------------------------------------------- check


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 30.0) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read().decode("utf-8"))


def check(env_dir: str, bundle: dict, log: Log) -> dict:
    """Start the environment's backend on a free loopback port and ask it what it is."""
    py = be.env_python(env_dir)
    if not os.path.isfile(py):
        raise be.SetupError(f"no backend environment at {env_dir}: set up the backend first")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    data = tempfile.mkdtemp(prefix="realcam-check-")
    argv = be.start_argv(env_dir) + ["--host", "127.0.0.1", "--port", str(port), "--data", data]
    log.note("check: " + " ".join(argv))
    started = time.monotonic()
    p = subprocess.Popen(
        argv,
        stdout=log.fh,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=process_tree.clean_env(),
        **process_tree.spawn_kw(),
    )
    try:
        while True:
            if CANCEL.is_set():
                raise Cancelled()
            if p.poll() is not None:
                raise be.SetupError(
                    f"the installed backend did not start (exit code {p.returncode}): see {log.fh.name}; "
                    "Update (or Remove and set up again) reinstalls it"
                )
            try:
                health = _get(f"{url}/v1/health", timeout=5)
                break
            except (urllib.error.URLError, OSError, ValueError):
                if time.monotonic() - started > CHECK_TIMEOUT:
                    raise be.SetupError(
                        f"the installed backend did not answer within {CHECK_TIMEOUT:.0f} s: see {log.fh.name}"
                    ) from None
                time.sleep(0.25)
        start_s = time.monotonic() - started
        models = _get(f"{url}/v1/models", timeout=120)
    finally:
        process_tree.kill_tree(p)
        shutil.rmtree(data, ignore_errors=True)
    return _status(env_dir, bundle, health, models, start_s)


def _status(env_dir: str, bundle: dict, health: dict, models: dict, start_s: float) -> dict:
    device = health.get("device_info") or {"device": health.get("device", "?")}
    warnings = []
    if device.get("device") == "cpu":
        warnings.append("no GPU: generation runs on the CPU and will be very slow (hours for a full-size shot)")
    record = be.read_json(os.path.join(env_dir, be.SETUP_RECORD)) or {}
    needs_update = health.get("version") != bundle.get("version") or (
        record.get("wheel_sha256") not in (None, bundle.get("wheel_sha256"))
    )
    if needs_update:
        warnings.append(
            f"the backend is version {health.get('version')}, the add-on {bundle.get('version')}: click Update"
        )
    rows = []
    for kind in ("video", "depth"):
        for m in models.get(kind, []):
            if m.get("configured"):
                continue
            rows.append(
                {
                    "kind": kind,
                    "name": m["name"],
                    "id": m.get("id"),
                    "cached": bool(m.get("cached")),
                    "default": bool(m.get("default")),
                    "licence": m.get("licence"),
                }
            )
    # Default model first, per kind.
    rows.sort(key=lambda r: (r["kind"] != "video", not r["default"]))
    return {
        "ok": True,
        "checked_at": time.time(),
        "env": env_dir,
        "version": health.get("version"),
        "api_version": health.get("api_version"),
        "bundle_schema_versions": health.get("bundle_schema_versions"),
        "device": device,
        "start_s": round(start_s, 1),
        "needs_update": bool(needs_update),
        "warnings": warnings,
        "models": rows,
        "torch": record.get("torch"),
    }


# ----------------------------------------------------------------- set-up


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _constraints_without(src: str, dst: str, installed: set[str]) -> None:
    """The backend's pins less what the torch stage already installed: with a torch the artist chose, its own
    dependencies stay as pip resolved them for it."""
    with open(src, encoding="utf-8") as fh, open(dst, "w", encoding="utf-8") as out:
        for line in fh:
            name = re.split(r"[=<>!~;\[ ]", line.strip(), maxsplit=1)[0]
            if line.strip() and not line.startswith("#") and _canonical(name) in installed:
                continue
            out.write(line)


def stage(name: str, message: str) -> None:
    emit(event="stage", stage=name, index=be.STAGES.index(name), total=len(be.STAGES), message=message)


def setup(plan: dict, bundle: dict, log: Log) -> dict:
    user_dir = plan["user_dir"]
    os.makedirs(user_dir, exist_ok=True)
    for stale in be.leftovers(user_dir):
        log.note(f"removing {stale}, left by an earlier set-up")
        be.remove_tree(stale)
    want = bundle.get("python", "3.11")
    have = f"{sys.version_info.major}.{sys.version_info.minor}"
    if have != want:
        raise be.SetupError(
            f"the backend needs Python {want}; this Blender's Python ({sys.executable}) is {have}. "
            f"Use a Blender whose Python is {want} (4.2 to 5.0), or install the backend by hand (see docs/install.md)"
        )
    opts = plan.get("torch", {})
    source = opts.get("source", "AUTO")
    gpus, how = torch_build.detect_nvidia() if source == "AUTO" else ([], "")
    choice = torch_build.choose_torch(
        bundle["torch"], gpus, platform.system(), source, opts.get("requirement", ""), opts.get("index_url", ""), how
    )
    log.note(f"torch: {choice.requirement} from {choice.index_url or 'pip settings'}: {choice.reason}")
    emit(event="message", message=f"torch: {choice.reason}")
    need = torch_build.NEEDED_GB.get(choice.build, 6.0)
    free = shutil.disk_usage(user_dir).free / 2**30
    if free < need:
        raise be.SetupError(
            f"only {free:.1f} GB free on the disk holding {user_dir}; the backend needs about {need:.0f} GB "
            "(environment and pip's downloads): free some space and set up again"
        )
    index_url = plan.get("index_url") or None
    if _sha256(bundle["wheel_path"]) != bundle["wheel_sha256"]:
        raise be.SetupError(f"{bundle['wheel_path']} is damaged (checksum differs): reinstall the extension")

    tmp = tempfile.mkdtemp(prefix=be.PARTIAL_PREFIX, dir=user_dir)
    try:
        stage("environment", "creating a Python environment with Blender's Python")
        rc, output = run([sys.executable, "-m", "venv", tmp], log)
        py = be.env_python(tmp)
        if rc != 0 or not os.path.isfile(py):
            last = (output.strip().splitlines() or ["no output"])[-1]
            raise be.SetupError(f"Blender's Python could not create an environment ({last}); details in {log.fh.name}")

        stage("torch", f"installing {choice.requirement} ({choice.build} build)")
        args = [choice.requirement] + (["-c", bundle["constraints_path"]] if choice.constrained else [])
        pip_install(py, args, "torch", choice.requirement, choice.index_url, user_dir, log)

        stage("backend", f"installing the RealCam backend {bundle['version']} and its pinned dependencies")
        rc, names = run([py, "-c", _LIST_INSTALLED], log)
        installed = {_canonical(n) for n in names.split()} if rc == 0 else set()
        pins = os.path.join(tmp, "realcam-constraints.txt")  # kept: the pins this environment was made with
        _constraints_without(bundle["constraints_path"], pins, installed)
        pip_install(py, [bundle["wheel_path"], "-c", pins], "backend", choice.requirement, index_url, user_dir, log)

        stage("check", "starting the backend")
        be.write_json(
            os.path.join(tmp, be.SETUP_RECORD),
            {
                "version": bundle["version"],
                "wheel_sha256": bundle["wheel_sha256"],
                "torch": choice.to_dict(),
                "index_url": index_url,
                "base_python": sys.executable,
                "python": have,
                "created_at": time.time(),
            },
        )
        status = check(tmp, bundle, log)
        final = _swap(user_dir, tmp, log)
    except BaseException:
        log.note(f"removing the unfinished environment {tmp}")
        be.remove_tree(tmp)
        raise
    status["env"] = final
    return status


def _swap(user_dir: str, tmp: str, log: Log) -> str:
    """Move the checked environment into place; the previous one (an update) goes only once the new one runs."""
    final = os.path.join(user_dir, be.ENV_DIR)
    old = None
    if os.path.exists(final):
        old = os.path.join(user_dir, be.OLD_PREFIX + uuid.uuid4().hex[:8])
        os.replace(final, old)
    try:
        os.replace(tmp, final)
    except OSError as e:
        if old:
            os.replace(old, final)
        raise be.SetupError(
            f"could not move the new environment into {final} ({e}); is the backend still running?"
        ) from None
    # The environment moved: its Python must still find itself and the backend there.
    rc, out = run([be.env_python(final), "-c", "import sys, realcam; print(sys.prefix)"], log)
    if rc != 0 or os.path.realpath(out.strip().splitlines()[-1] if out.strip() else "") != os.path.realpath(final):
        os.replace(final, tmp)
        if old:
            os.replace(old, final)
        raise be.SetupError(f"the environment does not run after moving it into {final}; details in {log.fh.name}")
    if old:
        be.remove_tree(old)
    log.note(f"the backend environment is ready: {final}")
    return final


def main(argv: list[str]) -> int:
    with open(argv[1], encoding="utf-8") as fh:
        plan = json.load(fh)
    threading.Thread(target=_watch_stdin, daemon=True).start()
    log = Log(plan["log"])
    log.note(f"{plan['action']} with {sys.executable} (Python {sys.version.split()[0]})")
    status_path = os.path.join(plan["user_dir"], be.STATUS_FILE)
    try:
        bundle = be.read_bundle(plan["extension_dir"])
        if plan["action"] == "setup":
            status = setup(plan, bundle, log)
        else:
            stage("check", "starting the backend")
            status = check(os.path.join(plan["user_dir"], be.ENV_DIR), bundle, log)
        be.write_json(status_path, status)
        emit(event="done", status=status)
        return 0
    except Cancelled:
        log.note("cancelled")
        emit(event="cancelled")
        return 2
    except be.SetupError as e:
        log.note(f"failed: {e}")
        if plan["action"] == "check":  # the panel shows why the installed backend does not run
            be.write_json(status_path, {"ok": False, "error": str(e), "checked_at": time.time()})
        emit(event="failed", error=str(e))
        return 1
    except Exception as e:  # an unexpected failure still reaches the artist, with the log for the details
        log.write(traceback.format_exc())
        emit(event="failed", error=f"{type(e).__name__}: {e} (details in {log.fh.name})")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
