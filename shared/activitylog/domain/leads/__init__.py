"""One lead, one identity, pure: how an upsert meets stored leads, incoming lead records, the
Airtable "Leads" CSV.
"""
