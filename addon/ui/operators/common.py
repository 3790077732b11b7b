"""What RealCam's operators share: start a task (or run it to its end headless), find the shot and the take."""

from __future__ import annotations

from ...shot import shots
from ...tasks import RUNNER, start


def run_task(op, name: str, shot_id: str, make_gen):
    """Start a task (interactive) or run it to the end (headless, no event loop)."""
    busy = RUNNER.active(shot_id)
    if busy:
        op.report({"WARNING"}, f"RealCam is busy with {busy[0].name} for this shot; wait or cancel it")
        return {"CANCELLED"}
    task = start(name, shot_id, make_gen)
    if not RUNNER.blocking:
        return {"FINISHED"}
    return run_to_end(op, task, say_done=True)


def run_to_end(op, task, timeout: float = 3600.0, say_done: bool = False) -> set:
    """Headless: drive the task to its end, and report how it ended as the operator's result."""
    RUNNER.run_until_done(task, timeout)
    if task.error:
        op.report({"ERROR"}, f"RealCam {task.name}: {task.error}")
        return {"CANCELLED"}
    if task.stage == "cancelled":
        op.report({"WARNING"}, f"RealCam {task.name}: cancelled")
        return {"CANCELLED"}
    if say_done:
        op.report({"INFO"}, f"RealCam {task.name}: {task.message or 'done'}")
    return {"FINISHED"}


def active_shot(op, context):
    """The shot the operator works on (the active scene), or None with the reason reported."""
    scene = context.scene
    if not shots.is_shot(scene):
        op.report({"ERROR"}, f"scene {scene.name!r} is not a RealCam shot: import a photo, or go to a shot")
        return None
    return scene


def selected_take(op, context):
    """(shot, index) of the take selected in the panel's list, or None with the reason reported."""
    scene = active_shot(op, context)
    if scene is None:
        return None
    rc = scene.realcam
    if not 0 <= rc.takes_index < len(rc.takes):
        op.report({"ERROR"}, "no take selected: pick one in the shot's take list")
        return None
    return scene, rc.takes_index
