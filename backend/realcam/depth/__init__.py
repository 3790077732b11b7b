"""Photo -> metric depth: `realcam depth`.

photo      open, check and orient the artist's photo
maps       depth maps the artist supplies (the rule itself is realcam_core.depth_map)
models     Depth Anything V2 metric and Depth Pro through transformers
estimate   the whole step: fitted image, depth in metres, intrinsics, written together
"""
