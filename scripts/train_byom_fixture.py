"""Train the "bring your own model" fixture: a float PyTorch network that is not in pixmcu's zoo.

Depthwise-separable blocks with BatchNorm, residual adds, a stride-2 stem convolution, global
average pooling and a Linear head, trained in float on Fashion-MNIST (input pixel/255). Writes the
model as `torch.export` (.pt2) and ONNX (.onnx) files into
tests/fixtures/byom/; the tests quantize those files and never train this network themselves.

    .venv/bin/python scripts/train_byom_fixture.py [--epochs 2] [--out tests/fixtures/byom]

About a minute per epoch on two CPU cores.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class SeparableBlock(nn.Module):
    """3x3 depthwise + BN + ReLU6, then 1x1 pointwise + BN (no activation: a residual may follow)."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.dw = nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False)
        self.bn1 = nn.BatchNorm2d(cin)
        self.pw = nn.Conv2d(cin, cout, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)

    def forward(self, x):
        return self.bn2(self.pw(F.relu6(self.bn1(self.dw(x)))))


class TinySeparableNet(nn.Module):
    def __init__(self, classes: int = 10, width: int = 16):
        super().__init__()
        self.stem = nn.Conv2d(1, width, 3, stride=2, padding=1, bias=False)  # 28 -> 14
        self.stem_bn = nn.BatchNorm2d(width)
        self.block1 = SeparableBlock(width, width)
        self.block2 = SeparableBlock(width, 2 * width, stride=2)  # 14 -> 7
        self.block3 = SeparableBlock(2 * width, 2 * width)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(2 * width, classes)

    def forward(self, x):
        x = F.relu(self.stem_bn(self.stem(x)))
        x = F.relu(x + self.block1(x))  # residual add
        x = F.relu6(self.block2(x))
        x = F.relu(x + self.block3(x))
        return self.head(torch.flatten(self.pool(x), 1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("tests/fixtures/byom"))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    from pixmcu.train.data import load_fashion_mnist

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    data = load_fashion_mnist()
    x = torch.from_numpy(data.train.x.transpose(0, 3, 1, 2).copy()).float() / 255.0
    y = torch.from_numpy(data.train.y)
    model = TinySeparableNet()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    steps = args.epochs * (len(x) // 128)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 3e-3, total_steps=steps)
    t0 = time.time()
    step = 0
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(x))
        for i in range(len(x) // 128):
            idx = order[i * 128:(i + 1) * 128]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
        print(f"epoch {epoch + 1}: loss {loss.item():.3f} ({time.time() - t0:.0f} s)", flush=True)
    model.eval()
    xt = torch.from_numpy(data.test.x.transpose(0, 3, 1, 2).copy()).float() / 255.0
    with torch.no_grad():
        acc = float((model(xt).argmax(1).numpy() == data.test.y).mean())
    print(f"float top-1 on the 10,000 test images: {100 * acc:.2f}%")
    args.out.mkdir(parents=True, exist_ok=True)
    example = (torch.zeros(1, 1, 28, 28),)
    torch.export.save(torch.export.export(model, example), args.out / "tiny_separable.pt2")
    torch.onnx.export(model, example, args.out / "tiny_separable.onnx", dynamo=False,
                      input_names=["image"], output_names=["logits"])
    (args.out / "tiny_separable.json").write_text(json.dumps(
        {"float_top1_test10k": round(100 * acc, 2), "epochs": args.epochs, "pixel_scale": 1 / 255,
         "train_seconds": round(time.time() - t0)}, indent=1) + "\n")


if __name__ == "__main__":
    main()
