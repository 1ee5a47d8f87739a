"""PUT /api/internal/leads/{airtableId} and PUT /api/internal/leads (bulk): the lead sync
upserts leads under the portal's UUID."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal, TypedDict

import orjson
from litestar import Request, Response, put
from litestar.di import NamedDependency
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import PathParameter
from pydantic import BaseModel, Field, ValidationError, field_validator

from activitylog.contract import json_text
from activitylog.contract.events import BODY_CONFIG, field_errors
from activitylog.contract.references import AIRTABLE_ID_PATTERN, is_airtable_id
from activitylog.domain.leads.records import DETAIL_LIMITS, LeadInput
from activitylog.use_cases.leads import saving as lead_saving
from activitylog.use_cases.leads.saving import Outcome, Saved
from activitylog_api.auth import WRITE_LEADS
from activitylog_api.errors import ApiError, bad_request
from activitylog_api.openapi import KEY_ERRORS, error_responses, request_body
from activitylog_api.state import ApiServices
from activitylog_api.views import LeadSaved, lead_item

MAX_BODY_BYTES = 64 * 1024
MAX_BULK_ITEMS = 1_000
MAX_BULK_BYTES = 2 * 1024 * 1024


class LeadDetails(BaseModel):
    """The body: any subset of the details; a field left out keeps its stored value."""

    model_config = BODY_CONFIG

    id: uuid.UUID | None = Field(
        default=None, description="the portal's UUID of the lead; it becomes the lead's id here"
    )
    airtable_id: str | None = Field(default=None, description="optional; must match the path")
    client_id: uuid.UUID | None = None
    first_name: str | None = Field(default=None, max_length=DETAIL_LIMITS["first_name"])
    last_name: str | None = Field(default=None, max_length=DETAIL_LIMITS["last_name"])
    email: str | None = Field(default=None, max_length=DETAIL_LIMITS["email"])
    phone: str | None = Field(default=None, max_length=DETAIL_LIMITS["phone"])
    status: str | None = Field(default=None, max_length=DETAIL_LIMITS["status"])

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("text may not contain NUL (\\u0000) characters")
        return value

    def lead_input(self, airtable_id: str | None) -> LeadInput:
        fields = self.model_dump(include=self.model_fields_set - {"airtable_id", "id"})
        return LeadInput(self.id, airtable_id, fields)


def _invalid(exc: ValidationError, what: str) -> tuple[str, list[dict[str, str]]]:
    faults = field_errors(exc)
    errors = [{"field": f.field, "message": f.message} for f in faults]
    return f"invalid {what}: {'; '.join(map(str, faults))}", errors


def _json(raw: bytes, default: bytes) -> Any:
    try:
        return json_text.loads(raw or default)
    except json_text.DuplicateKey as exc:
        raise ApiError(
            400,
            f"invalid body: {exc}",
            errors=[{"field": exc.path, "message": exc.message}],
        ) from None
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"the request body is not valid JSON: {exc}") from None


def _parse(raw: bytes) -> LeadDetails:
    data = _json(raw, b"{}")
    if not isinstance(data, dict):
        raise ApiError(400, f"the body must be a JSON object, not {type(data).__name__}")
    try:
        return LeadDetails.model_validate(data)
    except ValidationError as exc:
        message, errors = _invalid(exc, "lead details")
        raise ApiError(400, message, errors=errors) from None


async def _body(request: Request[Any, Any, Any], limit: int) -> bytes:
    try:
        return await request.body()
    except RequestEntityTooLarge:
        raise ApiError(413, f"the request body is larger than {limit} bytes") from None


def _conflict(saved: Saved, lead_id: uuid.UUID | None, airtable_id: str | None) -> ApiError:
    return ApiError(
        409,
        saved.message,
        errors=[{"field": "id", "message": saved.message}],
        body={"leadId": str(lead_id) if lead_id else None, "airtableId": airtable_id},
    )


@put(
    "/api/internal/leads/{airtable_id:str}",
    guards=[WRITE_LEADS],
    request_max_body_size=MAX_BODY_BYTES,
    summary="Create or update a lead's details (the lead sync); fills in stub leads",
    description="A new `clientId` moves the lead's whole history to that client. An `id` "
    "(the portal's UUID) becomes the lead's id: a lead known only by its Airtable id adopts "
    "it, events and all, and a lead already under that UUID without an Airtable id is "
    "merged into it. A UUID that belongs to another Airtable id is a 409 naming both.",
    tags=["leads"],
    responses={
        200: ResponseSpec(LeadSaved, description="Updated", generate_examples=False),
        201: ResponseSpec(LeadSaved, description="Created", generate_examples=False),
        **error_responses(*KEY_ERRORS, 409, 413),
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
    details = _parse(await _body(request, MAX_BODY_BYTES))
    if details.airtable_id is not None and details.airtable_id != airtable_id:
        raise bad_request("airtableId", "does not match the record id in the path")
    async with services.pool.acquire() as conn, conn.transaction():
        (saved,) = await lead_saving.save_leads(conn, [details.lead_input(airtable_id)])
    if saved.row is None:
        raise _conflict(saved, details.id, airtable_id)
    created = saved.outcome == Outcome.CREATED
    return Response(
        {"success": True, "created": created, "lead": lead_item(saved.row)},
        status_code=201 if created else 200,
    )


def _bulk_item(index: int, data: Any) -> LeadInput | dict[str, Any]:
    """One item of the bulk body as a lead, or its 400 answer."""
    if not isinstance(data, dict):
        message = f"must be a JSON object, not {type(data).__name__}"
        return {"index": index, "status": 400, "error": message}
    try:
        details = LeadDetails.model_validate(data)
    except ValidationError as exc:
        message, errors = _invalid(exc, "lead")
        return {"index": index, "status": 400, "error": message, "errors": errors}
    airtable_id = details.airtable_id
    if airtable_id is not None and not is_airtable_id(airtable_id):
        message = f"airtableId: {airtable_id!r} is not an Airtable record id (rec…)"
        return {"index": index, "status": 400, "error": message}
    if airtable_id is None and details.id is None:
        return {"index": index, "status": 400, "error": "a lead needs an id or an airtableId"}
    return details.lead_input(airtable_id)


class LeadsSaved(TypedDict):
    """`PUT /api/internal/leads`: how many items had each outcome, and one answer per item
    (`index`, `status` 200/201/400/409, `outcome`, `lead` or `error`) in body order."""

    success: Literal[True]
    summary: dict[str, int]
    items: list[dict[str, Any]]


_STATUS = {Outcome.CREATED: 201, Outcome.CONFLICT: 409, Outcome.DUPLICATE: 400}

# Items are checked one by one, each answered in the 200 (an invalid one with its 400):
# the document describes the fields but leaves their rules to the per-item answers.
_ITEM_FIELDS = {
    "id": "the portal's UUID of the lead (becomes its id here)",
    "airtableId": "the Airtable record id (rec…); an item needs it, an id, or both",
    "clientId": "UUID of the lead's client; a new one moves the lead's history",
    "firstName": f"at most {DETAIL_LIMITS['first_name']} characters",
    "lastName": f"at most {DETAIL_LIMITS['last_name']} characters",
    "email": f"at most {DETAIL_LIMITS['email']} characters",
    "phone": f"at most {DETAIL_LIMITS['phone']} characters",
    "status": f"at most {DETAIL_LIMITS['status']} characters",
}
BULK_ITEM_SCHEMA: dict[str, Any] = {
    "description": "A lead, as `PUT /api/internal/leads/{airtableId}` takes it plus its "
    "`airtableId`; fields may also be snake_case, a field left out keeps its stored value.",
    "properties": {name: {"description": text} for name, text in _ITEM_FIELDS.items()},
}


@put(
    "/api/internal/leads",
    guards=[WRITE_LEADS],
    request_max_body_size=MAX_BULK_BYTES,
    summary="Create or update up to 1,000 leads at once; one answer per item",
    description="Each item is what `PUT /api/internal/leads/{airtableId}` takes, plus its "
    "`airtableId` and/or `id` (the portal's UUID). Items are independent: one refused (400, "
    "409) does not stop the others. Sending the same items again changes nothing more.",
    tags=["leads"],
    responses={
        200: ResponseSpec(LeadsSaved, description="Per-item answers", generate_examples=False),
        **error_responses(*KEY_ERRORS, 413),
    },
    opt=request_body(
        None,
        "An array of 1–1,000 leads.",
        schema={
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_BULK_ITEMS,
            "items": BULK_ITEM_SCHEMA,
        },
    ),
)
async def put_leads(
    request: Request[Any, Any, Any], services: NamedDependency[ApiServices]
) -> Response[Any]:
    data = _json(await _body(request, MAX_BULK_BYTES), b"null")
    if not isinstance(data, list) or not 1 <= len(data) <= MAX_BULK_ITEMS:
        raise ApiError(400, f"the body must be a JSON array of 1–{MAX_BULK_ITEMS:,} leads")
    answers: list[dict[str, Any] | None] = [None] * len(data)
    wanted: list[tuple[int, LeadInput]] = []
    for index, item in enumerate(data):
        parsed = _bulk_item(index, item)
        if isinstance(parsed, LeadInput):
            wanted.append((index, parsed))
        else:
            answers[index] = parsed
    async with services.pool.acquire() as conn, conn.transaction():
        saved = await lead_saving.save_leads(conn, [lead for _, lead in wanted])
    for (index, _), result in zip(wanted, saved, strict=True):
        answer: dict[str, Any] = {
            "index": index,
            "status": _STATUS.get(result.outcome, 200),
            "outcome": result.outcome.value,
        }
        if result.row is not None:
            answer["lead"] = lead_item(result.row)
        if result.absorbed is not None:
            answer["mergedFrom"] = str(result.absorbed)
        if result.message:
            answer["error"] = result.message
        answers[index] = answer
    items = [a for a in answers if a is not None]
    summary: dict[str, int] = {}
    for a in items:
        key = a.get("outcome", "invalid")
        summary[key] = summary.get(key, 0) + 1
    return Response({"success": True, "summary": summary, "items": items}, status_code=200)
