"""What every stage CLI shares: a parser with --params, and errors as one clear line.

It imports no config: each stage loads the params sections it reads (`ups.data.config` for the
data stages, `ups.config` for the rest), so DVC re-runs it only when those change."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path


def parser(description: str, params: bool = True) -> argparse.ArgumentParser:
    """A stage's parser; `params=False` for commands that read no parameters."""
    p = argparse.ArgumentParser(description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    if params:
        p.add_argument("--params", default="params.yaml",
                       help="parameter file (default: params.yaml in the current folder)")
    return p


def training_outputs(p: argparse.ArgumentParser) -> None:
    """The outputs every training stage takes: checkpoint, curves, resume state."""
    p.add_argument("--out", required=True, type=Path, help="checkpoint to write")
    p.add_argument("--live", default=None, help="dvclive folder for curves (optional)")
    p.add_argument("--resume", default=None, type=Path,
                   help="resume state file: written every `checkpoint_every` steps, continued "
                        "from when a killed run is started again, removed when training ends")


def surrogate_inputs(p: argparse.ArgumentParser) -> None:
    """What every stage that runs the trained surrogate on one task reads."""
    p.add_argument("task", help="task name")
    p.add_argument("--autoencoder", required=True, type=Path, help="autoencoder checkpoint")
    p.add_argument("--operator", required=True, type=Path, help="operator checkpoint")
    p.add_argument("--latent", required=True, type=Path,
                   help="the task's latent cache folder (it carries the test split it is scored "
                        "against)")


def run(main: Callable[[], object]) -> None:
    """Run a stage; expected failures print one line naming the problem and exit 1."""
    try:
        main()
    except (ValueError, FileNotFoundError, KeyError, OSError) as err:
        name = sys.argv[0].rsplit("/", 1)[-1].removesuffix(".py")
        print(f"{name}: error: {err}", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        # Not sys.exit: after an I/O failure (a full disk) HDF5's exit-time clean-up can crash
        # the interpreter (SIGSEGV) instead of exiting 1. Outputs are already cleaned up: the
        # atomic writers removed their temporaries while the error unwound.
        os._exit(1)
