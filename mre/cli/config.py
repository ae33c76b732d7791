"""`mre config check`: validate an `mre serve --config` file."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_parser(sub: Any, serve: argparse.ArgumentParser) -> None:
    def check(args: argparse.Namespace) -> int:
        return check_file(args, serve)

    config = sub.add_parser("config", help="the `mre serve` configuration file")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    config_check = config_sub.add_parser("check", help="validate an `mre serve --config` file (file:line errors)")
    config_check.add_argument("file")
    config_check.set_defaults(func=check)


def check_file(args: argparse.Namespace, serve: argparse.ArgumentParser) -> int:
    from mre import serve_config
    from mre.slo_spec import SpecError

    try:
        values = serve_config.load(args.file, serve)
    except SpecError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"{args.file}: {len(values)} settings for mre serve: OK")
    return 0
