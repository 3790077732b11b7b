"""Pick a video model for a shot: the shot fitted to it (size, frames, the lens a model assumes), one undo step.

The plan is realcam_core.addon_only.model_fit's: the model's native size for the photo's aspect (another size
imports the photo again at it, into the same shot: camera, moves, props, takes and scale stay; the depth comes
from where it came from at import, the artist's depth map or the backend's model), the frame count the model
makes, and for a model not told the lens (MotionCtrl) the photo seen through the lens it assumes (the focal
scene fix). Anything that fails puts the shot's model, frames and size back; a photo imported again stays (the
shot is consistent at its new size), and what changed is still one undo step.
"""

from __future__ import annotations

import json
import os

import bpy

from .. import paths
from ..backend import status as backend_status
from ..backend.connection import Connection
from ..realcam_core.addon_only import model_fit
from ..shot import fixes, photo_scene, shots
from ..tasks import undo_push
from . import FlowError
from .import_photo import import_photo


def depth_source(rc) -> tuple[str, str]:
    """(the artist's depth map, the backend's depth model) the shot's photo was imported with; one is empty."""
    try:
        with open(os.path.join(paths.resolve(rc.scene_folder), "intrinsics.json"), encoding="utf-8") as fh:
            source = str(json.load(fh).get("depth_source") or "")
    except (OSError, ValueError):
        source = ""
    if source and os.path.isfile(source):
        return source, ""
    return "", source


def plan_for(scene, name: str, spec) -> model_fit.FitPlan:
    """What fitting this shot to the model changes (main thread: reads the shot and its scene folder)."""
    rc = scene.realcam
    size = shots.photo_size(scene)
    if size is None:
        raise FlowError(
            f"the shot's photo {rc.photo or '(none)'} is not there, and the shot needs it to be fitted to {name}: "
            "put the photo back where it was, or import it again (Import Photo > Replace this shot's photo)"
        )
    try:
        imported = photo_scene.photo_intrinsics(rc, imported=True)
    except OSError:
        raise FlowError(
            f"the shot's scene folder {rc.scene_folder or '(none)'} is missing: open the project where its "
            "realcam folder is, or import the photo again"
        ) from None
    r = scene.render
    return model_fit.plan_fit(
        name,
        spec,
        size=(r.resolution_x, r.resolution_y),
        frames=scene.frame_end - scene.frame_start + 1,
        photo_size=size,
        imported_fx=imported.fx,
        applied_fx=rc.photo_focal_px,
        previous=backend_status.spec_for(shots.model_name(scene)),
    )


def fit_to_model(task, context, ref, name: str):
    """Task: make the shot the model's (rc.model, frames, size, lens) as one undo step; returns the plan."""
    conn = Connection.from_prefs(context)
    task.report(f"fitting the shot to {name}")
    spec = yield from conn.video_spec(name)
    scene = ref.scene
    plan = plan_for(scene, name, spec)
    rc, r = scene.realcam, scene.render
    before = (rc.model, scene.frame_end, r.resolution_x, r.resolution_y)
    rc.photo_size = shots.photo_size(scene)
    rc.model = name
    shots.set_frames_and_size(scene, plan.frames, plan.size)
    reimported = False
    try:
        if plan.reimport:
            depth_map, depth_model = depth_source(rc)
            photo = bpy.path.abspath(rc.photo)
            yield from import_photo(
                task, context, photo, depth_map, plan.photo_focal_px, name, None, 0, ref, depth_model, undo=False
            )
            reimported = True
        scene = ref.scene
        if plan.focal_px is not None:
            try:
                fixes.apply_focal(scene, plan.focal_px, task)
            except fixes.FixError as e:
                raise FlowError(f"the shot could not take {name}'s lens: {e}") from None
        shots.mark_edited(scene)  # another size, range or lens: the preview is out of date
    except BaseException:
        if not reimported:
            _put_back(ref, before)
        else:
            undo_push(f"RealCam: fit shot to {name}")
        raise
    undo_push(f"RealCam: fit shot to {name}")
    r = scene.render
    line = plan.summary(scene.frame_start, r.fps / r.fps_base)
    task.report("done", message="; ".join([line, *plan.notes]))
    return plan


def _put_back(ref, before) -> None:
    try:
        scene = ref.scene
    except shots.ShotGone:
        return
    rc, r = scene.realcam, scene.render
    rc.model, scene.frame_end, r.resolution_x, r.resolution_y = before
