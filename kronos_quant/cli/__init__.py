"""The ``kronos-quant`` command line: thin entry points over the library.

Each subcommand lives in its own module exposing ``register(subparsers)``; the module
is imported only when the CLI starts, so ``import kronos_quant`` stays light.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

# module name -> one-line help; each module defines register(subparsers)
SUBCOMMAND_MODULES = ("forecast", "data", "train", "report", "demo", "predict")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kronos-quant", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(f"kronos_quant.cli.{name}")
        except ModuleNotFoundError as err:
            if err.name and err.name.startswith("kronos_quant.cli."):
                continue  # subcommand not built yet
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
