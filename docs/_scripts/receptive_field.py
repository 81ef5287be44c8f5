"""Draw ``docs/_static/receptive_field.png``: what a stack of CPSN layers sees, with and
without sawtooth dilations.

Run from the repository root::

    python docs/_scripts/receptive_field.py

Each panel draws the time steps (columns) of the input and of three stacked CPSN layers of order
k = 2 (rows). Starting from the last output step, every tap it reads is followed down to the input;
highlighted input steps form the receptive field.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from spikingjelly_mulfree import sawtooth_dilations, stack_receptive_field  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "_static" / "receptive_field.png"


def cone(T: int, k: int, dilations: list[int]) -> tuple[list[set[int]], list[tuple]]:
    """Steps reached from the last output, per row (row 0 = input), and the edges followed."""
    rows = [set() for _ in range(len(dilations) + 1)]
    rows[-1] = {T - 1}
    edges = []
    for layer in range(len(dilations), 0, -1):
        d = dilations[layer - 1]
        for t in rows[layer]:
            for i in range(k):
                src = t - (k - 1 - i) * d
                if src >= 0:
                    rows[layer - 1].add(src)
                    edges.append(((t, layer), (src, layer - 1)))
    return rows, edges


def draw(ax, T: int, k: int, dilations: list[int], title: str) -> None:
    rows, edges = cone(T, k, dilations)
    for (t0, r0), (t1, r1) in edges:
        ax.plot([t0, t1], [r0, r1], color="tab:orange", lw=1.6, zorder=1)
    for r, reached in enumerate(rows):
        for t in range(T):
            hit = t in reached
            ax.scatter(t, r, s=90 if hit else 40, zorder=2,
                       color="tab:orange" if hit else "lightgray",
                       edgecolor="black" if hit else "none")
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(["input"] + [f"layer {i + 1} (d={d})" for i, d in enumerate(dilations)])
    ax.set_xticks(range(T))
    ax.set_xlabel("time step t")
    ax.set_title(f"{title}: receptive field {stack_receptive_field(k, dilations)} steps",
                 fontsize=10)
    ax.set_xlim(-0.5, T - 0.5)
    ax.set_ylim(-0.5, len(rows) - 0.5)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def main() -> Path:
    T, k, layers = 8, 2, 3
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.2), constrained_layout=True)
    draw(axes[0], T, k, [1] * layers, "no dilation (d = 1, 1, 1)")
    saw = sawtooth_dilations(layers, k, 7)
    draw(axes[1], T, k, saw, f"sawtooth (d = {', '.join(map(str, saw))})")
    fig.suptitle("Three stacked CPSN layers with k = 2: steps the last output depends on",
                 fontsize=11)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT, dpi=110)
    plt.close(fig)
    return OUT


if __name__ == "__main__":
    print(main())
