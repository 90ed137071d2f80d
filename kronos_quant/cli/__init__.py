"""The ``kronos-quant`` command line: thin entry points over the library.

Each subcommand lives in its own module exposing ``register(subparsers)``; the module
is imported only when the CLI starts, so ``import kronos_quant`` stays light.

Errors the toolkit raises for bad input (ValueError, TypeError, OSError such as a missing file)
print as ``kronos-quant <command>: error: <message>`` on stderr and exit with status 1; pass
``--debug`` (or set ``KRONOS_DEBUG=1``) for the traceback. The message is written to stderr
directly, not through logging, so it reads plainly even after ``qlib.init`` reconfigured logging.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

# each module kronos_quant.cli.<name> defines register(subparsers)
SUBCOMMAND_MODULES = ("forecast", "data", "train", "pretrain", "report", "demo", "predict", "study", "stress",
                      "volatility")
USER_ERRORS = (ValueError, TypeError, OSError)  # bad input, bad files, missing files
EXIT_ERROR = 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kronos-quant", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an error (also: KRONOS_DEBUG=1)")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(f"kronos_quant.cli.{name}")
        except ModuleNotFoundError as err:
            if err.name == f"kronos_quant.cli.{name}":
                raise ImportError(f"kronos-quant subcommand module kronos_quant/cli/{name}.py is missing from this "
                                  "installation; reinstall the package (pip install -e .)") from err
            raise
        module.register(subparsers)
    return parser


def iso_date(text: str) -> str:
    """argparse ``type`` for YYYY-MM-DD arguments: argparse names the argument in the error."""
    from kronos_quant.data.dates import parse_date

    try:
        return f"{parse_date(text, name='date'):%Y-%m-%d}"
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; write it as YYYY-MM-DD") from None


def split_debug(argv: list[str] | None) -> tuple[list[str], bool]:
    """argv without ``--debug`` (accepted anywhere, also after the subcommand), and whether debug is on."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("KRONOS_DEBUG", "").lower() in ("1", "true", "yes")
    return [arg for arg in args if arg != "--debug"], debug


def report_error(command: str | None, err: BaseException) -> None:
    """One clear ``error:`` line (plus any continuation lines of the message) on stderr."""
    message = str(err) or type(err).__name__
    if isinstance(err, OSError) and err.filename and str(err.filename) not in message:
        message = f"{message}: {err.filename}"
    prefix = f"kronos-quant {command}" if command else "kronos-quant"
    sys.stderr.write(f"{prefix}: error: {message}\n(run with --debug or KRONOS_DEBUG=1 for the traceback)\n")
    sys.stderr.flush()


def main(argv: list[str] | None = None) -> int:
    argv, debug = split_debug(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except USER_ERRORS as err:
        if debug:
            raise
        report_error(getattr(args, "command", None), err)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
