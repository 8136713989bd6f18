"""A file of measured accuracies shared by studies: ``accuracy_cache.jsonl``.

One JSON line per measurement: ``{"key": Device.accuracy_key(...), "accuracy": value}``.
The key holds the device, the task and only the parameters the device declares its accuracy
depends on (``Device.accuracy_params``), so a study measures each distinct subset once and a
later run, or another study of the same workload, reads it back. Appends are whole lines
under an exclusive ``flock``; a reader that misses re-reads what other processes appended.
A line that does not parse (a write cut by a kill) is skipped.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os

from ..errors import ConfigError

__all__ = ["FileAccuracyCache"]


class FileAccuracyCache:
    """:class:`accel_sim._device.AccuracyCache` on a JSON-lines file.

    Attributes:
        hits, misses: Lookups served from the file, and not.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._values: dict[str, float] = {}
        self._offset = 0
        self.hits = 0
        self.misses = 0
        try:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            with open(self.path, "a", encoding="utf-8"):
                pass
        except OSError as exc:
            raise ConfigError(f"--accuracy-cache {self.path}: cannot write ({exc.strerror})"
                              ) from None
        self._check_format()
        self._read()

    def _check_format(self) -> None:
        """Refuse a file that is not an accuracy cache (never append to someone else's)."""
        try:
            with open(self.path, encoding="utf-8") as fh:
                first = next((line for line in fh if line.strip()), None)
        except UnicodeDecodeError:
            first = "not text"
        if first is None:
            return
        try:
            item = json.loads(first)
            ok = isinstance(item, dict) and set(item) == {"key", "accuracy"}
        except ValueError:
            ok = False
        if not ok:
            raise ConfigError(f"--accuracy-cache {self.path}: not an accuracy cache (its lines "
                              'are {"key": ..., "accuracy": ...}); give another file')

    def _read(self) -> None:
        with open(self.path, encoding="utf-8") as fh:
            fh.seek(self._offset)
            for line in fh:
                if not line.endswith("\n"):
                    break  # a line being written: read it next time
                self._offset += len(line.encode("utf-8"))
                with contextlib.suppress(ValueError, TypeError, KeyError):
                    item = json.loads(line)
                    value = float(item["accuracy"])
                    if math.isfinite(value):
                        self._values[str(item["key"])] = value

    def get(self, key: str) -> float | None:
        """The stored accuracy of ``key`` (re-reading the file's new lines on a miss)."""
        if key not in self._values:
            self._read()
        value = self._values.get(key)
        if value is None:
            self.misses += 1
        else:
            self.hits += 1
        return value

    def put(self, key: str, value: float) -> None:
        """Append one measurement (not finite values are not stored)."""
        if not math.isfinite(value):
            return
        self._values[key] = value
        line = json.dumps({"key": key, "accuracy": value}, sort_keys=True) + "\n"
        with open(self.path, "a", encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                fh.write(line)
                fh.flush()
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def __len__(self) -> int:
        return len(self._values)
