"""Add-on preferences: where the backend is, how to start one, and default settings."""

import bpy
from bpy.props import BoolProperty, EnumProperty, PointerProperty, StringProperty

from . import backend_setup, extension
from .generation_fields import GenerationFields
from .realcam_core import api
from .realcam_core.models import DEFAULT_VIDEO_MODEL


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

    backend_setup: PointerProperty(type=backend_setup.RealcamBackendSetupSettings)

    def draw(self, context):
        backend_setup.draw(self, self.layout, context)
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
