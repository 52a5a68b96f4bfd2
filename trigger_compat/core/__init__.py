"""The pure core: models, validation and SQL text. Nothing in here performs I/O on a database."""
