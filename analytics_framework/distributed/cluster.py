"""Joining a Ray cluster (Ray Core), with one-line errors for what users get wrong.

Ray is an optional extra (``uv sync --extra ray``); nothing here imports it before a command asks
for ``--executor ray``. Tasks run the project's own code on every node, so each node needs the
same install (docs/scale-out.md).
"""

from __future__ import annotations

import os
from typing import Any

from analytics_framework.errors import ConfigurationError, ServiceError

FORWARDED_PREFIXES = ("ANALYTICS_TEST_",)
"""Environment variables sent to the tasks (the test-only crash hook, :mod:`faults`): a task's
settings travel as an object, credentials come from each node's own environment."""


def import_ray() -> Any:
    """Return the ``ray`` module.

    Raises:
        ConfigurationError: Ray is not installed (it is an optional extra).
    """
    # Ray's own hook for drivers started by 'uv run' would package this folder and start every
    # worker with 'uv run' (which syncs, from the network, on each node); tasks use the
    # environment installed on the nodes instead. The switch is read when ray is imported.
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    try:
        import ray
    except ImportError:
        raise ConfigurationError(
            "--executor ray needs Ray, which is not installed",
            "install it with 'uv sync --extra ray' (or pip install 'conversation-analytics[ray]')",
        ) from None
    return ray


def init_ray(address: str) -> Any:
    """Connect this process to the Ray cluster at ``address`` and return ``ray``.

    Args:
        address: ``auto`` (the cluster this machine belongs to, started by ``ray start``),
            ``host:port`` of a head node's GCS, or ``ray://host:10001`` (Ray Client).

    Raises:
        ConfigurationError: Ray is not installed.
        ServiceError: no cluster answers at ``address``.
    """
    ray = import_ray()
    if ray.is_initialized():
        return ray
    _probe(address)
    env = {k: v for k, v in os.environ.items() if k.startswith(FORWARDED_PREFIXES)}
    try:
        ray.init(
            address=address,
            logging_level="ERROR",
            log_to_driver=False,
            configure_logging=False,
            runtime_env={"env_vars": env} if env else None,
        )
    except Exception as exc:  # ray raises ConnectionError, RuntimeError or its own types
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ServiceError(
            f"cannot join the Ray cluster at {address!r}: {first}",
            "start one with 'ray start --head' (then --ray-address auto), or pass the head's "
            "address with --ray-address host:6379 or ray://host:10001",
        ) from None
    return ray


def _probe(address: str) -> None:
    """Refuse at once a ``host:port`` (or ``ray://host:port``) where nothing listens.

    ``ray.init`` would retry such an address for minutes; ``auto`` is left to Ray, which fails
    at once when this machine has joined no cluster.

    Raises:
        ServiceError: the address does not parse, or nothing accepts a connection there.
    """
    import socket

    if address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    fix = (
        "start one with 'ray start --head' (then --ray-address auto), or pass the head's "
        "address with --ray-address host:6379 or ray://host:10001"
    )
    if not host or not port.isdigit():
        raise ServiceError(f"--ray-address {address!r} is not host:port", fix)
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as exc:
        raise ServiceError(
            f"cannot join the Ray cluster at {address!r}: {exc.strerror or exc}", fix
        ) from None


def task_error(exc: BaseException) -> str:
    """One line for a task that failed for good: the cause's message and fix, or what died."""
    from analytics_framework.errors import AnalyticsError

    cause = getattr(exc, "cause", None) or exc
    if isinstance(cause, AnalyticsError):
        return cause.one_line()
    name = type(cause).__name__
    if "WorkerCrashed" in name or "NodeDied" in name or "ActorDied" in name:
        return "the worker process running it died on every attempt"
    first = (str(cause).strip().splitlines() or [name])[-1]
    return f"{name}: {first}"
