"""Steps and flows that run under Prefect when a Prefect server orchestrates, in-process otherwise.

A step is a Prefect task inside a Prefect flow run (a task run on the server, its retries Prefect's)
and a plain call with the same retry policy outside one. ``zonestats run`` without a Prefect API
runs the nightly flow's body directly: a throwaway ephemeral server would cost ≈ 12–25 s a run
and its records die with it, while the ledger, the quality report and the summary say everything
an operator needs. With ``PREFECT_API_URL`` set (a worker, or an operator pointing at the
province's server) the very same code runs as flow and task runs.
"""

from __future__ import annotations

import contextvars
import logging
import os
import sys
import time
import tomllib
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

LOG = logging.getLogger("zonestats")
# the id of a run without Prefect, in the ledger's flow_run_id as a flow run's would be
_LOCAL_RUN: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "zonestats_run", default=None
)


def in_prefect_run() -> bool:
    """True inside a Prefect flow or task run (then steps are task runs)."""
    if "prefect.context" not in sys.modules:  # no run without Prefect imported: spare the import
        return False
    from prefect.context import FlowRunContext, TaskRunContext

    return FlowRunContext.get() is not None or TaskRunContext.get() is not None


def prefect_api_configured(env: Mapping[str, str] | None = None) -> bool:
    """True when a Prefect API is configured (environment or active profile) for runs to report to.

    Read without importing Prefect (seconds): ``PREFECT_API_URL`` in the environment, else in the
    active profile of ``$PREFECT_PROFILES_PATH`` (default ``$PREFECT_HOME/profiles.toml``).
    """
    env = os.environ if env is None else env
    if env.get("PREFECT_API_URL"):
        return True
    if "prefect.settings" in sys.modules and env is os.environ:  # loaded already: ask Prefect
        from prefect.settings import PREFECT_API_URL

        return bool(PREFECT_API_URL.value())
    home = Path(env.get("PREFECT_HOME") or "~/.prefect").expanduser()
    path = Path(env.get("PREFECT_PROFILES_PATH") or home / "profiles.toml").expanduser()
    try:
        profiles = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return False
    name = env.get("PREFECT_PROFILE") or profiles.get("active") or "ephemeral"
    return bool(profiles.get("profiles", {}).get(name, {}).get("PREFECT_API_URL"))


def current_run_id() -> str | None:
    """The Prefect flow run's id, or the id of this run without Prefect (None: neither)."""
    if in_prefect_run():
        from prefect.runtime import flow_run

        return str(flow_run.id) if flow_run.id else None
    return _LOCAL_RUN.get()


def run_logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    """The Prefect run logger inside a run, the zonestats logger outside one."""
    if in_prefect_run():
        from prefect import get_run_logger

        try:
            return get_run_logger()
        except Exception:  # a thread without the run's context
            return LOG
    return LOG


class Step(Generic[P, R]):
    """One step of a flow: a Prefect task in a Prefect run, a plain call (same retries) outside."""

    def __init__(
        self,
        fn: Callable[P, R],
        *,
        name: str,
        retries: int = 0,
        retry_delay_seconds: float = 0,
        retry_on: Callable[[BaseException], bool] | None = None,
        task_run_name: str | None = None,
    ) -> None:
        self.fn = fn
        self.name = name
        self.retries = retries
        self.retry_delay_seconds = retry_delay_seconds
        self.retry_on = retry_on
        self.task_run_name = task_run_name
        self._task: Any = None
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn

    @property
    def task(self) -> Any:
        """The Prefect task of this step (made on first use: importing Prefect costs seconds)."""
        if self._task is None:
            from prefect import task
            from prefect.cache_policies import NO_CACHE

            retry_on = self.retry_on

            def condition(_task: object, _run: object, state: Any) -> bool:
                try:
                    state.result()
                except Exception as exc:
                    return retry_on is not None and retry_on(exc)
                return False

            options: dict[str, Any] = {
                "name": self.name,
                "cache_policy": NO_CACHE,
                "retries": self.retries,
                "retry_delay_seconds": self.retry_delay_seconds,
            }
            if retry_on is not None:
                options["retry_condition_fn"] = condition
            if self.task_run_name is not None:
                options["task_run_name"] = self.task_run_name
            self._task = task(**options)(self.fn)
        return self._task

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        if in_prefect_run():
            result: R = self.task(*args, **kwargs)
            return result
        attempt = 0
        while True:
            try:
                return self.fn(*args, **kwargs)
            except Exception as exc:
                if attempt >= self.retries or self.retry_on is None or not self.retry_on(exc):
                    raise
                attempt += 1
                LOG.warning(
                    "%s failed (%s), retry %d of %d in %ss",
                    self.name,
                    type(exc).__name__,
                    attempt,
                    self.retries,
                    self.retry_delay_seconds,
                )
                time.sleep(self.retry_delay_seconds)


def step(
    *,
    name: str,
    retries: int = 0,
    retry_delay_seconds: float = 0,
    retry_on: Callable[[BaseException], bool] | None = None,
    task_run_name: str | None = None,
) -> Callable[[Callable[P, R]], Step[P, R]]:
    """Declare a function a step of the flows (see Step)."""

    def make(fn: Callable[P, R]) -> Step[P, R]:
        return Step(
            fn,
            name=name,
            retries=retries,
            retry_delay_seconds=retry_delay_seconds,
            retry_on=retry_on,
            task_run_name=task_run_name,
        )

    return make


@dataclass(frozen=True)
class FlowResult:
    """How a flow ended: its return value, or the exception that ended it."""

    value: Any = None
    error: BaseException | None = None


def run_flow(flow: Any, orchestrated: bool, **params: Any) -> FlowResult:
    """Run a flow as a Prefect flow run (``orchestrated``) or its body in this process."""
    if orchestrated:
        state = flow(**params, return_state=True)
        if state.is_completed():
            return FlowResult(value=state.result())
        return FlowResult(error=state.result(raise_on_failure=False))
    token = _LOCAL_RUN.set(str(uuid.uuid4()))
    try:
        # a Prefect flow's body, or a body function itself (spares importing Prefect)
        return FlowResult(value=getattr(flow, "fn", flow)(**params))
    except Exception as exc:
        return FlowResult(error=exc)
    finally:
        _LOCAL_RUN.reset(token)


def log_to_stderr(level: int = logging.INFO) -> None:
    """Show the zonestats log on stderr, as Prefect shows a run's log, for a run without Prefect."""
    if any(getattr(h, "_zonestats", False) for h in LOG.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s.%(msecs)03d | %(levelname)-7s | %(message)s", "%H:%M:%S")
    )
    handler._zonestats = True  # type: ignore[attr-defined]
    LOG.addHandler(handler)
    LOG.setLevel(level)
    LOG.propagate = False
