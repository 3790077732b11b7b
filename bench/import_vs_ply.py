"""Importing a 1920x1080 photo's point cloud into Blender: the add-on's mesh build vs PLY + Blender's importer.

    python bench/import_vs_ply.py [--size 1920x1080] [--repeat 3]

The PLY path is what a user of the authors' demo does: write the coloured
points to a binary PLY, then File > Import > PLY. The add-on builds its mesh
(points, faces that skip depth edges, colours, material) from numpy, by the
import's own steps run back to back (photo_scene.build_mesh: the numpy work in
worker threads, Blender's bulk writes on this thread). Each path's CPU time
(all its threads) is printed too: on a shared machine the wall times move
with the load, the CPU times much less.
"""

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _blender import blender_with_addon  # noqa: E402
from pointcloud import synthetic_photo  # noqa: E402


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
    photo_mesh = sys.modules[f"{pkg}.shot.photo_mesh"]
    from realcam_core.addon_only.pointcloud import grid_vertices

    rgb, depth, K = synthetic_photo(w, h)
    times = {"ours": [], "ply": [], "points": []}

    def timed(key, fn):
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        times[key].append((time.perf_counter() - t, time.process_time() - c))
        return out

    def points_only(i):
        # The same content as the PLY (coloured points, no faces), the add-on's way.
        pmesh = bpy.data.meshes.new(f"points{i}")
        pmesh.vertices.add(w * h)
        pmesh.attributes["position"].data.foreach_set("vector", grid_vertices(depth, K).ravel())
        colors = photo_mesh.colors_linear(rgb)
        pmesh.color_attributes.new("c", "FLOAT_COLOR", "POINT").data.foreach_set("color", colors.ravel())
        return pmesh

    def ours(i):
        mesh = photo_scene.build_mesh(f"bench{i}", rgb, depth, K)
        bpy.context.scene.collection.objects.link(bpy.data.objects.new(f"bench{i}", mesh))
        return mesh

    def ply_path(path):
        write_ply(path, grid_vertices(depth, K), rgb.reshape(-1, 3))
        bpy.ops.wm.ply_import(filepath=path)

    for i in range(args.repeat):
        bpy.data.meshes.remove(timed("points", lambda i=i: points_only(i)))
        mesh = timed("ours", lambda i=i: ours(i))
        n_faces = len(mesh.polygons)
        bpy.data.objects.remove(bpy.data.objects[f"bench{i}"])
        bpy.data.meshes.remove(mesh)
        path = os.path.join(tmp, f"cloud{i}.ply")
        timed("ply", lambda path=path: ply_path(path))
        for o in list(bpy.context.selected_objects):  # the imported cloud: keep memory steady between runs
            mesh_data = o.data
            bpy.data.objects.remove(o)
            bpy.data.meshes.remove(mesh_data)
        os.remove(path)
    wall = {k: statistics.median(t for t, _ in v) for k, v in times.items()}
    cpu = {k: statistics.median(c for _, c in v) for k, v in times.items()}
    a, b, c = wall["ours"], wall["ply"], wall["points"]
    print(f"point cloud import {w}x{h} ({w * h} points), median of {args.repeat} (wall; CPU of all threads):")
    rows = (
        ("ours", f"add-on mesh build (points, {n_faces} faces, colours, material):"),
        ("ply", "write PLY + Blender's PLY importer (points, colours):"),
        ("points", "add-on way, points and colours only (the PLY's content):"),
    )
    for key, label in rows:
        print(f"  {label:<62} {wall[key] * 1000:8.1f} ms; {cpu[key] * 1000:6.1f} ms CPU")
    print(f"  ratio add-on mesh / PLY path: {a / b:.2f}; same content (points) / PLY path: {c / b:.2f}")
    print(f"  CPU time ratio add-on mesh / PLY path: {cpu['ours'] / cpu['ply']:.2f}")


if __name__ == "__main__":
    main()
