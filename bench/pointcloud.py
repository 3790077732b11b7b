"""Time building the photo's grid mesh arrays (vertices + faces and edges) of a depth map, as the add-on does.

    python bench/pointcloud.py                      # a synthetic 1920x1080 room-like depth map
    python bench/pointcloud.py --depth D.npy --intrinsics K.json

Prints one line per stage with the median of --repeat runs.
"""

import argparse
import json
import statistics
import time

import numpy as np

from realcam_core.addon_only.pointcloud import grid_topology, grid_vertices
from realcam_core.camera import Intrinsics


def synthetic_depth(w: int, h: int) -> np.ndarray:
    # A floor, a back wall and a box: smooth areas plus real discontinuities.
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    depth = np.full((h, w), 6.0, np.float32)
    floor = yy > h * 0.55
    depth[floor] = np.minimum(6.0, 1.2 * h / np.maximum(yy[floor] - h * 0.5, 1.0))
    box = (abs(xx - w * 0.4) < w * 0.12) & (abs(yy - h * 0.6) < h * 0.15)
    depth[box] = 2.5
    return depth


def synthetic_photo(w: int, h: int):
    """(rgb uint8 (h, w, 3), depth (h, w), Intrinsics): the import benchmarks' photo, the same in every run."""
    rgb = np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8)
    return rgb, synthetic_depth(w, h), Intrinsics.default_for(w, h)


def timed(fn, repeat):
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--depth")
    ap.add_argument("--intrinsics")
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    if args.depth:
        depth = np.load(args.depth)
        with open(args.intrinsics) as fh:
            K = Intrinsics.from_dict(json.load(fh))
    else:
        w, h = (int(v) for v in args.size.split("x"))
        depth = synthetic_depth(w, h)
        K = Intrinsics.default_for(w, h)
    h, w = depth.shape
    t_verts, _ = timed(lambda: grid_vertices(depth, K), args.repeat)
    t_topo, (faces, _, _) = timed(lambda: grid_topology(depth), args.repeat)
    total = t_verts + t_topo
    print(f"point cloud {w}x{h} ({w * h} points, {len(faces)} faces kept of {(w - 1) * (h - 1)}):")
    print(f"  vertices (Blender world)  {t_verts * 1000:8.1f} ms")
    print(f"  faces, edges, corners     {t_topo * 1000:8.1f} ms")
    print(f"  total                     {total * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
