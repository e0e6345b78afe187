"""The PyTorch twin of the Gaussian image model of bench/images.ts.

Same network as src/model/unet.ts (residual blocks with group norm and a
time projection, 2x2 average pooling, nearest upsampling with skip
concatenation, single-head attention at the lowest resolution, zero-init
output; the weights carry the SAME names and shapes, so the trained weights
load into the jax-js UNet and are sampled by the project's own sampler), the
same process and objective (cosine schedule, v-prediction, MSE, t ~ U(0, 1]),
Adam with linear warm-up, and an EMA of the weights. It trains for a
wall-clock budget and writes the weights as safetensors; bench/images.ts
wraps them in a udm checkpoint and scores them like every other model.

    /usr/bin/python3 bench/images_torch.py --data DIR --out weights.safetensors [--seconds 1200] [--threads 2]
        [--batch 32] [--lr 2e-3] [--warmup 100] [--ema 0.995]
    /usr/bin/python3 bench/images_torch.py --check DIR   (random weights + outputs for the equality test)

DIR holds what bench/images.ts wrote: train.f32 (images as float32 in
[-1, 1], [N, C, H, W]) and meta.json ({"shape": [C, H, W], "unet": the
UNet's config}). Prints one JSON line.
"""
import argparse
import json
import math
import os

import pin_threads  # noqa: E402 (before torch: see pin_threads.py)
pin_threads.pin(2)
import torch
import torch.nn.functional as F

from text_torch import fit, save_safetensors, time_embedding


def groups_for(c, groups):
    """unet.ts groupsFor: the largest divisor of c that is <= groups."""
    g = min(groups, c)
    while c % g:
        g -= 1
    return g


def init_params(cfg, g):
    """unet.ts init, in its order: LeCun-normal dense/conv weights, unit group norms, zero-init second convs and output."""
    chans, in_c, out_c, tdim = cfg["channels"], cfg["inChannels"], cfg["outChannels"], cfg["timeDim"]
    emb = 4 * chans[0]
    p = {}

    def dense(name, fan_in, fan_out, scale=1.0):
        p[f"{name}.w"] = torch.randn(fan_in, fan_out, generator=g) * (scale / math.sqrt(fan_in))
        p[f"{name}.b"] = torch.zeros(fan_out)

    def norm(name, c):
        p[f"{name}.scale"] = torch.ones(c)
        p[f"{name}.shift"] = torch.zeros(c)

    def res(name, cin, cout):
        norm(f"{name}.norm1", cin)
        dense(f"{name}.conv1", 9 * cin, cout)
        dense(f"{name}.time", emb, cout)
        norm(f"{name}.norm2", cout)
        dense(f"{name}.conv2", 9 * cout, cout, 0.0)
        if cin != cout:
            dense(f"{name}.skip", cin, cout)

    dense("time1", tdim, emb)
    dense("time2", emb, emb)
    dense("in", 9 * in_c, chans[0])
    L = len(chans)
    for l in range(L):
        res(f"down{l}", chans[0] if l == 0 else chans[l - 1], chans[l])
    cm = chans[-1]
    res("mid1", cm, cm)
    if cfg["attention"]:
        norm("attn.norm", cm)
        dense("attn.qkv", cm, 3 * cm)
        dense("attn.out", cm, cm, 0.0)
    res("mid2", cm, cm)
    for l in range(L - 2, -1, -1):
        res(f"up{l}", chans[l + 1] + chans[l], chans[l])
    norm("outnorm", chans[0])
    dense("out", 9 * chans[0], out_c, 0.0)
    return p


def conv3x3(p, name, x):
    """unet.ts's im2col conv: weight [9 C_in, C_out], row (dy * 3 + dx) * C_in + c, as a torch conv2d on [B, C, H, W]."""
    w = p[f"{name}.w"]
    cin, cout = w.shape[0] // 9, w.shape[1]
    kernel = w.view(3, 3, cin, cout).permute(3, 2, 0, 1)
    return F.conv2d(x, kernel, p[f"{name}.b"], padding=1)


def dense1x1(p, name, x):
    """A dense layer over the channels of [B, C, H, W]."""
    return torch.einsum("bchw,cd->bdhw", x, p[f"{name}.w"]) + p[f"{name}.b"][None, :, None, None]


def forward(p, cfg, x, t):
    """unet.ts apply on x [B, C, H, W], t [B] -> [B, C_out, H, W]."""
    chans, groups, tdim = cfg["channels"], cfg["groups"], cfg["timeDim"]
    lin = lambda name, z: z @ p[f"{name}.w"] + p[f"{name}.b"]
    gn = lambda name, z: F.group_norm(z, groups_for(z.shape[1], groups), p[f"{name}.scale"], p[f"{name}.shift"], 1e-5)

    def res(name, h, temb):
        x0 = h
        h = conv3x3(p, f"{name}.conv1", F.silu(gn(f"{name}.norm1", h)))
        h = h + lin(f"{name}.time", F.silu(temb))[:, :, None, None]
        h = conv3x3(p, f"{name}.conv2", F.silu(gn(f"{name}.norm2", h)))
        skip = dense1x1(p, f"{name}.skip", x0) if f"{name}.skip.w" in p else x0
        return skip + h

    def attn(h):
        B, c, H, W = h.shape
        qkv = dense1x1(p, "attn.qkv", gn("attn.norm", h)).flatten(2).transpose(1, 2)  # [B, HW, 3c]
        q, k, v = qkv[..., :c], qkv[..., c : 2 * c], qkv[..., 2 * c :]
        o = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(c), -1) @ v
        return h + dense1x1(p, "attn.out", o.transpose(1, 2).reshape(B, c, H, W))

    temb = lin("time2", F.silu(lin("time1", time_embedding(t, tdim))))
    h = conv3x3(p, "in", x)
    skips = []
    L = len(chans)
    for l in range(L):
        h = res(f"down{l}", h, temb)
        if l < L - 1:
            skips.append(h)
            h = F.avg_pool2d(h, 2)
    h = res("mid1", h, temb)
    if cfg["attention"]:
        h = attn(h)
    h = res("mid2", h, temb)
    for l in range(L - 2, -1, -1):
        h = torch.cat([F.interpolate(h, scale_factor=2, mode="nearest"), skips.pop()], 1)
        h = res(f"up{l}", h, temb)
    return conv3x3(p, "out", F.silu(gn("outnorm", h)))


def cosine_ab(t, s=0.008):
    """src/core/schedule.ts cosine(): a^2 = f(t) / f(0), f(t) = cos((t + s) / (1 + s) pi / 2)^2; b = sqrt(1 - a^2)."""
    f = lambda u: torch.cos((u + s) / (1 + s) * math.pi / 2) ** 2
    a2 = (f(t.clamp(0, 1)) / f(torch.zeros(()))).clamp(0, 1)
    return a2.sqrt(), (1 - a2).clamp(min=0).sqrt()


def check(a):
    """Random weights (zero-init layers too) and the outputs on fixed inputs, for test/images-torch.test.ts."""
    meta = json.load(open(os.path.join(a.check, "meta.json")))
    cfg = meta["unet"]
    g = torch.Generator().manual_seed(1)
    p = {k: torch.randn(v.shape, generator=g) * 0.3 for k, v in init_params(cfg, g).items()}
    C, H, W = meta["shape"]
    x = torch.randn(3, cfg["inChannels"], H, W, generator=g)
    t = torch.tensor([0.05, 0.5, 0.97])
    with torch.no_grad():
        out = forward(p, cfg, x, t)
    save_safetensors(os.path.join(a.check, "weights.safetensors"), p)
    save_safetensors(os.path.join(a.check, "io.safetensors"), {"x": x, "t": t, "out": out})
    print(json.dumps({"config": cfg, "weights": sum(v.numel() for v in p.values())}))


def train(a):
    torch.set_num_threads(a.threads)
    meta = json.load(open(os.path.join(a.data, "meta.json")))
    cfg = meta["unet"]
    images = torch.from_numpy(__import__("numpy").fromfile(os.path.join(a.data, "train.f32"), dtype="<f4")).view(-1, *meta["shape"])
    g = torch.Generator().manual_seed(a.seed)
    p = init_params(cfg, g)

    def batch_loss(x0, g):
        t = 1 - torch.rand(a.batch, generator=g)  # U(0, 1], as train.ts draws it
        eps = torch.randn(x0.shape, generator=g)
        at, bt = (v[:, None, None, None] for v in cosine_ab(t))
        return F.mse_loss(forward(p, cfg, at * x0 + bt * eps, t), at * eps - bt * x0)  # v-prediction

    ema, losses, step, seconds = fit(p, g, images, batch_loss, a, "images_torch")
    save_safetensors(a.out, {**{f"params.{k}": v for k, v in p.items()}, **{f"ema.{k}": v for k, v in ema.items()}}, {"config": json.dumps(cfg), "steps": str(step)})
    tail = losses[-100:]
    print(json.dumps({"steps": step, "seconds": seconds, "weights": sum(v.numel() for v in ema.values()), "lastLoss": sum(tail) / max(1, len(tail)), "threads": a.threads, "losses": losses}))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--data")
    ap.add_argument("--out")
    ap.add_argument("--check")
    ap.add_argument("--seconds", type=float, default=1200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    for name, default in [("batch", 32), ("warmup", 100)]:
        ap.add_argument(f"--{name}", type=int, default=default)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--ema", type=float, default=0.995)
    a = ap.parse_args()
    if a.check:
        check(a)
    elif a.data and a.out:
        train(a)
    else:
        ap.error("give --data DIR --out FILE to train, or --check DIR")
