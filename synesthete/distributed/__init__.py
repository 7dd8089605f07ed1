"""Running the engine past one machine: the Ray backend for ``scan`` (``ray_backend.py``)."""
