"""Freeze upstream DynamiCrafter outputs on tiny configurations as .npz fixtures for tests/test_dynamicrafter_parity.py.

Run in a test-only environment that has upstream's dependencies (torch 2.13, einops, omegaconf, open_clip_torch
2.22, kornia, pytorch_lightning, opencv), never in the product's:

    python scripts/parity/dynamicrafter_fixtures.py /path/to/CamI2V-checkout [tests/fixtures/dynamicrafter]

The checkout is ZGCTroy/CamI2V (lvdm/, utils/); nothing of it is copied here. Weights are not stored:
both sides fill every parameter from its upstream name (realcam.testing.parity_weights). Two changes to
upstream's behaviour, both for float64: the UNet's `dtype` attribute is set to float64 (upstream casts its
input to float32 otherwise), and the residual blocks' GroupNorm, which upcasts to float32, runs in the
input's dtype (for float64 the upcast would be a downcast).
"""

from __future__ import annotations

import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "backend"))
from upstream_configs import unet_config  # noqa: E402

from realcam.testing.parity_weights import fill  # noqa: E402

# Modules are cast to float64 before their weights are set: the values are float64 and must stay so.

D = torch.float64
TEXT = 77  # hard-coded in upstream's UNet and attention


def names_shapes(module, prefix):
    return np.array([f"{prefix}{k}|{','.join(map(str, v.shape))}" for k, v in module.state_dict().items()])


def unet_fixture(out, learnable: bool):
    from lvdm.modules.networks.openaimodel3d import UNetModel

    torch.manual_seed(0)
    unet = UNetModel(**unet_config(temporal_length=3, learnable=learnable)).eval()
    unet.dtype = D
    fill(unet.to(D), "model.diffusion_model.")
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 8, 3, 8, 8, generator=g, dtype=D)
    context = torch.randn(2, TEXT + 3 * 16, 32, generator=g, dtype=D)
    t = torch.tensor([999, 437])
    fs = torch.tensor([3, 8])
    with torch.no_grad():
        y = unet(x, t, context=context, fs=fs)
    name = "unet_256" if learnable else "unet_512"
    np.savez_compressed(
        os.path.join(out, f"{name}.npz"), x=x, t=t, fs=fs, context=context, y=y, keys=names_shapes(unet, "")
    )


def resampler_fixture(out):
    from lvdm.modules.encoders.resampler import Resampler

    r = Resampler(
        dim=32, depth=2, dim_head=8, heads=4, num_queries=4, embedding_dim=24, output_dim=32, ff_mult=2, video_length=3
    ).eval()
    fill(r.to(D), "image_proj_model.")
    x = torch.randn(2, 10, 24, generator=torch.Generator().manual_seed(2), dtype=D)
    with torch.no_grad():
        y = r(x)
    np.savez_compressed(os.path.join(out, "resampler.npz"), x=x, y=y, keys=names_shapes(r, ""))


class FakeDiffusion(torch.nn.Module):
    """What DDIMSampler reads from upstream's LatentDiffusion, its schedule made by upstream's own DDPM code."""

    def __init__(self, parameterization, zero_snr, base_scale):
        super().__init__()
        from lvdm.models.ddpm3d import DDPM

        self.parameterization, self.rescale_betas_zero_snr, self.v_posterior = parameterization, zero_snr, 0.0
        DDPM.register_schedule(self, linear_start=0.00085, linear_end=0.012)
        self.use_dynamic_rescale = base_scale != 1.0
        if self.use_dynamic_rescale:  # as LatentDiffusion.__init__ builds it
            arr = np.concatenate((np.linspace(1.0, base_scale, 400), np.full(self.num_timesteps, base_scale)))
            self.register_buffer("scale_arr", torch.tensor(arr, dtype=torch.float32))
        for name in ("predict_eps_from_z_and_v", "predict_start_from_z_and_v"):
            setattr(self, name, getattr(DDPM, name).__get__(self))
        self.q_noise = []
        self._q = DDPM.q_sample

    def q_sample(self, x_start, t, noise=None):
        return self._q(self, x_start, t, noise=self.q_noise.pop(0))

    @property
    def device(self):
        return torch.device("cpu")

    def apply_model(self, x, t, cond, **kwargs):
        # A fixed, cheap "denoiser" that differs between the conditional and unconditional context.
        return fake_model_output(x, t, cond["c_crossattn"][0])


def fake_model_output(x, t, context):
    return torch.tanh(1.3 * x + context.mean()) + 0.0005 * t.to(x.dtype).view(-1, 1, 1, 1, 1)


def ddim_fixture(out, name, parameterization, zero_snr, base_scale):
    import lvdm.models.samplers.ddim as ddim_module

    model = FakeDiffusion(parameterization, zero_snr, base_scale)
    sampler = ddim_module.DDIMSampler(model)
    sampler.register_buffer = lambda n, a: setattr(sampler, n, a)  # upstream moves its buffers to CUDA
    g = torch.Generator().manual_seed(3)
    shape = (1, 4, 3, 4, 4)
    x_t = torch.randn(shape, generator=g, dtype=D)
    noises = torch.randn(25, *shape, generator=g, dtype=D)
    q_noises = torch.randn(3, *shape, generator=g, dtype=D)
    scene = torch.randn(shape, generator=g, dtype=D)
    mask = (torch.rand(1, 1, 3, 4, 4, generator=g) > 0.4).to(D).repeat(1, 4, 1, 1, 1)
    cond = {"c_crossattn": [torch.full((1, 2, 3), 0.3, dtype=D)]}
    uncond = {"c_crossattn": [torch.full((1, 2, 3), -0.2, dtype=D)]}
    queue = list(noises)
    ddim_module.noise_like = lambda s, device, repeat=False: queue.pop(0)
    model.q_noise = list(q_noises)
    samples, inter = sampler.sample(
        S=25,
        batch_size=1,
        shape=shape[1:],
        conditioning=cond,
        verbose=False,
        x_T=x_t,
        eta=1.0,
        unconditional_guidance_scale=7.5,
        unconditional_conditioning=uncond,
        timestep_spacing="uniform_trailing",
        guidance_rescale=0.7,
        log_every_t=1,
        noise_shaping=True,
        noise_shaping_minimum_timesteps=900,
        scene_frames=scene,
        scene_mask=mask,
    )
    steps = torch.stack(inter["x_inter"][1:])  # the latents after each step
    np.savez_compressed(
        os.path.join(out, f"{name}.npz"),
        x_t=x_t,
        noises=noises,
        q_noises=q_noises,
        scene=scene,
        mask=mask,
        steps=steps,
        timesteps=np.flip(sampler.ddim_timesteps).copy(),
    )


def vae_fixture(out):
    from lvdm.models.autoencoder import AutoencoderKL

    dd = {
        "double_z": True,
        "z_channels": 4,
        "resolution": 16,
        "in_channels": 3,
        "out_ch": 3,
        "ch": 32,
        "ch_mult": [1, 2],
        "num_res_blocks": 1,
        "attn_resolutions": [],
        "dropout": 0.0,
    }
    vae = AutoencoderKL(ddconfig=dd, lossconfig={"target": "torch.nn.Identity"}, embed_dim=4).eval()
    fill(vae.to(D), "first_stage_model.")
    g = torch.Generator().manual_seed(4)
    x = torch.rand(2, 3, 16, 16, generator=g, dtype=D) * 2 - 1
    z = torch.randn(2, 4, 8, 8, generator=g, dtype=D)
    with torch.no_grad():
        mean = vae.encode(x).mode()
        dec = vae.decode(z)
    np.savez_compressed(os.path.join(out, "vae.npz"), x=x, z=z, mean=mean, dec=dec, keys=names_shapes(vae, ""))


def clip_fixture(out):
    import open_clip
    from lvdm.modules.encoders.condition import FrozenOpenCLIPEmbedder, FrozenOpenCLIPImageEmbedderV2

    open_clip.factory._MODEL_CONFIGS["realcam-tiny"] = {
        "embed_dim": 16,
        "vision_cfg": {"image_size": 224, "layers": 2, "width": 32, "head_width": 16, "patch_size": 14},
        "text_cfg": {"context_length": 77, "vocab_size": 100, "width": 32, "heads": 2, "layers": 3},
    }
    text = FrozenOpenCLIPEmbedder(arch="realcam-tiny", version=None, device="cpu", layer="penultimate")
    image = FrozenOpenCLIPImageEmbedderV2(arch="realcam-tiny", version=None, device="cpu")
    fill(text.to(D).model, "cond_stage_model.model.")
    fill(image.to(D).model, "embedder.model.")
    g = torch.Generator().manual_seed(5)
    ids = torch.zeros(2, 77, dtype=torch.long)
    ids[0, :9] = torch.randint(1, 99, (9,), generator=g)
    ids[1, :77] = torch.randint(1, 99, (77,), generator=g)
    ids[:, 0], ids[0, 8], ids[1, 76] = 98, 99, 99
    img = torch.rand(2, 3, 48, 64, generator=g, dtype=D) * 2 - 1
    with torch.no_grad():
        t_out = text.encode_with_transformer(ids)
        pre = image.preprocess(img)
        i_out = image(img)
    np.savez_compressed(
        os.path.join(out, "clip.npz"),
        ids=ids,
        text=t_out,
        image=img,
        preprocessed=pre[:, :, ::8, ::8],  # a subsample: the full 224x224 would dominate the fixtures
        tokens=i_out,
        text_keys=names_shapes(text.model, ""),
        vision_keys=names_shapes(image.model.visual, ""),
    )


def main():
    upstream = os.path.abspath(sys.argv[1])
    out = os.path.abspath(
        sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "..", "..", "tests", "fixtures", "dynamicrafter")
    )
    os.makedirs(out, exist_ok=True)
    sys.path.insert(0, upstream)
    import lvdm.basics

    lvdm.basics.GroupNormSpecific.forward = torch.nn.GroupNorm.forward  # float64: no float32 round trip
    unet_fixture(out, learnable=True)
    unet_fixture(out, learnable=False)
    resampler_fixture(out)
    ddim_fixture(out, "ddim_eps", "eps", zero_snr=False, base_scale=1.0)
    ddim_fixture(out, "ddim_v_zero_snr", "v", zero_snr=True, base_scale=0.7)
    vae_fixture(out)
    clip_fixture(out)
    total = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
    print(f"fixtures written to {out}: {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
