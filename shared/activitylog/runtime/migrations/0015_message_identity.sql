-- One message, one identity (docs/CONTRACT.md §3 and §6).
--
-- Events name their lead by phone or email too, resolved here: a lead's phone is matched by
-- its digits with the country code, the rule of activitylog.contract.references.phone_key
-- (a number written with + as written, else ten digits are North American without the 1).
CREATE FUNCTION phone_key(phone text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    RETURN CASE
        WHEN regexp_replace(phone, '\D', '', 'g') = '' THEN NULL
        WHEN length(regexp_replace(phone, '\D', '', 'g')) = 10 AND ltrim(phone) NOT LIKE '+%'
            THEN '1' || regexp_replace(phone, '\D', '', 'g')
        ELSE regexp_replace(phone, '\D', '', 'g')
    END;
CREATE INDEX leads_phone_key_idx ON leads (phone_key(phone)) WHERE deleted_at IS NULL;

-- What a row waits for (`phone:1408…`, `email:…`, `lead:<uuid>`, `message:<provider>:<id>`):
-- saving that lead, or storing that send, makes it due at once (pending again if it had
-- gone dead waiting).
ALTER TABLE retry_queue ADD COLUMN waiting_for text[];
CREATE INDEX retry_queue_waiting_idx ON retry_queue USING gin (waiting_for)
    WHERE status IN ('pending', 'dead');

-- The analytics recount a whole lead from the log when a fact learns its campaign late
-- (a delivery stored before its send): folded like any note, exactly once.
ALTER TABLE analytics_queue ADD COLUMN recount boolean NOT NULL DEFAULT false;

-- Before this version the SMS_Audit backfill stored SMS_Audit's "Campaign ID", which is
-- SimpleTexting's message id, as metadata.campaign_id: every old message became a campaign
-- of its own. It is the message id; those events keep their ids (a backfill run again
-- recognises them, see sms_audit.facts.legacy_id), and their leads are counted again.
UPDATE lead_activity_log
SET metadata = (metadata - 'campaign_id')
    || jsonb_build_object('messageId', metadata -> 'campaign_id', 'provider', 'simpletexting')
WHERE source = 'system:sms-audit-backfill' AND metadata ? 'campaign_id';

INSERT INTO analytics_queue (lead_id, event_id, recount)
SELECT DISTINCT lead_id, NULL::uuid, true
FROM lead_activity_log WHERE source = 'system:sms-audit-backfill';
