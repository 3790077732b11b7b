"""The main job, headless: the sample photo to a generated shot in the sequencer, through the add-on.

    python scripts/main_job.py [--tiny] [--out out/main]

Builds and installs the extension into a private Blender user folder, starts
the backend through the add-on (embedded mode), imports samples/room.jpg with
its true depth, keys a dolly, renders the Eevee preview, generates, and saves
OUT/realcam_main.blend (scene, camera, preview strip, generated strip) and
OUT/take.mp4. Without --tiny it uses the default video model and stops with a
message when its weights cannot be had; --tiny runs the same chain on small
random-weight models (meaningless pictures, real code path).
"""

import argparse
import json
import os
import shutil
import socket
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def weights_problem(repo_id: str) -> str | None:
    """Why the model's weights cannot be had here, or None."""
    from huggingface_hub import constants, model_info, try_to_load_from_cache

    if isinstance(try_to_load_from_cache(repo_id, "model_index.json"), str):
        return None
    try:
        model_info(repo_id, timeout=10)
        return None  # reachable: the backend will download it
    except Exception as e:
        return (
            f"the video model {repo_id} is not in the Hugging Face cache ({constants.HF_HUB_CACHE}) and the hub "
            f"cannot be reached ({type(e).__name__}). Provide it with `hf download {repo_id}` on a machine with "
            "internet (then copy the cache here or set HF_HOME), or run `bash scripts/main.sh --tiny` to smoke-test "
            "the chain on small random-weight models"
        )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tiny", action="store_true", help="small random-weight models (any machine, offline)")
    ap.add_argument("--out", default=os.path.join(ROOT, "out", "main"))
    ap.add_argument("--frames", type=int, default=0, help="frame count (default 17 with --tiny, else 49)")
    args = ap.parse_args()
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    t0 = time.time()

    from realcam_core.models import DEFAULT_VIDEO_MODEL, known_model

    if args.tiny:
        from realcam.testing.tiny_depth import build_depth_anything
        from realcam.testing.tiny_wan import build_wan22_ti2v

        tiny = os.path.join(out, "tiny-models")
        if not os.path.isdir(os.path.join(tiny, "wan22-ti2v")):
            build_wan22_ti2v(os.path.join(tiny, "wan22-ti2v"))
            build_depth_anything(os.path.join(tiny, "depth-anything"))
        model, size, frames = "tiny", (512, 288), args.frames or 17
        extra = f" --model-dir tiny={os.path.join(tiny, 'wan22-ti2v')}"
    else:
        repo = known_model(DEFAULT_VIDEO_MODEL).repo_id
        problem = weights_problem(repo)
        if problem:
            print(f"realcam main job: {problem}", file=sys.stderr)
            return 3
        model, size, frames, extra = DEFAULT_VIDEO_MODEL, None, args.frames or 49, ""

    from build_addon import build, install_into_blender

    pkg = install_into_blender(build(os.path.join(out, "dist")), os.path.join(out, "blender-user"))
    import bpy

    prefs = bpy.context.preferences.addons[pkg].preferences
    prefs.backend_url = f"http://127.0.0.1:{free_port()}"
    prefs.auto_start = True
    prefs.start_command = f"{sys.executable} -m realcam serve --data {os.path.join(out, 'backend-data')}{extra}"
    prefs.job_folder = os.path.join(out, "jobs")

    cam = json.load(open(os.path.join(ROOT, "samples", "room_camera.json")))
    kw = {"width": size[0], "height": size[1]} if size else {}
    step = time.time()
    bpy.ops.realcam.import_photo(
        filepath=os.path.join(ROOT, "samples", "room.jpg"),
        depth_map=os.path.join(ROOT, "samples", "room_depth.png"),
        focal_px=cam["fx"],
        model=model,
        frames=frames,
        **kw,
    )
    scene = bpy.context.scene
    print(
        f"imported {scene.render.resolution_x}x{scene.render.resolution_y}, {frames} frames "
        f"({time.time() - step:.1f} s)"
    )
    bpy.ops.realcam.preset(kind="DOLLY_IN")
    scene.realcam.prompt = "a quiet room, the camera glides forward"
    if args.tiny:
        scene.realcam.steps = 4
    step = time.time()
    bpy.ops.realcam.preview()
    print(f"preview rendered ({time.time() - step:.1f} s)")
    step = time.time()
    try:
        bpy.ops.realcam.generate()
    except RuntimeError as e:
        print(f"realcam main job: {e}".strip(), file=sys.stderr)
        return 1
    print(f"generated ({time.time() - step:.1f} s)")
    sed = scene.realcam.edit_scene.sequence_editor  # previews and takes live in the edit scene
    strips = list(sed.strips_all if hasattr(sed, "strips_all") else sed.sequences_all)
    take = [s for s in strips if s.type == "MOVIE"][-1]
    settings = json.loads(take["realcam"])
    shutil.copy(os.path.join(bpy.path.abspath(settings["take"]), "video.mp4"), os.path.join(out, "take.mp4"))
    blend = os.path.join(out, "realcam_main.blend")
    bpy.ops.wm.save_as_mainfile(filepath=blend)
    print(
        f"{blend}: {len(strips)} strips ({', '.join(s.name for s in strips)}); {os.path.join(out, 'take.mp4')}: "
        f"{take.frame_final_duration} frames from frame {take.frame_final_start}; {time.time() - t0:.0f} s in all"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
