"""``kronos-quant data generate``: write Kronos-generated universes as Qlib providers.

Register in kronos_quant/cli/data.py's ``register``: ``from kronos_quant.cli.generate import add_generate``
then ``add_generate(commands)``.
"""
from __future__ import annotations

import argparse
import logging

logger = logging.getLogger(__name__)


def add_generate(commands) -> None:
    """Add ``generate`` under the ``data`` subcommand's parsers."""
    parser = commands.add_parser("generate", help="write Kronos-generated futures of a universe as Qlib providers")
    parser.add_argument("--provider", required=True, help="the real provider (history up to t0 is read)")
    parser.add_argument("--universe", default="csi300")
    parser.add_argument("--t0", required=True, help="last real day, YYYY-MM-DD (the last trading day <= it)")
    parser.add_argument("--tokenizer", required=True, help="tokenizer checkpoint dir")
    parser.add_argument("--predictor", required=True, help="predictor checkpoint dir")
    parser.add_argument("--n", type=int, default=10, help="universes to generate")
    parser.add_argument("--horizon", type=int, default=60, help="generated trading days")
    parser.add_argument("--lookback", type=int, default=120, help="bars each member is conditioned on")
    parser.add_argument("--history-days", type=int, default=250, help="real days kept before t0 in each provider")
    parser.add_argument("--rho", type=float, default=0.0, help="copula loading of the common factor, [0, 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", required=True, help="folder for u0000, u0001, ...")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from kronos_quant.model import Kronos, KronosTokenizer
    from kronos_quant.universes.generate import UniverseConfig, generate_universes
    from kronos_quant.universes.history import future_dates, load_history
    from kronos_quant.universes.provider import write_universe_providers

    config = UniverseConfig(n_universes=args.n, horizon=args.horizon, lookback=args.lookback, rho=args.rho,
                            seed=args.seed)
    history = load_history(args.provider, universe=args.universe, t0=args.t0,
                           days=max(args.history_days, args.lookback))
    tokenizer = KronosTokenizer.from_pretrained(args.tokenizer)
    model = Kronos.from_pretrained(args.predictor)
    universes = generate_universes(tokenizer, model, history, future_dates(args.provider, history.t0, args.horizon),
                                   config, device=args.device, progress=True)
    paths = write_universe_providers(universes, args.out, progress=True)
    print(f"{len(paths)} universes from t0={history.t0:%Y-%m-%d} written to {args.out}")
    return 0
