"""How far a float32 training's numbers may move on another machine, and a check against it.

A float32 kernel on another CPU (another SIMD width, another thread count, another BLAS) sums the
same terms in another order. Reordering a sum of ``K`` float32 terms moves it by at most about
``K * eps`` relative (``eps = 2**-23 ~ 1.19e-7``, the first-order bound of recursive summation),
and a training run carries such a difference from one optimizer step to the next: after ``s``
steps the numbers may differ by about ``K * eps * s`` relative. That is the tolerance here, with
``K`` the longest float32 sum of the model and ``s`` the optimizer steps before each number.

A loss close to 0 (a confident prediction) is a log-softmax of logits of order 1: float32 rounds
``log(1 + tiny)`` in steps of ``eps``, so a loss is also allowed ``eps`` absolute.

The bound takes the steps' differences to add up rather than grow; each test that uses it runs
the firm with every linear layer's output perturbed by 1e-5 relative (84 eps, ten times what
another CPU did to MiniLM's loss: the size issue 39's acceptance names) to check that it holds,
and with the learning rate changed by 1 % to check that a real change is still caught.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import numpy as np

EPS32 = float(np.finfo(np.float32).eps)  # 2**-23 = 1.19e-7


def loss_tolerance(longest_sum: int, steps_per_epoch: int, epochs: int) -> np.ndarray:
    """The relative tolerance of each epoch's loss: ``eps * longest_sum * steps`` so far."""
    steps = steps_per_epoch * np.arange(1, epochs + 1)
    return EPS32 * longest_sum * steps


def outside_tolerance(got: Sequence[float], want: Sequence[float], longest_sum: int,
                      steps_per_epoch: int) -> np.ndarray:
    """Which of ``got`` (a loss curve) differ from ``want`` by more than float32 training allows."""
    got, want = np.asarray(got, float), np.asarray(want, float)
    assert got.shape == want.shape, (got, want)
    rtol = loss_tolerance(longest_sum, steps_per_epoch, len(want))
    return np.abs(got - want) > rtol * np.abs(want) + EPS32


def assert_within_tolerance(got: Sequence[float], want: Sequence[float], longest_sum: int,
                            steps_per_epoch: int) -> None:
    bad = outside_tolerance(got, want, longest_sum, steps_per_epoch)
    rtol = loss_tolerance(longest_sum, steps_per_epoch, len(want))
    assert not bad.any(), (f"losses {list(got)} differ from {list(want)} by more than float32 "
                           f"training allows (relative {rtol.tolist()} + {EPS32:.2e} absolute)")


@contextlib.contextmanager
def linear_outputs_perturbed(monkeypatch, rel: float = 1e-5, seed: int = 0) -> Iterator[None]:
    """Every ``torch.nn.functional.linear`` (every ``nn.Linear``) output times ``1 +- rel``
    (a fixed random sign per element): another CPU's kernels, ``rel`` relative off."""
    import torch

    orig = torch.nn.functional.linear
    gen = torch.Generator().manual_seed(seed)

    def linear(x, weight, bias=None):
        out = orig(x, weight, bias)
        sign = torch.randint(0, 2, out.shape, generator=gen).to(out.dtype) * 2 - 1
        return out * (1 + rel * sign)

    with monkeypatch.context() as m:
        m.setattr(torch.nn.functional, "linear", linear)
        yield
