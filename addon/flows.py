"""The three long operations as task generators: import a photo, render a preview, generate a take.

They follow the data flow photo -> scene -> camera track -> preview -> job ->
video -> sequencer. Blender data is touched only between yields on the main
thread; network, packing and waiting happen in Background steps (tasks.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time

import bpy
import numpy as np

from . import backend_process, backend_setup, camera_track, photo_scene, photo_source, preview, sequencer
from .compat import show_in_sequencer
from .paths import job_root
from .preferences import prefs
from .realcam_core import api
from .realcam_core.bundle import Frame, JobBundle, Settings, SnsSettings, pack_bundle, preview_name, validate_bundle
from .realcam_core.client import BackendError, Client
from .realcam_core.models import DEFAULT_VIDEO_MODEL, ModelSpec, known_model, native_size_for
from .tasks import Background, Sleep, TaskCancelled, WaitFor

POLL_SECONDS = 0.5


class FlowError(Exception):
    """A reason the operation stopped, written for the artist."""


def _backend(context):
    p = prefs(context)
    return p.backend_url, (p.token or None), p.auto_start, p.start_command


def _ensure_backend(context):
    url, token, auto, command = _backend(context)
    log_dir = os.path.join(job_root(context), "logs")
    return Background(backend_process.ensure, url, token, auto, command, log_dir)


def _client(context) -> Client:
    url, token, _, _ = _backend(context)
    return Client(url, token, timeout=120)


def _require_weights(context, kind: str, name: str | None):
    """Task step: a backend on this computer never fetches weights at generate time; say where to get them."""
    if not backend_process.is_local(prefs(context).backend_url):
        return
    listing = yield Background(_client(context).models)
    problem = backend_setup.weights_problem(listing, kind, name)
    if problem:
        raise FlowError(problem)


def model_name(context, scene) -> str:
    return scene.realcam.model or prefs(context).model or DEFAULT_VIDEO_MODEL


def model_spec(context, name: str):
    """Task step -> the model's limits: known locally, else asked of the backend."""
    known = known_model(name)
    if known is not None:
        return known.spec
    yield _ensure_backend(context)
    listing = yield Background(_client(context).models)
    for m in listing["video"]:
        if m["name"] == name and m.get("spec"):
            return ModelSpec.from_dict(m["spec"])
    raise FlowError(f"the backend does not know the video model {name!r}; pick one it lists (realcam models)")


# ----------------------------------------------------------------- import


def import_photo(task, context, photo: str, depth_map: str, focal_px: float, model: str, size, frames: int):
    scene = context.scene
    name = model or model_name(context, scene)
    spec = yield from model_spec(context, name)
    if not os.path.isfile(photo):
        raise FlowError(f"{photo}: no such photo")
    if not size or not size[0]:
        w, h = _image_size(photo)
        size = native_size_for(spec, w / h)
    frames = frames or min(49, spec.max_frames)
    problems = spec.problems(size[0], size[1], frames)
    if problems:
        raise FlowError("; ".join(problems))
    folder = os.path.join(
        job_root(context), "scenes", f"{os.path.splitext(os.path.basename(photo))[0]}-{time.strftime('%Y%m%d-%H%M%S')}"
    )
    os.makedirs(folder, exist_ok=True)
    if depth_map:
        task.report("reading the depth map")
        yield None
        photo_source.local_scene(photo, depth_map, size, focal_px or None, folder)
    else:
        task.report("estimating depth")
        yield _ensure_backend(context)
        zip_path = os.path.join(folder, "depth.zip")
        depth_model = prefs(context).depth_model or None
        yield from _require_weights(context, "depth", depth_model)
        try:
            yield Background(
                _client(context).depth, photo, zip_path, f"{size[0]}x{size[1]}", focal_px or None, depth_model
            )
        except BackendError as e:
            raise FlowError(f"the backend refused the photo: {e.message}") from None
        yield Background(photo_source.unpack_depth_zip, zip_path, folder)
        os.remove(zip_path)
    task.report("building the scene")
    yield None
    rgb, depth, K = photo_source.read_scene_folder(folder)
    mesh_ob, cam_ob = photo_scene.build_scene(context, folder, rgb, depth, K, spec, frames, photo)
    if not scene.realcam.model:
        scene.realcam.model = name
    return {"mesh": mesh_ob.name, "camera": cam_ob.name, "folder": folder}


def _image_size(path: str):
    img = bpy.data.images.load(path, check_existing=False)
    try:
        w, h = img.size
    finally:
        bpy.data.images.remove(img)
    if not w or not h:
        raise FlowError(f"{path}: Blender cannot read this image")
    return w, h


# ----------------------------------------------------------------- preview


def _track_hash(Ks, c2ws) -> str:
    h = hashlib.sha1()
    for K, m in zip(Ks, c2ws, strict=True):
        h.update(np.array([K.fx, K.fy, K.cx, K.cy, K.width, K.height], np.float64).tobytes())
        h.update(np.round(np.asarray(m, np.float64), 9).tobytes())
    return h.hexdigest()[:16]


def read_track(task, context, scene):
    try:
        cam = camera_track.check_camera(scene)
    except camera_track.CameraError as e:
        raise FlowError(str(e)) from None
    frames = list(range(scene.frame_start, scene.frame_end + 1))
    task.report("reading the camera", 0, len(frames))
    try:
        Ks, rel = yield from camera_track.read_track(context, scene, cam, frames)
    except camera_track.CameraError as e:
        raise FlowError(str(e)) from None
    return frames, Ks, rel


def render_preview(task, context, scene, track=None):
    if track is None:
        track = yield from read_track(task, context, scene)
    frames, Ks, rel = track
    folder = preview.new_folder(job_root(context))
    task.report("rendering the preview", 0, len(frames))
    saved = preview.swap_settings(scene, folder, prefs(context).preview_engine)
    try:
        if bpy.app.background:
            bpy.ops.render.render(animation=True, scene=scene.name)
        else:
            with preview.RenderWatch() as watch:
                bpy.ops.render.render("INVOKE_DEFAULT", animation=True, scene=scene.name)
                yield WaitFor(lambda: watch.finished, poll=0.2)
            if watch.cancelled:
                raise TaskCancelled()
    finally:
        preview.restore_settings(scene, saved)
    files = preview.frame_files(scene)
    missing = [f for f in files if not os.path.isfile(os.path.join(folder, f))]
    if missing:
        raise FlowError(f"the preview render did not write {len(missing)} frames (first: {missing[0]})")
    sequencer.add_image_sequence(scene, folder, files, scene.frame_start, "RealCam preview")
    show_in_sequencer(context, scene)
    scene.realcam.preview_folder = folder
    scene.realcam.preview_signature = preview.signature(scene) + _track_hash(Ks, rel)
    return folder


# ----------------------------------------------------------------- generate


def _settings(context, scene, name: str, fps: float) -> Settings:
    rc, p = scene.realcam, prefs(context)
    steps = rc.steps or p.steps or None
    guidance = rc.guidance or p.guidance or None
    return Settings(
        model=name,
        prompt=rc.prompt,
        negative_prompt=rc.negative_prompt,
        seed=rc.seed,
        steps=steps,
        guidance=guidance,
        fps=fps,
        sns=SnsSettings(rc.sns_enabled, rc.sns_threshold),
        camera_condition=rc.camera_condition,
    )


def _write_bundle(folder, scene_folder, preview_folder, preview_files, frames, Ks, rel, settings, source) -> str:
    """Bundle folder and zip (worker thread: files only, no Blender data)."""
    os.makedirs(os.path.join(folder, "preview"))
    shutil.copy(os.path.join(scene_folder, "image.png"), os.path.join(folder, "reference.png"))
    shutil.copy(os.path.join(scene_folder, "depth.npy"), os.path.join(folder, "depth.npy"))
    entries = []
    for i, (f, name, K, m) in enumerate(zip(frames, preview_files, Ks, rel, strict=True)):
        shutil.copy(os.path.join(preview_folder, name), os.path.join(folder, preview_name(i)))
        entries.append(Frame(f, preview_name(i), K, m))
    K0 = Ks[0]
    bundle = JobBundle(K0.width, K0.height, entries, settings, depth="depth.npy", source=source)
    bundle.write_manifest(folder)
    _, problems = validate_bundle(folder)
    if problems:
        raise FlowError("the job bundle is not valid: " + "; ".join(str(p) for p in problems[:5]))
    return pack_bundle(folder, folder + ".zip")


def generate(task, context, scene):
    rc = scene.realcam
    if not rc.scene_folder or not os.path.isfile(os.path.join(bpy.path.abspath(rc.scene_folder), "image.png")):
        raise FlowError("import a photo first (RealCam > Import photo): the reference image is missing")
    scene_folder = bpy.path.abspath(rc.scene_folder)
    name = model_name(context, scene)
    spec = yield from model_spec(context, name)
    r = scene.render
    size = (int(r.resolution_x * r.resolution_percentage / 100), int(r.resolution_y * r.resolution_percentage / 100))
    with open(os.path.join(scene_folder, "intrinsics.json"), encoding="utf-8") as fh:
        ref = json.load(fh)
    if size != (ref["width"], ref["height"]):
        raise FlowError(
            f"the render size is {size[0]}x{size[1]} but the photo was imported at "
            f"{ref['width']}x{ref['height']}: set it back or import the photo again"
        )
    n = scene.frame_end - scene.frame_start + 1
    problems = spec.problems(size[0], size[1], n, rc.steps or None)
    if problems:
        raise FlowError("; ".join(problems))

    track = yield from read_track(task, context, scene)
    frames, Ks, rel = track
    try:
        camera_track.check_moves(scene.camera.name, frames, Ks, rel)
    except camera_track.CameraError as e:
        raise FlowError(str(e)) from None
    yield None  # short slices: the UI gets a turn between steps
    expected = preview.signature(scene) + _track_hash(Ks, rel)
    folder = bpy.path.abspath(rc.preview_folder) if rc.preview_folder else ""
    if (
        rc.preview_signature != expected
        or not folder
        or not all(os.path.isfile(os.path.join(folder, f)) for f in preview.frame_files(scene))
    ):
        folder = yield from render_preview(task, context, scene, track)

    fps = r.fps / r.fps_base
    settings = _settings(context, scene, name, fps)
    take = os.path.join(
        job_root(context), "takes", f"{time.strftime('%Y%m%d-%H%M%S')}-{name.replace('/', '_')}-s{settings.seed}"
    )
    source = {
        "app": f"Blender {bpy.app.version_string}",
        "scene": scene.name,
        "camera": scene.camera.name,
        "blend": os.path.basename(bpy.data.filepath) or "(unsaved)",
    }
    task.report("packing the job")
    archive = yield Background(
        _write_bundle,
        os.path.join(take, "bundle"),
        scene_folder,
        folder,
        preview.frame_files(scene),
        frames,
        Ks,
        rel,
        settings,
        source,
    )
    task.report("connecting to the backend")
    yield _ensure_backend(context)
    yield from _require_weights(context, "video", name)
    client = _client(context)
    try:
        job = yield Background(client.submit, archive)
    except BackendError as e:
        detail = f": {e.problems[0]}" if e.problems and e.problems[0] not in e.message else ""
        raise FlowError(f"the backend refused the job: {e.message}{detail}") from None
    job_id = job["id"]
    started = time.monotonic()
    try:
        while True:
            job = yield Background(client.job, job_id)
            state, prog = job["state"], job.get("progress") or {}
            if state == api.QUEUED:
                task.report(f"queued (position {job.get('position', 0) + 1})")
            elif state == api.RUNNING:
                task.report(
                    prog.get("stage") or "running", prog.get("step") or 0, prog.get("total") or 0, prog.get("eta_s")
                )
            elif state == api.DONE:
                break
            elif state == api.FAILED:
                raise FlowError(f"the backend could not make the video: {job.get('error')}")
            elif state == api.CANCELLED:
                raise TaskCancelled()
            yield Sleep(POLL_SECONDS)
    except TaskCancelled:
        try:
            yield Background(client.cancel, job_id)
        except BackendError:
            pass  # already finished or gone: nothing left to stop
        raise
    task.report("downloading")
    video = os.path.join(take, "video.mp4")
    yield Background(client.download, job_id, "video", video)
    yield Background(client.download, job_id, "result", os.path.join(take, "result.json"))
    yield None
    with open(os.path.join(take, "result.json"), encoding="utf-8") as fh:
        result = json.load(fh)
    # What made the take: the bundle's own settings (one definition), what the backend
    # resolved (steps, guidance), and where it came from.
    strip_settings = {
        **settings.to_dict(),
        "steps": result.get("steps"),
        "guidance": result.get("guidance"),
        "frames": [frames[0], frames[-1]],
        "job": job_id,
        "backend": client.base,
        "take": take,
        "seconds": round(time.monotonic() - started, 1),
        "camera_accuracy": result.get("camera_accuracy"),
    }
    yield None
    strip = sequencer.add_take(
        scene, video, frames[0], len(frames), f"{name.split('/')[-1]} s{settings.seed}", strip_settings
    )
    show_in_sequencer(context, scene)
    task.report("done")
    return {"strip": strip.name, "video": video, "job": job_id}
