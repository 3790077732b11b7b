"""Generate: the preview again when anything in the shot changed since, the job bundle, the upload; then the job is
followed (follow.py) until its take is in the edit."""

from __future__ import annotations

import os
import shutil

import bpy

from .. import paths
from ..backend.connection import Connection
from ..extension import prefs
from ..paths import job_root
from ..preview import render
from ..realcam_core.addon_only import advice, model_fit, progress
from ..realcam_core.addon_only.calibration import copy_depth
from ..realcam_core.bundle import (
    Frame,
    JobBundle,
    Settings,
    SnsSettings,
    SpeedSettings,
    pack_bundle,
    preview_name,
    validate_bundle,
)
from ..realcam_core.bundle.types import SAMPLERS
from ..realcam_core.client import BackendError, BackendUnreachable
from ..realcam_core.models import DRAFT_VIDEO_MODEL
from ..realcam_core.windows import end_problems, loop_problem
from ..shot import camera_track, shots, transition
from ..tasks import Background, undo_push
from . import FlowError, note, size_problems
from .follow import follow_job
from .preview import check_first_frame, check_photo, read_track, render_preview

LAST_IMAGE = "last.png"  # a transition's second photo in the bundle


def rc_steps(scene):
    return scene.realcam.steps or None


# Families that offer a choice of sampler (settings.sampler); the panel shows the choice for these only.
SAMPLER_FAMILIES = ("wan-fun-camera",)


def bundle_settings(context, scene, name: str, fps: float, spec=None, draft: bool = False) -> Settings:
    """The panel's settings as the bundle carries them, for model `name` (spec: its limits, when known).

    A draft, and any model distilled to a fixed guidance, gets no guidance (it would be ignored); a draft no
    steps either (its own few). The camera scale goes only to models told the camera at a scale, the sampler
    only to a model that offers one: what a take records is what reached the model."""
    rc, p = scene.realcam, prefs(context)
    steps = None if draft else (rc.steps or p.steps or None)
    fixed = draft or (spec is not None and spec.fixed_guidance is not None)
    guidance = None if fixed else (rc.guidance or p.guidance or None)
    told_camera = model_fit.convention_of(spec) is not None
    offers_sampler = spec is not None and spec.family in SAMPLER_FAMILIES
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
        loop=rc.loop and not transition.is_transition(scene),
        speed=SpeedSettings(rc.step_cache, round(rc.cache_threshold, 6), rc.compile),
        camera_scale=(round(rc.camera_scale, 6) or None) if told_camera else None,
        sampler=rc.sampler if offers_sampler and rc.sampler in SAMPLERS else None,
    )


def check_assumed_lens(scene, name: str, spec, frames, Ks) -> None:
    """A model not told the lens (MotionCtrl) is right only where the camera is the lens it assumes, at every
    frame: the preview shows that world, and a zoom is nothing the model can be told."""
    r = scene.render
    size = (r.resolution_x, r.resolution_y)
    if model_fit.assumed_focal(spec, size, (1, 1)) is None:
        return
    photo_size = shots.photo_size(scene)
    if photo_size is None:
        raise FlowError(
            f"{name} assumes a lens from the photo's size, and the shot's photo {scene.realcam.photo!r} is not "
            "there: put it back, or pick another model"
        )
    f = model_fit.assumed_focal(spec, size, photo_size)
    for frame, K in zip(frames, Ks, strict=True):
        if not (model_fit.same_focal(K.fx, f) and model_fit.same_focal(K.fy, f)):
            raise FlowError(
                f"{name} is not told the lens: it assumes the photo is seen at {f:.1f} px (90° across the photo's "
                f"long side), and camera {scene.camera.name!r} has {K.fx:.1f} px at frame {frame}. Pick {name} "
                f"again in the panel's model list (it sets that lens), or Scene fixes > Focal {f:.1f} px; a zoom "
                "cannot be made with this model"
            )


def prompt_of(rc) -> str:
    """The shot's prompt: its prompt text (several lines) when one is set, else the one-line field."""
    text = rc.prompt_text
    return text.as_string().rstrip() if text is not None else rc.prompt


def write_bundle(
    folder,
    scene_folder,
    preview_folder,
    preview_files,
    frames,
    Ks,
    rel,
    settings,
    source,
    depth_scale=1.0,
    last_image=None,
) -> str:
    """Bundle folder and zip (worker thread: files only, no Blender data). depth_scale: the shot's scale
    calibration (shot/fixes.py), applied to the copy so the depth agrees with the scaled mesh and camera.
    last_image: a transition's second photo, where the take ends."""
    os.makedirs(os.path.join(folder, "preview"))
    shutil.copy(os.path.join(scene_folder, "image.png"), os.path.join(folder, "reference.png"))
    if last_image:
        shutil.copy(last_image, os.path.join(folder, LAST_IMAGE))
    copy_depth(os.path.join(scene_folder, "depth.npy"), os.path.join(folder, "depth.npy"), depth_scale)
    entries = []
    for i, (f, name, K, m) in enumerate(zip(frames, preview_files, Ks, rel, strict=True)):
        shutil.copy(os.path.join(preview_folder, name), os.path.join(folder, preview_name(i)))
        entries.append(Frame(f, preview_name(i), K, m))
    K0 = Ks[0]
    bundle = JobBundle(
        K0.width,
        K0.height,
        entries,
        settings,
        depth="depth.npy",
        source=source,
        last_image=LAST_IMAGE if last_image else None,
    )
    bundle.write_manifest(folder)
    _, problems = validate_bundle(folder)
    if problems:
        raise FlowError(
            "the job bundle is not valid: "
            + "; ".join(str(p) for p in problems[:5])
            + ": change what it names in the shot, then Generate again"
        )
    return pack_bundle(folder, folder + ".zip")


def check_ends(scene, spec, n: int) -> None:
    """What the model cannot do with the take's end (a loop, a transition), before anything is read or sent."""
    between = transition.is_transition(scene)
    problems = end_problems(spec, n, scene.realcam.loop and not between, between)
    if scene.realcam.loop and between:
        problems.append("Loop is on in a transition, which ends on the second photo: turn Loop off")
    if problems:
        raise FlowError("; ".join(problems) + ": change the shot's settings or pick another model in the panel")


def check_end_cameras(scene, Ks, rel) -> None:
    """A loop's camera path must be closed, and a transition's camera must end where the second photo was taken."""
    try:
        problem = transition.end_problem(scene) if transition.is_transition(scene) else None
    except transition.TransitionError as e:
        raise FlowError(str(e)) from None
    if problem is None and scene.realcam.loop and not transition.is_transition(scene):
        problem = loop_problem(rel[-1], Ks[0].fx, Ks[-1].fx)
    if problem:
        raise FlowError(problem)


def generate(task, context, ref, draft: bool = False):
    """Preview (again, when anything in the shot changed since), bundle, submit, follow, bring the take in.
    draft: one take with the draft model (DRAFT_VIDEO_MODEL), the shot's own model left as it is."""
    if not isinstance(ref, shots.ShotRef):
        ref = shots.ShotRef(ref)
    scene = ref.scene
    task.stages = progress.plan("generate", evaluate=scene.realcam.evaluate)
    conn = Connection.from_prefs(context)
    name = DRAFT_VIDEO_MODEL if draft else shots.model_name(scene, context)
    spec = yield from conn.video_spec(name)
    scene = ref.scene
    scene_folder = check_photo(scene)
    r = scene.render
    n = scene.frame_end - scene.frame_start + 1
    problems = spec.problems(r.resolution_x, r.resolution_y, n, rc_steps(scene))
    if problems:
        raise size_problems(problems)
    check_ends(scene, spec, n)
    track = yield from read_track(task, context, ref)
    frames, Ks, rel, fp = track
    check_end_cameras(ref.scene, Ks, rel)  # first: a transition's ends that no longer match say what to do
    try:
        camera_track.check_moves(ref.scene.camera.name, frames, Ks, rel)
    except camera_track.CameraError as e:
        raise FlowError(str(e)) from None
    check_first_frame(ref.scene, frames, Ks)
    check_assumed_lens(ref.scene, name, spec, frames, Ks)
    note(task, progress.PREVIEW, "checking whether the preview is up to date")
    digest = yield Background(fp.digest)
    scene = ref.scene
    rc = scene.realcam
    folder = paths.resolve(rc.preview_folder)
    files = render.frame_files(scene)
    rendered = False
    if rc.preview_signature != digest or not folder or not all(os.path.isfile(os.path.join(folder, f)) for f in files):
        # A stale preview is never sent: whatever changed in the shot, it is rendered again.
        folder = yield from render_preview(task, context, ref, track, digest)
        rendered = True
    else:
        shots.note_preview(scene)  # checked: the preview shows the shot as it is, and the panel says so
    try:
        result = yield from _submit_and_follow(
            task, conn, context, ref, (name, spec, draft), scene_folder, folder, frames, Ks, rel
        )
    except BaseException:
        if rendered:
            undo_push("RealCam: preview")
        raise
    return result


def _submit_and_follow(task, conn, context, ref, model, scene_folder, preview_folder, frames, Ks, rel):
    name, spec, draft = model
    scene = ref.scene
    r = scene.render
    settings = bundle_settings(context, scene, name, r.fps / r.fps_base, spec, draft)
    model_label = name.replace("\\", "/").rstrip("/").split("/")[-1]
    take = paths.unique_folder(
        os.path.join(job_root(context), "takes"), f"{shots.label(scene)}-{model_label}-s{settings.seed}-{paths.stamp()}"
    )
    source = {
        "app": f"Blender {bpy.app.version_string}",
        "scene": scene.name,
        "camera": scene.camera.name,
        "blend": os.path.basename(bpy.data.filepath) or "(unsaved)",
    }
    if scene.realcam.photo:  # its file name only (the studio's queue page shows it), never this machine's path
        source["photo"] = os.path.basename(bpy.path.abspath(scene.realcam.photo))
    photo_size = shots.photo_size(scene)
    if photo_size is not None:  # the photo before it was fitted to the size: what an assumed lens is reckoned on
        source["photo_size"] = list(photo_size)
    # depth_scale: the shot's scale calibration when the take was made, so its metric results (the ghost camera)
    # can be put into the shot's metres after a later calibration.
    meta = {
        **settings.to_dict(),
        "frames": [frames[0], frames[-1]],
        "model_label": model_label,
        "depth_scale": scene.realcam.depth_scale,
    }
    last_image = None
    if transition.is_transition(scene):
        a, b = transition.ends(scene)
        meta["transition"] = {"from": a.name, "to": b.name}
        last_image = transition.last_image(scene)
    if draft:  # the shot's own model, which Load settings puts back (a draft never becomes the shot's model)
        meta |= {"draft": True, "shot_model": shots.model_name(scene, context)}
    try:
        task.report(progress.UPLOAD, message=f"packing the camera and {len(frames)} preview frames")
        archive = yield Background(
            write_bundle,
            os.path.join(take, "bundle"),
            scene_folder,
            preview_folder,
            render.frame_files(ref.scene),
            frames,
            Ks,
            rel,
            settings,
            source,
            ref.scene.realcam.depth_scale,
            last_image,
        )
        task.report(progress.UPLOAD, message="connecting to the backend")
        yield from conn.ensure()
        yield from conn.require_weights("video", name)
        client = conn.client()
        task.report(progress.UPLOAD, message=f"({progress.megabytes(os.path.getsize(archive))})")
        try:
            job = yield Background(client.submit, archive)
        except BackendError as e:
            if isinstance(e, BackendUnreachable) or not e.status:
                raise  # no answer is not a refusal: the task's error says so, and what to do
            raise FlowError(advice.explain_backend(e, "the backend refused the job")) from None
        conn.answered()  # the panel's backend status follows
        yield Background(os.remove, archive)  # the bundle folder stays with the take
    except BaseException:
        shutil.rmtree(take, ignore_errors=True)
        raise
    record = {"id": job["id"], "backend": client.base, "take": take, "meta": meta}
    result = yield from follow_job(task, conn, ref, record)  # it keeps the record in the shot first
    return result
