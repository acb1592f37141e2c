#!/usr/bin/env python3
"""tau against the node budget, one line per drafter, greedy and T = 1 side by side, as an SVG.

    scripts/plot_tau.py tau.csv docs/tau_vs_budget.svg

The CSV is what specdec_llama_results writes (temperature,budget,drafter,tau). Standard library only:
scripts/results runs it on machines without matplotlib.
"""
import csv
import math
import sys
from collections import defaultdict

# Distinct colours (Okabe-Ito and Tableau); the trained heads get solid lines, the rest dashed.
COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#8C564B",
           "#7F7F7F", "#BCBD22", "#17BECF", "#9467BD", "#D62728", "#2CA02C", "#FF7F0E", "#1F77B4", "#E377C2"]
SOLID = {"medusa", "medusa-choices", "medusa-sequoia", "hydra", "clover", "eagle", "draft-model"}
EMPHASIS = {"clover": 3.2, "medusa": 2.4, "medusa-choices": 2.4}


def main(src, dst):
    data = defaultdict(lambda: defaultdict(dict))  # temperature -> drafter -> budget -> tau
    order = []
    for row in csv.DictReader(open(src)):
        t, b, name, tau = float(row["temperature"]), int(row["budget"]), row["drafter"], float(row["tau"])
        data[t][name][b] = tau
        if name not in order:
            order.append(name)
    budgets = sorted({b for t in data for n in data[t] for b in data[t][n]})
    top = math.ceil(max(v for t in data for n in data[t] for v in data[t][n].values()) + 0.25)
    colour = {n: COLOURS[i % len(COLOURS)] for i, n in enumerate(order)}

    panel_w, panel_h, left, right, top_m, bottom = 430, 360, 55, 15, 40, 50
    legend_w = 190
    width = 2 * (left + panel_w + right) + legend_w
    height = top_m + panel_h + bottom
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>']

    def x_of(b, x0):
        lo, hi = math.log2(budgets[0]), math.log2(budgets[-1])
        return x0 + (math.log2(b) - lo) / (hi - lo) * panel_w

    def y_of(v):
        return top_m + panel_h - (v - 1.0) / (top - 1.0) * panel_h

    for p, t in enumerate(sorted(data)):
        x0 = left + p * (left + panel_w + right)
        title = "greedy (T = 0)" if t == 0 else f"sampled (T = {t:g})"
        out.append(f'<text x="{x0 + panel_w / 2}" y="{top_m - 15}" text-anchor="middle" font-size="14">{title}</text>')
        out.append(f'<rect x="{x0}" y="{top_m}" width="{panel_w}" height="{panel_h}" fill="none" stroke="#444"/>')
        for v in range(1, top + 1):
            y = y_of(v)
            out.append(f'<line x1="{x0}" y1="{y}" x2="{x0 + panel_w}" y2="{y}" stroke="#ddd"/>')
            out.append(f'<text x="{x0 - 8}" y="{y + 4}" text-anchor="end">{v}</text>')
        for b in budgets:
            x = x_of(b, x0)
            out.append(f'<line x1="{x}" y1="{top_m}" x2="{x}" y2="{top_m + panel_h}" stroke="#eee"/>')
            out.append(f'<text x="{x}" y="{top_m + panel_h + 18}" text-anchor="middle">{b}</text>')
        out.append(f'<text x="{x0 + panel_w / 2}" y="{height - 10}" text-anchor="middle">node budget N (root included)</text>')
        out.append(f'<text x="{x0 - 38}" y="{top_m + panel_h / 2}" text-anchor="middle" '
                   f'transform="rotate(-90 {x0 - 38} {top_m + panel_h / 2})">tau (tokens per target forward)</text>')
        for name in order:
            points = sorted(data[t][name].items())
            if not points:
                continue
            path = " ".join(f"{x_of(b, x0):.1f},{y_of(v):.1f}" for b, v in points)
            dash = "" if name in SOLID else ' stroke-dasharray="5,3"'
            w = EMPHASIS.get(name, 1.6)
            out.append(f'<polyline points="{path}" fill="none" stroke="{colour[name]}" stroke-width="{w}"{dash}/>')
            for b, v in points:
                out.append(f'<circle cx="{x_of(b, x0):.1f}" cy="{y_of(v):.1f}" r="2.5" fill="{colour[name]}"/>')

    lx = 2 * (left + panel_w + right) + 5
    for i, name in enumerate(order):
        y = top_m + 10 + i * 18
        dash = "" if name in SOLID else ' stroke-dasharray="5,3"'
        out.append(f'<line x1="{lx}" y1="{y}" x2="{lx + 28}" y2="{y}" stroke="{colour[name]}" '
                   f'stroke-width="{EMPHASIS.get(name, 1.6)}"{dash}/>')
        out.append(f'<text x="{lx + 34}" y="{y + 4}">{name}</text>')
    out.append("</svg>")
    open(dst, "w").write("\n".join(out) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: plot_tau.py tau.csv out.svg")
    main(sys.argv[1], sys.argv[2])
