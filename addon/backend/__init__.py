"""The backend as the add-on sees it: its private environment, the process it starts, what it answers, and one
connection per task.

env           the private environment on disk, in plain Python: where it lives, its Python, the bundled backend
command_line  the start-command preference: argv to one string and back (POSIX or Windows rules)
torch_build   which torch fits this machine: NVIDIA GPUs found without torch, then the CUDA or CPU build
pip_failures  what a failed pip run means for the artist
process_tree  the set-up's child processes: clean environment, own process group, stopped with what they started
setup_worker  the set-up itself, run by Blender's Python in a separate process (stand-alone: imports the plain
              modules above as a private package)
setup         set-up, check, removal, downloads: the worker processes, what the last check found, updates due
process       the embedded backend: started on demand when nothing answers locally, stopped when Blender quits
status        what the panel knows: whether it answers, on which device, which models (the built-in list until then)
connection    the backend a task talks to, read from the preferences once per task
"""
