"""PyTorch CPU twin of crates/drift-nn/examples/train_bench.rs (issue 3): the same two
networks, loss, optimiser and batch sizes, timed the same way.

Usage: torch_train.py --model mlp|agm --threads T [--steps N]
Prints one `key=value` line like the Rust bench. Run by benches/torch_compare.sh inside its own
virtual environment (target/bench-venv); never part of CI.
"""

import argparse
import math
import time

import torch
from torch import nn

POOL = 8
SAMPLE_ROWS = 10_000


def sinusoidal(t, dim):
    """drift's TimeFeature::Sinusoidal: [sin(f_k t)..., cos(f_k t)...], f_k geometric 1..100."""
    half = dim // 2
    if half <= 1:
        freqs = torch.ones(1, dtype=torch.float64)
    else:
        freqs = torch.exp(math.log(100.0) * torch.arange(half, dtype=torch.float64) / (half - 1))
    arg = t[:, None] * freqs[None, :]
    return torch.cat([torch.sin(arg), torch.cos(arg)], dim=1).float()


def log1m(t):
    """drift's TimeFeature::Log1m: ln(max(1 - t, 1e-6))."""
    return torch.log(torch.clamp(1.0 - t, min=1e-6))[:, None].float()


class Mlp(nn.Module):
    """[x, emb(t)] -> 3 x 256 SiLU -> 2 (drift Arch::Mlp)."""

    def __init__(self, state_dim=2, out_dim=2, hidden=(256, 256, 256), emb=32):
        super().__init__()
        self.emb = emb
        layers, fan_in = [], state_dim + emb
        for w in hidden:
            layers += [nn.Linear(fan_in, w), nn.SiLU()]
            fan_in = w
        layers.append(nn.Linear(fan_in, out_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, x, t):
        return self.net(torch.cat([x, sinusoidal(t, self.emb)], dim=1))


class ResMlp(nn.Module):
    """AGM's toy ResNet (drift Arch::ResMlp): h = Linear([x, ln(1-t)]), depth blocks
    h <- silu(h + Linear([h, ln(1-t)])), zero-initialised output Linear."""

    def __init__(self, state_dim=4, out_dim=2, width=128, depth=20):
        super().__init__()
        self.inp = nn.Linear(state_dim + 1, width)
        self.blocks = nn.ModuleList([nn.Linear(width + 1, width) for _ in range(depth)])
        self.out = nn.Linear(width, out_dim)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.act = nn.SiLU()

    def forward(self, x, t):
        f = log1m(t)
        h = self.inp(torch.cat([x, f], dim=1))
        for block in self.blocks:
            h = self.act(h + block(torch.cat([h, f], dim=1)))
        return self.out(h)


MODELS = {
    # name: (constructor, state_dim, out_dim, batch, default steps)
    "mlp": (Mlp, 2, 2, 256, 200),
    "agm": (ResMlp, 4, 2, 2048, 20),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=sorted(MODELS), required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--steps", type=int, default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    ctor, sd, od, batch, default_steps = MODELS[args.model]
    steps = args.steps or default_steps
    model = ctor()
    gen = torch.Generator().manual_seed(7)
    t0 = time.perf_counter()
    pool = [
        (
            torch.randn(batch, sd, generator=gen),
            torch.rand(batch, generator=gen, dtype=torch.float64) * 0.999,
            torch.randn(batch, od, generator=gen),
            0.5 + torch.rand(batch, generator=gen),
        )
        for _ in range(POOL)
    ]
    gen_ms = (time.perf_counter() - t0) * 1e3 / POOL
    # drift's OptimConfig default: lr 1e-3, no weight decay; AdamW betas/eps as candle's defaults.
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)

    def step(k):
        x, t, y, w = pool[k % POOL]
        opt.zero_grad(set_to_none=True)
        pred = model(x, t)
        loss = (w[:, None] * (pred - y) ** 2).mean()
        loss.backward()
        opt.step()
        return loss.detach()

    # As the Rust bench: step 1 is warm-up, steps 2..=steps are timed.
    loss = step(0)
    start = time.perf_counter()
    for k in range(1, steps):
        loss = step(k)
    elapsed = time.perf_counter() - start
    loss = loss.item()
    rate = (steps - 1) / elapsed if steps > 1 else float("nan")

    state = ((torch.arange(SAMPLE_ROWS * sd) % 97).float() - 48.0).reshape(SAMPLE_ROWS, sd) / 24.0
    evals = 5 if args.model == "agm" else 20
    with torch.no_grad():
        model(state, torch.full((SAMPLE_ROWS,), 0.5, dtype=torch.float64))
        s0 = time.perf_counter()
        for k in range(evals):
            model(state, torch.full((SAMPLE_ROWS,), k / evals, dtype=torch.float64))
        evals_per_s = evals / (time.perf_counter() - s0)
    params = sum(p.numel() for p in model.parameters())
    print(
        f"model={args.model} backend=torch-{torch.__version__} threads={args.threads} batch={batch} "
        f"params={params} steps={steps} train_steps_per_s={rate:.2f} ms_per_step={1e3 / rate:.3f} "
        f"batch_gen_ms={gen_ms:.3f} final_loss={loss:.6f} sample_rows={SAMPLE_ROWS} "
        f"evals_per_s={evals_per_s:.2f} sample_rows_per_s={evals_per_s * SAMPLE_ROWS:.0f}"
    )


if __name__ == "__main__":
    main()
