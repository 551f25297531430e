"""Solvers of a one-shot bimatrix game on measured payoffs: mixed Nash equilibria (support
enumeration with nashpy, checked) and pure Stackelberg commitment with either player first.

Rows are the collective's strategies, columns the firm's, in every matrix
(:mod:`acakit.analyses.game` builds the matrices from a results table).
"""

from __future__ import annotations

import itertools
import warnings
from typing import Any, Literal

import numpy as np

#: Ties between payoffs closer than this count as ties.
TOL = 1e-9


def _is_nash(A: np.ndarray, B: np.ndarray, x: np.ndarray, y: np.ndarray, tol: float) -> bool:
    return bool((A @ y).max() <= x @ A @ y + tol and (x @ B).max() <= x @ B @ y + tol)


def nash_equilibria(A: Any, B: Any, tol: float = TOL) -> list[tuple[np.ndarray, np.ndarray]]:
    """Nash equilibria (mixed and pure) of the bimatrix game (A, B).

    Support enumeration (nashpy) over supports of every size, plus every pure equilibrium;
    each candidate is checked (no pure deviation gains more than ``tol``) and duplicates are
    dropped. A degenerate game (ties, e.g. a collective of size 0 whose answers all score the
    same) may have a continuum of equilibria: this returns the extreme ones that support
    enumeration finds, never none (Lemke–Howson as a last resort).

    Parameters
    ----------
    A, B : array-like, shape (n_rows, n_columns)
        The row player's (the collective's) and the column player's (the firm's) payoffs.
    tol : float, default=1e-9

    Returns
    -------
    list of (x, y)
        The row player's and the column player's mixed strategies.

    Examples
    --------
    Matching pennies has one equilibrium, both players mixing ½–½:

    >>> A = [[1, -1], [-1, 1]]
    >>> [(x.tolist(), y.tolist()) for x, y in nash_equilibria(A, -np.array(A))]
    [([0.5, 0.5], [0.5, 0.5])]
    """
    import nashpy

    A = np.asarray(A, dtype=float)
    B = np.asarray(B, dtype=float)
    if A.shape != B.shape or A.ndim != 2 or not (np.isfinite(A).all() and np.isfinite(B).all()):
        raise ValueError(f"nash_equilibria: A and B must be finite matrices of one shape (got "
                         f"{A.shape} and {B.shape})")
    n, m = A.shape
    cands: list[tuple[np.ndarray, np.ndarray]] = []
    for i, j in itertools.product(range(n), range(m)):
        cands.append((np.eye(n)[i], np.eye(m)[j]))
    game = nashpy.Game(A, B)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nashpy warns on degenerate games: expected here
        cands += [(np.asarray(x, float), np.asarray(y, float))
                  for x, y in game.support_enumeration(tol=tol)]
    found: list[tuple[np.ndarray, np.ndarray]] = []
    for x, y in cands:
        x, y = np.clip(x, 0, None), np.clip(y, 0, None)
        x, y = x / x.sum(), y / y.sum()
        if _is_nash(A, B, x, y, tol) and not any(
                np.allclose(x, a, atol=1e-9) and np.allclose(y, b, atol=1e-9) for a, b in found):
            found.append((x, y))
    if not found:  # pragma: no cover - support enumeration finds one in every game we met
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for label in range(n + m):
                x, y = game.lemke_howson(initial_dropped_label=label)
                if np.isfinite(x).all() and _is_nash(A, B, x, y, 1e-6):
                    found.append((np.asarray(x, float), np.asarray(y, float)))
                    break
    return found


def stackelberg(A: Any, B: Any, leader: Literal["row", "column"],
                tol: float = TOL) -> tuple[int, int]:
    """The pure-commitment Stackelberg outcome of the bimatrix game (A, B).

    The leader commits to one pure strategy; the follower sees it and plays a best response,
    breaking ties in the leader's favour (the strong Stackelberg convention); the leader picks
    the commitment that pays it most (ties: the first in order).

    Parameters
    ----------
    A, B : array-like, shape (n_rows, n_columns)
        The row player's (the collective's) and the column player's (the firm's) payoffs.
    leader : {"row", "column"}
        Who commits first.
    tol : float, default=1e-9
        Payoffs closer than this are ties.

    Returns
    -------
    (row, column) : tuple of int

    Examples
    --------
    The row player prefers (0, 0) but, moving first, the column player forces (1, 1):

    >>> A = [[2, 0], [1, 1]]      # row player's payoffs
    >>> B = [[1, 0], [0, 2]]      # column player's payoffs
    >>> stackelberg(A, B, "row"), stackelberg(A, B, "column")
    ((0, 0), (1, 1))
    """
    A = np.asarray(A, dtype=float)
    B = np.asarray(B, dtype=float)
    if leader not in ("row", "column"):
        raise ValueError(f"leader: {leader!r} is not one of row, column")
    if leader == "column":
        r, c = stackelberg(B.T, A.T, "row", tol)
        return c, r
    best: tuple[float, int, int] | None = None
    for i in range(A.shape[0]):
        cols = B[i]
        br = np.flatnonzero(cols >= cols.max() - tol)  # follower's best responses
        j = int(br[np.argmax(A[i, br])])  # ties in the leader's favour
        if best is None or A[i, j] > best[0] + tol:
            best = (float(A[i, j]), i, j)
    assert best is not None
    return best[1], best[2]
