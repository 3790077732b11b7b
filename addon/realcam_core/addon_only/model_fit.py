"""A shot fitted to a video model: the size, frame count and focal the model needs (pure; no bpy).

Picking a model in the panel (flows/model_fit.py) makes the shot what an import for that model would have made,
keeping what the artist made (camera, moves, props, takes, scale):

- size: the model's native size closest to the photo's aspect (the import's rule); another size means the photo
  is imported again at it (the mesh has one vertex per pixel of the generation size);
- frames: the shot's own count where the model makes it (the camera's timing stays), at least the count the
  model always makes (DynamiCrafter's 16: a shorter shot would be generated long and trimmed), and, where the
  model's limits (ModelSpec.problems) refuse the count, the longest it can make;
- focal: a model told the lens takes the shot's K as it is (the photo's lens, or the one the artist applied);
  a model that assumes a lens (MotionCtrl: realcam_core.camera_scale, intrinsics "upstream-90deg") gets the
  photo seen through that lens, so that the preview shows the world the model believes in while frame 0 is
  still the photo (the focal scene fix re-projects the mesh). Leaving such a model for one told the lens goes
  back to the photo's own focal when the focal in use is the one the previous model assumed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..camera_scale import CONVENTIONS, CameraConvention, upstream_inference_intrinsics
from ..models import ModelSpec, native_size_for
from ..resample import cover_crop_box

SAME_FOCAL = 0.005  # relative: focal lengths closer than this are the same lens (the first-frame check's rule)


def convention_of(spec: ModelSpec | None) -> CameraConvention | None:
    """How the model is told the camera (None: it is not, or it is a family without a convention here)."""
    if spec is None:
        return None
    return CONVENTIONS.get(spec.camera or spec.family)


def assumed_focal(spec: ModelSpec | None, size, photo_size) -> float | None:
    """The focal (pixels at size) a model that is not told the lens assumes for this photo; None: it is told."""
    conv = convention_of(spec)
    if conv is None or conv.intrinsics == "bundle":
        return None
    return upstream_inference_intrinsics(int(size[0]), int(size[1]), photo_size).fx


def same_focal(a: float, b: float) -> bool:
    return abs(a / b - 1.0) <= SAME_FOCAL


def longest(spec: ModelSpec) -> int:
    """The longest frame count the model makes in one go."""
    t = spec.temporal_factor
    return spec.max_frames if t <= 1 else (spec.max_frames - 1) // t * t + 1


def frames_for(spec: ModelSpec, frames: int, size) -> int:
    """The shot's frame count for the model: its own where the model makes it, else the nearest it can."""
    n = max(int(frames), spec.min_frames)
    if spec.problems(int(size[0]), int(size[1]), n):  # at a size the model makes, only the count can be refused
        n = longest(spec)
    return n


@dataclass(frozen=True)
class FitPlan:
    """What fitting the shot to a model changes. focal_px: the focal (pixels at size) the shot must see the
    photo with after the fit (None: as the import gives it); photo_focal_px: the photo's own focal in its own
    pixels, what a re-import is given so the photo keeps its lens."""

    model: str
    size: tuple[int, int]
    frames: int
    reimport: bool
    photo_focal_px: float
    focal_px: float | None
    notes: list[str] = field(default_factory=list)

    def summary(self, frame_start: int, fps: float) -> str:
        """The panel's line for the fitted shot (what_the_model_makes's form)."""
        w, h = self.size
        end = frame_start + self.frames - 1
        return f"{self.model}: {w}x{h}, {self.frames} frames ({frame_start}-{end}) at {fps:.6g} fps"


def plan_fit(
    name: str,
    spec: ModelSpec,
    *,
    size,
    frames: int,
    photo_size,
    imported_fx: float,
    applied_fx: float = 0.0,
    previous: ModelSpec | None = None,
) -> FitPlan:
    """The fit of a shot now at `size` with `frames` frames to model `name`.

    photo_size: the photo's own (w, h) as displayed; imported_fx: the focal (pixels at size) the photo was
    imported with; applied_fx: a focal applied since (the scene fix; 0: none); previous: the model the shot
    was made for, whose assumed lens (if any) is not the artist's own choice."""
    size = (int(size[0]), int(size[1]))
    photo_size = (float(photo_size[0]), float(photo_size[1]))
    new_size = tuple(native_size_for(spec, photo_size[0] / photo_size[1]))
    new_frames = frames_for(spec, frames, new_size)
    scale_old = cover_crop_box(photo_size, size)[0]
    scale_new = cover_crop_box(photo_size, new_size)[0]
    reimport = new_size != size
    notes = []
    if new_frames != frames:
        why = "the model makes it" if new_frames > frames else "the longest the model makes in one go"
        notes.append(f"frames {frames} -> {new_frames} ({why})")
        if new_frames < frames:
            notes.append("camera keys past the new last frame are kept but not in the take")
    if reimport:
        notes.append(f"the photo imported again at {new_size[0]}x{new_size[1]} (was {size[0]}x{size[1]})")
    prev_assumed = assumed_focal(previous, size, photo_size)
    set_by_fit = applied_fx > 0 and prev_assumed is not None and same_focal(applied_fx, prev_assumed)
    imported_new = imported_fx / scale_old * scale_new  # the photo's own lens at the new size
    in_use = applied_fx or imported_fx
    target = assumed_focal(spec, new_size, photo_size)
    if target is not None:
        conv = convention_of(spec)
        notes.append(f"focal {target:.1f} px: {conv.family} is not told the lens and assumes this one")
    elif applied_fx > 0 and not set_by_fit:
        target = applied_fx / scale_old * scale_new  # the artist's applied focal stays, at the new size
    elif set_by_fit:
        target = imported_new
        notes.append(f"focal back to the photo's own {imported_new:.1f} px ({name} is told the lens)")
    if target is not None:
        now = imported_new if reimport else in_use
        if same_focal(target, now):
            target = None
    return FitPlan(name, new_size, new_frames, reimport, imported_fx / scale_old, target, notes)
