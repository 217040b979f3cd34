"""Speech data loading: the lazy scan of a manifest against the eager load it replaced (same process kind).

The scan (`UtteranceLoader.scan`) reads each file's length from its header and runs the bad-audio checks; the
eager baseline (`UtteranceLoader.load_all`) decodes and resamples every file, as the task did before it became
lazy. Each mode runs in its own child process so that the peak resident memory it reports is its own. Prints the
time and peak-memory ratios scan / eager per manifest and sample rate.

Manifests: VCTK p239 (`speech/vctk_p239/manifest.csv`) and an FSDD manifest written to a temporary folder from
`fsdd/recordings/*.wav`, both under `--data-dir` (default $SEQTASKS_DATA_DIR, else ../shared/data); missing
ones are skipped with a note, or pass your own with `--manifest`.

    python bench/speech_data.py
    python bench/speech_data.py --manifest my.csv --rates 16000
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _measure(mode: str, manifest: str, rate: int) -> dict:
    """Runs in the child process: one mode over one manifest."""
    from seqtasks.data.transcripts import Alphabet
    from seqtasks.data.utterances import UtteranceLoader
    from seqtasks.tasks.speech_recognition.data import read_manifest

    utterances = read_manifest(manifest)
    loader = UtteranceLoader(utterances, rate, Alphabet.from_texts(u.transcript for u in utterances),
                             on_bad_audio="skip")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    result = loader.scan() if mode == "scan" else loader.load_all()
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"utterances": len(result), "seconds": seconds, "added_mib": (peak - before) / 1024}


def _child(mode: str, manifest: str, rate: int) -> dict:
    code = (f"import json, sys; sys.path.insert(0, {str(ROOT)!r}); from bench.speech_data import _measure; "
            f"print(json.dumps(_measure({mode!r}, {manifest!r}, {rate})))")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _fsdd_manifest(data_dir: Path, folder: Path) -> Path | None:
    recordings = sorted((data_dir / "fsdd" / "recordings").glob("*.wav"))
    if not recordings:
        return None
    words = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
    manifest = folder / "fsdd.csv"
    with open(manifest, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "transcript"])
        for path in recordings:
            writer.writerow([str(path), words[int(path.name[0])]])
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("SEQTASKS_DATA_DIR") or str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--manifest", action="append", default=[], help="your own manifest(s) instead")
    parser.add_argument("--rates", default="16000,8000", help="comma-separated sample rates to load at")
    parser.add_argument("--repeats", type=int, default=3, help="runs per mode (the fastest is reported)")
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        manifests = list(args.manifest)
        if not manifests:
            data_dir = Path(args.data_dir)
            vctk = data_dir / "speech" / "vctk_p239" / "manifest.csv"
            fsdd = _fsdd_manifest(data_dir, Path(tmp))
            for name, path in (("VCTK p239", vctk if vctk.is_file() else None), ("FSDD", fsdd)):
                if path is None:
                    print(f"note: {name} not found under {data_dir}; skipped")
                else:
                    manifests.append(str(path))
        if not manifests:
            print("nothing to measure: pass --data-dir or --manifest")
            return
        print("| manifest | rate | files | scan s | eager s | time scan/eager | peak MiB scan / eager |")
        print("|---|---|---|---|---|---|---|")
        for manifest in manifests:
            for rate in rates:
                runs = {mode: [_child(mode, manifest, rate) for _ in range(args.repeats)] for mode in ("scan", "eager")}
                scan = min(runs["scan"], key=lambda r: r["seconds"])
                eager = min(runs["eager"], key=lambda r: r["seconds"])
                print(f"| {Path(manifest).name} | {rate} | {scan['utterances']} | {scan['seconds']:.3f} | "
                      f"{eager['seconds']:.3f} | {scan['seconds'] / eager['seconds']:.3f}x | "
                      f"{max(r['added_mib'] for r in runs['scan']):.0f} / {max(r['added_mib'] for r in runs['eager']):.0f} |",
                      flush=True)


if __name__ == "__main__":
    main()
