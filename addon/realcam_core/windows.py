"""Long shots as the model's windows, and what a take's end is held to (pure logic, shared).

A model makes at most `spec.max_frames` frames at once (its window). A longer shot is made as one take from
consecutive windows: each starts from the end of the one before, sharing `spec.window_overlap` frames with it
(the carried frames), and the backend joins them (backend realcam.generate.windows). The add-on reads the same
plan to say before Generate what will be made, and what cannot be.

Plan: every window has the model's full length W (a count its frame rule allows); window k starts at
k * (W - overlap). The last one ends exactly at the shot's last frame and is as short as the rule allows for the
frames still to make plus the carried ones (a model that always makes its full count gets it, moved back): it
may share a few more frames with the one before, and all shared frames are carried over.

Ends. A loop (`settings.loop`) ends on its first frame, the photo; a transition (the bundle's `last_image`)
ends on a second photo. A model with a last-frame input (`spec.takes_last_frame`) is given that image; the
others get their last latent frame held to it while sampling (the end is shaped toward it), weaker but
working on every family. Either way only the last window has an end.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

LOOP = "loop"
TRANSITION = "transition"


@dataclass(frozen=True)
class Window:
    index: int
    start: int  # the shot's frame index (0-based) of its first frame
    length: int  # frames of the shot it covers
    model_frames: int  # frames the model makes for it (>= length; the extra ones, a held camera, are trimmed)
    overlap: int  # frames it shares with the window before (0 for the first)

    @property
    def end(self) -> int:
        """One past its last frame."""
        return self.start + self.length

    def to_dict(self) -> dict:
        return {
            "index": self.index,
            "start": self.start,
            "length": self.length,
            "model_frames": self.model_frames,
            "overlap": self.overlap,
        }


@dataclass(frozen=True)
class WindowPlan:
    frames: int
    window: int  # frames per window (the model's at once)
    overlap: int  # the frames each window carries over from the one before (the last may carry more)
    windows: tuple

    @property
    def count(self) -> int:
        return len(self.windows)

    @property
    def long(self) -> bool:
        return len(self.windows) > 1


def plan_windows(frames: int, spec) -> WindowPlan:
    """The windows of a shot of `frames` frames for this model. ValueError when it cannot be windowed."""
    if frames < 1:
        raise ValueError("a shot has at least one frame")
    one = spec.frame_count_for(frames)
    if one <= spec.max_frames:
        return WindowPlan(frames, one, 0, (Window(0, 0, frames, one, 0),))
    problem = window_problem(frames, spec)
    if problem:
        raise ValueError(problem)
    w, overlap = spec.max_frames, spec.window_overlap
    stride = w - overlap
    spans = [(0, w)]
    while spans[-1][0] + spans[-1][1] < frames:
        start, length = spans[-1][0] + stride, w
        if start + w >= frames:
            # The last window: as short as the frame rule allows for what is left plus the carried frames, ending
            # at the shot's last frame (a model that always makes its full count gets its full count, moved back).
            left = frames - (spans[-1][0] + spans[-1][1])
            length = min(w, spec.frame_count_for(left + overlap))
            start = frames - length
        spans.append((start, length))
    out = []
    for k, (s, n) in enumerate(spans):
        shared = 0 if k == 0 else spans[k - 1][0] + spans[k - 1][1] - s
        out.append(Window(k, s, n, n, shared))
    return WindowPlan(frames, w, overlap, tuple(out))


def window_spec(spec, window_frames: int | None):
    """The model's limits with a shorter window asked for (`serve --window-frames`: less memory per window): at
    most its own, a count its frame rule allows. ValueError when the model cannot make windows that short."""
    if not window_frames or window_frames >= spec.max_frames:
        return spec
    count = spec.frame_count_for(window_frames)
    if count > window_frames:
        count -= max(1, spec.temporal_factor)
    if count < 2 or spec.frame_count_for(count) != count:
        raise ValueError(f"windows of {window_frames} frames: {spec.name} cannot make windows that short")
    return replace(spec, max_frames=count)


def windowed_spec(spec, window_frames: int | None):
    """window_spec for a listing: the model's own limits where the window asked for cannot be made."""
    try:
        return window_spec(spec, window_frames)
    except ValueError:
        return spec


def window_problem(frames: int, spec) -> str | None:
    """Why this model cannot make a shot this long, or None (it fits in one window, or windows can make it)."""
    if spec.frame_count_for(frames) <= spec.max_frames:
        return None
    w, overlap = spec.max_frames, spec.window_overlap
    if spec.frame_count_for(w) != w:
        return f"{spec.name} makes {w} frames at once, not a count its frame rule allows: it cannot chain windows"
    if w - overlap < 1:
        return (
            f"{frames} frames is longer than {spec.name} makes at once ({w}), and its window is too short to carry "
            f"{overlap} frames over to the next one: shorten the shot to {w} frames or pick another model"
        )
    return None


def context_latent_frames(overlap: int, temporal_factor: int) -> int:
    """Latent frames of a window lying wholly inside the frames it shares with the window before (its first
    latent frame is its first frame alone; each later one covers temporal_factor frames)."""
    if overlap <= 0:
        return 0
    t = max(1, temporal_factor)
    return overlap if t == 1 else 1 + (overlap - 1) // t


def end_kind(loop: bool, last_image: bool) -> str | None:
    return LOOP if loop else (TRANSITION if last_image else None)


def end_problems(spec, frames: int, loop: bool, last_image: bool) -> list[str]:
    """What stops a take from ending where it was asked to (before anything runs)."""
    out = []
    if spec.needs_last_frame and not (loop or last_image):
        out.append(
            f"{spec.name} makes the frames between a first and a last frame: use it for a loop or a transition "
            "(it cannot make a shot from the photo alone)"
        )
    if spec.needs_last_frame and spec.frame_count_for(frames) > spec.max_frames:
        out.append(
            f"{spec.name} needs a last frame for every window, which only the take's end has: at most "
            f"{spec.max_frames} frames with it"
        )
    if loop and last_image:
        out.append("a loop ends on its own first frame: it cannot also end on another photo (a transition)")
    if (loop or last_image) and frames < spec.temporal_factor + 2:
        out.append(
            f"{frames} frames is too short for {spec.name} to reach its last frame from its first "
            f"(at least {spec.temporal_factor + 2})"
        )
    return out


def describe(spec, frames: int, loop: bool = False, last_image: bool = False) -> list[str]:
    """The panel's lines on how the take is made: its windows, and how its end is held."""
    lines = []
    if window_problem(frames, spec) is None:
        plan = plan_windows(frames, spec)
        if plan.long:
            lines.append(
                f"long shot: {plan.count} windows of {plan.window} frames, each starting from the last "
                f"{plan.overlap} frames of the one before, joined into one take"
            )
    kind = end_kind(loop, last_image)
    if kind:
        target = "its first frame (the photo)" if kind == LOOP else "the second photo"
        if spec.takes_last_frame:
            lines.append(f"{kind}: the model is given {target} as its last frame")
        else:
            lines.append(
                f"{kind}: {spec.name} takes no last frame; its last frames are shaped toward {target} instead "
                "(weaker than a first + last frame model)"
            )
    return lines


LOOP_TOLERANCE_M = 0.001  # how far the last frame's camera may stand from the first's, metres
LOOP_TOLERANCE_DEG = 0.05


def loop_problem(c2w_last, fx_first: float, fx_last: float) -> str | None:
    """Why a loop's camera path is not closed (c2w_last: the last frame's camera relative to the first, metres),
    or None when it is."""
    import math

    import numpy as np

    m = np.asarray(c2w_last, dtype=np.float64)
    gap = float(np.linalg.norm(m[:3, 3]))
    angle = math.degrees(math.acos(max(-1.0, min(1.0, (float(np.trace(m[:3, :3])) - 1.0) / 2.0))))
    lens = abs(fx_last / fx_first - 1.0) if fx_first else 0.0
    if gap <= LOOP_TOLERANCE_M and angle <= LOOP_TOLERANCE_DEG and lens <= 1e-4:
        return None
    return (
        f"Loop is on, but the camera at the last frame is {gap * 100:.1f} cm and {angle:.2f} degrees from where it "
        f"starts{' with another focal length' if lens > 1e-4 else ''}: Close the loop (Generate panel) keys it "
        "back, or turn Loop off"
    )
