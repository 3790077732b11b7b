"""Generation settings that the preferences (defaults) and each scene (overrides) both hold.

Defined once and mixed into both property classes, so their limits and
descriptions cannot drift apart; 0 means "the model's default" in both.
"""

from bpy.props import FloatProperty, IntProperty


class GenerationFields:
    steps: IntProperty(name="Steps", default=0, min=0, max=1000, description="0: the model's default")
    guidance: FloatProperty(name="Guidance", default=0.0, min=0.0, max=100.0, description="0: the model's default")
