#!/usr/bin/env python3
"""Fetch the two Debian bookworm main indexes that topic-en-debian is built from.

    fetch_debian.py MIRROR DEST_DIR

MIRROR is the archive root, e.g. http://deb.debian.org/debian.  Downloads
dists/bookworm/InRelease, main/binary-amd64/Packages.xz and main/i18n/Translation-en.xz,
checks both indexes against the SHA256 lines of InRelease (and the InRelease signature with
gpgv when gpgv and the Debian archive keyring are installed), and says whether they are the
exact indexes the committed corpus was made from.  Exit status: 0 fetched and consistent
(even if newer than the pinned ones: the caller's output check decides), 1 on any
download or integrity failure.
"""
import hashlib
import os
import shutil
import subprocess
import sys
import urllib.request

SUITE = "bookworm"
FILES = ("main/binary-amd64/Packages.xz", "main/i18n/Translation-en.xz")
# The indexes the committed topic-en-debian files were built from (Debian 12.15, InRelease
# Date: Sat, 11 Jul 2026 10:16:37 UTC).
PINNED = {
    "main/binary-amd64/Packages.xz":
        "9e0b5aabb2465b3d2e7a7fe27f9913846277833f7a2826e7767acccff5b588c5",
    "main/i18n/Translation-en.xz":
        "a3d4a0bfd8e9242810b0885eda7c1a6e05dac15b333ddbaab03ba56f2dfa4bf0",
}
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


def fetch(url, dest):
    with urllib.request.urlopen(url, timeout=120) as resp, open(dest, "wb") as out:
        shutil.copyfileobj(resp, out)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def inrelease_sha256(text):
    """{relative path: sha256} from the SHA256 section of a Release/InRelease file."""
    sums, in_section = {}, False
    for line in text.splitlines():
        if line.startswith("SHA256:"):
            in_section = True
        elif in_section and line.startswith(" "):
            parts = line.split()
            if len(parts) == 3:
                sums[parts[2]] = parts[0]
        else:
            in_section = False
    return sums


def main(mirror, dest):
    os.makedirs(dest, exist_ok=True)
    base = mirror.rstrip("/") + "/dists/" + SUITE + "/"
    inrelease = os.path.join(dest, "InRelease")
    try:
        fetch(base + "InRelease", inrelease)
        for rel in FILES:
            fetch(base + rel, os.path.join(dest, os.path.basename(rel)))
    except OSError as e:
        print(f"fetch_debian: download failed: {e}", file=sys.stderr)
        return 1

    if shutil.which("gpgv") and os.path.exists(KEYRING):
        res = subprocess.run(["gpgv", "--keyring", KEYRING, inrelease],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if res.returncode != 0:
            print("fetch_debian: InRelease signature does NOT verify", file=sys.stderr)
            return 1
        print("fetch_debian: InRelease signature verified (gpgv)", file=sys.stderr)
    else:
        print("fetch_debian: gpgv or debian-archive-keyring missing; signature not checked",
              file=sys.stderr)

    with open(inrelease, encoding="utf-8", errors="replace") as f:
        text = f.read()
    listed = inrelease_sha256(text)
    for key in ("Version:", "Date:"):
        for line in text.splitlines():
            if line.startswith(key):
                print(f"fetch_debian: {SUITE} {line}", file=sys.stderr)
                break
    pinned_match = True
    for rel in FILES:
        got = sha256_file(os.path.join(dest, os.path.basename(rel)))
        if listed.get(rel) != got:
            print(f"fetch_debian: {rel} does not match InRelease", file=sys.stderr)
            return 1
        if got != PINNED[rel]:
            pinned_match = False
            print(f"fetch_debian: {rel} is not the pinned index (archive has moved on)",
                  file=sys.stderr)
    if pinned_match:
        print("fetch_debian: both indexes are the pinned ones (Debian 12.15)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
