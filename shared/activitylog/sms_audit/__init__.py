"""The old Airtable `SMS_Audit` table: its rows, the events they hold, and the comparison
with the log. Pure: no I/O (activitylog.backfill reads the sources and writes)."""
