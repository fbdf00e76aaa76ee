"""Print, from a finished pipeline's metrics, the per-task table of every model variant:
rollout and one-step nRMSE, fRMSE bands, wall seconds and network calls per rollout step, and the
super-resolution figures where a task was trained on a coarsened grid (Markdown, for
BENCHMARKS.md).

    dvc repro && python bench/variants_table.py
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = (("operator", ""), ("+ diffusion", "diffusion_"), ("+ consistency", "consistency_"),
            ("+ TTC", "ttc_"), ("FNO", "fno_"), ("POD", "pod_"), ("persistence", "persistence_"))


def fmt(value, digits: int = 3) -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}g}" if isinstance(value, float) else str(value)


def variants(metrics: dict[str, dict]) -> list[str]:
    lines = ["| task | model | rollout nRMSE | one-step nRMSE | fRMSE low / mid / high | "
             "s per step | calls per step |", "|---|---|---|---|---|---|---|"]
    for task, m in metrics.items():
        for name, p in VARIANTS:
            bands = " / ".join(fmt(m.get(f"{p}frmse_{b}")) for b in ("low", "mid", "high"))
            seconds = m.get(f"{p}seconds_per_step")
            lines.append(f"| {task} | {name} | {fmt(m.get(f'{p}nrmse_rollout'))} | "
                         f"{fmt(m.get(f'{p}nrmse_one_step'))} | {bands} | "
                         f"{fmt(seconds * 1e3, 3) + ' ms' if seconds else '–'} | "
                         f"{fmt(m.get(f'{p}calls_per_step', 1 if not p else None))} |")
    return lines


def headline(metrics: dict[str, dict]) -> list[str]:
    """Issue 21's comparison: UPS beside its baselines, one row per task."""
    lines = ["| task | UPS rollout | FNO rollout | POD rollout | persistence rollout | "
             "UPS one-step | persistence one-step | reconstruction | cache / data |",
             "|---|---|---|---|---|---|---|---|---|"]
    keys = ("nrmse_rollout", "fno_nrmse_rollout", "pod_nrmse_rollout",
            "persistence_nrmse_rollout", "nrmse_one_step", "persistence_nrmse_one_step",
            "nrmse_reconstruction", "cache_to_data_ratio")
    for task, m in metrics.items():
        lines.append(f"| {task} | " + " | ".join(fmt(m.get(k)) for k in keys) + " |")
    return lines


def superres(root: Path) -> list[str]:
    lines = ["| task | factor | decoder nRMSE | interpolation nRMSE |", "|---|---|---|---|"]
    for path in sorted((root / "metrics/superres").glob("*.json")):
        m = json.loads(path.read_text())
        for f in (1, 2, 4, 8):
            if f"superres_x{f}_nrmse" in m:
                lines.append(f"| {path.stem} | {f}x | {fmt(m[f'superres_x{f}_nrmse'])} | "
                             f"{fmt(m[f'superres_x{f}_interp_nrmse'])} |")
    return lines if len(lines) > 2 else []


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", type=Path, default=ROOT, help="the pipeline's folder")
    args = p.parse_args()
    summary = json.loads((args.root / "metrics/summary.json").read_text())
    metrics = {t: json.loads((args.root / f"metrics/eval/{t}.json").read_text())
               for t in summary["tasks"]}
    print("\n".join(headline(metrics)) + "\n")
    print("\n".join(variants(metrics)))
    sr = superres(args.root)
    if sr:
        print()
        print("\n".join(sr))


if __name__ == "__main__":
    main()
