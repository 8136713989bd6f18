"""Where a study lives: the embedded journal file, SQLite, PostgreSQL; locks that die with
their process.

The embedded default is ``OUTDIR/study.journal``, an Optuna journal file (one JSON line per
operation). It is the fastest storage that keeps the explorer's guarantees: a resumed run
replays it; a SIGKILL loses at most the trial being evaluated (its RUNNING record is failed and
the configuration queued again on the next run); ``--workers K`` processes append to it under
an ``flock`` lock that the kernel releases when its holder dies, so a killed worker never
leaves a stale lock; ``optuna-dashboard OUTDIR/study.journal`` opens it. ``--storage sqlite``
keeps the study in ``OUTDIR/study.db`` instead (an existing ``study.db`` is resumed as
SQLite), and any SQLAlchemy URL or ``.journal`` path can be given.

One explore at a time owns an embedded output folder: :class:`FolderLock` (an ``flock`` on
``OUTDIR/.explore.lock``) makes a second one fail with one line naming the running process.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import time
import warnings
from typing import Any

import optuna
from optuna.storages import BaseStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock, JournalStorage
from optuna.trial import TrialState

from ..errors import ConfigError
from ._spec import ExploreSpec

__all__ = ["FlockLock", "FolderLock", "StorageChoice", "open_storage", "storage_choice"]

JOURNAL = "study.journal"
SQLITE = "study.db"


class FlockLock(JournalFileOpenLock):
    """Exclusive ``flock`` on ``PATH.flock`` for the journal's appends.

    Unlike Optuna's own locks (a lock file that a killed writer leaves behind, taken over
    after a grace period), the kernel drops it when the holding process dies, so a worker
    killed while writing never makes the others wait. (A subclass of Optuna's public
    ``JournalFileOpenLock`` for the type only: acquire and release are its own.)
    """

    def __init__(self, journal_path: str) -> None:
        super().__init__(journal_path)
        # not Optuna's PATH.lock: a stock Optuna writer would take a regular file there for
        # a stale lock of its own, wait 30 s and delete it
        self._path = journal_path + ".flock"
        self._fd: int | None = None

    def acquire(self) -> bool:
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


class JournalBackend(JournalFileBackend):
    """Optuna's journal file backend, appending under :class:`FlockLock` without an
    ``fsync`` per operation.

    Each append is one ``write`` of whole lines to a file opened for appending: once it
    returns, the operation is in the operating system's cache, which a killed process
    (SIGKILL included) cannot lose. What an ``fsync`` adds is survival of a power loss or
    kernel crash; it costs 4 ms per operation here (about 10 operations per trial), so the
    explorer syncs once when a run ends instead (:meth:`sync`).
    """

    def __init__(self, file_path: str) -> None:
        self._path = file_path
        self._flock = FlockLock(file_path)
        super().__init__(file_path, lock_obj=self._flock)

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        data = ("\n".join(json.dumps(log, separators=(",", ":")) for log in logs)
                + "\n").encode("utf-8")
        self._flock.acquire()
        try:
            with open(self._path, "ab") as fh:
                fh.write(data)
        finally:
            self._flock.release()

    def sync(self) -> None:
        """Flush the journal to disk (``fsync``)."""
        fd = os.open(self._path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def sync_storage(storage: BaseStorage) -> None:
    """``fsync`` an embedded journal (other storages sync themselves)."""
    backend = getattr(storage, "_backend", None)
    if isinstance(backend, JournalBackend):
        backend.sync()


def _repair_journal(path: str) -> int:
    """Cut a partial last line (a writer killed in the middle of an append); returns the
    bytes removed. Only called while no other process writes (see :class:`FolderLock`)."""
    try:
        size = os.path.getsize(path)
    except FileNotFoundError:
        return 0
    if size == 0:
        return 0
    with open(path, "rb+") as fh:
        fh.seek(max(0, size - 1))
        if fh.read(1) == b"\n":
            return 0
        block = 1 << 16
        end = size
        while end > 0:  # find the last newline
            start = max(0, end - block)
            fh.seek(start)
            chunk = fh.read(end - start)
            i = chunk.rfind(b"\n")
            if i >= 0:
                keep = start + i + 1
                break
            end = start
        else:
            keep = 0
        fh.truncate(keep)
        return size - keep


def journal_storage(path: str, *, repair: bool = False) -> JournalStorage:
    """The journal file at ``path`` with :class:`FlockLock` (``repair``: cut a partial last
    line first; only when no other process writes)."""
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise ConfigError(f"--storage {path}: folder {parent} does not exist")
    if repair:
        _repair_journal(path)
    try:
        return JournalStorage(JournalBackend(path))
    except (ValueError, UnicodeDecodeError, KeyError) as exc:
        raise ConfigError(f"{path}: not an Optuna journal ({str(exc).splitlines()[0]})"
                          ) from None


class HeartbeatRDBStorage(RDBStorage):
    """An RDB storage whose trials have a heartbeat from the moment they start running.

    Optuna records a trial's first heartbeat only once its objective runs, after the sampler
    has chosen the parameters (tens of ms with TPE); a worker killed in between leaves a
    RUNNING trial without any heartbeat, which never goes stale and so is never retried. Here
    the first heartbeat is written right after the trial is created or popped from the queue.
    """

    def create_new_trial(self, study_id: int, template_trial: Any = None) -> int:
        trial_id = super().create_new_trial(study_id, template_trial)
        if self.heartbeat_interval and (template_trial is None
                                        or template_trial.state == TrialState.RUNNING):
            self.record_heartbeat(trial_id)
        return trial_id

    def set_trial_state_values(self, trial_id: int, state: TrialState,
                               values: Any = None) -> bool:
        changed = super().set_trial_state_values(trial_id, state, values)
        if changed and state == TrialState.RUNNING and self.heartbeat_interval:
            self.record_heartbeat(trial_id)
        return changed


def rdb_storage(url: str, heartbeat_s: float) -> RDBStorage:
    """An RDB storage with heartbeats (the trial of a dead worker is failed after two
    intervals and queued again)."""
    hb = max(1, round(heartbeat_s))
    for attempt in range(6):
        try:
            with warnings.catch_warnings():  # heartbeats are marked experimental
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return HeartbeatRDBStorage(
                    url, heartbeat_interval=hb, grace_period=2 * hb,
                    heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(
                        max_retry=3),
                    engine_kwargs={"pool_pre_ping": True})
        except ImportError:
            raise ConfigError(f"--storage {url}: the database driver is not installed "
                              "(PostgreSQL: pip install 'accel-sim[postgres]')") from None
        except Exception as exc:  # sqlalchemy raises many kinds; report the first line
            racing = (type(exc).__name__ == "IntegrityError"
                      or "already exists" in str(exc))
            if racing and attempt < 5:
                time.sleep(0.5)  # another process is creating the schema at the same time
                continue
            text = str(exc).strip()
            msg = text.splitlines()[0] if text else type(exc).__name__
            raise ConfigError(f"--storage {url}: cannot open the storage ({msg})") from None
    raise AssertionError("unreachable")


class StorageChoice:
    """What :func:`storage_choice` decided: the kind, where, and whether it is embedded."""

    def __init__(self, kind: str, location: str, embedded: bool) -> None:
        self.kind = kind  # "journal", "sqlite" or "rdb"
        self.location = location  # file path or URL
        self.embedded = embedded

    def open(self, spec: ExploreSpec, *, repair: bool = False) -> BaseStorage:
        """Open (and create) the storage."""
        if self.kind == "journal":
            if self.embedded:
                os.makedirs(os.path.dirname(self.location), exist_ok=True)
            return journal_storage(self.location, repair=repair)
        if self.kind == "sqlite" and self.embedded:
            os.makedirs(os.path.dirname(self.location), exist_ok=True)
        return rdb_storage(self.location, spec.heartbeat_s)

    def __repr__(self) -> str:
        return f"StorageChoice({self.kind!r}, {self.location!r}, embedded={self.embedded})"


def storage_choice(spec: ExploreSpec) -> StorageChoice:
    """Decide the storage of ``spec`` without creating anything.

    ``storage=None``: ``OUTDIR/study.journal`` (or an existing ``OUTDIR/study.db``);
    ``"journal"``/``"sqlite"``: that file in ``OUTDIR``; a path ending ``.journal`` (or any
    path without ``://``): that journal file; a URL: that database.
    """
    out = os.path.abspath(spec.output)
    db, journal = os.path.join(out, SQLITE), os.path.join(out, JOURNAL)
    kind = spec.storage
    if kind is None:
        kind = "sqlite" if os.path.exists(db) and not os.path.exists(journal) else "journal"
    if kind == "journal":
        if os.path.exists(db) and not os.path.exists(journal):
            raise ConfigError(f"{spec.output} holds a SQLite study ({SQLITE}); resume it with "
                              "--storage sqlite or choose another -o")
        return StorageChoice("journal", journal, True)
    if kind == "sqlite":
        if os.path.exists(journal):
            raise ConfigError(f"{spec.output} holds a journal study ({JOURNAL}); resume it "
                              "without --storage sqlite or choose another -o")
        if spec.workers > 1:
            what = ("--storage sqlite" if spec.storage else
                    f"{spec.output} holds a SQLite study ({SQLITE}), and SQLite")
            raise ConfigError(f"{what} does not take concurrent workers (--workers "
                              f"{spec.workers}): rerun with --workers 1, or use another -o "
                              "(journal storage)")
        return StorageChoice("sqlite", f"sqlite:///{db}", True)
    url = str(kind)
    if "://" not in url:
        return StorageChoice("journal", url, False)
    if url.startswith("sqlite") and spec.workers > 1:
        raise ConfigError(f"--storage {url}: SQLite does not take concurrent workers; use "
                          "postgresql://... or a .journal file with --workers > 1")
    return StorageChoice("rdb", url, False)


def open_storage(spec: ExploreSpec) -> tuple[BaseStorage, bool]:
    """The study storage and whether it is the embedded one in the output folder."""
    choice = storage_choice(spec)
    return choice.open(spec), choice.embedded


# ---------------------------------------------------------------------- folder lock
class FolderLock:
    """One explore per embedded output folder, and no worker of a killed one still running.

    ``acquire`` takes an exclusive ``flock`` on ``OUTDIR/.explore.lock`` (refused at once,
    naming the holder's pid and command, when another explore holds it) and then waits until
    no worker of an earlier, killed run holds ``OUTDIR/.workers.lock`` (workers hold it
    shared; they die with their parent within moments). Both locks vanish with their process.
    """

    def __init__(self, outdir: str) -> None:
        self.outdir = outdir
        self.path = os.path.join(outdir, ".explore.lock")
        self.workers_path = os.path.join(outdir, ".workers.lock")
        self._fd: int | None = None

    def acquire(self, wait_workers_s: float = 30.0) -> None:
        os.makedirs(self.outdir, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            raise ConfigError(f"{self.outdir} is in use by another explore ({_holder(self.path)}"
                              "); wait for it to finish, or use another -o") from None
        self._fd = fd
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"pid {os.getpid()}: {_command()}\n".encode())
            self._wait_for_old_workers(wait_workers_s)
        except BaseException:  # an error, Ctrl-C: give the folder back
            self.release()
            raise

    def _wait_for_old_workers(self, wait_s: float) -> None:
        wfd = os.open(self.workers_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + wait_s
            while True:
                try:
                    fcntl.flock(wfd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    fcntl.flock(wfd, fcntl.LOCK_UN)
                    return
                except OSError:
                    if time.monotonic() > deadline:
                        raise ConfigError(f"{self.outdir}: worker processes of an earlier "
                                          "explore are still running; stop them first"
                                          ) from None
                    time.sleep(0.05)
        finally:
            os.close(wfd)

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> FolderLock:
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def hold_worker_lock(outdir: str) -> int:
    """Shared lock a worker holds on ``OUTDIR/.workers.lock`` for its whole life (returns
    the descriptor; the kernel releases it when the worker dies)."""
    fd = os.open(os.path.join(outdir, ".workers.lock"), os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_SH)
    return fd


def _holder(path: str) -> str:
    try:
        with open(path) as fh:
            text = fh.read().strip()
    except OSError:
        text = ""
    return text or "a process that did not say which"


def _command() -> str:
    import sys

    args = " ".join(sys.argv[1:])
    return f"accel-sim {args}" if args else "accel_sim.explore"
