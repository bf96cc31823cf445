#!/usr/bin/env python3
"""compare-goldens.py — writes compare/testdata/scipy-goldens.json, the values
package compare's statistics are tested against, computed by SciPy from the
raw (unbinned) samples.

    /usr/bin/python3 scripts/compare-goldens.py > compare/testdata/scipy-goldens.json

Needs Debian's python3-scipy (`GOLDENS=1 scripts/deps.sh` installs it). The Go
tests read the committed JSON and need no Python. Every input is fixed here
(NumPy's seeded generator for the larger ones), so the output only changes when
SciPy's numbers do.

Each sample is written binned, [[value, count], ...], as canary's histograms
give it to package compare; the references below expand the bins back to raw
arrays and rank them with SciPy, so a binned computation that agrees with them
agrees with the textbook one.
"""

import json
import sys

import numpy as np
import scipy
from scipy import optimize, stats


def bins(values):
    v, c = np.unique(np.asarray(values, dtype=np.int64), return_counts=True)
    return [[int(a), int(b)] for a, b in zip(v, c)]


def raw(b):
    return np.repeat([v for v, _ in b], [c for _, c in b]).astype(np.float64)


def mann_whitney(x, y):
    out = {}
    for alt in ("two-sided", "greater"):
        for method in ("auto", "asymptotic"):
            r = stats.mannwhitneyu(x, y, alternative=alt, method=method, use_continuity=True)
            out[f"{alt}/{method}"] = {"u": float(r.statistic), "p": float(r.pvalue)}
    return out


def hl_estimate(xb, yb):
    """Median of the n1*n2 differences, from the bins (weighted), checked
    against the raw outer difference when that is small enough to build."""
    xv = np.array([v for v, _ in xb], dtype=np.float64)
    xc = np.array([c for _, c in xb], dtype=np.float64)
    yv = np.array([v for v, _ in yb], dtype=np.float64)
    yc = np.array([c for _, c in yb], dtype=np.float64)
    d = np.subtract.outer(xv, yv).ravel()
    w = np.outer(xc, yc).ravel()
    order = np.argsort(d, kind="stable")
    d, w = d[order], np.cumsum(w[order])
    n = int(w[-1])

    def kth(k):  # 1-based
        return d[np.searchsorted(w, k)]

    est = kth((n + 1) // 2) if n % 2 else (kth(n // 2) + kth(n // 2 + 1)) / 2
    x, y = raw(xb), raw(yb)
    if x.size * y.size <= 4_000_000:
        assert est == np.median(np.subtract.outer(x, y)), "binned and raw medians differ"
    return float(est)


def wdiff(x, y, mu, zq):
    """R's wilcox.test / Kayenta's statistic of x - mu against y minus zq
    (two-sided, continuity-corrected), from SciPy's ranks."""
    nx, ny = x.size, y.size
    r = stats.rankdata(np.concatenate([x - mu, y]))
    dz = r[:nx].sum() - nx * (nx + 1) / 2 - nx * ny / 2
    _, t = np.unique(r, return_counts=True)
    t = t.astype(np.float64)
    sigma = np.sqrt(nx * ny / 12 * ((nx + ny + 1) - (t**3 - t).sum() / ((nx + ny) * (nx + ny - 1))))
    return (dz - np.sign(dz) * 0.5) / sigma - zq


def hl_interval(xb, yb, confidence):
    """The shifts where wdiff crosses the normal quantiles, found exactly on
    integer data: the statistic only changes at integer shifts, so evaluate it
    just past each integer (d + 0.5) and bisect. Cross-checked against
    Brent's method, which is what R and Kayenta run (to 1e-4)."""
    x, y = raw(xb), raw(yb)
    mu_min, mu_max = int(x.min() - y.max()), int(x.max() - y.min())
    if mu_min == mu_max:
        return [mu_min, mu_max]
    z = stats.norm.ppf(1 - (1 - confidence) / 2)
    out = []
    for zq in (z, -z):
        if wdiff(x, y, mu_min, zq) <= 0:
            root = mu_min
        elif wdiff(x, y, mu_max, zq) >= 0:
            root = mu_max
        else:
            lo, hi = mu_min, mu_max
            while lo < hi:
                mid = lo + (hi - lo) // 2
                if wdiff(x, y, mid + 0.5, zq) <= 0:
                    hi = mid
                else:
                    lo = mid + 1
            root = lo
            brent = optimize.brentq(lambda m: wdiff(x, y, m, zq), mu_min, mu_max, xtol=1e-6)
            assert abs(brent - root) < 1e-3, f"bisection {root} and Brent {brent} disagree"
        out.append(int(root))
    return out


def latency_like(rng, n, median, sigma, scale=1.0):
    """Lognormal latencies in microseconds at three significant digits, as an
    HdrHistogram keeps them: many ties."""
    v = rng.lognormal(np.log(median), sigma, n) * scale
    digits = np.floor(np.log10(v)) - 2
    step = 10.0**np.maximum(digits, 0)
    return (np.ceil(v / step) * step).astype(np.int64)


def samples():
    rng = np.random.default_rng(20261207)
    base = latency_like(rng, 5000, 20000, 0.4)
    return [
        # SciPy's documentation example (Conover): no ties, small: exact.
        ("small", [19, 22, 16, 29, 24], [20, 11, 17, 12]),
        ("small-one-sided", [30, 35, 41, 28, 39, 33], [20, 25, 22, 27, 24, 31, 26]),
        ("small-tied", [3, 5, 5, 8, 9, 9, 9], [1, 3, 4, 5, 7, 7]),
        ("tied", rng.integers(1, 20, 60), rng.integers(0, 18, 50)),
        ("untied-medium", rng.permutation(np.arange(1000, 4000, 7))[:300] + 40, rng.permutation(np.arange(1003, 4000, 11))[:250]),
        ("equal", base[:300], base[:300]),
        ("single-values", [5] * 10, [3] * 12),
        ("large-3pct-slower", latency_like(rng, 5000, 20000, 0.4, 1.03), base),
        ("large-same", latency_like(rng, 6000, 20000, 0.4), base),
        ("large-faster", latency_like(rng, 4000, 18000, 0.5), base),
    ]


def proportions():
    out = []
    for name, xk, xn, yk, yn in [
        ("more-errors", 150, 10000, 50, 10000),
        ("slightly-more", 12, 1000, 5, 1000),
        ("same", 500, 100000, 480, 100000),
        ("fewer", 30, 40000, 60, 40000),
        ("high-rates", 30, 40, 10, 40),
        ("tiny-fisher", 3, 200, 0, 180),
        ("tiny-fisher-reverse", 0, 200, 4, 180),
        ("tiny-both", 1, 20, 2, 25),
        ("no-events", 0, 500, 0, 500),
        ("unequal-sizes", 9, 300, 40, 5000),
    ]:
        table = [[xk, xn - xk], [yk, yn - yk]]
        row = {"name": name, "xk": xk, "xn": xn, "yk": yk, "yn": yn}
        for conf in (0.95, 0.9):
            lx, ux = stats.binomtest(xk, xn).proportion_ci(conf, method="wilson")
            ly, uy = stats.binomtest(yk, yn).proportion_ci(conf, method="wilson")
            px, py = xk / xn, yk / yn
            d = px - py
            # Newcombe (1998) method 10 from SciPy's Wilson intervals.
            row[f"newcombe/{conf}"] = [d - np.sqrt((px - lx) ** 2 + (uy - py) ** 2), d + np.sqrt((ux - px) ** 2 + (py - ly) ** 2)]
            row[f"wilson/{conf}"] = [[lx, ux], [ly, uy]]
        if xk + yk > 0:
            chi2, p2, _, _ = stats.chi2_contingency(table, correction=False)
            z = np.sqrt(chi2) * np.sign(px - py)
            row["z"] = z
            row["z/two-sided"] = p2
            row["z/greater"] = p2 / 2 if z > 0 else 1 - p2 / 2
        for alt in ("two-sided", "greater"):
            row[f"fisher/{alt}"] = stats.fisher_exact(table, alternative=alt)[1]
        out.append({k: (float(v) if isinstance(v, (np.floating, float)) else v) for k, v in row.items()})
    return out


def main():
    mw, hl = [], []
    for name, x, y in samples():
        xb, yb = bins(x), bins(y)
        mw.append({"name": name, "x": xb, "y": yb, **mann_whitney(raw(xb), raw(yb))})
        hl.append({"name": name, "estimate": hl_estimate(xb, yb),
                   "interval/0.95": hl_interval(xb, yb, 0.95), "interval/0.9": hl_interval(xb, yb, 0.9)})
    doc = {
        "generated_by": "scripts/compare-goldens.py",
        "scipy": scipy.__version__,
        "numpy": np.__version__,
        "mann_whitney": mw,
        "hodges_lehmann": hl,
        "proportions": proportions(),
    }
    json.dump(doc, sys.stdout, indent=1, default=lambda v: v.tolist() if hasattr(v, "tolist") else float(v))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
