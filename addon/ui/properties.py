"""Property groups: per-scene RealCam settings (saved with the .blend), and the backend set-up's options (in the
preferences).

A shot is a scene of its own (see shot/shots.py): these settings on a shot scene are
the shot's; the edit scene carries `is_edit`; other scenes carry nothing.
Paths are stored relative to the .blend ("//...") once it is saved (paths.py).
"""

import bpy
from bpy.props import (
    BoolProperty,
    CollectionProperty,
    EnumProperty,
    FloatProperty,
    FloatVectorProperty,
    IntProperty,
    IntVectorProperty,
    PointerProperty,
    StringProperty,
)

from ..backend import status as backend_status
from ..compat import path_options
from ..realcam_core.addon_only.coverage import DEFAULT_THRESHOLD as COVERAGE_THRESHOLD
from ..realcam_core.addon_only.pointcloud import DEFAULT_MAX_DEPTH_RATIO
from ..realcam_core.bundle import DEFAULT_CACHE_THRESHOLD, SNS_THRESHOLD_MAX
from ..shot import photo_scene, shots
from .generation_fields import GenerationFields

PATH = path_options()


def _props_update(self, context):
    shots.link_props(self.id_data)


def _depth_edge_update(self, context):
    photo_scene.rebuild_faces(self.id_data)


# The values are the bundle's own (realcam_core.bundle: SAMPLERS, STEP_CACHES); "DEFAULT" sends no sampler.
SAMPLER_ITEMS = [
    ("DEFAULT", "Model's default", "The model's own default (Fun camera: Flow Euler, upstream's)"),
    ("flow-euler", "Flow Euler", "FlowMatchEuler, shift 5: VideoX-Fun's own sampler"),
    ("unipc", "UniPC", "UniPC, flow shift 5: a higher-order solver for runs with fewer steps"),
]
STEP_CACHE_ITEMS = [
    ("off", "Off", "Every step runs the whole model"),
    ("first-block", "First block", "Skip a step's remaining blocks when its first block changed little"),
]


# Blender keeps no copy of the strings an enum's items callback returns: they must outlive the call.
_MODEL_ITEMS: list = []


def _model_items(self, context):
    """The dropdown: the backend's models (the built-in list until one answered), and the shot's own if unlisted."""
    names = list(dict.fromkeys(m["name"] for m in backend_status.video_models()))  # a configured catalogue name once
    current = _current_model(self)
    if current not in names:
        names.append(current)
    _MODEL_ITEMS[:] = [(n, n, "; ".join(backend_status.model_lines(n)), i) for i, n in enumerate(names)]
    return _MODEL_ITEMS


def _current_model(self) -> str:
    return shots.model_name(self.id_data)


def _model_get(self):
    current = _current_model(self)
    return next(i for ident, _, _, i in _model_items(self, None) if ident == current)


def _model_set(self, value):
    for ident, _, _, i in _model_items(self, None):
        if i == value:
            self.model = ident
            return


def _props_poll(self, coll):
    # Not the shot's own photo collection, and nothing that already holds it (a cycle).
    own = self.photo_collection
    return own is None or (coll != own and own not in coll.children_recursive)


class RealcamBackendSetupSettings(bpy.types.PropertyGroup):
    torch_source: EnumProperty(
        name="torch build",
        items=[
            (
                "AUTO",
                "Automatic",
                "The CUDA build where an NVIDIA GPU and driver are found, else the CPU build (PyPI's build on macOS)",
            ),
            ("CPU", "CPU only", "The small CPU build (generation will be very slow)"),
            ("CUSTOM", "Index below", "torch from the index URL below (empty: pip's own settings)"),
        ],
        default="AUTO",
    )
    torch_requirement: StringProperty(
        name="torch requirement",
        default="",
        description="Empty: the torch version the backend was tested with. E.g. torch==2.9.1 for an older driver",
    )
    torch_index_url: StringProperty(
        name="torch index", default="", description="Package index for torch when the build is 'Index below'"
    )
    index_url: StringProperty(
        name="Package index",
        default="",
        description="Where the backend's other packages come from. Empty: pip's own settings (PyPI)",
    )
    show_options: BoolProperty(name="Install options", default=False)


class RealcamTake(bpy.types.PropertyGroup):
    """One generated take of the shot: name (also its strip's), folder, and what made it."""

    folder: StringProperty(subtype="DIR_PATH", default="", options=PATH)
    settings: StringProperty(default="")  # JSON: the strip's settings


class RealcamSceneSettings(GenerationFields, bpy.types.PropertyGroup):
    model: StringProperty(name="Model", default="", description="Video model; empty: the add-on's default")
    model_choice: EnumProperty(
        name="Model",
        items=_model_items,
        get=_model_get,
        set=_model_set,
        description="Video model: what the backend offers (Test connection), else the add-on's built-in list",
    )
    prompt: StringProperty(name="Prompt", default="", description="What happens in the shot (Wan models)")
    prompt_text: PointerProperty(
        name="Prompt text",
        type=bpy.types.Text,
        description="A text of the file holding the prompt, over several lines; when set it is the prompt",
    )
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
    # How the camera enters a model told it (settings.camera_scale, settings.sampler; realcam_core.camera_scale),
    # and the speed settings (settings.speed). Blender has no blank number: 0 / "Model's default" stand for it.
    camera_scale: FloatProperty(
        name="Camera scale",
        default=0.0,
        min=0.0,
        max=1000.0,
        soft_max=10.0,
        precision=4,
        description="Model units per metre of the camera move (RealCam-I2V: its trace scale); 0: the model's "
        "default, which the panel names",
    )
    sampler: EnumProperty(
        name="Sampler",
        items=SAMPLER_ITEMS,
        default="DEFAULT",
        description="The sampler of a model that offers a choice (Wan 2.2 Fun camera)",
    )
    step_cache: EnumProperty(
        name="Step cache",
        items=STEP_CACHE_ITEMS,
        default="off",
        description="Reuse the model's work between similar steps (never on a step noise shaping acts on)",
    )
    cache_threshold: FloatProperty(
        name="Threshold",
        default=DEFAULT_CACHE_THRESHOLD,
        min=0.001,
        max=1.0,
        precision=3,
        description="Relative change of the first block's output that makes a step run in full (lower: fewer "
        "steps skipped)",
    )
    compile: BoolProperty(
        name="Compile",
        default=False,
        description="Compile the model's repeated blocks (torch.compile): slower first take, faster steps after",
    )
    show_speed: BoolProperty(name="Speed", default=False)
    props: PointerProperty(
        name="Props",
        type=bpy.types.Collection,
        update=_props_update,
        poll=_props_poll,
        description="A blocking/props collection of your file that this shot shows and previews (linked, not copied)",
    )

    # Import options, in the panel (and handed to the file browser's sidebar by its Import button); 0 or empty:
    # the model's native size, up to 49 frames, EXIF / the depth model / 90 degrees, the preferences' depth model.
    # Depth map and focal belong to one photo: the import that used them empties them (flows/import_photo.py).
    import_width: IntProperty(name="Width", default=0, min=0, description="Generation width; 0: the model's")
    import_height: IntProperty(name="Height", default=0, min=0, description="Generation height; 0: the model's")
    import_frames: IntProperty(name="Frames", default=0, min=0, description="Frame range length; 0: up to 49")
    import_focal_px: FloatProperty(
        name="Focal (px)",
        default=0.0,
        min=0.0,
        description="The next photo's focal length in pixels (emptied once it is imported); 0: EXIF, the model",
    )
    import_depth_model: StringProperty(
        name="Depth model", default="", description="Depth model for the backend; empty: the preferences' choice"
    )
    import_depth_map: StringProperty(
        name="Depth map",
        subtype="FILE_PATH",
        default="",
        options=PATH,
        description="The next photo's own depth (.npy metres, 16-bit PNG mm, EXR): no backend needed. Emptied once "
        "that photo is imported",
    )
    show_import_options: BoolProperty(name="Import options", default=False)

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
    photo_size: IntVectorProperty(size=2, default=(0, 0))  # the photo's own size as displayed; 0: not read yet

    # Scene fixes (shot/fixes.py). Applied values live on the shot, not in the scene folder's files, so that one
    # undo takes back mesh, camera and what the bundle gets together, and the imported data stays as it was.
    depth_scale: FloatProperty(default=1.0)  # all scale calibrations applied, times the imported depth
    photo_focal_px: FloatProperty(default=0.0)  # the photo's focal set after import; 0: intrinsics.json's
    scale_a: FloatVectorProperty(size=3, subtype="XYZ")  # calibration points, in the photo mesh's own frame
    scale_b: FloatVectorProperty(size=3, subtype="XYZ")
    scale_a_set: BoolProperty(default=False)
    scale_b_set: BoolProperty(default=False)
    scale_real: FloatProperty(
        name="Real distance",
        default=0.0,
        min=0.0,
        subtype="DISTANCE",
        unit="LENGTH",
        description="The true distance between points A and B (in the file's units)",
    )
    scale_factor: FloatProperty(
        name="Factor",
        default=1.0,
        min=0.0,
        soft_min=0.1,
        soft_max=10.0,
        precision=4,
        description="Scale the shot by this factor (1.25: the scene is a quarter larger than the depth model said)",
    )
    focal_input: FloatProperty(
        name="Focal (px)",
        default=0.0,
        min=0.0,
        description="The photo's focal length in pixels to apply (Apply focal re-projects the mesh and sets the lens)",
    )
    fix_note: StringProperty(default="")  # what the last scene fix could not reach (shown in the panel)

    # Where RealCam last put the photo's mesh (its matrix_world, row by row): moved from there, it is the artist's.
    photo_placed: FloatVectorProperty(size=16)
    photo_placed_set: BoolProperty(default=False)

    preview_folder: StringProperty(name="Preview", subtype="DIR_PATH", default="", options=PATH)
    preview_signature: StringProperty(default="")  # the preview's fingerprint (preview/fingerprint.py)
    preview_quick_state: StringProperty(default="")  # the shot's quick state when the preview was made or matched
    # The camera move's extent (JSON of realcam_core.addon_only.move_extent.MoveExtent) and the last preview's coverage.
    move_extent: StringProperty(default="")
    clip_move: StringProperty(default="")  # the last Camera move from clip: JSON of what the panel shows of it
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

    # Long shots, loops, transitions (realcam_core.windows, shot/loop.py, shot/transition.py).
    loop: BoolProperty(
        name="Loop",
        default=False,
        description="The take's last frame leads back into its first (the photo): close the camera path first "
        "(Close the loop); a first + last frame model is given the photo as its last frame",
    )
    transition_from: StringProperty(default="")  # a transition shot: the shot it starts from (its id)
    transition_to: StringProperty(default="")  # and the shot whose photo it ends on
    edit_offset: IntProperty(default=0)  # where the shot's frames sit in the edit: its first frame + this
    transition_frames: IntProperty(
        name="Frames", default=49, min=2, description="Length of a new transition from this shot, in frames"
    )

    takes: CollectionProperty(type=RealcamTake)
    takes_index: IntProperty(default=0)  # the take selected in the panel's list


CLASSES = (RealcamBackendSetupSettings, RealcamTake, RealcamSceneSettings)


def register():
    bpy.types.Scene.realcam = bpy.props.PointerProperty(type=RealcamSceneSettings)


def unregister():
    del bpy.types.Scene.realcam
