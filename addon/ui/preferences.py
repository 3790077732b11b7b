"""Add-on preferences: where the backend is, how to start one, and default settings."""

import textwrap

import bpy
from bpy.props import BoolProperty, EnumProperty, PointerProperty, StringProperty

from .. import extension
from ..backend import setup
from ..backend import status as backend_status
from ..realcam_core import api
from ..realcam_core.models import DEFAULT_VIDEO_MODEL
from ..tasks import Task
from .generation_fields import GenerationFields
from .properties import RealcamBackendSetupSettings


class RealcamPreferences(GenerationFields, bpy.types.AddonPreferences):
    bl_idname = extension.PACKAGE

    backend_url: StringProperty(
        name="Backend URL",
        description="Where the RealCam backend listens (this computer by default)",
        default=f"http://{api.DEFAULT_HOST}:{api.DEFAULT_PORT}",
    )
    token: StringProperty(
        name="Token", description="Bearer token of a backend on another machine", subtype="PASSWORD", default=""
    )
    auto_start: BoolProperty(
        name="Start a local backend",
        description="When nothing answers at a local backend URL, start one with the command below; it stops "
        "when Blender quits",
        default=True,
    )
    start_command: StringProperty(
        name="Start command",
        description="Command that starts the backend; --host and --port are added from the URL",
        default="realcam serve",
    )
    model: StringProperty(
        name="Default model",
        default=DEFAULT_VIDEO_MODEL,
        description="Video model alias, Hugging Face id, or a name the backend was configured with",
    )
    depth_model: StringProperty(name="Depth model", default="", description="Empty: the backend's default")
    job_folder: StringProperty(
        name="Job folder",
        subtype="DIR_PATH",
        default="",
        description="Where previews, bundles and takes are kept. Empty: a 'realcam' folder next to the .blend "
        "(or the add-on's user folder for unsaved files)",
    )
    preview_engine: EnumProperty(
        name="Preview engine",
        items=[("EEVEE", "Eevee", "Eevee, unlit"), ("WORKBENCH", "Workbench", "Faster on machines without a GPU")],
        default="EEVEE",
    )

    backend_setup: PointerProperty(type=RealcamBackendSetupSettings)

    def draw(self, context):
        draw_backend_setup(self, self.layout, context)
        col = self.layout.column()
        col.prop(self, "backend_url")
        col.prop(self, "token")
        col.prop(self, "auto_start")
        col.prop(self, "start_command")
        col.separator()
        col.prop(self, "model")
        col.prop(self, "depth_model")
        row = col.row()
        row.prop(self, "steps")
        row.prop(self, "guidance")
        col.prop(self, "job_folder")
        col.prop(self, "preview_engine")


# ----------------------------------------------------------------- the backend on this computer


def _wrapped(layout, text: str, icon: str = "NONE", width: int = 90) -> None:
    for i, line in enumerate(textwrap.wrap(text, width) or [""]):
        layout.label(text=line, icon=icon if i == 0 else "BLANK1")


def _progress(layout, task: Task) -> None:
    text = task.stage + (f": {task.message}" if task.message else "")
    if task.eta_s:
        text += f", {task.eta_s:.0f} s left"
    layout.progress(factor=task.fraction, type="BAR", text=text[:110])
    layout.operator("realcam.backend_cancel", icon="CANCEL")


def draw_backend_setup(prefs, layout, context) -> None:
    """The 'Backend on this computer' box of the preferences."""
    s = prefs.backend_setup
    box = layout.box()
    box.label(text="Backend on this computer", icon="CONSOLE")
    task = setup.STATE.task
    running = task is not None and not task.done
    installed = setup.is_installed()
    status = setup.STATE.status() if installed else None
    if running:
        _progress(box, task)
    else:
        if task is not None and task.error:
            _wrapped(box, f"{task.name}: {task.error}", "ERROR")
        elif task is not None and task.stage == "cancelled":
            box.label(text=f"{task.name}: cancelled, nothing was kept", icon="INFO")
        if installed:
            _wrapped(box, setup.summary(status), "CHECKMARK" if status and status.get("ok") else "QUESTION")
            for warning in (status or {}).get("warnings", []):
                _wrapped(box, warning, "ERROR")
            update = setup.needs_update()
            if update:
                _wrapped(box, update, "ERROR")
            row = box.row(align=True)
            row.operator("realcam.backend_setup", text="Update", icon="FILE_REFRESH")
            row.operator("realcam.backend_check", icon="VIEWZOOM")
            row.operator("realcam.backend_remove", text="Remove", icon="TRASH")
        else:
            box.label(text="Not set up: the add-on needs a backend to estimate depth and generate video")
            box.operator("realcam.backend_setup", icon="IMPORT")
        box.operator("realcam.backend_open_log", icon="TEXT")
    box.prop(s, "show_options", icon="TRIA_DOWN" if s.show_options else "TRIA_RIGHT", emboss=False)
    if s.show_options:
        col = box.column()
        col.prop(s, "torch_source")
        sub = col.column()
        sub.active = s.torch_source == "CUSTOM"
        sub.prop(s, "torch_index_url")
        col.prop(s, "torch_requirement")
        col.prop(s, "index_url")
    if installed and status and status.get("models"):
        _draw_models(layout, status)


def _draw_models(layout, status: dict) -> None:
    box = layout.box()
    box.label(text="Models (Hugging Face cache)", icon="FILE_BLEND")
    dl = setup.STATE.download
    if dl is not None and not dl.done:
        _progress(box, dl)
    elif dl is not None and dl.error:
        _wrapped(box, f"{dl.name}: {dl.error}", "ERROR")
    for m in status["models"]:
        col = box.column(align=True)
        row = col.row()
        tag = " (default)" if m.get("default") else ""
        row.label(text=f"{m['kind']}: {m['name']}{tag}  licence {m.get('licence') or '?'}")
        what = backend_status.catalogue_line(m["name"]) if m["kind"] == "video" else ""
        if what:
            col.label(text=what)  # size, sizes, frames, what else it needs (base weights, a tokenizer)
        if m.get("cached"):
            row.label(text="downloaded", icon="CHECKMARK")
            continue
        plan = setup.STATE.plans.get(m["name"])
        if plan is None:
            op = row.operator("realcam.model_download", text="Download model…", icon="IMPORT")
            op.name, op.confirmed = m["name"], False
            continue
        gb = plan["to_download"] / 1e9
        lic = plan.get("licence") or plan.get("card_licence") or "see the model card"
        _wrapped(col, f"{gb:.2f} GB to download ({plan['partial_bytes'] / 1e9:.2f} GB already here). Licence: {lic}")
        row = col.row(align=True)
        op = row.operator("realcam.model_download", text=f"Accept licence and download {gb:.1f} GB", icon="IMPORT")
        op.name, op.confirmed = m["name"], True
        row.operator("realcam.open_url", text="Read licence", icon="URL").url = plan.get("licence_url", "")
