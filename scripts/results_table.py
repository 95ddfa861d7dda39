#!/usr/bin/python3
"""Markdown table of flashmc sweep files: one row per point with its axis values, chips, images,
mean accuracy and 95 % CI, drop against the ideal quantized model (paired, with its CI), yield,
and the sweep's wall time (attribute elapsed_seconds) and thread time spent in units.

Usage: python3 scripts/results_table.py results/*.h5   (Debian's python3-h5py)
"""
import sys

import h5py
import numpy as np


def text(v):
    return v.decode() if isinstance(v, (bytes, np.bytes_)) else str(v)


def pct(x):
    return "—" if not np.isfinite(x) else f"{100 * x:.2f}"


def main():
    for path in sys.argv[1:]:
        with h5py.File(path, "r") as f:
            if text(f.attrs.get("filetype", b"")) != "flashmc.sweep":
                continue
            names = [n for n in text(f["axes"].attrs["names"]).split(",") if n]
            params = [text(f["axes"].attrs[n + ".parameter"]) for n in names]
            pv = f["point_values"][...]
            st = {k: f["stats"][k][...] for k in ("trials", "mean", "ci_lo", "ci_hi", "drop", "drop_ci_lo",
                                                   "drop_ci_hi", "yield")}
            ideal = f["stats"].attrs["ideal_accuracy"]
            secs = np.nansum(f["unit_seconds"][...])
            wall = float(f.attrs.get("elapsed_seconds", float("nan")))
            images = int(f.attrs["images"])
            spec = float(f.attrs["spec_accuracy"])
            done = int(f.attrs["units_done"])
            print(f"### {text(f.attrs['name'])} (`{path}`)\n")
            print(f"{images} test images per chip, {done} chips, ideal (digital W4A4) accuracy {pct(ideal)}%, "
                  f"wall time {wall / 60:.1f} min ({secs / 60:.1f} thread-minutes in units)" +
                  (f", yield spec {100 * spec:.0f}%" if np.isfinite(spec) else "") + "\n")
            head = params + ["chips", "accuracy %", "95% CI", "drop (points)", "drop 95% CI", "yield"]
            print("| " + " | ".join(head) + " |")
            print("|" + "---|" * len(head))
            for p in range(pv.shape[0]):
                row = [f"{v:g}" for v in pv[p]]
                row += [f"{int(st['trials'][p])}", pct(st["mean"][p]), f"{pct(st['ci_lo'][p])}–{pct(st['ci_hi'][p])}",
                        pct(st["drop"][p]), f"{pct(st['drop_ci_lo'][p])}–{pct(st['drop_ci_hi'][p])}",
                        pct(st["yield"][p]) if np.isfinite(spec) else "—"]
                print("| " + " | ".join(row) + " |")
            print()


if __name__ == "__main__":
    main()
