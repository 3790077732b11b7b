"""A take survives its backend being killed mid-job, and Blender being closed while it runs.

Phase "kill": the add-on's own (embedded) backend is killed with SIGKILL while a take runs; the add-on
waits, starts it again, the backend runs the job again, the take arrives. Then a second take is
started, the .blend saved while it runs, and Blender quits (stopping the backend it started).
Phase "reopen" (a new Blender): opening the .blend picks the second take up and brings it in.

Usage: python addon_crash.py ZIP URL START_COMMAND SAMPLES_DIR OUT_JSON WORK_DIR PHASE
"""

import json
import os
import signal
import sys

import bpy

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

zip_path, url, command, samples, out_json, work, phase = sys.argv[1:8]
pkg = harness.start(zip_path, empty=False)
client_mod = harness.module(pkg, "realcam_core.client")  # the add-on's own client: any Blender's Python has it
BackendError, Client = client_mod.BackendError, client_mod.Client
tasks, bp = harness.module(pkg, "tasks"), harness.module(pkg, "backend.process")
tasks.RUNNER.blocking = False
p = harness.prefs(pkg)
p.preview_engine = "WORKBENCH"  # the engine is not what this script checks: see addon_studio.py
p.backend_url, p.auto_start, p.start_command = url, True, command
blend = os.path.join(work, "project", "crash.blend")
client = Client(url)
report = {}


def job_state(job_id):
    try:
        return client.job(job_id)
    except BackendError:
        return None


def follow(task, until=None):
    """Pump like Blender's timer, keeping every stage the panel showed."""
    stages = []

    def check():
        if task.stage and (not stages or stages[-1] != task.stage):
            stages.append(task.stage)
        return until() if until else task.done

    harness.pump(pkg, task, until=check, timeout=900)
    return stages


if phase == "kill":
    os.makedirs(os.path.dirname(blend))
    bpy.ops.wm.save_as_mainfile(filepath=blend)
    harness.import_room(samples, call=harness.gui_op)
    follow(harness.last_task(pkg))
    shot_name = bpy.context.scene.name
    harness.gui_op(bpy.ops.realcam.preset, kind="TRUCK_LEFT")
    rc = bpy.data.scenes[shot_name].realcam
    rc.model, rc.steps, rc.seed = "tiny", 60, 1
    harness.gui_op(bpy.ops.realcam.generate)
    task = harness.last_task(pkg)

    def running():
        jid = bpy.data.scenes[shot_name].realcam.job_id
        return task.done or bool(jid and (job_state(jid) or {}).get("state") == "running")

    before = follow(task, running)
    job_id = bpy.data.scenes[shot_name].realcam.job_id
    pid = bp._process.pid
    os.kill(pid, signal.SIGKILL)  # the backend dies mid-job
    after = follow(task)
    shot = bpy.data.scenes[shot_name]
    edit = shot.realcam.edit_scene
    strips = [json.loads(s["realcam"]) for s in harness.strips(edit) if s.type == "MOVIE"]
    report["kill"] = {
        "job": job_id,
        "killed_pid": pid,
        "new_pid": bp._process.pid if bp._process else None,
        "stages_before": before,
        "stages_after": after,
        "error": task.error,
        "stage": task.stage,
        "strip_jobs": [s["job"] for s in strips],
        "videos": [os.path.isfile(bpy.path.abspath(os.path.join(s["take"], "video.mp4"))) for s in strips],
        "attempts": (job_state(job_id) or {}).get("attempts"),
        "job_id_after": shot.realcam.job_id,
    }
    # A second take; the .blend is saved while it runs, then Blender quits.
    shot.realcam.seed = 2
    harness.gui_op(bpy.ops.realcam.generate)
    task = harness.last_task(pkg)
    follow(task, running)
    shot = bpy.data.scenes[shot_name]
    report["closing"] = {
        "job": shot.realcam.job_id,
        "take": shot.realcam.job_take,
        "shot": shot_name,
        "done_before_quit": task.done,
    }
    bpy.ops.wm.save_mainfile()
    harness.dump(out_json, report)
    # Quitting: the add-on stops the backend it started (atexit), in the middle of the job.
else:
    before = json.load(open(out_json))
    closing = before["closing"]
    bpy.ops.wm.open_mainfile(filepath=blend)  # load_post: the recorded take's job is followed again
    started = [t for t in tasks.RUNNER.tasks if not t.done]
    task = started[0] if started else None
    stages = follow(task) if task else []
    shot = bpy.data.scenes[closing["shot"]]
    edit = shot.realcam.edit_scene
    strips = [json.loads(s["realcam"]) for s in harness.strips(edit) if s.type == "MOVIE"]
    report = {
        **before,
        "reopen": {
            "tasks_started": len(started),
            "stages": stages,
            "error": task.error if task else "no task",
            "strip_jobs": [s["job"] for s in strips],
            "videos": [os.path.isfile(bpy.path.abspath(os.path.join(s["take"], "video.mp4"))) for s in strips],
            "attempts": (job_state(closing["job"]) or {}).get("attempts"),
            "job_id_after": shot.realcam.job_id,
            "takes": [t.name for t in shot.realcam.takes],
        },
    }
    bpy.ops.wm.save_mainfile()
    harness.dump(out_json, report)
