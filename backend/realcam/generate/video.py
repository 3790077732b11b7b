"""H.264 MP4 from uint8 frames, through the ffmpeg that imageio-ffmpeg ships."""

from __future__ import annotations

from fractions import Fraction

import numpy as np


def write_mp4(path: str, frames: np.ndarray, fps: float, quality: int = 8) -> None:
    """frames: (F, H, W, 3) uint8. fps exactly as the scene has it (24000/1001 stays exact)."""
    import imageio_ffmpeg

    f, h, w, _ = frames.shape
    rate = Fraction(fps).limit_denominator(1001)
    writer = imageio_ffmpeg.write_frames(
        path,
        (w, h),
        fps=rate,
        codec="libx264",
        quality=quality,
        macro_block_size=2,  # yuv420p needs even sides; never rescale
        ffmpeg_log_level="error",
        output_params=["-movflags", "+faststart"],
    )
    writer.send(None)
    try:
        for frame in frames:
            writer.send(np.ascontiguousarray(frame, dtype=np.uint8))
    finally:
        writer.close()
