"""PyTorch twins of bench/engine.ts's workloads: the same networks (MLP and
UNet of src/model/, same layers, same weight count; the text Transformer of
bench/text_torch.py with masking's ELBO loss, train step only), the same Gaussian
process (cosine schedule, v objective), Adam + EMA train step and DDPM
sampling loop, on the CPU with a given number of threads. One workload per
run; prints one JSON line: the rate, the weight count and the peak RSS.

    /usr/bin/python3 bench/engine_torch.py --model unet --task train --threads 1 --batch 64 --budget 3
"""
import argparse
import json
import math
import resource
import time

import pin_threads  # noqa: E402 (before torch: see pin_threads.py)
pin_threads.pin(1)
import torch
import torch.nn as nn
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--model", choices=["mlp", "unet", "unet1m", "transformer"], required=True)
p.add_argument("--task", choices=["train", "sample"], required=True)
p.add_argument("--threads", type=int, default=1)
p.add_argument("--batch", type=int, required=True)
p.add_argument("--budget", type=float, default=3.0, help="seconds of timed work (at least one step)")
p.add_argument("--warmup", type=int, default=2)
args = p.parse_args()
torch.set_num_threads(args.threads)
torch.manual_seed(0)


def cosine_a2(t, s=0.008):
    f = lambda u: torch.cos((u + s) / (1 + s) * math.pi / 2) ** 2
    return (f(t.clamp(0, 1)) / f(torch.zeros(()))).clamp(0, 1)


def a_b(t):
    a2 = cosine_a2(t)
    return a2.sqrt(), (1 - a2).clamp(min=0).sqrt()


def time_embedding(t, dim, scale=1000.0, max_period=10000.0):
    """src/model/time-embedding.ts: [sin(s f_i), cos(s f_i)], s = 1000 t."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half) / half)
    arg = scale * t[:, None] * freqs[None, :]
    return torch.cat([torch.sin(arg), torch.cos(arg)], 1)


class MLP(nn.Module):
    """src/model/mlp.ts: h = in(x) + time2(silu(time1(emb t))); h += block(silu(h)); out(silu(h))."""

    def __init__(self, d, hidden=128, depth=3, time_dim=32):
        super().__init__()
        self.time_dim = time_dim
        self.inp = nn.Linear(d, hidden)
        self.time1 = nn.Linear(time_dim, hidden)
        self.time2 = nn.Linear(hidden, hidden)
        self.blocks = nn.ModuleList([nn.Linear(hidden, hidden) for _ in range(depth)])
        self.out = nn.Linear(hidden, d)

    def forward(self, x, t):
        h = self.inp(x) + self.time2(F.silu(self.time1(time_embedding(t, self.time_dim))))
        for b in self.blocks:
            h = h + b(F.silu(h))
        return self.out(F.silu(h))


def groups_for(c, groups=4):
    g = min(groups, c)
    while c % g:
        g -= 1
    return g


class ResBlock(nn.Module):
    """src/model/unet.ts res(): skip(x) + conv2(silu(GN(conv1(silu(GN(x))) + W temb)))."""

    def __init__(self, cin, cout, emb):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups_for(cin), cin, eps=1e-5)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.time = nn.Linear(emb, cout)
        self.norm2 = nn.GroupNorm(groups_for(cout), cout, eps=1e-5)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, temb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time(F.silu(temb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return (self.skip(x) if self.skip is not None else x) + h


class Attention(nn.Module):
    """Single-head self-attention over the H W positions, residual (unet.ts attn())."""

    def __init__(self, c):
        super().__init__()
        self.norm = nn.GroupNorm(groups_for(c), c, eps=1e-5)
        self.qkv = nn.Linear(c, 3 * c)
        self.out = nn.Linear(c, c)

    def forward(self, x):
        B, C, H, W = x.shape
        h = self.norm(x).flatten(2).transpose(1, 2)  # [B, HW, C]
        q, k, v = self.qkv(h).chunk(3, dim=-1)
        a = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(C), -1)
        o = self.out(a @ v).transpose(1, 2).reshape(B, C, H, W)
        return x + o


class UNet(nn.Module):
    """src/model/unet.ts: in-conv, [res, skip, avg-pool] per level, res-attn-res, [upsample, concat, res], GN-silu-conv."""

    def __init__(self, cin=1, channels=(8, 16, 32), time_dim=64):
        super().__init__()
        L = len(channels)
        emb = 4 * channels[0]
        self.time_dim, self.L = time_dim, L
        self.time1 = nn.Linear(time_dim, emb)
        self.time2 = nn.Linear(emb, emb)
        self.inp = nn.Conv2d(cin, channels[0], 3, padding=1)
        self.down = nn.ModuleList([ResBlock(channels[0] if l == 0 else channels[l - 1], channels[l], emb) for l in range(L)])
        cm = channels[-1]
        self.mid1, self.attn, self.mid2 = ResBlock(cm, cm, emb), Attention(cm), ResBlock(cm, cm, emb)
        self.up = nn.ModuleList([ResBlock(channels[l + 1] + channels[l], channels[l], emb) for l in range(L - 2, -1, -1)])
        self.outnorm = nn.GroupNorm(groups_for(channels[0]), channels[0], eps=1e-5)
        self.out = nn.Conv2d(channels[0], cin, 3, padding=1)

    def forward(self, x, t):
        temb = self.time2(F.silu(self.time1(time_embedding(t, self.time_dim))))
        h = self.inp(x)
        skips = []
        for l, block in enumerate(self.down):
            h = block(h, temb)
            if l < self.L - 1:
                skips.append(h)
                h = F.avg_pool2d(h, 2)
        h = self.mid2(self.attn(self.mid1(h, temb)), temb)
        for block in self.up:
            h = block(torch.cat([F.interpolate(h, scale_factor=2, mode="nearest"), skips.pop()], 1), temb)
        return self.out(F.silu(self.outnorm(h)))


def make():
    if args.model == "mlp":
        return MLP(2)
    return UNet(1, (8, 16, 32) if args.model == "unet" else (28, 56, 112))


B = args.batch
if args.model == "transformer":
    # bench/text_torch.py's Transformer and masking loss (ELBO weighting), on random ids.
    import text_torch

    V, L = 64, 128
    cfg = {"vocab": V, "inputVocab": V + 1, "length": L, "dim": 128, "heads": 4, "layers": 4, "mlpRatio": 4, "timeDim": 64, "window": 2}
    params = text_torch.init_params(cfg, torch.Generator().manual_seed(0))
    for v in params.values():
        v.requires_grad_(True)
    ema_params = {k: v.detach().clone() for k, v in params.items()}
    trainable = list(params.values())
    weights = sum(v.numel() for v in trainable)
    data = torch.randint(V, (2048, L))

    def loss_of_batch():
        x0 = data[torch.randint(len(data), (B,))]
        t = 1 - (torch.rand(1) + torch.arange(B) / B) % 1
        masked = torch.rand(B, L) < t[:, None]
        xt = torch.where(masked, torch.full_like(x0, V), x0)
        ce = F.cross_entropy(text_torch.forward(params, cfg, xt, t).reshape(-1, V), x0.reshape(-1), reduction="none").view(B, L)
        return (ce * masked / t[:, None]).sum() / (B * L)

    ema_pairs = lambda: zip(ema_params.values(), params.values())
else:
    net, ema = make(), make()
    ema.load_state_dict(net.state_dict())
    item = (2,) if args.model == "mlp" else (1, 28, 28)
    trainable = list(net.parameters())
    weights = sum(p.numel() for p in trainable)
    data = torch.rand(10000 if args.model == "mlp" else 2048, *item) * 2 - 1

    def loss_of_batch():
        x0 = data[torch.randint(len(data), (B,))]
        t = 1 - torch.rand(B)  # (0, 1]
        eps = torch.randn_like(x0)
        a, b = a_b(t)
        shape = (B,) + (1,) * len(item)
        xt = a.view(shape) * x0 + b.view(shape) * eps
        v = a.view(shape) * eps - b.view(shape) * x0
        return F.mse_loss(net(xt, t), v)

    ema_pairs = lambda: zip(ema.parameters(), net.parameters())


def train_step(opt):
    loss = loss_of_batch()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    with torch.no_grad():
        for pe, pn in ema_pairs():
            pe.mul_(0.995).add_(pn, alpha=0.005)
    return loss.item()


@torch.no_grad()
def ddpm_step(x, t, s):
    tt = torch.full((x.shape[0],), t)
    at, bt = a_b(torch.tensor(t))
    as_, bs = a_b(torch.tensor(s))
    x0 = (at * x - bt * ema(x, tt)).clamp(-1, 1) if args.model != "mlp" else at * x - bt * ema(x, tt)
    eps = (x - at * x0) / bt
    sigma = (bs / bt) * (bt ** 2 - (at * bs / as_) ** 2).clamp(min=0).sqrt()
    r = 0.0 if bs == 0 else float(sigma / bs)
    return as_ * x0 + bs * (math.sqrt(max(0.0, 1 - r * r)) * eps + r * torch.randn_like(x))


def timed(step, warmup):
    """Steps after the warm-up until the budget is spent: count, wall seconds, CPU ms per step."""
    for _ in range(warmup):
        step()
    n, t0, c0 = 0, time.perf_counter(), time.process_time()
    while True:
        step()
        n += 1
        if time.perf_counter() - t0 >= args.budget:
            return n, time.perf_counter() - t0, (time.process_time() - c0) * 1000 / n


if args.task == "train":
    opt = torch.optim.Adam(trainable, lr=1e-3)
    n, sec, cpu = timed(lambda: train_step(opt), args.warmup)
    result = {"trainStepsPerSec": n / sec, "cpuMsPerStep": cpu}
elif args.model == "transformer":
    raise SystemExit("engine_torch: the transformer is measured on its train step only")
else:
    state = {"x": torch.randn(B, *item), "k": 0}
    steps = 100

    def one():
        k = state["k"] % steps
        state["x"] = ddpm_step(state["x"], 1 - k / steps, 1 - (k + 1) / steps)
        state["k"] += 1

    n, sec, cpu = timed(one, args.warmup)
    result = {"sampleRowsStepsPerSec": B * n / sec, "cpuMsPerStep": cpu}

print(json.dumps({**result, "weights": weights, "peakRssMiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "threads": torch.get_num_threads()}))
