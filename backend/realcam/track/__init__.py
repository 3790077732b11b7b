"""A clip -> its camera move in metres: `realcam track` (the paper's metric scale alignment as a tool).

The data flow, one module per step:

pipeline    clip -> frames (evaluate.frames: sampled, scaled down) -> cameras (evaluate.reconstruct:
            GLOMAP, seeded; rotation-only clips recognised) -> metric scale -> RealEstate10K + report
lens        the intrinsics: given (--focal-px, --fov) or estimated, and whether an estimate can be trusted
depth       the metric depth of one frame: the user's map (Import Photo's rule) or the depth model
checks      what the report warns about: no parallax, few frames, rolling shutter, scale spread
batch       data mode: a folder of clips, one pose file each, in parallel, resumable
"""
