"""Settings and their defaults (``default.toml``, ``example.env``)."""
