"""The versioned model store in --model-dir: complete versions, an atomic `current`, one writer.

Layout::

    model/
      versions/
        20261123T021500Z-3f9a/   one bundle per training run (see forecast.store.bundle)
        20261124T021500Z-81c2/
        .partial-20261125T.../   a run still writing (or killed while writing): never read
      current -> versions/20261124T021500Z-81c2
      .lock                      held by the one run allowed to write

A version is written under a hidden name and renamed into `versions/` only when complete, and
`current` is a symbolic link replaced by a rename, so a reader sees the old version or the new
one, never a mix. A directory holding a bundle at its top level (the layout before versions)
still loads: that bundle is the version named `legacy`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import errno
import fcntl
import json
import os
import secrets
import shutil
import stat
import time
from pathlib import Path
from typing import Iterator

from forecast.errors import BundleError, BusyError, printable, write_error, writing
from forecast.store.bundle import Bundle, is_bundle, read_bundle

VERSIONS = "versions"
CURRENT = "current"
LOCK = ".lock"
LEGACY = "legacy"  # the bundle at the top of a directory written before versions existed
PARTIAL = ".partial-"


def new_version_id(now: dt.datetime | None = None) -> str:
    """A sortable, unique id: the UTC time to the second and four random hex digits."""
    now = now or dt.datetime.now(dt.timezone.utc)
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(2)}"


@dataclasses.dataclass
class Version:
    id: str
    path: Path
    current: bool


class Store:
    """The model directory: its versions, which one is current, and the writers' lock."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).absolute()
        self.versions = self.root / VERSIONS

    # Reading -------------------------------------------------------------------------------

    def current_id(self) -> str | None:
        """The current version's id; None when nothing was trained yet."""
        link = self.root / CURRENT
        if link.is_symlink():
            target = os.readlink(link)
            return LEGACY if target in (".", "") else Path(target).name
        if self.has_legacy():
            return LEGACY
        return None

    def has_legacy(self) -> bool:
        return is_bundle(self.root)

    def ids(self) -> list[str]:
        """Every complete version, oldest first (the legacy bundle, if any, before all)."""
        found = []
        if self.versions.is_dir():
            found = sorted(p.name for p in self.versions.iterdir() if p.is_dir() and not p.name.startswith("."))
        return ([LEGACY] if self.has_legacy() else []) + found

    def path_of(self, version_id: str) -> Path:
        return self.root if version_id == LEGACY else self.versions / version_id

    def resolve(self, version_id: str | None = None) -> Path:
        """The bundle directory of `version_id`, or of the current version.

        Raises:
            BundleError: no such version, or nothing trained in this directory yet.
        """
        if version_id is None:
            version_id = self.current_id()
            if version_id is None:
                raise BundleError(
                    f"no model bundle at {str(self.root)!r}. Train one with `forecast train`, or point --model-dir "
                    "(or FORECAST_MODEL_DIR) at an existing model directory."
                )
            if version_id not in self.ids():
                raise BundleError(
                    f"the current version {version_id!r} of {str(self.root)!r} is missing (deleted by hand?). "
                    "Pick one with `forecast models use`, or train a new one."
                )
        if version_id not in self.ids():
            known = ", ".join(map(printable, self.ids()[-5:])) or "none"
            raise BundleError(
                f"--version {version_id!r} is not in {str(self.root)!r} (latest: {known}). "
                "List them with `forecast models list`."
            )
        return self.path_of(version_id)

    def open(self, version_id: str | None = None) -> Bundle:
        """Read and check the bundle of `version_id`, or of the current version.

        Raises:
            BundleError: nothing trained here, no such version, or a damaged bundle.
        """
        return read_bundle(self.resolve(version_id))

    def check_exists(self) -> None:
        """Refuse a path that is not a model directory (for listing, where no versions is an answer).

        Raises:
            BundleError: the path is missing, a file, or a directory forecast did not write.
        """
        if not self.root.exists():
            raise BundleError(f"no model directory at {str(self.root)!r}. Check --model-dir, or train one with `forecast train`.")
        if not self.root.is_dir():
            raise BundleError(f"--model-dir {str(self.root)!r} is a file, not a model directory. Check --model-dir.")
        if not (self.versions.is_dir() or (self.root / CURRENT).is_symlink() or self.has_legacy()):
            raise BundleError(
                f"{str(self.root)!r} is not a forecast model directory (no versions/, current or bundle). Check --model-dir."
            )

    def all(self) -> list[Version]:
        current = self.current_id()
        return [Version(i, self.path_of(i), i == current) for i in self.ids()]

    # Writing (hold the lock) ---------------------------------------------------------------

    def check_writable(self) -> None:
        """Refuse, before any training, a directory that is not ours or cannot be written.

        Raises:
            BundleError: the path is a file, a directory of other files, or not writable.
        """
        root = self.root
        if root.exists() and not root.is_dir():
            raise BundleError(f"--model-dir {str(root)!r} is a file, not a directory. Choose another path.")
        if root.is_dir():
            self.check_current_link()
            ours = {VERSIONS, CURRENT, LOCK}
            # A link left by a run killed while switching `current` is ours too: cleaned under the lock.
            foreign = [p.name for p in root.iterdir() if p.name not in ours and not p.name.startswith(f".{CURRENT}-")]
            if foreign and not self.has_legacy():
                raise BundleError(
                    f"--model-dir {str(root)!r} holds files that are not forecast models ({', '.join(sorted(foreign)[:3])}). "
                    "Choose an empty or new directory."
                )
        parent = root
        while not parent.exists():
            parent = parent.parent
        if not os.access(parent, os.W_OK | os.X_OK):
            # os.access says no on a read-only file system too, where permissions are not the problem.
            code = errno.EROFS if os.statvfs(parent).f_flag & os.ST_RDONLY else errno.EACCES
            raise write_error(f"write to {str(parent)!r}", OSError(code, os.strerror(code)))

    def check_current_link(self) -> None:
        """Refuse a `current` that is not a symbolic link: switching it would fail after the work.

        Raises:
            BundleError: `current` is a real file or directory.
        """
        link = self.root / CURRENT
        if (link.exists() or link.is_symlink()) and not link.is_symlink():
            kind = "directory" if link.is_dir() else "file"
            raise BundleError(
                f"{str(link)!r} is a {kind}, not the link forecast keeps there. Move it out of the model directory "
                "(pick the current version again with `forecast models use`)."
            )

    def stage(self, version_id: str) -> Path:
        """A fresh hidden directory to write version `version_id` into."""
        staging = self.versions / f"{PARTIAL}{version_id}"
        with writing(f"make a new version in {str(self.versions)!r}"):
            self.versions.mkdir(parents=True, exist_ok=True)
            staging.mkdir()
        return staging

    def commit(self, staging: Path, version_id: str) -> Path:
        """Make a completely written staging directory the version `version_id` (one rename)."""
        final = self.versions / version_id
        _fsync_dir(staging)
        with writing(f"publish version {version_id} in {str(self.versions)!r}"):
            os.rename(staging, final)
        _fsync_dir(self.versions)
        return final

    def set_current(self, version_id: str) -> None:
        """Point `current` at `version_id` with one atomic rename of a fresh symbolic link."""
        if version_id not in self.ids():
            self.resolve(version_id)  # raises the error naming what exists
        self.check_current_link()
        target = "." if version_id == LEGACY else f"{VERSIONS}/{version_id}"
        fresh = self.root / f".{CURRENT}-{secrets.token_hex(4)}"
        with writing(f"point {str(self.root / CURRENT)!r} at version {version_id}", "; the current version is unchanged"):
            os.symlink(target, fresh)
            try:
                os.replace(fresh, self.root / CURRENT)
            except BaseException:
                fresh.unlink(missing_ok=True)
                raise
        _fsync_dir(self.root)

    def clean_partials(self) -> list[str]:
        """Remove what killed runs left behind (call with the lock held: no live writer remains)."""
        removed = []
        leftovers = list(self.versions.glob(f"{PARTIAL}*")) if self.versions.is_dir() else []
        leftovers += list(self.root.glob(f".{CURRENT}-*")) + list(self.root.parent.glob(f".{self.root.name}.partial-*"))
        for path in leftovers:
            if path.is_symlink() or path.is_file():
                path.unlink(missing_ok=True)
            else:
                shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
        return removed

    def prune(self, keep: int) -> list[str]:
        """Delete all but the newest `keep` versions; the current one is always kept."""
        current = self.current_id()
        candidates = [i for i in self.ids() if i != LEGACY]
        doomed = [i for i in candidates[: max(0, len(candidates) - keep)] if i != current]
        for version_id in doomed:
            path = self.versions / version_id
            if path.is_symlink():  # a version linked in from elsewhere: drop the link, never its target
                path.unlink()
                continue
            # Rename first, so a reader never opens a half-deleted version.
            hidden = self.versions / f"{PARTIAL}pruned-{version_id}"
            os.rename(path, hidden)
            shutil.rmtree(hidden)
        return doomed

    @contextlib.contextmanager
    def lock(self, timeout: float, log=lambda message: None) -> Iterator[None]:
        """Hold the directory's writer lock, waiting up to `timeout` seconds for another run.

        The lock is an flock on `.lock`: the kernel drops it when its holder exits, however it
        exits, so a killed run never leaves the directory locked.

        Raises:
            BusyError: another run still held the lock after `timeout` seconds.
        """
        with writing(f"make the model directory {str(self.root)!r}"):
            self.root.mkdir(parents=True, exist_ok=True)
        handle = _open_lock(self.root / LOCK)
        try:
            deadline = time.monotonic() + timeout
            waited = False
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                if time.monotonic() >= deadline:
                    raise BusyError(
                        f"{str(self.root)!r} is locked by {_holder(handle)} and was still busy after --lock-timeout "
                        f"{timeout:g} s. Runs on one model directory take turns; retry later or raise --lock-timeout."
                    )
                if not waited:
                    log(f"waiting up to {timeout:g} s for another run to finish with {self.root}")
                    waited = True
                time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
            note = json.dumps({"pid": os.getpid(), "since": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")})
            try:  # unbuffered: a write the disk refuses leaves nothing for close() to retry
                os.ftruncate(handle.fileno(), 0)
                os.pwrite(handle.fileno(), note.encode(), 0)
            except OSError:
                pass  # the note only names the holder to a waiting run; a full disk must not stop a rollback
            yield
        finally:
            handle.close()  # releases the flock


def _open_lock(path: Path):
    """The lock file, opened without following a symbolic link: whoever can write the model
    directory must not be able to point a root cron job's lock (which is truncated) at another file.

    Raises:
        BundleError: the lock is a link, not a regular file, or has other names (a hard link).
    """
    refuse = (
        f"{str(path)!r} is not a regular file of forecast's (a link, a directory or a hard link). "
        "Remove it; the next run creates a fresh one."
    )
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EISDIR, errno.ENXIO):
            raise BundleError(refuse) from None
        raise write_error(f"open the lock {str(path)!r}", exc) from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        os.close(fd)
        raise BundleError(refuse)
    return os.fdopen(fd, "r+")


def _holder(handle) -> str:
    """Who holds the lock, as its holder wrote it: "pid 123 since 2026-11-23T02:15:00+00:00"."""
    handle.seek(0)
    try:
        note = json.loads(handle.read())
        return f"pid {note['pid']} since {note['since']}"
    except (ValueError, KeyError, TypeError):
        return "another run"


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
