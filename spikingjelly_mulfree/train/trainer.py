"""One training run: data, model, optimizer, schedule, checkpoints and records.

:func:`fit` is what the command line calls once per neuron; tests and notebooks can call it
directly, optionally with their own model builder and datasets.
"""
from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.distributed as dist
from spikingjelly.activation_based import functional as sj_functional
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset

from ..backends import backend_names
from ..datasets import DATASETS, build_dataset
from ..neuron.cpsn import CPSN
from ..models import NETWORKS, build_model, count_parameters
from . import checkpoint as ckpt_io
from . import distributed as dist_utils
from .config import ConfigError, TrainConfig
from .loop import evaluate, train_one_epoch
from .records import TensorBoardLog, write_csv, write_json

ModelBuilder = Callable[[TrainConfig, torch.Tensor, int], nn.Module]


def default_model_builder(cfg: TrainConfig, sample: torch.Tensor, num_classes: int) -> nn.Module:
    """The paper's network for ``cfg.dataset``, sized from one sample ``[T, *features]``."""
    info = DATASETS[cfg.dataset]
    T = info.default_T if info.variable_length else int(sample.shape[0])
    options: dict[str, object] = dict(neuron=cfg.neuron, k=cfg.k, dilations=cfg.dilations,
                                      surrogate=cfg.surrogate, alpha=cfg.alpha, T=T)
    if cfg.neuron == "cpsn":
        if cfg.backend not in backend_names():
            raise ConfigError(f"--backend: expected one of {backend_names()}, got "
                              f"{cfg.backend!r}")
        options["backend"] = cfg.backend
    if cfg.dataset in ("digits", "shd"):
        options["in_features"] = int(sample.shape[-1])
    accepted = set(inspect.signature(NETWORKS[cfg.dataset]).parameters) - {"neuron_options"}
    if cfg.neuron == "cpsn":
        accepted |= set(inspect.signature(CPSN).parameters) - {
            "channels", "k", "dilation", "surrogate_function", "step_mode", "backend"}
    unknown = sorted(set(cfg.model_options) - accepted)
    if unknown:
        raise ConfigError(
            f"--model-option: {NETWORKS[cfg.dataset].__name__} has no option {unknown}; "
            f"expected one of {sorted(accepted)}")
    options.update(cfg.model_options)
    return build_model(cfg.dataset, num_classes, **options)


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
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    info = DATASETS[cfg.dataset]
    out = Path(cfg.out)
    ckpt_path = out / ckpt_io.CHECKPOINT_NAME

    ckpt_io.seed_everything(cfg.seed)
    if datasets is None:
        train_set = build_dataset(cfg.dataset, cfg.data_root, "train", **cfg.data_options)
        test_set = build_dataset(cfg.dataset, cfg.data_root, "test", **cfg.data_options)
    else:
        train_set, test_set = datasets
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
    if cfg.resume:
        state = ckpt_io.load_checkpoint(ckpt_path)
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
