"""Pure logic shared by the Blender add-on and the backend (standard library + numpy).

camera     conventions and Blender <-> pinhole conversions
re10k      RealEstate10K camera files
masks      preview coverage -> latent masks for noise shaping
pointcloud depth map -> points and grid mesh
bundle     the job bundle contract (versioned)
"""
