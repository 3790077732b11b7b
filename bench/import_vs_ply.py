"""Importing a 1920x1080 photo's point cloud into Blender: the add-on's mesh build vs PLY + Blender's importer.

    python bench/import_vs_ply.py [--size 1920x1080] [--repeat 3]

The PLY path is what a user of the authors' demo does: write the coloured
points to a binary PLY, then File > Import > PLY. The add-on builds its mesh
(points, faces that skip depth edges, colours, material) straight from numpy.
"""

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _blender import blender_with_addon  # noqa: E402
from pointcloud import synthetic_depth  # noqa: E402


def write_ply(path, pts, rgb):
    n = len(pts)
    rec = np.empty(n, dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1")])
    rec["x"], rec["y"], rec["z"] = pts[:, 0], pts[:, 1], pts[:, 2]
    rec["red"], rec["green"], rec["blue"] = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    header = (
        "ply\nformat binary_little_endian 1.0\n"
        f"element vertex {n}\nproperty float x\nproperty float y\nproperty float z\n"
        "property uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n"
    )
    with open(path, "wb") as fh:
        fh.write(header.encode("ascii"))
        fh.write(rec.tobytes())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    bpy, pkg, tmp = blender_with_addon()
    photo_scene = sys.modules[f"{pkg}.shot.photo_scene"]
    from realcam_core.addon_only.pointcloud import grid_vertices
    from realcam_core.camera import Intrinsics

    depth = synthetic_depth(w, h)
    rgb = np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8)
    K = Intrinsics.default_for(w, h)
    ours, ply, points_only = [], [], []
    for i in range(args.repeat):
        # The same content as the PLY (coloured points, no faces), the add-on's way.
        t = time.perf_counter()
        pmesh = bpy.data.meshes.new(f"points{i}")
        pmesh.vertices.add(w * h)
        pmesh.attributes["position"].data.foreach_set("vector", grid_vertices(depth, K).ravel())
        colors = np.empty((w * h, 4), np.float32)
        colors[:, :3] = photo_scene._SRGB_LUT[rgb.reshape(-1, 3)]
        colors[:, 3] = 1.0
        pmesh.color_attributes.new("c", "FLOAT_COLOR", "POINT").data.foreach_set("color", colors.ravel())
        points_only.append(time.perf_counter() - t)
        bpy.data.meshes.remove(pmesh)
        t = time.perf_counter()
        mesh = photo_scene.build_mesh(f"bench{i}", rgb, depth, K)
        ob = bpy.data.objects.new(f"bench{i}", mesh)
        bpy.context.scene.collection.objects.link(ob)
        ours.append(time.perf_counter() - t)
        n_faces = len(mesh.polygons)
        bpy.data.objects.remove(ob)
        bpy.data.meshes.remove(mesh)
        path = os.path.join(tmp, f"cloud{i}.ply")
        t = time.perf_counter()
        pts = grid_vertices(depth, K)
        write_ply(path, pts, rgb.reshape(-1, 3))
        bpy.ops.wm.ply_import(filepath=path)
        ply.append(time.perf_counter() - t)
        for o in list(bpy.context.selected_objects):  # the imported cloud: keep memory steady between runs
            mesh_data = o.data
            bpy.data.objects.remove(o)
            bpy.data.meshes.remove(mesh_data)
        os.remove(path)
    a, b, c = statistics.median(ours), statistics.median(ply), statistics.median(points_only)
    print(f"point cloud import {w}x{h} ({w * h} points), median of {args.repeat}:")
    print(f"  add-on mesh build (points, {n_faces} faces, colours, material): {a * 1000:8.1f} ms")
    print(f"  write PLY + Blender's PLY importer (points, colours):            {b * 1000:8.1f} ms")
    print(f"  add-on way, points and colours only (the PLY's content):       {c * 1000:8.1f} ms")
    print(f"  ratio add-on mesh / PLY path: {a / b:.2f}; same content (points) / PLY path: {c / b:.2f}")


if __name__ == "__main__":
    main()
