"""The PyTorch twin of the masking-diffusion and block-diffusion text models of bench/text.ts.

Same network as src/model/transformer.ts (token + neighbour + position
embeddings, sinusoidal time conditioning, pre-LN blocks with tanh-GELU and
optional ALiBi biases,
zero-initialised output; the weights carry the SAME names and shapes, so
the trained weights load into the jax-js Transformer), the same masking
process (linear m(t) = t, t ~ U(0, 1]), the same loss weighting ("mean" or
"elbo"), Adam with linear warm-up, and an EMA of the weights. It trains for a
wall-clock budget and writes the EMA weights as safetensors; bench/text.ts
then scores them with the project's own bits/char and word-share code, so
both models are measured by one code path.

--block B > 0 makes it the twin of block diffusion (`udm train --process
block --block B`, src/processes/block.ts, src/text/block.ts): the network
reads [x_t, x0] (2L ids) under block-causal attention and has no time input,
and training masks every block at one local time (BD3-LM's vectorised form).

    /usr/bin/python3 bench/text_torch.py --data DIR --out weights.safetensors [--seconds 1200] [--threads 2]
        [--dim 128] [--layers 4] [--heads 4] [--window 2] [--alibi false] [--batch 32] [--lr 2e-3] [--warmup 100] [--lr-schedule constant] [--ema 0.995] [--weighting mean] [--block 0]
    /usr/bin/python3 bench/text_torch.py --check DIR   (random weights + logits for the equality test)

DIR holds what bench/text.ts wrote: train.f32 (token ids as float32, [N, L])
and meta.json ({"vocab": V, "length": L}). Prints one JSON line.
"""
import argparse
import json
import math
import os
import struct
import time

import pin_threads  # noqa: E402 (before torch: see pin_threads.py)
pin_threads.pin(2)
import torch
import torch.nn.functional as F


def time_embedding(t, dim, scale=1000.0, max_period=10000.0):
    """src/model/time-embedding.ts: [sin(s f_i)..., cos(s f_i)...], s = 1000 t, f_i = 10000^(-i/half)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
    arg = scale * t[:, None] * freqs[None, :]
    return torch.cat([torch.sin(arg), torch.cos(arg)], 1)


def offsets_of(window):
    """Neighbour offsets d of x_{i+d}: -window..-1, 1..window (the order of transformer.ts)."""
    return [d for d in range(-window, window + 1) if d != 0]


def init_params(cfg, g):
    """transformer.ts init: N(0,1) token tables, N(0, 0.25) positions, LeCun-normal dense layers, small residual outputs, zero output layer."""
    V, Vin, L, D, layers, ratio, tdim, window = (cfg[k] for k in ("vocab", "inputVocab", "length", "dim", "layers", "mlpRatio", "timeDim", "window"))
    p = {}
    randn = lambda *shape: torch.randn(*shape, generator=g)
    p["tok.emb"] = randn(Vin, D)
    p["pos.emb"] = 0.5 * randn(L, D)
    if window > 0:
        p["near.emb"] = randn(2 * window * Vin, D)

    def dense(name, fan_in, fan_out, scale=1.0):
        p[f"{name}.w"] = randn(fan_in, fan_out) * (scale / math.sqrt(fan_in))
        p[f"{name}.b"] = torch.zeros(fan_out)

    def ln(name):
        p[f"{name}.g"] = torch.ones(D)
        p[f"{name}.b"] = torch.zeros(D)

    if not cfg.get("block"):  # the block network has no time input (it reads its level from the [MASK] count)
        dense("time1", tdim, D)
        dense("time2", D, D)
    res = 1 / math.sqrt(2 * max(1, layers))
    for k in range(layers):
        ln(f"block{k}.ln1")
        for w in ("q", "k", "v"):
            dense(f"block{k}.{w}", D, D)
        dense(f"block{k}.o", D, D, res)
        ln(f"block{k}.ln2")
        dense(f"block{k}.mlp1", D, ratio * D)
        dense(f"block{k}.mlp2", ratio * D, D, res)
    ln("final.ln")
    dense("out", D, V, 0.0)
    return p


def forward(p, cfg, x, t):
    """Logits [B, L, V] of ids x [B, L] (long) at times t [B]: transformer.ts's apply, term by term."""
    if cfg.get("block"):
        return forward_block(p, cfg, x)
    Vin, L, D, tdim, window = (cfg[k] for k in ("inputVocab", "length", "dim", "timeDim", "window"))
    B = x.shape[0]
    h = p["tok.emb"][x]
    if window > 0:
        near = p["near.emb"].view(2 * window, Vin, D)
        for j, d in enumerate(offsets_of(window)):
            e = near[j][x]  # E_d[x_i], to be shifted so position i gets E_d[x_{i+d}] (zero outside the chunk)
            zeros = e.new_zeros(B, abs(d), D)
            h = h + (torch.cat([e[:, d:], zeros], 1) if d > 0 else torch.cat([zeros, e[:, : L + d]], 1))
    h = h + p["pos.emb"][None]
    lin = lambda name, z: z @ p[f"{name}.w"] + p[f"{name}.b"]
    h = h + lin("time2", F.silu(lin("time1", time_embedding(t, tdim))))[:, None]
    return encoder(p, cfg, h, alibi_bias(L, cfg["heads"]) if cfg.get("alibi") else None)


def forward_block(p, cfg, x):
    """The block network (transformer.ts applyBlock): ids x [B, 2L] = (noisy x_t, clean x0), logits [B, L, V] for the noisy half.
    A noisy token's neighbour is noisy in its own block, clean in an earlier one, absent in a later one; a clean
    token's neighbour is clean in its own or an earlier block (BD3-LM's vectorised block-causal form)."""
    Vin, L, D, window, Bk = (cfg[k] for k in ("inputVocab", "length", "dim", "window", "block"))
    noisy, clean = x[:, :L], x[:, L:]
    h = p["tok.emb"][x]
    if window > 0:
        near = p["near.emb"].view(2 * window, Vin, D)
        i = torch.arange(L)
        for j, d in enumerate(offsets_of(window)):
            src = (i + d).clamp(0, L - 1)  # position i reads x_{i+d}, kept only where the rule and the chunk allow
            inside = (i + d >= 0) & (i + d < L)
            keep = lambda ok: (inside & ok).float()[None, :, None]
            en, ec = near[j][noisy][:, src], near[j][clean][:, src]
            from_noisy = en * keep(src // Bk == i // Bk) + ec * keep(src // Bk < i // Bk)
            from_clean = ec * keep(src // Bk <= i // Bk)
            h = h + torch.cat([from_noisy, from_clean], 1)
    h = h + torch.cat([p["pos.emb"], p["pos.emb"]], 0)[None]
    return encoder(p, cfg, h, block_bias(L, Bk, cfg["heads"], bool(cfg.get("alibi"))))[:, :L]


def encoder(p, cfg, h, bias):
    """transformer.ts encoderBlocks (pre-LN attention + tanh-GELU MLP, an additive attention bias) and the output layer."""
    D, H, layers = cfg["dim"], cfg["heads"], cfg["layers"]
    B, N = h.shape[0], h.shape[1]
    lin = lambda name, z: z @ p[f"{name}.w"] + p[f"{name}.b"]
    norm = lambda name, z: F.layer_norm(z, (D,), p[f"{name}.g"], p[f"{name}.b"], 1e-5)
    Dh = D // H
    for k in range(layers):
        a = norm(f"block{k}.ln1", h)
        heads = lambda w: lin(f"block{k}.{w}", a).view(B, N, H, Dh).transpose(1, 2)
        q, kk, v = heads("q"), heads("k"), heads("v")
        scores = q @ kk.transpose(-1, -2) / math.sqrt(Dh)
        if bias is not None:
            scores = scores + bias
        att = torch.softmax(scores, -1) @ v
        h = h + lin(f"block{k}.o", att.transpose(1, 2).reshape(B, N, D))
        h = h + lin(f"block{k}.mlp2", F.gelu(lin(f"block{k}.mlp1", norm(f"block{k}.ln2", h)), approximate="tanh"))
    return lin("out", norm("final.ln", h))


def block_bias(L, Bk, H, alibi):
    """transformer.ts blockAttentionBias [H, 2L, 2L]: a noisy query of block b sees noisy keys of block b and clean
    keys of blocks < b; a clean query sees clean keys of blocks <= b; -1e9 elsewhere; ALiBi over positions mod L."""
    n = torch.arange(2 * L)
    pos, is_noisy = n % L, n < L
    blk = pos // Bk
    bq, bk = blk[:, None], blk[None, :]
    seen = torch.where(is_noisy[:, None], torch.where(is_noisy[None, :], bk == bq, bk < bq), ~is_noisy[None, :] & (bk <= bq))
    slopes = torch.tensor([2.0 ** (-8 * (h + 1) / H) for h in range(H)]) if alibi else torch.zeros(1)
    dist = (pos[:, None] - pos[None, :]).abs().float()
    return torch.where(seen[None], -slopes[:, None, None] * dist[None], torch.tensor(-1e9))


def alibi_bias(L, H):
    """transformer.ts attentionBias: head h = 1..H adds -2^(-8h/H) |i - j|."""
    pos = torch.arange(L, dtype=torch.float32)
    slopes = torch.tensor([2.0 ** (-8 * (h + 1) / H) for h in range(H)])
    return -slopes[:, None, None] * (pos[:, None] - pos[None, :]).abs()[None]


def save_safetensors(path, tensors, metadata=None):
    """The safetensors layout of src/train/safetensors.ts (F32, little-endian, 8-byte aligned data)."""
    header, offset, blobs = {}, 0, []
    if metadata:
        header["__metadata__"] = metadata
    for name in sorted(tensors):
        a = tensors[name].detach().contiguous().float().numpy().astype("<f4")
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
        blobs.append(a.tobytes())
    js = json.dumps(header, separators=(",", ":"))
    js += " " * ((8 - (8 + len(js.encode())) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(js.encode())))
        f.write(js.encode())
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def config(meta, a):
    V, L = meta["vocab"], meta["length"]
    return {"vocab": V, "inputVocab": V + 1, "length": L, "dim": a.dim, "heads": a.heads, "layers": a.layers, "mlpRatio": 4, "timeDim": 64, "window": a.window, **({"alibi": True} if a.alibi == "true" else {}), **({"block": a.block} if a.block > 0 else {})}


def check(a):
    """Random weights (output layer too) and their logits on fixed inputs, for test/text-torch.test.ts."""
    meta = json.load(open(os.path.join(a.check, "meta.json")))
    cfg = config(meta, a)
    g = torch.Generator().manual_seed(1)
    p = init_params(cfg, g)
    p["out.w"] = torch.randn(cfg["dim"], cfg["vocab"], generator=g)
    x = torch.randint(0, cfg["inputVocab"], (3, (2 if cfg.get("block") else 1) * cfg["length"]), generator=g)
    t = torch.tensor([0.05, 0.5, 0.97])
    # The training loss of a data batch at fixed times and uniforms, both weightings.
    x0 = torch.randint(0, cfg["vocab"], (3, cfg["length"]), generator=g)
    tl = torch.tensor([0.33, 0.5, 0.97])
    u = torch.rand(3, cfg["length"], generator=g)
    with torch.no_grad():
        logits = forward(p, cfg, x, t)
        losses = {f"loss.{w}": loss_of(p, cfg, w, x0, tl, u).reshape(1) for w in ("mean", "elbo")}
    save_safetensors(os.path.join(a.check, "weights.safetensors"), p)
    save_safetensors(os.path.join(a.check, "io.safetensors"), {"x": x.float(), "t": t, "logits": logits, "x0": x0.float(), "tl": tl, "u": u, **losses})
    print(json.dumps({"config": cfg, "weights": sum(v.numel() for v in p.values())}))


def loss_of(p, cfg, weighting, x0, t, u):
    """The training loss of a batch x0 [B, L] at global times t [B] with uniforms u [B, L] (src/text/objective.ts,
    src/text/block.ts): position i is [MASK] iff u_i < m(t), linear m(t) = t; "mean": the mean cross-entropy over
    the masked positions; "elbo": each weighs m'(t)/m(t) = 1/t, summed and divided by the characters."""
    V, L = cfg["vocab"], cfg["length"]
    if cfg.get("block"):
        # Every block at one local time tau = K t - ceil(K t) + 1 in (0, 1]; the network reads [x_t, x0].
        K = L // cfg["block"]
        t = K * t - torch.ceil(K * t) + 1
    masked = (u < t[:, None]) | (t[:, None] >= 1)
    xt = torch.where(masked, torch.full_like(x0, V), x0)  # [MASK] = V
    inputs = torch.cat([xt, x0], 1) if cfg.get("block") else xt
    ce = F.cross_entropy(forward(p, cfg, inputs, t).reshape(-1, V), x0.reshape(-1), reduction="none").view(x0.shape)
    if weighting == "elbo":
        return (ce * masked / t[:, None]).sum() / x0.numel()
    return (ce * masked).sum() / masked.sum().clamp(min=1e-12)


def learning_rate(a, step, elapsed):
    """src/train/lr.ts for a run bounded by a.seconds: linear warm-up, then constant or a decay to 0 at the budget's end."""
    if a.warmup > 0 and step <= a.warmup:
        return a.lr * step / a.warmup
    p = min(1.0, elapsed / a.seconds)
    schedule = getattr(a, "lr_schedule", "constant")  # bench/images_torch.py shares fit() without the flag
    if schedule == "cosine":
        return a.lr * (1 + math.cos(math.pi * p)) / 2
    if schedule == "linear":
        return a.lr * (1 - p)
    return a.lr


def fit(p, g, data, batch_loss, a, name):
    """The training loop shared by the PyTorch twins (train.ts's): epoch shuffling, Adam with linear warm-up,
    an EMA of the weights, a stop on a non-finite loss; runs for a.seconds of wall clock.
    g is the random generator (after the weights' init); batch_loss(x0, g) is the loss of a batch of data rows.
    Returns (ema, losses, steps, seconds)."""
    for v in p.values():
        v.requires_grad_(True)
    ema = {k: v.detach().clone() for k, v in p.items()}
    opt = torch.optim.Adam(p.values(), lr=a.lr, betas=(0.9, 0.999), eps=1e-8)
    N = data.shape[0]
    losses, step, order, cursor = [], 0, torch.randperm(N, generator=g), 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < a.seconds:
        if cursor + a.batch > N:
            order, cursor = torch.randperm(N, generator=g), 0
        x0 = data[order[cursor : cursor + a.batch]]
        cursor += a.batch
        loss = batch_loss(x0, g)
        step += 1
        for group in opt.param_groups:
            group["lr"] = learning_rate(a, step, time.perf_counter() - t0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            for k, v in p.items():
                ema[k].mul_(a.ema).add_(v.detach(), alpha=1 - a.ema)
        lv = loss.item()
        if not math.isfinite(lv):
            raise SystemExit(f"{name}: loss is {lv} at step {step}; lower --lr (now {a.lr})")
        losses.append(lv)
    return ema, losses, step, time.perf_counter() - t0


def train(a):
    torch.set_num_threads(a.threads)
    meta = json.load(open(os.path.join(a.data, "meta.json")))
    cfg = config(meta, a)
    V, L = cfg["vocab"], cfg["length"]
    ids = torch.from_numpy(__import__("numpy").fromfile(os.path.join(a.data, "train.f32"), dtype="<f4")).long().view(-1, L)
    g = torch.Generator().manual_seed(a.seed)
    p = init_params(cfg, g)

    def batch_loss(x0, g):
        if a.weighting == "elbo":  # stratified, as --weighting elbo draws it: one shift per batch, row b in stratum b
            t = 1 - (torch.rand(1, generator=g) + torch.arange(a.batch) / a.batch) % 1
        else:
            t = 1 - torch.rand(a.batch, generator=g)  # U(0, 1], as train.ts draws it
        return loss_of(p, cfg, a.weighting, x0, t, torch.rand(a.batch, L, generator=g))

    ema, losses, step, seconds = fit(p, g, ids, batch_loss, a, "text_torch")
    save_safetensors(a.out, ema, {"config": json.dumps(cfg), "steps": str(step)})
    tail = losses[-100:]
    print(json.dumps({"steps": step, "seconds": seconds, "weights": sum(v.numel() for v in ema.values()), "lastLoss": sum(tail) / max(1, len(tail)), "threads": a.threads, "config": cfg, "losses": losses[:: max(1, len(losses) // 500)]}))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--data")
    ap.add_argument("--out")
    ap.add_argument("--check")
    ap.add_argument("--seconds", type=float, default=1200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    for name, default in [("dim", 128), ("layers", 4), ("heads", 4), ("window", 2), ("batch", 32), ("warmup", 100), ("block", 0)]:
        ap.add_argument(f"--{name}", type=int, default=default)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--ema", type=float, default=0.995)
    ap.add_argument("--lr-schedule", choices=["constant", "cosine", "linear"], default="constant")
    ap.add_argument("--alibi", choices=["true", "false"], default="false")
    ap.add_argument("--weighting", choices=["mean", "elbo"], default="mean")
    a = ap.parse_args()
    if a.check:
        check(a)
    elif a.data and a.out:
        train(a)
    else:
        ap.error("give --data DIR --out FILE to train, or --check DIR")
