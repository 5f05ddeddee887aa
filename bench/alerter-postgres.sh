#!/bin/sh
# bench/alerter-postgres.sh: a peerbench target that runs alerter ($ALERTER, default /tmp/alerter)
# with its state in a fresh schema of the local PostgreSQL (127.0.0.1:5432, user postgres, database
# test); drop the bench_* schemas afterwards.
S=bench_$(date +%s%N)
psql -h 127.0.0.1 -U postgres -d test -qc "create schema $S" >/dev/null
exec "${ALERTER:-/tmp/alerter}" "$@" --storage.url="postgres://postgres@127.0.0.1:5432/test?sslmode=disable&search_path=$S"
