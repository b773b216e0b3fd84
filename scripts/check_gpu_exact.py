"""On a CUDA machine: the integer-contract evaluation gives the same logits on the GPU as on the CPU.

Each input stage's network trains a few steps on random pixels, then evaluates in eval mode on both
devices; the logits (values on the int8 logit grid) must be identical, not close. Run before
trusting accuracies measured on a GPU:  python3 scripts/check_gpu_exact.py
"""

from __future__ import annotations

import copy
import sys

import torch
import torch.nn.functional as F

from pixmcu.nn.models import ModelConfig, build_model, freeze_bn

STAGES = [
    dict(input_stage="int8", wbits=8, abits=8),
    dict(input_stage="naive", wbits=4, abits=4),
    dict(input_stage="embed", wbits=4, abits=4, embed={"dim": 10, "bits": 2}),
    dict(input_stage="embed", wbits=4, abits=2, embed={"dim": 10, "bits": 2, "bins": 16, "learn_bins": True}),
]


def main() -> int:
    if not torch.cuda.is_available():
        print("no CUDA device", file=sys.stderr)
        return 2
    torch.manual_seed(0)
    bad = 0
    for arch, c, hw in (("resnet8", 3, 32), ("cnn28", 1, 28)):
        for kw in STAGES:
            cfg = ModelConfig(arch=arch, in_channels=c, image_size=hw, widths=(16, 32, 64),
                              head="gap" if arch == "resnet8" else "flatten", **kw)
            model = build_model(cfg)
            opt = torch.optim.AdamW(model.parameters(), 3e-3)
            x = torch.randint(0, 256, (256, c, hw, hw), dtype=torch.uint8)
            y = torch.randint(0, 10, (256,))
            for step in range(6):
                if step == 4:
                    freeze_bn(model)
                loss = F.cross_entropy(model(x[:64]), y[:64])
                opt.zero_grad()
                loss.backward()
                opt.step()
            model.eval()
            gpu = copy.deepcopy(model).cuda()
            with torch.no_grad():
                torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
                a = model(x)
                b = gpu(x.cuda()).cpu()
            same = torch.equal(a, b)
            bad += not same
            print(f"{arch} {cfg.label()}: {'identical' if same else 'DIFFERENT'} logits on CPU and CUDA"
                  + ("" if same else f" ({int((a != b).sum())} of {a.numel()} differ)"))
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
