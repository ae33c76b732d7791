"""The ``mre`` command line: the outermost layer (DESIGN.md). It may import every part; nothing
imports it. One module per subcommand, each with ``add_parser`` and the function it runs."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Sequence

import mre
from mre.cli import config, demo, evaluate, serve, slo

SUBCOMMANDS: dict[str, argparse.ArgumentParser] = {}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mre", description="Model Reliability Engineering on OpenTelemetry")
    parser.add_argument("--version", action="version", version=f"mre-otel {mre.__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at debug level")
    sub = parser.add_subparsers(dest="command", required=True)
    demo.add_parser(sub)
    evaluate.add_parser(sub)
    slo.add_parser(sub)
    SUBCOMMANDS["serve"] = serve_parser = serve.add_parser(sub)
    config.add_parser(sub, serve_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Every failure is one line on stderr and a non-zero exit, never a traceback (``-v`` adds it)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if getattr(args, "interactions", 1) <= 0:
        parser.error("--interactions must be positive")
    if args.command == "serve":
        from mre import serve_config
        from mre.slo_spec import SpecError

        try:
            SUBCOMMANDS["serve"].set_defaults(**serve_config.defaults(SUBCOMMANDS["serve"], args.config))
        except (OSError, ValueError, SpecError) as exc:
            print(f"mre serve: {exc}", file=sys.stderr)
            return 2
        args = parser.parse_args(argv)
    sub_command = getattr(args, "slo_command", None) or getattr(args, "config_command", None)
    command = " ".join(a for a in ("mre", args.command, sub_command) if a)
    try:
        result: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (`| head`): nothing left to say
        with contextlib.suppress(OSError):
            sys.stdout.close()
        return 0
    except UnicodeDecodeError as exc:
        print(f"{command}: a file is not UTF-8 text ({exc.reason} at byte {exc.start})", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        if args.verbose:
            raise
        text = str(exc)
        if getattr(args, "metrics_port", None) and "in use" in text.lower():
            text += ": pass --metrics-port 0 for a free port"
        print(f"{command}: {text}", file=sys.stderr)
        return 2
    return result


__all__ = ["SUBCOMMANDS", "build_parser", "main"]
