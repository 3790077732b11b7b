#!/usr/bin/env bash
# Set up .venv and run the main job on the sample photo shipped in samples/.
# Today the deepest part of the chain that exists: the photo becomes a metric
# scene (image, depth, intrinsics) and its point cloud, under out/main/.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
OUT=${1:-out/main}
focal=$(python -c 'import json; print(json.load(open("samples/room_camera.json"))["fx"])')
realcam depth samples/room.jpg --depth-map samples/room_depth.png --focal-px "$focal" --out "$OUT/scene"
python bench/pointcloud.py --depth "$OUT/scene/depth.npy" --intrinsics "$OUT/scene/intrinsics.json" --repeat 1
