"""The DVC remote from a training box's point of view (README: 'Use your B2 bucket', 'Train on a
rented GPU box').

  python -m stages.remote check        credentials can list, write and delete on the remote
  python -m stages.remote set K=V ...  write `dvc exp run -S` style settings into params.yaml
  python -m stages.remote plan         refuses if `dvc repro --allow-missing report` would re-run
                                       a stage that needs raw or converted data
  python -m stages.remote pull         dvc pull of what a box needs (autoencoder, latent caches,
                                       FNO and POD baselines); names each missing or corrupted
                                       object

Credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (the B2 keyID and
applicationKey) or an AWS profile; B2's checksum settings are added to DVC's environment.
"""

from __future__ import annotations

import sys
from pathlib import Path

from stages._cli import parser, run
from ups.remote import BOX_PULL, apply_settings, check, check_box_plan, pull


def main() -> None:
    p = parser(__doc__, params=False)
    p.add_argument("command", choices=("check", "set", "plan", "pull"))
    p.add_argument("targets", nargs="*",
                   help=f"pull: stages whose outputs to fetch (default: {' '.join(BOX_PULL)}); "
                        "plan: the target stage (default: report); set: KEY=VALUE settings")
    p.add_argument("-r", "--remote", default=None, help="DVC remote name (default: core.remote)")
    p.add_argument("--root", type=Path, default=Path("."), help="the repository (default: .)")
    args = p.parse_intermixed_args()  # `pull -r NAME encode` as well as `pull encode -r NAME`
    if args.command == "check":
        print(check(args.root, args.remote))
    elif args.command == "set":
        apply_settings(args.root, tuple(args.targets))
        print(f"params.yaml: {' '.join(args.targets)}")
    elif args.command == "plan":
        target = args.targets[0] if args.targets else "report"
        check_box_plan(args.root, target)
        print(f"{target}: no stage upstream needs the raw or converted data")
    else:
        pull(args.root, tuple(args.targets) or BOX_PULL, args.remote)
        print(f"pulled {' '.join(args.targets) or ' '.join(BOX_PULL)}", file=sys.stderr)


if __name__ == "__main__":
    run(main)
