"""The saved view of a run: the static, sanitized HTML snapshot (``snapshot``) that a notebook
keeps once the run is over, readable with no kernel and no script."""
