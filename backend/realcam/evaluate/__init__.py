"""Video -> how well it followed the requested camera: `realcam eval` (CamI2V protocol).

accuracy      the command: frames and requested track in, scores out
frames        a clip's frames as PNG (sampled and scaled down for `realcam track`)
reconstruct   camera poses of the frames by COLMAP (pycolmap); also `realcam track`'s cameras
scale         metric over SfM depth at the points a frame sees (plain median here, robust in track)
metrics       RotErr, TransErr, CamMC and their metric variants (pure numpy)
"""
