#!/usr/bin/env python3
"""Unlabelled text for topic-en-debian: every English package description of Debian bookworm
main, in the corpus' own text form ("short . long", whitespace collapsed), except those that
could be a test document.

    bench/unlabelled_debian.py [--mirror URL] [--cache build/debian] [--out build/unlabelled/debian-descriptions.txt]

The indexes are the pinned ones corpora/rebuild builds the corpus from (corpora/tools/fetch_debian.py
checks their SHA-256). Dropped: descriptions whose long part equals the long part of a test
document (sibling packages share one long description under different short ones, so matching the
whole text would let near-copies of test documents through), and descriptions of fewer than two
lines. Training documents stay in (task-adaptive pretraining reads them anyway). The output is for
benchmarks only and is not committed (Debian descriptions carry their packages' licences); it is
rebuilt from the archive by this script.
"""
import argparse, os, subprocess, sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "corpora", "tools"))
sys.path.insert(0, here)
import build_corpora  # noqa: E402  (the corpus' own parsing and cleaning)
from common import write_lines  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mirror", default=os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian"))
    ap.add_argument("--cache", default="build/debian")
    ap.add_argument("--corpus", default="corpora/topic-en-debian")
    ap.add_argument("--out", default="build/unlabelled/debian-descriptions.txt")
    args = ap.parse_args()
    translation = os.path.join(args.cache, "Translation-en.xz")
    if not os.path.exists(translation):
        os.makedirs(args.cache, exist_ok=True)
        subprocess.run([sys.executable, os.path.join(here, "..", "corpora", "tools", "fetch_debian.py"), args.mirror, args.cache],
                       check=True)
    test_bodies = set()
    with open(os.path.join(args.corpus, "test.tsv"), encoding="utf-8") as f:
        for line in f:
            text = line.rstrip("\n").split("\t", 1)[-1]
            test_bodies.add(text.split(" . ", 1)[-1])
    seen, kept, dropped = set(), [], 0
    for _, _, desc in build_corpora.debian_descriptions(translation):
        if len(desc) < 2:
            continue
        body = build_corpora.clean_debian_text(" ".join(desc[1:]))
        text = build_corpora.clean_debian_text(desc[0]) + " . " + body
        if not body or text in seen:
            continue
        seen.add(text)
        if body in test_bodies:
            dropped += 1
            continue
        kept.append(text)
    write_lines(args.out, kept)
    print(f"{args.out}: {len(kept)} descriptions ({dropped} dropped: long part equal to a test document's)", file=sys.stderr)


if __name__ == "__main__":
    main()
