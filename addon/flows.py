"""The long operations as task generators: import a photo, render a preview, generate a take, follow a job.

They follow the data flow photo -> shot -> camera track -> preview -> job ->
video -> edit. Blender data is touched only between yields on the main thread,
and always through a ShotRef resolved after the yield (undo and renames
replace Python references); network, packing, hashing and waiting happen in
Background steps (tasks.py). What a task changed becomes one undo step when it
ends. Whatever fails or is cancelled leaves nothing behind: no folder, no half
shot, no strip, no backend job.
"""

from __future__ import annotations

import json
import os
import shutil
import time

import bpy

from . import paths
from .backend.connection import Connection
from .edit import sequencer
from .extension import prefs
from .paths import job_root
from .preview import render as preview
from .preview.fingerprint import Fingerprint
from .realcam_core import api
from .realcam_core.addon_only import advice, progress
from .realcam_core.addon_only.calibration import copy_depth
from .realcam_core.bundle import Frame, JobBundle, Settings, SnsSettings, pack_bundle, preview_name, validate_bundle
from .realcam_core.camera import Intrinsics
from .realcam_core.client import BackendError, BackendUnreachable
from .realcam_core.models import DEFAULT_VIDEO_MODEL, native_size_for
from .shot import camera_track, photo_scene, photo_source, shots
from .tasks import RUNNER, Background, Sleep, Task, TaskCancelled, WaitFor, a_window, start, undo_push

POLL_SECONDS = 0.5
RECONNECT_SECONDS = (1.0, 2.0, 5.0, 10.0)  # waiting for a backend that stopped answering
LENS_TOLERANCE = 0.005  # relative focal length difference at the first frame


class FlowError(Exception):
    """A reason the operation stopped, written for the artist."""


def model_name(context, scene) -> str:
    return scene.realcam.model or prefs(context).model or DEFAULT_VIDEO_MODEL


def _note(task, stage: str, message: str = "", step: int = 0, total: int = 0) -> None:
    """Report a step of a stage: as that stage when the task goes through it, else as plain text
    (reading the camera is part of the preview in Generate, and all there is in an RE10K export)."""
    if stage in task.stages:
        task.report(stage, step, total, message=message)
    else:
        task.report(message or progress.LABELS.get(stage, stage), step, total)


def _problems(problems) -> str:
    return (
        "; ".join(problems) + ": change the shot's size (Output properties > Format) or frame range, "
        "or pick another model in the panel"
    )


# ----------------------------------------------------------------- import


def import_photo(task, context, photo, depth_map, focal_px, model, size, frames, replace=None, depth_model=""):
    """A new shot for the photo (or, with replace = a ShotRef, that shot's photo replaced)."""
    task.stages = progress.plan("import", depth_map=bool(depth_map))
    conn = Connection.from_prefs(context)
    source = shots.file_settings(context.scene)
    name = model or (replace.scene.realcam.model if replace else "") or model_name(context, context.scene)
    spec = yield from conn.video_spec(name)
    if not os.path.isfile(photo):
        raise FlowError(f"{photo}: no such photo: pick an existing file in Import Photo")
    if replace is not None:
        r = replace.scene.render
        size, frames = (r.resolution_x, r.resolution_y), replace.scene.frame_end - replace.scene.frame_start + 1
    if not size:
        try:
            w, h = photo_source.photo_size(photo)
        except photo_source.PhotoError as e:
            raise FlowError(f"{e}: pick another photo in Import Photo") from None
        size = native_size_for(spec, w / h)
    frames = frames or min(49, spec.max_frames)
    problems = spec.problems(size[0], size[1], frames)
    if problems:
        raise FlowError(_problems(problems))
    base = os.path.splitext(os.path.basename(photo))[0] or "photo"
    folder = paths.unique_folder(os.path.join(job_root(context), "scenes"), f"{base}-{paths.stamp()}")
    try:
        if depth_map:
            task.report(progress.DEPTH_MAP, message=os.path.basename(depth_map))
            yield None
            try:
                photo_source.local_scene(photo, depth_map, size, focal_px or None, folder)
            except photo_source.PhotoError as e:
                raise FlowError(f"{e}: pick another photo or depth map in Import Photo") from None
        else:
            task.report(progress.DEPTH, message="connecting to the backend")
            upload = photo_source.photo_for_backend(photo, folder)
            yield conn.ensure()
            zip_path = os.path.join(folder, "depth.zip")
            depth_model = depth_model or prefs(context).depth_model or None
            yield from conn.require_weights("depth", depth_model)
            sent = progress.megabytes(os.path.getsize(upload))
            task.report(progress.DEPTH, message=f"uploading the photo ({sent}); the backend estimates its depth")
            try:
                yield Background(
                    conn.client().depth, upload, zip_path, f"{size[0]}x{size[1]}", focal_px or None, depth_model
                )
            except BackendError as e:
                if isinstance(e, BackendUnreachable) or not e.status:
                    raise  # no answer is not a refusal: the task's error says so, and what to do
                raise FlowError(advice.explain_backend(e, "the backend refused the photo")) from None
            yield Background(photo_source.unpack_depth_zip, zip_path, folder)
            os.remove(zip_path)
        task.report(progress.BUILD)
        yield None
        rgb, depth, K = photo_source.read_scene_folder(folder)
        shot = photo_scene.build_shot(
            source, paths.stored(folder), rgb, depth, K, frames, photo, replace.scene if replace else None
        )
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)  # a failed import leaves nothing behind
        raise
    rc = shot.realcam
    if not rc.model:
        rc.model = name
    shots.mark_edited(shot)  # a re-import makes the preview out of date
    shots.edit_scene(shot)
    if replace is None:
        shots.show(context, shot)
    undo_push("RealCam: import photo")
    return {"shot": shot.name, "mesh": rc.photo_mesh.name, "camera": shot.camera.name, "folder": folder}


# ----------------------------------------------------------------- preview


def _photo_intrinsics(scene) -> Intrinsics:
    return photo_scene.photo_intrinsics(scene.realcam)  # with the focal set after import (shot_fixes)


def read_track(task, context, ref, photo_checks: bool = True):
    """Task generator -> (frames, Ks, relative c2ws, Fingerprint) of the shot's camera.

    photo_checks (preview, generate): the photo is what the camera sees at the
    first frame, so its mesh is placed there first (a rigged camera may start
    anywhere; check_first_frame refuses a lens that differs there)."""
    scene = ref.scene
    try:
        cam = camera_track.check_camera(scene)
    except camera_track.CameraError as e:
        raise FlowError(str(e)) from None
    photo_checks = photo_checks and shots.is_shot(scene) and bool(scene.realcam.scene_folder)
    if photo_checks and scene.realcam.photo_mesh is not None:
        start = camera_track.evaluated_matrix(scene, cam, scene.frame_start)
        if shots.anchor_photo(scene, start):
            _note(task, progress.PREVIEW, "placing the photo where the camera starts")
            shots.depsgraph(scene)
            yield None
            scene = ref.scene
    frames = list(range(scene.frame_start, scene.frame_end + 1))
    _note(task, progress.PREVIEW, f"reading the camera ({len(frames)} frames)")
    fp = Fingerprint(scene, prefs(context).preview_engine, paths.resolve(scene.realcam.scene_folder))
    try:
        Ks, rel = yield from camera_track.read_track(ref, frames, fp.frame)
    except camera_track.CameraError as e:
        raise FlowError(str(e)) from None
    fp.track(Ks, rel)
    return frames, Ks, rel, fp


def check_first_frame(scene, frames, Ks) -> None:
    """The first frame of a take is the photo: the camera must see what the photo saw there."""
    photo_K, K0 = _photo_intrinsics(scene), Ks[0]
    off = max(abs(K0.fx / photo_K.fx - 1), abs(K0.fy / photo_K.fy - 1)) > LENS_TOLERANCE
    shifted = max(abs(K0.cx - photo_K.cx), abs(K0.cy - photo_K.cy)) > 0.5
    if off or shifted:
        raise FlowError(
            f"camera {scene.camera.name!r} at frame {frames[0]} does not see what the photo saw (focal "
            f"{K0.fx:.1f} px, centre {K0.cx:.1f}, {K0.cy:.1f} against the photo's {photo_K.fx:.1f} px, "
            f"{photo_K.cx:.1f}, {photo_K.cy:.1f}): the first frame must be the photo. Key its lens back to "
            f"{_photo_lens(scene, photo_K):.2f} mm and its shift to 0 there, or use the shot's own camera"
        )


def _photo_lens(scene, K: Intrinsics) -> float:
    from .realcam_core.camera import blender_from_intrinsics

    data = scene.camera.data
    return blender_from_intrinsics(K, data.sensor_fit, data.sensor_width, data.sensor_height).lens


def render_preview(task, context, ref, track=None, digest=None):
    if track is None:
        track = yield from read_track(task, context, ref)
        check_first_frame(ref.scene, track[0], track[1])
    frames, Ks, rel, fp = track
    if digest is None:
        digest = yield Background(fp.digest)
    scene = ref.scene
    folder = paths.unique_folder(os.path.join(job_root(context), "previews"), f"{_label(scene)}-{paths.stamp()}")
    task.report(progress.PREVIEW, message=f"{len(frames)} frames")
    try:
        saved = preview.swap_settings(scene, folder, prefs(context).preview_engine)
        try:
            if bpy.app.background:
                bpy.ops.render.render(animation=True, scene=scene.name)
            else:
                with preview.RenderWatch() as watch:
                    with bpy.context.temp_override(window=a_window()):
                        bpy.ops.render.render("INVOKE_DEFAULT", animation=True, scene=scene.name)
                    yield WaitFor(lambda: watch.finished, poll=0.2)
                if watch.cancelled:
                    raise TaskCancelled()
        finally:
            preview.restore_settings(ref.scene, saved)
        scene = ref.scene
        files = preview.frame_files(scene)
        missing = [f for f in files if not os.path.isfile(os.path.join(folder, f))]
        if missing:
            raise FlowError(
                f"the preview render did not write {len(missing)} frames (first: {missing[0]}): see the system "
                "console (Window > Toggle System Console) for the render's error, then Render Preview again"
            )
        sequencer.set_preview(shots.edit_scene(scene), scene, folder, files)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    rc = scene.realcam
    rc.preview_folder = paths.stored(folder)
    rc.preview_signature = digest
    from .shot import moves  # imported here so the module-level import line, shared with other work, stays as is

    moves.store_extent(scene, rel)  # what the move amounts to, and how much the last frame still sees
    moves.store_coverage(scene, folder, files[-1])
    shots.note_preview(scene)
    return folder


def rc_steps(scene):
    return scene.realcam.steps or None


def preview_task(task, context, ref):
    task.stages = progress.plan("preview")
    check_photo(ref.scene)
    folder = yield from render_preview(task, context, ref)
    undo_push("RealCam: preview")
    return folder


def _label(scene) -> str:
    name = scene.name[len("RealCam ") :] if scene.name.startswith("RealCam ") else scene.name
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "shot"


# ----------------------------------------------------------------- generate


def _settings(context, scene, name: str, fps: float) -> Settings:
    rc, p = scene.realcam, prefs(context)
    steps = rc.steps or p.steps or None
    guidance = rc.guidance or p.guidance or None
    return Settings(
        model=name,
        prompt=prompt_of(rc),
        negative_prompt=rc.negative_prompt,
        seed=rc.seed,
        steps=steps,
        guidance=guidance,
        fps=fps,
        sns=SnsSettings(rc.sns_enabled, rc.sns_threshold),
        evaluate=rc.evaluate,
        camera_condition=rc.camera_condition,
    )


def prompt_of(rc) -> str:
    """The shot's prompt: its prompt text (several lines) when one is set, else the one-line field."""
    text = rc.prompt_text
    return text.as_string().rstrip() if text is not None else rc.prompt


def _write_bundle(
    folder, scene_folder, preview_folder, preview_files, frames, Ks, rel, settings, source, depth_scale=1.0
) -> str:
    """Bundle folder and zip (worker thread: files only, no Blender data). depth_scale: the shot's scale
    calibration (shot_fixes), applied to the copy so the depth agrees with the scaled mesh and camera."""
    os.makedirs(os.path.join(folder, "preview"))
    shutil.copy(os.path.join(scene_folder, "image.png"), os.path.join(folder, "reference.png"))
    copy_depth(os.path.join(scene_folder, "depth.npy"), os.path.join(folder, "depth.npy"), depth_scale)
    entries = []
    for i, (f, name, K, m) in enumerate(zip(frames, preview_files, Ks, rel, strict=True)):
        shutil.copy(os.path.join(preview_folder, name), os.path.join(folder, preview_name(i)))
        entries.append(Frame(f, preview_name(i), K, m))
    K0 = Ks[0]
    bundle = JobBundle(K0.width, K0.height, entries, settings, depth="depth.npy", source=source)
    bundle.write_manifest(folder)
    _, problems = validate_bundle(folder)
    if problems:
        raise FlowError(
            "the job bundle is not valid: "
            + "; ".join(str(p) for p in problems[:5])
            + ": change what it names in the shot, then Generate again"
        )
    return pack_bundle(folder, folder + ".zip")


def check_photo(scene) -> str:
    """The shot's scene folder (absolute), once its photo is there and the shot still has its size."""
    rc = scene.realcam
    folder = paths.resolve(rc.scene_folder)
    if not rc.scene_folder or not os.path.isfile(os.path.join(folder, "image.png")):
        raise FlowError(
            f"scene {scene.name!r} has no photo (its folder {folder or '(none)'} is missing): import a photo first "
            "(RealCam > Import Photo), or open the project where its realcam folder is"
        )
    size = camera_track.generation_size(scene)
    ref = _photo_intrinsics(scene)
    if size != (ref.width, ref.height):
        raise FlowError(
            f"the shot's size is {size[0]}x{size[1]} but its photo was imported at {ref.width}x{ref.height}: "
            "set it back (Output properties), or import the photo again at the new size"
        )
    return folder


def generate(task, context, ref):
    """Preview (again, when anything in the shot changed since), bundle, submit, follow, bring the take in."""
    if not isinstance(ref, shots.ShotRef):
        ref = shots.ShotRef(ref)
    scene = ref.scene
    task.stages = progress.plan("generate", evaluate=scene.realcam.evaluate)
    conn = Connection.from_prefs(context)
    name = model_name(context, scene)
    spec = yield from conn.video_spec(name)
    scene = ref.scene
    scene_folder = check_photo(scene)
    r = scene.render
    problems = spec.problems(r.resolution_x, r.resolution_y, scene.frame_end - scene.frame_start + 1, rc_steps(scene))
    if problems:
        raise FlowError(_problems(problems))
    track = yield from read_track(task, context, ref)
    frames, Ks, rel, fp = track
    try:
        camera_track.check_moves(ref.scene.camera.name, frames, Ks, rel)
    except camera_track.CameraError as e:
        raise FlowError(str(e)) from None
    check_first_frame(ref.scene, frames, Ks)
    _note(task, progress.PREVIEW, "checking whether the preview is up to date")
    digest = yield Background(fp.digest)
    scene = ref.scene
    rc = scene.realcam
    folder = paths.resolve(rc.preview_folder)
    files = preview.frame_files(scene)
    rendered = False
    if rc.preview_signature != digest or not folder or not all(os.path.isfile(os.path.join(folder, f)) for f in files):
        # A stale preview is never sent: whatever changed in the shot, it is rendered again.
        folder = yield from render_preview(task, context, ref, track, digest)
        rendered = True
    try:
        result = yield from _submit_and_follow(task, conn, context, ref, name, scene_folder, folder, frames, Ks, rel)
    except BaseException:
        if rendered:
            undo_push("RealCam: preview")
        raise
    return result


def _submit_and_follow(task, conn, context, ref, name, scene_folder, preview_folder, frames, Ks, rel):
    scene = ref.scene
    r = scene.render
    settings = _settings(context, scene, name, r.fps / r.fps_base)
    model_label = name.replace("\\", "/").rstrip("/").split("/")[-1]
    take = paths.unique_folder(
        os.path.join(job_root(context), "takes"), f"{_label(scene)}-{model_label}-s{settings.seed}-{paths.stamp()}"
    )
    source = {
        "app": f"Blender {bpy.app.version_string}",
        "scene": scene.name,
        "camera": scene.camera.name,
        "blend": os.path.basename(bpy.data.filepath) or "(unsaved)",
    }
    # depth_scale: the shot's scale calibration when the take was made, so its metric results (the ghost camera)
    # can be put into the shot's metres after a later calibration.
    meta = {
        **settings.to_dict(),
        "frames": [frames[0], frames[-1]],
        "model_label": model_label,
        "depth_scale": scene.realcam.depth_scale,
    }
    try:
        task.report(progress.UPLOAD, message=f"packing the camera and {len(frames)} preview frames")
        archive = yield Background(
            _write_bundle,
            os.path.join(take, "bundle"),
            scene_folder,
            preview_folder,
            preview.frame_files(ref.scene),
            frames,
            Ks,
            rel,
            settings,
            source,
            ref.scene.realcam.depth_scale,
        )
        task.report(progress.UPLOAD, message="connecting to the backend")
        yield conn.ensure()
        yield from conn.require_weights("video", name)
        client = conn.client()
        task.report(progress.UPLOAD, message=f"({progress.megabytes(os.path.getsize(archive))})")
        try:
            job = yield Background(client.submit, archive)
        except BackendError as e:
            if isinstance(e, BackendUnreachable) or not e.status:
                raise  # no answer is not a refusal: the task's error says so, and what to do
            raise FlowError(advice.explain_backend(e, "the backend refused the job")) from None
        yield Background(os.remove, archive)  # the bundle folder stays with the take
    except BaseException:
        shutil.rmtree(take, ignore_errors=True)
        raise
    record = {"id": job["id"], "backend": client.base, "take": take, "meta": meta}
    _keep_record(ref.scene, record)
    result = yield from follow_job(task, conn, ref, record)
    return result


def _keep_record(scene, record) -> None:
    """The running job in the .blend (an undo in the meantime may have taken it out: put it back)."""
    rc = scene.realcam
    if rc.job_id != record["id"]:
        rc.job_id = record["id"]
        rc.job_backend = record["backend"]
        rc.job_take = paths.stored(record["take"])
        rc.job_meta = json.dumps(record["meta"])


def _clear_record(ref, job_id: str) -> None:
    try:
        rc = ref.scene.realcam
    except shots.ShotGone:
        return
    if rc.job_id == job_id:
        rc.job_id = rc.job_backend = rc.job_take = rc.job_meta = ""


def record_of(scene) -> dict | None:
    rc = scene.realcam
    if not rc.job_id:
        return None
    try:
        meta = json.loads(rc.job_meta) if rc.job_meta else {}
    except ValueError:
        meta = {}
    return {"id": rc.job_id, "backend": rc.job_backend, "take": paths.resolve(rc.job_take), "meta": meta}


def follow_job(task, conn, ref, record, doing: str = ""):
    """Wait for the backend job and bring its video into the edit; survives the backend going away.

    A backend that stops answering is waited for (and restarted, when it is the
    add-on's own): it runs the interrupted job again when it is back. `doing`
    prefixes the waiting message, so the panel still says why it waits."""
    job_id, take = record["id"], record["take"]
    if not task.stages:  # picked up again from the .blend: uploaded before
        task.stages = progress.plan("follow", evaluate=bool(record.get("meta", {}).get("evaluate")))
    local_backend = record["backend"] == conn.url
    client = conn.client(record["backend"])
    started = time.monotonic()
    misses = 0
    try:
        while True:
            _keep_record(ref.scene, record)
            try:
                job = yield Background(client.job, job_id)
                misses = 0
            except BackendError as e:
                if e.status == 404:
                    raise FlowError(
                        f"the backend at {client.base} no longer has this take's job ({job_id}): its data folder "
                        "was cleared or it is another backend. Generate the take again"
                    ) from None
                if e.status:
                    raise FlowError(advice.explain_backend(e, "the backend could not report on the job")) from None
                # No answer, or the answer cut off (a backend killed mid-request): wait for it to come back.
                wait = RECONNECT_SECONDS[min(misses, len(RECONNECT_SECONDS) - 1)]
                misses += 1
                task.report(
                    f"{doing}the backend at {client.base} is not answering; waiting for it (the take goes on when it "
                    f"is back), next try in {wait:.0f} s"
                )
                if local_backend:
                    try:
                        yield conn.ensure()  # the add-on's own backend is started again
                    except BackendError:
                        pass
                yield Sleep(wait)
                continue
            state = job["state"]
            if state in (api.QUEUED, api.RUNNING):
                stage, step, total, eta_s, detail = progress.from_job(job)
                task.report(stage, step, total, eta_s, detail)
            elif state == api.DONE:
                break
            elif state == api.FAILED:
                raise FlowError(
                    f"the backend could not make the video: {job.get('error')}: change what it names (model, size, "
                    "steps in the panel) and Generate again; the backend's log has the details"
                )
            elif state == api.CANCELLED:
                raise TaskCancelled()
            yield Sleep(POLL_SECONDS)
        task.report(progress.DOWNLOAD, message="the video and its result")
        video = os.path.join(take, "video.mp4")
        os.makedirs(take, exist_ok=True)
        yield Background(client.download, job_id, "video", video)
        yield Background(client.download, job_id, "result", os.path.join(take, "result.json"))
    except (TaskCancelled, FlowError) as e:
        # A cancelled or failed take leaves nothing: no folder, no strip, no job on the backend.
        task.report("cancelling: stopping the backend job" if isinstance(e, TaskCancelled) else "cleaning up")
        _clear_record(ref, job_id)
        shutil.rmtree(take, ignore_errors=True)
        try:
            yield Background(client.delete, job_id)
        except BackendError:
            pass  # gone already, or the backend is away: nothing left to stop
        raise
    with open(os.path.join(take, "result.json"), encoding="utf-8") as fh:
        result = json.load(fh)
    yield None
    scene = ref.scene
    meta = record["meta"]
    frames = meta.get("frames") or [scene.frame_start, scene.frame_end]
    # What made the take: the bundle's own settings (one definition), what the backend
    # resolved (steps, guidance), and where it came from.
    strip_settings = {
        **{k: v for k, v in meta.items() if k not in ("frames", "model_label")},
        "steps": result.get("steps"),
        "guidance": result.get("guidance"),
        "frames": frames,
        "job": job_id,
        "backend": client.base,
        "take": paths.stored(take),
        "seconds": round(time.monotonic() - started, 1),
        "made": time.strftime("%Y-%m-%d %H:%M:%S"),
        "camera_accuracy": result.get("camera_accuracy"),
    }
    name = take_name(scene, meta.get("model_label") or meta.get("model", "take"), meta.get("seed", 0))
    count = frames[1] - frames[0] + 1
    strip = sequencer.add_take(shots.edit_scene(scene), scene, video, frames[0], count, name, strip_settings)
    item = scene.realcam.takes.add()
    item.name, item.folder, item.settings = strip.name, paths.stored(take), json.dumps(strip_settings)
    _clear_record(ref, job_id)
    undo_push("RealCam: generate")
    task.report("done")
    return {"strip": strip.name, "video": video, "job": job_id}


def take_name(scene, model: str, seed: int) -> str:
    """Readable and unique in the edit: shot, model, seed, time (a suffix when two land in one second)."""
    base = f"{_label(scene)} {model} s{seed} {time.strftime('%H:%M:%S')}"
    taken = {s.name for s in sequencer.shot_strips(shots.edit_scene(scene), scene.realcam.shot_id)}
    taken |= {t.name for t in scene.realcam.takes}
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base} ({n})"
    return name


def reattach(task, context, ref):
    """Pick up a take whose job was recorded in the .blend (Blender closed or crashed while it ran)."""
    record = record_of(ref.scene)
    if record is None:
        return None
    doing = f"reattaching to the take's job {record['id'][:8]}"
    task.report(doing)
    return (yield from follow_job(task, Connection.from_prefs(context), ref, record, doing + ": "))


def reattach_all(context) -> list[Task]:
    """Start following every recorded job of the file's shots (after a .blend is opened)."""
    started = []
    for scene in shots.all_shots():
        if scene.realcam.job_id and not RUNNER.active(scene.realcam.shot_id):
            ref = shots.ShotRef(scene)
            started.append(start("generate", ref.id, lambda task, ref=ref: reattach(task, bpy.context, ref)))
    return started
