"""Convert throughput and peak memory against a plain h5py read + write of the same bytes.

For each size, writes a PDEBench-layout Burgers file (`tensor` (N, 201, 1024) float32, like the
released files), then times:
  reference: h5py reads `tensor[i]` one trajectory at a time and writes it to a new file;
  UPS:       `python -m stages.convert burgers1d --raw ... --out ...` in a fresh process (which
             also computes the file's MD5 for the manifest, a third pass over the bytes).
Peak RSS of the convert process is sampled every 20 ms. Throughput ratio = reference time / UPS
time (1.0 = as fast as the plain copy). Prints a Markdown table.

    python bench/convert_throughput.py --sizes-gb 0.1 1 4 --dir /tmp/ups-bench
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]
T, X = 201, 1024
TRAJ_BYTES = T * X * 4


def write_raw(path: Path, n: int) -> None:
    """A Burgers file in the released layout, written in blocks (the writer stays small)."""
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("tensor", shape=(n, T, X), dtype="float32")
        block = rng.standard_normal((64, T, X), dtype=np.float32)
        for s in range(0, n, 64):
            ds[s:s + 64] = block[: min(64, n - s)]
        f["x-coordinate"] = ((np.arange(X) + 0.5) / X).astype(np.float32)
        f["t-coordinate"] = np.linspace(0, 2.01, T + 1).astype(np.float32)
        f.attrs["Nu"] = 0.01


def reference_copy(src: Path, dst: Path) -> float:
    t0 = time.perf_counter()
    with h5py.File(src, "r") as fin, h5py.File(dst, "w") as fout:
        tin = fin["tensor"]
        out = fout.create_dataset("tensor", shape=tin.shape, dtype="float32",
                                  chunks=(1, *tin.shape[1:]))
        for i in range(tin.shape[0]):
            out[i] = tin[i]
    return time.perf_counter() - t0


def ups_convert(raw: Path, out: Path, params: Path) -> tuple[float, int]:
    cmd = [sys.executable, "-m", "stages.convert", "burgers1d", "--raw", str(raw), "--out",
           str(out), "--params", str(params)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.DEVNULL)
    ps, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        try:
            peak = max(peak, ps.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.02)
    if proc.returncode != 0:
        raise SystemExit(f"convert failed with exit code {proc.returncode}")
    return time.perf_counter() - t0, peak


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes-gb", type=float, nargs="+", default=[0.1, 1.0, 4.0])
    p.add_argument("--dir", type=Path, default=Path("/tmp/ups-bench-convert"))
    args = p.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    params = args.dir / "params.yaml"
    params.write_text(yaml.safe_dump(yaml.safe_load((ROOT / "params.yaml").read_text())))
    print("| raw file | trajectories | h5py read+write (s) | UPS convert (s) | throughput ratio "
          "| UPS MB/s | peak RSS (MB) |\n|---|---|---|---|---|---|---|")
    for gb in args.sizes_gb:
        n = max(10, int(gb * 1e9 / TRAJ_BYTES))
        raw = args.dir / "raw"
        shutil.rmtree(raw, ignore_errors=True)
        raw.mkdir()
        src = raw / "1D_Burgers_Sols_Nu0.01.hdf5"
        write_raw(src, n)
        size = src.stat().st_size
        ref = reference_copy(src, args.dir / "copy.h5")
        os.remove(args.dir / "copy.h5")
        dt, peak = ups_convert(raw, args.dir / "converted", params)
        shutil.rmtree(args.dir / "converted", ignore_errors=True)
        print(f"| {size / 1e9:.2f} GB | {n} | {ref:.1f} | {dt:.1f} | {ref / dt:.2f} | "
              f"{size / dt / 1e6:.0f} | {peak / 1e6:.0f} |", flush=True)
        os.remove(src)
    shutil.rmtree(args.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
