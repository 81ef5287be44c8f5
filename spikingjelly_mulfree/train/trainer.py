"""One training run: data, model, optimizer, schedule, checkpoints and records.

:func:`fit` is what the command line calls once per neuron; tests and notebooks can call it
directly, optionally with their own model builder and datasets.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.distributed as dist
from spikingjelly.activation_based import functional as sj_functional
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset

from ..backends import backend_names, get_backend
from ..datasets import DATASETS, build_dataset
from ..neuron.cpsn import CPSN
from ..models import NETWORKS, build_model, count_parameters
from . import checkpoint as ckpt_io
from . import distributed as dist_utils
from . import options as options_io
from .config import ConfigError, TrainConfig, check_resume, option_name
from .loop import evaluate, train_one_epoch
from .records import TensorBoardLog, write_csv, write_json

ModelBuilder = Callable[[TrainConfig, torch.Tensor, int], nn.Module]


CPSN_SET_BY_NETWORK = ("channels", "k", "dilation", "surrogate_function", "step_mode", "backend")
ARGUMENT_FLAGS = {name: option_name(name)
                  for name in ("neuron", "k", "dilations", "surrogate", "alpha", "backend")}


SET_BY_THE_RUN = {
    **ARGUMENT_FLAGS,
    "num_classes": "the data set (its number of classes)",
    "T": "the data (its sequence length; choose it with --data-option T=... where the data set "
         "takes one)",
    "in_features": "the data (its samples' last dimension)",
    "in_channels": "the data (its samples' channels)",
    "length": "the data (its images' width)",
}
"""Network keywords the run sets itself, and from what: ``--model-option`` may not set them
(an override trained another network than the one the run records)."""


def network_options(cfg: TrainConfig) -> dict[str, options_io.Accepted]:
    """What ``--model-option`` may set: the network's keywords and, for CPSN, the neuron's
    own (those the network does not set itself)."""
    accepted = options_io.accepted_by(NETWORKS[cfg.dataset], ("neuron_options",))
    if cfg.neuron == "cpsn":
        accepted = {**options_io.accepted_by(CPSN, CPSN_SET_BY_NETWORK), **accepted}
    return accepted


def default_model_builder(cfg: TrainConfig, sample: torch.Tensor, num_classes: int) -> nn.Module:
    """The paper's network for ``cfg.dataset``, sized from one sample ``[T, *features]``.

    The neuron options come from ``cfg`` (``--neuron``, ``--k``, ``--dilations``,
    ``--surrogate``, ``--alpha``, ``--backend``) and ``cfg.model_options``; the sequence length
    is the sample's (for variable-length data without ``--data-option T``, the data set's
    default or ``--model-option T``) and, for digits and SHD,
    ``in_features`` is the sample's last dimension (for the others ``in_channels`` its dim 1,
    and for sequential CIFAR ``length`` its dim 2). The network maps ``x [T, N, *features]``
    to logits ``[N, num_classes]``.

    Raises:
        ConfigError: an option the network does not take or the run sets itself
            (:data:`SET_BY_THE_RUN`), a value of the wrong type, or one the network rejects
            (naming the command-line option).

    Example:
        >>> net = default_model_builder(TrainConfig(k=2, model_options={"channels": 4}),
        ...                             torch.zeros(8, 8), 10)
        >>> type(net).__name__, net.dilations, net(torch.rand(8, 3, 8)).shape
        ('DigitsNet', [1, 2, 3, 4], torch.Size([3, 10]))
        >>> default_model_builder(TrainConfig(model_options={"k": 3}), torch.zeros(8, 8), 10)
        Traceback (most recent call last):
        ...
        spikingjelly_mulfree.train.config.ConfigError: --model-option k: set by --k, not by ...
    """
    info = DATASETS[cfg.dataset]
    # the samples' length, unless they differ (variable-length data without --data-option T)
    fixed_length = not info.variable_length or cfg.data_options.get("T") is not None
    T = int(sample.shape[0]) if fixed_length else info.default_T
    options: dict[str, object] = dict(neuron=cfg.neuron, k=cfg.k, surrogate=cfg.surrogate,
                                      alpha=cfg.alpha, T=T)
    if cfg.neuron == "cpsn":
        if cfg.backend not in backend_names():
            raise ConfigError(f"--backend: expected one of {backend_names()}, got "
                              f"{cfg.backend!r}")
        options["backend"] = cfg.backend
    if cfg.dataset in ("digits", "shd"):
        options["in_features"] = int(sample.shape[-1])
    if cfg.dataset in ("scifar10", "scifar100", "pcifar10", "dvs-lip"):  # [T, C, ...]
        options["in_channels"] = int(sample.shape[1])
    if cfg.dataset in ("scifar10", "scifar100"):
        options["length"] = int(sample.shape[2])
    set_here = {*options, "dilations", "num_classes"} - (set() if fixed_length else {"T"})
    for key in cfg.model_options:  # (samples of many lengths: T is the network's own)
        if key in SET_BY_THE_RUN and key in set_here:
            raise ConfigError(f"--model-option {key}: set by {SET_BY_THE_RUN[key]}, not by "
                              f"--model-option")
    options_io.check_options("--model-option", NETWORKS[cfg.dataset].__name__,
                             cfg.model_options, network_options(cfg),
                             set_here & set(SET_BY_THE_RUN))
    options["dilations"] = "none" if cfg.dilations is None else cfg.dilations
    options.update(cfg.model_options)
    flags = {**ARGUMENT_FLAGS, **{key: f"--model-option {key}" for key in cfg.model_options}}
    with options_io.flag_errors(flags):
        return build_model(cfg.dataset, num_classes, **options)


def _build_datasets(cfg: TrainConfig) -> tuple[Dataset, Dataset]:
    """Both splits of ``cfg.dataset``; errors about ``--data-root`` or a ``--data-option``
    come back as :class:`ConfigError` naming it."""
    if cfg.data_options:
        options_io.check_options("--data-option", f"data set {cfg.dataset!r}",
                                 cfg.data_options, options_io.loader_options(cfg.dataset))
    flags = {key: f"--data-option {key}" for key in cfg.data_options}
    try:
        with options_io.flag_errors(flags):
            return tuple(build_dataset(cfg.dataset, cfg.data_root, split, **cfg.data_options)
                         for split in ("train", "test"))
    except ValueError as err:
        named = options_io.missing_root(err, cfg.dataset, cfg.data_root)
        if named is None:
            raise
        raise named from err


def _check_backend(cfg: TrainConfig, device: torch.device) -> None:
    if cfg.neuron != "cpsn" or cfg.backend not in backend_names():
        return
    try:
        get_backend(cfg.backend, torch.empty(1, device=device))
    except RuntimeError as err:
        raise ConfigError(f"--backend: {cfg.backend!r} cannot train on {device} ({err}); use "
                          "--backend torch (runs on every device), or a --device it runs "
                          "on") from err


def _saved_state(cfg: TrainConfig, path: Path) -> dict[str, object] | None:
    """The checkpoint to resume from (``None`` for a fresh run), checked to hold a run with
    the same settings (:func:`~.config.check_resume`)."""
    if not cfg.resume:
        return None
    state = ckpt_io.load_checkpoint(path)
    check_resume(dict(state.get("config", {})), cfg, path)
    return state


def check_resumable(cfg: TrainConfig) -> None:
    """Raise :class:`~.config.ConfigError` now if ``cfg`` resumes a checkpoint written with
    other settings (the CLI checks every run of a ``--compare`` before training the first)."""
    _saved_state(cfg, Path(cfg.out) / ckpt_io.CHECKPOINT_NAME)


def _limit(ds: Dataset, n: int | None) -> Dataset:
    if n is None or n >= len(ds):
        return ds
    sub = Subset(ds, range(n))
    sub.collate_fn = ds.collate_fn
    return sub


def _optimizer(cfg: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    if hasattr(model, "parameter_groups") and cfg.delay_lr is not None:
        groups = model.parameter_groups(cfg.lr, cfg.delay_lr, cfg.weight_decay)
    else:
        groups = [{"params": [p for p in model.parameters() if p.requires_grad]}]
    if cfg.optimizer == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)


def _scheduler(cfg: TrainConfig, optimizer: torch.optim.Optimizer):
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, cfg.epochs, cfg.min_lr)
    return torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)


def _check(cfg: TrainConfig, ctx: dist_utils.DistContext) -> None:
    if cfg.amp and ctx.device.type != "cuda":
        raise ConfigError("--amp: mixed precision needs a CUDA device; drop --amp on "
                         f"{ctx.device.type}")
    if cfg.batch_size % ctx.world_size:
        raise ConfigError(f"--batch-size: the global batch {cfg.batch_size} must be divisible "
                         f"by the number of processes ({ctx.world_size})")
    if cfg.stop_after is not None and cfg.stop_after < 1:
        raise ConfigError(f"--stop-after: expected an integer >= 1, got {cfg.stop_after}")


def _gather_rng(ctx: dist_utils.DistContext) -> list[dict[str, object]]:
    state = ckpt_io.rng_state()
    if not ctx.distributed:
        return [state]
    states: list[object] = [None] * ctx.world_size
    dist.all_gather_object(states, state)
    return states


def fit(
    cfg: TrainConfig,
    model_builder: ModelBuilder | None = None,
    datasets: tuple[Dataset, Dataset] | None = None,
) -> dict[str, object]:
    """Train and evaluate one network; returns the final results (also in
    ``<cfg.out>/results.json``).

    Args:
        cfg: resolved settings (see :func:`spikingjelly_mulfree.train.config.resolve`).
        model_builder: ``f(cfg, sample [T, *features], num_classes) -> model``; default the
            paper's network for ``cfg.dataset``.
        datasets: ``(train, test)`` time-first datasets with a ``collate_fn``; default
            :func:`~spikingjelly_mulfree.datasets.build_dataset` of ``cfg.dataset``.

    Example:
        >>> from spikingjelly_mulfree.train.config import TrainConfig
        >>> import tempfile
        >>> cfg = TrainConfig(epochs=1, limit_train=64, limit_test=32, out=tempfile.mkdtemp(),
        ...                   tensorboard=False, progress=False)
        >>> 0.0 <= fit(cfg)["final_test_acc"] <= 1.0
        True
    """
    ctx = dist_utils.setup(cfg.device)
    _check(cfg, ctx)
    _check_backend(cfg, ctx.device)
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    info = DATASETS[cfg.dataset]
    out = Path(cfg.out)
    ckpt_path = out / ckpt_io.CHECKPOINT_NAME

    state = _saved_state(cfg, ckpt_path)

    ckpt_io.seed_everything(cfg.seed)
    train_set, test_set = _build_datasets(cfg) if datasets is None else datasets
    train_set, test_set = _limit(train_set, cfg.limit_train), _limit(test_set, cfg.limit_test)

    sample = test_set[0][0]
    model = (model_builder or default_model_builder)(cfg, sample, info.num_classes)
    model.to(ctx.device)
    model.eval()
    with torch.no_grad():
        model(test_set.collate_fn([test_set[0]])[0].to(ctx.device))
    sj_functional.reset_net(model)
    model.train()
    num_params = count_parameters(model)

    optimizer = _optimizer(cfg, model)
    scheduler = _scheduler(cfg, optimizer)
    scaler = torch.amp.GradScaler(ctx.device.type, enabled=cfg.amp)
    history: list[dict[str, float]] = []
    start_epoch = 0
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        history = list(state["history"])
        start_epoch = int(state["epoch"])
        rngs = state["rng"]
        if len(rngs) == ctx.world_size:
            ckpt_io.set_rng_state(rngs[ctx.rank])
        else:
            ckpt_io.seed_everything(cfg.seed + 1000 * start_epoch + ctx.rank)
    else:
        ckpt_io.seed_everything(cfg.seed + ctx.rank)
        if ckpt_path.is_file() and ctx.is_main:  # said once the run is set up: it will start
            print(f"note: {cfg.out} holds an earlier run, which this one replaces (pass "
                  f"--resume to continue it, or another --out to keep it)", file=sys.stderr)

    net: nn.Module = model
    if ctx.distributed:
        net = DistributedDataParallel(
            model, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None)

    local_batch = cfg.batch_size // ctx.world_size
    sampler = DistributedSampler(train_set, ctx.world_size, ctx.rank, shuffle=True, seed=cfg.seed)
    pin = ctx.device.type == "cuda"
    train_loader = DataLoader(train_set, local_batch, sampler=sampler, num_workers=cfg.workers,
                              collate_fn=train_set.collate_fn, pin_memory=pin)
    test_loader = DataLoader(test_set, local_batch,
                             sampler=dist_utils.ShardSampler(len(test_set), ctx.rank,
                                                             ctx.world_size),
                             num_workers=cfg.workers, collate_fn=test_set.collate_fn,
                             pin_memory=pin)

    writes = ctx.is_main
    tb = TensorBoardLog(out / "tensorboard", cfg.tensorboard and writes, purge_step=start_epoch)
    show = cfg.progress and writes
    epoch_hook = getattr(model, "epoch_hook", None)
    after_step = getattr(model, "after_optimizer_step", None)
    ran = 0
    t_run = time.perf_counter()
    for epoch in range(start_epoch, cfg.epochs):
        if cfg.stop_after is not None and ran >= cfg.stop_after:
            break
        sampler.set_epoch(epoch)
        if epoch_hook is not None:
            epoch_hook(epoch, cfg.epochs)
        lr = optimizer.param_groups[0]["lr"]
        tr = train_one_epoch(
            net, train_loader, optimizer, scaler, ctx.device, info.num_classes,
            info.label_smoothing, info.batch_transform if train_set_augments(train_set) else None,
            cfg.amp, after_step, show, f"{cfg.neuron} epoch {epoch + 1}/{cfg.epochs}")
        scheduler.step()
        te = evaluate(model, test_loader, ctx.device, cfg.amp, show, f"{cfg.neuron} test")
        sums = dist_utils.all_reduce_sum(
            [tr["loss_sum"], tr["correct"], tr["count"], te["loss_sum"], te["correct"],
             te["count"]], ctx)
        seconds = max(dist_utils.all_reduce_sum([tr["seconds"]], ctx)[0] / ctx.world_size, 1e-9)
        row = {
            "epoch": epoch + 1, "lr": lr,
            "train_loss": sums[0] / sums[2], "train_acc": sums[1] / sums[2],
            "test_loss": sums[3] / sums[5], "test_acc": sums[4] / sums[5],
            "epoch_seconds": seconds, "samples_per_second": sums[2] / seconds,
        }
        history.append(row)
        ran += 1
        rngs = _gather_rng(ctx)
        if writes:
            ckpt_io.atomic_save({
                "epoch": epoch + 1, "model": model.state_dict(),
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict(), "rng": rngs, "history": history,
                "config": cfg.to_dict(),
            }, ckpt_path)
            write_csv(history, out / "metrics.csv")
            tb.log(row)
            if cfg.progress:
                print(f"[{cfg.neuron}] epoch {epoch + 1}/{cfg.epochs}  "
                      f"loss {row['train_loss']:.4f}  train acc {row['train_acc']:.4f}  "
                      f"test acc {row['test_acc']:.4f}  {row['samples_per_second']:.0f} "
                      "samples/s", flush=True)
        dist_utils.barrier(ctx)
    tb.close()

    last = history[-1] if history else {}
    results = {
        "dataset": cfg.dataset, "neuron": cfg.neuron, "parameters": num_params,
        "epochs_done": int(last.get("epoch", 0)), "epochs": cfg.epochs,
        "finished": bool(history) and int(last["epoch"]) == cfg.epochs,
        "final_test_acc": last.get("test_acc"), "final_train_acc": last.get("train_acc"),
        "best_test_acc": max((r["test_acc"] for r in history), default=None),
        "seconds_this_invocation": time.perf_counter() - t_run,
        "world_size": ctx.world_size, "device": str(ctx.device),
        "dilations": getattr(model, "dilations", None), "config": cfg.to_dict(),
    }
    if writes:
        write_json(results, out / "results.json")
    return results


def train_set_augments(ds: Dataset) -> bool:
    """Batch-level augmentation (MixUp/CutMix) follows the dataset's ``augment`` flag."""
    base = ds.dataset if isinstance(ds, Subset) else ds
    return bool(getattr(base, "augment", False))
