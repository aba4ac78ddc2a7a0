"""PNG plots from results.json (run by run.py with the bench venv's
matplotlib, which the test venv does not carry).

    python bench/plots.py bench/results
"""

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLOURS = {"baseline": "#999999", "null": "#c6dbef", "before": "#6baed6",
           "otas": "#08519c",
           "moesif": "#e6550d", "apitoolkit": "#31a354", "otel": "#756bb1",
           "sentry": "#d62728"}


def overhead(data, out):
    wls = data["overhead"]["workloads"]
    variants = [v for v in COLOURS if v != "baseline"
                and any(v in wl["rows"] for wl in wls.values())]
    fig, ax = plt.subplots(figsize=(10, 5))
    width = 0.8 / max(1, len(variants))
    for i, v in enumerate(variants):
        xs, ys = [], []
        for j, wl in enumerate(wls.values()):
            r = wl["rows"].get(v)
            a = None if not r else (r["added_us"] if r.get("added_paired_us") is None
                                    else r["added_paired_us"])
            if a is not None:
                xs.append(j + (i - (len(variants) - 1) / 2) * width)
                ys.append(max(a, 0.1))
        bars = ax.bar(xs, ys, width, label=v, color=COLOURS[v])
        for b, y in zip(bars, ys):
            ax.annotate(f"{y:.0f}", (b.get_x() + b.get_width() / 2, y), ha="center",
                        va="bottom", fontsize=7)
    ax.set_xticks(range(len(wls)))
    ax.set_xticklabels([wl["label"] for wl in wls.values()])
    ax.set_yscale("log")
    ax.set_ylabel("added latency per request, µs (paired median, log scale)")
    ax.set_title("Request overhead over no capture (in-process, back end up)")
    ax.legend(ncol=3, fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "overhead.png", dpi=110)
    plt.close(fig)


def down(data, out):
    rows = dict(data["down"]["rows"])
    for v, r in data["down"].get("gone_after_start", {}).items():
        if v != "baseline":  # started with the back end up, then it went away
            rows[v + "*"] = r
    vs = [v for v in rows if v != "baseline"]
    cols = [COLOURS[v.rstrip("*")] for v in vs]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    a1.bar(vs, [max(rows[v]["added_us"], 0.1) for v in vs], color=cols)
    a1.set_yscale("log")
    a1.set_ylabel("added µs per request (median, log)")
    a1.set_title("Back end down: added latency")
    a2.bar(vs, [rows[v]["rss_growth_kb"] / 1024 for v in vs], color=cols)
    a2.set_ylabel("MB")
    a2.set_title(f"RSS growth over {data['down']['requests']:,} requests")
    if any(v.endswith("*") for v in vs):
        fig.text(0.01, 0.01, "* could not start with its back end down: back end "
                 "up at start-up, then stopped", fontsize=7)
    for a in (a1, a2):
        a.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    fig.savefig(out / "down.png", dpi=110)
    plt.close(fig)


def served(data, out):
    rows = data["served"]["rows"]
    fig, ax = plt.subplots(figsize=(7, 4))
    eps = list(rows)
    names = {"baseline": "without otas", "before": "otas before", "otas": "with otas"}
    vs = [v for v in names if all(v in rows[ep] for ep in eps)]
    w = 0.8 / len(vs)
    for i, v in enumerate(vs):
        ys = [rows[ep][v]["rps"] for ep in eps]
        bars = ax.bar([j + (i - (len(vs) - 1) / 2) * w for j in range(len(eps))], ys, w,
                      label=names[v], color=COLOURS[v])
        for b, y in zip(bars, ys):
            ax.annotate(f"{y:.0f}", (b.get_x() + b.get_width() / 2, y), ha="center",
                        va="bottom", fontsize=8)
    ax.set_xticks(range(len(eps)))
    ax.set_xticklabels([f"{ep}\n(with/without {rows[ep]['rps_ratio']:.3f}"
                        + (f", before {rows[ep]['before_rps_ratio']:.3f})"
                           if "before_rps_ratio" in rows[ep] else ")")
                        for ep in eps], fontsize=8)
    ax.set_ylabel("requests/s (median of rounds)")
    ax.set_title("Served throughput: gunicorn 2 workers, demo app, wrk")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "served.png", dpi=110)
    plt.close(fig)


def cpu(data, out):
    """CPU per event added over the baseline (adapter alone vs full otas),
    and the sender's profile in µs per event by stage."""
    c = data["cpu"]
    pe = (c.get("per_event") or {}).get("workloads") or {}
    prof = c.get("profile") or {}
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.5),
                                 gridspec_kw={"width_ratios": [1, 1.6]})
    vs = [v for v in ("null", "before", "otas") if any(v in wl["rows"]
                                                       for wl in pe.values())]
    w = 0.8 / max(1, len(vs))
    for j, wl in enumerate(pe.values()):
        for i, v in enumerate(vs):
            r = wl["rows"].get(v)
            if not r:
                continue
            y = r["added_cpu_us_paired"]
            b = a1.bar(j + (i - (len(vs) - 1) / 2) * w, y, w, color=COLOURS[v],
                       label=v if j == 0 else None)
            a1.annotate(f"{y:.1f}", (b[0].get_x() + w / 2, max(y, 0)), ha="center",
                        va="bottom", fontsize=8)
    a1.set_xticks(range(len(pe)))
    a1.set_xticklabels([wl["label"] for wl in pe.values()])
    a1.set_ylabel("CPU µs per request over no OTAS (all threads)")
    a1.axhline(6, color="#d62728", lw=0.8, ls="--")
    a1.annotate("goal 6 µs", (len(pe) - 0.6, 6), fontsize=7, color="#d62728",
                va="bottom")
    a1.legend(fontsize=8)
    stages = [s_ for s_ in prof.get("stages", []) if s_.get("us_per_event")]
    if stages:
        names = [s_["stage"] for s_ in stages][::-1]
        vals = [s_["us_per_event"] for s_ in stages][::-1]
        a2.barh(names, vals, color="#08519c")
        for k, v in enumerate(vals):
            a2.annotate(f"{v:.2f}", (v, k), va="center", fontsize=7)
        a2.set_xlabel("sender thread, µs CPU per event (C driver, callgrind shares)")
        a2.tick_params(axis="y", labelsize=7)
    fig.suptitle("OTAS CPU per event (before: the --before tree; profile: today's "
                 "engine)")
    fig.tight_layout()
    fig.savefig(out / "cpu.png", dpi=110)
    plt.close(fig)


def main():
    out = Path(sys.argv[1])
    data = json.loads((out / "results.json").read_text())
    if data.get("overhead", {}).get("workloads"):
        overhead(data, out)
    if data.get("down", {}).get("rows"):
        down(data, out)
    if data.get("served", {}).get("rows"):
        served(data, out)
    if data.get("cpu"):
        cpu(data, out)
    if data.get("dashboard", {}).get("rows"):
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import bench_dashboard  # noqa: E402
        g = {}
        exec(bench_dashboard.PLOT_CODE, g)
        g["plot"](json.dumps(data["dashboard"]["rows"]), str(out / "dashboard.png"))


if __name__ == "__main__":
    main()
