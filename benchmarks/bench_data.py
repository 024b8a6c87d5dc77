"""Benchmark: load a MIMIC-IV-layout folder of N episodes (~1,500-word notes) into the episode table.

Target (issue 2): 122,279 episodes in <= 90 s and <= 6 GB peak RSS on 2 cores. Also times
100,000 code normalisations + truncations (target < 1 s).

    .venv/bin/python benchmarks/bench_data.py [--episodes N] [--words 1500] [--out /tmp/bench_mimiciv]

The folder is written by a quick self-contained writer (random vocabulary text, skewed code
frequencies), not by the synthetic-cohort generator, so the benchmark measures the loader only.
The load runs in a fresh child process so its peak RSS is not inflated by the writer.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv


def _write(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb", compresslevel=1) as out:  # fast level: writing is not what is measured
        pacsv.write_csv(table, out)


def write_mimic4(root: Path, n: int, words: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    n_subjects = max(1, int(n * 0.53))  # MIMIC-IV ICD-10: ~65k patients for 122k admissions
    hadm = np.arange(20_000_000, 20_000_000 + n, dtype=np.int64)
    subj = np.sort(rng.integers(10_000_000, 10_000_000 + n_subjects, size=n))
    # codes: Zipf-like over 20k ICD-10-CM-shaped and 5k PCS-shaped codes, ~15 per episode
    letters = np.array(list("ABCDEFGHIJKLMNOPQRSTVWXYZ"))
    dx_vocab = np.unique([f"{letters[a]}{b:02d}{c}" for a, b, c in zip(
        rng.integers(0, 25, 25_000), rng.integers(0, 100, 25_000), rng.integers(0, 1000, 25_000))])
    pcs_alpha = np.array(list("0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"))
    px_vocab = np.array(["".join(r) for r in pcs_alpha[rng.integers(0, len(pcs_alpha), (5_000, 7))]])
    p_dx = 1 / np.arange(1, len(dx_vocab) + 1) ** 1.1
    p_dx /= p_dx.sum()
    n_dx = rng.integers(3, 30, n)
    dx_ep = np.repeat(hadm, n_dx)
    dx_seq = np.concatenate([np.arange(1, k + 1) for k in n_dx])
    dx_codes = dx_vocab[rng.choice(len(dx_vocab), size=n_dx.sum(), p=p_dx)]
    n_px = rng.integers(0, 4, n)
    px_ep = np.repeat(hadm, n_px)
    px_seq = np.concatenate([np.arange(1, k + 1) for k in n_px])
    px_codes = px_vocab[rng.integers(0, len(px_vocab), n_px.sum())]
    sub_of = dict(zip(hadm.tolist(), subj.tolist()))
    _write(pa.table({
        "subject_id": [sub_of[h] for h in dx_ep.tolist()], "hadm_id": dx_ep, "seq_num": dx_seq,
        "icd_code": dx_codes, "icd_version": np.full(len(dx_ep), 10),
    }), root / "hosp" / "diagnoses_icd.csv.gz")
    _write(pa.table({
        "subject_id": [sub_of[h] for h in px_ep.tolist()], "hadm_id": px_ep, "seq_num": px_seq,
        "chartdate": ["2180-01-01"] * len(px_ep), "icd_code": px_codes, "icd_version": np.full(len(px_ep), 10),
    }), root / "hosp" / "procedures_icd.csv.gz")
    admit = np.datetime64("2180-01-01T00:00:00") + rng.integers(0, 3_000_000_00, n).astype("timedelta64[s]")
    disch = admit + rng.integers(3600, 20 * 86400, n).astype("timedelta64[s]")
    _write(pa.table({
        "subject_id": subj, "hadm_id": hadm, "admittime": admit.astype(str), "dischtime": disch.astype(str),
        "admission_type": np.array(["EW EMER.", "URGENT", "ELECTIVE"])[rng.integers(0, 3, n)],
        "hospital_expire_flag": (rng.random(n) < 0.02).astype(int),
    }), root / "hosp" / "admissions.csv.gz")
    uniq = np.unique(subj)
    _write(pa.table({
        "subject_id": uniq, "gender": np.array(["F", "M"])[rng.integers(0, 2, len(uniq))],
        "anchor_age": rng.integers(18, 91, len(uniq)), "anchor_year": np.full(len(uniq), 2180),
    }), root / "hosp" / "patients.csv.gz")
    # notes: slices of one long pool of words; ~1,500 words each, ~2% with an addendum
    vocab = np.array([f"w{i}" for i in range(30_000)] + ["___", "the", "and", "of", "patient", "was"])
    pool_words = vocab[rng.integers(0, len(vocab), 4 * words + 10_000)]
    pool = " ".join(pool_words.tolist())
    starts = np.flatnonzero(np.frombuffer(pool.encode(), dtype=np.uint8) == 32) + 1
    texts = []
    for k in rng.integers(int(words * 0.6), int(words * 1.4), n).tolist():
        i = int(rng.integers(0, len(starts) - k - 1))
        texts.append(pool[starts[i]:starts[i + k] - 1])
    n_ad = n // 50
    ad_idx = rng.choice(n, n_ad, replace=False)
    _write(pa.table({
        "note_id": [f"{s}-DS-{i}" for i, s in enumerate(subj.tolist())] + [f"AD-{i}" for i in range(n_ad)],
        "subject_id": np.r_[subj, subj[ad_idx]], "hadm_id": np.r_[hadm, hadm[ad_idx]],
        "note_type": ["DS"] * n + ["AD"] * n_ad, "note_seq": np.r_[np.ones(n, int), np.full(n_ad, 2)],
        "charttime": ["2180-01-05 10:00:00"] * (n + n_ad), "storetime": ["2180-01-05 11:00:00"] * (n + n_ad),
        "text": texts + ["Addendum: results reviewed."] * n_ad,
    }), root / "note" / "discharge.csv.gz")


def _peak_rss_gb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024**2  # Linux reports KiB


def child_load(root: str) -> None:
    import warnings

    from triage.data import load_episodes_with_report

    t, c = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df, report = load_episodes_with_report(root)
    secs, cpu = time.perf_counter() - t, time.process_time() - c
    print(json.dumps({"load_seconds": round(secs, 2), "cpu_seconds": round(cpu, 2), "peak_rss_gb": round(_peak_rss_gb(), 2),
                      "episodes": len(df), "excluded": report.excluded,
                      "splits": df["split"].value_counts().to_dict()}))


def bench_normalise(n: int = 100_000, distinct: int | None = 26_000) -> tuple[float, float]:
    """Seconds (wall, CPU) for ``n`` normalisations + 3- and 4-character truncations, cold caches.

    ``distinct`` spellings are drawn (MIMIC-IV ICD-10 has ~26k distinct codes, so real code
    columns repeat); ``distinct=None`` makes every spelling different (worst case).
    """
    from triage.codes import normalize_label, truncate_label

    normalize_label.cache_clear()
    truncate_label.cache_clear()
    rng = np.random.default_rng(0)
    letters = "ABCDEFGHIJKLMNOPQRSTVWXYZ"
    m = n if distinct is None else distinct
    pool = [f"{letters[a]}{b:02d}{'.' if d else ''}{c}" for a, b, c, d in zip(
        rng.integers(0, 25, m), rng.integers(0, 100, m), rng.integers(0, 1000, m), rng.integers(0, 2, m))]
    spellings = pool if distinct is None else [pool[i] for i in rng.integers(0, m, n)]
    t, c = time.perf_counter(), time.process_time()
    for s in spellings:
        lab = normalize_label(s, 10, "dx")
        truncate_label(lab, 3)
        truncate_label(lab, 4)
    return time.perf_counter() - t, time.process_time() - c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=122_279)
    ap.add_argument("--words", type=int, default=1_500)
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench_mimiciv"))
    ap.add_argument("--reuse", action="store_true", help="reuse an existing folder of the same size")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child_load(args.child)
        return
    root = args.out / f"n{args.episodes}_w{args.words}"
    if not (args.reuse and (root / "note" / "discharge.csv.gz").is_file()):
        t = time.perf_counter()
        write_mimic4(root, args.episodes, args.words)
        size = sum(p.stat().st_size for p in root.rglob("*.gz")) / 1024**2
        print(f"wrote {args.episodes:,} episodes to {root} in {time.perf_counter() - t:.1f} s ({size:,.0f} MB gzipped)")
    out = subprocess.run([sys.executable, __file__, "--child", str(root)], capture_output=True, text=True)
    if out.returncode:
        sys.exit(out.stderr)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"load_episodes: {res['load_seconds']:.1f} s wall ({res['cpu_seconds']:.1f} s CPU), peak RSS {res['peak_rss_gb']:.2f} GB, "
          f"{res['episodes']:,} episodes, excluded {res['excluded']}, splits {res['splits']}")
    print(f"  targets: <= 90 s, <= 6 GB -> {'OK' if res['load_seconds'] <= 90 and res['peak_rss_gb'] <= 6 else 'MISSED'}")
    wall, cpu = bench_normalise()
    print(f"100,000 normalisations + 3/4-char truncations (26k distinct codes, cold cache): "
          f"{wall:.3f} s wall, {cpu:.3f} s CPU (target < 1 s)")
    wall, cpu = bench_normalise(distinct=None)
    print(f"  worst case, 100,000 distinct spellings: {wall:.3f} s wall, {cpu:.3f} s CPU")
    print(f"  machine load average at end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
