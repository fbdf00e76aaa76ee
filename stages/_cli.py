"""What every stage CLI shares: a parser with --params, and errors as one clear line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from ups.config import Config, load_config


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--params", default="params.yaml",
                   help="parameter file (default: params.yaml in the current folder)")
    return p


def config(args: argparse.Namespace) -> Config:
    return load_config(args.params)


def run(main: Callable[[], object]) -> None:
    """Run a stage; expected failures print one line naming the problem and exit 1."""
    try:
        main()
    except (ValueError, FileNotFoundError, KeyError, OSError) as err:
        name = sys.argv[0].rsplit("/", 1)[-1].removesuffix(".py")
        print(f"{name}: error: {err}", file=sys.stderr)
        sys.exit(1)
