"""Ground truth from Blender itself: random cameras, and where Blender projects points.

Usage: python project_points.py OUT.json SEED COUNT
"""

import json
import math
import random
import sys

import bpy
from bpy_extras.object_utils import world_to_camera_view
from mathutils import Euler, Matrix, Vector

out_path, seed, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
cam_data = bpy.data.cameras.new("cam")
cam = bpy.data.objects.new("cam", cam_data)
scene.collection.objects.link(cam)
scene.camera = cam
cases = []
for i in range(count):
    fit = ["AUTO", "HORIZONTAL", "VERTICAL"][i % 3]
    r = scene.render
    r.resolution_x = rng.choice([64, 320, 832, 480, 1000])
    r.resolution_y = rng.choice([48, 320, 480, 832, 700])
    r.resolution_percentage = 100
    aspect = rng.choice([1.0, 1.0, rng.uniform(1.0, 2.0)])
    if rng.random() < 0.5:
        r.pixel_aspect_x, r.pixel_aspect_y = aspect, 1.0
    else:
        r.pixel_aspect_x, r.pixel_aspect_y = 1.0, aspect
    cam_data.lens = rng.uniform(12, 120)
    cam_data.sensor_width = rng.uniform(10, 50)
    cam_data.sensor_height = rng.uniform(8, 40)
    cam_data.sensor_fit = fit
    cam_data.shift_x = rng.uniform(-0.4, 0.4) if i % 2 else 0.0
    cam_data.shift_y = rng.uniform(-0.4, 0.4) if i % 2 else 0.0
    rot = Euler([rng.uniform(-math.pi, math.pi) for _ in range(3)])
    scale = [rng.uniform(0.5, 2.0) for _ in range(3)]
    cam.matrix_world = Matrix.LocRotScale(Vector([rng.uniform(-5, 5) for _ in range(3)]), rot, Vector(scale))
    bpy.context.view_layer.update()
    mw = cam.matrix_world.copy()
    points, ndc = [], []
    inv = mw.normalized().inverted()
    for _ in range(6):
        local = Vector((rng.uniform(-0.5, 0.5), rng.uniform(-0.5, 0.5), -rng.uniform(1.0, 10.0)))
        world = mw.normalized() @ local
        v = world_to_camera_view(scene, cam, world)
        points.append(list(world))
        ndc.append(list(v))
        assert abs((inv @ world).z - local.z) < 1e-4
    cases.append(
        {
            "camera": {
                "lens": cam_data.lens,
                "sensor_width": cam_data.sensor_width,
                "sensor_height": cam_data.sensor_height,
                "sensor_fit": fit,
                "shift_x": cam_data.shift_x,
                "shift_y": cam_data.shift_y,
                "resolution_x": r.resolution_x,
                "resolution_y": r.resolution_y,
                "pixel_aspect_x": r.pixel_aspect_x,
                "pixel_aspect_y": r.pixel_aspect_y,
            },
            "matrix_world": [list(row) for row in mw],
            "points": points,
            "ndc": ndc,
        }
    )
with open(out_path, "w") as fh:
    json.dump(cases, fh)
