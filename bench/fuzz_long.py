"""The long fuzz run: at least N inputs per parser family, one family at a time, under a memory watchdog.

Usage (from the project root, with the test extra installed):
    nice -n 10 python bench/fuzz_long.py --inputs 1000000 --out fuzz_long.json
    nice -n 10 python bench/fuzz_long.py --inputs 20000 --families images,xyt    # a quick look

Each family runs the tests of tests/fuzz that feed its parser (pytest -m fuzz,
SYNTHBIO_FUZZ_EXAMPLES set so the family's tests together reach N inputs, no
time limit), with OMP/torch at one thread. A watchdog stops a run whose
resident memory passes --rss-limit-mb and keeps the input that was running
(each input is written to a file before it runs), because an input that
makes a parser allocate gigabytes is a finding, and on a shared machine the
kernel's OOM killer would otherwise pick a victim. Prints one line per family
(inputs, seconds, inputs/s, outcome) and writes them as JSON to --out.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# family -> (test file, -k expression, number of tests with a mutation phase)
FAMILIES: dict[str, tuple[str, str, int]] = {
    "iso-ansi records": ("test_fuzz_templates.py", "iso_ansi", 2),
    "xyt text": ("test_fuzz_templates.py", "xyt", 1),
    "template json": ("test_fuzz_templates.py", "json_template", 1),
    "template files": ("test_fuzz_templates.py", "read_template_files", 1),
    "native config.json": ("test_fuzz_configs.py", "", 2),
    "checkpoint records": ("test_fuzz_checkpoints.py", "fuzz_official", 1),
    "label files": ("test_fuzz_labels.py", "", 3),
    "images": ("test_fuzz_images.py", "", 1),
    "numpy arrays": ("test_fuzz_arrays.py", "", 1),
    "mask annotations": ("test_fuzz_masks.py", "annotations", 1),
    "classes json": ("test_fuzz_masks.py", "classes_json", 1),
}


def _rss_kb(pid: int) -> int:
    """Resident memory of a process and its children, in kB."""
    total = 0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def run_family(name: str, inputs: int, *, rss_limit_mb: int, keep_dir: Path) -> dict[str, object]:
    test_file, keyword, mutating_tests = FAMILIES[name]
    shm = Path("/dev/shm")  # the last-input file is rewritten for every input: keep it in memory
    work = Path(tempfile.mkdtemp(prefix="synthbio-fuzz-long-", dir=shm if os.access(shm, os.W_OK) else None))
    report, last = work / "report.json", work / "last-input.bin"
    env = {**os.environ, "SYNTHBIO_FUZZ_EXAMPLES": str(math.ceil(inputs / mutating_tests)),
           "SYNTHBIO_FUZZ_REPORT": str(report), "SYNTHBIO_FUZZ_LAST_INPUT": str(last),
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(
               [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "fuzz", "--timeout=0",
           str(ROOT / "tests" / "fuzz" / test_file), *(["-k", keyword] if keyword else [])]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = [0]
    stopped = threading.Event()

    def watch() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], _rss_kb(proc.pid))
            if peak[0] > rss_limit_mb * 1024:
                stopped.set()
                proc.kill()
                return
            time.sleep(0.2)

    threading.Thread(target=watch, daemon=True).start()
    output, _ = proc.communicate()
    seconds = time.perf_counter() - start
    counts = json.loads(report.read_text()) if report.exists() else {}
    done = int(counts.get(name, {}).get("inputs", 0))
    result: dict[str, object] = {"family": name, "inputs": done, "seconds": round(seconds, 1),
                                 "inputs_per_s": round(done / seconds, 1) if seconds else 0.0,
                                 "peak_rss_mb": peak[0] // 1024, "exit_code": proc.returncode}
    if stopped.is_set() or proc.returncode != 0:
        keep_dir.mkdir(parents=True, exist_ok=True)
        kept = keep_dir / f"{name.replace(' ', '_')}-input.bin"
        if last.exists():
            shutil.copy(last, kept)
        result["outcome"] = f"memory watchdog stopped it at {peak[0] // 1024} MB" if stopped.is_set() else "FAILED"
        result["input"] = str(kept)
        result["log_tail"] = output[-4000:]
    else:
        result["outcome"] = "no escaping exception"
    shutil.rmtree(work, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=1_000_000, help="inputs per family (at least)")
    parser.add_argument("--families", default=",".join(FAMILIES), help="comma-separated family names or parts")
    parser.add_argument("--rss-limit-mb", type=int, default=4096)
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    parser.add_argument("--keep", type=Path, default=Path("fuzz_findings"), help="where failing inputs are kept")
    args = parser.parse_args()
    wanted = [f for f in FAMILIES if any(part.strip() and part.strip() in f for part in args.families.split(","))]
    results = []
    print(f"{'family':22s} {'inputs':>11s} {'seconds':>9s} {'inputs/s':>9s} {'peak MB':>8s}  outcome", flush=True)
    for name in wanted:
        r = run_family(name, args.inputs, rss_limit_mb=args.rss_limit_mb, keep_dir=args.keep)
        results.append(r)
        print(f"{name:22s} {r['inputs']:>11,d} {r['seconds']:>9.1f} {r['inputs_per_s']:>9.1f} {r['peak_rss_mb']:>8d}  "
              f"{r['outcome']}", flush=True)
        if args.out:
            args.out.write_text(json.dumps(results, indent=2) + "\n")
    sys.exit(0 if all(r["outcome"] == "no escaping exception" for r in results) else 1)


if __name__ == "__main__":
    main()
