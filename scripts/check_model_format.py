#!/usr/bin/env python3
"""An independent re-implementation of flashmc inference, written from docs/model-format.md only.

Runs a flashmc model file (HDF5, filetype flashmc.model) on the first N CIFAR-10 test images and
compares the predictions and logits with the per-image CSV of `flashmc eval --predictions`:

  integer   the deployable integer model (/quantized), docs/model-format.md §5: must match
            exactly (every prediction, every float32 logit bit)
  float     the float graph (/model): the FP32 graph (§4.1) of an FP32 model, the fake-quantized
            training graph (§4.2) of a quantized one: must match to float32 rounding (predictions
            equal but for --max-float-differ images; logits within 1e-4 of the image's largest
            but for 2% of the images, where float32 rounding moved a fake-quantized activation
            to its neighbouring code). A deployable file (storage "deployable") has no float
            graph: only the integer model is checked.

Usage:
  flashmc eval --model M.h5 --limit 2000 --predictions int.csv
  check_model_format.py M.h5 --predictions int.csv
  check_model_format.py M.h5 --flashmc build/release/flashmc --limit 2000 [--mode both]

With --flashmc the script runs `flashmc eval` itself (and, for --mode both on a quantized model,
`flashmc eval --float` and `--compare`, to check the count of predictions that differ between the
integer model and the fake-quantized graph). Needs python3, numpy and h5py (Debian: python3-numpy,
python3-h5py). Exit status 0 when every comparison passes, 1 otherwise, 2 on a usage error.
"""
import argparse
import hashlib
import csv
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

F32 = np.float32
# §2: the float32 CIFAR-10 training-set statistics.
MEAN = np.array([125.3, 123.0, 113.9], dtype=F32)
STD = np.array([63.0, 62.1, 66.7], dtype=F32)


# ---------------------------------------------------------------------------------------------
# Roundings (§1)

def rha32(v):
    """Round half away from zero in float32: trunc(fl32(|v| + 0.5)) with the sign of v."""
    v = np.asarray(v, dtype=F32)
    half = F32(0.5)
    pos = np.trunc((v + half).astype(F32))
    neg = -np.trunc((-v + half).astype(F32))
    return np.where(v >= 0, pos, neg).astype(F32)


def llround(x):
    """C llround of a float64: round half away from zero."""
    x = float(x)
    return int(np.floor(x + 0.5)) if x >= 0 else -int(np.floor(-x + 0.5))


# ---------------------------------------------------------------------------------------------
# Reading the file (§1, §3-§5)

def as_index_list(a):
    """`inputs`: int64 (new files) or float64 holding exact integers (older files)."""
    arr = np.atleast_1d(np.asarray(a))
    out = []
    for v in arr:
        if float(v) != int(v):
            raise ValueError(f"index attribute value {v} is not an integer")
        out.append(int(v))
    return out


def text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def read_graph(group):
    count = int(group.attrs["node_count"])
    keys = sorted(group.keys())
    if len(keys) != count:
        raise ValueError(f"{group.name}: {len(keys)} nodes stored, node_count says {count}")
    nodes = []
    for i, k in enumerate(keys):
        if not k.startswith(f"{i:03d}_"):
            raise ValueError(f"{group.name}: node {k} out of order")
        g = group[k]
        node = {a: g.attrs[a] for a in g.attrs}
        node["inputs"] = as_index_list(g.attrs["inputs"])
        node["name"] = text(g.attrs["name"])
        for key in ("op", "kind"):
            if key in node:
                node[key] = text(node[key])
        for d in g:
            v = g[d][()]
            # §1: a float dataset may be stored as binary16 (storages "half", "scaled"); it converts exactly.
            # A scaled tensor (scale-offset filter) comes back from h5py as float32 as stored.
            node["ds:" + d] = v.astype(F32) if v.dtype == np.float16 else v
        nodes.append(node)
    return nodes


def read_test_images(data_dir, limit):
    raw = np.fromfile(os.path.join(data_dir, "test_batch.bin"), dtype=np.uint8)
    if raw.size % 3073:
        raise ValueError("test_batch.bin is not a whole number of 3073-byte records")
    rec = raw.reshape(-1, 3073)
    if limit:
        rec = rec[:limit]
    labels = rec[:, 0].astype(np.int64)
    images = rec[:, 1:].reshape(-1, 3, 32, 32)  # R, G, B planes, 32x32 row-major
    return images, labels


# ---------------------------------------------------------------------------------------------
# Shared tensor helpers

def im2col(x, k, stride, pad):
    """x: N, C, H, W -> columns N, C*k*k, OH*OW; column index (c*k + ky)*k + kx; zero padding."""
    n, c, h, w = x.shape
    oh = (h + 2 * pad - k) // stride + 1
    ow = (w + 2 * pad - k) // stride + 1
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad))) if pad else x
    cols = np.empty((n, c, k, k, oh, ow), dtype=x.dtype)
    for ky in range(k):
        for kx in range(k):
            cols[:, :, ky, kx] = xp[:, :, ky:ky + stride * (oh - 1) + 1:stride, kx:kx + stride * (ow - 1) + 1:stride]
    return cols.reshape(n, c * k * k, oh * ow), oh, ow


def conv(x, wmat, k, stride, pad):
    """Cross-correlation: wmat [O][C*k*k] -> N, O, OH, OW (no bias)."""
    cols, oh, ow = im2col(x, k, stride, pad)
    y = np.matmul(wmat, cols)  # N, O, P
    return y.reshape(x.shape[0], wmat.shape[0], oh, ow)


def pool(x, k, stride, mode):
    """No padding: OH = (H - k)//s + 1, windows that do not fit are dropped."""
    n, c, h, w = x.shape
    oh, ow = (h - k) // stride + 1, (w - k) // stride + 1
    acc = None
    for ky in range(k):
        for kx in range(k):
            win = x[:, :, ky:ky + stride * (oh - 1) + 1:stride, kx:kx + stride * (ow - 1) + 1:stride]
            if acc is None:
                acc = win.copy()
            elif mode == "max":
                acc = np.maximum(acc, win)
            else:
                acc = acc + win
    return acc


def shortcut_a(x, stride, out_c):
    """Option A: subsample at phase 0, append zero channels after the input's."""
    n, c, h, w = x.shape
    sub = x[:, :, ::stride, ::stride]  # ceil(H/s) x ceil(W/s)
    y = np.zeros((n, out_c) + sub.shape[2:], dtype=x.dtype)
    y[:, :c] = sub
    return y


# ---------------------------------------------------------------------------------------------
# §5: integer inference

def fixed_multiplier(real):
    """§5.3: M = f*2^e, m = llround(f*2^31) (2^31 -> 2^30, e+1), shift = 31 - e."""
    if not (real > 0) or not np.isfinite(real):
        raise ValueError(f"bad multiplier {real}")
    f, e = np.frexp(real)
    m = llround(float(f) * 2147483648.0)
    if m == 1 << 31:
        m //= 2
        e += 1
    shift = 31 - int(e)
    if shift < 1 or shift > 62:
        raise ValueError(f"multiplier {real} out of range")
    return m, shift


def rne_accumulator(v):
    """§5.2 requant step 1: round to nearest even, saturate at +-2^31, NaN -> 0; int64."""
    v = np.nan_to_num(np.asarray(v, dtype=np.float64), nan=0.0)
    return np.rint(np.clip(v, -2.0 ** 31, 2.0 ** 31)).astype(np.int64)


def apply_multiplier(v, ms, shifts):
    """round(v*m / 2^shift), ties away from zero, per channel (axis 1). v: int64 N, C, ..."""
    shape = (1, -1) + (1,) * (v.ndim - 2)
    m = np.asarray(ms, dtype=np.int64).reshape(shape)
    sh = np.asarray(shifts, dtype=np.int64).reshape(shape)
    p = v * m
    r = (np.abs(p) + (np.int64(1) << (sh - 1))) >> sh
    return np.where(p < 0, -r, r)


class IntegerModel:
    def __init__(self, nodes):
        self.nodes = nodes
        self.scales = []      # per node: float64 array per channel (§5.1)
        self.shapes = []      # per node: C, H, W
        self.mult = {}        # node index -> (m array, shift array)
        self.bound = []       # per node: largest |value|
        self.wmat = {}
        for i, nd in enumerate(nodes):
            op = nd["op"]
            ins = nd["inputs"]
            a = ins[0]
            sa = self.scales[a] if a >= 0 else None
            if op == "input":
                b = int(nd["bits"])
                q = (1 << (b - 1)) - 1
                sc, shape, bound = np.full(3, float(nd["scale"])), (3, 32, 32), q
                # §5.2: code = clamp(rha32(fl32(fl32((p - mean)/std) / fl32(scale))), -Q, Q)
                p = np.arange(256, dtype=F32)
                lut = np.empty((3, 256), dtype=F32)
                for c in range(3):
                    t = ((p - MEAN[c]).astype(F32) / STD[c]).astype(F32)
                    if "ds:affine_scale" in nd:  # §5.2: an imported network's own normalization
                        t = ((F32(nd["ds:affine_scale"][c]) * t).astype(F32) + F32(nd["ds:affine_shift"][c])).astype(F32)
                    t = (t / F32(nd["scale"])).astype(F32)
                    lut[c] = np.clip(rha32(t), -q, q)
                self.lut = lut
            elif op in ("conv2d", "linear"):
                cin, h, w = self.shapes[a]
                codes = np.asarray(nd["ds:weight_codes"]).astype(np.int64)
                out_c = int(nd["out_channels"])
                k = int(nd["kernel"])
                if op == "conv2d":
                    s, pd = int(nd["stride"]), int(nd["padding"])
                    shape = (out_c, (h + 2 * pd - k) // s + 1, (w + 2 * pd - k) // s + 1)
                else:
                    shape = (out_c, 1, 1)
                codes = codes.reshape(out_c, -1)
                kk = codes.shape[1]
                acc_bound = kk * np.abs(codes).max() * self.bound[a]
                # Exact GEMM: float32 holds every integer below 2^24 (the limit flashmc checks).
                dt = np.float32 if acc_bound < 2 ** 24 else np.float64
                self.wmat[i] = codes.astype(dt)
                bias = np.asarray(nd["ds:bias_q"]).astype(np.int64)
                sc = np.asarray(nd["ds:weight_scale"], dtype=np.float64) * float(nd["input_scale"])
                bound = acc_bound + np.abs(bias).max()
            elif op == "requant":
                shape = self.shapes[a]
                sc = np.full(len(sa), float(nd["scale"]))
                ms = [fixed_multiplier(s / float(nd["scale"])) for s in sa]
                self.mult[i] = ([m for m, _ in ms], [s for _, s in ms])
                bound = (1 << int(nd["bits"])) - 1
            elif op == "add":
                b = ins[1]
                shape = self.shapes[a]
                sc = sa.copy()
                ms = [fixed_multiplier(self.scales[b][c] / sa[c]) for c in range(len(sa))]
                self.mult[i] = ([m for m, _ in ms], [s for _, s in ms])
                bound = self.bound[a] + max(self.scales[b][c] / sa[c] for c in range(len(sa))) * self.bound[b] + 1
            elif op in ("maxpool", "avgpool"):
                c, h, w = self.shapes[a]
                k, s = int(nd["kernel"]), int(nd["stride"])
                shape = (c, (h - k) // s + 1, (w - k) // s + 1)
                sc = sa / (k * k) if op == "avgpool" else sa.copy()
                bound = self.bound[a] * (k * k if op == "avgpool" else 1)
            elif op == "global_avgpool":
                c, h, w = self.shapes[a]
                shape, sc, bound = (c, 1, 1), sa / (h * w), self.bound[a] * h * w
            elif op == "shortcut_a":
                c, h, w = self.shapes[a]
                s, oc = int(nd["stride"]), int(nd["out_channels"])
                shape = (oc, -(-h // s), -(-w // s))
                sc = np.concatenate([sa, np.full(oc - c, sa[0])])
                bound = self.bound[a]
            elif op == "identity":
                shape, sc, bound = self.shapes[a], sa.copy(), self.bound[a]
            else:
                raise ValueError(f"unknown op {op}")
            self.scales.append(np.asarray(sc, dtype=np.float64))
            self.shapes.append(shape)
            self.bound.append(float(bound))
        if nodes[-1]["op"] not in ("conv2d", "linear"):
            raise ValueError("the last node must be conv2d or linear")

    def forward(self, images):
        """images: N, 3, 32, 32 uint8 -> float32 logits N, classes. Values kept as int64."""
        out = []
        n = images.shape[0]
        for i, nd in enumerate(self.nodes):
            op = nd["op"]
            x = out[nd["inputs"][0]] if nd["inputs"][0] >= 0 else None
            if op == "input":
                y = np.stack([self.lut[c][images[:, c]] for c in range(3)], axis=1).astype(np.int64)
            elif op == "conv2d":
                w = self.wmat[i]
                acc = conv(x.astype(w.dtype), w, int(nd["kernel"]), int(nd["stride"]), int(nd["padding"]))
                y = np.rint(acc).astype(np.int64) + np.asarray(nd["ds:bias_q"], dtype=np.int64).reshape(1, -1, 1, 1)
            elif op == "linear":
                w = self.wmat[i]
                acc = x.reshape(n, -1).astype(w.dtype) @ w.T  # flattened C, H, W
                y = (np.rint(acc).astype(np.int64) + np.asarray(nd["ds:bias_q"], dtype=np.int64)).reshape(n, -1, 1, 1)
            elif op == "requant":
                ms, shifts = self.mult[i]
                r = apply_multiplier(rne_accumulator(x), ms, shifts)
                y = np.clip(r, 0, (1 << int(nd["bits"])) - 1)
            elif op == "add":
                ms, shifts = self.mult[i]
                xb = out[nd["inputs"][1]]
                y = rne_accumulator(x) + apply_multiplier(rne_accumulator(xb), ms, shifts)
            elif op == "maxpool":
                y = pool(x, int(nd["kernel"]), int(nd["stride"]), "max")
            elif op == "avgpool":
                y = pool(x, int(nd["kernel"]), int(nd["stride"]), "sum")
            elif op == "global_avgpool":
                y = x.sum(axis=(2, 3), keepdims=True)
            elif op == "shortcut_a":
                y = shortcut_a(x, int(nd["stride"]), int(nd["out_channels"]))
            elif op == "identity":
                y = x
            out.append(y)
        last = out[-1].reshape(n, -1)
        classes = last.shape[1]
        return (last.astype(np.float64) * self.scales[-1][:classes]).astype(F32)


# ---------------------------------------------------------------------------------------------
# §4: the float graph (FP32 §4.1, fake-quantized §4.2), all float32

class FloatModel:
    def __init__(self, nodes):
        self.nodes = nodes

    def forward(self, images):
        n = images.shape[0]
        # §2: x = fl32((p - mean_c)/std_c)
        x0 = ((images.astype(F32) - MEAN.reshape(1, 3, 1, 1)).astype(F32) / STD.reshape(1, 3, 1, 1)).astype(F32)
        out, grids = [], []
        for nd in self.nodes:
            kind = nd["kind"]
            ins = nd["inputs"]
            x = x0 if ins[0] < 0 else out[ins[0]]
            gin = None if ins[0] < 0 else grids[ins[0]]
            grid = None
            if kind == "input_quant":
                b = int(nd["bits"])
                y = x
                if "ds:affine_scale" in nd:  # §4.1: an imported network's own normalization
                    a = np.asarray(nd["ds:affine_scale"], dtype=F32).reshape(1, 3, 1, 1)
                    y = ((a * y).astype(F32) + np.asarray(nd["ds:affine_shift"], dtype=F32).reshape(1, 3, 1, 1)).astype(F32)
                if b > 0:
                    q = (1 << (b - 1)) - 1
                    s = F32(F32(nd["range"]) / F32(q))
                    inv = F32(F32(1) / s)
                    y = (np.clip(rha32((y * inv).astype(F32)), -q, q) * s).astype(F32)
                    grid = np.array([s], dtype=F32)
            elif kind in ("conv2d", "linear"):
                w = np.asarray(nd["ds:weight"], dtype=F32)
                out_c = w.shape[0]
                w = w.reshape(out_c, -1)
                bias = np.asarray(nd["ds:bias"], dtype=F32) if int(nd["has_bias"]) else None
                wb = int(nd["weight_bits"])
                if wb > 0:
                    q = (1 << (wb - 1)) - 1
                    t = np.asarray(nd["ds:weight_threshold"], dtype=F32)
                    sw = (t / F32(q)).astype(F32)
                    sw = np.broadcast_to(sw, (out_c,)).astype(F32) if sw.size == 1 else sw
                    codes = np.clip(rha32((w / sw[:, None]).astype(F32)), -q, q)
                    w = (codes * sw[:, None]).astype(F32)
                    if gin is not None and np.all(gin == gin[0]):
                        step = (sw * F32(gin[0])).astype(F32)
                        if bias is not None:
                            bias = (rha32((bias / step).astype(F32)) * step).astype(F32)
                        grid = step
                if kind == "conv2d":
                    y = conv(x, w, int(nd["kernel"]), int(nd["stride"]), int(nd["padding"]))
                    if bias is not None:
                        y = (y + bias.reshape(1, -1, 1, 1)).astype(F32)
                else:
                    y = x.reshape(n, -1) @ w.T  # flattened C, H, W
                    if bias is not None:
                        y = (y + bias).astype(F32)
                    y = y.reshape(n, -1, 1, 1)
            elif kind == "batchnorm":
                var = np.asarray(nd["ds:running_var"], dtype=np.float64)
                inv_std = (1.0 / np.sqrt(var + float(nd["eps"]))).astype(F32)
                a = (np.asarray(nd["ds:gamma"], dtype=F32) * inv_std).astype(F32)
                b = (np.asarray(nd["ds:beta"], dtype=F32) - np.asarray(nd["ds:running_mean"], dtype=F32) * a).astype(F32)
                y = (x * a.reshape(1, -1, 1, 1) + b.reshape(1, -1, 1, 1)).astype(F32)
                grid = gin
            elif kind == "activation":
                b = int(nd["bits"])
                if b == 0:
                    y = np.maximum(x, F32(0))  # ReLU; `clip` not applied
                else:
                    lv = (1 << b) - 1
                    alpha = F32(nd["clip"])
                    s = F32(alpha / F32(lv))
                    inv = F32(F32(1) / s)
                    y = (rha32((np.clip(x, F32(0), alpha) * inv).astype(F32)) * s).astype(F32)
                    grid = np.array([s], dtype=F32)
            elif kind in ("maxpool", "avgpool"):
                k = int(nd["kernel"])
                if kind == "maxpool":
                    y = pool(x, k, int(nd["stride"]), "max")
                    grid = gin
                else:
                    y = (pool(x, k, int(nd["stride"]), "sum") * F32(F32(1) / F32(k * k))).astype(F32)
                    grid = None if gin is None else (gin / F32(k * k)).astype(F32)
            elif kind == "global_avgpool":
                hw = x.shape[2] * x.shape[3]
                y = (x.sum(axis=(2, 3), keepdims=True, dtype=F32) / F32(hw)).astype(F32)
            elif kind == "add":
                xb = out[ins[1]]
                gb = grids[ins[1]]
                if gb is not None and gin is not None:
                    g = np.broadcast_to(gin, (x.shape[1],)).astype(F32).reshape(1, -1, 1, 1)
                    y = (x + rha32((xb / g).astype(F32)) * g).astype(F32)
                else:
                    y = (x + xb).astype(F32)
                grid = gin
            elif kind == "shortcut_a":
                oc = int(nd["out_channels"])
                y = shortcut_a(x, int(nd["stride"]), oc)
                if gin is not None:
                    grid = gin if gin.size == 1 else np.concatenate([gin, np.full(oc - gin.size, gin[0], dtype=F32)])
            elif kind == "dropout":
                y = x
                grid = gin
            else:
                raise ValueError(f"unknown kind {kind}")
            out.append(y.astype(F32, copy=False))
            grids.append(grid)
        return out[-1].reshape(n, -1).astype(F32)


# ---------------------------------------------------------------------------------------------
# Running and comparing

def run_model(model, images, batch, label):
    logits = []
    t0 = time.time()
    for b in range(0, images.shape[0], batch):
        logits.append(model.forward(images[b:b + batch]))
        done = min(b + batch, images.shape[0])
        print(f"  {label}: {done}/{images.shape[0]} images, {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    return np.concatenate(logits)


def read_predictions(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header = rows[0]
    if header[:3] != ["index", "label", "prediction"] or any(h != f"logit{i}" for i, h in enumerate(header[3:])):
        raise ValueError(f"{path}: unexpected header {header}")
    body = rows[1:]
    idx = np.array([int(r[0]) for r in body])
    if not np.array_equal(idx, np.arange(len(body))):
        raise ValueError(f"{path}: index column is not 0..N-1")
    labels = np.array([int(r[1]) for r in body])
    pred = np.array([int(r[2]) for r in body])
    logits = np.array([[F32(float(v)) for v in r[3:]] for r in body], dtype=F32)
    return labels, pred, logits


def compare(name, logits, labels, csv_path, exact, max_differ):
    ref_labels, ref_pred, ref_logits = read_predictions(csv_path)
    n = logits.shape[0]
    if ref_pred.shape[0] != n:
        print(f"{name}: {csv_path} has {ref_pred.shape[0]} rows, expected {n}")
        return False
    pred = np.argmax(logits, axis=1)  # the first maximum: lowest index on ties (§1)
    top = logits.max(axis=1, keepdims=True)
    ties = int(((logits == top).sum(axis=1) > 1).sum())
    differ = int((pred != ref_pred).sum())
    ref_argmax_bad = int((np.argmax(ref_logits, axis=1) != ref_pred).sum())
    diff = np.abs(logits.astype(np.float64) - ref_logits.astype(np.float64))
    # Per image, relative to its largest |logit|.
    rel = (diff / np.maximum(1e-30, np.abs(ref_logits).max(axis=1, keepdims=True))).max(axis=1)
    bits_differ = int((logits.view(np.uint32) != ref_logits.view(np.uint32)).sum())
    # Float graphs: float32 rounding (summation order) gives ~1e-6; an image above 1e-4 had a
    # quantized activation of the fake-quantized graph rounded to a neighbouring code.
    moved = int((rel > 1e-4).sum())
    acc, ref_acc = float((pred == labels).mean()), float((ref_pred == ref_labels).mean())
    print(f"{name}: {n} images; accuracy {100 * acc:.2f}% here, {100 * ref_acc:.2f}% flashmc; "
          f"predictions differing: {differ}; max |logit difference| {diff.max():.3g} "
          f"(relative to the image's largest logit {rel.max():.3g}; images above 1e-4: {moved}); "
          f"logits not bit-identical: {bits_differ}; images with tied top logits: {ties}")
    ok = bool(np.array_equal(labels, ref_labels)) and ref_argmax_bad == 0
    if not np.array_equal(labels, ref_labels):
        print(f"{name}: labels differ from {csv_path} (another data set?)")
    if ref_argmax_bad:
        print(f"{name}: {ref_argmax_bad} rows of {csv_path} whose prediction is not the first largest logit")
    if exact:
        ok = ok and differ == 0 and bits_differ == 0
    else:
        ok = ok and differ <= max_differ and moved <= max(2, n // 50)
    print(f"{name}: {'PASS' if ok else 'FAIL'}")
    return ok


def run_flashmc(binary, model, data, limit, extra, csv_path):
    cmd = [binary, "eval", "--model", model, "--data", data, "--limit", str(limit), "--predictions", csv_path] + extra
    print("+ " + " ".join(cmd), file=sys.stderr, flush=True)
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"flashmc eval failed ({r.returncode}): {r.stdout}{r.stderr}")
    print(r.stdout, end="", file=sys.stderr)
    return r.stdout


def integrity_problem(path):
    """The file's integrity block (docs/model-format.md): None if it matches, else what is wrong."""
    with open(path, "rb") as f:
        data = f.read()
    body = data[512:]
    head = b"flashmc-hdf5-integrity 1\nbytes %d\nsha256 %s\n" % (len(body), hashlib.sha256(body).hexdigest().encode())
    if len(data) < 512 or not data.startswith(b"flashmc-hdf5-integrity 1\n"):
        return "no flashmc integrity block"
    if data[:512] != head.ljust(512, b"\0"):
        return "integrity block does not match the content (truncated or corrupted)"
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="flashmc model file (.h5)")
    ap.add_argument("--data", default=os.environ.get("FLASHMC_DATA", "data/cifar-10-batches-bin"))
    ap.add_argument("--limit", type=int, default=2000, help="first N test images (2000; 0 = all)")
    ap.add_argument("--mode", choices=["auto", "integer", "float", "both"], default="auto",
                    help="auto: integer for a quantized model, float for an FP32 one")
    ap.add_argument("--predictions", help="flashmc eval --predictions CSV of the integer (or FP32) run")
    ap.add_argument("--float-predictions", help="flashmc eval --float --predictions CSV (mode both)")
    ap.add_argument("--flashmc", help="flashmc binary: run flashmc eval here instead of reading CSV files")
    ap.add_argument("--batch", type=int, default=200)
    ap.add_argument("--max-float-differ", type=int, default=None,
                    help="float graph: prediction differences allowed (default 0.2%% of the images)")
    args = ap.parse_args()

    problem = integrity_problem(args.model)
    if problem:
        print(f"{args.model}: {problem}", file=sys.stderr)
        return 2
    with h5py.File(args.model, "r") as f:
        if text(f.attrs.get("filetype", b"")) != "flashmc.model":
            print(f"{args.model}: not a flashmc model file", file=sys.stderr)
            return 2
        graph = read_graph(f["model"]) if "model" in f else None
        quant = read_graph(f["quantized"]) if "quantized" in f else None
    images, labels = read_test_images(args.data, args.limit)
    n = images.shape[0]
    mode = args.mode
    if mode == "auto":
        mode = "integer" if quant is not None else "float"
    if mode in ("integer", "both") and quant is None:
        print(f"{args.model}: no /quantized group (an FP32 model): use --mode float", file=sys.stderr)
        return 2
    if mode in ("float", "both") and graph is None:
        print(f"{args.model}: no /model group (a deployable file): use --mode integer", file=sys.stderr)
        return 2
    max_float = args.max_float_differ if args.max_float_differ is not None else max(1, n // 500)

    tmp = tempfile.mkdtemp(prefix="check_model_format-")
    try:
        return check(args, graph, quant, images, labels, mode, max_float, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check(args, graph, quant, images, labels, mode, max_float, tmp):
    n = images.shape[0]
    csv_int, csv_float, compare_claim = args.predictions, args.float_predictions, None
    if args.flashmc:
        if mode in ("integer", "both"):
            csv_int = os.path.join(tmp, "integer.csv")
            outp = run_flashmc(args.flashmc, args.model, args.data, n, ["--compare"] if mode == "both" else [], csv_int)
            m = re.search(r"predictions differing from integer inference: (\d+) of (\d+)", outp)
            compare_claim = int(m.group(1)) if m else None
        if mode in ("float", "both"):
            csv_float = os.path.join(tmp, "float.csv")
            run_flashmc(args.flashmc, args.model, args.data, n, ["--float"] if quant is not None else [], csv_float)
    elif mode == "float" and csv_float is None:
        csv_float = args.predictions

    ok = True
    int_logits = float_logits = None
    if mode in ("integer", "both"):
        int_logits = run_model(IntegerModel(quant), images, args.batch, "integer")
        if csv_int:
            ok &= compare("integer model (/quantized)", int_logits, labels, csv_int, True, 0)
    if mode in ("float", "both"):
        label = "fake-quantized graph (/model)" if quant is not None else "FP32 graph (/model)"
        float_logits = run_model(FloatModel(graph), images, args.batch, "float")
        if csv_float:
            ok &= compare(label, float_logits, labels, csv_float, False, max_float)
    if int_logits is not None and float_logits is not None:
        d = int((np.argmax(int_logits, 1) != np.argmax(float_logits, 1)).sum())
        claim = "" if compare_claim is None else f" (flashmc eval --compare says {compare_claim})"
        print(f"predictions differing between integer inference and the fake-quantized graph: {d} of {n}{claim}")
        if compare_claim is not None and abs(compare_claim - d) > max_float:
            print("the --compare count is not reproduced: FAIL")
            ok = False
    if not (csv_int or csv_float):
        print("no predictions to compare with (give --predictions or --flashmc)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
