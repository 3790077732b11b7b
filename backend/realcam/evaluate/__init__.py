"""Video -> how well it followed the requested camera: `realcam eval` (CamI2V protocol).

accuracy      the command: frames and requested track in, scores out
reconstruct   camera poses of the frames by COLMAP (pycolmap)
metrics       RotErr, TransErr, CamMC and their metric variants (pure numpy)
"""
