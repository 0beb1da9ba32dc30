#!/usr/bin/env python3
"""Converts scikit-learn's copy of the UCI optical handwritten digits (8x8) into data/digits.parquet.

Run once; the Parquet file is committed and drift embeds it (`generator = "digits"`). Inputs:

    pip download --no-deps scikit-learn==1.9.1      # the wheel ships sklearn/datasets/data/digits.csv.gz
    unzip -p scikit_learn-1.9.1-*.whl sklearn/datasets/data/digits.csv.gz > digits.csv.gz
    sha256sum digits.csv.gz  # 09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22
    python3 -m venv /tmp/pqenv && /tmp/pqenv/bin/pip install pyarrow
    /tmp/pqenv/bin/python data/make_digits.py digits.csv.gz data/digits.parquet

Each CSV row holds 64 pixel counts (0..16, row-major over the 8x8 image) and the digit. The
Parquet file keeps the row order and names the columns as scikit-learn's `as_frame` mode does:
`pixel_R_C` (uint8, row R, column C) and `target` (uint8).
"""

import csv
import gzip
import sys

import pyarrow as pa
import pyarrow.parquet as pq


def main(src: str, dst: str) -> None:
    with gzip.open(src, "rt", newline="") as f:
        rows = [[int(v) for v in row] for row in csv.reader(f) if row]
    assert len(rows) == 1797, len(rows)
    assert all(len(r) == 65 for r in rows)
    assert all(0 <= v <= 16 for r in rows for v in r[:64])
    assert all(0 <= r[64] <= 9 for r in rows)
    columns = {}
    for k in range(64):
        columns[f"pixel_{k // 8}_{k % 8}"] = pa.array([r[k] for r in rows], type=pa.uint8())
    columns["target"] = pa.array([r[64] for r in rows], type=pa.uint8())
    table = pa.table(columns)
    pq.write_table(table, dst, compression="zstd", use_dictionary=False, write_statistics=False)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
