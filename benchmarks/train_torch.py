#!/usr/bin/env python3
"""PyTorch CPU training / inference throughput for the tinyproto model zoo.

The four backbone families are rebuilt here with EXACTLY the architectures of the
tinyproto zoo (models/arch/zoo.ts, layer rules in models/arch/builder.ts), so images/second can be
compared engine to engine:
  - conv padding k//2 (PyTorch style), no conv bias, every conv followed by BatchNorm
    (eps 1e-5, momentum 0.1), ReLU / ReLU6 exactly where the zoo puts them;
  - backbone -> global average pool -> fc Linear(pooled -> d=500) -> head Linear(d -> K=10).
Forward FLOPs (2 x MACs of conv/depthwise/linear only) per 28x28x1 image equal the zoo's:
  resnet8 18.76 M (114,614 params), mobilenetv2 4.69 M (94,518),
  shufflenetv2 7.72 M (231,270), efficientnet-lite 5.12 M (98,886).

Usage:
  python3 benchmarks/train_torch.py --family resnet8 --input 28x28x1 --batch 64 \
      --mode train --seconds 8 --threads 2 --warmup 3      # one JSON line on stdout
  python3 benchmarks/train_torch.py --list                   # family names (JSON)
  python3 benchmarks/train_torch.py --check                  # params + FLOPs per family
Exit code 3 (with an error JSON line) when torch cannot be imported.
"""
import argparse
import json
import resource
import sys
import time

FAMILIES = ["resnet8", "mobilenetv2", "shufflenetv2", "efficientnet-lite"]
FEATURE_DIM = 500   # d: fc output = prototype space
NUM_CLASSES = 10    # K
LAMBDA = 10.0       # prototype-loss weight
LR = 0.01           # plain SGD, no momentum
CHECK_INPUTS = ["28x28x1", "32x32x3"]
# zoo reference (params, forward FLOPs per image): the engines' paramCount / flopsPerImage;
# models/arch/zoo.test.ts checks this table against models/arch/zoo.ts.
ZOO_REF = {
    "28x28x1": {"resnet8": (114614, 18764560), "mobilenetv2": (94518, 4691472),
                "shufflenetv2": (231270, 7719536), "efficientnet-lite": (98886, 5117968)},
    "32x32x3": {"resnet8": (114902, 25075984), "mobilenetv2": (94806, 6675216),
                "shufflenetv2": (231702, 10206992), "efficientnet-lite": (99174, 7232272)},
}

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except Exception as e:  # noqa: BLE001 - any import failure means "no usable torch"
    if "--list" not in sys.argv:
        print(json.dumps({"engine": "pytorch", "error": "torch not installed: %s" % e}))
        sys.exit(3)
    print(json.dumps(FAMILIES))
    sys.exit(0)


# ---- building blocks (mirror convBn / dwBn in models/arch/zoo.ts) -------------------------

def conv_bn(cin, cout, k, stride=1, act="none", groups=1):
    """conv (no bias, padding k//2) + BN + activation ('relu' | 'relu6' | 'none')."""
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
              nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1)]
    if act == "relu":
        layers.append(nn.ReLU(inplace=True))
    elif act == "relu6":
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


def dw_bn(c, k, stride=1, act="none"):
    """Depthwise conv (channel multiplier 1) + BN + activation."""
    return conv_bn(c, c, k, stride, act, groups=c)


class BasicBlock(nn.Module):
    """ResNet basic block; 1x1 conv + BN projection shortcut when the shape changes."""

    def __init__(self, cin, planes, stride):
        super().__init__()
        self.c1 = conv_bn(cin, planes, 3, stride, "relu")
        self.c2 = conv_bn(planes, planes, 3, 1, "none")
        proj = stride != 1 or cin != planes
        self.shortcut = conv_bn(cin, planes, 1, stride, "none") if proj else nn.Identity()

    def forward(self, x):
        return F.relu(self.c2(self.c1(x)) + self.shortcut(x))


class InvertedResidual(nn.Module):
    """MobileNetV2 inverted residual / MBConv without SE: [expand 1x1] -> dw k -> project 1x1."""

    def __init__(self, cin, expand, out, stride, k):
        super().__init__()
        hidden = cin * expand
        parts = [conv_bn(cin, hidden, 1, 1, "relu6")] if expand != 1 else []
        parts += [dw_bn(hidden, k, stride, "relu6"), conv_bn(hidden, out, 1, 1, "none")]
        self.body = nn.Sequential(*parts)
        self.residual = stride == 1 and cin == out

    def forward(self, x):
        return x + self.body(x) if self.residual else self.body(x)


def channel_shuffle(x, groups):
    """PyTorch/torchvision semantics: out channel j*g + i = in channel i*(C/g) + j."""
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


class ShuffleUnit(nn.Module):
    """ShuffleNetV2 unit: stride 1 splits channels in half; stride 2 uses both branches."""

    def __init__(self, cin, out, stride):
        super().__init__()
        half = out // 2
        self.stride = stride
        if stride == 1:
            assert cin == out, "stride-1 unit needs cin == cout"
            self.branch1 = None
            b2_in = half
        else:
            self.branch1 = nn.Sequential(dw_bn(cin, 3, stride, "none"), conv_bn(cin, half, 1, 1, "relu"))
            b2_in = cin
        self.branch2 = nn.Sequential(conv_bn(b2_in, half, 1, 1, "relu"), dw_bn(half, 3, stride, "none"),
                                     conv_bn(half, half, 1, 1, "relu"))

    def forward(self, x):
        if self.branch1 is None:
            c = x.shape[1] // 2
            out = torch.cat([x[:, :c], self.branch2(x[:, c:])], 1)
        else:
            out = torch.cat([self.branch1(x), self.branch2(x)], 1)
        return channel_shuffle(out, 2)


# ---- families (mirror resnet8 / mbNet / shufflenetv2 in models/arch/zoo.ts) ---------------

MOBILENETV2_CFG = [(1, 8, 1, 1, 3), (4, 16, 2, 2, 3), (4, 24, 2, 2, 3), (4, 32, 1, 1, 3)]          # (t, c, n, s, k)
EFFICIENTNET_LITE_CFG = [(1, 8, 1, 1, 3), (4, 16, 2, 2, 3), (4, 24, 2, 2, 5), (4, 40, 1, 1, 3)]
SHUFFLE_STAGES = [(48, 2), (96, 2), (192, 1)]                                                      # (channels, units)


def backbone(family, cin):
    """Returns (nn.Sequential backbone, output channels)."""
    if family == "resnet8":
        layers = [conv_bn(cin, 16, 3, 1, "relu"), BasicBlock(16, 16, 1), BasicBlock(16, 32, 2), BasicBlock(32, 64, 2)]
        return nn.Sequential(*layers), 64
    if family in ("mobilenetv2", "efficientnet-lite"):
        cfg = MOBILENETV2_CFG if family == "mobilenetv2" else EFFICIENTNET_LITE_CFG
        layers, c = [conv_bn(cin, 16, 3, 1, "relu6")], 16
        for t, out, n, s, k in cfg:
            for r in range(n):
                layers.append(InvertedResidual(c, t, out, s if r == 0 else 1, k))
                c = out
        layers.append(conv_bn(c, 128, 1, 1, "relu6"))
        return nn.Sequential(*layers), 128
    if family == "shufflenetv2":
        layers, c = [conv_bn(cin, 24, 3, 1, "relu")], 24   # no max-pool after the stem
        for ch, repeats in SHUFFLE_STAGES:
            for r in range(repeats):
                layers.append(ShuffleUnit(c, ch, 2 if r == 0 else 1))
                c = ch
        layers.append(conv_bn(c, 256, 1, 1, "relu"))
        return nn.Sequential(*layers), 256
    raise ValueError("unknown family %r" % family)


class Net(nn.Module):
    """backbone -> GAP -> fc (features, no activation) -> head (logits)."""

    def __init__(self, family, cin, d=FEATURE_DIM, k=NUM_CLASSES):
        super().__init__()
        self.body, pooled = backbone(family, cin)
        self.fc = nn.Linear(pooled, d)
        self.head = nn.Linear(d, k)
        for m in self.modules():  # zoo init: He-normal fan_out (= k*k*cout/groups); BN 1/0; Linear default
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
                nn.init.normal_(m.weight, 0.0, (2.0 / fan_out) ** 0.5)

    def features(self, x):
        return self.fc(self.body(x).mean((2, 3)))

    def forward(self, x):
        f = self.features(x)
        return f, self.head(f)


def param_count(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def forward_flops(model, shape):
    """Forward FLOPs per image (2 x MACs of Conv2d / Linear) counted with forward hooks."""
    total = [0]

    def hook(m, inp, out):
        per_out = (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1] if isinstance(m, nn.Conv2d) else m.in_features
        total[0] += 2 * (out.numel() // out.shape[0]) * per_out

    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, shape[2], shape[0], shape[1]))
    for h in hs:
        h.remove()
    return total[0]


def parse_input(s):
    h, w, c = (int(v) for v in s.lower().split("x"))
    return h, w, c


# ---- benchmark ----------------------------------------------------------------------------

def run(args):
    h, w, c = parse_input(args.input)
    torch.manual_seed(args.seed)
    model = Net(args.family, c)
    x = torch.randn(args.batch, c, h, w)                      # NCHW, PyTorch's native layout
    y = torch.randint(0, NUM_CLASSES, (args.batch,))
    protos = torch.randn(NUM_CLASSES, FEATURE_DIM)            # fixed random prototype matrix P

    if args.mode == "train":
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=0.0)

        def step():
            opt.zero_grad(set_to_none=True)
            f, logits = model(x)
            # CE (mean over batch) + lambda * sum ||f - P[y]||^2 / (B*d), as in models/tfjs/engine.ts
            loss = F.cross_entropy(logits, y) + LAMBDA * ((f - protos[y]) ** 2).mean()
            loss.backward()
            opt.step()
    else:
        model.eval()

        def step():
            with torch.inference_mode():
                model(x)  # features and logits

    for _ in range(args.warmup):
        step()
    steps = 0
    t0 = time.perf_counter()
    elapsed = 0.0
    while elapsed < args.seconds or steps == 0:   # whole steps only
        step()
        steps += 1
        elapsed = time.perf_counter() - t0
    return {"engine": "pytorch", "torch": torch.__version__, "family": args.family, "input": args.input,
            "batch": args.batch, "mode": args.mode, "imagesPerSecond": round(steps * args.batch / elapsed, 2),
            "steps": steps, "seconds": round(elapsed, 3),
            "peakRssBytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "params": param_count(model), "threads": args.threads}


def check():
    """Params and forward FLOPs per family for the two real input shapes, compared with the zoo (ZOO_REF)."""
    rows = []
    for inp in CHECK_INPUTS:
        shape = parse_input(inp)
        for fam in FAMILIES:
            model = Net(fam, shape[2])
            row = {"family": fam, "input": inp, "params": param_count(model), "flops": forward_flops(model, shape)}
            row["matchesZoo"] = (row["params"], row["flops"]) == ZOO_REF[inp][fam]
            rows.append(row)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--family", choices=FAMILIES, default="resnet8")
    ap.add_argument("--input", default="28x28x1", help="HxWxC, e.g. 28x28x1 or 32x32x3")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--mode", choices=["train", "infer"], default="train")
    ap.add_argument("--seconds", type=float, default=8.0, help="timed duration after warmup")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    ap.add_argument("--warmup", type=int, default=3, help="untimed warmup steps")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--list", action="store_true", help="print the family names as JSON")
    ap.add_argument("--check", action="store_true", help="print params and forward FLOPs per family")
    args = ap.parse_args()

    if args.list:
        print(json.dumps(FAMILIES))
        return
    torch.set_num_threads(max(1, args.threads))
    try:
        torch.set_num_interop_threads(1)  # raises if called after parallel work has started
    except RuntimeError:
        pass
    if args.check:
        for row in check():
            print(json.dumps(row))
        return
    print(json.dumps(run(args)))


if __name__ == "__main__":
    main()
