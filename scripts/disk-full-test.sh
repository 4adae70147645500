#!/usr/bin/env bash
# Disk full, for real: `heed train` writing into a small tmpfs.
#  1. A file system too small for the model and its checkpoint is refused before the first epoch,
#     with a message, a non-zero exit and no file left behind.
#  2. A file system that fills up during training (a filler file takes the remaining space after
#     the first epoch) ends the run with an error naming the file and the cause; the model written
#     before is intact, no temp file is left, and --resume continues once space is freed.
# Mounting a tmpfs needs root (CAP_SYS_ADMIN); without it the test says so and is skipped.
#
# Usage: scripts/disk-full-test.sh      (HEED=path/to/heed to choose the binary)
set -euo pipefail
cd "$(dirname "$0")/.."
heed=$(realpath "${HEED:-.build/release/heed}")
tmp=$(mktemp -d)
mnt="$tmp/fs"
mkdir "$mnt"
cleanup() { umount "$mnt" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
if ! mount -t tmpfs -o size=1m tmpfs "$mnt" 2>/dev/null; then
    echo "disk-full-test: SKIPPED — cannot mount a tmpfs here (needs root)" >&2
    exit 0
fi
head -n 1500 corpora/sentiment-en-rt/train.tsv > "$tmp/train.tsv"
head -n 200 corpora/sentiment-en-rt/test.tsv > "$tmp/test.tsv"
fail() { echo "disk-full-test: $*" >&2; exit 1; }

# 1. Too small from the start (the default model needs several MB).
set +e
"$heed" train "$tmp/train.tsv" --quiet -o "$mnt/m.heed" 2> "$tmp/err1"
status=$?
set -e
[ "$status" -ne 0 ] || fail "training into a 1 MB file system succeeded"
grep -q "not enough disk space" "$tmp/err1" || fail "no disk-space message: $(cat "$tmp/err1")"
grep -q "$mnt/m.heed" "$tmp/err1" || fail "message does not name the output: $(cat "$tmp/err1")"
[ -z "$(ls -A "$mnt")" ] || fail "files left behind: $(ls -A "$mnt")"
echo "disk-full-test: refused up front: $(cat "$tmp/err1")"

# 2. Fills up during training.
umount "$mnt"
mount -t tmpfs -o size=8m tmpfs "$mnt"
"$heed" train "$tmp/train.tsv" --model attention --embed 16 --hidden 16 --epochs 60 --patience 60 \
    --quiet -o "$mnt/m.heed" 2> "$tmp/err2" &
pid=$!
for _ in $(seq 600); do [ -f "$mnt/m.heed.log.jsonl" ] && break; sleep 0.1; done
[ -f "$mnt/m.heed.log.jsonl" ] || { kill "$pid"; fail "no epoch finished within 60 s"; }
dd if=/dev/zero of="$mnt/filler" bs=64k 2>/dev/null || true   # stops at ENOSPC
start=$(date +%s)
set +e
wait "$pid"
status=$?
set -e
[ "$status" -ne 0 ] && [ "$status" -lt 128 ] || fail "exit status $status after the disk filled (expected an error exit)"
grep -q "No space left on device" "$tmp/err2" || fail "no ENOSPC message: $(cat "$tmp/err2")"
grep -q "$mnt/m.heed" "$tmp/err2" || fail "message does not name the file: $(cat "$tmp/err2")"
if ls -A "$mnt" | grep -q "tmp"; then fail "temp files left behind: $(ls -A "$mnt")"; fi
"$heed" evaluate "$mnt/m.heed" "$tmp/test.tsv" > /dev/null || fail "the model written before the disk filled does not load"
echo "disk-full-test: stopped $(( $(date +%s) - start )) s after the disk filled: $(tail -n 1 "$tmp/err2")"
rm "$mnt/filler"
"$heed" train "$tmp/train.tsv" --resume "$mnt/m.heed.ckpt" --epochs 3 --quiet -o "$mnt/m.heed" \
    || fail "--resume after freeing space failed"
"$heed" evaluate "$mnt/m.heed" "$tmp/test.tsv" > /dev/null || fail "resumed model does not load"
echo "disk-full-test: passed"
