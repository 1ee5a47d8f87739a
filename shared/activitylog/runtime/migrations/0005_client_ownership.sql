-- An event belongs to its lead's client (README, "Publishing an event"). Before, an event's
-- own clientId won, so a portal could see another client's lead; this puts every stored
-- event under its lead's client, as new events are stored from now on.

-- A lead without a client whose events all name one client adopts it, as it would today.
UPDATE leads AS l
SET client_id = named.client_id, updated_at = now()
FROM (
    SELECT lead_id, (array_agg(DISTINCT client_id))[1] AS client_id
    FROM lead_activity_log
    WHERE client_id IS NOT NULL
    GROUP BY lead_id
    HAVING count(DISTINCT client_id) = 1
) AS named
WHERE l.id = named.lead_id AND l.client_id IS NULL;

-- Events filed under a client other than their lead's go to the lead's client.
UPDATE lead_activity_log AS a
SET client_id = l.client_id
FROM leads AS l
WHERE a.lead_id = l.id
  AND l.client_id IS NOT NULL
  AND a.client_id IS DISTINCT FROM l.client_id;

-- A lead still without a client had events naming several clients: none of them may be
-- trusted to own it, so no portal sees them until the lead sync names the lead's client
-- (PUT /api/internal/leads/{airtableId} then moves them all to it).
UPDATE lead_activity_log AS a
SET client_id = NULL
FROM leads AS l
WHERE a.lead_id = l.id
  AND l.client_id IS NULL
  AND a.client_id IS NOT NULL;
