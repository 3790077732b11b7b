"""Render the sample photo shipped with the repository, keeping its true depth.

    .venv/bin/python samples/make_sample.py

Writes samples/room.jpg (832x480), samples/room_depth.png (16-bit, millimetres,
z-depth of the camera) and samples/room_camera.json (the true intrinsics).
A textured room, so that the photo has detail for depth, preview and camera
tracking alike. Run once; the outputs are committed.
"""

import json
import math
import os
import sys
import tempfile

import bpy
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
W, H = 832, 480
LENS_MM, SENSOR_MM = 24.0, 36.0


def material(name, kind, color_a, color_b=(0.1, 0.1, 0.1, 1), scale=6.0):
    m = bpy.data.materials.new(name)
    m.use_nodes = True
    nt = m.node_tree
    bsdf = nt.nodes["Principled BSDF"]
    bsdf.inputs["Roughness"].default_value = 0.6
    if kind == "flat":
        bsdf.inputs["Base Color"].default_value = color_a
        return m
    coord = nt.nodes.new("ShaderNodeTexCoord")
    if kind == "checker":
        tex = nt.nodes.new("ShaderNodeTexChecker")
        tex.inputs["Color1"].default_value = color_a
        tex.inputs["Color2"].default_value = color_b
        tex.inputs["Scale"].default_value = scale
        nt.links.new(coord.outputs["Object"], tex.inputs["Vector"])
        nt.links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
    else:  # noisy colour ramp: rich texture for feature matching
        tex = nt.nodes.new("ShaderNodeTexNoise")
        tex.inputs["Scale"].default_value = scale
        tex.inputs["Detail"].default_value = 8.0
        ramp = nt.nodes.new("ShaderNodeValToRGB")
        ramp.color_ramp.elements[0].color = color_a
        ramp.color_ramp.elements[1].color = color_b
        nt.links.new(coord.outputs["Object"], tex.inputs["Vector"])
        nt.links.new(tex.outputs["Fac"], ramp.inputs["Fac"])
        nt.links.new(ramp.outputs["Color"], bsdf.inputs["Base Color"])
    return m


def add(obj_op, mat, **kw):
    obj_op(**kw)
    ob = bpy.context.active_object
    ob.data.materials.append(mat)
    return ob


def build_scene():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    floor = material("floor", "checker", (0.55, 0.42, 0.3, 1), (0.25, 0.17, 0.1, 1), 10)
    wall = material("wall", "noise", (0.6, 0.55, 0.45, 1), (0.15, 0.2, 0.35, 1), 3)
    red = material("red", "noise", (0.7, 0.1, 0.08, 1), (0.9, 0.6, 0.2, 1), 12)
    blue = material("blue", "checker", (0.1, 0.25, 0.7, 1), (0.8, 0.85, 0.9, 1), 5)
    green = material("green", "noise", (0.1, 0.5, 0.15, 1), (0.02, 0.1, 0.03, 1), 20)
    # Room: 7 m wide, 9 m deep, 3 m high; the camera stands at y=0 looking +Y.
    add(bpy.ops.mesh.primitive_plane_add, floor, size=1, location=(0, 4.5, 0), scale=(7, 9, 1))
    bpy.context.active_object.scale = (7, 9, 1)
    back = add(bpy.ops.mesh.primitive_plane_add, wall, size=1, location=(0, 8, 1.5), rotation=(math.pi / 2, 0, 0))
    back.scale = (7, 3, 1)
    ceiling = material("ceiling", "checker", (0.6, 0.6, 0.6, 1), (0.45, 0.45, 0.5, 1), 8)
    top = add(bpy.ops.mesh.primitive_plane_add, ceiling, size=1, location=(0, 4.5, 3.0), rotation=(math.pi, 0, 0))
    top.scale = (7, 9, 1)
    for x, rz in ((-3.5, math.pi / 2), (3.5, -math.pi / 2)):
        side = add(
            bpy.ops.mesh.primitive_plane_add, wall, size=1, location=(x, 4.5, 1.5), rotation=(math.pi / 2, 0, rz)
        )
        side.scale = (9, 3, 1)
    add(bpy.ops.mesh.primitive_cube_add, red, size=1, location=(-1.1, 3.2, 0.4)).scale = (1.2, 0.8, 0.8)
    add(bpy.ops.mesh.primitive_uv_sphere_add, blue, radius=0.45, location=(0.7, 2.6, 0.45))
    add(bpy.ops.mesh.primitive_cylinder_add, green, radius=0.3, depth=1.6, location=(1.9, 5.0, 0.8))
    add(bpy.ops.mesh.primitive_cube_add, blue, size=1, location=(-2.2, 6.3, 0.9)).scale = (1.0, 1.0, 1.8)
    add(bpy.ops.mesh.primitive_ico_sphere_add, red, radius=0.35, subdivisions=3, location=(0.2, 4.6, 1.2))
    # Lights: a warm area light and a cool fill.
    bpy.ops.object.light_add(type="AREA", location=(0.5, 2.5, 2.9))
    bpy.context.active_object.data.energy = 260
    bpy.context.active_object.data.size = 3
    bpy.ops.object.light_add(type="POINT", location=(-2.5, 6.5, 2.5))
    bpy.context.active_object.data.energy = 90
    world = bpy.data.worlds.new("world")
    world.use_nodes = True
    world.node_tree.nodes["Background"].inputs["Strength"].default_value = 0.3
    scene.world = world
    bpy.ops.object.camera_add(location=(0, 0, 1.4), rotation=(math.radians(88), 0, 0))
    cam = bpy.context.active_object
    cam.data.lens = LENS_MM
    cam.data.sensor_width = SENSOR_MM
    cam.data.sensor_fit = "HORIZONTAL"
    scene.camera = cam
    r = scene.render
    r.engine = "CYCLES"
    scene.cycles.samples = 48
    scene.cycles.use_denoising = True
    scene.cycles.device = "CPU"
    r.resolution_x, r.resolution_y, r.resolution_percentage = W, H, 100
    scene.view_layers[0].use_pass_z = True
    return scene, cam


def main():
    scene, cam = build_scene()
    with tempfile.TemporaryDirectory() as tmp:
        exr = os.path.join(tmp, "render.exr")
        scene.render.image_settings.file_format = "OPEN_EXR_MULTILAYER"
        scene.render.image_settings.color_depth = "32"
        scene.render.filepath = exr
        bpy.ops.render.render(write_still=True)
        import OpenEXR

        with OpenEXR.File(exr) as f:
            ch = f.channels()
            depth_name = next(k for k in ch if k.endswith("Depth.Z") or k.endswith(".Z") or k == "Z")
            z = np.asarray(ch[depth_name].pixels, dtype=np.float32)
            rgb_name = next(k for k in ch if k.endswith("Combined") or k.endswith("Combined.RGBA"))
            lin = np.asarray(ch[rgb_name].pixels, dtype=np.float32)[..., :3]
    # Filmic/AgX would need Blender's OCIO; a plain sRGB curve is enough for a sample photo.
    srgb = np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * np.power(np.clip(lin, 0, None), 1 / 2.4) - 0.055)
    rgb8 = (np.clip(srgb, 0, 1) * 255 + 0.5).astype(np.uint8)
    from PIL import Image

    Image.fromarray(rgb8).save(os.path.join(HERE, "room.jpg"), quality=93)
    mm = np.clip(np.round(z * 1000.0), 0, 65535).astype(np.uint16)
    Image.fromarray(mm).save(os.path.join(HERE, "room_depth.png"))
    fx = LENS_MM / SENSOR_MM * W
    with open(os.path.join(HERE, "room_camera.json"), "w") as fh:
        json.dump(
            {
                "fx": fx,
                "fy": fx,
                "cx": W / 2,
                "cy": H / 2,
                "width": W,
                "height": H,
                "lens_mm": LENS_MM,
                "sensor_width_mm": SENSOR_MM,
            },
            fh,
            indent=1,
        )
    print(f"depth {z.min():.2f}-{z.max():.2f} m, focal {fx:.1f} px")


if __name__ == "__main__":
    sys.exit(main())
