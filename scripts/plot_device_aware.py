#!/usr/bin/python3
"""Issue 18 §4 figure: the shipped W4A4 model and its device-aware fine-tuned version, each read with
and without per-bit-line calibration, on the same sampled chips (scripts/device-aware-study.sh).

Left: per condition, each of the four combinations' mean accuracy over the chips with its 95% t
interval (<condition>_<shipped|NAME>_<none|gain-offset>.h5); the dotted lines are the two models'
digital accuracy on the same images. Right, one panel per temperature: mean accuracy against
retention time with its 95% interval (retention_<model>_<calibration>.h5, experiments/retention.toml)
and the spec accuracy of the refresh intervals. Usage:
    /usr/bin/python3 scripts/plot_device_aware.py DIR NAME -o OUT.png [--title TEXT]
(Debian's python3-h5py, python3-matplotlib, python3-scipy), e.g.
    scripts/plot_device_aware.py results/vgg16/device_aware mix6 -o results/vgg16/device_aware/mix6.png \
        --title "VGG16 W4A4 (shipped, 91.67%) and device-aware mix6 (91.60%): 8 chips × 1,000 images per cell"
(the committed figures' commands are in results/README.md, "Device-aware fine-tuning").
"""
import argparse
import os

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from device_aware_table import CONDITIONS, interval  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir")
    ap.add_argument("name", help="the fine-tuned model's file label (e.g. mix6)")
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--title", default=None)
    a = ap.parse_args()

    combos = [("shipped", "none", "shipped", "#9e9e9e"), ("shipped", "gain-offset", "shipped + calibration", "#1f77b4"),
              (a.name, "none", a.name, "#ff7f0e"), (a.name, "gain-offset", f"{a.name} + calibration", "#2ca02c")]
    temps = []
    for model, cal, *_ in combos:
        path = os.path.join(a.dir, f"retention_{model}_{cal}.h5")
        if os.path.exists(path):
            with h5py.File(path, "r") as f:
                temps = sorted(set(temps) | set(f["point_values"][:, 0].tolist()))
    fig = plt.figure(figsize=(15, 5.2))
    grid = fig.add_gridspec(1, 2 + len(temps), width_ratios=[3.2, 0.15] + [1] * len(temps))
    left = fig.add_subplot(grid[0, 0])
    panels = {t: fig.add_subplot(grid[0, 2 + i]) for i, t in enumerate(temps)}

    digital = {}
    width = 0.2
    labels = []
    for ci, (key, label) in enumerate(CONDITIONS):
        labels.append(label)
        for k, (model, cal, legend, color) in enumerate(combos):
            path = os.path.join(a.dir, f"{key}_{model}_{cal}.h5")
            if not os.path.exists(path):
                continue
            with h5py.File(path, "r") as f:
                m, h = interval(f["accuracy"][...].ravel())
                digital[model] = 100 * float(f["stats"].attrs["ideal_accuracy"])
            left.bar(ci + (k - 1.5) * width, m, width, yerr=h, color=color, capsize=2,
                     label=legend if ci == 0 else None)
    for model, ls in (("shipped", ":"), (a.name, "--")):
        if model in digital:
            left.axhline(digital[model], color="k", ls=ls, lw=1, label=f"{model}, digital ({digital[model]:.1f}%)")
    left.set_xticks(range(len(labels)))
    left.set_xticklabels([lab.replace(", ", ",\n").replace(" at ", "\nat ") for lab in labels], fontsize=8)
    left.set_ylabel("accuracy on the chips (%), mean and 95% interval")
    lo = min([v for v in digital.values()] + [100]) - 25
    left.set_ylim(max(0, lo), 100)
    left.legend(fontsize=7, loc="lower left")
    left.set_title("paired conditions (same chips)", fontsize=10)

    spec = None
    for model, cal, legend, color in combos:
        path = os.path.join(a.dir, f"retention_{model}_{cal}.h5")
        if not os.path.exists(path):
            continue
        with h5py.File(path, "r") as f:
            pv = f["point_values"][...]  # (temperature, time) per point
            acc = f["accuracy"][...]
            spec = 100 * float(f.attrs["spec_accuracy"])
        for t, ax in panels.items():
            rows = np.where(pv[:, 0] == t)[0]
            rows = rows[np.argsort(pv[rows, 1])]
            mh = np.array([interval(acc[r]) for r in rows]).reshape(-1, 2)
            ok = np.isfinite(mh[:, 0])
            x, m, h = pv[rows, 1][ok], mh[ok, 0], np.nan_to_num(mh[ok, 1])
            ax.plot(x, m, marker="o", ms=3, color=color, label=legend)
            ax.fill_between(x, m - h, m + h, color=color, alpha=0.12)
    for i, (t, ax) in enumerate(panels.items()):
        if spec is not None:
            ax.axhline(spec, color="k", lw=0.8, ls=":", label=f"spec {spec:.0f}%" if i == 0 else None)
        ax.set_xscale("log")
        ax.set_ylim(0, 100)
        ax.set_title(f"retention at {t:g} °C", fontsize=10)
        ax.set_xlabel("retention time (s)")
        if i == 0:
            ax.set_ylabel("accuracy on the chips (%)")
            ax.legend(fontsize=6, loc="lower left")
        else:
            ax.set_yticklabels([])
    fig.suptitle(a.title or f"{a.dir}: shipped vs {a.name}, with and without per-bit-line calibration", fontsize=11)
    fig.tight_layout()
    fig.savefig(a.out, dpi=110)
    print(a.out)


if __name__ == "__main__":
    main()
