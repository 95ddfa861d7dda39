#!/usr/bin/python3
"""nor_cim_ua against the measured-cell fits it was built from (issue 17 §4; docs/physics.md §2a).

The curves: the 40 nm SONOS CIM cell statistics of Agrawal et al., IEDM 2022 (21.7), 128k cells,
as fitted and encoded in Sandia's CrossSim (simulator/devices/custom/SONOS.py): the spread of the
programmed current sigma_I = A(1 - exp(-I/B)) with A = 19.9 nA, B = 176 nA (Fig. 10(a), t = 0), and
the read-to-read noise with A = 12.6 nA, B = 215 nA (Fig. 11(b)), over 0-1.6 uA. flashmc's side:
`flashmc cells` on devices/nor_cim_ua.toml at levels 1-7 (0.1-0.7 uA), pulse-level program-verify,
verify and read at 25 C: the spread of one read after programming (against the programming fit),
and the read-to-read noise, sigma(I2 - I1)/sqrt(2) over two independent reads of the same cells
(read_current_a, read_current_2_a; against the read-noise fit).

Usage: python3 scripts/card_vs_measured.py [-o docs/card_vs_measured_nor_cim_ua.png] [--count N]
Prints the table with the relative errors. Needs build/release/flashmc, numpy and matplotlib.
"""
import argparse
import csv
import os
import subprocess
import tempfile

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

FITS = {"programming": (19.9e-9, 176e-9), "read noise": (12.6e-9, 215e-9)}  # A, B (A)


def fit(kind, i):
    a, b = FITS[kind]
    return a * (1 - np.exp(-i / b))


def read_currents(level, count, tmp):
    """The two reads of `count` cells programmed to `level`."""
    out = os.path.join(tmp, f"l{level}.csv")
    subprocess.run(["build/release/flashmc", "cells", "--device", "devices/nor_cim_ua.toml", "--level", str(level),
                    "--count", str(count), "--program", "verify", "--seed", "1", "--out", out],
                   check=True, stdout=subprocess.DEVNULL)
    with open(out) as f:
        rows = list(csv.DictReader(f))
    return (np.array([float(r[k]) for r in rows]) for k in ("read_current_a", "read_current_2_a"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", default="docs/card_vs_measured_nor_cim_ua.png")
    ap.add_argument("--count", type=int, default=20000)
    a = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for level in range(1, 8):
            first, second = read_currents(level, a.count, tmp)
            rows.append((level, first.mean(), first.std(ddof=1), (second - first).std(ddof=1) / np.sqrt(2)))
    lv, i, s_prog, s_read = (np.array(c) for c in zip(*rows))
    print("| level | mean I (µA) | σ_I programmed + one read, card (nA) | programming fit (nA) | error "
          "| σ_I read to read, card (nA) | read-noise fit (nA) | error |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    ep, er = s_prog / fit("programming", i) - 1, s_read / fit("read noise", i) - 1
    for k in range(len(lv)):
        print(f"| {lv[k]} | {i[k] * 1e6:.3f} | {s_prog[k] * 1e9:.2f} | {fit('programming', i[k]) * 1e9:.2f} | "
              f"{100 * ep[k]:+.0f} % | {s_read[k] * 1e9:.2f} | {fit('read noise', i[k]) * 1e9:.2f} | {100 * er[k]:+.0f} % |")
    print(f"\nrms relative error: programming {100 * np.sqrt(np.mean(ep ** 2)):.0f} %, "
          f"read noise {100 * np.sqrt(np.mean(er ** 2)):.0f} % ({a.count} cells per level)")
    x = np.linspace(0, 1.6e-6, 200)
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for kind, s, color in (("programming", s_prog, "C0"), ("read noise", s_read, "C1")):
        ax.plot(x * 1e6, fit(kind, x) * 1e9, color=color, label=f"SONOS {kind} fit (Agrawal et al. 2022, 128k cells)")
        ax.plot(i * 1e6, s * 1e9, "o", color=color,
                label="nor_cim_ua, " + ("programmed + one read" if kind == "programming" else "read to read"))
    ax.set_xlabel("mean cell current (µA)")
    ax.set_ylabel("σ of the cell current (nA)")
    ax.set_title("nor_cim_ua (flashmc cells, levels 1-7, 25 °C) against measured-cell fits", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(a.out, dpi=120)
    print(a.out)


if __name__ == "__main__":
    main()
