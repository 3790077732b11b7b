"""The embedded backend: started by the add-on when none answers, reused, stopped when Blender quits.

Usage: python addon_embedded.py ZIP URL START_COMMAND SAMPLES_DIR OUT_JSON WORK_DIR
"""

import os
import sys

import bpy

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

zip_path, url, command, samples, out_json, work = sys.argv[1:7]
pkg = harness.start(zip_path)
p = harness.prefs(pkg)
p.backend_url, p.auto_start, p.start_command, p.job_folder = url, True, command, os.path.join(work, "jobs")
p.preview_engine = "WORKBENCH"  # the engine is not what this script checks: see addon_studio.py
report = {}
res, err = harness.import_room(samples, frames=5)
bp = harness.module(pkg, "backend.process")
report["import"] = {"error": err, "backend_started": bp.started_here()}
# The panel's Start: the configured backend starts (nothing answers yet) and says its device and models.
res, err = harness.run_op(bpy.ops.realcam.backend_status, start=True)
status = harness.module(pkg, "backend.status").STATUS
report["start"] = {
    "result": sorted(res),
    "error": err,
    "state": status["state"],
    "device": (status["health"] or {}).get("device_info", {}).get("device"),
    "models": [m["name"] for m in (status["models"] or {}).get("video", [])],
    "pid": bp._process.pid if bp._process else None,
    "panel": harness.panel_lines(pkg, bpy.context.scene),
}
bpy.ops.realcam.preset(kind="PAN_LEFT")
bpy.context.scene.realcam.steps = 1
bpy.context.scene.realcam.model = "tiny"
pids = []
for seed in (1, 2):
    bpy.context.scene.realcam.seed = seed
    res, err = harness.run_op(bpy.ops.realcam.generate)
    report[f"generate{seed}"] = err
    pids.append(bp._process.pid if bp._process else None)
report["pids"] = pids
harness.dump(out_json, report)
# Leaving now: the add-on must stop the backend it started.
