"""The product's reads, one per screen, each shared by the JSON API and the admin UI:
`browser` (the activity browser: a page, its counts, the CSV export's chunks), `timeline`
(a lead's events), `leads` (a lead with its last activity and counts), `retry_queue`.

Each takes a typed query (`activitylog.domain.reads`: one filter, one sort vocabulary, one
cursor dialect) and returns typed rows; a bad parameter or cursor is a `BadQuery`.
"""
