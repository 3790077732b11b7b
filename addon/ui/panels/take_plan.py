"""What the panel says before Generate of how the take will be made: its windows (a long shot), how its end is held
(a loop, a transition), and what the model cannot do (realcam_core.windows, the same plan the backend runs)."""

from __future__ import annotations

from ...backend import status as backend_status
from ...realcam_core.windows import describe, end_problems
from ...shot import shots, transition


def take_lines(context, scene) -> list[tuple[str, bool]]:
    """(line, is_a_problem) for the Generate sub-panel."""
    spec = backend_status.spec_for(shots.model_name(scene, context))
    if spec is None:
        return []
    rc = scene.realcam
    n = scene.frame_end - scene.frame_start + 1
    between = transition.is_transition(scene)
    loop = rc.loop and not between
    out = [(line, False) for line in describe(spec, n, loop, between)]
    problems = end_problems(spec, n, loop, between)  # a window too short: the model's lines say it (fit_lines)
    # A model given its last frame gets it at the count it makes; the shot's own last frame comes before that (the
    # held end of the others covers the shot's last frame itself: realcam_core.windows).
    made = spec.frame_count_for(n)
    if (loop or between) and spec.takes_last_frame and made != n and made <= spec.max_frames:
        out.append(
            (
                f"{spec.name} makes {made} frames for {n}: the image it ends on is {made - n} frames after your "
                "last (a count the model allows ends exactly)",
                False,
            )
        )
    if rc.loop and between:
        problems.append("Loop is on in a transition, which ends on the second photo: turn Loop off")
    return out + [(p, True) for p in problems if p]
