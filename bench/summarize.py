#!/usr/bin/env python3
"""Medians of the benchmark runs, ratios against every peer, and the chart.

    summarize.py raw.jsonl results.json chart.png
"""
import json
import statistics
import sys
from collections import defaultdict

METRICS = ["deliveries_per_s", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms", "loss",
           "connect_per_s", "server_cpu_pct", "server_rss_kib", "server_peak_rss_kib", "rss_per_conn_kib",
           "failed_connections", "seconds"]
TITLES = {
    "a_fanout_100": "(a) 1 room x 100 subscribers, messages as fast as possible",
    "b_fanout_1000": "(b) 1 room x 1,000 subscribers",
    "c_latency_20": "(c) 20 msg/s to 1,000 subscribers",
    "d_idle": "(d) idle connections",
    "e_pairs_chat": "(e) 1,000 pairs, 5 msg/s each (chat protocol)",
    "e_pairs_guitar": "(e) 1,000 guitar pairs, 5 chord changes/s each (hub's guitar protocol)",
}
PEER_ORDER = ["hub", "minimal", "node", "django", "django-redis"]


def main(raw, results_path, chart_path):
    runs = defaultdict(list)
    with open(raw) as f:
        for line in f:
            row = json.loads(line)
            runs[(row["key"], row["report"]["peer"])].append(row["report"])
    results = defaultdict(dict)
    for (key, peer), reports in runs.items():
        med = {m: statistics.median(r[m] for r in reports) for m in METRICS}
        med["runs"] = len(reports)
        med["timed_out"] = any(r["timed_out"] for r in reports)
        results[key][peer] = med
    with open(results_path, "w") as f:
        json.dump(results, f, indent=2, sort_keys=True)

    for key in sorted(results):
        peers = sorted(results[key], key=lambda p: PEER_ORDER.index(p) if p in PEER_ORDER else 99)
        hub = results[key].get("hub")
        print(f"\n### {TITLES.get(key, key)}\n")
        if key == "d_idle":
            print("| peer | RSS per connection (KiB) | server RSS (KiB) | connects/s | refused | hub ÷ peer (RSS/conn) |")
            print("|---|---:|---:|---:|---:|---:|")
            for p in peers:
                r = results[key][p]
                ratio = f"{hub['rss_per_conn_kib'] / r['rss_per_conn_kib']:.2f}x" if hub and r["rss_per_conn_kib"] else "–"
                print(f"| {p} | {r['rss_per_conn_kib']:.1f} | {r['server_rss_kib']:.0f} | {r['connect_per_s']:.0f} | {r['failed_connections']:.0f} | {ratio} |")
            continue
        print("| peer | deliveries/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | loss | server CPU | hub ÷ peer (deliveries/s, >1 = hub faster) | hub ÷ peer (p99, <1 = hub lower) |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for p in peers:
            r = results[key][p]
            rate = f"{hub['deliveries_per_s'] / r['deliveries_per_s']:.2f}x" if hub and r["deliveries_per_s"] else "–"
            lat = f"{hub['p99_ms'] / r['p99_ms']:.2f}x" if hub and r["p99_ms"] else "–"
            bound = " (bound hit)" if r["timed_out"] else ""
            print(f"| {p} | {r['deliveries_per_s']:,.0f}{bound} | {r['p50_ms']:.2f} | {r['p90_ms']:.2f} | {r['p99_ms']:.2f} | "
                  f"{r['p999_ms']:.2f} | {r['max_ms']:.2f} | {r['loss'] * 100:.1f}% | {r['server_cpu_pct']:.0f}% | {rate} | {lat} |")

    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"\n(matplotlib not available: {chart_path} not written)")
        return
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    for ax, key, metric, label in [
        (axes[0], "a_fanout_100", "deliveries_per_s", "deliveries/s, 1 room x 100 (log)"),
        (axes[1], "b_fanout_1000", "deliveries_per_s", "deliveries/s, 1 room x 1,000 (log)"),
        (axes[2], "c_latency_20", "p99_ms", "p99 latency ms, 20 msg/s x 1,000 (log)"),
    ]:
        data = results.get(key, {})
        peers = [p for p in PEER_ORDER if p in data]
        values = [max(data[p][metric], 1e-3) for p in peers]
        bars = ax.bar(peers, values, color=["#2563eb" if p == "hub" else "#9ca3af" for p in peers])
        ax.set_yscale("log")
        ax.set_title(label, fontsize=10)
        for bar, v in zip(bars, values):
            ax.annotate(f"{v:,.0f}" if metric == "deliveries_per_s" else f"{v:.1f}", (bar.get_x() + bar.get_width() / 2, v),
                        ha="center", va="bottom", fontsize=8)
    fig.suptitle("realtime-hub and the stacks it replaces (same machine, same run; medians)")
    fig.tight_layout()
    fig.savefig(chart_path, dpi=110)
    print(f"\nchart: {chart_path}")


def one_line(line):
    r = json.loads(line)
    print(f"{r['deliveries_per_s']:,.0f} deliveries/s, p99 {r['p99_ms']:.1f} ms, loss {r['loss'] * 100:.1f}%, "
          f"rss/conn {r['rss_per_conn_kib']:.1f} KiB")


if __name__ == "__main__":
    if sys.argv[1] == "--line":
        one_line(sys.argv[2])
    else:
        main(*sys.argv[1:4])
