"""``trigger-compat graphile face install|uninstall``."""

from __future__ import annotations
