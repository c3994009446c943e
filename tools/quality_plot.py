#!/usr/bin/env python3
"""quality_plot.py — KL divergence against true bits per weight from tools/quality-report TSVs.

One subplot per TSV (model name from its `model` column), one series per method family (JANG
profiles, MLX uniform, MLX mixed, llama.cpp, llama.cpp + imatrix, ours --target-bpw), mean KLD on
a log axis with its ± error, each point labelled with its row name. The reference row (KLD 0 by
definition) is left out. Small PNG (dpi 100, < 150 KB).

Usage: tools/quality_plot.py TSV [TSV...] -o PNG
Needs: matplotlib (${JANG_CACHE:-~/.cache/jang}/venv/bin/pip install matplotlib).
Test: tools/quality-report writes OUTDIR/kld_vs_bpw.png with it at the end of a run.
"""
import argparse
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# family (the TSV's `family` column) -> legend label, colour, marker; also the legend order
FAMILIES = [
    ("JANG", "JANG profiles (rtn)", "tab:blue", "o"),
    ("MLX-uniform", "MLX uniform (rtn)", "tab:green", "s"),
    ("MLX-mixed", "MLX mixed recipes (rtn)", "tab:olive", "D"),
    ("llama.cpp", "llama.cpp", "tab:red", "^"),
    ("llama.cpp+imatrix", "llama.cpp + imatrix", "tab:purple", "v"),
    ("ours-target", "ours --target-bpw (mse)", "black", "*"),
]


def read_tsv(path):
    """Complete rows with a KLD, as dicts; the model name; the reference's true bpw (or None)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    ncol = None
    with open(path) as f:
        ncol = len(f.readline().rstrip("\n").split("\t"))
    good = []
    ref_bpw = None
    for r in rows:
        if None in r or len(r) != ncol:  # a truncated line of a killed run
            continue
        if r.get("row") == "reference" and r.get("true_bpw"):
            ref_bpw = float(r["true_bpw"])
        if not r.get("kld") or not r.get("true_bpw"):
            continue
        try:
            r["x"] = float(r["true_bpw"])
            r["y"] = float(r["kld"])
            r["e"] = float(r["kld_err"] or 0)
        except ValueError:
            continue
        good.append(r)
    model = rows[0]["model"] if rows else path
    return model, good, ref_bpw


def plot_one(ax, model, rows, ref_bpw):
    known = {f[0] for f in FAMILIES}
    fams = FAMILIES + [(f, f, "gray", "x") for f in sorted({r["family"] for r in rows} - known)]
    for fam, label, colour, marker in fams:
        pts = sorted((r for r in rows if r["family"] == fam), key=lambda r: r["x"])
        if not pts:
            continue
        xs = [r["x"] for r in pts]
        ys = [r["y"] for r in pts]
        es = [min(r["e"], 0.9 * r["y"]) for r in pts]  # keep the lower bar above 0 on a log axis
        ax.errorbar(xs, ys, yerr=es, fmt=marker, color=colour, ms=4 if marker != "*" else 7,
                    lw=0.8, elinewidth=0.6, capsize=0, label=label,
                    linestyle="-" if fam == "ours-target" else "none")
        for r in pts:
            ax.annotate(r["row"], (r["x"], r["y"]), xytext=(3, 2), textcoords="offset points",
                        fontsize=5, color=colour)
    if ref_bpw is not None:
        ax.axvline(ref_bpw, color="gray", lw=0.8, ls="--")
        ax.annotate(f"reference (source), {ref_bpw:.2f} bpw", (ref_bpw, 0.02),
                    xycoords=("data", "axes fraction"), xytext=(-3, 0), textcoords="offset points",
                    rotation=90, ha="right", va="bottom", fontsize=6, color="gray")
    ax.set_yscale("log")
    ax.set_xlabel("true bits per weight", fontsize=8)
    ax.set_ylabel("mean KLD vs reference (log)", fontsize=8)
    chunks = rows[0].get("chunks", "?") if rows else "?"
    ax.set_title(f"{model}  (WikiText-2, {chunks} × 512 tokens)", fontsize=9)
    ax.tick_params(labelsize=7)
    ax.grid(True, which="both", lw=0.3, alpha=0.5)
    ax.legend(fontsize=6, loc="upper right")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tsv", nargs="+", help="results.tsv of tools/quality-report")
    ap.add_argument("-o", "--output", required=True, help="PNG to write")
    args = ap.parse_args()
    data = []
    for p in args.tsv:
        try:
            model, rows, ref_bpw = read_tsv(p)
        except OSError as e:
            sys.exit(f"quality_plot.py: error: cannot read {p}: {e.strerror}")
        if not rows:
            print(f"quality_plot.py: {p}: no rows with a KLD yet, skipped", file=sys.stderr)
            continue
        data.append((model, rows, ref_bpw))
    if not data:
        sys.exit("quality_plot.py: error: nothing to plot")
    n = len(data)
    fig, axes = plt.subplots(1, n, figsize=(7 * n, 4.5), squeeze=False)
    for ax, (model, rows, ref_bpw) in zip(axes[0], data):
        plot_one(ax, model, rows, ref_bpw)
    fig.tight_layout()
    fig.savefig(args.output, dpi=100)
    print(f"quality_plot.py: wrote {args.output} ({sum(len(d[1]) for d in data)} points)",
          file=sys.stderr)


if __name__ == "__main__":
    main()
