"""Operators of the backend: Start and Test connection (panel), and in the preferences its set-up, check, update,
removal, log and model downloads."""

from __future__ import annotations

import os

import bpy
from bpy.props import BoolProperty, EnumProperty, StringProperty

from ...backend import setup, status
from ...backend.connection import Connection
from ...backend.env import DOWNLOAD_LOG, SETUP_LOG
from ...flows import backend_check, backend_setup
from ...tasks import RUNNER, start
from .common import run_task, run_to_end


class REALCAM_OT_backend_status(bpy.types.Operator):
    """Ask the backend whether it answers, on which device it runs and which models it offers"""

    bl_idname = "realcam.backend_status"
    bl_label = "Test connection"

    # Set by the Start button only: after one Start, Test connection must not start a backend (SKIP_SAVE).
    start: BoolProperty(
        name="Start",
        default=False,
        options={"SKIP_SAVE"},
        description="Start the backend with the preferences' start command when none answers (this computer only)",
    )

    @classmethod
    def description(cls, context, props):
        if props.start:
            return "Start the backend with the start command of the preferences (when none answers), then ask it"
        return None

    def execute(self, context):
        conn, start = Connection.from_prefs(context), self.start
        name = "start backend" if start else "test connection"
        return run_task(self, name, status.TASK_KEY, lambda task: backend_check.check_task(task, conn, start))


def start_setup_task(op, key: str, name: str, make_gen) -> set:
    """Start a task (interactive) or run it to its end (headless)."""
    busy = RUNNER.active(setup.SETUP_KEY) + RUNNER.active(setup.DOWNLOAD_KEY)
    if busy:
        op.report({"WARNING"}, f"RealCam is busy with {busy[0].name}; wait for it or cancel it")
        return {"CANCELLED"}
    task = start(name, key, make_gen)
    if key == setup.SETUP_KEY:
        setup.STATE.task = task
    else:
        setup.STATE.download, setup.STATE.download_name = task, name
    return run_to_end(op, task, timeout=4 * 3600) if bpy.app.background else {"FINISHED"}


class _WorkerAction:
    """An operator that runs one action of the set-up worker ("setup" or "check") as the set-up task."""

    action = ""
    task_name = ""

    def execute(self, context):
        action = self.action  # not self in the lambda: the task outlives the operator
        return start_setup_task(
            self, setup.SETUP_KEY, self.task_name, lambda task: backend_setup.setup_task(task, action)
        )


class REALCAM_OT_backend_setup(_WorkerAction, bpy.types.Operator):
    """Create the backend's own Python environment in the add-on's user folder (torch for this machine, the
    backend and its pinned dependencies), check that it starts, and use it. Blender's Python is not touched"""

    bl_idname = "realcam.backend_setup"
    bl_label = "Set up backend"
    action, task_name = "setup", "backend set-up"


class REALCAM_OT_backend_check(_WorkerAction, bpy.types.Operator):
    """Start the installed backend and ask for its version, device and downloaded models"""

    bl_idname = "realcam.backend_check"
    bl_label = "Check"
    action, task_name = "check", "backend check"


class REALCAM_OT_backend_remove(bpy.types.Operator):
    """Delete the backend's environment (downloaded models stay in the Hugging Face cache)"""

    bl_idname = "realcam.backend_remove"
    bl_label = "Remove backend"

    def invoke(self, context, event):
        return context.window_manager.invoke_confirm(self, event)

    def execute(self, context):
        return start_setup_task(self, setup.SETUP_KEY, "backend removal", backend_setup.remove_task)


class REALCAM_OT_backend_cancel(bpy.types.Operator):
    """Stop the running set-up (nothing half-made is kept) or download (it continues next time)"""

    bl_idname = "realcam.backend_cancel"
    bl_label = "Cancel"

    def execute(self, context):
        active = RUNNER.active(setup.SETUP_KEY) + RUNNER.active(setup.DOWNLOAD_KEY)
        for t in active:
            t.cancel()
        return {"FINISHED"} if active else {"CANCELLED"}


class REALCAM_OT_backend_open_log(bpy.types.Operator):
    """Open the set-up's log (everything pip and the backend printed)"""

    bl_idname = "realcam.backend_open_log"
    bl_label = "Open log"

    kind: EnumProperty(
        items=[("SETUP", "Set-up", ""), ("DOWNLOAD", "Download", "")], default="SETUP", options={"SKIP_SAVE"}
    )

    def execute(self, context):
        path = setup.log_path(SETUP_LOG if self.kind == "SETUP" else DOWNLOAD_LOG)
        if not os.path.isfile(path):
            self.report({"WARNING"}, f"no log yet ({path})")
            return {"CANCELLED"}
        bpy.ops.wm.path_open(filepath=path)
        return {"FINISHED"}


class REALCAM_OT_model_download(bpy.types.Operator):
    """Ask the model's size and licence, then (confirmed) download it into the Hugging Face cache"""

    bl_idname = "realcam.model_download"
    bl_label = "Download model"

    # Per model and per click: a remembered "confirmed" would download the next model without showing its size
    # and licence (SKIP_SAVE).
    name: StringProperty(name="Model", options={"SKIP_SAVE"}, description="Model alias, as the backend lists it")
    confirmed: BoolProperty(
        name="Licence accepted",
        default=False,
        options={"SKIP_SAVE"},
        description="Download now (its size and licence were shown)",
    )

    def execute(self, context):
        if self.confirmed and self.name not in setup.STATE.plans:
            self.report({"ERROR"}, f"ask for the size and licence of {self.name} first (Download model)")
            return {"CANCELLED"}
        info_only = not self.confirmed
        label = f"{'size of' if info_only else 'download of'} {self.name}"
        name = self.name
        return start_setup_task(
            self, setup.DOWNLOAD_KEY, label, lambda t: backend_setup.download_task(t, name, info_only)
        )


class REALCAM_OT_open_url(bpy.types.Operator):
    """Open the model's licence in the web browser"""

    bl_idname = "realcam.open_url"
    bl_label = "Licence"

    url: StringProperty(options={"SKIP_SAVE"})

    def execute(self, context):
        if not self.url.lower().startswith(("https://", "http://")):  # never a file:// or other local handler
            self.report({"ERROR"}, f"not a web address, not opened: {self.url[:200]}")
            return {"CANCELLED"}
        bpy.ops.wm.url_open(url=self.url)
        return {"FINISHED"}


CLASSES = (
    REALCAM_OT_backend_status,
    REALCAM_OT_backend_setup,
    REALCAM_OT_backend_check,
    REALCAM_OT_backend_remove,
    REALCAM_OT_backend_cancel,
    REALCAM_OT_backend_open_log,
    REALCAM_OT_model_download,
    REALCAM_OT_open_url,
)
