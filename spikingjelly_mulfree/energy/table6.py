"""The paper's Table 6: energy of the sequential CIFAR-100 network per image (T = 32).

The network (:class:`~spikingjelly_mulfree.models.SequentialCIFARNet`, 18,688 spiking
neurons) is built with each neuron type and counted by
:func:`~spikingjelly_mulfree.energy.count_energy` on one example image, so the figures come
from the same hooks a user's model goes through, not from a closed formula.

The neuron-layer counts and energies match the paper exactly: counts to the three significant
digits it prints, energies to its two decimals, once one notices that the paper *truncates*:
7,325,696 shifts print as 7.32e6 (rounding gives 7.33e6) and 88.5662 uJ as 88.56 (rounding
gives 88.57). :func:`sig3` and :func:`paper_digits` truncate the same way.

The synaptic figures (the paper's totals minus its neuron-layer figures: 3.06 uJ for PSN,
2.58 uJ for CPSN) depend on the spikes of the trained networks, which we do not have. They
cannot include the first layer's multiply-accumulates over all 32 steps at 4.6 pJ (1,179,648
MAC = 5.43 uJ per image on their own); read as accumulates alone they are about 1.9 % (PSN)
and 1.6 % (CPSN) of the weight uses the spike-fed layers would make at full activity. The
table prints what an untrained network on a random image gives, labelled as such.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .costs import EnergyCosts
from .report import EnergyReport, count_energy


@dataclass(frozen=True)
class PaperFigures:
    """One row of the paper's Table 6 (per image).

    Example:
        >>> PAPER_TABLE6["cpsn"].synapse_uj
        2.58
    """

    label: str
    mul: float
    shift: float
    add: float
    neuron_uj: float
    total_uj: float

    @property
    def synapse_uj(self) -> float:
        """The paper's total minus its neuron-layer energy."""
        return round(self.total_uj - self.neuron_uj, 2)


PAPER_TABLE6: dict[str, PaperFigures] = {
    "psn": PaperFigures("PSN", mul=1.91e7, shift=0.0, add=1.97e7, neuron_uj=88.56,
                        total_uj=91.62),
    "cpsn": PaperFigures("CPSN (k=16)", mul=0.0, shift=7.32e6, add=7.92e6, neuron_uj=8.08,
                         total_uj=10.66),
}
TABLE6_T = 32
TABLE6_K = 16


def sig3(x: float) -> int:
    """``x`` truncated to three significant digits, as the paper prints counts.

    Example:
        >>> sig3(19136512), sig3(7325696)
        (19100000, 7320000)
    """
    n = int(x)
    if n <= 0:
        return 0
    q = 10 ** max(len(str(n)) - 3, 0)
    return n // q * q


def _sci(n: int) -> str:
    e = len(str(n)) - 1
    return f"{n / 10 ** e:.2f}e{e}"


def paper_digits(uj: float) -> float:
    """``uj`` truncated to two decimals, as the paper prints energies.

    Example:
        >>> paper_digits(88.5662), paper_digits(8.0837)
        (88.56, 8.08)
    """
    return math.floor(uj * 100 + 1e-9) / 100


def matches_paper(report: EnergyReport, paper: PaperFigures) -> bool:
    """Neuron-layer counts (3 significant digits) and energy (2 decimals), truncated as the
    paper does, equal the paper's.

    Example:
        >>> rep = table6_reports(("cpsn",))["cpsn"]
        >>> matches_paper(rep, PAPER_TABLE6["cpsn"])
        True
    """
    n = report.batch_size
    counts = [sig3(report.total(op, "neuron") / n) for op in ("mul", "shift", "add")]
    return (counts == [int(paper.mul), int(paper.shift), int(paper.add)]
            and paper_digits(report.energy_uj("neuron")) == paper.neuron_uj)


def table6_reports(
    neurons: tuple[str, ...] = ("psn", "cpsn"),
    T: int = TABLE6_T,
    k: int = TABLE6_K,
    num_classes: int = 100,
    dilations: str | list[int] | None = None,
    costs: EnergyCosts | None = None,
    x: torch.Tensor | None = None,
    seed: int = 0,
) -> dict[str, EnergyReport]:
    """Count the sequential CIFAR network with each neuron type on one image.

    Args:
        neurons: names for :class:`~spikingjelly_mulfree.models.SequentialCIFARNet`
            (``"cpsn"``, ``"psn"``, ``"sliding_psn"``, ``"lif"``, ``"plif"``).
        T, k, num_classes, dilations: network options (paper: 32, 16, 100, all 1).
        costs: energy per operation (default: the paper's).
        x: the example input ``[T, 1, 3, 32]``; default a seeded random image.
        seed: seeds the weights and the default input.

    Returns:
        ``{name: EnergyReport}``.

    Example:
        >>> reports = table6_reports(("cpsn", "lif"), T=4, k=2)
        >>> reports["cpsn"].total("mul", "neuron"), reports["lif"].uncounted
        (0, ['features.2 (LIFNode)', ...])
    """
    from ..models import SequentialCIFARNet

    reports: dict[str, EnergyReport] = {}
    for name in neurons:
        torch.manual_seed(seed)
        net = SequentialCIFARNet(num_classes, neuron=name, k=k, T=T, dilations=dilations)
        inp = torch.rand(T, 1, 3, 32) if x is None else x
        reports[name] = count_energy(net, inp, costs=costs)
    return reports


def _label(name: str, k: int) -> str:
    if name in ("cpsn", "sliding_psn"):
        return f"{name.upper() if name == 'cpsn' else 'sliding PSN'} (k={k})"
    return {"psn": "PSN", "lif": "LIF", "plif": "PLIF"}.get(name, name)


def paper_row(name: str, T: int = TABLE6_T, k: int = TABLE6_K, num_classes: int = 100,
              dilations: str | list[int] | None = None,
              costs: EnergyCosts | None = None) -> PaperFigures | None:
    """The paper's Table 6 row for neuron ``name``, or ``None`` unless the network is the one
    that row counts: CIFAR-100, ``T = 32`` and, for CPSN, ``k = 16`` with every dilation 1;
    and unless ``costs`` (default: the paper's) are the paper's 45 nm figures, since its
    energies are priced at those.

    Example:
        >>> paper_row("cpsn").label, paper_row("cpsn", k=4), paper_row("psn", k=4).label
        ('CPSN (k=16)', None, 'PSN')
        >>> paper_row("psn", costs=EnergyCosts(shift_pj=0.1)) is None
        True
        >>> paper_row("cpsn", dilations="none").label, paper_row("cpsn", dilations="sawtooth")
        ('CPSN (k=16)', None)
    """
    if T != TABLE6_T or num_classes != 100 or name not in PAPER_TABLE6:
        return None
    if costs is not None and costs != EnergyCosts():
        return None
    if isinstance(dilations, str):
        undilated = dilations == "none"
    else:
        undilated = dilations is None or all(d == 1 for d in dilations)
    if name == "cpsn" and not (k == TABLE6_K and undilated):
        return None
    return PAPER_TABLE6[name]


def _neuron_cells(rep: EnergyReport, k: int, name: str) -> list[str]:
    """Label, neurons, MUL / SHIFT / ADD and neuron-layer energy; ``not counted`` when a
    neuron layer of ``rep`` has no counting rule (a partial zero would read as cheapest)."""
    if rep.uncounted:
        return [_label(name, k)] + ["not counted"] * 5
    n = rep.batch_size
    counts = [rep.total(op, "neuron") / n for op in ("mul", "shift", "add")]
    cells = [_label(name, k), f"{rep.neurons:,}"]
    cells += [f"{_sci(sig3(c))} ({c:,.0f})" if c else "0" for c in counts]
    return cells + [f"{rep.energy_uj('neuron'):.4f}"]


def table6_markdown(reports: dict[str, EnergyReport], T: int = TABLE6_T, k: int = TABLE6_K,
                    num_classes: int = 100,
                    dilations: str | list[int] | None = None) -> str:
    """Markdown table of ``reports`` (per image) next to the paper's Table 6 where it has a row
    for this setting and the reports' costs (:func:`paper_row`).

    Columns: neuron-layer counts and energy, the paper's, whether they match; the synaptic
    energy of this (untrained) run, the paper's synaptic share and the totals. A network with
    neurons that have no counting rule (LIF, ...) shows them as ``not counted`` and its total
    as synapses only.

    Args:
        reports: ``{neuron name: EnergyReport}``, as :func:`table6_reports` returns.
        T, k, num_classes, dilations: the network the reports counted (picks the paper's row).

    Example:
        >>> table = table6_markdown(table6_reports(("cpsn",), T=4, k=2), T=4, k=2)
        >>> print(table.splitlines()[2][:40])
        | CPSN (k=2) | 18,688 | 0 | ...
    """
    lines = [
        "| neuron | neurons | MUL | SHIFT | ADD | neuron layers (uJ) | paper (uJ) | match "
        "| synaptic, this run (uJ) | paper synaptic (uJ) | total, this run (uJ) | paper total (uJ) |",
        "|" + "---|" * 12,
    ]
    for name, rep in reports.items():
        paper = paper_row(name, T, k, num_classes, dilations, rep.costs)
        cells = _neuron_cells(rep, k, name)
        total = f"{rep.energy_uj():.2f}" + (" (synapses only)" if rep.uncounted else "")
        if paper is None:
            cells += ["", "", f"{rep.energy_uj('synapse'):.2f}", "", total, ""]
        else:
            cells += [f"{paper.neuron_uj:.2f}", "yes" if matches_paper(rep, paper) else "NO",
                      f"{rep.energy_uj('synapse'):.2f}", f"{paper.synapse_uj:.2f}",
                      total, f"{paper.total_uj:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def implied_activity(report: EnergyReport, paper: PaperFigures,
                     costs: EnergyCosts | None = None) -> float:
    """The paper's synaptic share read as accumulates only, over the dense spike-fed weight
    uses of ``report``'s network (a rough activity level, not a measurement).

    Example:
        >>> rep = table6_reports(("cpsn",))["cpsn"]
        >>> round(implied_activity(rep, PAPER_TABLE6["cpsn"]), 4)
        0.0159
    """
    costs = EnergyCosts() if costs is None else costs
    acs = paper.synapse_uj * 1e6 / costs.ac_pj
    return acs / (report.dense_synaptic_ops() / report.batch_size)
