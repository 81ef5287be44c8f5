"""One training epoch and one evaluation pass over time-first batches.

Both reset every SpikingJelly memory module after each batch
(``functional.reset_net``) and return *sums* (loss x samples, correct, samples) so that ranks
can add them before dividing.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from spikingjelly.activation_based import functional as sj_functional
from torch import nn

Batch = tuple[torch.Tensor, torch.Tensor]


def _progress(loader: Iterable[Batch], enabled: bool, desc: str):
    if not enabled:
        return loader, None
    from tqdm import tqdm  # not tqdm.auto: its asyncio flavour calls iter(loader) eagerly,
    # which draws DataLoader seeds from the global RNG and changes the run

    bar = tqdm(loader, desc=desc, leave=False, dynamic_ncols=True, disable=None)
    return bar, bar


def train_one_epoch(
    model: nn.Module,
    loader: Iterable[Batch],
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    device: torch.device,
    num_classes: int,
    label_smoothing: float = 0.0,
    batch_transform: Callable | None = None,
    amp: bool = False,
    after_step: Callable[[], None] | None = None,
    progress: bool = False,
    desc: str = "train",
) -> dict[str, float]:
    """Train ``model`` on every batch of ``loader`` once.

    Args:
        model: maps ``x [T, N, *features]`` to logits ``[N, num_classes]``.
        loader: yields ``(x [T, N, *features], labels [N])``.
        batch_transform: ``f(x, labels, num_classes) -> (x, soft labels [N, num_classes])``
            (MixUp/CutMix), applied before the forward pass.
        amp: autocast to float16 on CUDA with ``scaler`` scaling the loss.
        after_step: called after every optimizer step (e.g. clamping delay positions).
        progress: show a tqdm bar with the running loss, accuracy and samples/s (only when
            stderr is a terminal, so logs stay clean).

    Returns:
        ``{"loss_sum", "correct", "count", "seconds"}`` for this process.

    Example:
        >>> from spikingjelly_mulfree.models import DigitsNet
        >>> net = DigitsNet(channels=4, hidden=8)
        >>> opt = torch.optim.Adam(net.parameters())
        >>> batch = (torch.rand(8, 5, 8), torch.tensor([0, 1, 2, 3, 4]))
        >>> scaler = torch.amp.GradScaler("cpu", enabled=False)
        >>> train_one_epoch(net, [batch], opt, scaler, torch.device("cpu"), 10)["count"]
        5.0
    """
    model.train()
    loss_sum = correct = count = 0.0
    start = time.perf_counter()
    batches, bar = _progress(loader, progress, desc)
    for x, y in batches:
        if batch_transform is not None:
            x, target = batch_transform(x, y, num_classes)
        else:
            target = y
        x = x.to(device, non_blocking=True)
        target = target.to(device, non_blocking=True)
        with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=amp):
            logits = model(x)
        loss = F.cross_entropy(logits.float(), target, label_smoothing=label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        sj_functional.reset_net(model)
        if after_step is not None:
            after_step()
        n = x.shape[1]
        hard = target.argmax(1) if target.dim() == 2 else target
        loss_sum += loss.item() * n
        correct += (logits.argmax(1) == hard).sum().item()
        count += n
        if bar is not None:
            elapsed = time.perf_counter() - start
            bar.set_postfix(loss=f"{loss_sum / count:.4f}", acc=f"{correct / count:.4f}",
                            samples_s=f"{count / max(elapsed, 1e-9):.0f}")
    return {"loss_sum": loss_sum, "correct": correct, "count": count,
            "seconds": time.perf_counter() - start}


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: Iterable[Batch],
    device: torch.device,
    amp: bool = False,
    progress: bool = False,
    desc: str = "test",
) -> dict[str, float]:
    """Cross-entropy and accuracy of ``model`` (eval mode) over ``loader``.

    Returns:
        ``{"loss_sum", "correct", "count"}`` for this process.

    Example:
        >>> from spikingjelly_mulfree.models import DigitsNet
        >>> batch = (torch.rand(8, 3, 8), torch.tensor([0, 1, 2]))
        >>> evaluate(DigitsNet(channels=4, hidden=8), [batch], torch.device("cpu"))["count"]
        3.0
    """
    model.eval()
    loss_sum = correct = count = 0.0
    batches, _ = _progress(loader, progress, desc)
    for x, y in batches:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=amp):
            logits = model(x)
        sj_functional.reset_net(model)
        loss_sum += F.cross_entropy(logits.float(), y, reduction="sum").item()
        correct += (logits.argmax(1) == y).sum().item()
        count += y.shape[0]
    return {"loss_sum": loss_sum, "correct": correct, "count": count}
