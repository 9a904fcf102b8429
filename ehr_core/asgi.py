"""ASGI entry point for multi-worker serving (``uvicorn ehr_core.asgi:app``)."""
from ehr_core.api import create_app

app = create_app()
