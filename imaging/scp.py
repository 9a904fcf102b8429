"""The DICOM C-STORE receiver (Storage SCP, PS3.4 Annex B; DIMSE PS3.7 9.1.1), with pynetdicom.

Started by ``evk serve`` when EVK_DICOM_PORT is set. Senders are known: a calling AE title must
be registered in EVK_DICOM_SENDERS with the SMART client (``evk clients add``, role hospital)
whose organisation it sends for, or the association is rejected (unless EVK_DICOM_OPEN=1,
which stores unknown senders' instances without an organisation). That organisation becomes the
study's submitter, exactly as a STOW-RS client's would. Each received instance goes through the
ingest pipeline at once and its C-STORE status says how it went (0x0000, or the same Failure
Reason a STOW-RS response would carry, with the reason in Error Comment). The FHIR link of the
studies an association touched is made once when the association ends, so a 500-image series
writes its ImagingStudy once rather than 500 times.
"""
from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections import defaultdict

from pydicom.dataset import Dataset
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
from pynetdicom.sop_class import Verification
from pynetdicom.transport import ThreadedAssociationServer

from sqlalchemy import select

from imaging.archive import Archive
from imaging.errors import REASON_TEXT
from imaging.ingest import Submitter, store_instance

log = logging.getLogger("evk.imaging.scp")
NOT_AUTHORIZED = 0x0124      # PS3.7 C.4.2.1.5 "Refused: Not Authorized"


class _NoDelayServer(ThreadedAssociationServer):
    """Disable Nagle on accepted connections: C-STORE responses are small, and waiting to
    coalesce them costs the sender tens of milliseconds per instance."""

    def get_request(self):  # noqa: ANN201
        client, address = super().get_request()
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return client, address

    def shutdown(self) -> None:
        # pynetdicom's shutdown also unregisters the server from AE.start_server's list, which
        # a server made with AE.make_server was never put on.
        with contextlib.suppress(ValueError):
            super().shutdown()


class StorageReceiver:
    def __init__(self, archive: Archive, *, host: str | None = None, port: int | None = None,
                 ae_title: str | None = None):
        s = archive.settings
        self.archive = archive
        self.address = (host or s.dicom_host, s.dicom_port if port is None else port)
        self.ae_title = ae_title or s.dicom_ae
        self._studies: dict[int, set[str]] = defaultdict(set)
        self._senders: dict[int, Submitter | None] = {}
        self._lock = threading.Lock()
        self._server: ThreadedAssociationServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return self._server.server_address[1]

    def start(self) -> StorageReceiver:
        ae = AE(ae_title=self.ae_title)
        for context in AllStoragePresentationContexts:
            ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)
        ae.add_supported_context(Verification)
        if not self.archive.settings.dicom_open:
            # Unknown senders are rejected at association (A-ASSOCIATE-RJ, calling AE not recognised).
            ae.require_calling_aet = sorted(self.archive.settings.dicom_senders) or ["-NO SENDERS-"]
        handlers = [(evt.EVT_C_STORE, self._on_store), (evt.EVT_CONN_CLOSE, self._on_close)]
        self._server = ae.make_server(self.address, evt_handlers=handlers, server_class=_NoDelayServer)
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"dicom-scp:{self.port}",
                                        daemon=True)
        self._thread.start()
        log.info("C-STORE receiver %s listening on %s:%s", self.ae_title, self.address[0], self.port)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def sender(self, calling: str) -> Submitter | None:
        """Who a calling AE title sends for; None if it may not store."""
        client_id = self.archive.settings.dicom_senders.get(calling)
        if client_id is None:
            return Submitter(f"C-STORE from unregistered AE {calling}") if self.archive.settings.dicom_open else None
        from ehr_core.access.schema import client
        with self.archive.reading() as conn:
            row = conn.execute(select(client.c.organization_id, client.c.role, client.c.active)
                               .where(client.c.client_id == client_id)).first()
        if row is None or not row.active or row.role != "hospital":
            log.warning("AE %s is registered for client %s, which is not an active hospital client", calling,
                        client_id)
            return None
        return Submitter(f"C-STORE from AE {calling} (client {client_id} of Organization/{row.organization_id})",
                         row.organization_id, client_id)

    def _on_store(self, event: evt.Event) -> int | Dataset:
        calling = event.assoc.requestor.ae_title
        with self._lock:
            if id(event.assoc) not in self._senders:
                self._senders[id(event.assoc)] = self.sender(calling)
            submitter = self._senders[id(event.assoc)]
        if submitter is None:
            status = Dataset()
            status.Status = NOT_AUTHORIZED
            status.ErrorComment = f"AE {calling} is not a registered sender"[:64]
            return status
        data = event.encoded_dataset(include_meta=True)
        outcome = store_instance(self.archive, data, f"C-STORE from {calling}", submitter)
        if outcome.ok:
            with self._lock:
                self._studies[id(event.assoc)].add(outcome.study_uid)
            return 0x0000
        status = Dataset()
        status.Status = outcome.reason or 0x0110
        status.ErrorComment = REASON_TEXT.get(status.Status, "refused")   # LO: 64 characters; details in the log
        return status

    def _on_close(self, event: evt.Event) -> None:
        with self._lock:
            studies = self._studies.pop(id(event.assoc), set())
            self._senders.pop(id(event.assoc), None)
        if studies:
            from imaging.fhir_link import link_studies
            problems = link_studies(self.archive, studies)
            for uid, why in problems.items():
                log.warning("study %s received over C-STORE is not yet linked: %s", uid, why)


def start_configured(archive: Archive) -> StorageReceiver | None:
    """For ``evk serve``: start the receiver if EVK_DICOM_PORT is set, else do nothing."""
    if not archive.settings.dicom_port:
        return None
    return StorageReceiver(archive).start()
