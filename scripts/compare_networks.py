#!/usr/bin/python3
"""Compare networks on one canonical experiment: accuracy and drop (each against the network's own
digital W4A4 accuracy) with 95 % CIs against the swept axis, one line per network; a figure and a
markdown table.

Usage: python3 scripts/compare_networks.py EXPERIMENT [EXPERIMENT ...] [-o results/networks]
       python3 scripts/compare_networks.py --summary
Reads results/EXPERIMENT.h5 (ResNet-20, the shipped model) and results/<network>/EXPERIMENT.h5 for
alexnet, vgg16 and resnet18 where present (scripts/run-experiments.sh --model NAME). Files of one
experiment must share its axes. With two axes, one column of panels per value of the first.
Writes OUT/EXPERIMENT.png and prints the table. --summary prints one table instead: each
non-ideality at its reference points (SUMMARY below), every network's drop with its 95 % CI, the
most robust network and whether its drop's CI is apart from the runner-up's (no figure).
Needs python3-h5py and python3-matplotlib.
"""
import argparse
import os
import sys

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

NETWORKS = [("ResNet-20", "results/{}.h5"), ("AlexNet", "results/alexnet/{}.h5"),
            ("VGG16", "results/vgg16/{}.h5"), ("ResNet-18", "results/resnet18/{}.h5")]


# --summary: (experiment, {axis parameter: value}, description) per row.
SUMMARY = [
    ("vth_variation", {"device.variation.sigma_vth_v": 0.01}, "σ_Vth 10 mV, open loop"),
    ("vth_variation", {"device.variation.sigma_vth_v": 0.015}, "σ_Vth 15 mV, open loop"),
    ("ispp_step", {"device.program.step_v": 0.01}, "ISPP fine step 10 mV"),
    ("ispp_step", {"device.program.step_v": 0.02}, "ISPP fine step 20 mV"),
    ("retention", {"chip.retention_temperature_c": 25, "chip.retention_time_s": 31536000}, "retention 1 y at 25 °C"),
    ("retention", {"chip.retention_temperature_c": 85, "chip.retention_time_s": 86400}, "retention 1 d at 85 °C"),
    ("read_noise", {"device.read_noise.rtn_amplitude_mean_v": 0.01}, "RTN mean step 10 mV"),
    ("read_temperature", {"chip.read_temperature_c": 85}, "read at 85 °C (verified at 25 °C)"),
    ("read_temperature", {"chip.read_temperature_c": -15}, "read at −15 °C"),
    ("adc_bits", {"array.adc_bits": 4}, "4-bit ADCs"),
    ("worst_case", {"chip.pe_cycles": 0}, "worst case (10 y at 85 °C, hot read, RTN, ADCs, wires), fresh"),
    ("worst_case", {"chip.pe_cycles": 10000}, "worst case after 10,000 P/E cycles"),
]


def text(v):
    return v.decode() if isinstance(v, (bytes, np.bytes_)) else str(v)


def load(path):
    with h5py.File(path, "r") as f:
        if text(f.attrs.get("filetype", b"")) != "flashmc.sweep":
            sys.exit(f"{path}: not a flashmc sweep file")
        names = [n for n in text(f["axes"].attrs["names"]).split(",") if n]
        r = {"params": [text(f["axes"].attrs[n + ".parameter"]) for n in names],
             "values": [f["axes"][n][...] for n in names],
             "ideal": 100 * float(f["stats"].attrs["ideal_accuracy"]),
             "images": int(f.attrs["images"])}
        for k in ("mean", "ci_lo", "ci_hi", "drop", "drop_ci_lo", "drop_ci_hi", "trials"):
            r[k] = f["stats"][k][...] * (1 if k == "trials" else 100)
    shape = [len(v) for v in r["values"]] or [len(r["mean"])]
    for k in ("mean", "ci_lo", "ci_hi", "drop", "drop_ci_lo", "drop_ci_hi", "trials"):
        r[k] = r[k].reshape(shape)
    return r


def set_scale(ax, param, v):
    if param.endswith("_s") or (len(v) > 2 and np.all(v > 0) and v.max() / v.min() > 100):
        pos = v[v > 0]
        if np.any(v <= 0) and len(pos):
            ax.set_xscale("symlog", linthresh=float(pos.min()))
            ax.set_xlim(left=float(v.min()))
        else:
            ax.set_xscale("log")


def compare(exp, out_dir):
    found = [(label, load(pattern.format(exp))) for label, pattern in NETWORKS if os.path.exists(pattern.format(exp))]
    if not found:
        sys.exit(f"compare_networks: no results/…/{exp}.h5 found")
    ref = found[0][1]
    for label, r in found[1:]:
        if r["params"] != ref["params"] or any(len(a) != len(b) or np.any(a != b) for a, b in zip(r["values"], ref["values"])):
            sys.exit(f"compare_networks: {label}'s {exp} sweeps other axes or values than {found[0][0]}'s")
    params, values = ref["params"], ref["values"]
    if len(params) > 2:
        sys.exit(f"compare_networks: {exp} has {len(params)} axes; at most 2 are plotted")
    outer = list(range(len(values[0]))) if len(params) == 2 else [None]
    x = values[-1] if params else np.arange(ref["mean"].shape[-1])
    fig, axes = plt.subplots(2, len(outer), figsize=(max(7.0, 5 * len(outer)), 7), squeeze=False)
    for col, o in enumerate(outer):
        for label, r in found:
            sel = (lambda a: a[o]) if o is not None else (lambda a: a)
            for row, (k, lo, hi) in enumerate((("mean", "ci_lo", "ci_hi"), ("drop", "drop_ci_lo", "drop_ci_hi"))):
                ax = axes[row][col]
                line, = ax.plot(x, sel(r[k]), "o-", label=f"{label} (digital {r['ideal']:.2f} %)")
                ax.fill_between(x, sel(r[lo]), sel(r[hi]), color=line.get_color(), alpha=0.15)
        for row, ylabel in enumerate(("accuracy (%), mean and 95 % CI", "drop against own digital (points)")):
            ax = axes[row][col]
            set_scale(ax, params[-1] if params else "", x)
            ax.set_xlabel(params[-1] if params else "point")
            ax.set_ylabel(ylabel)
            ax.grid(alpha=0.3)
            if o is not None:
                ax.set_title(f"{params[0]} = {values[0][o]:g}", fontsize=9)
        axes[0][col].legend(fontsize=7)
    fig.suptitle(f"{exp}: networks compared ({ref['images']} test images per chip)", fontsize=10)
    fig.tight_layout()
    os.makedirs(out_dir, exist_ok=True)
    png = os.path.join(out_dir, exp + ".png")
    fig.savefig(png, dpi=110)
    plt.close(fig)
    # The table: one row per point, accuracy (CI) and drop (CI) per network.
    print(f"#### {exp} (`{png}`)\n")
    head = params + [h for label, _ in found for h in (f"{label} accuracy % (95% CI)", "drop (95% CI)")]
    print("| " + " | ".join(head) + " |")
    print("|" + " --- |" * len(head))
    for idx in np.ndindex(*ref["mean"].shape):
        row = [f"{values[a][i]:g}" for a, i in enumerate(idx)] if params else []
        for _, r in found:
            row += [f"{r['mean'][idx]:.2f} ({r['ci_lo'][idx]:.2f}–{r['ci_hi'][idx]:.2f})",
                    f"{r['drop'][idx]:.2f} ({r['drop_ci_lo'][idx]:.2f}–{r['drop_ci_hi'][idx]:.2f})"]
        print("| " + " | ".join(row) + " |")
    print()


def point_index(r, where, exp):
    """The index of the point whose axis values match `where` (each axis named there, by parameter)."""
    idx = []
    for param, vals in zip(r["params"], r["values"]):
        if param not in where:
            sys.exit(f"compare_networks: {exp}'s axis {param} is not named in its summary point {where}")
        hit = np.flatnonzero(np.isclose(vals.astype(float), where[param], rtol=1e-9, atol=0))
        if len(hit) != 1:
            return None
        idx.append(int(hit[0]))
    return tuple(idx)


def summary():
    """One row per reference point: each network's drop (95 % CI), the most robust network."""
    labels = [label for label, _ in NETWORKS]
    print("| non-ideality | " + " | ".join(f"{label} drop (95% CI)" for label in labels) + " | most robust |")
    print("| --- |" + " ---: |" * len(labels) + " --- |")
    for exp, where, desc in SUMMARY:
        cells, drops = [], []
        for label, pattern in NETWORKS:
            path = pattern.format(exp)
            r = load(path) if os.path.exists(path) else None
            idx = point_index(r, where, exp) if r else None
            if idx is None:
                cells.append("—")
                continue
            d, lo, hi = r["drop"][idx], r["drop_ci_lo"][idx], r["drop_ci_hi"][idx]
            cells.append(f"{d:.1f} ({lo:.1f}–{hi:.1f})")
            drops.append((d, lo, hi, label))
        best = ""
        if len(drops) >= 2:
            drops.sort()
            (d0, lo0, hi0, l0), (d1, lo1, hi1, l1) = drops[0], drops[1]
            best = f"{l0} ({'CI apart from' if hi0 < lo1 else 'CI overlaps'} {l1}'s)"
        print(f"| {desc} | " + " | ".join(cells) + f" | {best} |")
    print()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("experiments", nargs="*")
    ap.add_argument("-o", "--out", default="results/networks", help="output folder (default results/networks)")
    ap.add_argument("--summary", action="store_true", help="one table of every network's drop at reference points")
    a = ap.parse_args()
    if a.summary:
        summary()
    elif not a.experiments:
        ap.error("name an experiment, or --summary")
    for exp in a.experiments:
        compare(exp, a.out)


if __name__ == "__main__":
    main()
