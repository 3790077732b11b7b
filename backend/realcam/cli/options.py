"""Options more than one command takes."""

from __future__ import annotations


def add_dtype(parser) -> None:
    parser.add_argument(
        "--dtype", choices=["float32", "float16", "bfloat16"], help="default: bfloat16 on CUDA, else float32"
    )
