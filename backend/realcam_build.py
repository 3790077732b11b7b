"""The build backend (pyproject.toml's build-system): setuptools' own, without one notice that cannot apply here.

The wheel's two packages live in two folders (backend/realcam, addon/realcam_core), so an editable install cannot
be one path entry: setuptools installs an import hook instead, and then always warns that a folder in the working
directory named like a package would take precedence over the install. Neither package sits at the repository
root, nor in any folder this project runs from, so the warning only adds noise to every `pip install -e`; it is
filtered here, and nothing else is. Wheels and sdists are built exactly as setuptools.build_meta builds them.
"""

from __future__ import annotations

import warnings

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F403  (every PEP 517 and PEP 660 hook, unchanged)

# The notice, and only it: setuptools' other editable-install messages (strict mode's link tree) stay.
_SHADOW_NOTICE = r"(?s)Editable installation\..*same\s+name as your package"


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    from setuptools.warnings import InformationOnly

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_SHADOW_NOTICE, category=InformationOnly)
        return _setuptools.build_editable(wheel_directory, config_settings, metadata_directory)
