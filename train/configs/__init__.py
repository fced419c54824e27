"""Task configurations: one ``get_config()`` per file, all derived from ``defaults``."""
