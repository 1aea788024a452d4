#!/usr/bin/env python3
"""Makes an istio-oracle output directory deterministic: sorts listeners, drops repeated route configs.

Usage: normalize.py OUT_DIR        (OUT_DIR holds one sub-directory per proxy)

The oracle sorts routes, clusters and endpoints but writes listeners in the order istiod builds them, which
for gateways with several ports follows Go map iteration and changes from run to run. Nothing else is
touched: listeners.json keeps every byte of each listener (re-indented exactly as the oracle writes it,
json.MarshalIndent with two spaces), and the LISTENERS section of summary.txt gets the same order.

The oracle also collects route configs per listener (RoutesFromListeners), so a route config that two
listeners share (HTTPS on TCP and HTTP/3 on UDP, with PILOT_ENABLE_QUIC_LISTENERS) appears twice. istiod
serves one RDS resource per name, so an identical repeat is dropped (routes.json and summary.txt); a repeat
with different content would be kept and reported.
"""
import json
import os
import sys


def sort_listeners_json(path):
    with open(path) as f:
        listeners = json.load(f)
    listeners.sort(key=lambda l: l.get("name", ""))
    with open(path, "w") as f:
        f.write(json.dumps(listeners, indent=2, ensure_ascii=False) + "\n")


def dedupe_routes_json(path):
    with open(path) as f:
        routes = json.load(f)
    seen, out = {}, []
    for r in routes:
        name = r.get("name", "")
        if name in seen:
            if seen[name] == r:
                continue
            print("normalize: %s: two different route configs named %s kept" % (path, name), file=sys.stderr)
        seen[name] = r
        out.append(r)
    if len(out) != len(routes):
        with open(path, "w") as f:
            f.write(json.dumps(out, indent=2, ensure_ascii=False) + "\n")


def dedupe_summary_routes(path):
    with open(path) as f:
        lines = f.read().split("\n")
    try:
        start = lines.index("== ROUTES") + 1
        end = lines.index("== CLUSTERS")
    except ValueError:
        return
    blocks = []
    for line in lines[start:end]:
        if line.startswith("route_config ") or not blocks:
            blocks.append([line])
        else:
            blocks[-1].append(line)
    kept = []
    for b in blocks:
        if b not in kept:
            kept.append(b)
    lines[start:end] = [l for b in kept for l in b]
    with open(path, "w") as f:
        f.write("\n".join(lines))


def sort_summary(path):
    with open(path) as f:
        lines = f.read().split("\n")
    try:
        start = lines.index("== LISTENERS") + 1
        end = lines.index("== ROUTES")
    except ValueError:
        return
    blocks = []
    for line in lines[start:end]:
        if line.startswith("listener ") or not blocks:
            blocks.append([line])
        else:
            blocks[-1].append(line)
    blocks.sort(key=lambda b: b[0])
    lines[start:end] = [l for b in blocks for l in b]
    with open(path, "w") as f:
        f.write("\n".join(lines))


def main():
    out = sys.argv[1]
    for proxy in sorted(os.listdir(out)):
        d = os.path.join(out, proxy)
        if not os.path.isdir(d):
            continue
        if os.path.exists(os.path.join(d, "listeners.json")):
            sort_listeners_json(os.path.join(d, "listeners.json"))
        if os.path.exists(os.path.join(d, "routes.json")):
            dedupe_routes_json(os.path.join(d, "routes.json"))
        if os.path.exists(os.path.join(d, "summary.txt")):
            sort_summary(os.path.join(d, "summary.txt"))
            dedupe_summary_routes(os.path.join(d, "summary.txt"))


if __name__ == "__main__":
    main()
