"""RealCam: turn one photo into a camera-controlled video shot (Blender extension).

The Blender side: photo -> metric scene -> camera track -> preview -> job ->
video -> sequencer. Pure logic shared with the backend lives in realcam_core.
"""


def register():
    pass


def unregister():
    pass
