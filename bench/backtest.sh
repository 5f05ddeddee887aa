#!/bin/sh
# Backtest 100 alerting rules over 7 days at a 1-minute step against Debian's
# Prometheus holding backfilled history, and measure the alerter binary's wall
# time and peak RSS (GNU time). Usage, from the repository root:
#
#   bench/backtest.sh [INSTANCES]
#
# The history: m{rule="0".."99", instance="host-0".."host-N"} at a 1-minute
# resolution over 7 days, 1 during one window of 10-49 minutes every 6 hours
# (offsets differ by rule and instance), else 0; the same shape as the Go
# benchmark BenchmarkBacktest100Rules7Days (./backtest).
set -eu
INSTANCES=${1:-5}
work=$(mktemp -d)
trap 'kill $prom 2>/dev/null || true; rm -rf "$work"' EXIT
end=$(( $(date +%s) / 86400 * 86400 - 86400 ))   # yesterday 00:00 UTC
start=$(( end - 7 * 86400 ))

python3 - "$start" "$INSTANCES" >"$work/history.om" <<'EOF'
import sys
start, instances = int(sys.argv[1]), int(sys.argv[2])
out = sys.stdout
out.write("# HELP m Backtest benchmark gauge.\n# TYPE m gauge\n")
for i in range(100):
    for j in range(instances):
        off, dur = (i * 37 + j * 11) % 360, 10 + (i + j) % 40
        lines = []
        for k in range(7 * 24 * 60 + 1):
            v = 1 if (k - off) % 360 < dur else 0
            lines.append('m{rule="%d",instance="host-%d"} %d %d\n' % (i, j, v, start + 60 * k))
        out.write("".join(lines))
out.write("# EOF\n")
EOF
echo "history: $(wc -l <"$work/history.om") lines"
/usr/bin/time -f "promtool backfill: %e s" promtool tsdb create-blocks-from openmetrics "$work/history.om" "$work/tsdb" >/dev/null
rm "$work/history.om"
echo 'global: {}' >"$work/prometheus.yml"
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
	--storage.tsdb.retention.time=10y --web.listen-address=127.0.0.1:19090 --log.level=warn &
prom=$!
until curl -fs http://127.0.0.1:19090/-/ready >/dev/null; do sleep 0.2; done

{
	echo "groups:"
	for i in $(seq 0 99); do
		[ $((i % 10)) -eq 0 ] && printf -- "- name: g%d\n  rules:\n" $((i / 10))
		printf -- "  - alert: Rule%d\n    expr: 'm{rule=\"%d\"} > 0'\n    for: 5m\n    labels: {severity: page}\n    annotations: {summary: '{{ \$labels.instance }} is at {{ \$value }}'}\n" "$i" "$i"
	done
} >"$work/rules.yml"
cat >"$work/alerter.yml" <<EOF
datasources: [{name: prom, type: prometheus, url: "http://127.0.0.1:19090"}]
rule_files: [rules.yml]
route: {receiver: team, group_by: [alertname]}
receivers: [{name: team, webhook_configs: [{url: "http://127.0.0.1:1/hook"}]}]
EOF
go build -o "$work/alerter" ./cmd/alerter
from=$(date -u -d "@$start" +%Y-%m-%dT%H:%M:%SZ)
to=$(date -u -d "@$end" +%Y-%m-%dT%H:%M:%SZ)
/usr/bin/time -f "alerter backtest: %e s wall, %U s user, %S s system, %M KiB peak RSS" \
	"$work/alerter" backtest --config.file="$work/alerter.yml" --from="$from" --to="$to" --step=1m --output=json >"$work/report.json"
python3 - "$work/report.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
n = sum(len(x["notifications"]) for x in r["receivers"])
fired = sum(len(a["firing"]) for rule in r["rules"] for a in rule["alerts"])
print(f'{len(r["rules"])} rules, {r["evaluations"]} evaluations, {r["range_queries"]} range queries, '
      f'{fired} firing intervals, {n} notifications')
EOF
