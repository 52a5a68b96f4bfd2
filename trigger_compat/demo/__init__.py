"""Demo handlers and the ``trigger-compat demo`` command's helpers."""
