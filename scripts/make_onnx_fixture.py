#!/usr/bin/python3
"""Writes the ONNX import fixture of tests/nn/test_onnx_import.cpp: a small CNN exported with
torch.onnx.export, the CIFAR-10 images it is checked on, and PyTorch's logits for them.

    /usr/bin/python3 scripts/make_onnx_fixture.py --images IMAGES.bin --out-dir tests/data/onnx

IMAGES.bin holds CIFAR-10 binary records (label byte + 3,072 pixel bytes); the first --count are
used (the committed fixture: the first 4 of test_batch.bin). Writes OUT/net.onnx, OUT/images.bin
(those records) and OUT/logits.txt (per image: index, label, 10 logits, %.9g). The network is
untrained (fixed seed, random batch-norm statistics) and covers what flashmc import reads: the
torchvision input normalization inside the graph (Sub, Div on p/255), Conv + BatchNormalization
(folded into Conv by the exporter in eval mode), Relu, Clip(min 0), MaxPool, a residual Add,
AveragePool (which torch 1.13 exports after a zero Pad), GlobalAveragePool, Flatten, Gemm,
BatchNormalization after Gemm (Dropout: dropped by the exporter in eval mode). Its graph
input is p/255: import it with `flashmc import net.onnx --out net.h5 --input-scale 255`.

Deterministic: same torch version, same bytes (the committed fixture: Debian python3-torch 1.13.1,
python3-onnx 1.12.0, opset 13).
"""
import argparse
import os

import numpy as np
import onnx
import torch
from torch import nn

MEAN = (0.4914, 0.4822, 0.4465)  # torchvision's usual CIFAR-10 normalization, exported in the graph
STD = (0.2470, 0.2435, 0.2616)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor(MEAN).reshape(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(STD).reshape(1, 3, 1, 1))
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(6)
        self.pool1 = nn.MaxPool2d(2)                                      # 16x16
        self.conv2 = nn.Conv2d(6, 6, 3, padding=1)
        self.conv3 = nn.Conv2d(6, 6, 3, padding=1)
        self.conv4 = nn.Conv2d(6, 8, 3, stride=2, padding=1)              # 8x8
        self.pool2 = nn.AvgPool2d(2)                                      # 4x4
        self.conv5 = nn.Conv2d(8, 8, 1)
        self.fc1 = nn.Linear(8, 16)
        self.bn2 = nn.BatchNorm1d(16)
        self.drop = nn.Dropout(0.25)
        self.fc2 = nn.Linear(16, 10)

    def forward(self, x):
        x = (x - self.mean) / self.std
        x = self.pool1(torch.relu(self.bn1(self.conv1(x))))
        y = torch.relu(self.conv2(x))
        x = torch.clamp(self.conv3(y) + x, min=0)                          # residual connection
        x = self.pool2(torch.relu(self.conv4(x)))
        x = nn.functional.adaptive_avg_pool2d(torch.relu(self.conv5(x)), 1)
        x = torch.flatten(x, 1)
        x = self.drop(torch.relu(self.bn2(self.fc1(x))))
        return self.fc2(x)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", required=True, help="CIFAR-10 binary records (e.g. test_batch.bin)")
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--count", type=int, default=4)
    args = ap.parse_args()

    torch.manual_seed(0)
    net = Net()
    with torch.no_grad():  # He-initialized weights (logits that differ between images), non-trivial batch norms
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)
        for bn in (net.bn1, net.bn2):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.2, 0.2)
    net.eval()

    raw = np.fromfile(args.images, dtype=np.uint8)
    records = raw[: args.count * 3073].reshape(args.count, 3073)
    labels = records[:, 0]
    pixels = records[:, 1:].reshape(args.count, 3, 32, 32).astype(np.float32)
    x = torch.from_numpy(pixels / np.float32(255))
    with torch.no_grad():
        logits = net(x).numpy()

    os.makedirs(args.out_dir, exist_ok=True)
    path = os.path.join(args.out_dir, "net.onnx")
    # The export call README.md "Bring your own model" shows.
    torch.onnx.export(net, torch.zeros(1, 3, 32, 32), path, opset_version=13, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    onnx.checker.check_model(onnx.load(path))
    records.tofile(os.path.join(args.out_dir, "images.bin"))
    with open(os.path.join(args.out_dir, "logits.txt"), "w") as f:
        f.write(f"# scripts/make_onnx_fixture.py, torch {torch.__version__}, onnx {onnx.__version__}: "
                "index label logit0..logit9 of net.onnx on images.bin, input p/255\n")
        for i in range(args.count):
            f.write(f"{i} {labels[i]} " + " ".join(f"{v:.9g}" for v in logits[i]) + "\n")
    print(f"{path}: {os.path.getsize(path)} bytes; {args.count} images; logits.txt")


if __name__ == "__main__":
    main()
