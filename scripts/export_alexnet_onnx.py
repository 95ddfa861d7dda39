#!/usr/bin/python3
"""Round trip through ONNX on a real network: rebuilds the zoo's CIFAR-10 AlexNet in PyTorch
(docs/models.md), loads the weights of a flashmc FP32 model file into it (h5py), and exports it
with torch.onnx.export exactly as README "Bring your own model" tells a user to. Then

    build/release/flashmc import alexnet.onnx --out alexnet_onnx.h5   # flashmc's normalization: no options
    build/release/flashmc eval --model alexnet_onnx.h5                # vs. eval of the original file

measures the importer on a trained network and the full test set (results/README.md). Needs Debian's
python3-torch, python3-onnx and python3-h5py.

usage: scripts/export_alexnet_onnx.py [MODEL.h5] [OUT.onnx]
"""
import sys

import h5py
import numpy as np
import torch
import torch.nn as nn


def tensor(group, name):
    return torch.from_numpy(np.asarray(group[name][()], dtype=np.float32))


def build(model_path):
    f = h5py.File(model_path, "r")
    nodes = {g.attrs["name"].decode(): g for g in f["model"].values()}
    if f["model"].attrs["arch"].decode() != "alexnet":
        sys.exit(f"{model_path}: not an alexnet model")

    def conv_bn(name, cin, cout):
        conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        conv.weight.data = tensor(nodes[name], "weight")
        bn = nn.BatchNorm2d(cout, eps=float(nodes[name + "_bn"].attrs["eps"]))
        g = nodes[name + "_bn"]
        bn.weight.data, bn.bias.data = tensor(g, "gamma"), tensor(g, "beta")
        bn.running_mean.data, bn.running_var.data = tensor(g, "running_mean"), tensor(g, "running_var")
        return [conv, bn, nn.ReLU()]

    def fc(name, fin, fout):
        l = nn.Linear(fin, fout)
        l.weight.data, l.bias.data = tensor(nodes[name], "weight"), tensor(nodes[name], "bias")
        return l

    layers = (conv_bn("conv1", 3, 64) + [nn.MaxPool2d(2)] + conv_bn("conv2", 64, 192) + [nn.MaxPool2d(2)] +
              conv_bn("conv3", 192, 384) + conv_bn("conv4", 384, 256) + conv_bn("conv5", 256, 256) +
              [nn.MaxPool2d(2), nn.Flatten(1), fc("fc1", 4096, 1024), nn.ReLU(), nn.Dropout(0.5),
               fc("fc2", 1024, 512), nn.ReLU(), nn.Dropout(0.5), fc("fc3", 512, 10)])
    return nn.Sequential(*layers)


def main():
    model_path = sys.argv[1] if len(sys.argv) > 1 else "results/models/alexnet_fp32.h5"
    out = sys.argv[2] if len(sys.argv) > 2 else "alexnet.onnx"
    model = build(model_path)
    torch.onnx.export(model.eval(), torch.zeros(1, 3, 32, 32), out, opset_version=13,
                      input_names=["input"], output_names=["logits"], dynamic_axes={"input": {0: "batch"}})
    print(f"{out}: exported from {model_path} (torch {torch.__version__})")


if __name__ == "__main__":
    main()
