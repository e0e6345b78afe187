"""The MLP benchmark of bench/mlp.ts in PyTorch: the same network, data,
Gaussian process (cosine schedule, v objective), Adam + EMA training step
and DDPM sampling loop, on the CPU with one thread. Prints one JSON line.

    python3 bench/mlp_torch.py [--steps 500] [--batch 256] [--hidden 128] [--depth 3] [--samples 2000] [--sample-steps 100]
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
for name, default in [("steps", 500), ("batch", 256), ("hidden", 128), ("depth", 3), ("samples", 2000), ("sample-steps", 100)]:
    p.add_argument(f"--{name}", type=int, default=default)
args = p.parse_args()
torch.set_num_threads(1)  # jax-js on Wasm runs on one thread
torch.manual_seed(0)


def cosine_a2(t, s=0.008):
    f = lambda u: torch.cos((u + s) / (1 + s) * math.pi / 2) ** 2
    return (f(t) / f(torch.zeros(()))).clamp(0, 1)


def a_b(t):
    a2 = cosine_a2(t)
    return a2.sqrt(), (1 - a2).clamp(min=0).sqrt()


def time_embedding(t, dim=32, scale=1000.0, max_period=10000.0):
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half) / half)
    arg = scale * t[:, None] * freqs[None, :]
    return torch.cat([torch.sin(arg), torch.cos(arg)], 1)


class MLP(nn.Module):
    """src/model/mlp.ts: h = in(x) + time2(silu(time1(emb t))); h += block(silu(h)); out(silu(h))."""

    def __init__(self, d, hidden, depth):
        super().__init__()
        self.inp = nn.Linear(d, hidden)
        self.time1 = nn.Linear(32, hidden)
        self.time2 = nn.Linear(hidden, hidden)
        self.blocks = nn.ModuleList([nn.Linear(hidden, hidden) for _ in range(depth)])
        self.out = nn.Linear(hidden, d)

    def forward(self, x, t):
        h = self.inp(x) + self.time2(F.silu(self.time1(time_embedding(t))))
        for b in self.blocks:
            h = h + b(F.silu(h))
        return self.out(F.silu(h))


def moons(n, g):
    upper = torch.rand(n, generator=g) < 0.5
    th = math.pi * torch.rand(n, generator=g)
    x = torch.where(upper, torch.cos(th), 1 - torch.cos(th))
    y = torch.where(upper, torch.sin(th), 0.5 - torch.sin(th))
    x = (x - 0.5 + 0.05 * torch.randn(n, generator=g)) / 0.87
    y = (y - 0.25 + 0.05 * torch.randn(n, generator=g)) / 0.5
    return torch.stack([x, y], 1)


g = torch.Generator().manual_seed(0)
data = moons(10000, g)
net = MLP(2, args.hidden, args.depth)
ema = MLP(2, args.hidden, args.depth)
ema.load_state_dict(net.state_dict())
opt = torch.optim.Adam(net.parameters(), lr=1e-3)
perm, cursor = torch.randperm(len(data)), 0


def train_step():
    global perm, cursor
    if cursor + args.batch > len(data):
        perm, cursor = torch.randperm(len(data)), 0
    x0 = data[perm[cursor:cursor + args.batch]]
    cursor += args.batch
    t = 1 - torch.rand(args.batch)  # (0, 1]
    eps = torch.randn_like(x0)
    a, b = a_b(t)
    xt = a[:, None] * x0 + b[:, None] * eps
    v = a[:, None] * eps - b[:, None] * x0
    loss = F.mse_loss(net(xt, t), v)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    with torch.no_grad():
        for pe, pn in zip(ema.parameters(), net.parameters()):
            pe.mul_(0.999).add_(pn, alpha=0.001)
    return loss.item()


for _ in range(20):
    train_step()
t0 = time.perf_counter()
losses = [train_step() for _ in range(args.steps)]
train_sec = time.perf_counter() - t0


@torch.no_grad()
def sample_ddpm(n, steps):
    x = torch.randn(n, 2)
    grid = [1 - i / steps for i in range(steps + 1)]
    for t, s in zip(grid[:-1], grid[1:]):
        tt = torch.full((n,), t)
        at, bt = a_b(torch.tensor(t))
        as_, bs = a_b(torch.tensor(s))
        x0 = at * x - bt * ema(x, tt)  # v -> x0
        eps = (x - at * x0) / bt
        sigma = (bs / bt) * (bt ** 2 - (at * bs / as_) ** 2).clamp(min=0).sqrt()
        r = 0.0 if bs == 0 else float(sigma / bs)
        x = as_ * x0 + bs * (math.sqrt(max(0.0, 1 - r * r)) * eps + r * torch.randn_like(x))
    return x


sample_ddpm(args.samples, 2)
t1 = time.perf_counter()
sample_ddpm(args.samples, args.sample_steps)
sample_sec = time.perf_counter() - t1

print(json.dumps({
    "trainStepsPerSec": args.steps / train_sec,
    "sampleRowsStepsPerSec": args.samples * args.sample_steps / sample_sec,
    "peakRssMiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "finalLoss": sum(losses[-50:]) / 50,
}))
