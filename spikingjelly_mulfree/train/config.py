"""Command-line options and the per-data-set recipes (the paper's Table 8).

Every option left unset on the command line takes the value of the data set's
:class:`Recipe`. The recipes:

==========  =========  =====  ======  =======  ======  ==================  ===================
data set    optimizer  batch  epochs  lr       wd      schedule            neuron defaults
==========  =========  =====  ======  =======  ======  ==================  ===================
digits      AdamW       64      30    5e-3     1e-2    cosine -> 0         k=4, sawtooth
scifar10    AdamW      128     256    1e-3     1e-2    cosine -> 0         k=16
scifar100   AdamW      128     256    1e-3     1e-2    cosine -> 0         k=16
pcifar10    AdamW      128     128    1e-3     1e-2    cosine -> 0         k=17, sawtooth
shd         Adam       128     150    5e-4     1e-5    cosine -> 0         k=2, sawtooth;
                                                                           delays lr 0.05
dvs-lip     Adam        32     200    3e-4     1e-4    cosine -> 5e-6      k=2, sawtooth
==========  =========  =====  ======  =======  ======  ==================  ===================

Our readings where Table 8 is terse: AdamW's weight decay is PyTorch's default (0.01); the
DVS-Lip schedule ("3e-4 then cosine 1e-4 -> 5e-6") is a single cosine from 3e-4 to 5e-6; SHD's
delay positions follow the same cosine as the weights. The digits recipe is ours (the paper
does not use that data set); by default it also trains a LIF baseline (``--compare lif``) and
runs on one CPU thread (``--threads 1``): the network is too small to gain from intra-op
parallelism, and on a busy machine extra threads only wait for each other.

``--resume`` continues a run with the settings it started with: a checkpoint is refused, naming
the options that differ, when any setting of the model, data or schedule changed (``--epochs``
included: the cosine schedule is built for the run's length, so a run cannot be extended).
Only where and how the run executes may change (:data:`RESUME_MAY_DIFFER`).
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

from ..datasets import DATASETS
from ..models.neurons import NEURONS, SURROGATES

OPTIMIZERS = ("adam", "adamw", "sgd")


SCHEDULES = ("cosine", "constant")
RESUME_MAY_DIFFER = ("resume", "stop_after", "device", "backend", "workers", "threads",
                     "data_root", "out", "tensorboard", "progress")
"""Fields of :class:`TrainConfig` that may differ between a checkpoint and the run resuming it:
where and how the run executes and is logged, never what it trains (model, data, schedule)."""


class ConfigError(ValueError):
    """A setting that cannot work here (the message names the option and the fix).

    A ``ValueError``, so callers that catch those keep working; the command line prints its
    message and exits with status 2.

    Example:
        >>> try:
        ...     check_resume(TrainConfig(k=4).to_dict(), TrainConfig(k=2), "run/checkpoint.pt")
        ... except ConfigError as err:
        ...     print(err)
        --resume: run/checkpoint.pt was written with other options: --k 4 (now 2); ...
        >>> issubclass(ConfigError, ValueError)
        True
    """


@dataclass(frozen=True)
class Recipe:
    """Training defaults of one data set (one row of :data:`RECIPES`, the paper's Table 8).

    Fields: the optimizer (one of :data:`OPTIMIZERS`), global batch size, epochs, learning rate
    and weight decay; the neuron defaults ``k``, ``dilations``, ``surrogate`` and ``alpha``;
    ``min_lr`` (the cosine schedule's floor), ``delay_lr`` (SHD's delay positions; ``None``
    elsewhere), ``compare`` (neurons trained beside ``--neuron`` by default) and ``threads``
    (CPU threads per process; ``None``: PyTorch's default). :func:`resolve` fills every option
    left unset on the command line from it.

    Example:
        >>> r = RECIPES["shd"]
        >>> r.optimizer, r.batch_size, r.lr, r.delay_lr, r.k, r.surrogate, r.alpha
        ('adam', 128, 0.0005, 0.05, 2, 'atan', 5.0)
        >>> Recipe("sgd", 32, 10, 0.1, 0.0, 4, "none", "atan", 2.0).min_lr
        0.0
    """

    optimizer: str
    batch_size: int
    epochs: int
    lr: float
    weight_decay: float
    k: int
    dilations: str
    surrogate: str
    alpha: float
    min_lr: float = 0.0
    delay_lr: float | None = None
    compare: tuple[str, ...] = ()
    threads: int | None = None


RECIPES: dict[str, Recipe] = {
    "digits": Recipe("adamw", 64, 30, 5e-3, 1e-2, 4, "sawtooth", "atan", 2.0, compare=("lif",),
                     threads=1),
    "scifar10": Recipe("adamw", 128, 256, 1e-3, 1e-2, 16, "none", "atan", 2.0),
    "scifar100": Recipe("adamw", 128, 256, 1e-3, 1e-2, 16, "none", "atan", 2.0),
    "pcifar10": Recipe("adamw", 128, 128, 1e-3, 1e-2, 17, "sawtooth", "atan", 2.0),
    "shd": Recipe("adam", 128, 150, 5e-4, 1e-5, 2, "sawtooth", "atan", 5.0, delay_lr=0.05),
    "dvs-lip": Recipe("adam", 32, 200, 3e-4, 1e-4, 2, "sawtooth", "rational", 10.0,
                      min_lr=5e-6),
}


@dataclass
class TrainConfig:
    """Every resolved setting of one training run (saved in checkpoints and results).

    ``dilations``: ``"sawtooth"``, ``"none"`` (every CPSN layer dilation 1; ``None`` means the
    same) or one integer per CPSN layer. The defaults are the digits recipe's;
    :func:`resolve` builds one from the command line.

    Example:
        >>> cfg = TrainConfig(dataset="scifar10", k=16, dilations="none", epochs=2)
        >>> cfg.neuron, cfg.k, cfg.epochs, cfg.batch_size
        ('cpsn', 16, 2, 64)
        >>> TrainConfig(**cfg.to_dict()) == cfg
        True
    """

    dataset: str = "digits"
    data_root: str | None = None
    data_options: dict[str, object] = field(default_factory=dict)
    model_options: dict[str, object] = field(default_factory=dict)
    neuron: str = "cpsn"
    k: int = 4
    dilations: str | list[int] | None = "sawtooth"
    surrogate: str = "atan"
    alpha: float = 2.0
    backend: str = "torch"
    optimizer: str = "adamw"
    epochs: int = 30
    batch_size: int = 64
    lr: float = 5e-3
    min_lr: float = 0.0
    weight_decay: float = 1e-2
    delay_lr: float | None = None
    schedule: str = "cosine"
    seed: int = 0
    out: str = "runs/digits/cpsn"
    resume: bool = False
    amp: bool = False
    device: str = "auto"
    workers: int = 0
    threads: int | None = None
    stop_after: int | None = None
    limit_train: int | None = None
    limit_test: int | None = None
    tensorboard: bool = True
    progress: bool = True

    def to_dict(self) -> dict[str, object]:
        """Every field by name, containers copied (what checkpoints and ``results.json`` hold;
        ``TrainConfig(**d)`` rebuilds the config).

        Example:
            >>> d = TrainConfig(k=2).to_dict()
            >>> d["k"], d["dataset"], d["model_options"]
            (2, 'digits', {})
        """
        return dataclasses.asdict(self)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def _dilations(text: str) -> str | list[int]:
    if text in ("none", "sawtooth"):
        return text
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(
            f"expected 'sawtooth', 'none' or comma-separated integers >= 1 (e.g. 1,2,3), "
            f"got {text!r}"
        )
    return values


def key_value_option(example: str) -> Callable[[str], tuple[str, object]]:
    """The argparse type of a ``KEY=VALUE`` option; ``example`` is shown when one is not."""
    def parse(text: str) -> tuple[str, object]:
        key, sep, raw = text.partition("=")
        if not sep or not key:
            raise argparse.ArgumentTypeError(f"expected KEY=VALUE (e.g. {example}), got "
                                             f"{text!r}")
        try:
            value: object = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
        return key, value

    return parse


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m spikingjelly_mulfree.train`` argument parser.

    Example:
        >>> build_parser().parse_args(["--dataset", "scifar10", "--k", "8"]).k
        8
    """
    p = argparse.ArgumentParser(
        prog="python -m spikingjelly_mulfree.train",
        description="Train the paper's networks. Unset options take the data set's recipe "
                    "(the paper's Table 8); with no arguments: CPSN and a LIF baseline on the "
                    "bundled 8x8 digits.",
    )
    p.add_argument("--dataset", default="digits", choices=sorted(DATASETS))
    p.add_argument("--data-root", help="folder holding the data set (not needed for digits)")
    p.add_argument("--data-option", action="append", type=key_value_option("mode=pixels"),
                   default=[],
                   metavar="KEY=VALUE",
                   help="loader option, repeatable (e.g. mode=pixels, T=60, download=True); "
                        "values are Python literals, other text a string")
    p.add_argument("--model-option", action="append", type=key_value_option("channels=64"),
                   default=[],
                   metavar="KEY=VALUE",
                   help="network option, repeatable (e.g. channels=64, widths=(64,128)); "
                        "values are Python literals, other text a string")
    p.add_argument("--neuron", default="cpsn", choices=NEURONS)
    p.add_argument("--compare", nargs="+", choices=(*NEURONS, "none"), metavar="NEURON",
                   help="also train these neurons the same way and print the accuracies side "
                        f"by side: {', '.join(NEURONS)} or none (digits default: lif)")
    p.add_argument("--k", type=_positive_int, help="order of CPSN / sliding PSN")
    p.add_argument("--dilations", type=_dilations,
                   help="CPSN dilations: 'sawtooth', 'none' (1 in every layer) or a comma "
                        "list, one per layer")
    p.add_argument("--surrogate", choices=SURROGATES)
    p.add_argument("--alpha", type=_positive_float, help="surrogate sharpness")
    p.add_argument("--backend", default=None,
                   help="CPSN compute backend (spikingjelly_mulfree.backends.backend_names(); "
                        "'cupy' for the CUDA kernels). The default 'torch' is reproducible "
                        "bit for bit; 'auto' times the backends and keeps the fastest")
    p.add_argument("--optimizer", choices=OPTIMIZERS)
    p.add_argument("--epochs", type=_positive_int)
    p.add_argument("--batch-size", type=_positive_int, help="global batch (split across ranks)")
    p.add_argument("--lr", type=_positive_float)
    p.add_argument("--min-lr", type=_non_negative_float, help="final lr of the cosine schedule")
    p.add_argument("--weight-decay", type=_non_negative_float)
    p.add_argument("--delay-lr", type=_positive_float, help="lr of SHD's delay positions")
    p.add_argument("--schedule", default="cosine", choices=SCHEDULES)
    p.add_argument("--seed", type=_non_negative_int, default=0)
    p.add_argument("--out", help="output folder (default runs/<dataset>); one subfolder per neuron")
    p.add_argument("--resume", action="store_true",
                   help="continue from <out>/<neuron>/checkpoint.pt with the same options; "
                        f"only {', '.join(_may_differ_on_resume())} may change")
    p.add_argument("--amp", action="store_true", help="mixed precision (CUDA only)")
    p.add_argument("--device", default="auto", help="'auto', 'cpu', 'cuda' or 'cuda:N'")
    p.add_argument("--workers", type=_non_negative_int, default=0, help="DataLoader workers")
    p.add_argument("--threads", type=_positive_int,
                   help="CPU threads per process (torch.set_num_threads); digits default 1")
    p.add_argument("--stop-after", type=_positive_int, metavar="E",
                   help="stop after E epochs of this invocation (resume later with --resume)")
    p.add_argument("--limit-train", type=_positive_int, metavar="N",
                   help="use only the first N training samples (smoke tests)")
    p.add_argument("--limit-test", type=_positive_int, metavar="N",
                   help="use only the first N test samples (smoke tests)")
    p.add_argument("--no-tensorboard", dest="tensorboard", action="store_false")
    p.add_argument("--no-progress", dest="progress", action="store_false")
    return p


def resolve(args: argparse.Namespace) -> list[TrainConfig]:
    """One :class:`TrainConfig` per neuron to train (``--neuron`` first, then ``--compare``).

    Example:
        >>> cfgs = resolve(build_parser().parse_args(["--dataset", "shd", "--compare", "lif"]))
        >>> [(c.neuron, c.k, c.lr, c.delay_lr, c.out) for c in cfgs]
        [('cpsn', 2, 0.0005, 0.05, 'runs/shd/cpsn'), ('lif', 2, 0.0005, 0.05, 'runs/shd/lif')]
    """
    recipe = RECIPES[args.dataset]
    compare = recipe.compare if args.compare is None else tuple(args.compare)
    if "none" in compare:
        if len(compare) > 1:
            raise ValueError(f"--compare: 'none' cannot be combined with neurons, got {compare}")
        compare = ()
    neurons = list(dict.fromkeys([args.neuron, *compare]))  # each once: they share an --out
    for flag, value, takers in (("--k", args.k, ("cpsn", "sliding_psn")),
                                ("--dilations", args.dilations, ("cpsn",)),
                                ("--backend", args.backend, ("cpsn",))):
        if value is not None and not set(neurons) & set(takers):
            raise ValueError(f"{flag}: none of the neurons this run trains ({', '.join(neurons)}) "
                             f"takes it (it applies to {' and '.join(takers)}); drop {flag}")
    base_out = args.out or f"runs/{args.dataset}"

    def pick(value: object, default: object) -> object:
        return default if value is None else value

    configs = []
    for neuron in neurons:
        configs.append(TrainConfig(
            dataset=args.dataset, data_root=args.data_root,
            data_options=dict(args.data_option), model_options=dict(args.model_option),
            neuron=neuron,
            k=pick(args.k, recipe.k), dilations=pick(args.dilations, recipe.dilations),
            surrogate=pick(args.surrogate, recipe.surrogate),
            alpha=pick(args.alpha, recipe.alpha), backend=pick(args.backend, "torch"),
            optimizer=pick(args.optimizer, recipe.optimizer),
            epochs=pick(args.epochs, recipe.epochs),
            batch_size=pick(args.batch_size, recipe.batch_size), lr=pick(args.lr, recipe.lr),
            min_lr=pick(args.min_lr, recipe.min_lr),
            weight_decay=pick(args.weight_decay, recipe.weight_decay),
            delay_lr=pick(args.delay_lr, recipe.delay_lr), schedule=args.schedule,
            seed=args.seed, out=f"{base_out}/{neuron}", resume=args.resume, amp=args.amp,
            device=args.device, workers=args.workers,
            threads=pick(args.threads, recipe.threads), stop_after=args.stop_after,
            limit_train=args.limit_train, limit_test=args.limit_test,
            tensorboard=args.tensorboard, progress=args.progress,
        ))
    return configs


def option_name(field_name: str) -> str:
    """The command-line option that sets the :class:`TrainConfig` field ``field_name``.

    Example:
        >>> option_name("batch_size"), option_name("model_options"), option_name("progress")
        ('--batch-size', '--model-option', '--no-progress')
    """
    special = {"data_options": "--data-option", "model_options": "--model-option",
               "tensorboard": "--no-tensorboard", "progress": "--no-progress"}
    return special.get(field_name, "--" + field_name.replace("_", "-"))


def _may_differ_on_resume() -> list[str]:
    return [option_name(name) for name in RESUME_MAY_DIFFER if name != "resume"]


def _normalised(name: str, value: object) -> object:
    return "none" if name == "dilations" and value is None else value


def resume_conflicts(saved: dict[str, object], cfg: TrainConfig) -> list[str]:
    """The settings of ``cfg`` that differ from ``saved`` (a checkpoint's config) outside
    :data:`RESUME_MAY_DIFFER`, as ``"--option OLD (now NEW)"``. A field missing from ``saved``
    (a checkpoint older than the field) counts as its default.

    Example:
        >>> resume_conflicts(TrainConfig(k=4).to_dict(), TrainConfig(k=2, workers=3))
        ['--k 4 (now 2)']
    """
    defaults = TrainConfig().to_dict()
    conflicts = []
    for name, now in cfg.to_dict().items():
        before = saved.get(name, defaults[name])
        if name not in RESUME_MAY_DIFFER and _normalised(name, before) != _normalised(name, now):
            conflicts.append(f"{option_name(name)} {before!r} (now {now!r})")
    return conflicts


def check_resume(saved: dict[str, object], cfg: TrainConfig, path: object) -> None:
    """Raise :class:`ConfigError` when ``cfg`` would resume the checkpoint at ``path`` (whose
    config is ``saved``) with a different model, data or schedule."""
    conflicts = resume_conflicts(saved, cfg)
    if not conflicts:
        return
    extend = ("; a run cannot be extended, its learning-rate schedule was built for its "
              "--epochs" if any(c.startswith("--epochs ") for c in conflicts) else "")
    allowed = ", ".join(_may_differ_on_resume())
    raise ConfigError(
        f"--resume: {path} was written with other options: {', '.join(conflicts)}{extend}; "
        f"resume with the options of that run, or pass a new --out to start a new one "
        f"(only {allowed} may change on resume)")
