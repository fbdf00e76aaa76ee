"""Fuzz driver: convert raw files of every kind the converter reads after damaging their bytes.

Run by tests/data/test_fuzz.py in a child process, so that a crash of the HDF5 or zarr libraries
(a segfault) or a hang is seen as such instead of taking pytest down:

    python tests/data/fuzz_convert.py WORKDIR

For each file family (the eleven PDEBench HDF5 layouts, UPS's mesh and particle zarr stores) and
each damage (truncation, flipped bytes, a zeroed block, a broken signature, a lost chunk file),
it prints one JSON line: the case, the outcome ("converted", or "refused" with the exception type
and message) and whether an output exists. A case gets 30 s (SIGALRM) before it counts as a hang.
"""

from __future__ import annotations

import json
import random
import shutil
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "data")]

from pdebench_files import FAMILIES  # noqa: E402

from ups.config import config_from_dict  # noqa: E402
from ups.data.convert import convert_task  # noqa: E402
from ups.data.simulate import simulate  # noqa: E402
from ups.tasks import get_task  # noqa: E402

HDF5 = {task: make for task, make in FAMILIES.values()}  # the eleven PDEBench layouts
ZARR = {
    "darcy2d_mesh": {"n_traj": 6, "n_points": 40},
    "particles_advect": {"n_traj": 6, "n_particles": 16, "nt": 3, "t_end": 0.1},
}
HANG_S = 30


def damages(rng: random.Random) -> list[tuple[str, object]]:
    """(name, how) pairs: how(file bytes) -> damaged bytes."""
    def truncate(fraction):
        return lambda b: b[:int(len(b) * fraction)]

    def flip(count):
        def go(b):
            b = bytearray(b)
            for _ in range(count):
                i = rng.randrange(len(b))
                b[i] ^= 1 << rng.randrange(8)
            return bytes(b)
        return go

    def zero_block(b):
        b = bytearray(b)
        start = rng.randrange(max(1, len(b) - 512))
        b[start:start + 512] = bytes(min(512, len(b) - start))
        return bytes(b)

    return [("truncate-10%", truncate(0.1)), ("truncate-50%", truncate(0.5)),
            ("truncate-90%", truncate(0.9)), ("flip-4-bits", flip(4)),
            ("flip-64-bits", flip(64)), ("flip-512-bits", flip(512)),
            ("zero-512-bytes", zero_block), ("no-signature", lambda b: b"\0" * 8 + b[8:]),
            ("empty", lambda b: b"")]


def attempt(task: str, raw: Path, out: Path, cfg) -> dict:
    def hang(*_):
        raise TimeoutError(f"no answer after {HANG_S} s")

    signal.signal(signal.SIGALRM, hang)
    signal.alarm(HANG_S)
    try:
        convert_task(get_task(task), raw, out, cfg.convert, cfg.seed)
        result = {"outcome": "converted"}
    except Exception as err:  # classified by the test: which types, and whether named
        result = {"outcome": "refused", "type": type(err).__name__, "message": str(err)}
    finally:
        signal.alarm(0)
    result["output_exists"] = out.exists()
    return result


def main() -> None:
    work = Path(sys.argv[1])
    rng = random.Random(0)
    cfg = config_from_dict(__import__("helpers").tiny_params())
    clean = work / "clean"
    for task, make in HDF5.items():
        (clean / task).mkdir(parents=True)
        make(clean / task)
    for task, opts in ZARR.items():
        simulate(task, opts, clean / task, 0)
    for task in [*HDF5, *ZARR]:
        files = sorted(p for p in (clean / task).rglob("*") if p.is_file()
                       and not p.name.startswith("."))
        for name, how in damages(rng):
            case = work / "cases" / task / name
            shutil.copytree(clean / task, case / "raw")
            victim = rng.choice(files) if task in ZARR else files[0]
            target = case / "raw" / victim.relative_to(clean / task)
            target.write_bytes(how(victim.read_bytes()))
            result = attempt(task, case / "raw", case / "out", cfg)
            print(json.dumps({"task": task, "damage": name,
                              "file": str(target), **result}), flush=True)
        if task in ZARR:  # a chunk file lost from the store
            case = work / "cases" / task / "lost-file"
            shutil.copytree(clean / task, case / "raw")
            chunks = [p for p in (case / "raw").rglob("*") if p.is_file()
                      and p.name != "zarr.json" and not p.name.startswith(".")]
            victim = rng.choice(chunks)
            victim.unlink()
            result = attempt(task, case / "raw", case / "out", cfg)
            print(json.dumps({"task": task, "damage": "lost-file", "file": str(victim),
                              **result}), flush=True)


if __name__ == "__main__":
    main()
