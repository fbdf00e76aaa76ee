"""Download PDEBench files from the official URL list (resume, MD5 check, de-duplication).

Example (a PDEBench checkout provides the list):
  python -m stages.download --urls PDEBench/pdebench/data_download/pdebench_data_urls.csv \\
      --root /data/pdebench --group burgers --file 1D_Burgers_Sols_Nu0.01.hdf5

Files land under ROOT/<Path>/<Filename> as the official downloader leaves them; a file appears
under its final name only after its MD5 matches. Re-running skips verified files and resumes
partial ones: a file whose retries are spent keeps its `<name>.part`, and the next run asks the
server only for the rest (an HTTP Range request).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stages._cli import run
from ups.data.download import download, read_url_list, select


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--urls", required=True, type=Path, help="pdebench_data_urls.csv")
    p.add_argument("--root", required=True, type=Path, help="download root")
    p.add_argument("--group", action="append", default=[],
                   help="PDEBench group (PDE column, e.g. burgers, 2d_cfd); repeatable")
    p.add_argument("--file", action="append", default=[],
                   help="only this file name (repeatable); default: all files of the groups")
    p.add_argument("--retries", type=int, default=4,
                   help="retries per file (default 4); a file that still fails keeps its partial "
                        "download for the next run to resume")
    args = p.parse_args()
    if not args.group and not args.file:
        p.error("choose at least one --group or --file")
    if args.retries < 0:
        p.error(f"--retries is {args.retries}; expected 0 or more")
    unique, duplicates = select(read_url_list(args.urls), args.group, args.file)
    for dup in duplicates:
        print(f"skipping {dup.filename}: byte-identical (same MD5) to another selected file",
              file=sys.stderr)
    outcome = download(unique, args.root, retries=args.retries)
    print(f"downloaded {len(outcome['downloaded'])}, already verified "
          f"{len(outcome['verified'])}, duplicates skipped {len(duplicates)}")


if __name__ == "__main__":
    run(main)
