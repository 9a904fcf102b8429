"""HTTP edge of the imaging index: DICOMweb under /dicomweb, administration under /dicomweb-admin,
and a study's reports under /imaging.

Each route unpacks the request, authenticates it and asks imaging/access.py once (the FHIR
core's guard decides and audits: a guarded read of the study's ImagingStudy, or the guard's
search narrowing for QIDO), makes one call into imaging/dicomweb/*, and serialises. Errors map
to HTTP in one place (``errors.HTTP_STATUS``; authentication and access refusals answer with the
FHIR OperationOutcome, 401 with WWW-Authenticate).
"""
from __future__ import annotations

import functools
import inspect
from collections.abc import Callable

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from ehr_core.service import Service
from imaging import index
from ehr_core.auth.principal import Principal
from imaging import access
from imaging.access import AccessRefused
from imaging.archive import Archive
from imaging.dicomweb import qido, stow, wado
from imaging.dicomweb.urls import Urls
from imaging.errors import HTTP_STATUS, BadRequest, ImagingError, NotFound
from imaging.render import RenderOptions

DICOM_JSON = "application/dicom+json"


def router(service: Service, archive: Archive | None = None) -> APIRouter:
    archive = archive or Archive.from_service(service)
    urls = Urls(archive.settings.dicomweb_base)
    r = APIRouter()

    def principal_from(request: Request) -> Principal:
        return access.principal_from(service, request)

    def study_row(p: Principal, study: str):  # noqa: ANN202
        with archive.reading() as conn:
            try:
                row = index.study(conn, study)
            except NotFound:
                raise access.not_found(study) from None      # the same answer as "not entitled"
        access.authorise_study(service, p, row)
        return row

    def instance_rows(p: Principal, study: str, series: str | None = None, sop: str | None = None) -> list:
        study_row(p, study)
        with archive.reading() as conn:
            return index.instances(conn, study, series, sop)

    # --- STOW-RS (PS3.18 10.5) -------------------------------------------------------------
    async def _stow(request: Request, study: str | None) -> Response:
        p = principal_from(request)
        access.require_store(p)
        body = await _body(request, service.settings.max_body_bytes)
        result = await run_in_threadpool(stow.store, archive, body, request.headers.get("content-type", ""), urls,
                                         access.submitter(p), study_uid=study)
        return _json(result.body, result.status, warnings=result.warnings)

    @r.post("/dicomweb/studies")
    @_mapped
    async def stow_studies(request: Request) -> Response:
        return await _stow(request, None)

    @r.post("/dicomweb/studies/{study}")
    @_mapped
    async def stow_study(request: Request, study: str) -> Response:
        return await _stow(request, study)

    # --- QIDO-RS (PS3.18 10.6) -------------------------------------------------------------
    def _qido(request: Request, level: str, study: str | None = None, series: str | None = None) -> Response:
        p = principal_from(request)
        q = qido.parse_query(level, list(request.query_params.multi_items()))
        if study:
            study_row(p, study)                 # decided (and audited) as a read of the study
            with archive.reading() as conn:
                result = qido.search(conn, q, urls, archive.headers, study_uid=study, series_uid=series)
        else:
            def run(conn, where):  # noqa: ANN001, ANN202
                found = qido.search(conn, q, urls, archive.headers, where=where)
                return found, found.studies
            result = access.narrowed_search(service, p, run)
        return _json(result.matches, warnings=result.warnings)

    @r.get("/dicomweb/studies")
    @_mapped
    def search_studies(request: Request) -> Response:
        return _qido(request, "study")

    @r.get("/dicomweb/series")
    @_mapped
    def search_series(request: Request) -> Response:
        return _qido(request, "series")

    @r.get("/dicomweb/instances")
    @_mapped
    def search_instances(request: Request) -> Response:
        return _qido(request, "instance")

    @r.get("/dicomweb/studies/{study}/series")
    @_mapped
    def search_study_series(request: Request, study: str) -> Response:
        return _qido(request, "series", study)

    @r.get("/dicomweb/studies/{study}/instances")
    @_mapped
    def search_study_instances(request: Request, study: str) -> Response:
        return _qido(request, "instance", study)

    @r.get("/dicomweb/studies/{study}/series/{series}/instances")
    @_mapped
    def search_series_instances(request: Request, study: str, series: str) -> Response:
        return _qido(request, "instance", study, series)

    # --- WADO-RS (PS3.18 10.4) -------------------------------------------------------------
    def _retrieve(request: Request, study: str, series: str | None = None, sop: str | None = None) -> Response:
        rows = instance_rows(principal_from(request), study, series, sop)
        answer = wado.retrieve(archive, rows, request.headers.get("accept", ""))
        return StreamingResponse(answer.parts, media_type=answer.content_type)

    def _metadata(request: Request, study: str, series: str | None = None, sop: str | None = None) -> Response:
        rows = instance_rows(principal_from(request), study, series, sop)
        return Response(wado.metadata(archive, rows, urls), media_type=DICOM_JSON)

    @r.get("/dicomweb/studies/{study}")
    @_mapped
    def retrieve_study(request: Request, study: str) -> Response:
        return _retrieve(request, study)

    @r.get("/dicomweb/studies/{study}/series/{series}")
    @_mapped
    def retrieve_series(request: Request, study: str, series: str) -> Response:
        return _retrieve(request, study, series)

    @r.get("/dicomweb/studies/{study}/series/{series}/instances/{sop}")
    @_mapped
    def retrieve_instance(request: Request, study: str, series: str, sop: str) -> Response:
        return _retrieve(request, study, series, sop)

    @r.get("/dicomweb/studies/{study}/metadata")
    @_mapped
    def study_metadata(request: Request, study: str) -> Response:
        return _metadata(request, study)

    @r.get("/dicomweb/studies/{study}/series/{series}/metadata")
    @_mapped
    def series_metadata(request: Request, study: str, series: str) -> Response:
        return _metadata(request, study, series)

    @r.get("/dicomweb/studies/{study}/series/{series}/instances/{sop}/metadata")
    @_mapped
    def instance_metadata(request: Request, study: str, series: str, sop: str) -> Response:
        return _metadata(request, study, series, sop)

    @r.get("/dicomweb/studies/{study}/series/{series}/instances/{sop}/frames/{frames}")
    @_mapped
    def retrieve_frames(request: Request, study: str, series: str, sop: str, frames: str) -> Response:
        numbers = wado.frame_numbers(frames)
        row = instance_rows(principal_from(request), study, series, sop)[0]
        answer = wado.frames(archive, row, numbers, request.headers.get("accept", ""))
        return StreamingResponse(answer.parts, media_type=answer.content_type)

    @r.get("/dicomweb/studies/{study}/series/{series}/instances/{sop}/bulk/{tag}")
    @_mapped
    def retrieve_bulk(request: Request, study: str, series: str, sop: str, tag: str) -> Response:
        row = instance_rows(principal_from(request), study, series, sop)[0]
        answer = wado.bulk(archive, row, tag)
        return StreamingResponse(answer.parts, media_type=answer.content_type)

    # --- rendered and thumbnail (PS3.18 10.4.1.1.3, 10.4.1.1.5) -------------------------------
    def _image(request: Request, rows: list, frame: int | None, thumbnail: bool) -> Response:
        images = [row for row in rows if row.rows is not None] or rows
        row = images[0] if frame is not None or len(images) == 1 else images[len(images) // 2]
        options = RenderOptions.from_request(dict(request.query_params), request.headers.get("accept", ""),
                                             thumbnail=thumbnail)
        return Response(wado.rendered(archive, row, frame or 1, options), media_type=options.media_type)

    @r.get("/dicomweb/studies/{study}/series/{series}/instances/{sop}/rendered")
    @_mapped
    def rendered_instance(request: Request, study: str, series: str, sop: str) -> Response:
        return _image(request, instance_rows(principal_from(request), study, series, sop), 1, False)

    @r.get("/dicomweb/studies/{study}/series/{series}/instances/{sop}/frames/{frames}/rendered")
    @_mapped
    def rendered_frame(request: Request, study: str, series: str, sop: str, frames: str) -> Response:
        numbers = wado.frame_numbers(frames)
        if len(numbers) != 1:
            raise BadRequest("rendered takes one frame number")
        return _image(request, instance_rows(principal_from(request), study, series, sop), numbers[0], False)

    @r.get("/dicomweb/studies/{study}/thumbnail")
    @_mapped
    def thumbnail_study(request: Request, study: str) -> Response:
        return _image(request, instance_rows(principal_from(request), study), None, True)

    @r.get("/dicomweb/studies/{study}/series/{series}/thumbnail")
    @_mapped
    def thumbnail_series(request: Request, study: str, series: str) -> Response:
        return _image(request, instance_rows(principal_from(request), study, series), None, True)

    @r.get("/dicomweb/studies/{study}/series/{series}/instances/{sop}/thumbnail")
    @_mapped
    def thumbnail_instance(request: Request, study: str, series: str, sop: str) -> Response:
        return _image(request, instance_rows(principal_from(request), study, series, sop), 1, True)

    @r.get("/dicomweb/studies/{study}/series/{series}/instances/{sop}/frames/{frames}/thumbnail")
    @_mapped
    def thumbnail_frame(request: Request, study: str, series: str, sop: str, frames: str) -> Response:
        numbers = wado.frame_numbers(frames)
        return _image(request, instance_rows(principal_from(request), study, series, sop), numbers[0], True)

    # --- reports shown with the study ------------------------------------------------------
    @r.get("/imaging/studies/{study}/reports")
    @_mapped
    def study_reports(request: Request, study: str) -> Response:
        from imaging.reports import reports_for_study
        p = principal_from(request)
        study_row(p, study)
        reports = reports_for_study(archive, study, p)
        bundle = {"resourceType": "Bundle", "type": "searchset", "total": len(reports),
                  "entry": [{"fullUrl": f"{service.settings.fhir_base}/DiagnosticReport/{rep['id']}",
                             "resource": rep, "search": {"mode": "match"}} for rep in reports]}
        return _json(bundle, media_type="application/fhir+json")

    # --- administration --------------------------------------------------------------------
    @r.get("/dicomweb-admin/reconciliation")
    @_mapped
    def reconciliation_list(request: Request) -> Response:
        from imaging.reconciliation import unmatched
        access.require_admin(service, principal_from(request))
        return _json(unmatched(archive), media_type="application/json")

    @r.post("/dicomweb-admin/reconciliation/{study}")
    @_mapped
    async def reconciliation_resolve(request: Request, study: str) -> Response:
        from imaging.reconciliation import patient_id_of, resolve
        p = principal_from(request)
        access.require_admin(service, p)
        try:
            body = orjson.loads(await _body(request, 64 * 1024) or b"{}")
        except orjson.JSONDecodeError:
            raise BadRequest("the body must be JSON: {\"patient\": \"Patient/<id>\"}") from None
        patient_id = patient_id_of(str(body.get("patient", "")) if isinstance(body, dict) else "")
        state = await run_in_threadpool(resolve, archive, study, patient_id, resolved_by=_who(p))
        with archive.reading() as conn:
            row = index.study(conn, study)
        return _json({"studyInstanceUID": study, "linkState": state, "patient": f"Patient/{row.fhir_patient}",
                      "imagingStudy": f"ImagingStudy/{row.fhir_study}" if row.fhir_study else None},
                     media_type="application/json")

    @r.post("/dicomweb-admin/relink")
    @_mapped
    def relink(request: Request) -> Response:
        from imaging.fhir_link import link_pending
        access.require_admin(service, principal_from(request))
        return _json({"problems": link_pending(archive)}, media_type="application/json")

    @r.get("/dicomweb-admin/health")
    @_mapped
    def health(request: Request) -> Response:
        access.require_admin(service, principal_from(request))
        status = archive.backend.health()
        return _json(status, 200 if status.get("ok") else 503, media_type="application/json")

    return r


def _json(body: object, status: int = 200, *, warnings: list[str] = (), media_type: str = DICOM_JSON) -> Response:
    headers = {"Warning": ", ".join(_warning(w) for w in warnings)} if warnings else None
    return Response(orjson.dumps(body), status_code=status, media_type=media_type, headers=headers)


def _warning(text: str) -> str:
    """PS3.18 8.5.1 / RFC 7234 5.5: ``299 <agent> "<text>"`` (header text must be Latin-1)."""
    clean = text.replace("\\", "\\\\").replace('"', "'").replace("\r", " ").replace("\n", " ")
    return f'299 evk "{clean.encode("latin-1", "replace").decode("latin-1")}"'


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _TooLarge(limit)
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise _TooLarge(limit)
    return bytes(body)


class _TooLarge(ImagingError):
    def __init__(self, limit: int):
        super().__init__(f"the body is over {limit} bytes; send fewer instances per request")


def _who(p: Principal) -> str:
    if p.practitioner_id:
        return f"Practitioner/{p.practitioner_id} ({p.name or p.subject})"
    if p.client_id:
        return f"client {p.client_id} of Organization/{p.organization_id}"
    return p.name or p.subject


def _error(exc: ImagingError) -> Response:
    if isinstance(exc, AccessRefused):
        return Response(orjson.dumps(exc.outcome), status_code=exc.status, headers=exc.headers,
                        media_type="application/fhir+json; charset=utf-8")
    status = 413 if isinstance(exc, _TooLarge) else next(
        (code for kind, code in HTTP_STATUS.items() if isinstance(exc, kind)), 500)
    return Response(orjson.dumps({"error": str(exc)}), status_code=status, media_type="application/json")


def _mapped(fn: Callable) -> Callable:
    """Turn ``ImagingError`` into its HTTP answer (one mapping for every route)."""
    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def run_async(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            try:
                return await fn(*args, **kwargs)
            except ImagingError as exc:
                return _error(exc)
        return run_async

    @functools.wraps(fn)
    def run(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        try:
            return fn(*args, **kwargs)
        except ImagingError as exc:
            return _error(exc)
    return run
