"""Per-job speed settings: a step cache and regional compilation of the transformer, and what they did.

Step cache: diffusers' First Block Cache (diffusers.hooks.first_block_cache; the
pinned 0.42 also has FasterCache, Pyramid Attention Broadcast, TaylorSeer,
MagCache, SeaCache and an exact text K/V cache). At each transformer call it runs
the first block, compares the block's residual with the previous step's, and when
the relative change is under the threshold adds the previous step's residual of
the other blocks instead of running them. It needs no calibration per model (MagCache
does) and no timestep ranges picked per model (FasterCache, Pyramid Attention
Broadcast), so it applies to every transformer family here as it is.

Noise shaping needs a shaped step to run the model on the shaped latents: a cache
that reused a residual computed before the latents were replaced would denoise
the old latents' structure, not the preview's. So the cache is switched on only
from the step after the last shaped one (shaped steps are the noisiest, a prefix
of the schedule, but the rule holds for any set): every shaped step runs in full,
and the first step after them, having no earlier residual, too. The cache's state
lives in hooks added for the job and removed after it, so no job reuses another's.
Few-step samplers that re-noise (the DMD draft) say why a cache cannot help them
(VideoAdapter.step_cache_unsupported): nothing is enabled there.

Compilation: torch.compile of each repeated transformer block (diffusers'
compile_repeated_blocks: one compiled graph serves all blocks, so it compiles in a
fraction of a whole-model compile). It does not change what the model computes,
so noise shaping keeps it on every step. Not fullgraph: the cache's hooks break
the graph on purpose (the skip decision reads a value on the host). It needs
Triton on CUDA and a C++ compiler on the CPU; anywhere else, or without them, the
job runs uncompiled and result.json says why. A compiled transformer stays
compiled for the next job that asks, and is switched back for one that does not.

Counting: after each transformer call, the cache's own decision says whether
the blocks after the first ran; result.json gets the steps and blocks skipped
(tests/test_speed.py counts the block calls independently and agrees).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from realcam_core.bundle import DEFAULT_CACHE_THRESHOLD, STEP_CACHES

BLOCK_LISTS = ("blocks", "transformer_blocks", "single_transformer_blocks")


@dataclass
class SpeedRequest:
    """What a job asks for (bundle settings.speed, or the CLI's flags over them)."""

    step_cache: str = "off"
    cache_threshold: float = DEFAULT_CACHE_THRESHOLD
    compile: bool = False

    def __post_init__(self):
        if self.step_cache not in STEP_CACHES:
            raise ValueError(f"step cache {self.step_cache!r}: expected one of {', '.join(STEP_CACHES)}")


def transformer_blocks(model) -> list:
    """The repeated blocks of a transformer, in order (the lists diffusers' caches hook)."""
    import torch

    out = []
    for name, child in model.named_children():
        if name in BLOCK_LISTS and isinstance(child, torch.nn.ModuleList):
            out += list(child)
    return out


def compile_unavailable(device: str) -> str | None:
    """Why torch.compile cannot run on this device here, or None when it can."""
    if device.startswith("cuda"):
        if importlib.util.find_spec("triton") is None:
            return "torch.compile on CUDA needs Triton, which this torch installation does not have"
        return None
    if device == "cpu":
        from torch._inductor.cpp_builder import get_cpp_compiler

        try:
            get_cpp_compiler()  # what inductor itself will look for (g++ or $CXX; cl on Windows), run once
        except Exception as e:
            return f"torch.compile on the CPU needs a C++ compiler, and none works here ({str(e).strip()})"
        return None
    return f"torch.compile is used on CUDA and the CPU only, not on {device}"


class BlockCounter:
    """How many blocks ran in each transformer call, per step. Read after each call (outside the compiled blocks,
    whose insides no hook should touch): all of them, unless the first-block cache decided to skip the rest, in
    which case only its first block ran."""

    def __init__(self, model):
        self.blocks = transformer_blocks(model)
        self.step = 0
        self.per_step: dict[int, list[int]] = {}  # step -> blocks run in each transformer call of that step
        self.cache_hook = None  # the first-block cache's decision maker, once the cache is on
        self._handle = model.register_forward_hook(self._call_ends)

    def _call_ends(self, *_):
        skipped = self.cache_hook is not None and not self.cache_hook.state_manager.get_state().should_compute
        self.per_step.setdefault(self.step, []).append(1 if skipped else len(self.blocks))

    def cached_steps(self) -> list[int]:
        full = len(self.blocks)
        return sorted(s for s, calls in self.per_step.items() if any(n < full for n in calls))

    def close(self) -> None:
        self._handle.remove()


@dataclass
class SpeedRun:
    """The speed settings of one job on a loaded pipeline: set up before it, told of each step, undone after."""

    request: SpeedRequest
    device: str
    shaped_steps: list[int]
    steps: int
    cache_unsupported: str | None = None  # the adapter's reason, if its sampler cannot use a cache
    cache_reason: str | None = None
    compile_reason: str | None = None
    compiled: bool = False
    cache_from: int | None = None  # first step the cache is on for
    _model: object = None
    _counter: BlockCounter | None = None
    _cache_on: bool = False

    def start(self, pipe) -> None:
        """Before the pipeline runs: compile (or undo an earlier job's compile), count blocks, cache from step 0."""
        self._model = getattr(pipe, "transformer", None) or pipe.unet
        self._compile(self.request.compile)
        self._counter = BlockCounter(self._model)
        if self.request.step_cache != "off":
            if self.cache_unsupported:
                self.cache_reason = self.cache_unsupported
            elif not hasattr(self._model, "enable_cache") or not self._counter.blocks:
                self.cache_reason = f"{type(self._model).__name__} has no transformer blocks a step cache can skip"
            else:
                self.cache_from = max(self.shaped_steps) + 1 if self.shaped_steps else 0
                if self.cache_from >= self.steps:
                    self.cache_reason = "every step is shaped by noise shaping, which a cached step would not see"
                    self.cache_from = None
        self._maybe_enable(0)

    def step_done(self, step: int) -> None:
        """From the step-end callback of `step`: what follows runs as step + 1."""
        self._counter.step = step + 1
        self._maybe_enable(step + 1)

    def _maybe_enable(self, step: int) -> None:
        if self.cache_from is not None and step == self.cache_from and not self._cache_on:
            from diffusers import FirstBlockCacheConfig
            from diffusers.hooks import HookRegistry
            from diffusers.hooks.first_block_cache import _FBC_LEADER_BLOCK_HOOK

            self._model.enable_cache(FirstBlockCacheConfig(threshold=self.request.cache_threshold))
            self._cache_on = True
            head = HookRegistry.check_if_exists_or_initialize(self._counter.blocks[0])
            self._counter.cache_hook = head.get_hook(_FBC_LEADER_BLOCK_HOOK)

    def finish(self) -> None:
        """After the pipeline ran (or failed): the cache's hooks and the counters go; a compile stays for reuse."""
        if self._cache_on:
            self._model.disable_cache()
            self._cache_on = False
            self._counter.cache_hook = None
        if self._counter is not None:
            self._counter.close()

    def _compile(self, wanted: bool) -> None:
        names = getattr(self._model, "_repeated_blocks", None) or ()
        blocks = [m for m in self._model.modules() if type(m).__name__ in names]
        is_compiled = any(getattr(b, "_compiled_call_impl", None) is not None for b in blocks)
        if wanted:
            self.compile_reason = compile_unavailable(self.device)
            if self.compile_reason is None and not blocks:
                self.compile_reason = f"{type(self._model).__name__} names no repeated blocks to compile"
            wanted = self.compile_reason is None
        if wanted and not is_compiled:
            self._model.compile_repeated_blocks(fullgraph=False)
        elif not wanted and is_compiled:
            for b in blocks:
                b._compiled_call_impl = None  # what nn.Module.compile() set: calls go to the eager forward again
        self.compiled = wanted

    def report(self) -> dict:
        """result.json's "speed": what was asked, what was used, and what the cache skipped."""
        counter = self._counter
        calls = [n for s in sorted(counter.per_step) for n in counter.per_step[s]] if counter else []
        blocks = len(counter.blocks) if counter else 0
        block_names = sorted({type(b).__name__ for b in counter.blocks}) if counter else []
        return {
            "step_cache": {
                "requested": self.request.step_cache,
                "threshold": self.request.cache_threshold,
                "used": self._cache_used(),
                "reason": self.cache_reason,
                "from_step": self.cache_from,
                "never_on_steps": self.shaped_steps,
                "steps_cached": counter.cached_steps() if counter else [],
                "transformer_calls": len(calls),
                "blocks_run": sum(calls),
                "blocks_skipped": blocks * len(calls) - sum(calls),
            },
            "compile": {
                "requested": self.request.compile,
                "used": self.compiled,
                "reason": self.compile_reason,
                "regions": block_names if self.compiled else [],
            },
        }

    def _cache_used(self) -> bool:
        return self.request.step_cache != "off" and self.cache_from is not None
