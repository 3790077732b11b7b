"""realcam: the generation backend of the RealCam Blender add-on."""

__version__ = "0.1.0"
