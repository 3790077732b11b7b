"""The backend as the add-on sees it: its private environment, the process it starts, what it answers, and one
connection per task.

env           the private environment, in plain Python: where it lives, command lines, which torch, pip's failures
setup_worker  the set-up itself, run by Blender's Python in a separate process (stand-alone: it loads env.py by path)
setup         set-up, check, removal, downloads: the worker processes, what the last check found, updates due
process       the embedded backend: started on demand when nothing answers locally, stopped when Blender quits
status        what the panel knows: whether it answers, on which device, which models (the built-in list until then)
connection    the backend a task talks to, read from the preferences once per task
"""
