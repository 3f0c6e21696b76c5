"""Reading and writing the state document (:mod:`analytics_framework.state`) atomically.

Locally the document is written to a temporary file beside it, fsynced, then renamed over the
old one, so a crash leaves either the old or the new state, never a torn file. A document that
cannot be read or parsed stops the run with its path and the fix; it is never silently replaced
by a fresh start.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from pathlib import Path

from analytics_framework.errors import FatalError, LakeError
from analytics_framework.state import State, StateFormatError, new_state, validate


def default_state_path(state_dir: str, pipeline: str) -> Path:
    """``<state_dir>/<pipeline>.json``, the pipeline name made safe for a file name."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", pipeline) or "pipeline"
    return Path(state_dir) / f"{safe}.json"


class CorruptStateError(FatalError):
    """The state file exists but cannot be used."""


class StateStore:
    """The state document of one pipeline at a local path.

    Args:
        path: the JSON file (created on first save).
        pipeline: the pipeline's name, for a new document.
    """

    def __init__(self, path: Path, pipeline: str) -> None:
        self.path = Path(path)
        self.pipeline = pipeline

    def load(self) -> State:
        """Return the stored state, or a new one when the file does not exist.

        Raises:
            CorruptStateError: the file is unreadable, not JSON, or not a state document.
        """
        if not self.path.exists():
            return new_state(self.pipeline)
        fix = (
            f"inspect it with 'analytics state show --state-file {self.path}', or start over "
            f"with 'analytics state reset --state-file {self.path} --yes'"
        )
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
            return validate(doc)
        except OSError as exc:
            raise CorruptStateError(
                f"cannot read state file {self.path}: {exc.strerror}", fix
            ) from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CorruptStateError(
                f"state file {self.path} is not valid JSON ({exc})", fix
            ) from None
        except StateFormatError as exc:
            raise CorruptStateError(f"state file {self.path} is not usable: {exc}", fix) from None

    def save(self, state: State) -> None:
        """Write ``state`` atomically and durably.

        Raises:
            LakeError: the state folder is not writable.
        """
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex}.tmp")
            with tmp.open("w", encoding="utf-8") as fh:
                json.dump(state, fh, indent=1, sort_keys=True, default=str)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            raise LakeError(
                f"cannot write state file {self.path}: {exc.strerror}",
                "check that the state folder is writable (--state-file)",
            ) from None

    def reset(self) -> bool:
        """Delete the state file; returns whether there was one."""
        if self.path.exists():
            self.path.unlink()
            return True
        return False
