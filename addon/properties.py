"""Per-scene RealCam settings, saved with the .blend."""

import bpy
from bpy.props import BoolProperty, FloatProperty, IntProperty, StringProperty

from .generation_fields import GenerationFields
from .realcam_core.bundle import SNS_THRESHOLD_MAX


class RealcamSceneSettings(GenerationFields, bpy.types.PropertyGroup):
    model: StringProperty(name="Model", default="", description="Video model; empty: the add-on's default")
    prompt: StringProperty(name="Prompt", default="", description="What happens in the shot (Wan models)")
    negative_prompt: StringProperty(name="Negative prompt", default="")
    seed: IntProperty(name="Seed", default=0, min=0)
    sns_enabled: BoolProperty(
        name="Noise shaping",
        default=True,
        description="Guide the video with the preview (off: the plain image-to-video model)",
    )
    sns_threshold: FloatProperty(
        name="Threshold",
        default=0.9,
        min=0.0,
        max=SNS_THRESHOLD_MAX,
        soft_max=2.0,
        description="Noise level from which steps are shaped (0.9 = upstream t >= 900; higher shapes fewer steps, "
        "see `realcam models`)",
    )
    camera_condition: BoolProperty(
        name="Camera condition",
        default=True,
        description="Also tell the model the camera (Plücker rays); only models with a camera adapter use it",
    )
    evaluate: BoolProperty(
        name="Measure camera accuracy",
        default=False,
        description="The backend estimates the take's camera with COLMAP and scores it against yours (takes longer)",
    )
    # Filled by the photo import.
    scene_folder: StringProperty(name="Scene folder", subtype="DIR_PATH", default="")
    photo: StringProperty(name="Photo", default="")
    median_depth: FloatProperty(name="Median depth", default=0.0, unit="LENGTH")
    mesh_object: StringProperty(default="")
    preview_folder: StringProperty(name="Preview", subtype="DIR_PATH", default="")
    preview_signature: StringProperty(default="")


def register():
    bpy.types.Scene.realcam = bpy.props.PointerProperty(type=RealcamSceneSettings)


def unregister():
    del bpy.types.Scene.realcam
