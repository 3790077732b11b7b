"""What the panels share: the sidebar they sit in, the task they follow, and wrapped text."""

import textwrap

from ...realcam_core.addon_only import progress
from ...shot import shots
from ...tasks import RUNNER


class Sidebar:
    """The 3D view's sidebar, RealCam tab (every RealCam panel; sub-panels add bl_parent_id)."""

    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "RealCam"


class InShot(Sidebar):
    """A sub-panel of the main panel, shown only in a shot."""

    bl_parent_id = "REALCAM_PT_main"

    @classmethod
    def poll(cls, context):
        return shots.is_shot(context.scene)


def current_task(context):
    """The task the panel and status bar follow: the shot's; outside a shot the latest of the import and of a
    task on the scene itself (RE10K export of any camera)."""
    scene = context.scene
    sid = scene.realcam.shot_id
    if sid:
        return RUNNER.last(sid)
    found = [t for t in (RUNNER.last("import"), RUNNER.last(scene.name)) if t is not None]
    return max(found, key=RUNNER.tasks.index) if found else None


def shown(t):
    """What a task shows: "Stage k of n: <label>: <detail>" and its fraction (realcam_core.addon_only.progress)."""
    return progress.describe(t.stage, t.step, t.total, t.eta_s, t.message, getattr(t, "stages", ()))


def progress_text(t) -> str:
    return shown(t).text


def task_lines(t) -> list[tuple[str, str]]:
    """The panel's lines for a task, as (kind, text): "progress" (the bar's text), "label" lines, "error" lines.
    One place for the panel, the status bar and the tests."""
    if t is None:
        return []
    if not t.done:
        return [("progress", progress_text(t))]
    name = t.name[:1].upper() + t.name[1:]
    if t.error:
        return [("error", f"{name} stopped: {t.error}")]
    if t.stage == "done" and t.message:
        return [("label", f"{name}: {t.message}")]  # what came of it ("<take> ghost: 4 keyed frames, ...")
    return [("label", f"{name}: {t.stage}")]


def draw_task(layout, task) -> None:
    """A task's progress bar and Cancel while it runs; how it ended after."""
    for kind, text in task_lines(task):
        if kind == "progress":
            layout.progress(factor=shown(task).fraction, type="BAR", text=text[:80])
            if len(text) > 80:
                wrapped(layout, text)
            layout.operator("realcam.cancel", icon="CANCEL")
        elif kind == "error":
            wrapped(layout, text, "ERROR")
        else:
            layout.label(text=text, icon="INFO")


def wrapped(layout, text: str, icon: str = "NONE", width: int = 60) -> None:
    for i, line in enumerate(textwrap.wrap(text, width) or [""]):
        layout.label(text=line, icon=icon if i == 0 else ("BLANK1" if icon != "NONE" else "NONE"))
