package evaluator

import "log/slog"

// NewGroups builds the groups of cfg, in the order of cfg.Files and of the
// groups in each file, exactly as Manager.Update builds them, but returns
// them without starting them: no goroutine, no timer, no clock. The caller
// evaluates each one with Group.Eval at the times it chooses and reads the
// outcome with Group.Status. This is how rule unit tests (and backtests) run
// alerter's own state machine on simulated time.
//
// Set cfg.Concurrency to 1 to evaluate the rules of a group strictly one
// after the other, as Prometheus does without its concurrent-rule-eval
// feature: then a rule sees the ALERTS samples written by the rules before
// it at the same evaluation. opts.Sink, when set, receives the alerts due
// at each Eval; opts.Store is ignored (nothing is persisted).
func NewGroups(cfg Config, opts Options) ([]*Group, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(nil)
	}
	opts.Store = nil
	return buildGroups(cfg, opts)
}

// Name returns the group's name.
func (g *Group) Name() string { return g.name }

// Status returns a read-only view of the group and its rules: their health,
// last error and alerts (resolved ones included, with their state).
func (g *Group) Status() GroupStatus { return g.status() }

// LastErrors returns the error of the last evaluation of each rule of the
// group, in rule order: "" for a rule that succeeded (or was not
// evaluated). It is Status without the alerts and histories, cheap enough
// to call after every evaluation.
func (g *Group) LastErrors() []string {
	out := make([]string, len(g.rules))
	for i, r := range g.rules {
		st := r.statusRef()
		st.mu.Lock()
		out[i] = st.lastErr
		st.mu.Unlock()
	}
	return out
}

// RuleNames returns the names of the group's rules, in order.
func (g *Group) RuleNames() []string {
	out := make([]string, len(g.rules))
	for i, r := range g.rules {
		out[i] = r.Name()
	}
	return out
}
