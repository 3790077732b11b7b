"""Lens and look effects of the artist's camera and scene stay out of the preview, from the default startup file.

A shot from the sample photo (its own depth map, no backend) with a dolly; its preview is rendered clean, then
with the camera's depth of field (f/1.2 and f/0.5 focused at 1 m), then with every effect that changes a
render's pixels switched on at once (depth of field with its switch keyed, motion blur, burn-in stamp,
Freestyle, a render region, RGB curves, white balance, an output colour-management override, overscan,
a world with a volume). Each preview's first frame is measured against the photo (PSNR over covered pixels,
and how much counts as covered) and every frame against the clean preview; afterwards the artist's settings
must be as they were, and the panel must say what the preview leaves out. Then the same with Workbench.

Usage: python preview_trips.py ZIP SAMPLES_DIR OUT_JSON WORK_DIR
"""

import json
import os
import sys

import bpy
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

zip_path, samples, out_json, work = sys.argv[1:5]
pkg = harness.start(zip_path, empty=False)
p = harness.prefs(pkg)
p.auto_start, p.job_folder = False, os.path.join(work, "jobs")
compat = harness.module(pkg, "compat")
shots = harness.module(pkg, "shot.shots")
states = []  # the preview's state after each Render Preview
report = {"startup": sorted(o.name for o in bpy.context.scene.objects)}

cam_info = json.load(open(os.path.join(samples, "room_camera.json")))
res, err = harness.run_op(
    bpy.ops.realcam.import_photo,
    filepath=os.path.join(samples, "room.jpg"),
    depth_map=os.path.join(samples, "room_depth.png"),
    focal_px=cam_info["fx"],
    model="wan2.2-ti2v-5b",  # a built-in model: no backend is asked
    width=128,
    height=96,
    frames=9,
)
assert err is None, err
shot = bpy.context.scene
name = shot.name
res, err = harness.gui_op(bpy.ops.realcam.preset, kind="DOLLY_IN", amount=0.5)
assert err is None, err


ref = harness.pixels(os.path.join(bpy.path.abspath(shot.realcam.scene_folder), "image.png"), "Non-Color")


def preview():
    """Render Preview as the button does (its task driven by the timer); its frames (first to last). The
    preview must be up to date afterwards: switching the camera's effects off and back is no edit of the shot."""
    err = harness.press(pkg, bpy.ops.realcam.preview)["error"]
    s = bpy.data.scenes[name]
    states.append(shots.preview_state(s))
    folder = bpy.path.abspath(s.realcam.preview_folder)
    names = sorted(f for f in os.listdir(folder) if f.endswith(".png")) if err is None else []
    return err, [harness.pixels(os.path.join(folder, f)) for f in names]


def measure(frames, clean=None):
    covered = frames[0][..., 3] > 0.99
    out = {"psnr": round(harness.psnr(frames[0], ref, covered), 2), "covered": round(float(covered.mean()), 4)}
    if clean is not None:
        out["max_diff_to_clean"] = max(float(np.abs(a - b).max()) for a, b in zip(frames, clean, strict=True))
    return out


err, clean = preview()
report["clean"] = {"error": err, **measure(clean)}
cam = shot.camera
dof = cam.data.dof
for fstop in (1.2, 0.5):
    dof.use_dof, dof.aperture_fstop, dof.focus_distance = True, fstop, 1.0
    err, frames = preview()
    report[f"dof_f{fstop}"] = {"error": err, **measure(frames, clean)}

# Everything else that changes a render's pixels, on at once, as an artist's look might have it.
shot = bpy.data.scenes[name]
r, vs = shot.render, shot.view_settings
dof = shot.camera.data.dof
dof.use_dof, dof.aperture_fstop, dof.focus_distance = True, 0.5, 1.0
shot.camera.data.keyframe_insert("dof.use_dof", frame=shot.frame_start)  # keyed: a value set alone would not hold
r.use_motion_blur, r.motion_blur_shutter = True, 1.0
r.use_stamp = True
r.use_freestyle = True
r.use_border, r.border_max_x = True, 0.6
vs.use_curve_mapping = True
vs.curve_mapping.curves[3].points[0].location = (0.0, 0.3)
vs.curve_mapping.update()
if hasattr(vs, "use_white_balance"):  # 4.3+
    vs.use_white_balance, vs.white_balance_temperature = True, 3000.0
r.image_settings.color_management = "OVERRIDE"
r.image_settings.view_settings.view_transform = "AgX"
shot.eevee.use_overscan, shot.eevee.overscan_size = True, 10.0
shot.eevee.use_shadows = True  # (a new scene's default differs between versions)
world = bpy.data.worlds.new("Foggy")
tree = compat.material_node_tree(world)  # worlds have node trees as materials do
fog = tree.nodes.new("ShaderNodeVolumePrincipled")
fog.name = "Fog"
fog.inputs["Density"].default_value = 0.3
tree.links.new(fog.outputs[0], next(n for n in tree.nodes if n.type == "OUTPUT_WORLD").inputs["Volume"])
shot.world = world


def look(scene):
    """The artist's settings the effects above changed, as text."""
    c = scene.camera.data
    fc = compat.fcurve_collection(c)
    return {
        "dof": [c.dof.use_dof, round(c.dof.aperture_fstop, 3), round(c.dof.focus_distance, 3)],
        "dof_keys_muted": [f.mute for f in fc] if fc else None,
        "render": [getattr(scene.render, k) for k in ("use_motion_blur", "use_stamp", "use_freestyle", "use_border")],
        "curves": scene.view_settings.use_curve_mapping,
        "white_balance": getattr(scene.view_settings, "use_white_balance", None),
        "colour_management": scene.render.image_settings.color_management,
        "overscan": scene.eevee.use_overscan,
        "shadows": scene.eevee.use_shadows,  # off while the preview renders
        "world": scene.world.name if scene.world else None,
        "world_volume_linked": bool(scene.world and scene.world.node_tree.nodes["Fog"].outputs[0].is_linked),
        "worlds": sorted(w.name for w in bpy.data.worlds),
        "cameras": sorted(c.name for c in bpy.data.cameras),
    }


before = look(shot)
report["panel_effects_on"] = harness.panel_lines(pkg, shot)
err, frames = preview()
report["all_effects"] = {"error": err, **measure(frames, clean)}
shot = bpy.data.scenes[name]
report["look_before"], report["look_after"] = before, look(shot)

# Workbench (the preferences' other preview engine): its own depth of field, cavity, outline, shadows, X-ray.
p.preview_engine = "WORKBENCH"
for k in ("use_dof", "show_cavity", "show_object_outline", "show_shadows", "show_xray"):
    setattr(shot.display.shading, k, False)
shot = bpy.data.scenes[name]
compat.remove_fcurves(shot.camera.data, {"dof.use_dof"})
shot.camera.data.dof.use_dof = False
err, wb_clean = preview()
report["workbench_clean"] = {"error": err, **measure(wb_clean)}
shot = bpy.data.scenes[name]
dof = shot.camera.data.dof
dof.use_dof = True
for k in ("use_dof", "show_cavity", "show_object_outline", "show_shadows"):
    setattr(shot.display.shading, k, True)
err, frames = preview()
report["workbench_effects"] = {"error": err, **measure(frames, wb_clean)}
report["states"] = states
report["deprecations"] = harness.deprecations()
harness.dump(out_json, report)
