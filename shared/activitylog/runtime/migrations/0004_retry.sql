-- Dead-letter alerts: a row is announced once, by whichever retry replica locks it first.

ALTER TABLE retry_queue ADD COLUMN alerted_at timestamptz;
CREATE INDEX retry_queue_unalerted_idx ON retry_queue (id)
    WHERE status = 'dead' AND alerted_at IS NULL;
CREATE INDEX retry_queue_lead_idx ON retry_queue (lead_id, id DESC);
