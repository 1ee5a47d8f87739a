#!/bin/sh
# The cluster profile's PostgreSQL primary (run once by the official image when it creates
# the database): let the streaming replica connect for replication, with the same password
# rule as every other connection.
set -eu
echo "host replication all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
