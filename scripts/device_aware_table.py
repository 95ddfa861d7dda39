#!/usr/bin/python3
"""Issue 18 §4 table: the shipped W4A4 model against its device-aware fine-tuned version, with and
without per-bit-line calibration, on the same sampled chips (same sweep file, seed, point and trial:
the same stream keys), from results/device_aware/<condition>_<shipped|tuned>_<none|gain-offset>.h5
(scripts/device-aware-study.sh).

Per condition and calibration: each model's accuracy on the chips (mean, 95% t interval), its digital
accuracy on the same images, the drop (digital - chips, paired per chip), the paired gain of the
tuned model over the shipped one (mean of per-chip differences, 95% t interval), and the share of
the shipped model's drop the fine-tuning recovers, gain / drop (shipped, no calibration); then the
refresh intervals of the retention_<model>_<calibration>.h5 files present. Usage:
    /usr/bin/python3 scripts/device_aware_table.py [DIR [NAME]]   (Debian's python3-h5py, python3-scipy)
NAME: the fine-tuned model's file label (default "tuned"; e.g. "mix6", "specialist").
"""
import os
import re
import sys

import h5py
import numpy as np
from scipy import stats

CONDITIONS = [("vth10", "σ_Vth = 10 mV, open loop"), ("ispp10", "ISPP step 10 mV"),
              ("retention_1d_85c", "retention 1 day at 85 °C"), ("rtn10", "RTN 10 mV"),
              ("read_85c", "read at 85 °C")]


def load(path):
    with h5py.File(path, "r") as f:
        acc = f["accuracy"][...].ravel()
        return acc[np.isfinite(acc)], float(f["stats"].attrs["ideal_accuracy"])


def interval(x):
    """Mean and 95% t half-width, in points, of the finite values (a unit not run is NaN)."""
    x = 100 * np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return float("nan"), float("nan")
    h = stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)) if len(x) > 1 else float("nan")
    return x.mean(), h


def fmt(m, h):
    return f"{m:.2f} ± {h:.2f}"


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "results/device_aware"
    name = sys.argv[2] if len(sys.argv) > 2 else "tuned"
    print("| condition | calibration | shipped: chips % | shipped: drop | tuned: chips % | tuned: drop | "
          "gain tuned − shipped (paired) | recovered share of the drop |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    digital = {}
    for key, label in CONDITIONS:
        base = None
        for cal in ("none", "gain-offset"):
            paths = {"shipped": os.path.join(d, f"{key}_shipped_{cal}.h5"), "tuned": os.path.join(d, f"{key}_{name}_{cal}.h5")}
            if not all(os.path.exists(p) for p in paths.values()):
                continue
            (s, s_dig), (t, t_dig) = load(paths["shipped"]), load(paths["tuned"])
            n = min(len(s), len(t))
            s, t = s[:n], t[:n]
            digital[key] = (s_dig, t_dig)
            drop_s, drop_t = interval(s_dig - s), interval(t_dig - t)
            gain = interval(t - s)
            if cal == "none":
                base = drop_s[0]
            share = f"{100 * gain[0] / base:.0f}%" if base and base > 0 else "—"
            print(f"| {label} | {cal} | {fmt(*interval(s))} | {fmt(*drop_s)} | {fmt(*interval(t))} | {fmt(*drop_t)} | "
                  f"**{fmt(*gain)}** | {share} |")
    if digital:
        s_dig, t_dig = next(iter(digital.values()))
        print(f"\nDigital accuracy on these 1,000 images: shipped {100 * s_dig:.2f}%, tuned {100 * t_dig:.2f}%.")
    remedies_table(d, name)
    reads_table(d)
    refresh_table(d, name)


def paired(base_path, path):
    """A remedy's file against the shipped model read without calibration (base_path), on the first
    n chips common to both (a file with more trials adds chips; their stream keys must agree):
    its chips' accuracies, the paired gain (mean, 95% half-width) and the share of the drop on the
    same chips it recovers, formatted with the gain's interval over that drop."""
    s, s_dig = load(base_path)
    t, _ = load(path)
    n = min(len(s), len(t))
    with h5py.File(base_path, "r") as fb, h5py.File(path, "r") as f:
        if not np.array_equal(f["stream_keys"][:, :n], fb["stream_keys"][:, :n]):
            sys.exit(f"{path}: not the chips of {base_path} (stream keys differ)")
    g, h = interval(t[:n] - s[:n])
    dn = interval(s_dig - s[:n])[0]
    share = f"{100 * g / dn:.0f}% ({100 * (g - h) / dn:.0f}–{100 * (g + h) / dn:.0f}%)" if dn > 0 else "—"
    return t[:n], g, h, share


def remedies_table(d, name):
    """Each remedy against the shipped model read without calibration, on the same chips (the files
    share seed, points and trials, and the calibration acts at read time on the chip it is given):
    the paired gain of calibration alone (shipped, gain-offset), fine-tuning alone (tuned, none) and
    both (tuned, gain-offset), and the share of the shipped model's uncalibrated drop each recovers
    (gain / drop, the interval the gain's 95% t interval over that drop). Where two files hold
    different numbers of chips, gain and drop are taken over the first chips common to both; the
    drop column is over all of the shipped file's chips."""
    remedies = [("calibration", "shipped", "gain-offset"), ("fine-tuning", name, "none"), ("both", name, "gain-offset")]
    # The guarded calibration (chip.column_calibration = "gain-offset-guarded"), where it was run.
    if any(f.endswith("_gain-offset-guarded.h5") for f in os.listdir(d)):
        remedies += [("guarded calibration", "shipped", "gain-offset-guarded"), ("both, guarded", name, "gain-offset-guarded")]
    # The calibration averaged over K noisy calibration reads (chip.calibration_reads = K), where
    # both models were run so: <condition>_<model>_gain-offset-<K>reads.h5 (reads_table has every K).
    for k in calibration_reads(d, name):
        remedies += [(f"calibration, {k} reads", "shipped", f"gain-offset-{k}reads"), (f"both, {k} reads", name, f"gain-offset-{k}reads")]
    rows = []
    for key, label in CONDITIONS:
        base_path = os.path.join(d, f"{key}_shipped_none.h5")
        if not os.path.exists(base_path):
            continue
        s, s_dig = load(base_path)
        drop = interval(s_dig - s)[0]
        cells = []
        for _, model, cal in remedies:
            path = os.path.join(d, f"{key}_{model}_{cal}.h5")
            if not os.path.exists(path):
                cells.append("n/a")
                continue
            _, g, h, share = paired(base_path, path)
            cells.append(f"{fmt(g, h)}: {share}")
        rows.append(f"| {label} | {drop:.2f} | " + " | ".join(cells) + " |")
    if not rows:
        return
    print("\nEach remedy against the shipped model read without calibration (paired gain in points on the same "
          "chips, the first n of each pair of files: share of that drop recovered, with the gain's 95% interval):\n")
    print("| condition | shipped drop, no calibration | " + " | ".join(r[0] for r in remedies) + " |")
    print("| --- | ---: |" + " --- |" * len(remedies))
    print("\n".join(rows))


def calibration_reads(d, model):
    """The K of the files <condition>_<model>_gain-offset-<K>reads.h5 in d, in order."""
    pattern = re.compile(rf"_{re.escape(model)}_gain-offset-(\d+)reads\.h5$")
    return sorted({int(m.group(1)) for m in (pattern.search(f) for f in os.listdir(d)) if m})


def reads_table(d):
    """The shipped model's calibration over K noisy calibration reads (chip.calibration_reads), per
    condition with such files: K = 1 is <condition>_shipped_gain-offset.h5; each K's accuracy on
    the chips, its paired gain over the uncalibrated read and the share of that drop it recovers
    (the first chips common to both files, as remedies_table)."""
    ks = calibration_reads(d, "shipped")
    for key, label in CONDITIONS:
        base_path = os.path.join(d, f"{key}_shipped_none.h5")
        paths = [(1, os.path.join(d, f"{key}_shipped_gain-offset.h5"))]
        paths += [(k, os.path.join(d, f"{key}_shipped_gain-offset-{k}reads.h5")) for k in ks if k != 1]
        paths = [(k, p) for k, p in paths if os.path.exists(p)]
        if not os.path.exists(base_path) or len(paths) < 2:
            continue
        print(f"\n{label}, the shipped model calibrated on the mean of K noisy calibration reads "
              "(`chip.calibration_reads`; paired with the uncalibrated read):\n")
        print("| calibration reads K | chips | chips % | gain over no calibration | share of the drop |")
        print("| ---: | ---: | --- | --- | --- |")
        for k, path in paths:
            t, g, h, share = paired(base_path, path)
            print(f"| {k} | {len(t)} | {fmt(*interval(t))} | {fmt(g, h)} | {share} |")


def duration(s):
    """As `flashmc inspect` prints a retention time."""
    day, year = 86400.0, 365 * 86400.0
    if s >= year:
        return f"{s / year:.3g} yr"
    if s >= day:
        return f"{s / day:.3g} d"
    if s >= 3600:
        return f"{s / 3600:.3g} h"
    return f"{s:.3g} s"


def refresh_table(d, name, target=0.9):
    """Refresh intervals at a `target` yield per read temperature, from the /refresh groups that
    `flashmc sweep` writes into retention_<model>_<none|gain-offset>.h5 (median and 95% interval of
    the Bayesian bootstrap over the chips; "<"/">" where the interval leaves the time axis)."""
    rows = []
    for model in ("shipped", name):
        for cal in ("none", "gain-offset"):
            path = os.path.join(d, f"retention_{model}_{cal}.h5")
            if not os.path.exists(path):
                continue
            with h5py.File(path, "r") as f:
                if "refresh" not in f:  # written when the sweep completes
                    rows.append((model, cal, "incomplete", {}))
                    continue
                times = f["axes/time"][...]
                first, last = times[times > 0].min(), times.max()
                r = f["refresh"]
                cells = {}
                for i, y in enumerate(r["yield_target"][...]):
                    if abs(y - target) > 1e-9:
                        continue
                    def bound(t):
                        return f"< {duration(first)}" if t == 0 else f"> {duration(last)}" if np.isinf(t) else duration(t)
                    cens = int(r["censoring"][i])
                    est = (f"< {duration(first)}" if cens < 0 else f"> {duration(last)}" if cens > 0
                           else duration(r["time_s"][i]))
                    cells[float(r["group"][i][0])] = f"{est} ({bound(r['ci_lo_s'][i])} … {bound(r['ci_hi_s'][i])})"
                chips = int(f["done"][...].sum(axis=1).min())
            rows.append((model, cal, chips, cells))
    if not rows:
        return
    temps = sorted({t for *_, cells in rows for t in cells})
    if not temps:
        print("\nRefresh intervals: no retention sweep complete yet (" + ", ".join(f"{m} {c}" for m, c, *_ in rows) + ").")
        return
    print(f"\nRefresh interval at a {100 * target:.0f}% yield of the spec accuracy (median, 95% interval):\n")
    print("| model | calibration | chips a point | " + " | ".join(f"{t:g} °C" for t in temps) + " |")
    print("| --- | --- | --- | " + " | ".join("---" for _ in temps) + " |")
    for model, cal, chips, cells in rows:
        print(f"| {model} | {cal} | {chips} | " + " | ".join(cells.get(t, "—") for t in temps) + " |")


if __name__ == "__main__":
    main()
