"""Blender classes only: the panel, the operators grouped by feature, the property groups and the preferences.

Everything here draws, asks or hands over: the work is in flows/ (long operations as tasks) and in the feature
modules beside them, which hold no Blender classes.
"""
