"""What differs between Blender 4.2 LTS and 5.x, in one place."""

import bpy


def eevee_engine_id() -> str:
    # 4.2-4.5 call Eevee Next BLENDER_EEVEE_NEXT; 5.x renamed it back to BLENDER_EEVEE.
    items = {e.identifier for e in bpy.types.RenderSettings.bl_rna.properties["engine"].enum_items}
    return "BLENDER_EEVEE_NEXT" if "BLENDER_EEVEE_NEXT" in items else "BLENDER_EEVEE"


def sequencer_scene(context):
    """The scene whose sequencer the user edits (5.x may show another scene than the active one)."""
    return getattr(context, "sequencer_scene", None) or context.scene


def strips(scene):
    """The top-level strip collection: .strips (4.4+), .sequences before (removed in 5.0)."""
    sed = scene.sequence_editor or scene.sequence_editor_create()
    return sed.strips if hasattr(sed, "strips") else sed.sequences


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


def remove_fcurves(owner, data_paths) -> None:
    fcurves = fcurve_collection(owner)
    if fcurves is None:
        return
    for fc in [fc for fc in fcurves if fc.data_path in data_paths]:
        fcurves.remove(fc)


def show_edit_scene(edit) -> None:
    """5.x: workspaces show the sequencer of their own 'sequencer scene'; give those without one the edit.
    (4.x shows the active scene's sequencer: the artist goes to the edit scene to see it.)"""
    for ws in bpy.data.workspaces:
        if hasattr(ws, "sequencer_scene") and ws.sequencer_scene is None:
            ws.sequencer_scene = edit


def path_options() -> set:
    """Options for a path property that holds "//" (blend-relative) paths: 4.5 warns without the flag,
    which older versions do not know."""
    if "is_path_supports_blend_relative" in bpy.types.Property.bl_rna.properties:
        return {"PATH_SUPPORTS_BLEND_RELATIVE"}
    return set()
