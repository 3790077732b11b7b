"""The add-on's depth-map reader on every file of a folder, in real Blender.

Usage: python depth_maps.py ZIP IN_DIR OUT_DIR
Writes OUT_DIR/NAME.npy for each accepted map and OUT_DIR/report.json with
{name: null | error message}.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

zip_path, in_dir, out_dir = sys.argv[1:4]
pkg = harness.start(zip_path)
photo_source = harness.module(pkg, "shot.photo_source")
import numpy as np  # noqa: E402

report = {}
for name in sorted(os.listdir(in_dir)):
    try:
        depth = photo_source.read_depth_map(os.path.join(in_dir, name))
    except photo_source.PhotoError as e:
        report[name] = str(e)
        continue
    np.save(os.path.join(out_dir, name + ".npy"), depth)
    report[name] = None
harness.dump(os.path.join(out_dir, "report.json"), report)
