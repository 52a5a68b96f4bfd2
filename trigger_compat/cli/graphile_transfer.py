"""``trigger-compat graphile import|export``."""

from __future__ import annotations
