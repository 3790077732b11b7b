"""Set up backend from the add-on's preferences, for real: a failing install, a cancelled one, the full set-up
(environment, torch, backend, check), then the artist's path through it: Generate refused until the model is
downloaded, Download model (size and licence first) from a hub on loopback, Import Photo with the backend's
depth, Generate, Update detection, Remove.

Usage: python backend_setup.py ZIP SAMPLES_DIR OUT_JSON WORK_DIR

The torch requirement stays the tested one (torch==2.13.0); "Index below" with no URL means pip's own settings,
which on this machine find the local CPU build. The report is written after every step.
"""

import os
import socket
import subprocess
import sys
import time

import bpy

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))  # tests/: the local hub
import harness  # noqa: E402
from local_hub import LocalHub, Repo  # noqa: E402

zip_path, samples, out_json, work = sys.argv[1:5]
# Everything this run downloads lands in its own Hugging Face cache, never the home folder's; set before any
# process starts, so the workers and the backend inherit it.
os.environ["HF_HOME"] = os.path.join(work, "hf home")
os.environ.pop("HF_HUB_OFFLINE", None)
pkg = harness.start(zip_path)
bpy.context.preferences.system.use_online_access = True  # as the artist allows it in Preferences > System
p = harness.prefs(pkg)
p.job_folder = os.path.join(work, "jobs")
with socket.socket() as sock:  # a free port: never another run's backend
    sock.bind(("127.0.0.1", 0))
    p.backend_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
s = p.backend_setup
s.torch_source, s.torch_index_url = "CUSTOM", ""
bs = harness.module(pkg, "backend.setup")
be = harness.module(pkg, "backend.env")
command_line = harness.module(pkg, "backend.command_line")
tasks = harness.module(pkg, "tasks")
report = {"user_dir": bs.user_dir(), "default_start_command": p.start_command}


def save():
    harness.dump(out_json, report)


def left():
    """What the user folder holds besides the logs."""
    return sorted(n for n in os.listdir(bs.user_dir()) if n != be.LOG_DIR)


def processes_under(path):
    """Processes whose command line names path (Linux /proc): nothing may outlive a cancelled set-up."""
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if path in cmd and int(pid) != os.getpid():
            out.append(cmd[:200])
    return out


def shown():
    """What the backend box of the preferences shows now."""
    out = []
    harness.module(pkg, "ui.preferences").draw_backend_setup(p, harness.Layout(out, props=True), bpy.context)
    return out


def drive(action="setup", cancel_when=None):
    """Run a set-up task through the timer's pump, recording when each stage began; cancel_when(task) -> cancel."""
    task = tasks.Task(f"backend {action}", None, bs.SETUP_KEY)
    task.gen = harness.module(pkg, "flows.backend_setup").setup_task(task, action)
    bs.STATE.task = task
    tasks.RUNNER.start(task)
    t0, stages, messages, cancelled_in = time.monotonic(), [], [], None
    while not task.done:
        tasks.RUNNER.pump()
        if not stages or stages[-1][0] != task.stage:
            stages.append((task.stage, round(time.monotonic() - t0, 1)))
        if task.message and (not messages or messages[-1] != task.message):
            messages.append(task.message)
        if stages[-1][0] == "torch" and "shown_running" not in report:
            report["shown_running"] = shown()
        if cancel_when and cancelled_in is None and cancel_when(task):
            cancelled_in = task.stage
            task.cancel()
        time.sleep(0.05)
    return {
        "stage": task.stage,
        "error": task.error,
        "stages": stages,
        "messages": messages[-200:],
        "seconds": round(time.monotonic() - t0, 1),
        "cancelled_in": cancelled_in,
        "result": task.result,
    }


s.show_options = True
report["shown_before"] = shown()

# 1. A package index that does not answer: a clear message, nothing left behind. pip's own settings are set
# aside (they would find the local torch) so only the bad index is there.
saved = {k: os.environ.get(k) for k in ("PIP_CONFIG_FILE", "PIP_FIND_LINKS", "PIP_RETRIES")}
os.environ.update(PIP_CONFIG_FILE=os.devnull, PIP_RETRIES="0")
os.environ.pop("PIP_FIND_LINKS", None)
s.torch_index_url = s.index_url = "http://127.0.0.1:9/simple"  # port 9 (discard): nothing listens
report["bad_index"] = drive()
report["bad_index"].update(left=left(), start_command=p.start_command)
for k, v in saved.items():
    if v is None:
        os.environ.pop(k, None)
    else:
        os.environ[k] = v
s.torch_index_url = s.index_url = ""
save()

# 2. Cancel while pip installs torch: the environment being built and its processes are gone.
report["cancel"] = drive(
    cancel_when=lambda t: t.stage == "torch" and t.message.startswith(("processing", "collecting"))
)
report["cancel"].update(left=left(), processes=processes_under(bs.user_dir()), start_command=p.start_command)
save()

# 3. The real set-up.
report["setup"] = drive()
status = bs.STATE.status()
report["setup"].update(
    left=left(),
    status=status,
    summary=bs.summary(status),
    start_command=p.start_command,
    start_argv=command_line.split_command(p.start_command),
    env_python=be.env_python(bs.env_dir()),
    record=be.read_json(os.path.join(bs.env_dir(), be.SETUP_RECORD)),
    needs_update=bs.needs_update(),
    processes=processes_under(bs.user_dir()),
    shown=shown(),
)
save()
if report["setup"]["error"]:
    sys.exit(0)

# 4. Check on demand.
report["check"] = drive("check")
report["check"]["status"] = bs.STATE.status()
save()

# 5. Tiny random-weight models made by the environment's own realcam, served by a hub on loopback under the
# default models' ids: what Download model fetches, and what Generate and Import Photo then run.
tiny = os.path.join(work, "tiny models")
subprocess.run([be.env_python(bs.env_dir()), "-m", "realcam", "tiny-models", tiny], check=True, capture_output=True)
repos = {
    "Wan-AI/Wan2.2-TI2V-5B-Diffusers": Repo(
        os.path.join(tiny, "wan22-ti2v"), "apache-2.0", {"transformer/diffusion_pytorch_model.fp16.safetensors": b"x"}
    ),
    "depth-anything/Depth-Anything-V2-Metric-Indoor-Large-hf": Repo(
        os.path.join(tiny, "depth-anything"), "cc-by-nc-4.0"
    ),
}
with LocalHub(repos) as hub:
    os.environ["HF_ENDPOINT"] = hub.url
    # The scene, with the artist's own depth map (no model needed for that).
    res, err = harness.import_room(samples, model=None, frames=5)
    report["import_with_depth_map"] = err
    bpy.ops.realcam.preset(kind="DOLLY_IN")
    scene = bpy.context.scene
    scene.realcam.steps, scene.realcam.seed = 2, 1
    # Generate before the model is downloaded: refused, saying where to get it; the embedded backend started
    # from the set-up's start command.
    res, err = harness.run_op(bpy.ops.realcam.generate)
    bp = harness.module(pkg, "backend.process")
    report["generate_not_downloaded"] = {"error": err, "backend_started": bp.started_here()}
    save()

    # Download model: a confirmed download before its size and licence were shown is refused.
    res, err = harness.run_op(bpy.ops.realcam.model_download, name="wan2.2-ti2v-5b", confirmed=True)
    report["download_unasked"] = err
    # The licence button opens web addresses only (a hub's model card could name a local file).
    report["open_licence_file"] = harness.run_op(bpy.ops.realcam.open_url, url="file:///etc/passwd")
    res, err = harness.run_op(bpy.ops.realcam.model_download, name="wan2.2-ti2v-5b")
    report["download_info"] = {"error": err, "plan": bs.STATE.plans.get("wan2.2-ti2v-5b"), "shown": shown()}
    res, err = harness.run_op(bpy.ops.realcam.model_download, name="wan2.2-ti2v-5b", confirmed=True)
    report["download"] = {"error": err, "stage": bs.STATE.download.stage, "requests": list(hub.requests)}
    res, err = harness.run_op(bpy.ops.realcam.model_download, name="da2-indoor-large")
    res, err2 = harness.run_op(bpy.ops.realcam.model_download, name="da2-indoor-large", confirmed=True)
    report["download_depth"] = [err, err2]
    report["models_after_download"] = bs.STATE.status()["models"]
    save()

    # Generate through the set-up backend with the downloaded default model.
    t0 = time.monotonic()
    res, err = harness.run_op(bpy.ops.realcam.generate)
    strips = harness.strips(scene.realcam.edit_scene)  # takes go to the shot's edit scene
    report["generate"] = {
        "error": err,
        "seconds": round(time.monotonic() - t0, 1),
        "movies": [
            {"name": st.name, "duration": st.frame_final_duration, "realcam": st.get("realcam")}
            for st in strips
            if st.type == "MOVIE"
        ],
    }
    # Import Photo with depth from the backend's default (downloaded) depth model.
    res, err = harness.import_room(samples, true_depth=False, model=None, frames=5)
    report["import_with_backend_depth"] = {"error": err, "photo": scene.realcam.photo}
    save()

# A hub that cannot be reached: a clear message.
os.environ["HF_ENDPOINT"] = "http://127.0.0.1:9"
res, err = harness.run_op(bpy.ops.realcam.model_download, name="svd-xt")
report["download_unreachable"] = err
save()

# 6. Update: the installed backend's record says another version -> the preferences ask for Update.
rec_path = os.path.join(bs.env_dir(), be.SETUP_RECORD)
rec = be.read_json(rec_path)
be.write_json(rec_path, dict(rec, version="0.0.1"))
report["needs_update"] = {"message": bs.needs_update(), "shown": shown()}
be.write_json(rec_path, rec)

# 7. Remove: the environment goes, the start command goes back to the default.
bp.stop()
res, err = harness.run_op(bpy.ops.realcam.backend_remove)
report["remove"] = {"error": err, "left": left(), "start_command": p.start_command, "installed": bs.is_installed()}
save()
