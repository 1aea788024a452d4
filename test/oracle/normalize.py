#!/usr/bin/env python3
"""Makes an istio-oracle output directory deterministic: sorts listeners by name.

Usage: normalize.py OUT_DIR        (OUT_DIR holds one sub-directory per proxy)

The oracle sorts routes, clusters and endpoints but writes listeners in the order istiod builds them, which
for gateways with several ports follows Go map iteration and changes from run to run. Nothing else is
touched: listeners.json keeps every byte of each listener (re-indented exactly as the oracle writes it,
json.MarshalIndent with two spaces), and the LISTENERS section of summary.txt gets the same order.
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
        if os.path.exists(os.path.join(d, "summary.txt")):
            sort_summary(os.path.join(d, "summary.txt"))


if __name__ == "__main__":
    main()
