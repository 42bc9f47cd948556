#!/usr/bin/env python3
"""Medians of the benchmark runs, ratios of realtime-hub against every peer, the targets of
the benchmark issue (reported, never asserted), and the chart. The two-node workload (h) is
reported as ratios of each peer's two-node run to its one-node run.

    summarize.py RAW.jsonl META.json RESULTS.json RESULTS.md CHART.png
    summarize.py --line JSON        (one run, in one line)

RAW.jsonl has one line per run: {"key": workload, "run": n, "report": <hub-bench's JSON line>}.
Uses only the standard library; the chart needs matplotlib and is skipped without it.
"""
import json
import statistics
import sys
from collections import defaultdict

METRICS = ["deliveries_per_s", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms", "loss",
           "connect_per_s", "server_cpu_pct", "generator_cpu_pct", "server_rss_kib",
           "server_peak_rss_kib", "rss_per_conn_kib", "failed_connections", "messages",
           "planned_messages", "deliveries", "expected", "seconds", "lost", "nodes",
           "relayed_expected", "relayed_deliveries", "relayed_p50_ms", "relayed_p99_ms",
           "local_p50_ms", "local_p99_ms", "core0_busy_pct", "deliveries_per_cpu_s"]
TITLES = {
    "a_fanout_100": "(a) chat fan-out: 1 room x 100 subscribers, messages as fast as possible",
    "a_saturated_100": "(a+) 1 room x 100 subscribers, 4 publishers, window 256: the server's "
                       "core, not the round trip, sets the rate",
    "b_fanout_1000": "(b) 1 room x 1,000 subscribers, messages as fast as possible",
    "b_saturated_1000": "(b+) 1 room x 1,000 subscribers, 4 publishers, window 256",
    "c_latency_20": "(c) latency: 20 msg/s to 1 room x 1,000 subscribers",
    "d_idle": "(d) idle connections: server memory per connection",
    "e_pairs_chat": "(e) many small rooms: 2-device rooms, 5 msg/s each, PC-side latency "
                    "(chat-protocol stand-in)",
    "e_pairs_guitar": "(e') the same pairs over realtime-hub's guitar dialect (hub only)",
    "f_broadcast_redis": "(f) broadcast dialect: a Laravel app publishing through Redis to one "
                         "channel of 1,000 browsers (hub only)",
    "g_messages": "(g) messages dialect: direct messages over REST, read receipts over the "
                  "socket (hub only)",
}
# How the targets table names a workload (its letter otherwise).
SHORT = {"a_saturated_100": "a+", "b_saturated_1000": "b+", "e_pairs_guitar": "e'"}
# (h): one room over two nodes beside one node of the same stack and size. Keys are
# f"{prefix}_1node" and f"{prefix}_2nodes"; each prefix is one table. "core 0" is the servers'
# core (scripts/bench.sh pins them, their Redis and their PostgreSQL there).
NODES_TITLE = ("(h) two nodes: 1 room, its subscribers split over two nodes and a publisher on "
               "each, beside one node of the same stack and size")
NODES_TABLES = {
    "h_fanout": "messages as fast as possible: deliveries/s",
    "h_latency": "20 msg/s: latency",
}
NODES_PEERS = ["hub", "django-redis"]
PEER_ORDER = ["hub", "minimal", "node", "django", "django-redis"]
# (workload, metric, peer, bound, "min" = hub/peer must be at least bound, "max" = at most,
# the peer's workload when it is not the hub's own). The transport's targets first: what a
# core carries, the rate with the server saturated and with one publisher's round trip, the
# latency, idle memory and many small rooms; then the first benchmark's against Node and Django.
TARGETS = [
    ("a_fanout_100", "deliveries_per_cpu_s", "minimal", 1.0, "min", None),
    ("b_fanout_1000", "deliveries_per_cpu_s", "minimal", 1.0, "min", None),
    ("a_saturated_100", "deliveries_per_cpu_s", "minimal", 1.0, "min", None),
    ("b_saturated_1000", "deliveries_per_cpu_s", "minimal", 1.0, "min", None),
    ("a_saturated_100", "deliveries_per_s", "minimal", 1.0, "min", None),
    ("b_saturated_1000", "deliveries_per_s", "minimal", 1.0, "min", None),
    ("a_fanout_100", "deliveries_per_s", "minimal", 0.8, "min", None),
    ("c_latency_20", "p99_ms", "minimal", 1.0, "max", None),
    ("d_idle", "rss_per_conn_kib", "minimal", 1.2, "max", None),
    ("e_pairs_chat", "p99_ms", "node", 1.0, "max", None),
    ("e_pairs_chat", "p99_ms", "minimal", 3.0, "max", None),
    ("e_pairs_guitar", "p99_ms", "node", 1.0, "max", "e_pairs_chat"),
    ("e_pairs_guitar", "p99_ms", "minimal", 3.0, "max", "e_pairs_chat"),
    ("a_fanout_100", "deliveries_per_s", "node", 5, "min", None),
    ("a_fanout_100", "deliveries_per_s", "django", 100, "min", None),
    ("b_fanout_1000", "deliveries_per_s", "node", 5, "min", None),
    ("b_fanout_1000", "deliveries_per_s", "django", 100, "min", None),
]
# (table prefix, metric, bound, kind): the hub's two-node run ÷ its one-node run.
NODES_TARGETS = [
    ("h_latency", "p99_ms", 2, "max"),
    ("h_fanout", "deliveries_per_s", 0.7, "min"),
]


def peer_key(p):
    return PEER_ORDER.index(p) if p in PEER_ORDER else len(PEER_ORDER)


def medians(raw_path):
    runs = defaultdict(list)
    with open(raw_path) as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                runs[(row["key"], row["report"]["peer"])].append(row["report"])
    results = defaultdict(dict)
    for (key, peer), reports in runs.items():
        for r in reports:
            r["core0_busy_pct"] = (r.get("cores_busy_pct") or [0])[0]
        med = {m: statistics.median(r.get(m, 0) for r in reports) for m in METRICS}
        # Loss is not a median: one lossy run is a lossy stack.
        med["max_lost"] = max(r.get("lost", r.get("expected", 0) - r.get("deliveries", 0))
                              for r in reports)
        med["runs"] = len(reports)
        med["timed_out_runs"] = sum(1 for r in reports if r["timed_out"])
        med["unsaturated_runs"] = sum(1 for r in reports if r.get("saturated") is False)
        med["workload"] = reports[0]["workload"]
        results[key][peer] = med
    return results


def ratio(a, b):
    return a / b if a and b else None


def fmt_ratio(r):
    return "–" if r is None else (f"{r:.2f}x" if r < 10 else f"{r:,.0f}x")


def is_nodes_key(key):
    return any(key.startswith(prefix + "_") for prefix in NODES_TABLES)


def nodes_tables(results):
    """(h): for each peer, its one-node and two-node runs and the ratios between them."""
    lines = []
    for prefix, label in NODES_TABLES.items():
        one, two = results.get(f"{prefix}_1node", {}), results.get(f"{prefix}_2nodes", {})
        if not one and not two:
            continue
        if not lines:
            lines += [f"### {NODES_TITLE}", ""]
        sample = next(iter((two or one).values()))
        lines += [f"#### {label}", "", f"`{sample['workload']}`", "",
                  "| peer | nodes | deliveries/s | delivered | lost (worst run) | p50 ms | p99 ms | "
                  "max ms | relayed p50 / p99 ms | local p50 / p99 ms | server CPU | core 0 busy | "
                  "generator CPU | two ÷ one, deliveries/s | two ÷ one, p99 |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        peers = sorted(set(one) | set(two), key=lambda p: NODES_PEERS.index(p) if p in NODES_PEERS else 99)
        for p in peers:
            for n, rows in ((1, one), (2, two)):
                r = rows.get(p)
                if not r:
                    continue
                bound = " †" if r["timed_out_runs"] else ""
                if n == 2 and p in one:
                    rate = fmt_ratio(ratio(r["deliveries_per_s"], one[p]["deliveries_per_s"]))
                    lat = fmt_ratio(ratio(r["p99_ms"], one[p]["p99_ms"]))
                else:
                    rate = lat = ""
                relayed = (f"{r['relayed_p50_ms']:.2f} / {r['relayed_p99_ms']:.2f}"
                           if r["relayed_expected"] else "–")
                local = (f"{r['local_p50_ms']:.2f} / {r['local_p99_ms']:.2f}"
                         if r["relayed_expected"] else "–")
                lines.append(
                    f"| {p} | {n} | {r['deliveries_per_s']:,.0f}{bound} | "
                    f"{r['deliveries']:,.0f} of {r['expected']:,.0f} | {r['max_lost']:,.0f} | "
                    f"{r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['max_ms']:.2f} | {relayed} | {local} | "
                    f"{r['server_cpu_pct']:.0f}% | {r['core0_busy_pct']:.0f}% | "
                    f"{r['generator_cpu_pct']:.0f}% | {rate} | {lat} |")
        hub, dj = two.get("hub"), two.get("django-redis")
        if hub and dj:
            lines += ["", f"Two nodes: hub ÷ django-redis, deliveries/s "
                          f"{fmt_ratio(ratio(hub['deliveries_per_s'], dj['deliveries_per_s']))}; "
                          f"django-redis ÷ hub, p99 {fmt_ratio(ratio(dj['p99_ms'], hub['p99_ms']))}."]
        lines.append("")
    return lines


def tables(results):
    lines = []
    keys = [k for k in results if not is_nodes_key(k)]
    for key in sorted(keys, key=lambda k: list(TITLES).index(k) if k in TITLES else 99):
        rows = results[key]
        peers = sorted(rows, key=peer_key)
        hub = rows.get("hub")
        lines += [f"### {TITLES.get(key, key)}", "", f"`{rows[peers[0]]['workload']}`", ""]
        if key == "d_idle":
            lines += ["| peer | RSS per connection | server RSS | connects/s | refused | hub ÷ peer (<1: hub smaller) |",
                      "|---|---:|---:|---:|---:|---:|"]
            for p in peers:
                r = rows[p]
                rr = ratio(hub and hub["rss_per_conn_kib"], r["rss_per_conn_kib"])
                lines.append(f"| {p} | {r['rss_per_conn_kib']:.1f} KiB | {r['server_rss_kib'] / 1024:.0f} MiB | "
                             f"{r['connect_per_s']:,.0f} | {r['failed_connections']:.0f} | {fmt_ratio(rr)} |")
            lines.append("")
            continue
        lines += ["| peer | deliveries/s | delivered | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | "
                  "server CPU | deliveries per server CPU-s | generator CPU | "
                  "hub ÷ peer, deliveries/s (>1: hub faster) | hub ÷ peer, per CPU-s | "
                  "hub ÷ peer, p99 (<1: hub lower) |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for p in peers:
            r = rows[p]
            bound = " †" if r["timed_out_runs"] else ""
            delivered = f"{r['deliveries']:,.0f} of {r['expected']:,.0f}"
            rate = ratio(hub and hub["deliveries_per_s"], r["deliveries_per_s"])
            per_cpu = ratio(hub and hub["deliveries_per_cpu_s"], r["deliveries_per_cpu_s"])
            lat = ratio(hub and hub["p99_ms"], r["p99_ms"])
            idle = " ‡" if r["unsaturated_runs"] else ""
            lines.append(f"| {p} | {r['deliveries_per_s']:,.0f}{bound}{idle} | {delivered} | {r['p50_ms']:.2f} | "
                         f"{r['p90_ms']:.2f} | {r['p99_ms']:.2f} | {r['p999_ms']:.2f} | {r['max_ms']:.2f} | "
                         f"{r['server_cpu_pct']:.0f}% | {r['deliveries_per_cpu_s']:,.0f} | "
                         f"{r['generator_cpu_pct']:.0f}% | {fmt_ratio(rate)} | {fmt_ratio(per_cpu)} | "
                         f"{fmt_ratio(lat)} |")
        lines.append("")
    return lines


def targets(results):
    lines = ["### Targets (ratios measured in this run; reported, not asserted)", "",
             "| target | hub | against | ratio | met |", "|---|---:|---:|---:|---|"]
    for key, metric, peer, bound, kind, against in TARGETS:
        if key not in results:
            continue  # not run (--only)
        hub = results.get(key, {}).get("hub")
        other = results.get(against or key, {}).get(peer)
        want = f"{'≥' if kind == 'min' else '≤'} {bound}x {peer}"
        if against:
            want += f"'s {SHORT.get(against, against[0])}"
        name = f"{SHORT.get(key, key[0])}: {metric.replace('_', ' ').replace('per cpu s', 'per server CPU-s')} {want}"
        if not hub or not other:
            lines.append(f"| {name} | – | – | – | not measured |")
            continue
        r = ratio(hub[metric], other[metric])
        met = r is not None and (r >= bound if kind == "min" else r <= bound)
        lines.append(f"| {name} | {hub[metric]:,.1f} | {other[metric]:,.1f} | {fmt_ratio(r)} | "
                     f"{'yes' if met else 'no'} |")
    for prefix, metric, bound, kind in NODES_TARGETS:
        if f"{prefix}_1node" not in results and f"{prefix}_2nodes" not in results:
            continue  # not run (--only)
        one = results.get(f"{prefix}_1node", {}).get("hub")
        two = results.get(f"{prefix}_2nodes", {}).get("hub")
        name = (f"h: {metric.replace('_', ' ').replace('per cpu s', 'per server CPU-s')} two nodes {'≥' if kind == 'min' else '≤'} "
                f"{bound}x one node")
        if not one or not two:
            lines.append(f"| {name} | – | – | – | not measured |")
            continue
        r = ratio(two[metric], one[metric])
        met = r is not None and (r >= bound if kind == "min" else r <= bound)
        lines.append(f"| {name} | {two[metric]:,.1f} | {one[metric]:,.1f} | {fmt_ratio(r)} | "
                     f"{'yes' if met else 'no'} |")
    twos = [results.get(f"{prefix}_2nodes", {}).get("hub") for prefix in NODES_TABLES]
    twos = [t for t in twos if t]
    if twos:
        lost = sum(t["max_lost"] for t in twos)
        lines.append(f"| h: no loss over two nodes (worst run of each) | {lost:,.0f} lost | 0 | – | "
                     f"{'yes' if lost == 0 else 'no'} |")
    return lines + [""]


def chart(results, meta, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return f"(matplotlib not available: {path} not written)"
    panels = [
        ("a_fanout_100", "deliveries_per_s", "(a) deliveries/s, 1 room × 100", "{:,.0f}"),
        ("b_fanout_1000", "deliveries_per_s", "(b) deliveries/s, 1 room × 1,000", "{:,.0f}"),
        ("c_latency_20", "p99_ms", "(c) p99 latency ms, 20 msg/s × 1,000", "{:,.1f}"),
        ("d_idle", "rss_per_conn_kib", "(d) server KiB per idle connection", "{:.1f}"),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(18, 4.8))
    for ax, (key, metric, label, fmt) in zip(axes, panels):
        data = results.get(key, {})
        peers = sorted(data, key=peer_key)
        values = [max(data[p][metric], 1e-3) for p in peers]
        bars = ax.bar(peers, values, color=["#2563eb" if p == "hub" else "#9ca3af" for p in peers])
        if metric != "rss_per_conn_kib":
            ax.set_yscale("log")
        ax.set_title(label + (" (log)" if metric != "rss_per_conn_kib" else ""), fontsize=10)
        ax.tick_params(axis="x", labelsize=8)
        for bar, p, v in zip(bars, peers, values):
            # A run that hit its bound measured only what arrived before it.
            mark = " †" if data[p]["timed_out_runs"] else ""
            ax.annotate(fmt.format(v) + mark, (bar.get_x() + bar.get_width() / 2, v), ha="center",
                        va="bottom", fontsize=8)
    mode = "quick run, 1 run each" if meta.get("quick") else f"median of {meta.get('runs', 3)} runs"
    fig.suptitle(f"realtime-hub (blue) and its peers, same machine, same run: {mode}; "
                 f"server on core 0, generator on core 1 — {meta.get('date', '')}\n"
                 "† = the run hit its time bound (rate and latency of what arrived before it)",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return f"chart: {path}"


def main(raw, meta_path, results_path, md_path, chart_path):
    with open(meta_path) as f:
        meta = json.load(f)
    results = medians(raw)
    with open(results_path, "w") as f:
        json.dump({"meta": meta, "results": results}, f, indent=2, sort_keys=True)
    mode = "quick (1 run each, smaller sizes)" if meta.get("quick") else f"full, median of {meta.get('runs')} runs"
    lines = [f"Run of {meta.get('date')}: {mode}; commit {meta.get('commit')}; {meta.get('cores')} cores "
             f"({meta.get('cpu')}), server and generator pinned to separate cores: {'yes' if meta.get('pinned') else 'no'}; "
             f"{meta.get('rustc')}, node {meta.get('node')}, {meta.get('python')}.", ""]
    lines += tables(results) + nodes_tables(results) + targets(results)
    lines.append("† = at least one run hit its time bound: the rate is over what arrived before it.")
    lines.append("‡ = in at least one run sending as fast as possible, the server stayed under 95 % "
                 "of its core: the round trip or the generator, not the server, set the rate.")
    text = "\n".join(lines)
    with open(md_path, "w") as f:
        f.write(text + "\n")
    print()
    print(text)
    print()
    print(chart(results, meta, chart_path))


def one_line(line):
    r = json.loads(line)
    if r["planned_messages"]:
        bound = " (bound hit)" if r["timed_out"] else ""
        nodes = ""
        if r.get("nodes", 1) > 1:
            nodes = (f", {r['nodes']} nodes: relayed p99 {r['relayed_p99_ms']:.1f} ms, "
                     f"{r['relayed_deliveries']:,} of {r['relayed_expected']:,} relayed")
        if r.get("saturated") is False:
            bound += " (server not saturated)"
        return (f"{r['deliveries_per_s']:,.0f} deliveries/s{bound}, "
                f"{r.get('deliveries_per_cpu_s', 0):,.0f} per server CPU-s, p99 {r['p99_ms']:.1f} ms, "
                f"loss {r['loss'] * 100:.1f}% ({r.get('lost', 0):,} lost), server "
                f"{r['server_cpu_pct']:.0f}% / generator {r['generator_cpu_pct']:.0f}% CPU{nodes}")
    return f"{r['rss_per_conn_kib']:.1f} KiB per connection, {r['failed_connections']} refused"


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--line":
        print(one_line(sys.argv[2]))
    elif len(sys.argv) == 6:
        main(*sys.argv[1:6])
    else:
        sys.exit(__doc__)
