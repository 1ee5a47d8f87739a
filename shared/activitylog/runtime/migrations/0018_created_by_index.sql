-- The reads filter by the portal user behind an event (`createdBy`, docs/CONTRACT.md §1):
-- this index serves that filter newest first, as the other filters' (…, "timestamp")
-- indexes do theirs, so a user with few events is not looked for by walking the whole
-- log. Only events that name a user are in it (most come from n8n and name none).
CREATE INDEX activity_created_by_time_idx ON lead_activity_log (created_by, "timestamp" DESC, id DESC)
    WHERE created_by IS NOT NULL;
