package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
)

// columns are the figures of each scenario, in table order.
var columns = map[string][]string{
	"rules": {"evaluations", "missed_pct", "late_pct", "cpu_s_per_1k_evals", "peak_rss_mib", "alerts_posted_to_notifier", "notifications"},
	"ingest": {"ingest_alerts_per_s", "e2e_p50_ms", "e2e_p99_ms", "all_delivered_s", "cpu_s_per_1k_alerts",
		"peak_rss_mib", "delivered", "expected", "silences_per_s", "notifications", "duplicates", "peak_rss_max_mib",
		"xacts_per_alert", "xacts_per_notification", "pg_idle_xacts_per_s", "storage_commits", "claims_won", "claims_lost", "claims_failed"},
}

// writeSummary prints, per scenario, a Markdown table of each figure's
// median (min–max) over the runs of each case and target, and with a
// baseline a second table of the median per-run ratio to it.
func writeSummary(w io.Writer, rows []map[string]any, baseline string) error {
	type key struct{ scenario, cas, target string }
	var keys []key
	values := map[key]map[string][]float64{}
	byRun := map[key]map[int]map[string]float64{}
	for _, r := range rows {
		k := key{str(r["scenario"]), str(r["case"]), str(r["target"])}
		if values[k] == nil {
			keys = append(keys, k)
			values[k] = map[string][]float64{}
			byRun[k] = map[int]map[string]float64{}
		}
		if k.scenario == "rules" {
			// Missed: the evaluations that did not happen in the window,
			// whether the evaluator skipped them or fell behind.
			r["missed_pct"] = 100 * max(0, num(r["expected"])-num(r["evaluations"])) / max(1, num(r["expected"]))
		}
		run := int(num(r["run"]))
		byRun[k][run] = map[string]float64{}
		for _, col := range columns[k.scenario] {
			if v, ok := r[col]; ok {
				values[k][col] = append(values[k][col], num(v))
				byRun[k][run][col] = num(v)
			}
		}
	}
	for _, scenario := range []string{"rules", "ingest"} {
		cols := columns[scenario]
		header := func(title string) {
			fmt.Fprintf(w, "\n%s\n\n| case | target | runs |", title)
			for _, c := range cols {
				fmt.Fprintf(w, " %s |", c)
			}
			fmt.Fprint(w, "\n|---|---|---|")
			for range cols {
				fmt.Fprint(w, "---|")
			}
			fmt.Fprintln(w)
		}
		printed := false
		for _, k := range keys {
			if k.scenario != scenario {
				continue
			}
			if !printed {
				header(fmt.Sprintf("### %s: median (min–max) over the runs", scenario))
				printed = true
			}
			fmt.Fprintf(w, "| %s | %s | %d |", k.cas, k.target, len(byRun[k]))
			for _, c := range cols {
				fmt.Fprintf(w, " %s |", spread(values[k][c]))
			}
			fmt.Fprintln(w)
		}
		if baseline == "" || !printed {
			continue
		}
		header(fmt.Sprintf("### %s: median of the per-run ratios to %s", scenario, baseline))
		for _, k := range keys {
			base := byRun[key{k.scenario, k.cas, baseline}]
			if k.scenario != scenario || k.target == baseline || base == nil {
				continue
			}
			fmt.Fprintf(w, "| %s | %s | %d |", k.cas, k.target, len(byRun[k]))
			for _, c := range cols {
				var ratios []float64
				for run, v := range byRun[k] {
					if b, ok := base[run][c]; ok && b != 0 {
						if x, ok := v[c]; ok {
							ratios = append(ratios, x/b)
						}
					}
				}
				fmt.Fprintf(w, " %s |", spread(ratios))
			}
			fmt.Fprintln(w)
		}
	}
	return nil
}

// spread formats the median of vs and, with several, their range.
func spread(vs []float64) string {
	if len(vs) == 0 {
		return "–"
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	if len(s) == 1 || s[0] == s[len(s)-1] {
		return short(med)
	}
	return fmt.Sprintf("%s (%s–%s)", short(med), short(s[0]), short(s[len(s)-1]))
}

// short formats v with three significant digits, and whole numbers from
// 1,000 on.
func short(v float64) string {
	if v >= 1000 || v <= -1000 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

func str(v any) string { s, _ := v.(string); return s }

func num(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case bool:
		if x {
			return 1
		}
	}
	return 0
}
