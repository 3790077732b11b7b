"""Build the Blender extension zip and check it with Blender's own validator.

    .venv/bin/python scripts/build_addon.py [--out dist]

Stages blender_manifest.toml with addon/ (its modules at the zip's top level, as
Blender expects) and the backend the add-on sets up (backend_dist/, see
backend_bundle.py), builds with the extension tool chain inside the bpy wheel, then
validates the zip. Prints the zip's path.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def blender_ext_cli() -> str:
    import importlib.util

    # The bpy wheel: site-packages/bpy/<version>/scripts/addons_core/bl_pkg/cli/blender_ext.py
    spec = importlib.util.find_spec("bpy")
    base = os.path.dirname(spec.origin)
    for version in sorted(os.listdir(base), reverse=True):
        path = os.path.join(base, version, "scripts", "addons_core", "bl_pkg", "cli", "blender_ext.py")
        if os.path.isfile(path):
            return path
    raise SystemExit("blender_ext.py not found in the bpy wheel")


def build(out_dir: str) -> str:
    cli = blender_ext_cli()
    os.makedirs(out_dir, exist_ok=True)
    with tempfile.TemporaryDirectory() as stage:
        shutil.copy(os.path.join(ROOT, "blender_manifest.toml"), stage)
        shutil.copy(os.path.join(ROOT, "README.md"), stage)
        for name in os.listdir(os.path.join(ROOT, "addon")):
            if name == "__pycache__":
                continue
            src = os.path.join(ROOT, "addon", name)
            dst = os.path.join(stage, name)
            if os.path.isdir(src):
                shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copy(src, dst)
        import tomllib

        with open(os.path.join(ROOT, "blender_manifest.toml"), "rb") as fh:
            manifest = tomllib.load(fh)
        from backend_bundle import BUNDLE_DIR, write_bundle

        write_bundle(os.path.join(stage, BUNDLE_DIR), manifest["version"])
        zip_path = os.path.join(os.path.abspath(out_dir), f"{manifest['id']}-{manifest['version']}.zip")
        subprocess.run([sys.executable, cli, "build", "--source-dir", stage, "--output-filepath", zip_path], check=True)
    subprocess.run([sys.executable, cli, "validate", zip_path], check=True)
    return zip_path


def install_into_blender(zip_path: str, user_dir: str) -> str:
    """Install and enable the zip in this process's Blender (bpy), user folders in user_dir; its package name.

    Sets BLENDER_USER_RESOURCES before bpy is imported, so nothing lands in the home folder."""
    os.environ["BLENDER_USER_RESOURCES"] = user_dir
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=True)
    pkg = "bl_ext.user_default.realcam"
    if pkg not in bpy.context.preferences.addons:
        raise SystemExit(f"the extension {zip_path} did not install")
    return pkg


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(ROOT, "dist"))
    print(build(ap.parse_args().out))


if __name__ == "__main__":
    main()
