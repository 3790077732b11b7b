"""Per-scene RealCam settings, saved with the .blend.

A shot is a scene of its own (see shots.py): these settings on a shot scene are
the shot's; the edit scene carries `is_edit`; other scenes carry nothing.
Paths are stored relative to the .blend ("//...") once it is saved (paths.py).
"""

import bpy
from bpy.props import (
    BoolProperty,
    CollectionProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)

from .compat import path_options
from .generation_fields import GenerationFields
from .realcam_core.bundle import SNS_THRESHOLD_MAX
from .realcam_core.coverage import DEFAULT_THRESHOLD as COVERAGE_THRESHOLD
from .realcam_core.pointcloud import DEFAULT_MAX_DEPTH_RATIO

PATH = path_options()


def _props_update(self, context):
    from . import shots

    shots.link_props(self.id_data)


def _depth_edge_update(self, context):
    from . import photo_scene

    photo_scene.rebuild_faces(self.id_data)


def _props_poll(self, coll):
    # Not the shot's own photo collection, and nothing that already holds it (a cycle).
    own = self.photo_collection
    return own is None or (coll != own and own not in coll.children_recursive)


class RealcamTake(bpy.types.PropertyGroup):
    """One generated take of the shot: name (also its strip's), folder, and what made it."""

    folder: StringProperty(subtype="DIR_PATH", default="", options=PATH)
    settings: StringProperty(default="")  # JSON: the strip's settings


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
    props: PointerProperty(
        name="Props",
        type=bpy.types.Collection,
        update=_props_update,
        poll=_props_poll,
        description="A blocking/props collection of your file that this shot shows and previews (linked, not copied)",
    )

    # What makes a scene a shot, and where its edit is.
    shot_id: StringProperty(default="")  # non-empty: this scene is a RealCam shot
    is_edit: BoolProperty(default=False)  # this scene is the RealCam edit (previews and takes)
    edit_scene: PointerProperty(type=bpy.types.Scene)
    photo_collection: PointerProperty(type=bpy.types.Collection)
    photo_mesh: PointerProperty(type=bpy.types.Object)
    props_linked: StringProperty(default="")  # the collection this shot linked for `props`

    # Filled by the photo import.
    scene_folder: StringProperty(name="Scene folder", subtype="DIR_PATH", default="", options=PATH)
    photo: StringProperty(name="Photo", default="")
    median_depth: FloatProperty(name="Median depth (m)", default=0.0)  # metres, whatever the unit scale
    depth_edge: FloatProperty(
        name="Depth edge",
        default=(DEFAULT_MAX_DEPTH_RATIO - 1.0) * 100.0,
        min=0.1,
        soft_max=50.0,
        subtype="PERCENTAGE",
        update=_depth_edge_update,
        description="Neighbouring pixels whose depths differ by more than this (of the nearer one) are a "
        "discontinuity: the photo's mesh is cut there (lower: more cuts, fewer stretched faces). Rebuilds the mesh",
    )
    metres_per_unit: FloatProperty(default=1.0)  # the unit scale the mesh was built at

    preview_folder: StringProperty(name="Preview", subtype="DIR_PATH", default="", options=PATH)
    preview_signature: StringProperty(default="")
    # The camera move's extent (JSON of realcam_core.move_extent.MoveExtent) and the last preview's coverage.
    move_extent: StringProperty(default="")
    coverage: FloatProperty(default=-1.0)  # covered fraction of the last preview frame; -1: not measured
    coverage_threshold: FloatProperty(
        name="Coverage warning",
        default=COVERAGE_THRESHOLD,
        min=0.0,
        max=1.0,
        subtype="FACTOR",
        description="Warn when the last preview frame sees less than this fraction of the photo's scene",
    )

    # The take being generated, kept in the .blend so a crash or a backend restart loses nothing.
    job_id: StringProperty(default="")
    job_backend: StringProperty(default="")
    job_take: StringProperty(subtype="DIR_PATH", default="", options=PATH)
    job_meta: StringProperty(default="")  # JSON: what the strip needs once the video is in

    takes: CollectionProperty(type=RealcamTake)


CLASSES = (RealcamTake, RealcamSceneSettings)


def register():
    bpy.types.Scene.realcam = bpy.props.PointerProperty(type=RealcamSceneSettings)


def unregister():
    del bpy.types.Scene.realcam
