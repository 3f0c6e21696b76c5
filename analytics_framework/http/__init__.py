"""The one HTTP layer, shared by API sources and labelers.

- :mod:`~analytics_framework.http.limits`: :class:`RateLimiter`, one per service, shared by every
  worker thread;
- :mod:`~analytics_framework.http.retry`: :class:`RetryPolicy`, ``Retry-After`` parsing and the
  tenacity loop (only :class:`~analytics_framework.errors.RetriableError` is retried; a server's
  delay is a floor);
- :mod:`~analytics_framework.http.client`: :class:`HttpService`, an ``httpx`` client passed in
  (or made), credentials, timeouts, and one-line errors naming the URL and the fix.

Labelers send through their providers' SDKs, so they use the limiter and the retry loop but not
:class:`HttpService`.
"""

from analytics_framework.http.client import HttpService, excerpt
from analytics_framework.http.limits import RateLimiter
from analytics_framework.http.retry import RetryPolicy, retry_after_s, retrying

__all__ = ["HttpService", "RateLimiter", "RetryPolicy", "excerpt", "retry_after_s", "retrying"]
