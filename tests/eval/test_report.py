"""The report: per-task and mean figures, and a leaderboard that lists every task."""

from __future__ import annotations

import csv
import json

import pytest

from ups.eval.report import HEADLINE, write_report


def metrics(rollout, persistence):
    return {"nrmse_rollout": rollout, "nrmse_one_step": rollout / 2,
            "persistence_nrmse_rollout": persistence, "persistence_nrmse_one_step": 0.1,
            "nrmse_reconstruction": 0.05, "rmse": 1.0}


def test_summary_means_and_persistence_wins(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m/a.json").write_text(json.dumps(metrics(0.2, 1.0)))
    (tmp_path / "m/b.json").write_text(json.dumps(metrics(0.6, 0.4)))
    summary = write_report(tmp_path / "m", ("a", "b"), tmp_path / "s.json", tmp_path / "l.csv")
    assert summary["mean"]["nrmse_rollout"] == pytest.approx(0.4)
    assert summary["mean"]["beats_persistence"] == 1
    assert json.loads((tmp_path / "s.json").read_text()) == summary
    rows = list(csv.DictReader(open(tmp_path / "l.csv")))
    assert [r["task"] for r in rows] == ["a", "b", "mean"]
    assert set(rows[0]) == {"task", *HEADLINE}
    assert float(rows[2]["nrmse_rollout"]) == pytest.approx(0.4)


def test_missing_task_metrics_name_the_file(tmp_path):
    (tmp_path / "m").mkdir()
    with pytest.raises(FileNotFoundError, match="a.json: no evaluation metrics for task a"):
        write_report(tmp_path / "m", ("a",), tmp_path / "s.json", tmp_path / "l.csv")
    assert not (tmp_path / "s.json").exists()
