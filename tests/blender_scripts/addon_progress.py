"""What the artist reads while RealCam works, and when it fails, in Blender's default startup file.

Interactive path (operators return at once, the timer does the work), against
a real backend whose stages are paced so each lasts longer than a poll. Every
line a task reports is recorded as the panel writes it (ui.panels.common.progress_text),
and the panel and the status bar are drawn while the take runs. A second take
waits behind another job (queued with its position). Then the backend is gone:
Generate fails and the panel's error says what is wrong and what to do.

Usage: python addon_progress.py ZIP BACKEND_URL SAMPLES_DIR OUT_JSON WORK_DIR CLOSED_PORT
The backend knows the video model "tiny" and the depth model "tiny-depth".
"""

import json
import os
import shutil
import sys

import bpy

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

zip_path, url, samples, out_json, work, closed_port = sys.argv[1:7]
pkg = harness.start(zip_path, empty=False)
tasks, ui, paths = (harness.module(pkg, m) for m in ("tasks", "ui.panels.common", "paths"))
client_mod = harness.module(pkg, "realcam_core.client")
bundle_mod = harness.module(pkg, "realcam_core.bundle")
tasks.RUNNER.blocking = False  # an interactive Blender: the timer does the work
p = harness.prefs(pkg)
p.backend_url, p.auto_start, p.job_folder, p.depth_model = url, False, os.path.join(work, "jobs"), "tiny-depth"
p.preview_engine = "WORKBENCH"  # the engine is not what this script checks: see addon_studio.py
report = {"deprecations": []}

# Every line a task reports, as the panel writes it.
lines = []
_report = tasks.Task.report


def recording_report(self, *args, **kw):
    _report(self, *args, **kw)
    lines.append({"task": self.name, "text": ui.progress_text(self), "stage": self.stage})


tasks.Task.report = recording_report


class StatusBar:
    def __init__(self):
        self.layout = harness.Layout([])


def status_bar(scene):
    class Context:
        def __getattr__(self, name):
            return scene if name == "scene" else getattr(bpy.context, name)

    bar = StatusBar()
    harness.module(pkg, "ui.panels.main").draw_status(bar, Context())
    return bar.layout.out


def run(op, scene_of=None, **kw):
    """A button press, then the timer until its task ends; the panel and status bar drawn at each tick."""
    drawn, status, watched = [], [], []

    def watch(task):
        watched[:] = [task]
        scene = scene_of() if scene_of else None
        if scene is not None and not task.done:
            for line in harness.panel_lines(pkg, scene):
                if line.startswith("progress: ") and (not drawn or drawn[-1] != line):
                    drawn.append(line)
            for line in status_bar(scene):
                if not status or status[-1] != line:
                    status.append(line)

    out = harness.press(pkg, op, watch=watch, **kw)
    task = watched[0] if watched else None  # the task the press started, if any
    out["returned_while_running"] = task is not None and bool(drawn or not task.done)
    out.update(task_result=task.result if task else None, panel=drawn, status_bar=status)
    return out


def the_shot():
    return next(s for s in bpy.data.scenes if s.realcam.shot_id)


# Import with depth from the backend.
start = len(lines)
imp = run(
    bpy.ops.realcam.import_photo,
    **harness.room_photo(samples, true_depth=False, model="tiny", depth_model="tiny-depth"),
)
imp["lines"] = lines[start:]
report["import"] = imp
shot = the_shot()
rc = shot.realcam
report["shot_is_active"] = bpy.context.scene == shot  # the import switched the window to its shot
bpy.ops.realcam.preset(kind="TRUCK_RIGHT")
rc.steps, rc.seed = 3, 3

# Generate: preview (out of date), upload, load, steps, decode, download.
start = len(lines)
gen = run(bpy.ops.realcam.generate, scene_of=the_shot)
gen["lines"] = lines[start:]
gen["panel_after"] = harness.panel_lines(pkg, the_shot())
report["generate"] = gen

# A second take behind another job: it waits in the queue with its position.
take = paths.resolve(the_shot().realcam.takes[0].folder)
other = os.path.join(work, "other-bundle")
shutil.copytree(os.path.join(take, "bundle"), other)
with open(os.path.join(other, "manifest.json")) as fh:
    manifest = json.load(fh)
manifest["settings"]["seed"] = 77  # another job, not the first one again
with open(os.path.join(other, "manifest.json"), "w") as fh:
    json.dump(manifest, fh)
blocker = client_mod.Client(url).submit(bundle_mod.pack_bundle(other, other + ".zip"))
rc = the_shot().realcam
rc.seed = 4
start = len(lines)
queued = run(bpy.ops.realcam.generate, scene_of=the_shot)
queued["lines"] = lines[start:]
queued["blocker"] = client_mod.Client(url).job(blocker["id"])["state"]
report["queued"] = queued

# The backend is gone: the error in the panel names the problem and the next step.
p.backend_url = f"http://127.0.0.1:{closed_port}"
rc = the_shot().realcam
rc.seed = 5
down = run(bpy.ops.realcam.generate, scene_of=the_shot)
down["panel_after"] = harness.panel_lines(pkg, the_shot())
report["down"] = down

report["deprecations"] = harness.deprecations()
harness.dump(out_json, report)
