"""The credential boundary every driver error leaves through.

``Driver.__init_subclass__`` (``base.py``) wraps each subclass's
``BOUNDARY_METHODS`` with ``guarded``, so whatever leaves a driver (the stream's
iteration included) is a ``DriverError`` whose text went through
``scrub.scrub`` with every credential of its config, and any other exception
(bar a bare ``TimeoutError`` and cancellation) becomes a generic
``DriverError`` naming only its type. Errors leave without their chained
exception, so no traceback, log line or Celery result shows raw upstream text.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx

from providers.drivers.config import DriverConfig
from providers.drivers.errors import DriverError, error_from_exception
from providers.drivers.scrub import scrub, secret_values
from providers.http import OutboundBlocked

if TYPE_CHECKING:
    from providers.drivers.base import Driver

logger = logging.getLogger(__name__)

# The driver methods every error leaves through: the credential boundary.
BOUNDARY_METHODS = (
    "chat",
    "chat_stream",
    "embed",
    "rerank",
    "list_models",
    "health_check",
)


def contain(exc: Exception, cfg: DriverConfig, vendor: str) -> DriverError:
    """``exc`` as a DriverError safe to show, log or store: every credential scrubbed.

    An unexpected exception's own text is never used (it may quote headers); it
    is logged scrubbed, and the caller gets only its type.
    """
    secrets = secret_values(cfg)
    if not isinstance(exc, (DriverError, httpx.HTTPError, OutboundBlocked)):
        logger.warning(
            "%s driver raised %s: %s",
            vendor,
            type(exc).__name__,
            scrub(str(exc), secrets),
        )
    # One mapping for every exception (error_from_exception names only the type
    # of one it does not know), then one scrub for every message.
    err = error_from_exception(exc, vendor)
    err.message = scrub(str(err.message), secrets)
    err.args = (err.message,)
    if isinstance(err.param, str):
        err.param = scrub(err.param, secrets)
    # Raised without its chain: a chained httpx/botocore exception's text could
    # reach a log or a task result's traceback.
    err.__cause__ = None
    err.__context__ = None
    err.__suppress_context__ = True
    return err


def _passes(exc: BaseException) -> bool:
    # A bare TimeoutError is the caller's own deadline (asyncio.timeout); the
    # gateway and the health check handle it themselves.
    return type(exc) is TimeoutError


def guarded(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` (a driver's boundary method) with every error contained."""
    if getattr(fn, "__credential_boundary__", False):
        return fn
    if name == "chat_stream":

        @functools.wraps(fn)
        async def stream(self: Driver, *args: Any, **kwargs: Any) -> Any:
            failure: DriverError | None = None
            chunks = None
            try:
                chunks = fn(self, *args, **kwargs)
                async for chunk in chunks:
                    yield chunk
            except Exception as exc:
                if _passes(exc):
                    raise
                failure = contain(exc, self.config, self.vendor)
            finally:
                aclose = getattr(chunks, "aclose", None)
                if aclose is not None:
                    await aclose()
            if failure is not None:
                raise failure

        wrapper: Any = stream
    else:

        @functools.wraps(fn)
        async def call(self: Driver, *args: Any, **kwargs: Any) -> Any:
            try:
                return await fn(self, *args, **kwargs)
            except Exception as exc:
                if _passes(exc):
                    raise
                failure = contain(exc, self.config, self.vendor)
            raise failure

        wrapper = call
    wrapper.__credential_boundary__ = True
    return wrapper  # type: ignore[no-any-return]  # Any only to carry the mark; a function either way
