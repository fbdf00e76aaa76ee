"""The proxy gate: a quick check of the trained operator on a few validation trajectories per
task (one step and a short rollout, decoded, beside persistence), before the costly stages run.
A task over its threshold stops the pipeline here (exit 1) with the task, the figure and the
threshold named, unless `gates.proxy.continue_on_fail` is true.

Knobs: `gates.proxy` in params.yaml."""

from __future__ import annotations

from pathlib import Path

from stages._cli import parser, run
from ups.config import load_config
from ups.eval.proxy import run_proxy_gate


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--latent", required=True, type=Path, help="folder of per-task latent caches")
    p.add_argument("--autoencoder", required=True, type=Path, help="autoencoder checkpoint")
    p.add_argument("--operator", required=True, type=Path, help="operator checkpoint")
    p.add_argument("--out", required=True, type=Path, help="gate figures (JSON) to write")
    args = p.parse_args()
    result = run_proxy_gate(load_config(args.params), args.latent, args.autoencoder,
                            args.operator, args.out)
    print("proxy gate: " + ("passed" if result["passed"] else "FAILED (continuing: "
                            "gates.proxy.continue_on_fail)"))


if __name__ == "__main__":
    run(main)
