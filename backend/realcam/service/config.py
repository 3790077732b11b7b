"""What `realcam serve` is told (ServerConfig), and where it may listen with it."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from realcam_core import api

from ..errors import UserError


@dataclass
class ServerConfig:
    data_dir: str
    host: str = api.DEFAULT_HOST
    port: int = api.DEFAULT_PORT
    token: str | None = None
    max_upload_bytes: int = 2 * 1024**3
    max_frames: int = 241
    max_pixels: int = 1280 * 720
    device: str | None = None
    offload: str = "auto"
    vae_tiling: bool = False
    dtype: str | None = None
    window_frames: int | None = None  # frames per window of a long shot (None: each model's own count)
    model_folders: dict = field(default_factory=dict)  # name -> local diffusers folder
    depth_model_folders: dict = field(default_factory=dict)
    allow_hosts: list = field(default_factory=list)  # extra names the Host header may carry
    body_timeout: float = 60.0  # seconds an upload may send nothing
    upload_timeout: float = 1800.0  # seconds a whole upload may take
    cluster: str | None = None  # a Ray cluster's address: jobs run there (cluster.py), not in this process


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(config: ServerConfig) -> None:
    """Refuse to listen beyond loopback without a token long enough not to be guessed."""
    if is_loopback(config.host):
        return
    if not config.token:
        raise UserError(
            f"refusing to listen on {config.host}: other machines could reach this server. Set a token "
            "(REALCAM_TOKEN=... or --token) to bind to a non-loopback address, or keep the default 127.0.0.1"
        )
    if len(config.token) < api.MIN_REMOTE_TOKEN_CHARS:
        raise UserError(
            f"refusing to listen on {config.host} with a token of {len(config.token)} characters: other machines "
            f"could guess it. Use at least {api.MIN_REMOTE_TOKEN_CHARS} (e.g. python -c 'import secrets; "
            "print(secrets.token_urlsafe(24))')"
        )
