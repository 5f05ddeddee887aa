// Command peerbench measures alerter side by side with its peers on one
// machine: rule evaluation against vmalert, alert ingestion and delivery
// against Alertmanager. Every target runs in turn in each run (so that all
// share the machine's noise), against the same fake query API and webhook
// receiver, on 127.0.0.1 only. Each measurement is one JSON line appended
// to -out; `peerbench summary` turns them into the tables of bench/README.md.
//
//	go run ./bench/peerbench rules -target alerter=alerter:./alerter -target vmalert=vmalert:$(go env GOPATH)/bin/vmalert -out r.jsonl
//	go run ./bench/peerbench ingest -target alerter=alerter:./alerter -target am-0.25=alertmanager:/usr/bin/prometheus-alertmanager -out i.jsonl
//	go run ./bench/peerbench summary -baseline vmalert r.jsonl
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: peerbench rules|ingest|summary [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "rules":
		err = runRulesCmd(ctx, os.Args[2:])
	case "ingest":
		err = runIngestCmd(ctx, os.Args[2:])
	case "summary":
		err = runSummaryCmd(os.Args[2:], os.Stdout)
	default:
		err = fmt.Errorf("unknown command %q: want rules, ingest or summary", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "peerbench:", err)
		os.Exit(1)
	}
}

// common are the flags of both measurements.
type common struct {
	targets targets
	runs    int
	out     string
}

func (c *common) register(fs *flag.FlagSet) {
	fs.Var(&c.targets, "target", "NAME=KIND:PATH of a program to measure (KIND alerter, vmalert or alertmanager; ingest also alerter-pg: -replicas alerters on a fresh PostgreSQL schema, and alertmanager-ha: a gossip cluster of -replicas Alertmanagers); repeatable")
	fs.IntVar(&c.runs, "runs", 3, "runs; each runs every target once, in turn")
	fs.StringVar(&c.out, "out", "results.jsonl", "file the JSON lines are appended to")
}

// each measures every target in every run and appends the results to out.
func (c *common) each(ctx context.Context, measure func(t target, run int) (map[string]any, error)) error {
	if len(c.targets) == 0 {
		return fmt.Errorf("no -target")
	}
	f, err := os.OpenFile(c.out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	for run := 1; run <= c.runs; run++ {
		for _, t := range c.targets {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			r, err := measure(t, run)
			if err != nil {
				return fmt.Errorf("%s, run %d: %w", t.name, run, err)
			}
			r["time"] = time.Now().UTC().Format(time.RFC3339)
			line, _ := json.Marshal(r)
			fmt.Fprintf(os.Stderr, "%s\n", line)
			if _, err := fmt.Fprintf(f, "%s\n", line); err != nil {
				return err
			}
		}
	}
	return nil
}

func runRulesCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("peerbench rules", flag.ContinueOnError)
	var c common
	c.register(fs)
	var rc rulesCase
	fs.IntVar(&rc.rules, "rules", 10000, "alerting rules, in groups of 100")
	fs.DurationVar(&rc.interval, "interval", 15*time.Second, "evaluation interval")
	fs.DurationVar(&rc.window, "window", 60*time.Second, "measured time, after two intervals to settle")
	fs.Float64Var(&rc.firingFrac, "firing", 0.1, "fraction of the rules that fire")
	fs.DurationVar(&rc.latency, "latency", 0, "answer latency of the fake query API")
	fs.BoolVar(&rc.notify, "notify", true, "alerter: route the alerts to a webhook, as vmalert posts them to its notifier")
	fs.StringVar(&rc.profileDir, "profile-dir", "", "save alerter's CPU profile over the window (from /debug/pprof/profile) and its heap after it in this folder, as TARGET-runN.pprof and TARGET-runN.heap.pprof")
	fs.BoolVar(&rc.record, "record", false, "recording rules (one series each) whose samples go by remote write to a receiver that decodes and counts them, instead of alerting rules")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return c.each(ctx, func(t target, run int) (map[string]any, error) { return measureRules(ctx, t, rc, run) })
}

func runIngestCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("peerbench ingest", flag.ContinueOnError)
	var c common
	c.register(fs)
	var ic ingestCase
	fs.IntVar(&ic.alerts, "alerts", 10000, "alerts posted")
	fs.IntVar(&ic.batch, "batch", 100, "alerts per POST")
	fs.IntVar(&ic.concurrency, "concurrency", 4, "clients posting at once")
	fs.IntVar(&ic.groups, "groups", 2000, "aggregation groups the alerts fall into")
	fs.IntVar(&ic.silences, "silences", 0, "silences created first")
	fs.IntVar(&ic.silenceMatching, "silence-matching", 50, "of the silences, how many match a group of the alerts")
	fs.DurationVar(&ic.groupWait, "group-wait", 200*time.Millisecond, "group_wait")
	fs.IntVar(&ic.replicas, "replicas", 3, "alerter-pg and alertmanager-ha targets: replicas (sharing one fresh PostgreSQL schema, or a gossip cluster), each sent every alert")
	fs.StringVar(&ic.pgURL, "pg-url", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "alerter-pg targets, -pg-stats: the PostgreSQL database (psql runs on it)")
	fs.BoolVar(&ic.pgStats, "pg-stats", false, "record the transactions committed in -pg-url's database during each run (pg_stat_database.xact_commit; every target, so that the others' figure is the background)")
	fs.DurationVar(&ic.settle, "settle", 0, "wait after the targets are ready before the silences and alerts (a replica on a shared database holds its first notifications 3 s)")
	fs.DurationVar(&ic.cpuTail, "cpu-tail", 0, "after the last delivery, go on counting the targets' CPU for this long (work that follows the deliveries, as the checks of replicas that did not send)")
	fs.StringVar(&ic.profileDir, "profile-dir", "", "alerter targets: save each process's CPU profile over the alerts' ingest and delivery (from /debug/pprof/profile) in this folder, as TARGET-runN-pI.pprof")
	fs.DurationVar(&ic.profileFor, "profile-for", 15*time.Second, "how long each -profile-dir profile lasts")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if ic.silences == 0 {
		ic.silenceMatching = 0
	}
	return c.each(ctx, func(t target, run int) (map[string]any, error) { return measureIngest(ctx, t, ic, run) })
}

func runSummaryCmd(args []string, w io.Writer) error {
	fs := flag.NewFlagSet("peerbench summary", flag.ContinueOnError)
	baseline := fs.String("baseline", "", "target to give per-run ratios to")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var rows []map[string]any
	for _, path := range fs.Args() {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		for dec.More() {
			var r map[string]any
			if err := dec.Decode(&r); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			rows = append(rows, r)
		}
	}
	return writeSummary(w, rows, *baseline)
}
