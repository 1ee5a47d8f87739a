"""Carrying the old Airtable history into the log, and checking it: the I/O around
activitylog.sms_audit (sources read, batches stored, runs recorded)."""
