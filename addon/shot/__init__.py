"""The shot: a photo made into a 3D scene of its own, the fixes to it, and its camera and the camera's move.

photo_source  photo -> scene folder (image, metric depth, intrinsics), by the backend or the artist's depth map
photo_scene   scene folder -> the shot's mesh (a vertex per pixel) and a camera that sees exactly the photo
shots         a scene per shot: finding it (ShotRef), its edit scene (one per frame rate), its props, deleting it,
              whether its preview is out of date
fixes         after import: calibrate the shot's scale, change the photo's focal
camera_track  the shot's camera frame by frame as Blender evaluates it, in the shared conventions
presets       camera moves as ordinary keys, on top of the camera's rig
moves         what the move amounts to (metres, degrees) and how much of the photo the preview's last frame sees
re10k_io      RealEstate10K camera files <-> the camera's keys
"""
