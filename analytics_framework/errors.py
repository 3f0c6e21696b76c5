"""Errors, grouped by how a user or the pipeline recovers from them.

The tree::

    AnalyticsError                  base; carries a message and the fix, one line each
    ├── ConfigurationError          a bad setting or option: fix it and re-run      (exit 2)
    │   ├── UnknownNameError        an unknown source / report / provider name       (exit 2)
    │   └── InputNotFoundError      an input path that does not exist or is unreadable (exit 2)
    ├── InputError                  the input itself is unusable (empty, wrong format) (exit 1)
    ├── LakeError                   the lake cannot be read or written                (exit 1)
    ├── RetriableError              a transient failure; retry loops catch only these (exit 1)
    │   └── TransientError          429, 5xx, timeout, connection; ``retry_after`` a floor
    │       └── RateLimitedError    HTTP 429: every worker of the service pauses
    ├── LockHeldError               another run of the pipeline holds its lock        (exit 75)
    ├── RunStoppedError             Ctrl-C / SIGTERM stopped the run cleanly          (exit 130)
    └── FatalError                  anything else that stops a run                    (exit 1)
        └── ServiceError            a service answered in a way retrying cannot fix
            └── ServiceAuthError    401/403, or a login page: the token or cookie is wrong

A malformed *record* inside a good file is not an exception: sources route it to the
quarantine (``<lake>/_rejected/``) with a reason and count it (see
:class:`analytics_framework.sources.base.Source`).

Only the CLI turns these into words on stderr (``analytics_cli.app``); the framework raises them
with enough context (file, setting, record) for that one line to name the problem and the fix.
"""

from __future__ import annotations


class AnalyticsError(Exception):
    """Base of every error the framework raises on purpose.

    Args:
        message: what went wrong, naming the file / setting / record.
        fix: what the user should do about it.
    """

    exit_code: int = 1

    def __init__(self, message: str, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def one_line(self) -> str:
        """Return ``message`` and ``fix`` joined into a single line for stderr."""
        text = " ".join(self.message.split())
        if self.fix:
            text = f"{text} — {' '.join(self.fix.split())}"
        return text


class ConfigurationError(AnalyticsError):
    """A setting, option or argument is invalid; nothing ran."""

    exit_code = 2


class UnknownNameError(ConfigurationError):
    """A name (source, report, provider) is not in its registry."""


class InputNotFoundError(ConfigurationError):
    """An input path does not exist or cannot be read."""


class InputError(AnalyticsError):
    """The input exists but cannot be used as a whole (empty, wrong format, missing columns)."""


class LakeError(AnalyticsError):
    """The lake cannot be read or written (permissions, disk, missing data)."""


class RetriableError(AnalyticsError):
    """A transient failure (timeout, 429, 5xx); retry loops catch only this class."""


class TransientError(RetriableError):
    """A failure worth retrying (5xx, timeout, connection); ``retry_after`` is a floor, if given.

    Args:
        message: what failed (naming the URL or provider, never a secret).
        retry_after: the seconds the server asked to wait, or None.
        fix: what to do if retries run out.
    """

    def __init__(
        self, message: str, retry_after: float | None = None, fix: str | None = None
    ) -> None:
        super().__init__(message, fix)
        self.retry_after = retry_after


class RateLimitedError(TransientError):
    """HTTP 429: the service's rate limit; every worker pauses for ``retry_after``."""


class LockHeldError(AnalyticsError):
    """Another run of the same pipeline holds its lock (exit 75, ``EX_TEMPFAIL``: try later)."""

    exit_code = 75


class RunStoppedError(AnalyticsError):
    """A run was asked to stop (Ctrl-C, SIGTERM) and stopped after a durable commit (exit 130)."""

    exit_code = 130


class FatalError(AnalyticsError):
    """Any other failure that stops the run."""


class ServiceError(FatalError):
    """A service answered in a way retrying cannot fix: 400/404, a body that is not JSON."""


class ServiceAuthError(ServiceError):
    """The service refused the credentials (401/403, or redirected to a login page)."""
