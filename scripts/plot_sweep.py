#!/usr/bin/python3
"""Plot a flashmc sweep file: mean accuracy with its 95 % CI band against each sweep axis.

Usage: python3 scripts/plot_sweep.py F.h5 -o F.png
Needs python3-h5py and python3-matplotlib (scripts/install-deps.sh). With several axes, one panel
per axis; the other axes' values give one line each. Schema: docs/results-format.md.
"""
import argparse
import itertools
import sys

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def text(v):
    """An HDF5 string attribute as str (h5py may give bytes for fixed-length strings)."""
    return v.decode() if isinstance(v, (bytes, np.bytes_)) else str(v)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file")
    ap.add_argument("-o", "--out", required=True, help="output image (.png, .pdf, .svg)")
    a = ap.parse_args()
    with h5py.File(a.file, "r") as f:
        if text(f.attrs.get("filetype", b"")) != "flashmc.sweep":
            sys.exit(f"{a.file}: not a flashmc sweep file")
        names = [n for n in text(f["axes"].attrs["names"]).split(",") if n]
        params = [text(f["axes"].attrs[n + ".parameter"]) for n in names]
        values = [f["axes"][n][...] for n in names]
        mean, lo, hi = (100 * f["stats"][k][...] for k in ("mean", "ci_lo", "ci_hi"))
        ideal = 100 * f["stats"].attrs["ideal_accuracy"]
        title = text(f.attrs.get("name", b"")) or a.file
    if not names:
        names, params, values = ["point"], ["point"], [np.arange(len(mean))]
    shape = [len(v) for v in values]
    mean, lo, hi = (x.reshape(shape) for x in (mean, lo, hi))
    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 4), squeeze=False)
    for k, (name, param, v) in enumerate(zip(names, params, values)):
        ax = axes[0][k]
        others = [range(len(values[j])) for j in range(len(names)) if j != k]
        for combo in itertools.product(*others):
            idx = list(combo)
            idx.insert(k, slice(None))
            idx = tuple(idx)
            label = ", ".join(f"{names[j]}={values[j][combo[i]]:g}"
                              for i, j in enumerate(j for j in range(len(names)) if j != k))
            line, = ax.plot(v, mean[idx], "o-", label=label or "mean")
            ax.fill_between(v, lo[idx], hi[idx], color=line.get_color(), alpha=0.2)
        ax.axhline(ideal, color="k", ls="--", lw=0.8, label="ideal (digital)")
        if param.endswith("_s") or (len(v) > 2 and np.all(v > 0) and v.max() / v.min() > 100):
            pos = v[v > 0]  # a 0 among logarithmic values (e.g. "off"): linear up to the smallest other
            if np.any(v <= 0) and len(pos):
                ax.set_xscale("symlog", linthresh=float(pos.min()))
                ax.set_xlim(left=float(v.min()))
            else:
                ax.set_xscale("log")
        ax.set_xlabel(param)
        ax.set_ylabel("accuracy (%), mean and 95 % CI")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(a.out, dpi=120)
    print(a.out)


if __name__ == "__main__":
    main()
