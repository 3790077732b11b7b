"""Renders of a textured room along known camera moves (Cycles, CPU), with the cameras read back from Blender.

Usage: python textured_moves.py OUT_DIR WIDTH HEIGHT FRAMES MOVE [MOVE ...] [--depth] [--rolling-shutter=R]
MOVE: dolly_in dolly_out pan orbit crane zoom truck
Writes OUT_DIR/<move>/frames/0000.png ... and OUT_DIR/<move>/cameras.txt (RealEstate10K rows:
intrinsics normalised by width and height, world-to-camera in OpenCV axes).

--depth               also OUT_DIR/<move>/depth/0000.exr ...: each frame's multilayer EXR render, whose
                      'ViewLayer.Depth.Z' is the true z-depth in metres (Cycles; the PNG frames are its
                      Combined pass through the sRGB curve, as the Standard view transform writes them)
--rolling-shutter=R   Cycles' rolling shutter, rows read top to bottom over R frame intervals (0 = global)

The room (6 x 10.5 x 3 m, five boxes) has a different multi-octave noise and blob texture on
every surface, lit by emission only: no dominant plane, detail at every scale, no shading noise.
"""

import math
import os
import sys

import bpy
import mathutils
import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "addon"))
from realcam_core.camera import (  # noqa: E402
    BlenderCamera,
    blender_from_opencv_c2w,
    intrinsics_from_blender,
    opencv_c2w_from_blender,
)

# Reference camera, OpenCV c2w in Blender's world: at (0, -0.5, 1.5) looking along +Y.
REF = np.array([[1.0, 0, 0, 0.0], [0, 0, 1, -0.5], [0, -1, 0, 1.5], [0, 0, 0, 1]])
FOV_X_DEG = 60.0
DEPTH = 4.5  # roughly the median depth seen from the reference camera


def texture(path, seed, size=512):
    rng = np.random.default_rng(seed)
    img = np.zeros((size, size, 3))
    for octave, weight in ((4, 1.0), (16, 0.7), (64, 0.6), (256, 0.5)):
        small = (rng.random((octave, octave, 3)) * 255).astype(np.uint8)
        img += weight * np.asarray(Image.fromarray(small).resize((size, size), Image.BILINEAR)) / 255.0
    img = (img - img.min()) / (img.max() - img.min())
    pil = Image.fromarray((img * 255).astype(np.uint8))
    d = ImageDraw.Draw(pil)
    for _ in range(150):  # sharp blobs: corners and edges for SIFT at every scale
        x, y = (int(v) for v in rng.integers(0, size, 2))
        r = int(rng.integers(3, 20))
        col = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            d.ellipse([x - r, y - r, x + r, y + r], fill=col)
        else:
            d.rectangle([x - r, y - r // 2, x + r, y + r // 2], fill=col)
    pil.save(path)


def build_scene(w, h, tex_dir):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    os.makedirs(tex_dir, exist_ok=True)

    def material(name, seed):
        p = os.path.join(tex_dir, f"{name}.png")
        texture(p, seed)
        mat = bpy.data.materials.new(name)
        mat.use_nodes = True
        nt = mat.node_tree
        nt.nodes.clear()
        out = nt.nodes.new("ShaderNodeOutputMaterial")
        em = nt.nodes.new("ShaderNodeEmission")
        tx = nt.nodes.new("ShaderNodeTexImage")
        tx.image = bpy.data.images.load(p)
        nt.links.new(tx.outputs["Color"], em.inputs["Color"])
        nt.links.new(em.outputs["Emission"], out.inputs["Surface"])
        return mat

    def plane(name, seed, loc, rot, size):
        bpy.ops.mesh.primitive_plane_add(size=1, location=loc, rotation=rot)
        ob = bpy.context.active_object
        ob.scale = (size[0], size[1], 1)
        ob.data.materials.append(material(name, seed))

    # room x -3..3, y -3.5..7, z 0..3
    plane("floor", 1, (0, 1.75, 0), (0, 0, 0), (6, 10.5))
    plane("ceiling", 2, (0, 1.75, 3), (math.pi, 0, 0), (6, 10.5))
    plane("back", 3, (0, 7, 1.5), (math.pi / 2, 0, 0), (6, 3))
    plane("front", 4, (0, -3.5, 1.5), (-math.pi / 2, 0, 0), (6, 3))
    plane("left", 5, (-3, 1.75, 1.5), (math.pi / 2, 0, math.pi / 2), (10.5, 3))
    plane("right", 6, (3, 1.75, 1.5), (math.pi / 2, 0, -math.pi / 2), (10.5, 3))
    boxes = [
        ((-1.6, 2.5, 0.5), (0.8, 0.8, 1.0), 0.3),
        ((1.2, 3.5, 0.7), (1.0, 0.7, 1.4), -0.4),
        ((-0.3, 5.2, 0.9), (1.4, 0.6, 1.8), 0.1),
        ((2.0, 1.8, 0.3), (0.5, 0.5, 0.6), 0.8),
        ((-0.6, 3.0, 2.4), (0.6, 0.6, 0.4), 0.5),
    ]
    for i, (loc, dims, yaw) in enumerate(boxes):
        bpy.ops.mesh.primitive_cube_add(size=1, location=loc, rotation=(0, 0, yaw))
        ob = bpy.context.active_object
        ob.scale = dims
        bpy.ops.object.mode_set(mode="EDIT")
        bpy.ops.uv.cube_project()
        bpy.ops.object.mode_set(mode="OBJECT")
        ob.data.materials.append(material(f"box{i}", 10 + i))

    cam_data = bpy.data.cameras.new("cam")
    cam_data.sensor_fit = "HORIZONTAL"
    cam_data.sensor_width = 36.0
    cam = bpy.data.objects.new("cam", cam_data)
    scene.collection.objects.link(cam)
    scene.camera = cam
    r = scene.render
    r.resolution_x, r.resolution_y, r.resolution_percentage = w, h, 100
    r.image_settings.file_format = "PNG"
    r.image_settings.color_mode = "RGB"
    r.dither_intensity = 0.0
    scene.view_settings.view_transform = "Standard"
    r.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = 4
    scene.cycles.use_denoising = False
    scene.cycles.max_bounces = 0
    scene.cycles.seed = 0
    return scene, cam


def rot(axis, angle):
    a = np.asarray(axis, float) / np.linalg.norm(axis)
    K = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + math.sin(angle) * K + (1 - math.cos(angle)) * K @ K


def track(move, n):
    """Per frame (focal factor, OpenCV c2w in Blender's world)."""
    up = np.array([0, 0, 1.0])
    R0, t0 = REF[:3, :3], REF[:3, 3]
    fwd, right = R0[:, 2], R0[:, 0]
    out = []
    for i in range(n):
        s = i / (n - 1)
        c2w, f = REF.copy(), 1.0
        if move == "dolly_in":
            c2w[:3, 3] = t0 + fwd * 0.25 * DEPTH * s
        elif move == "dolly_out":
            c2w[:3, 3] = t0 - fwd * 0.25 * DEPTH * s
        elif move == "truck":
            c2w[:3, 3] = t0 + right * 0.15 * DEPTH * s
        elif move == "pan":
            c2w[:3, :3] = rot(up, math.radians(15.0) * s) @ R0
        elif move == "orbit":
            pivot = t0 + fwd * DEPTH
            Rz = rot(up, math.radians(-20.0) * s)
            c2w[:3, :3] = Rz @ R0
            c2w[:3, 3] = pivot + Rz @ (t0 - pivot)
        elif move == "crane":  # pedestal up while tilting down
            c2w[:3, 3] = t0 + up * 0.15 * DEPTH * s
            c2w[:3, :3] = rot(right, math.radians(-10.0) * s) @ R0
        elif move == "zoom":
            f = 1.5**s
        else:
            raise SystemExit(f"unknown move {move}")
        out.append((f, c2w))
    return out


def rolling_shutter(scene, readout):
    """Rows exposed one after another, top first, across `readout` frame intervals; each row instantly
    (duration 0: no motion blur within a row). Cycles takes the camera's motion from the shutter interval."""
    scene.render.use_motion_blur = True
    scene.render.motion_blur_shutter = readout
    scene.render.motion_blur_position = "CENTER"  # the middle row is seen at the frame's own time
    scene.cycles.rolling_shutter_type = "TOP"
    scene.cycles.rolling_shutter_duration = 0.0


def exr_to_png(exr_path, png_path):
    """The Combined pass of a multilayer EXR as the 8-bit sRGB PNG Blender would have written."""
    from realcam_core import exr

    names = exr.channel_names(exr_path)
    lin = np.stack(
        [exr.read_channel(exr_path, next(n for n in names if n.endswith("Combined." + c))) for c in "RGB"], 2
    )
    srgb = np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * np.power(np.clip(lin, 0, None), 1 / 2.4) - 0.055)
    Image.fromarray((np.clip(srgb, 0, 1) * 255 + 0.5).astype(np.uint8)).save(png_path)


def main():
    flags = [a for a in sys.argv[1:] if a.startswith("--")]
    out_dir, w, h, n, *moves = [a for a in sys.argv[1:] if not a.startswith("--")]
    w, h, n = int(w), int(h), int(n)
    with_depth = "--depth" in flags
    readout = next((float(f.split("=", 1)[1]) for f in flags if f.startswith("--rolling-shutter=")), 0.0)
    scene, cam = build_scene(w, h, os.path.join(out_dir, "textures"))
    if readout > 0:
        rolling_shutter(scene, readout)
    if with_depth:
        scene.view_layers[0].use_pass_z = True
        scene.render.image_settings.file_format = "OPEN_EXR_MULTILAYER"
        scene.render.image_settings.color_depth = "32"
    lens0 = 0.5 * 36.0 / math.tan(math.radians(FOV_X_DEG) / 2)
    for move in moves:
        folder = os.path.join(out_dir, move)
        os.makedirs(os.path.join(folder, "frames"), exist_ok=True)
        cam.animation_data_clear()
        cam.data.animation_data_clear()
        cam.rotation_mode = "QUATERNION"
        for i, (f, c2w) in enumerate(track(move, n)):
            cam.matrix_world = mathutils.Matrix(blender_from_opencv_c2w(c2w).tolist())
            cam.keyframe_insert("location", frame=i)
            cam.keyframe_insert("rotation_quaternion", frame=i)
            cam.data.lens = lens0 * f
            cam.data.keyframe_insert("lens", frame=i)
        scene.frame_start, scene.frame_end = 0, n - 1
        scene.render.filepath = os.path.join(folder, "depth" if with_depth else "frames", "####")
        bpy.ops.render.render(animation=True)
        if with_depth:
            for i in range(n):
                exr_to_png(
                    os.path.join(folder, "depth", f"{i:04d}.exr"), os.path.join(folder, "frames", f"{i:04d}.png")
                )
        rows = []
        for i in range(n):  # the truth is what Blender rendered, read back
            scene.frame_set(i)
            bc = BlenderCamera(lens=cam.data.lens, sensor_fit="HORIZONTAL", resolution_x=w, resolution_y=h)
            K = intrinsics_from_blender(bc)
            w2c = np.linalg.inv(opencv_c2w_from_blender(np.array(cam.matrix_world)))[:3]
            nums = [K.fx / w, K.fy / h, K.cx / w, K.cy / h, 0, 0, *w2c.ravel()]
            rows.append(" ".join([str(i * 40000)] + [repr(float(x)) for x in nums]))
        with open(os.path.join(folder, "cameras.txt"), "w") as fh:
            fh.write("\n".join(rows) + "\n")


main()
