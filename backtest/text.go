package backtest

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteText writes rep as readable text: per rule the label sets that
// fired and when, then per receiver the notifications that would have gone
// out and the flushes that were muted. Times are UTC, in RFC 3339.
func WriteText(w io.Writer, rep *Report) error {
	bw := bufio.NewWriter(w)
	step := "each group's interval"
	if rep.Step > 0 {
		step = durationString(rep.Step, true)
	}
	fmt.Fprintf(bw, "Backtest from %s to %s, step %s: %s, %s, %s.\n",
		ts(rep.From), ts(rep.To), step, plural(len(rep.Rules), "alerting rule"),
		plural(rep.Evaluations, "evaluation"), plural(rep.RangeQueries, "range query"))
	for _, r := range rep.Rules {
		writeRule(bw, &r, rep.To)
	}
	if len(rep.Receivers) == 0 {
		fmt.Fprintln(bw, "\nNo route is configured: nothing would have been sent.")
	}
	for _, r := range rep.Receivers {
		writeReceiver(bw, &r)
	}
	return bw.Flush()
}

func writeRule(w *bufio.Writer, r *RuleReport, to time.Time) {
	fmt.Fprintf(w, "\nRule %s (%s, group %q", r.Name, r.File, r.Group)
	if r.For > 0 {
		fmt.Fprintf(w, ", for %s", durationString(r.For, true))
	}
	if r.KeepFiringFor > 0 {
		fmt.Fprintf(w, ", keep_firing_for %s", durationString(r.KeepFiringFor, true))
	}
	fmt.Fprintf(w, "): %s", plural(r.Evaluations, "evaluation"))
	if r.FailedEvaluations > 0 {
		fmt.Fprintf(w, ", %d failed", r.FailedEvaluations)
	}
	fmt.Fprintln(w)
	if r.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", r.Error)
	}
	if len(r.Alerts) == 0 {
		fmt.Fprintln(w, "  never fired")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, a := range r.Alerts {
		fmt.Fprintf(tw, "  %s\n", a.Labels)
		for _, i := range a.Firing {
			end, dur := "still firing", "≥ "+durationString(to.Sub(i.Start), true)
			if !i.End.IsZero() {
				end, dur = ts(i.End), durationString(i.End.Sub(i.Start), true)
			}
			fmt.Fprintf(tw, "    firing\t%s\t%s\t%s\n", ts(i.Start), end, dur)
		}
	}
	_ = tw.Flush()
}

func writeReceiver(w *bufio.Writer, r *ReceiverReport) {
	fmt.Fprintf(w, "\nReceiver %s: %s", r.Name, plural(len(r.Notifications), "notification"))
	if len(r.Suppressed) > 0 {
		fmt.Fprintf(w, ", %s", plural(len(r.Suppressed), "suppression"))
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(r.Notifications) > 0 {
		fmt.Fprintln(tw, "  TIME\tINTEGRATION\tFIRING\tRESOLVED\tMUTED\tREASON\tGROUP")
		for _, n := range r.Notifications {
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%d\t%s\t%s\n", ts(n.Time), n.Integration, n.Firing, n.Resolved, n.Muted, n.Reason, n.GroupKey)
		}
	}
	_ = tw.Flush()
	if len(r.Suppressed) > 0 {
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  SUPPRESSED FROM\tUNTIL\tFLUSHES\tALERTS\tREASON\tGROUP")
		for _, s := range r.Suppressed {
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%s\t%s\n", ts(s.From), ts(s.Until), s.Flushes, s.Alerts, s.Reason, s.GroupKey)
		}
	}
	_ = tw.Flush()
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	if strings.HasSuffix(what, "y") {
		return fmt.Sprintf("%d %sies", n, strings.TrimSuffix(what, "y"))
	}
	return fmt.Sprintf("%d %ss", n, what)
}
