"""Every refusal the artist can meet, each with a clear reason and nothing of theirs lost.

Usage: python addon_errors.py ZIP BACKEND_URL SAMPLES_DIR OUT_JSON WORK_DIR CLOSED_PORT
The backend knows the models "tiny" and "broken" (weights missing) and the depth model "tiny-depth".
"""

import http.server
import json
import os
import struct
import sys
import threading
import zlib

import bpy

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

zip_path, url, samples, out_json, work, closed_port = sys.argv[1:7]
pkg = harness.start(zip_path)
p = harness.prefs(pkg)
p.backend_url, p.auto_start, p.job_folder, p.depth_model = url, False, os.path.join(work, "jobs"), "tiny-depth"
p.preview_engine = "WORKBENCH"  # the engine is not what this script checks: see addon_studio.py
report = {}

# Import through the backend's depth endpoint.
res, err = harness.import_room(samples, true_depth=False, model="tiny")
scene = bpy.context.scene
rc = scene.realcam
report["backend_import"] = {"result": sorted(res), "error": err, "folder_files": sorted(os.listdir(rc.scene_folder))}
bpy.ops.realcam.preset(kind="TRUCK_RIGHT")
rc.steps = 2
res, err = harness.run_op(bpy.ops.realcam.generate)
report["first_take"] = {"result": sorted(res), "error": err}


def snapshot():
    takes_dir = os.path.join(work, "jobs", "takes")
    return {
        "strips": sorted(s.name for s in harness.strips(rc.edit_scene)),
        "objects": sorted(o.name for o in bpy.data.objects),
        "frames": [scene.frame_start, scene.frame_end],
        "camera": scene.camera.name if scene.camera else None,
        "take_folders": sorted(os.listdir(takes_dir)),
    }


before = snapshot()
cam = scene.camera
errors = {}


def attempt(key, op=bpy.ops.realcam.generate, **kw):
    res, err = harness.run_op(op, **kw)
    errors[key] = {"result": sorted(res), "error": err}


scene.camera = None
attempt("no_camera")
scene.camera = cam
cam.data.type = "ORTHO"
attempt("ortho")
cam.data.type = "PANO"
attempt("pano")
cam.data.type = "PERSP"
still = bpy.data.objects.new("Still", bpy.data.cameras.new("Still"))
scene.collection.objects.link(still)
scene.camera = still
attempt("still")
scene.camera = cam
scene.realcam.loop = True  # a loop whose camera path is open (a long shot is no refusal: it is made in windows)
attempt("open_loop")
scene.realcam.loop = False
p.backend_url = f"http://127.0.0.1:{closed_port}"
attempt("unreachable")


class OldBackend(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"status": "ok", "api_version": 99, "bundle_schema_versions": [7]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


old = http.server.ThreadingHTTPServer(("127.0.0.1", 0), OldBackend)
threading.Thread(target=old.serve_forever, daemon=True).start()
p.backend_url = f"http://127.0.0.1:{old.server_address[1]}"
attempt("incompatible")
old.shutdown()
p.backend_url = url
rc.model = "broken"
attempt("job_failed")
rc.model = "tiny"
# A PNG whole in its structure (the add-on's own check passes it) whose pixel data is damaged: the backend's
# decoder refuses it.
bad = os.path.join(work, "damaged.png")
with open(bad, "wb") as fh:
    fh.write(b"\x89PNG\r\n\x1a\n")
    for kind, data in (
        (b"IHDR", struct.pack(">IIBBBBB", 64, 48, 8, 2, 0, 0, 0)),
        (b"IDAT", b"no pixels"),
        (b"IEND", b""),
    ):
        fh.write(struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data)))
attempt("photo_refused", op=bpy.ops.realcam.import_photo, filepath=bad, model="tiny", width=128, height=96)
report["errors"] = errors
scene.camera = cam
after = snapshot()
report["before"], report["after"] = before, after
harness.dump(out_json, report)
