#!/usr/bin/env bash
# A training box's start-up, usable as a VastAI / Vultr on-start script (README: "Train on a
# rented GPU box"). It clones the project at a revision, installs it, checks the B2 credentials,
# pulls exactly the latent caches (and the autoencoder that made them, the FNO and POD baselines)
# that match the committed dvc.lock, trains and evaluates without converting or encoding
# anything, and pushes the result as a DVC experiment.
#
# Settings (environment):
#   UPS_REPO     git URL to clone (required)
#   UPS_REV      branch, tag or commit (default: main)
#   UPS_DIR      folder to clone into (default: ups)
#   UPS_EXP      experiment name (default: box-<host>-<UTC time>); boxes of one sweep use
#                different names, so their pushes never clobber each other
#   UPS_SET      extra `dvc exp run -S` settings, space-separated (e.g. "operator.lr=3e-4")
#   UPS_PUSH     1: `dvc exp push` to the git remote and the DVC remote; 0: print the commands
#                (default: 1)
#   UPS_INSTALL  1: make .venv and pip install -r requirements.txt; 0: use the current Python
#                (default: 1)
#   AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (the B2 keyID / applicationKey) or AWS_PROFILE
set -euo pipefail

: "${UPS_REPO:?set UPS_REPO to the git URL of the project}"
REV=${UPS_REV:-main}
DIR=${UPS_DIR:-ups}
EXP=${UPS_EXP:-box-$(hostname -s 2>/dev/null || echo box)-$(date -u +%Y%m%d-%H%M%S)}
# B2 refuses botocore's default checksum headers; no instance-metadata probes on rented boxes.
export AWS_REQUEST_CHECKSUM_CALCULATION=when_required
export AWS_RESPONSE_CHECKSUM_VALIDATION=when_required
export AWS_EC2_METADATA_DISABLED=${AWS_EC2_METADATA_DISABLED:-true}
export DVC_NO_ANALYTICS=1

step() { printf '\n== [%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

step "clone $UPS_REPO at $REV into $DIR"
git clone --quiet "$UPS_REPO" "$DIR"
cd "$DIR"
git checkout --quiet "$REV"
# `dvc exp run` commits the experiment: a box without a git identity gets one.
git config user.email >/dev/null || git config user.email "ups-box@$(hostname -s 2>/dev/null || echo box)"
git config user.name >/dev/null || git config user.name "UPS box"

if [ "${UPS_INSTALL:-1}" = 1 ]; then
    step "install"
    python3 -m venv .venv
    # shellcheck disable=SC1091
    . .venv/bin/activate
    pip install --quiet -r requirements.txt
fi

step "check the remote's credentials"
python -m stages.remote check

step "pull the latent caches that match dvc.lock"
python -m stages.remote pull

if [ -n "${UPS_SET:-}" ]; then
    step "settings: $UPS_SET"
    # shellcheck disable=SC2086  # one word per setting
    python -m stages.remote set $UPS_SET
fi

# A setting that changes what convert or encode make (latent.dim, say) would need the converted
# data: the plan refuses it before anything runs.
step "plan: stages to run (convert and encode must not be among them)"
python -m stages.remote plan report

step "train and evaluate, saved as experiment $EXP"
# `dvc repro` then `dvc exp save`, not `dvc exp run`: exp run first checks out every output,
# which leaves an empty data/converted that train_autoencoder then reads as changed. The save
# caches the outputs of the stages a box runs (the data stages' outputs are not here).
dvc repro --allow-missing report
dvc exp save -n "$EXP" train_operator gate train_diffusion distill eval report

if [ "${UPS_PUSH:-1}" = 1 ]; then
    step "push experiment $EXP (git ref to origin, models to the DVC remote)"
    dvc exp push origin "$EXP"
else
    step "not pushing (UPS_PUSH=0); to share the results run:"
    echo "  cd $(pwd) && dvc exp push origin $EXP"
fi
step "done: dvc exp show --only-changed --drop 'Created|State|Executor|.*/'; dvc metrics show metrics/headline"
