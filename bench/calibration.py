#!/usr/bin/env python3
"""Calibration of Heed's default models before and after temperature scaling.

    bench/calibration.py [--heed PATH] [--corpora NAME ...] [--reuse NAME=MODEL ...]

For each corpus: the default model (trained by `heed train` with default settings and seed 1, or
reused with --reuse), its temperature fitted on the dev set (`heed calibrate --training-file` on the
training file: the documents training held out; SST-2's official dev file where it has one), then
`heed evaluate --json` on the test set: NLL, Brier score, ECE and MCE at T = 1 and at the fitted T,
and the accuracy (which must not change). Results are merged into bench/results/calibration.json and
rendered into BENCHMARKS.md by bench/report.py. Test sets are only used for the final numbers.
"""
import argparse
import datetime
import json
import os
import subprocess
import sys

import provenance
from common import BENCH_ONLY, ROOT, SHIPPED, available, heed_version, load_results, rel, run, write_results

RESULTS = os.path.join(ROOT, "bench", "results", "calibration.json")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--heed", default=os.path.join(ROOT, ".build", "release", "heed"))
    ap.add_argument("--corpora", nargs="*", default=SHIPPED + BENCH_ONLY)
    ap.add_argument("--reuse", nargs="*", default=[], metavar="NAME=MODEL")
    ap.add_argument("--results", default=RESULTS)
    args = ap.parse_args()
    reuse = dict(r.split("=", 1) for r in args.reuse)
    results = load_results(args.results)
    version = heed_version(args.heed)
    for name, d in available(args.corpora):
        train, test, dev = (os.path.join(d, f + ".tsv") for f in ("train", "test", "dev"))
        out = os.path.join(ROOT, "bench", "out", "calibration", name)
        os.makedirs(out, exist_ok=True)
        commands = []
        if name in reuse:
            model = reuse[name]
        else:
            model = os.path.join(out, "default.heed")
            cmd = [args.heed, "train", rel(train), *(["--dev", rel(dev)] if os.path.exists(dev) else []),
                   "--calibration", "none", "--seed", "1", "--quiet", "-o", rel(model)]
            run(cmd)
            commands.append(" ".join(cmd[1:]))
        calibrated = os.path.join(out, "calibrated.heed")
        cmd = [args.heed, "calibrate", rel(model), rel(dev), "-o", rel(calibrated)] if os.path.exists(dev) else \
            [args.heed, "calibrate", rel(model), rel(train), "--training-file", "-o", rel(calibrated)]
        fit_line = run(cmd)[0].splitlines()[0]
        commands.append(" ".join(cmd[1:]))
        cmd = [args.heed, "evaluate", rel(calibrated), rel(test), "--json"]
        e = json.loads(run(cmd)[0])
        commands.append(" ".join(cmd[1:]))
        c = e["calibration"]
        strip = lambda m: {k: m[k] for k in ("temperature", "accuracy", "nll", "brier", "ece", "mce")} if m else None
        results[name] = {
            "corpus": name, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "heed": version, **{k: v for k, v in provenance.stamp().items() if k != "date"},
            "model": rel(model), "fit": fit_line, "commands": commands,
            "before": strip(c["uncalibrated"]), "after": strip(c["calibrated"]) or strip(c["uncalibrated"]),
            "bins_before": c["uncalibrated"]["bins"], "bins_after": (c["calibrated"] or c["uncalibrated"])["bins"],
        }
        if results[name]["before"]["accuracy"] != results[name]["after"]["accuracy"]:
            sys.exit(f"{name}: accuracy changed with the temperature ({results[name]['before']['accuracy']} -> {results[name]['after']['accuracy']})")
        write_results(args.results, results)
        r = results[name]
        print(f"{name}: ECE {r['before']['ece']:.4f} -> {r['after']['ece']:.4f} (T = {r['after']['temperature']:.3f})", file=sys.stderr)
    subprocess.run([sys.executable, os.path.join(ROOT, "bench", "report.py")], check=False)


if __name__ == "__main__":
    main()
