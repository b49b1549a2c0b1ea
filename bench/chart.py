"""The chart of one benchmark result: median time and peak RSS per workload and engine,
as an SVG (text kept as text, no timestamp: a few tens of KB, committed next to its
results table).

    python bench/chart.py bench/results/<date>-<machine>.json   # writes <date>-<machine>.svg

matplotlib is a benchmark-only dependency; without it the chart is skipped.
"""

import json
import sys

COLORS = {"ember": "#d9480f", "pyspark": "#1c7ed6", "dask": "#2f9e44", "python": "#868e96"}


def write(result, path):
    """Draws the chart of result (run.py's JSON) into path; returns a message."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        matplotlib.rcParams["svg.fonttype"] = "none"   # text as <text>, not paths: smaller
        matplotlib.rcParams["svg.hashsalt"] = "ember"  # the same ids in every run
        import matplotlib.pyplot as plt
    except ImportError:
        return "chart: skipped (matplotlib is not installed; `make bench` installs it)"
    rows = [r for r in result["summary"] if r.get("median_s") is not None]
    if not rows:
        return "chart: skipped (no successful runs)"
    engines = [e for e in COLORS if any(r["engine"] == e for r in rows)]
    wnames = list(dict.fromkeys(r["workload"] for r in result["summary"]))
    wnames = [w for w in wnames if any(r["workload"] == w for r in rows)]
    by = {(r["workload"], r["engine"]): r for r in rows}
    fig, axes = plt.subplots(1, 2, figsize=(13, 0.9 * len(wnames) + 2.2))
    height = 0.8 / len(engines)
    for ax, key, label, scale in [(axes[0], "median_s", "median time (s, log scale)", 1.0),
                                  (axes[1], "peak_rss", "peak RSS of the process tree (MB)",
                                   1 / (1 << 20))]:
        for i, e in enumerate(engines):
            ys, xs = [], []
            for j, w in enumerate(wnames):
                r = by.get((w, e))
                if r is not None and r.get(key) is not None:
                    ys.append(j + (i - (len(engines) - 1) / 2) * height)
                    xs.append(r[key] * scale)
            ax.barh(ys, xs, height=height, color=COLORS[e], label=e)
        ax.set_yticks(range(len(wnames)))
        ax.set_yticklabels(wnames)
        ax.invert_yaxis()
        ax.set_xlabel(label)
        if key == "median_s":
            ax.set_xscale("log")
        ax.grid(axis="x", alpha=0.3)
    axes[1].legend(loc="center right")
    m = result["machine"]
    fig.suptitle(f"ember benchmarks, {result['date'][:10]}, {m.get('cores')} cores "
                 f"({m.get('cpu', '?')})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, metadata={"Date": None})
    plt.close(fig)
    return f"chart: {path}"


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        res = json.load(f)
    print(write(res, sys.argv[1].rsplit(".", 1)[0] + ".svg"))
