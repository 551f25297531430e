"""Where a torch firm runs: device and precision settings, checked before any work.

Every torch firm (``torch_mlp``, ``torch_cnn``, ``torch_text``, ``group_dro``, ``dp_sgd``, the
MiniLM encoder of ``minilm_logreg`` and ``minilm_finetune``) takes two parameters:

- ``device``: ``"auto"`` (the default: the current CUDA device when torch sees one, else the
  CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``;
- ``precision``: ``"auto"`` (bf16 autocast on CUDA, fp32 on the CPU), ``"fp32"`` or ``"bf16"``.

On the CPU with ``precision="auto"`` a firm runs exactly the code it ran before devices existed,
so CPU results do not change because a GPU exists elsewhere. Nothing here imports torch at
import time; :func:`cuda_device_count` imports it only when asked.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

#: What ``device`` may be (for messages).
DEVICES_HELP = "auto, cpu, cuda, cuda:N"
#: What ``precision`` may be.
PRECISIONS = ("auto", "fp32", "bf16")
_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")

#: Named firms that train or run a torch module (and so take ``device`` and ``precision``).
TORCH_FIRMS = ("torch_mlp", "torch_cnn", "torch_text", "group_dro", "dp_sgd", "minilm_logreg",
               "minilm_finetune")


def cuda_device_count() -> int:
    """Number of CUDA devices torch sees (0 without torch or CUDA)."""
    try:
        import torch
    except ImportError:
        return 0
    try:
        return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0
    except Exception:  # pragma: no cover - a broken driver counts as no GPU
        return 0


def check_device(device: Any, where: str = "firm.params.device") -> str:
    """Validate a ``device`` setting without touching torch; returns it as a string.

    Raises
    ------
    ValueError
        One line naming ``where`` and the allowed values.

    Examples
    --------
    >>> check_device("cuda:1")
    'cuda:1'
    >>> check_device("gpu")
    Traceback (most recent call last):
    ...
    ValueError: firm.params.device: 'gpu' is not one of auto, cpu, cuda, cuda:N
    """
    if not isinstance(device, str) or not _DEVICE.match(device):
        raise ValueError(f"{where}: {device!r} is not one of {DEVICES_HELP}")
    return device


def check_precision(precision: Any, where: str = "firm.params.precision") -> str:
    """Validate a ``precision`` setting; returns it.

    Raises
    ------
    ValueError
        One line naming ``where`` and the allowed values.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"{where}: {precision!r} is not one of {', '.join(PRECISIONS)}")
    return str(precision)


def resolve_device(device: Any, where: str = "firm.params.device",
                   n_cuda: int | None = None) -> str:
    """The torch device a setting means on this machine: ``"cpu"`` or ``"cuda:N"``.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda", "cuda:N"}
    where : str, default="firm.params.device"
        The config field, for the message.
    n_cuda : int, optional
        CUDA devices to assume (default: what torch sees, :func:`cuda_device_count`).

    Returns
    -------
    str
        ``"cpu"``, or ``"cuda:N"`` (``"cuda"`` and ``"auto"`` with CUDA present: the current
        CUDA device).

    Raises
    ------
    ValueError
        A bad value, or CUDA asked for where there is none (or not that many devices).

    Examples
    --------
    >>> resolve_device("auto", n_cuda=0)
    'cpu'
    >>> resolve_device("cuda", n_cuda=0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: firm.params.device: 'cuda' asked for, but torch sees no CUDA device on this ...
    >>> resolve_device("cuda:1", n_cuda=2)
    'cuda:1'
    """
    device = check_device(device, where)
    n = cuda_device_count() if n_cuda is None else int(n_cuda)
    if device == "cpu" or (device == "auto" and n == 0):
        return "cpu"
    if n == 0:
        raise ValueError(f"{where}: {device!r} asked for, but torch sees no CUDA device on this "
                         "machine; use device: auto or cpu")
    if device in ("auto", "cuda"):
        index = 0
        if n_cuda is None:
            import torch

            index = int(torch.cuda.current_device())
        return f"cuda:{index}"
    index = int(device.split(":")[1])
    if index >= n:
        raise ValueError(f"{where}: {device!r} asked for, but torch sees {n} CUDA device(s) "
                         f"(cuda:0 to cuda:{n - 1})")
    return device


def resolve_precision(precision: Any, device: str, where: str = "firm.params.precision") -> str:
    """``"fp32"`` or ``"bf16"``: what ``precision`` means on a resolved ``device``.

    Examples
    --------
    >>> resolve_precision("auto", "cpu"), resolve_precision("auto", "cuda:0")
    ('fp32', 'bf16')
    """
    precision = check_precision(precision, where)
    if precision == "auto":
        return "bf16" if device.startswith("cuda") else "fp32"
    return precision


def autocast(torch: Any, device: str, precision: str) -> Any:
    """A context running the block in bf16 autocast when ``precision == "bf16"`` (else nothing).

    ``device`` and ``precision`` are resolved values (:func:`resolve_device`,
    :func:`resolve_precision`).
    """
    if precision != "bf16":
        return nullcontext()
    kind = "cuda" if device.startswith("cuda") else "cpu"
    return torch.autocast(device_type=kind, dtype=torch.bfloat16)


@contextmanager
def on_gpu(index: int | None) -> Iterator[None]:
    """Make CUDA device ``index`` the current one for the block (nothing for ``None``).

    The engine's schedulers run a GPU cell inside this, so that firms with ``device: auto`` or
    ``cuda`` use the GPU the cell was given.
    """
    if index is None:
        yield
        return
    import torch

    if not torch.cuda.is_available():  # only a test schedules GPU slots without CUDA
        yield
        return

    previous = torch.cuda.current_device()
    torch.cuda.set_device(int(index))
    try:
        yield
    finally:
        torch.cuda.set_device(previous)


def firm_wants_gpu(name: str, params: Any, n_cuda: int | None = None) -> bool:
    """Whether a firm spec trains on a GPU on a machine with ``n_cuda`` CUDA devices.

    A named torch firm (:data:`TORCH_FIRMS`) whose ``device`` is not ``"cpu"``, or ``jtt`` whose
    ``base`` is one, wants a GPU when CUDA is present.

    Examples
    --------
    >>> firm_wants_gpu("minilm_finetune", {}, n_cuda=1)
    True
    >>> firm_wants_gpu("minilm_finetune", {"device": "cpu"}, n_cuda=1)
    False
    >>> firm_wants_gpu("logistic_regression", {}, n_cuda=1), firm_wants_gpu("torch_mlp", {}, n_cuda=0)
    (False, False)
    """
    params = dict(params or {})
    n = cuda_device_count() if n_cuda is None else int(n_cuda)
    if n == 0:
        return False
    if name == "jtt":
        return (params.get("base") in TORCH_FIRMS
                and any(firm_wants_gpu(str(params.get("base")), p, n)
                        for p in (params.get("base_params"), params.get("id_params"))))
    return name in TORCH_FIRMS and params.get("device", "auto") != "cpu"


def fitted_device(firm: Any) -> str:
    """The device a fitted firm trained on (``"cpu"`` for anything that is not a torch firm).

    Looks through pipelines, defended firms and JTT for an estimator with ``device_``.
    """
    seen = 0
    stack = [firm]
    while stack and seen < 32:
        seen += 1
        est = stack.pop()
        dev = getattr(est, "device_", None)
        if isinstance(dev, str):
            return dev
        steps = getattr(est, "steps", None)
        if isinstance(steps, list | tuple):  # a Pipeline's (name, step) pairs, not a count
            stack.extend(step for _, step in steps)
        for attr in ("estimator_", "estimator", "model_", "firm"):
            inner = getattr(est, attr, None)
            if inner is not None and inner is not est:
                stack.append(inner)
    return "cpu"
