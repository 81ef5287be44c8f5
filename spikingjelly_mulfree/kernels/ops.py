"""Tensor-level entry points of the kernels: shapes, dtypes, workspaces, grids.

Every function takes ``x`` as ``[T, N, C, S]`` (any strides; a contiguous copy is made when
needed) in float16, bfloat16, float32 or float64, and weights ``[C, k]`` / bias ``[C]``, which
are cast to the accumulator type: float64 for float64 inputs, else float32. The equation is in
:mod:`spikingjelly_mulfree.functional.charge`. Targets are picked by ``x.device`` through
:func:`~.launch.get_launcher`: CPU tensors run the host build, CUDA tensors run CuPy.

Example:
    >>> import torch
    >>> x = torch.randn(5, 2, 3, 4)
    >>> w, b = torch.randn(3, 2), torch.randn(3)
    >>> from spikingjelly_mulfree.functional.charge import charge_reference
    >>> torch.allclose(charge(x, w, b, 2), charge_reference(x, w, b, 2), atol=1e-5)
    True
"""
from __future__ import annotations

import torch

from .host import PARALLEL_MIN_ELEMENTS
from .launch import Launcher, get_launcher, grid_for

SUFFIX = {torch.float16: "f16", torch.bfloat16: "bf16", torch.float32: "f32",
          torch.float64: "f64"}

# Backward modes (must match the enum in sjm_common.cuh).
MODE_NAMES = ("GIVEN", "ATAN", "SIGMOID", "RATIONAL", "MOMENTS")
GIVEN, ATAN, SIGMOID, RATIONAL, MOMENTS = range(len(MODE_NAMES))

# Parallelism the reductions aim for before splitting the batch across grid rows (each row adds a
# [C*S, k+1] slab of partials to zero, fill and sum), by the launcher's layout: threads in the
# GPU's (the host build of the GPU layout takes the same grids), blocks per OpenMP thread in the
# host's staged one.
_TARGET_THREADS = {"gpu": 65536, "staged": 8}
# A reduction takes a first stage when a channel has more than REDUCE_SINGLE[layout] partials,
# which it sums in chunks of REDUCE_CHUNK[layout]. A GPU needs it to keep many threads busy when
# a channel has hundreds of partials (the sequential-CIFAR layer's moments: 512 for 128 threads),
# but below a few hundred one thread's sum costs less than a second launch. The host's few cores
# are kept busy by the final stage's C * (k + 1) threads, and a second launch of a few thousand
# one-item threads costs more than it saves (~60 us of a small layer's step).
REDUCE_SINGLE = {"gpu": 256, "staged": 4096}
REDUCE_CHUNK = {"gpu": 32, "staged": 4096}


def acc_dtype(dtype: torch.dtype) -> torch.dtype:
    """Accumulator type of an input dtype: float64 for float64, else float32.

    Example:
        >>> acc_dtype(torch.float16), acc_dtype(torch.float64)
        (torch.float32, torch.float64)
    """
    return torch.float64 if dtype == torch.float64 else torch.float32


def check_input(x: torch.Tensor, weight: torch.Tensor) -> None:
    """Raise a clear error unless ``x`` ``[T, N, C, S]`` and ``weight`` ``[C, k]`` fit.

    Example:
        >>> check_input(torch.zeros(4, 2, 3, 1), torch.zeros(5, 2))
        Traceback (most recent call last):
        ...
        ValueError: weight: expected [C=3, k], got shape (5, 2)
    """
    if x.dtype not in SUFFIX:
        raise TypeError(f"x: expected float16, bfloat16, float32 or float64, got {x.dtype}")
    if x.dim() != 4:
        raise ValueError(f"x: expected [T, N, C, S], got shape {tuple(x.shape)}")
    if weight.dim() != 2 or weight.shape[0] != x.shape[2]:
        raise ValueError(
            f"weight: expected [C={x.shape[2]}, k], got shape {tuple(weight.shape)}"
        )
    if weight.device != x.device:
        raise ValueError(f"weight: expected it on {x.device} like x, got {weight.device}")
    check_not_narrowed("weight", weight, x)


def check_not_narrowed(name: str, t: torch.Tensor | None, x: torch.Tensor) -> None:
    """Raise if float64 ``t`` would be rounded to the float32 accumulator of a narrower ``x``.

    Example:
        >>> check_not_narrowed("bias", torch.zeros(3, dtype=torch.float64), torch.zeros(2))
        ... # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        TypeError: bias: float64 values on a torch.float32 input would be rounded to float32, ...
    """
    if t is not None and t.dtype == torch.float64 and x.dtype != torch.float64:
        raise TypeError(
            f"{name}: float64 values on a {x.dtype} input would be rounded to float32, the "
            f"kernels' accumulator for it; cast x to float64 (CPSN does) or {name} to float32"
        )


def as_kernel_arg(t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``t`` in ``dtype`` and contiguous, for a kernel that reads its memory (``t`` itself when
    it already is: a training step passes some fifty tensors, and even a no-op ``.to`` costs a
    microsecond).

    Example:
        >>> t = torch.ones(3)
        >>> as_kernel_arg(t, torch.float32) is t, as_kernel_arg(t.expand(2, 3), t.dtype).stride()
        (True, (3, 1))
    """
    if t.dtype != dtype:
        t = t.detach().to(dtype)
    # (not .to(memory_format=...): it aliases an expanded tensor, whose suggested format is
    # contiguous, instead of copying it)
    return t if t.is_contiguous() else t.contiguous()


def tracks_grad(*tensors: torch.Tensor | None) -> bool:
    """Whether autograd would record an operation on ``tensors`` (grad mode on and one of them
    requiring a gradient): otherwise the kernels can be called without autograd functions.

    Example:
        >>> w = torch.ones(2, requires_grad=True)
        >>> tracks_grad(torch.ones(2), None), tracks_grad(w)
        (False, True)
        >>> with torch.no_grad():
        ...     tracks_grad(w)
        False
    """
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def refuse_create_graph() -> None:
    """Raise if the backward running now builds a graph (``create_graph=True``, outside
    ``torch.compile``'s tracing): the kernels have no gradients of their gradients.

    Example:
        >>> with torch.no_grad():  # an ordinary backward runs with grad mode off
        ...     refuse_create_graph()
        >>> refuse_create_graph()  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        RuntimeError: CPSN kernel backends compute first-order gradients only: ...
    """
    if torch.is_grad_enabled() and not torch.compiler.is_compiling():
        raise RuntimeError(
            "CPSN kernel backends compute first-order gradients only: a backward with "
            "create_graph=True (gradients of gradients, e.g. a gradient penalty) needs "
            "CPSN(backend='torch'), whose plain torch ops autograd can differentiate again"
        )


def check_dilation(dilation: object, k: int) -> None:
    """Raise unless ``dilation`` is an integer >= 1 whose tap offsets fit the kernels' 32-bit
    step arithmetic (``max(k, 8) * dilation < 2**31``: a time block spans 8 steps).

    Example:
        >>> check_dilation(3, k=4)
        >>> check_dilation(0, k=4)
        Traceback (most recent call last):
        ...
        ValueError: dilation: expected an integer >= 1, got 0
    """
    if isinstance(dilation, bool) or not isinstance(dilation, int) or dilation < 1:
        raise ValueError(f"dilation: expected an integer >= 1, got {dilation!r}")
    if max(k, 8) * dilation >= 2**31:
        raise ValueError(
            f"dilation: {dilation} with k={k} puts taps more than 2**31 steps apart, beyond "
            f"the kernels' step arithmetic; a dilation beyond the sequence length adds nothing"
        )


def check_step_elements(elements: int, name: str = "x") -> None:
    """Raise unless one step's ``elements`` (``N*C*S``, which the step and integer kernels take
    as a 32-bit int) are below ``2**31``.

    Example:
        >>> check_step_elements(2 * 3 * 4)
        >>> check_step_elements(2**31)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: x: 2147483648 elements per step, beyond the step kernels' 32-bit count ...
    """
    if elements >= 2**31:
        raise ValueError(
            f"{name}: {elements} elements per step, beyond the step kernels' 32-bit count "
            f"(2**31 - 1); split the batch into smaller ones"
        )


def _prep(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, dilation: int):
    check_input(x, weight)
    check_not_narrowed("bias", bias, x)
    check_dilation(dilation, weight.shape[1])
    acc = acc_dtype(x.dtype)
    w = as_kernel_arg(weight, acc)
    b = None if bias is None else as_kernel_arg(bias, acc)
    return as_kernel_arg(x, x.dtype), w, b, get_launcher(x.device)


def _rows(launcher: Launcher, x: torch.Tensor, reduce: bool) -> tuple[int, int]:
    """Grid covering ``C*S`` columns along x and batch chunks along y; every grid row gets at
    least one sample (a row of ``ceil(N / gy)`` samples each, the last one shorter).

    A launch that reduces over samples, and any launch of the staged host layout (where a block
    stages its weights once for all its samples), takes just enough rows for
    :data:`_TARGET_THREADS` (one on the host when the launch runs on one thread); the GPU's
    other launches take one row per sample."""
    T, N, C, S = x.shape
    gx, _ = grid_for(launcher, C * S)
    if not reduce and launcher.layout == "gpu":
        gy = min(N, 65535)
    else:
        threads = gx * launcher.block
        target = _TARGET_THREADS[launcher.layout]
        if launcher.layout == "staged":
            # a launch the host runs on one thread (a small one) gains nothing from more
            # blocks, and each grid row of a reduction adds a slab of partials. The grid
            # depends on the shape and torch's thread count only, so results do not change
            # with how the blocks are run.
            small = x.numel() < PARALLEL_MIN_ELEMENTS
            target = 1 if small else target * torch.get_num_threads()
        gy = max(1, min(N, 65535, -(-target // threads)))
    per = -(-N // gy)
    return gx, -(-N // per)


def _thread_grid(launcher: Launcher, items: int) -> tuple[int, int]:
    """Grid of a kernel of ``items`` one-thread items (the reductions and the per-channel
    kernels, which step through their items by the grid's size, ``SJM_FOR_ITEMS``): a thread
    per item in blocks of the launcher's size on the GPU layout; when staged, one block per
    torch thread (OpenMP over them), each walking many items, since the host's dispatch of a
    block costs more than an item."""
    if launcher.cols == 1:
        return grid_for(launcher, items)
    return max(1, min(items, torch.get_num_threads())), 1


def _first_stage(launcher: Launcher, kind: str, part: torch.Tensor, width: int,
                 threads_per_chunk: int, ny: int, C: int, S: int, extra: tuple[int, ...]
                 ) -> tuple[torch.Tensor, int, int]:
    """Reduce a channel's ``ny * S`` partials (``width`` values each) to chunks of
    :data:`REDUCE_CHUNK` when there are more than :data:`REDUCE_SINGLE` of the layout
    (``cpsn_reduce_{kind}_chunks``, with ``threads_per_chunk`` threads per chunk; see
    ``cupy_kernels/cpsn_reduce.cu``); returns the partials the final stage reads, with its
    ``ny`` and ``S``."""
    items = ny * S
    if items <= REDUCE_SINGLE[launcher.layout]:
        return part, ny, S
    chunk = REDUCE_CHUNK[launcher.layout]
    chunks = -(-items // chunk)
    out = torch.empty(chunks * C * width, dtype=part.dtype, device=part.device)
    launcher.launch(f"cpsn_reduce_{kind}_chunks_{SUFFIX[part.dtype]}",
                    _thread_grid(launcher, chunks * threads_per_chunk),
                    (part, out, ny, C, S, *extra, chunk), part.device)
    return out, chunks, 1


def _variant(x: torch.Tensor, mul_free: bool) -> str:
    return f"{SUFFIX[x.dtype]}_{'shift' if mul_free else 'mul'}"


def charge_fire(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                dilation: int, mul_free: bool = False) -> torch.Tensor:
    """Spikes ``H >= 0`` in ``x.dtype``, contiguous ``[T, N, C, S]`` (no autograd).

    Args:
        x: ``[T, N, C, S]``; weight: ``[C, k]``; bias: ``[C]`` or ``None``; dilation: ``>= 1``.
        mul_free: apply the taps as exponent adds; every weight must then be 0 or ``+-2**e``.

    Example:
        >>> x = torch.randn(5, 2, 3, 4, dtype=torch.float16)
        >>> w, b = torch.tensor([[0.5, -1.0]] * 3), torch.zeros(3)
        >>> s = charge_fire(x, w, b, 1, mul_free=True)
        >>> s.dtype, torch.equal(s, (charge(x, w, b, 1) >= 0).half())
        (torch.float16, True)
    """
    x, w, b, launcher = _prep(x, weight, bias, dilation)
    T, N, C, S = x.shape
    out = torch.empty_like(x)
    launcher.launch(f"cpsn_forward_{_variant(x, mul_free)}", _rows(launcher, x, False),
                    (x, w, b, out, None, T, N, C, S, w.shape[1], dilation), x.device)
    return out


def charge(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
           dilation: int, mul_free: bool = False) -> torch.Tensor:
    """The charge ``H`` in the accumulator type, ``[T, N, C, S]`` (no autograd).

    Arguments as :func:`charge_fire`'s; the equation is
    :func:`spikingjelly_mulfree.functional.charge.charge_reference`'s.

    Example:
        >>> h = charge(torch.ones(4, 1, 2, 1, dtype=torch.bfloat16), torch.ones(2, 2), None, 1)
        >>> h.dtype, h[:, 0, 0, 0].tolist()
        (torch.float32, [1.0, 2.0, 2.0, 2.0])
    """
    x, w, b, launcher = _prep(x, weight, bias, dilation)
    T, N, C, S = x.shape
    out = torch.empty(x.shape, dtype=w.dtype, device=x.device)
    launcher.launch(f"cpsn_forward_{_variant(x, mul_free)}", _rows(launcher, x, False),
                    (x, w, b, None, out, T, N, C, S, w.shape[1], dilation), x.device)
    return out


def backward(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, dilation: int,
             mode: int, *, grad_s: torch.Tensor | None = None,
             grad_h: torch.Tensor | None = None, alpha: float = 0.0,
             moments: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
             mul_free: bool = False, keep_g: bool = False,
             extra: tuple[torch.Tensor, torch.Tensor] | None = None,
             donate: bool = False, add_to: torch.Tensor | None = None,
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(dX in x.dtype, dW [C, k], db [C])`` of the charge, with ``dL/dH`` formed by ``mode``.

    Args:
        mode: ``GIVEN`` (``grad_h`` is ``dL/dH``), ``ATAN`` / ``SIGMOID`` / ``RATIONAL``
            (``dL/dH = grad_s * g'(H)`` with sharpness ``alpha``, H recomputed), or ``MOMENTS``
            (``dL/dH = ca (H - mu) + cb`` per channel, ``moments = (mu, ca, cb)``, no bias).
        keep_g: return ``dL/dH`` (accumulator type, ``[T, N, C, S]``) in place of dX and skip
            the dX pass (for a later call's ``extra``).
        extra: ``(g2, w2)``: add the anti-causal correlation of ``g2`` (a kept ``dL/dH``) with
            the taps ``w2`` ``[C, k]`` to dX, so one pass gives the input gradient of two
            consumers of ``x``.
        donate: the caller hands ``extra``'s ``dL/dH`` over: when ``x`` is in the accumulator
            type, dX is written over it (one ``[T, N, C, S]`` buffer less).
        add_to: a contiguous accumulator-typed ``[C, k]`` tensor that dW is added to (in
            place, and returned as dW): the sum of two gradients of the same weights without
            a separate addition.

    In the staged host layout, ``dL/dH`` of this call lives in each OpenMP thread's scratch
    rather than in a ``[T, N, C, S]`` buffer (unless ``keep_g``).

    Example:
        >>> from spikingjelly_mulfree.functional.charge import charge_reference
        >>> x = torch.randn(5, 2, 3, 4, dtype=torch.float64, requires_grad=True)
        >>> w, b = torch.randn(3, 2, dtype=torch.float64), torch.randn(3, dtype=torch.float64)
        >>> g = torch.randn(5, 2, 3, 4, dtype=torch.float64)
        >>> charge_reference(x, w, b, 2).backward(g)
        >>> dx, dw, db = backward(x.detach(), w, b, 2, GIVEN, grad_h=g)
        >>> torch.allclose(dx, x.grad), dw.shape, db.shape
        (True, torch.Size([3, 2]), torch.Size([3]))
    """
    if mode not in range(len(MODE_NAMES)):
        raise ValueError(f"mode: expected one of ops.{', '.join(MODE_NAMES)} "
                         f"(0 to {len(MODE_NAMES) - 1}), got {mode!r}")
    needs = {GIVEN: "grad_h", MOMENTS: "moments"}.get(mode, "grad_s")
    given = {"grad_s": grad_s, "grad_h": grad_h, "moments": moments}
    wrong = [name for name, v in given.items() if (v is not None) != (name == needs)]
    if wrong:
        got = ", ".join(f"{n} {'given' if given[n] is not None else 'missing'}" for n in wrong)
        raise ValueError(f"mode: {MODE_NAMES[mode]} reads {needs} alone of grad_s, grad_h and moments, got "
                         f"{got}; pass only {needs}")
    x, w, b, launcher = _prep(x, weight, bias, dilation)
    T, N, C, S = x.shape
    k = w.shape[1]
    acc = w.dtype
    if grad_s is not None:
        grad_s = as_kernel_arg(grad_s, x.dtype)
    if grad_h is not None:
        grad_h = as_kernel_arg(grad_h, acc)
    mu = ca = cb = None
    if moments is not None:
        for m in moments:
            check_not_narrowed("moments", m, x)
        mu, ca, cb = (as_kernel_arg(m, acc) for m in moments)
    g2 = w2 = None
    if extra is not None:
        check_not_narrowed("extra", extra[1], x)
        g2 = as_kernel_arg(extra[0], acc)
        w2 = as_kernel_arg(extra[1], acc)
        if g2.shape != x.shape or extra[1].shape != w.shape:
            raise ValueError(
                f"extra: expected dL/dH shaped {tuple(x.shape)} and taps {tuple(w.shape)}, got "
                f"{tuple(g2.shape)} and {tuple(extra[1].shape)}"
            )
    if keep_g:
        dx = None
    elif donate and g2 is not None and x.dtype == acc:
        dx = g2
    else:
        dx = torch.empty_like(x)
    if keep_g:
        gh = torch.empty(x.shape, dtype=acc, device=x.device)
    elif launcher.layout == "staged":
        gh = None
    elif x.dtype == acc and dx is not g2:
        gh = dx
    else:
        gh = torch.empty(x.shape, dtype=acc, device=x.device)
    grid = _rows(launcher, x, True)
    part = torch.empty(grid[1] * C * S * (k + 1), dtype=acc, device=x.device)
    launcher.launch(
        f"cpsn_backward_{_variant(x, mul_free)}", grid,
        (x, w, b, grad_s, grad_h, mu, ca, cb, gh, dx, g2, w2, part, T, N, C, S, k,
         dilation, mode, float(alpha)), x.device)
    if add_to is not None and (add_to.shape != (C, k) or add_to.dtype != acc
                               or not add_to.is_contiguous()):
        raise ValueError(f"add_to: expected a contiguous [{C}, {k}] {acc} tensor, got "
                         f"{add_to.dtype} of shape {tuple(add_to.shape)}")
    dw = torch.empty(C, k, dtype=acc, device=x.device) if add_to is None else add_to
    db = torch.empty(C, dtype=acc, device=x.device)
    part, ny, S_part = _first_stage(launcher, "grad", part, k + 1, C * (k + 1), grid[1], C, S,
                                    (k,))
    launcher.launch(f"cpsn_reduce_grad_{SUFFIX[acc]}", _thread_grid(launcher, C * (k + 1)),
                    (part, dw, db, ny, C, S_part, k, add_to is not None), x.device)
    return (gh if keep_g else dx), dw, db


def moments(x: torch.Tensor, weight: torch.Tensor, dilation: int
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and biased variance (each ``[C]``, accumulator type) of the
    un-biased charge of ``x`` ``[T, N, C, S]`` under ``weight`` ``[C, k]`` over T, N and S.

    Example:
        >>> from spikingjelly_mulfree.functional.charge import charge_reference
        >>> x, w = torch.randn(5, 2, 3, 4, dtype=torch.float64), torch.randn(3, 2).double()
        >>> mean, var = moments(x, w, 2)
        >>> h = charge_reference(x, w, None, 2)
        >>> dims = (0, 1, 3)
        >>> torch.allclose(mean, h.mean(dims)), torch.allclose(var, h.var(dims, correction=0))
        (True, True)
    """
    launcher, part, ny, S_part, mean, var = moment_partials(x, weight, dilation)
    C = mean.shape[0]
    launcher.launch(f"cpsn_reduce_moments_{SUFFIX[mean.dtype]}", _thread_grid(launcher, C),
                    (part, mean, var, ny, C, S_part), x.device)
    return mean, var


def moment_partials(x: torch.Tensor, weight: torch.Tensor, dilation: int
                    ) -> tuple[Launcher, torch.Tensor, int, int, torch.Tensor, torch.Tensor]:
    """:func:`moments` up to its final reduction: ``(launcher, part, ny, S, mean, var)``, the
    partials of ``(count, mean, M2)`` that ``cpsn_reduce_moments`` (or ``cpsn_moments_fold``)
    sums with ``ny`` and ``S``, and the empty ``[C]`` outputs it writes.

    Example:
        >>> x, w = torch.randn(5, 2, 3, 4), torch.randn(3, 2)
        >>> launcher, part, ny, S, mean, var = moment_partials(x, w, 1)
        >>> count = part.view(-1, 3)[:, 0]  # (count, mean, M2) per column and grid row
        >>> int(count.sum()) == x.numel(), mean.shape, var.dtype
        (True, torch.Size([3]), torch.float32)
    """
    x, w, _, launcher = _prep(x, weight, None, dilation)
    T, N, C, S = x.shape
    acc = w.dtype
    grid = _rows(launcher, x, True)
    part = torch.empty(grid[1] * C * S * 3, dtype=acc, device=x.device)
    launcher.launch(f"cpsn_moments_{SUFFIX[x.dtype]}", grid,
                    (x, w, part, T, N, C, S, w.shape[1], dilation), x.device)
    mean = torch.empty(C, dtype=acc, device=x.device)
    var = torch.empty(C, dtype=acc, device=x.device)
    part, ny, S_part = _first_stage(launcher, "moments", part, 3, C, grid[1], C, S, ())
    return launcher, part, ny, S_part, mean, var


def moments_backward(x: torch.Tensor, weight: torch.Tensor, dilation: int, mean: torch.Tensor,
                     grad_mean: torch.Tensor | None, grad_var: torch.Tensor | None,
                     extra: tuple[torch.Tensor, torch.Tensor] | None = None,
                     donate: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """``(dX [T, N, C, S], dW [C, k])`` of :func:`moments` given the gradients of its two
    outputs (``[C]`` each, ``None``: zero; ``extra``, ``donate``: see :func:`backward`).

    Example:
        >>> from spikingjelly_mulfree.functional.charge import charge_reference
        >>> x = torch.randn(5, 2, 3, 4, dtype=torch.float64, requires_grad=True)
        >>> w = torch.randn(3, 2, dtype=torch.float64)
        >>> charge_reference(x, w, None, 2).var((0, 1, 3), correction=0).sum().backward()
        >>> mean, _ = moments(x.detach(), w, 2)
        >>> dx, dw = moments_backward(x.detach(), w, 2, mean, None, torch.ones(3).double())
        >>> torch.allclose(dx, x.grad), dw.shape
        (True, torch.Size([3, 2]))
    """
    C = weight.shape[0]
    n = x.numel() // C
    acc = acc_dtype(x.dtype)
    if grad_mean is None or grad_var is None:
        zeros = torch.zeros(C, dtype=acc, device=x.device)
    gm = zeros if grad_mean is None else as_kernel_arg(grad_mean, acc)
    gv = zeros if grad_var is None else as_kernel_arg(grad_var, acc)
    dx, dw, _ = backward(x, weight, None, dilation, MOMENTS,
                         moments=(mean, gv * (2.0 / n), gm / n), extra=extra,
                         donate=donate)
    return dx, dw
