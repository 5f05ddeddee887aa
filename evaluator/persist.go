package evaluator

import (
	"context"
	"errors"

	"github.com/prometheus/prometheus/model/labels"
)

// savedKey identifies a saved alert in its group: its rule and the hash of
// its labels.
type savedKey struct {
	rule string
	fp   uint64
}

// savedAlert is what was written of an alert.
type savedAlert struct {
	hash   uint64 // Alert.persistHash
	labels labels.Labels
}

// current returns what the store should hold of the group's alerts now.
func (g *Group) current() map[savedKey]savedAlert {
	out := map[savedKey]savedAlert{}
	for i, r := range g.rules {
		ar, ok := r.(*AlertingRule)
		if !ok {
			continue
		}
		ar.mu.Lock()
		for fp, a := range ar.active {
			out[savedKey{g.ruleKeys[i], fp}] = savedAlert{a.persistHash(), a.Labels}
		}
		ar.mu.Unlock()
	}
	return out
}

// persist writes the alerts that changed since the last write and deletes
// those gone, in one transaction that concurrent groups share (the store's
// group commit). Nothing is written when nothing a restart needs changed,
// as at most resends of a firing group. A failed write is retried at the
// next evaluation.
func (g *Group) persist(ctx context.Context) {
	if g.sh.store == nil {
		return
	}
	now := g.current()
	var ch StateChanges
	byRule := map[string]int{} // index in ch.Upsert
	for i, r := range g.rules {
		ar, ok := r.(*AlertingRule)
		if !ok {
			continue
		}
		key := g.ruleKeys[i]
		ar.mu.Lock()
		for fp, a := range ar.active {
			if old, ok := g.saved[savedKey{key, fp}]; ok && old.hash == now[savedKey{key, fp}].hash {
				continue
			}
			j, ok := byRule[key]
			if !ok {
				j = len(ch.Upsert)
				byRule[key] = j
				ch.Upsert = append(ch.Upsert, RuleAlerts{RuleKey: key})
			}
			ch.Upsert[j].Alerts = append(ch.Upsert[j].Alerts, *a)
		}
		ar.mu.Unlock()
	}
	for k, s := range g.saved {
		if _, ok := now[k]; !ok {
			ch.Delete = append(ch.Delete, AlertRef{RuleKey: k.rule, Labels: s.labels})
		}
	}
	if len(ch.Upsert) == 0 && len(ch.Delete) == 0 {
		return
	}
	if err := g.sh.store.SaveAlertStates(ctx, g.key, ch); err != nil {
		g.sh.metrics.stateWriteFailures.Inc()
		if !errors.Is(err, context.Canceled) {
			g.sh.logger.Error("Saving alert states failed", "group", g.key, "err", err)
		}
		return
	}
	g.sh.metrics.stateWrites.Inc()
	g.saved = now
}

// owned reports whether this process evaluates the group now (always,
// without an Ownership). When it takes the group over (a new term), it
// reads the states the previous owner left, so that firing alerts stay
// firing and pending ones keep their start; if that read fails, it does
// not evaluate this time.
func (g *Group) owned(ctx context.Context) bool {
	own := g.sh.ownership
	if own == nil {
		return true
	}
	ok, term := own.Owns(g.key)
	if !ok {
		g.term = 0
		return false
	}
	if term == g.term {
		return true
	}
	if loader, isLoader := g.sh.store.(GroupStateLoader); isLoader {
		states, err := loader.LoadGroupAlertStates(ctx, g.key)
		if err != nil {
			g.sh.logger.Error("Reading the alert states of a group taken over failed; evaluated once they are read", "group", g.key, "err", err)
			return false
		}
		g.restoreRules(states, true)
	}
	g.term = term
	g.sh.logger.Info("This replica evaluates the rule group now", "group", g.key, "term", term)
	return true
}
