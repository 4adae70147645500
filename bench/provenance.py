"""Where a benchmark figure comes from: the commit and date it was measured at, and whether the code
has moved on since.

Recording (measuring scripts): `stamp()` returns {"commit", "dirty", "date", "code_commit"} for the repository as it
is now. `dirty` is true when the files the heed binary is built from (Sources/, Package.swift) differ
from the commit; edits elsewhere (bench/, docs) do not change the binary and do not count.

Reading (bench/report.py): `Repo` answers how many commits that touched Sources/ lie between a
figure's commit and HEAD, and recovers the commit of an old result that was recorded without one:
the first commit of the results file whose version already holds that exact result ("committed
with"; the code measured is that commit's tree or an older one, so the figure is at least that stale).
"""
import datetime
import json
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Paths whose changes can change a measured figure (the binary's inputs).
CODE_PATHS = ("Sources", "Package.swift")
# A figure is stale when more than this many commits touching Sources/ came after its commit.
STALE_AFTER = 3


def _git(*args, root=ROOT):
    r = subprocess.run(["git", "-C", root, *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return r.stdout if r.returncode == 0 else None


def _short(root, rev):
    """rev's short hash, or None when git or rev is unknown."""
    return (_git("rev-parse", "--short", rev, root=root) or "").strip() or None


def _code_commit(root, rev):
    """The newest commit at or before rev that changed the binary's inputs (CODE_PATHS)."""
    return (_git("log", "-1", "--format=%h", rev, "--", *CODE_PATHS, root=root) or "").strip() or None


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def stamp(root=ROOT):
    """{"commit": short HEAD, "dirty": Sources/ or Package.swift differ from it, "date": UTC now,
    "code_commit": the newest commit at or before HEAD that changed Sources/ or Package.swift}.
    code_commit has the same code as HEAD (when not dirty) and survives a branch being rebased or squashed."""
    status = _git("status", "--porcelain", "--", *CODE_PATHS, root=root)
    return {"commit": _short(root, "HEAD"), "dirty": None if status is None else bool(status.strip()), "date": now(),
            "code_commit": _code_commit(root, "HEAD")}


def stamp_at(rev, root=ROOT):
    """stamp() for a binary built from rev's Sources rather than from the working tree: {"commit": rev,
    "dirty": False, "date": UTC now, "code_commit": the newest commit at or before rev that changed Sources/ or
    Package.swift, "bench_commit": HEAD, where the measuring script and results live}. None when rev is unknown."""
    commit = _short(root, "%s^{commit}" % rev)
    if commit is None:
        return None
    return {"commit": commit, "dirty": False, "date": now(), "code_commit": _code_commit(root, commit),
            "bench_commit": _short(root, "HEAD")}


class Repo:
    """Git questions about the repository, cached."""

    def __init__(self, root=ROOT, stale_after=STALE_AFTER):
        self.root = root
        self.stale_after = stale_after
        self.head = _short(root, "HEAD")
        self._behind = {}
        self._history = {}
        self._show = {}

    def behind(self, commit):
        """Commits touching Sources/ in commit..HEAD, or None when commit is unknown or not an ancestor of HEAD."""
        if not commit:
            return None
        if commit not in self._behind:
            ok = subprocess.run(["git", "-C", self.root, "merge-base", "--is-ancestor", commit, "HEAD"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
            n = None
            if ok:
                out = _git("rev-list", "--count", "%s..HEAD" % commit, "--", "Sources", root=self.root)
                n = int(out.strip()) if out and out.strip().isdigit() else None
            self._behind[commit] = n
        return self._behind[commit]

    def stale(self, commit):
        n = self.behind(commit)
        return n is None or n > self.stale_after

    def history(self, path):
        """[(short hash, committer date ISO)] of the commits that changed path, oldest first."""
        rel = os.path.relpath(path, self.root)
        if rel not in self._history:
            out = _git("log", "--follow", "--format=%h %cI", "--", rel, root=self.root) or ""
            self._history[rel] = [tuple(l.split(" ", 1)) for l in reversed(out.strip().splitlines()) if l.strip()]
        return self._history[rel]

    def version(self, commit, path):
        """The JSON of path at commit, or None."""
        rel = os.path.relpath(path, self.root)
        key = (commit, rel)
        if key not in self._show:
            out = _git("show", "%s:%s" % (commit, rel), root=self.root)
            try:
                self._show[key] = json.loads(out) if out else None
            except ValueError:
                self._show[key] = None
        return self._show[key]

    def committed_with(self, path, extract, record):
        """The first commit (hash, date) of path whose version holds `record` (extract(json) == record), or None.
        None too when the file's working copy has the record but no commit does (uncommitted results)."""
        for commit, date in self.history(path):
            try:
                old = extract(self.version(commit, path))
            except (KeyError, TypeError, IndexError, AttributeError):
                old = None
            if old is not None and old == record:
                return commit, date
        return None
