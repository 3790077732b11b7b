"""How far a camera track goes: path length and net displacement in metres, total and net turn in degrees.

Pure numpy on camera-to-world matrices in metres (any world: a rigid change of
frame, such as making the track relative to its first camera, changes none of
these numbers). The panel shows them so an artist sees what a move amounts to
after presets, rig and keys have all been combined.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MoveExtent:
    path_m: float  # length of the path the camera centre travels
    net_m: float  # straight-line distance from the first to the last position
    turn_deg: float  # sum of the rotation angles between consecutive frames
    net_turn_deg: float  # rotation angle from the first orientation to the last

    def text(self) -> str:
        return (
            f"path {self.path_m:.2f} m (net {self.net_m:.2f} m), "
            f"turn {self.turn_deg:.1f}° (net {self.net_turn_deg:.1f}°)"
        )


def _angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    """Geodesic angle between two rotation matrices, in degrees."""
    cos = (np.trace(a.T @ b) - 1.0) / 2.0
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


def _rotation(m: np.ndarray) -> np.ndarray:
    """The rotation of a 3x3 block that may carry scale (an object scaled in Blender): its orthonormal part."""
    u, _, vt = np.linalg.svd(m)
    r = u @ vt
    if np.linalg.det(r) < 0:
        u[:, -1] *= -1
        r = u @ vt
    return r


def move_extent(c2ws) -> MoveExtent:
    """c2ws: (N, 4, 4) (or 3x4) camera-to-world matrices, positions in metres, one per frame."""
    m = np.asarray(c2ws, dtype=np.float64)
    if m.ndim != 3 or m.shape[1:] not in ((4, 4), (3, 4)) or len(m) == 0:
        raise ValueError(f"a camera track is (N, 4, 4) or (N, 3, 4) matrices, got shape {m.shape}")
    t = m[:, :3, 3]
    rots = [_rotation(x[:3, :3]) for x in m]
    steps = np.linalg.norm(np.diff(t, axis=0), axis=1)
    return MoveExtent(
        path_m=float(steps.sum()),
        net_m=float(np.linalg.norm(t[-1] - t[0])),
        turn_deg=float(sum(_angle_deg(a, b) for a, b in zip(rots[:-1], rots[1:], strict=True))),
        net_turn_deg=_angle_deg(rots[0], rots[-1]),
    )
