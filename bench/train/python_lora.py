"""Plain PyTorch-eager LoRA classification loop: the baseline for bench_train.

Same architecture as mcip's decoder (Llama: RMSNorm, RoPE rotate-half, grouped-query attention
with an explicit mask since torch 1.13 has no SDPA, SiLU MLP, last-token pooling, score head),
LoRA on the targeted linears in the blocks (all by default), AdamW on adapters + head, bf16 autocast on CPU. Reads the
batches (lengths) bench_train wrote and prints one JSON line with tokens/s and peak RSS.
Run with Debian's /usr/bin/python3 (python3-torch)."""
import json
import math
import resource
import sys
import time

import torch
import torch.nn.functional as F


class LoraLinear(torch.nn.Module):
    """A frozen linear, with a LoRA adapter when `rank` > 0 (the module is a LoRA target)."""

    def __init__(self, d_in, d_out, rank, alpha):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(d_out, d_in) * 0.02, requires_grad=False)
        self.rank = rank
        if rank > 0:
            self.A = torch.nn.Parameter(torch.empty(rank, d_in).uniform_(-1 / math.sqrt(d_in), 1 / math.sqrt(d_in)))
            self.B = torch.nn.Parameter(torch.zeros(d_out, rank))
            self.scale = alpha / rank

    def forward(self, x):
        if self.rank == 0:
            return F.linear(x, self.weight)
        return F.linear(x, self.weight) + F.linear(F.linear(x, self.A), self.B) * self.scale


def rms_norm(x, w, eps):
    x32 = x.float()
    return w * (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype)


def rope(x, cos, sin):
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], -1)
    return x * cos.to(x.dtype) + rotated * sin.to(x.dtype)


class Layer(torch.nn.Module):
    def __init__(self, c, rank, alpha, targets):
        super().__init__()
        h, hd = c["hidden"], c["head_dim"]
        self.nh, self.nkv, self.hd, self.eps = c["heads"], c["kv_heads"], hd, c["rms_norm_eps"]
        self.ln1 = torch.nn.Parameter(torch.ones(h), requires_grad=False)
        self.ln2 = torch.nn.Parameter(torch.ones(h), requires_grad=False)

        def linear(name, d_in, d_out):
            targeted = "all-linear" in targets or name in targets
            return LoraLinear(d_in, d_out, rank if targeted else 0, alpha)

        self.q = linear("q_proj", h, self.nh * hd)
        self.k = linear("k_proj", h, self.nkv * hd)
        self.v = linear("v_proj", h, self.nkv * hd)
        self.o = linear("o_proj", self.nh * hd, h)
        self.gate = linear("gate_proj", h, c["inter"])
        self.up = linear("up_proj", h, c["inter"])
        self.down = linear("down_proj", c["inter"], h)

    def forward(self, x, cos, sin, bias):
        b, t, _ = x.shape
        y = rms_norm(x, self.ln1, self.eps)
        q = self.q(y).view(b, t, self.nh, self.hd).transpose(1, 2)
        k = self.k(y).view(b, t, self.nkv, self.hd).transpose(1, 2)
        v = self.v(y).view(b, t, self.nkv, self.hd).transpose(1, 2)
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        k = k.repeat_interleave(self.nh // self.nkv, dim=1)
        v = v.repeat_interleave(self.nh // self.nkv, dim=1)
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(self.hd)
        probs = torch.softmax(scores.float() + bias, -1).to(v.dtype)
        a = (probs @ v).transpose(1, 2).reshape(b, t, -1)
        x = x + self.o(a)
        y = rms_norm(x, self.ln2, self.eps)
        return x + self.down(F.silu(self.gate(y)) * self.up(y))


class Model(torch.nn.Module):
    def __init__(self, c, rank, alpha, targets, labels):
        super().__init__()
        self.embed = torch.nn.Parameter(torch.randn(c["vocab"], c["hidden"]) * 0.02, requires_grad=False)
        self.layers = torch.nn.ModuleList([Layer(c, rank, alpha, targets) for _ in range(c["layers"])])
        self.norm = torch.nn.Parameter(torch.ones(c["hidden"]), requires_grad=False)
        self.score = torch.nn.Parameter(torch.randn(labels, c["hidden"]) * 0.02)
        hd = c["head_dim"]
        self.eps = c["rms_norm_eps"]
        self.register_buffer("inv_freq", 1.0 / (c["rope_theta"] ** (torch.arange(0, hd, 2).float() / hd)))

    def forward(self, ids, mask):
        b, t = ids.shape
        pos = (mask.cumsum(1) - 1).clamp(min=0).float()
        freqs = pos.unsqueeze(-1) * self.inv_freq
        emb = torch.cat([freqs, freqs], -1)
        cos, sin = emb.cos().unsqueeze(1), emb.sin().unsqueeze(1)
        causal = torch.ones(t, t, dtype=torch.bool).tril()
        allowed = causal.unsqueeze(0) & mask.bool().unsqueeze(1)
        bias = torch.zeros(b, t, t).masked_fill(~allowed, torch.finfo(torch.float32).min).unsqueeze(1)
        x = F.embedding(ids, self.embed)
        for layer in self.layers:
            x = layer(x, cos, sin, bias)
        x = rms_norm(x, self.norm, self.eps)
        last = mask.sum(1) - 1
        pooled = x[torch.arange(b), last]
        return F.linear(pooled.to(self.score.dtype) if not torch.is_autocast_cpu_enabled() else pooled, self.score).float()


def main():
    spec = json.load(open(sys.argv[1]))
    torch.set_num_threads(spec["threads"])
    torch.manual_seed(spec["seed"])
    c = spec["model"]
    model = Model(c, spec["rank"], spec["alpha"], spec["targets"], 11)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-3)
    gen = torch.Generator().manual_seed(spec["seed"])

    def step(lengths):
        t = max(lengths)
        ids = torch.randint(4, c["vocab"], (len(lengths), t), generator=gen)
        mask = torch.zeros(len(lengths), t, dtype=torch.long)
        for i, n in enumerate(lengths):
            mask[i, :n] = 1
        labels = torch.randint(0, 11, (len(lengths),), generator=gen)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=spec["bf16"]):
            logits = model(ids, mask)
        loss = F.cross_entropy(logits, labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad()
        return sum(lengths)

    for lengths in spec["batches"][: spec["warmup"]]:
        step(lengths)
    # CPU time of this process on request (bench_train --clock cpu), else wall time.
    clock = time.process_time if spec.get("clock") == "cpu" else time.perf_counter
    start, tokens, step_seconds = clock(), 0, []
    for lengths in spec["batches"][spec["warmup"]:]:
        t0 = clock()
        tokens += step(lengths)
        step_seconds.append(clock() - t0)
    dt = clock() - start
    print(json.dumps({"tokens": tokens, "seconds": dt, "tokens_per_s": tokens / dt, "step_seconds": step_seconds,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
