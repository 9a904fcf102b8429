"""ASGI entry point for multi-worker serving (``uvicorn ehr_core.asgi:app``)."""
from ehr_core import heap
from ehr_core.api import create_app
from ehr_core.service import Service
from ehr_core.storage.checkpoint import start_checkpointer

service = Service.from_settings()
start_checkpointer(service.engine)   # each worker checkpoints; SQLite serialises them
app = create_app(service)
heap.settle(service)                 # the audit process started, the start-up heap frozen
