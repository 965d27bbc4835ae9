"""This agent's own copies of the blobs it published and agreed, by period, and the IPFS retry plan.

IPFS (kubo) is shared and may be down for a while or lose blobs (anyone on the host can unpin them).
Each agent therefore keeps a local copy of every blob it published and of each accepted round's agreed
aggregate, for the last `keep_periods` periods and the period of the last accepted model, so it can publish
them again; older periods are dropped (after their content ids are unpinned from kubo). Plain module: no AEA imports.
"""

import hashlib
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

PERIOD_FOLDER = re.compile(r"^period_(\d{6})$")
PARTIAL_SUFFIX = ".partial"
CID_SUFFIX = ".cid"


class BlobStoreError(Exception):
    """A blob store setting or file that cannot be used."""


def sha256_hex(blob: bytes) -> str:
    """The digest that names a blob here and next to its content id in consensus."""
    return hashlib.sha256(blob).hexdigest()


@dataclass(frozen=True)
class RetryPlan:
    """Pauses between attempts: from `first`, times `factor`, at most `longest`, all within `budget` seconds."""

    first: float
    factor: float
    longest: float
    budget: float

    def __post_init__(self) -> None:
        """Refuse plans that never wait, shrink, or retry forever."""
        if not 0 < self.first <= self.longest or self.factor < 1 or self.budget < 0:
            raise BlobStoreError(f"unusable retry plan {self}")

    def next_pause(self, attempts: int, elapsed: float) -> Optional[float]:
        """The pause after `attempts` failed attempts, or None if the next attempt would start beyond the budget."""
        pause = min(self.first * self.factor ** max(attempts - 1, 0), self.longest)
        return pause if elapsed + pause <= self.budget else None


class BlobStore:
    """Blobs on local disk as `folder/period_NNNNNN/<sha256>/<name>`, with `<sha256>.cid`: the id IPFS gave it."""

    def __init__(self, folder: Path, keep_periods: int) -> None:
        """Keep the blobs of the last `keep_periods` periods (at least the current one)."""
        if keep_periods < 1:
            raise BlobStoreError(f"keep_periods must be at least 1, not {keep_periods}")
        self.folder = folder
        self.keep_periods = keep_periods

    def keep(self, period: int, name: str, blob: bytes) -> str:
        """Save a copy of `blob` (published as `name`) for `period`, atomically; return its digest."""
        digest = sha256_hex(blob)
        path = self._period_folder(period) / digest / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(name + PARTIAL_SUFFIX)
            partial.write_bytes(blob)
            os.replace(partial, path)
        return digest

    def remember_cid(self, period: int, digest: str, cid: str) -> None:
        """Note the content id IPFS gave the blob with `digest` (to unpin it later)."""
        path = self._period_folder(period) / f"{digest}{CID_SUFFIX}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(cid)

    def find(self, digest: str) -> Optional[Tuple[str, bytes]]:
        """The name and bytes of the kept blob with `digest`, if any (a damaged copy counts as none)."""
        for path in self.folder.glob(f"period_*/{digest}/*"):
            if path.suffix == PARTIAL_SUFFIX:
                continue
            blob = path.read_bytes()
            if sha256_hex(blob) == digest:
                return path.name, blob
        return None

    def expired(self, current_period: int, last_accepted_period: int) -> Dict[int, List[str]]:
        """The periods older than the last `keep_periods`, each with the content ids its blobs had on IPFS; the
        period of the last accepted model never expires (agents that missed rounds open its envelopes)."""
        oldest_kept = current_period - self.keep_periods + 1
        return {
            period: sorted(path.read_text().strip() for path in folder.glob(f"*{CID_SUFFIX}"))
            for period, folder in self._periods()
            if period < oldest_kept and period != last_accepted_period
        }

    def drop(self, period: int) -> None:
        """Delete the copies of `period` (once IPFS no longer pins them)."""
        shutil.rmtree(self._period_folder(period), ignore_errors=True)

    def periods(self) -> List[int]:
        """The periods that have kept blobs, oldest first."""
        return [period for period, _folder in self._periods()]

    def _periods(self) -> List[Tuple[int, Path]]:
        """(period, folder) of every period folder, oldest first."""
        if not self.folder.exists():
            return []
        found = []
        for folder in self.folder.iterdir():
            match = PERIOD_FOLDER.match(folder.name)
            if match and folder.is_dir():
                found.append((int(match.group(1)), folder))
        return sorted(found)

    def _period_folder(self, period: int) -> Path:
        """Where the blobs of `period` go."""
        if period < 0:
            raise BlobStoreError(f"no period {period}")
        return self.folder / f"period_{period:06d}"
