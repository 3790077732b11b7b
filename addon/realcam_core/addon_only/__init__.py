"""The add-on's own pure logic (no bpy): the backend never imports these.

progress     the stages an artist sees and the one line the panel shows for each
advice       what an error shown to the artist says to do next
exif         EXIF orientation and 35 mm focal length of a photo, without Pillow
pointcloud   a metric depth map as the photo's grid mesh (vertices, faces across no depth edge)
calibration  scene fixes as maths: the scale a known distance implies, a photo seen with another focal
move_extent  how far a camera track goes (metres, degrees)
coverage     how much of a preview frame the photo's scene covers
ghost        the camera COLMAP recovered from a take, placed in the artist's Blender world
model_fit    a shot fitted to a video model: its size, frame count and the lens a model assumes
"""
