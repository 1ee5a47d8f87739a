"""PUT /api/internal/leads/{airtableId}: the lead sync upserts a lead's details."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import orjson
from litestar import Request, Response, put
from litestar.di import NamedDependency
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import PathParameter
from pydantic import BaseModel, Field, ValidationError, field_validator

from activitylog.contract.events import BODY_CONFIG, field_errors
from activitylog.contract.references import AIRTABLE_ID_PATTERN, is_airtable_id
from activitylog.storage import leads
from activitylog.storage.unit_of_work import move_history
from activitylog_api.auth import WRITE_LEADS
from activitylog_api.errors import ApiError, bad_request
from activitylog_api.openapi import KEY_ERRORS, error_responses, request_body
from activitylog_api.state import ApiServices
from activitylog_api.views import LeadSaved, lead_item

MAX_BODY_BYTES = 64 * 1024


class LeadDetails(BaseModel):
    """The body: any subset of the details; a field left out keeps its stored value."""

    model_config = BODY_CONFIG

    airtable_id: str | None = Field(default=None, description="optional; must match the path")
    client_id: uuid.UUID | None = None
    first_name: str | None = Field(default=None, max_length=200)
    last_name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=50)
    status: str | None = Field(default=None, max_length=100)

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("text may not contain NUL (\\u0000) characters")
        return value


def _parse(raw: bytes) -> LeadDetails:
    try:
        data = orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"the request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, f"the body must be a JSON object, not {type(data).__name__}")
    try:
        return LeadDetails.model_validate(data)
    except ValidationError as exc:
        faults = field_errors(exc)
        shown = "; ".join(map(str, faults))
        errors = [{"field": f.field, "message": f.message} for f in faults]
        raise ApiError(400, f"invalid lead details: {shown}", errors=errors) from None


@put(
    "/api/internal/leads/{airtable_id:str}",
    guards=[WRITE_LEADS],
    request_max_body_size=MAX_BODY_BYTES,
    summary="Create or update a lead's details (the lead sync); fills in stub leads",
    description="A new `clientId` moves the lead's whole history to that client.",
    tags=["leads"],
    responses={
        200: ResponseSpec(LeadSaved, description="Updated", generate_examples=False),
        201: ResponseSpec(LeadSaved, description="Created", generate_examples=False),
        **error_responses(*KEY_ERRORS, 413),
    },
    opt=request_body(
        LeadDetails,
        "Any subset of the details (camelCase or snake_case); a field left out keeps its "
        "stored value. An empty body changes nothing.",
        required=False,
    ),
)
async def put_lead(
    airtable_id: Annotated[
        str,
        PathParameter(
            description="the lead's Airtable record id (rec…)",
            schema_extra={"pattern": AIRTABLE_ID_PATTERN},
        ),
    ],
    request: Request[Any, Any, Any],
    services: NamedDependency[ApiServices],
) -> Response[Any]:
    if not is_airtable_id(airtable_id):
        raise bad_request("airtableId", f"{airtable_id!r} is not an Airtable record id (rec…)")
    try:
        raw = await request.body()
    except RequestEntityTooLarge:
        raise ApiError(413, f"the request body is larger than {MAX_BODY_BYTES} bytes") from None
    details = _parse(raw)
    if details.airtable_id is not None and details.airtable_id != airtable_id:
        raise bad_request("airtableId", "does not match the record id in the path")
    fields = details.model_dump(include=details.model_fields_set - {"airtable_id"})
    async with services.pool.acquire() as conn, conn.transaction():
        row, created = await leads.upsert_details(conn, airtable_id, fields)
        if not created and (row["client_id"] is not None or "client_id" in fields):
            # A lead's events are its client's: moving the lead moves its whole history
            # (the lead stays locked until the commit), and events stored while it was a
            # stub without a client get the one it has now.
            await move_history(conn, {row["id"]: row["client_id"]})
    return Response(
        {"success": True, "created": created, "lead": lead_item(row)},
        status_code=201 if created else 200,
    )
