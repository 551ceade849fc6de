#!/usr/bin/python3
"""One IMA training iteration in plain PyTorch, the reference for bench/ImaIterationBenchmark.cpp.

The same 2D U-Net as src/core/UNet.cpp (nnU-Net's PlainConvUNet shape: per stage 2 x (conv 3x3,
InstanceNorm affine, LeakyReLU 0.01), stride-2 first conv below the top stage, stride-2
transposed-conv upsampling, concatenated skips, 1x1 head; He init), the same batch (16 disc
slices of 64 x 64, the same formula and noise seed), the same 40 pre-training iterations, and the
same iteration: clean forward in train mode, then in eval mode PGD-K in each sample's L2 ball
(random start, step 4 eps / K, per-sample Dice+CE attack loss) tracking the last correct and first
wrong iterate (max foreground hard Dice >= 0.6), B no-grad bisection steps, an adversarial forward
in train mode, loss 0.5 clean + 0.5 adversarial (Dice+CE), backward, Adam step. Standard and
PGD-AT iterations are timed alongside, alternating, medians over the repeats. With --lean the IMA
iteration also does what the C++ trainer does to save work: a sample that was correct leaves the PGD
once it has crossed, and only the crossed samples are bisected.

Run with Debian's python3-torch: /usr/bin/python3 bench/ima_iteration.py [--threads 1] ...
"""
import argparse
import os
import time

import torch
import torch.nn.functional as F
from torch import nn


def conv_block(cin, cout, first_stride):
    layers = []
    for i in range(2):
        layers += [nn.Conv2d(cin if i == 0 else cout, cout, 3, stride=first_stride if i == 0 else 1, padding=1),
                   nn.InstanceNorm2d(cout, affine=True),
                   nn.LeakyReLU(0.01, inplace=True)]
    return nn.Sequential(*layers)


class UNet2d(nn.Module):
    def __init__(self, in_channels=1, classes=3, base=16, stages=4, max_features=320):
        super().__init__()
        features = [min(base * 2 ** s, max_features) for s in range(stages)]
        self.encoder = nn.ModuleList()
        cin = in_channels
        for s, f in enumerate(features):
            self.encoder.append(conv_block(cin, f, 1 if s == 0 else 2))
            cin = f
        self.up = nn.ModuleList()
        self.decoder = nn.ModuleList()
        for s in range(stages - 2, -1, -1):
            self.up.append(nn.ConvTranspose2d(features[s + 1], features[s], 2, stride=2))
            self.decoder.append(conv_block(2 * features[s], features[s], 1))
        self.head = nn.Conv2d(features[0], classes, 1)
        for name, p in self.named_parameters():
            with torch.no_grad():
                if name.endswith("bias"):
                    p.zero_()
                elif p.dim() >= 3:
                    nn.init.kaiming_normal_(p, a=0.01, mode="fan_in", nonlinearity="leaky_relu")
                else:
                    p.fill_(1.0)

    def forward(self, x):
        skips = []
        for stage in self.encoder:
            x = stage(x)
            skips.append(x)
        for i, (up, dec) in enumerate(zip(self.up, self.decoder)):
            x = dec(torch.cat([up(x), skips[len(skips) - 2 - i]], 1))
        return self.head(x)


def load_cpp_parameters(model, path):
    """Raw float32 parameters in the C++ U-Net's order: the encoder stages, then per decoder level
    (deepest first) the upsampling and the decoder block, then the head."""
    ordered = list(model.encoder.parameters())
    for up, dec in zip(model.up, model.decoder):
        ordered += list(up.parameters()) + list(dec.parameters())
    ordered += list(model.head.parameters())
    values = torch.from_file(path, size=sum(p.numel() for p in ordered), dtype=torch.float32)
    if values.numel() * 4 != os.path.getsize(path):
        raise SystemExit(f"{path}: {os.path.getsize(path)} bytes, the U-Net has {values.numel()} parameters")
    offset = 0
    with torch.no_grad():
        for p in ordered:
            p.copy_(values[offset:offset + p.numel()].view_as(p))
            offset += p.numel()


def disc_batch(n, size):
    yy = torch.arange(size).view(size, 1).float()
    xx = torch.arange(size).view(1, size).float()
    labels = torch.zeros(n, size, size, dtype=torch.long)
    for i in range(n):
        c1y, c1x = 18 + (i * 7) % 20, 18 + (i * 13) % 20
        c2y, c2x = 46 - (i * 5) % 12, 46 - (i * 11) % 12
        labels[i][((yy - c1y) ** 2 + (xx - c1x) ** 2) < 144] = 1
        labels[i][((yy - c2y) ** 2 + (xx - c2x) ** 2) < 49] = 2
    torch.manual_seed(11)
    image = labels.float() + 0.3 * torch.randn(n, size, size) - 0.5
    return image.unsqueeze(1), labels


def soft_dice(logits, target, per_sample, smooth=1e-5):
    p = torch.softmax(logits, 1)
    onehot = torch.zeros_like(p).scatter_(1, target.unsqueeze(1), 1.0)
    dims = list(range(2, logits.dim())) if per_sample else [0] + list(range(2, logits.dim()))
    pf, tf = p[:, 1:], onehot[:, 1:]
    return (2 * (pf * tf).sum(dims) + smooth) / (pf.sum(dims) + tf.sum(dims) + smooth)


def task_loss(logits, target):  # nnU-Net's Dice+CE with batch Dice
    return F.cross_entropy(logits, target) + (1 - soft_dice(logits, target, False).mean())


def attack_loss(logits, target):  # per sample: CE over pixels + 1 - mean foreground soft Dice
    ce = F.cross_entropy(logits, target, reduction="none").flatten(1).mean(1)
    return ce + (1 - soft_dice(logits, target, True).mean(1))


def is_correct(logits, target, tau=0.6):  # max over foreground classes of hard Dice >= tau
    pred = logits.argmax(1).flatten(1)
    t = target.flatten(1)
    dice = []
    for k in range(1, logits.shape[1]):
        pk, tk = pred == k, t == k
        den = (pk.sum(1) + tk.sum(1)).float()
        dice.append(torch.where(den > 0, 2 * (pk & tk).sum(1).float() / den.clamp_min(1),
                                torch.full_like(den, float("nan"))))
    dice = torch.stack(dice, 1)
    present = ~torch.isnan(dice)
    best = torch.where(present, dice, torch.zeros_like(dice)).amax(1)
    return torch.where(present.any(1), best >= tau, torch.ones_like(best, dtype=torch.bool))


def per_sample(v, like):
    return v.view(-1, *([1] * (like.dim() - 1)))


def l2_norms(t):
    return t.flatten(1).norm(dim=1)


def project(delta, eps):
    return delta * per_sample((eps / l2_norms(delta).clamp_min(1e-30)).clamp_max(1.0), delta)


def random_start(x, eps, gen):
    g = torch.randn(x.shape, generator=gen)
    direction = g / per_sample(l2_norms(g).clamp_min(1e-30), g)
    d = x[0].numel()
    radius = torch.rand(x.shape[0], generator=gen, dtype=torch.double).pow(1.0 / d).float()
    return project(direction * per_sample(radius * eps, x), eps)


def rows_of(t, rows):
    return t if rows is None else t[rows]


def put_rows(t, rows, value):
    if rows is None:
        return value
    t = t.clone()
    t[rows] = value
    return t


def pgd(model, x, y, eps, steps, alpha, gen, on_iterate=None, finished=None):
    """PGD-K with random start. on_iterate(rows, xadv, logits) sees every iterate of the samples
    still attacked (rows: their batch indices, None for all); finished() -> bool [N] retires
    samples (--lean)."""
    step = alpha * eps / steps
    delta = random_start(x, eps, gen)
    rows = None

    def retire():
        nonlocal rows
        done = finished()
        if rows is None and not done.any():
            return True
        rows = (~done).nonzero().squeeze(1) if rows is None else rows[~done[rows]]
        return rows.numel() > 0

    for _ in range(steps):
        if finished and not retire():
            return (x + delta).detach()
        xadv = (rows_of(x, rows) + rows_of(delta, rows)).detach().requires_grad_(True)
        logits = model(xadv)
        loss = attack_loss(logits, rows_of(y, rows))
        grad, = torch.autograd.grad(loss.sum(), xadv)
        if on_iterate:
            on_iterate(rows, xadv.detach(), logits.detach())
        d = rows_of(delta, rows) + per_sample(rows_of(step, rows), grad) * grad / per_sample(
            l2_norms(grad).clamp_min(1e-30), grad)
        delta = put_rows(delta, rows, project(d, rows_of(eps, rows)))
    if finished and not retire():
        return (x + delta).detach()
    if on_iterate:
        with torch.no_grad():
            xadv = (rows_of(x, rows) + rows_of(delta, rows)).detach()
            on_iterate(rows, xadv, model(xadv))
    return (x + delta).detach()


def ima_loss(model, x, y, eps, steps, bisection_steps, gen, margins, lean):
    logits = model(x)
    model.eval()
    clean_correct = is_correct(logits.detach(), y)
    state = {"last_correct": x.clone(), "first_wrong": x.clone(),
             "wrong_seen": torch.zeros(x.shape[0], dtype=torch.bool)}

    def track(rows, xadv, out):
        ok = is_correct(out, rows_of(y, rows))
        seen = rows_of(state["wrong_seen"], rows)
        fresh = ~ok & ~seen
        for key, mask in (("first_wrong", fresh), ("last_correct", ok & ~seen)):
            state[key] = put_rows(state[key], rows,
                                  torch.where(per_sample(mask, xadv), xadv, rows_of(state[key], rows)))
        state["wrong_seen"] = put_rows(state["wrong_seen"], rows, seen | fresh)

    # --lean: what the C++ trainer does, a crossed sample leaves the PGD and only crossed samples
    # are bisected; plain: every sample runs every pass.
    finished = (lambda: clean_correct & state["wrong_seen"]) if lean else None
    adversarial = pgd(model, x, y, eps, steps, 4.0, gen, track, finished)
    found = clean_correct & state["wrong_seen"]
    with torch.no_grad():
        if found.any():
            rows = found.nonzero().squeeze(1) if lean else None
            inside, outside = rows_of(state["last_correct"], rows), rows_of(state["first_wrong"], rows)
            target = rows_of(y, rows)
            for _ in range(bisection_steps):
                middle = 0.5 * (inside + outside)
                ok = per_sample(is_correct(model(middle), target), middle)
                inside = torch.where(ok, middle, inside)
                outside = torch.where(ok, outside, middle)
            boundary = put_rows(adversarial, rows, 0.5 * (inside + outside))
            adversarial = torch.where(per_sample(found, x), boundary, adversarial)
        distance = torch.where(found, l2_norms(adversarial - x), torch.zeros_like(eps))
    margins.append((clean_correct, found, distance))  # the per-sample bookkeeping of IMA step 5
    model.train()
    return 0.5 * task_loss(logits, y) + 0.5 * task_loss(model(adversarial), y)


def pgd_at_loss(model, x, y, eps, steps, gen):
    model.eval()
    xadv = pgd(model, x, y, eps, steps, 4.0, gen)
    model.train()
    return task_loss(model(xadv), y)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--pgd-steps", type=int, default=10)
    parser.add_argument("--bisection-steps", type=int, default=10)
    parser.add_argument("--eps", type=float, default=12.0)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--features", type=int, default=16)
    parser.add_argument("--weights", help="start from the C++ benchmark's pre-trained weights "
                        "(imaBenchImaIteration --save-weights FILE) instead of pre-training here")
    parser.add_argument("--lean", action="store_true",
                        help="stop attacking crossed samples and bisect only them, as the C++ trainer does")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    n = args.batch
    x, y = disc_batch(n, 64)
    torch.manual_seed(1)
    model = UNet2d(base=args.features)
    eps = torch.full((n,), args.eps)
    gen = torch.Generator()
    margins = []

    def iteration(kind, seed, optimizer):
        gen.manual_seed(seed)  # the C++ benchmark's seeds: the random starts are the same
        optimizer.zero_grad()
        if kind == "standard":
            loss = task_loss(model(x), y)
        elif kind == "pgd":
            loss = pgd_at_loss(model, x, y, eps, args.pgd_steps, gen)
        else:
            loss = ima_loss(model, x, y, eps, args.pgd_steps, args.bisection_steps, gen, margins, args.lean)
        loss.backward()
        optimizer.step()
        return loss.item()

    model.train()
    if args.weights:
        load_cpp_parameters(model, args.weights)
        pretrain = "loaded from " + args.weights
    else:
        pretrain_optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        for _ in range(40):
            pretrain_loss = iteration("standard", 0, pretrain_optimizer)
        pretrain = f"40 standard iterations: loss {pretrain_loss:.3f}"
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)  # fresh, as in the C++ benchmark
    sample_forwards = [0]
    hook = model.register_forward_pre_hook(lambda _, inputs: sample_forwards.__setitem__(
        0, sample_forwards[0] + inputs[0].shape[0]))
    iteration("ima", 1, optimizer)
    hook.remove()
    clean_correct, found, _ = margins[-1]
    print(f"batch {n} x 1 x 64 x 64, 2D U-Net {args.features} features 4 stages, {args.threads} thread(s), "
          f"K {args.pgd_steps}, "
          f"B {args.bisection_steps}, L2 eps {args.eps:.2f}, {'lean' if args.lean else 'plain'} IMA "
          f"(PyTorch {torch.__version__})")
    print(f"pre-training {pretrain}; IMA iteration (seed 1): clean correct {int(clean_correct.sum())} / {n}, "
          f"adversarial found {int(found.sum())} / {n}")
    print(f"IMA iteration: {sample_forwards[0]} sample-forwards (clean, attack and adversarial)")
    times = {"standard": [], "pgd": [], "ima": []}
    for r in range(args.repeats):
        for kind in times:
            t0 = time.perf_counter()
            iteration(kind, r, optimizer)
            times[kind].append(time.perf_counter() - t0)
        print(f"repeat {r + 1}: " + ", ".join(f"{k} {v[-1]:.3f} s" for k, v in times.items()), flush=True)
    med = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
    print(f"median of {args.repeats}: standard {med['standard']:.3f} s, pgd-at {med['pgd']:.3f} s, "
          f"ima {med['ima']:.3f} s; ima/standard {med['ima'] / med['standard']:.2f}, "
          f"ima/pgd-at {med['ima'] / med['pgd']:.2f}")


if __name__ == "__main__":
    main()
