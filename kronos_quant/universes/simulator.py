"""Vectorised backtests over path arrays: Qlib's TopkDropout, and a portfolio fixed at t0.

Why by hand: Qlib's backtest runs one market (one provider) at a time, through Python objects per order
and per day; a stress test needs the same strategy in hundreds of generated universes, and Qlib has no
engine over path arrays. This module re-implements exactly the rules of
``qlib.contrib.strategy.TopkDropoutStrategy`` (method_sell="bottom", method_buy="top", hold_thresh=1,
only_tradable=False, forbid_all_trade_at_limit=True) with Qlib's ``Exchange`` (deal price = close,
open/close cost rates with a minimum cost, price limits from ``$change``, NaN close = suspended, optional
trade unit) and ``Account`` bookkeeping (return = (value change + cost) / previous value), all universes
at once, looping over days only. ``tests/universes/test_simulator_vs_qlib.py`` checks it against
``qlib.backtest.backtest`` on universes written as providers.

Timing, as in Qlib: the signal known at the close of day d-1 trades at the close of day d.
Array shapes: U universes, D days, I instruments.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ExchangeConfig:
    """Qlib's exchange_kwargs / account settings that the simulator honours."""

    open_cost: float = 0.0005  # buy cost rate
    close_cost: float = 0.0015  # sell cost rate
    min_cost: float = 5.0  # currency, per order
    limit_threshold: float | None = 0.095  # |change| >= this blocks all trades that day (None: no limits)
    trade_unit: int | None = None  # shares per lot (Qlib cn uses 100); None trades fractional amounts
    risk_degree: float = 0.95  # fraction of cash the strategy invests
    init_cash: float = 1e8

    def __post_init__(self) -> None:
        if min(self.open_cost, self.close_cost, self.min_cost) < 0:
            raise ValueError("costs must be >= 0")
        if not 0 < self.risk_degree <= 1 or self.init_cash <= 0:
            raise ValueError("need 0 < risk_degree <= 1 and init_cash > 0")
        object.__setattr__(self, "init_cash", float(self.init_cash))  # YAML gives ints


@dataclass(frozen=True)
class TopkDropout:
    """Qlib's TopkDropoutStrategy(topk, n_drop)."""

    topk: int = 50
    n_drop: int = 5

    def __post_init__(self) -> None:
        if self.topk < 1 or self.n_drop < 0:
            raise ValueError(f"need topk >= 1 and n_drop >= 0, got {self.topk}, {self.n_drop}")


@dataclass(frozen=True)
class FixedPortfolio:
    """Equal weights in the top-k instruments by the signal at t0, bought on the first day and held."""

    topk: int = 50

    def __post_init__(self) -> None:
        if self.topk < 1:
            raise ValueError(f"topk must be >= 1, got {self.topk}")


@dataclass(frozen=True)
class SimulationResult:
    """Daily account figures (U, D), as Qlib's report_normal columns."""

    returns: np.ndarray  # portfolio return before cost
    cost: np.ndarray  # cost / previous account value
    bench: np.ndarray  # benchmark return
    turnover: np.ndarray  # traded value / previous account value
    value: np.ndarray  # account value at the close

    @property
    def excess_with_cost(self) -> np.ndarray:
        return self.returns - self.bench - self.cost

    @property
    def excess_without_cost(self) -> np.ndarray:
        return self.returns - self.bench


def _slice_count(length: np.ndarray, n: np.ndarray) -> np.ndarray:
    """len(list(li)[:n]) for a list of ``length`` items (negative n drops from the end, as Python does)."""
    return np.where(n >= 0, np.minimum(n, length), np.maximum(length + n, 0))


def _ranks(key: np.ndarray) -> np.ndarray:
    """Position of each entry when rows are sorted ascending by key (stable)."""
    order = np.argsort(key, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(key.shape[1])[None, :].repeat(key.shape[0], 0), axis=1)
    return ranks


def topk_dropout_targets(score: np.ndarray, held: np.ndarray, strategy: TopkDropout
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Qlib's sell and buy lists for one day, every universe at once.

    Args:
        score: (U, I) the previous day's signal; NaN = not in the signal.
        held: (U, I) bool, currently held.
    Returns:
        sell, buy: (U, I) bool.
    """
    missing = ~np.isfinite(score)
    low_first = np.where(missing, -np.inf, score)  # pandas sorts NaN last in a descending sort
    n_held = held.sum(1)
    candidates = ~held & ~missing
    candidate_rank = _ranks(np.where(candidates, -score, np.inf))
    n_today = _slice_count(candidates.sum(1), strategy.n_drop + strategy.topk - n_held)
    today = candidates & (candidate_rank < n_today[:, None])
    comb = held | today
    if strategy.n_drop == 0:
        bottom = comb  # list(comb)[-0:] is the whole list in Qlib's get_last_n
    else:
        bottom = comb & (_ranks(np.where(comb, low_first, np.inf)) < strategy.n_drop)
    sell = held & bottom
    n_buy = _slice_count(today.sum(1), sell.sum(1) + strategy.topk - n_held)
    buy = today & (candidate_rank < n_buy[:, None])
    return sell, buy


def _round_lots(amount: np.ndarray, unit: int | None) -> np.ndarray:
    """Qlib's round_amount_by_trade_unit with factor 1: (amount + 0.1) // unit * unit."""
    return amount if unit is None else (amount + 0.1) // unit * unit


def _order_cost(value: np.ndarray, rate: float, exchange: ExchangeConfig) -> np.ndarray:
    return np.where(value > 1e-5, np.maximum(value * rate, exchange.min_cost), 0.0)


class _Account:
    """Cash and share amounts of U accounts; prices carried forward over suspensions."""

    def __init__(self, n_universes: int, n_instruments: int, exchange: ExchangeConfig):
        self.exchange = exchange
        self.cash = np.full(n_universes, float(exchange.init_cash))
        self.amount = np.zeros((n_universes, n_instruments))
        self.price = np.full((n_universes, n_instruments), np.nan)
        self.value = self.cash.copy()

    def sell(self, mask: np.ndarray, price: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        value = np.where(mask, self.amount * np.nan_to_num(price), 0.0)
        cost = _order_cost(value, self.exchange.close_cost, self.exchange)
        self.cash += (value - cost).sum(1)
        self.amount[mask] = 0.0
        return value.sum(1), cost.sum(1)

    def buy(self, mask: np.ndarray, price: np.ndarray, budget: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Buy ``budget`` (U,) currency of each masked instrument (fewer if rounded to lots)."""
        safe_price = np.where(mask, price, 1.0)
        amount = np.where(mask, _round_lots(budget[:, None] / safe_price, self.exchange.trade_unit), 0.0)
        value = amount * np.where(mask, price, 0.0)
        cost = _order_cost(value, self.exchange.open_cost, self.exchange)
        self.cash -= (value + cost).sum(1)
        self.amount += amount
        return value.sum(1), cost.sum(1)

    def mark(self, price: np.ndarray) -> np.ndarray:
        self.price = np.where(np.isfinite(price), price, self.price)
        held = self.amount > 0
        return self.cash + np.where(held, self.amount * np.nan_to_num(self.price), 0.0).sum(1)


def tradable_mask(close: np.ndarray, change: np.ndarray, limit: float | None) -> np.ndarray:
    """(..., I) bool: not suspended and, with a limit, |change| below it (Qlib forbids all trades at a limit)."""
    ok = np.isfinite(close)
    if limit is not None:
        with np.errstate(invalid="ignore"):
            ok &= ~(change >= limit) & ~(change <= -limit)
    return ok


def simulate(close: np.ndarray, change: np.ndarray, signal: np.ndarray, bench: np.ndarray,
             strategy: TopkDropout | FixedPortfolio, exchange: ExchangeConfig = ExchangeConfig()
             ) -> SimulationResult:
    """Run ``strategy`` in U universes over D days.

    Args:
        close: (U, D, I) deal/valuation prices; NaN = suspended.
        change: (U, D, I) close / previous close - 1 (Qlib's ``$change``), for price limits.
        signal: (U, D, I) the score used on day d, i.e. the signal known at the close of day d - 1.
        bench: (U, D) benchmark daily returns.
    """
    if not isinstance(strategy, (TopkDropout, FixedPortfolio)):
        raise TypeError(f"strategy must be TopkDropout or FixedPortfolio, got {type(strategy).__name__}")
    close, change, signal = (np.asarray(a, dtype=np.float64) for a in (close, change, signal))
    if not (close.shape == change.shape == signal.shape) or close.ndim != 3:
        raise ValueError(f"close, change and signal must share one (U, D, I) shape, got "
                         f"{close.shape}, {change.shape}, {signal.shape}")
    n_univ, n_days, n_inst = close.shape
    account = _Account(n_univ, n_inst, exchange)
    out = {name: np.zeros((n_univ, n_days)) for name in ("returns", "cost", "turnover", "value")}
    for day in range(n_days):
        price, previous = close[:, day], account.value.copy()
        tradable = tradable_mask(price, change[:, day], exchange.limit_threshold)
        traded, cost = _trade_day(account, strategy, signal[:, day], price, tradable, day, exchange)
        account.value = account.mark(price)
        out["returns"][:, day] = (account.value - previous + cost) / previous
        out["cost"][:, day] = cost / previous
        out["turnover"][:, day] = traded / previous
        out["value"][:, day] = account.value
    return SimulationResult(bench=np.asarray(bench, dtype=np.float64), **out)


def _trade_day(account: _Account, strategy, score: np.ndarray, price: np.ndarray, tradable: np.ndarray,
               day: int, exchange: ExchangeConfig) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(strategy, FixedPortfolio):
        if day > 0:
            zeros = np.zeros(price.shape[0])
            return zeros, zeros
        finite = np.isfinite(score)
        pick = finite & (_ranks(np.where(finite, -score, np.inf)) < strategy.topk)
        budget = account.cash * exchange.risk_degree / np.maximum(pick.sum(1), 1)
        return account.buy(pick & tradable, price, budget)
    held = account.amount > 0
    sell, buy = topk_dropout_targets(score, held, strategy)
    sold, sell_cost = account.sell(sell & tradable, price)
    n_buy = buy.sum(1)
    budget = np.where(n_buy > 0, account.cash * exchange.risk_degree / np.maximum(n_buy, 1), 0.0)
    bought, buy_cost = account.buy(buy & tradable, price, budget)
    return sold + bought, sell_cost + buy_cost
