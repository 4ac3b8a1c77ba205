"""MaskWatch's REST service (FastAPI). The ASGI app is `app.main:app`."""
__version__ = "0.2.0"
