"""Route groups: ``api`` (JSON under /api), ``subsonic`` (OpenSubsonic under /rest), ``page`` (the web page)."""
