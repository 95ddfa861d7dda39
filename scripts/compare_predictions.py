#!/usr/bin/python3
"""Digital accuracy of two models on the same test images, paired (issue 18 §4's digital cost).

Reads two `flashmc eval --predictions FILE.csv` files (index,label,prediction,logits...) of the same
images and prints each model's accuracy, the paired difference B − A in points with its 95 % interval
(normal approximation to the mean of per-image differences, n = 10,000), the discordant images (right
under A only, right under B only) and the exact McNemar test's two-sided p (binomial on the discordant
pairs). The interval is over the choice of test images: it says how far the difference measured on
CIFAR-10's 10,000 could be from the difference on the population they sample. Usage:
    /usr/bin/python3 scripts/compare_predictions.py A.csv B.csv   (Debian's python3-numpy, python3-scipy)
"""
import sys

import numpy as np
from scipy import stats


def load(path):
    a = np.loadtxt(path, delimiter=",", skiprows=1, usecols=(0, 1, 2), dtype=np.int64, ndmin=2)
    return a[:, 0], a[:, 1], a[:, 1] == a[:, 2]


def main(argv):
    if len(argv) != 3:
        sys.exit(__doc__)
    (ia, la, ra), (ib, lb, rb) = load(argv[1]), load(argv[2])
    if len(ia) != len(ib) or not np.array_equal(ia, ib) or not np.array_equal(la, lb):
        sys.exit(f"{argv[1]} and {argv[2]} do not hold the same images and labels ({len(ia)} and {len(ib)} rows)")
    n = len(ia)
    d = rb.astype(float) - ra.astype(float)
    mean = 100 * d.mean()
    half = 100 * stats.norm.ppf(0.975) * d.std(ddof=1) / np.sqrt(n) if n > 1 else float("nan")
    only_a, only_b = int((ra & ~rb).sum()), int((rb & ~ra).sum())
    p = stats.binomtest(only_b, only_a + only_b).pvalue if only_a + only_b else 1.0
    print(f"images: {n}")
    print(f"A {argv[1]}: {100 * ra.mean():.2f}%")
    print(f"B {argv[2]}: {100 * rb.mean():.2f}%")
    print(f"B - A: {mean:+.2f} ± {half:.2f} points (95%: {mean - half:+.2f} to {mean + half:+.2f})")
    print(f"right under A only: {only_a}, under B only: {only_b}; exact McNemar p = {p:.3f}")


if __name__ == "__main__":
    main(sys.argv)
