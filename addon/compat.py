"""What differs between Blender 4.2 LTS and 5.x, in one place."""

import bpy


def eevee_engine_id() -> str:
    # 4.2-4.5 call Eevee Next BLENDER_EEVEE_NEXT; 5.x renamed it back to BLENDER_EEVEE.
    items = {e.identifier for e in bpy.types.RenderSettings.bl_rna.properties["engine"].enum_items}
    return "BLENDER_EEVEE_NEXT" if "BLENDER_EEVEE_NEXT" in items else "BLENDER_EEVEE"


def still_image_output(file_format: str) -> dict:
    """Setting path -> value that make the render output a still-image format.

    5.0 added image_settings.media_type (IMAGE, MULTI_LAYER_IMAGE, VIDEO), which limits file_format to
    formats of that kind: from a video or multilayer EXR output, PNG is only accepted once it is IMAGE.
    """
    out = {}
    if "media_type" in bpy.types.ImageFormatSettings.bl_rna.properties:
        out["render.image_settings.media_type"] = "IMAGE"
    out["render.image_settings.file_format"] = file_format
    return out


def output_side_settings(scene) -> list[str]:
    """Paths Blender itself resets when the output format changes and changes back, to restore as they were.

    4.2 resets the FFmpeg container, codec and quality when file_format goes back to FFMPEG.
    """
    ff = scene.render.ffmpeg
    return [
        f"render.ffmpeg.{p.identifier}"
        for p in ff.bl_rna.properties
        if p.identifier != "rna_type" and not p.is_readonly and p.type in {"BOOLEAN", "INT", "FLOAT", "STRING", "ENUM"}
    ]


def material_node_tree(mat):
    """The material's shader node tree. 4.x makes it with use_nodes; 5.0 always has one and deprecates use_nodes."""
    if bpy.app.version < (5, 0, 0):
        mat.use_nodes = True
    return mat.node_tree


def compositor_in_use(scene) -> bool:
    """Whether the scene has a compositor node tree to run: 5.0 names a node group, 4.x has use_nodes."""
    if "compositing_node_group" in scene.bl_rna.properties:
        return scene.compositing_node_group is not None
    return bool(scene.use_nodes and scene.node_tree is not None and len(scene.node_tree.nodes))


def sequencer_scene(context):
    """The scene whose sequencer the user edits (5.x may show another scene than the active one)."""
    return getattr(context, "sequencer_scene", None) or context.scene


def show_in_sequencer(context, scene, replace: bool = False) -> None:
    """5.x: the Sequencer shows the workspace's sequencer scene, and a new file has none: show scene there.

    A workspace already showing another scene keeps it unless replace (4.x always shows the active scene). A
    timer's context has no workspace: then every workspace without a sequencer scene gets it."""
    ws = getattr(context, "workspace", None)
    for w in [ws] if ws is not None else bpy.data.workspaces:
        if "sequencer_scene" in w.bl_rna.properties and (replace or w.sequencer_scene is None):
            w.sequencer_scene = scene


def strips(scene):
    """The top-level strip collection: .strips (4.4+), .sequences before (removed in 5.0)."""
    sed = scene.sequence_editor or scene.sequence_editor_create()
    return sed.strips if hasattr(sed, "strips") else sed.sequences


def new_effect(scene, name: str, kind: str, channel: int, start: int, end: int, a, b):
    """A two-input effect strip over frames start..end (inclusive). 4.4 renamed the inputs seq1/seq2 to
    input1/input2; 5.0 takes a length instead of frame_end."""
    col = strips(scene)
    names = {p.identifier for p in col.bl_rna.functions["new_effect"].parameters}
    kw = dict(zip(("input1", "input2") if "input1" in names else ("seq1", "seq2"), (a, b), strict=True))
    if "length" in names:
        kw["length"] = end - start + 1
    else:
        kw["frame_end"] = end + 1
    return col.new_effect(name=name, type=kind, channel=channel, frame_start=start, **kw)


def all_strips(scene):
    sed = scene.sequence_editor
    if sed is None:
        return []
    return list(sed.strips_all if hasattr(sed, "strips_all") else sed.sequences_all)


def fcurve_collection(owner):
    """The F-curve collection animating owner (layered actions in 4.4+/5.x, legacy before), or None."""
    ad = owner.animation_data
    if ad is None or ad.action is None:
        return None
    action = ad.action
    slot = getattr(ad, "action_slot", None)
    if slot is not None and getattr(action, "layers", None):
        from bpy_extras import anim_utils

        bag = anim_utils.action_get_channelbag_for_slot(action, slot)
        return bag.fcurves if bag else None
    return getattr(action, "fcurves", None)


def action_fcurves(action) -> list:
    """Every F-curve of an action, whichever slot it animates (layered actions 4.4+/5.x; legacy before)."""
    layers = getattr(action, "layers", None)
    if layers:
        return [fc for layer in layers for strip in layer.strips for bag in strip.channelbags for fc in bag.fcurves]
    return list(getattr(action, "fcurves", None) or ())


def remove_fcurves(owner, data_paths) -> None:
    fcurves = fcurve_collection(owner)
    if fcurves is None:
        return
    for fc in [fc for fc in fcurves if fc.data_path in data_paths]:
        fcurves.remove(fc)


def path_options() -> set:
    """Options for a path property that holds "//" (blend-relative) paths: 4.5 warns without the flag,
    which older versions do not know."""
    if "is_path_supports_blend_relative" in bpy.types.Property.bl_rna.properties:
        return {"PATH_SUPPORTS_BLEND_RELATIVE"}
    return set()
