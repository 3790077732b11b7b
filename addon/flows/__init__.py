"""The long operations, each a task generator (tasks.py) in a module of its own, in the order of the data flow.

import_photo   a photo -> a new shot (or a shot's photo replaced): depth from the backend or the artist's map
preview        reading the shot's camera (also for Generate and the RE10K export), rendering its preview
generate       preview when out of date, bundle, submit; then follow
follow         following a job to its video and bringing the take into the edit; picking a job up again (reattach)
ghost          the camera COLMAP recovered from a take, keyed next to the artist's
re10k_export   the camera, as Blender evaluates it, written as a RealEstate10K file
track_clip     Camera move from clip: a clip tracked on the backend, its move keyed on the shot's camera
backend_check  Test connection and Start: what the backend answers, for the panel
backend_setup  set up, check, update or remove the backend's environment; download a model

They follow the data flow photo -> shot -> camera track -> preview -> job ->
video -> edit. Blender data is touched only between yields on the main thread,
and always through a ShotRef resolved after the yield (undo and renames
replace Python references); network, packing, hashing and waiting happen in
Background steps (tasks.py), through the task's one Connection
(backend/connection.py). What a task changed becomes one undo step when it
ends. Whatever fails or is cancelled leaves nothing behind: no folder, no half
shot, no strip, no backend job.
"""

from __future__ import annotations

from ..realcam_core.addon_only import progress


class FlowError(Exception):
    """A reason the operation stopped, written for the artist."""


def note(task, stage: str, message: str = "", step: int = 0, total: int = 0) -> None:
    """Report a step of a stage: as that stage when the task goes through it, else as plain text
    (reading the camera is part of the preview in Generate, and all there is in an RE10K export)."""
    if stage in task.stages:
        task.report(stage, step, total, message=message)
    else:
        task.report(message or progress.LABELS.get(stage, stage), step, total)


def size_problems(problems) -> FlowError:
    """The model's objections to the shot's size or frame count, with what to change."""
    return FlowError(
        "; ".join(problems) + ": change the shot's size (Output properties > Format) or frame range, "
        "or pick another model in the panel"
    )
