"""The web dashboard (the ``web`` extra: Starlette, Jinja2, uvicorn; htmx ships in the
package): :func:`create_app` returns an ASGI application, ``trigger-compat dashboard``
serves it."""

from __future__ import annotations

from .app import create_app

__all__ = ["create_app"]
