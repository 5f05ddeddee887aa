package dispatch

import (
	"strings"
	"sync"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"

	"github.com/alerter/alerter/config"
)

// Inhibitor mutes alerts that match an inhibit rule's target while an
// alert matching its source, with the same values of the equal labels, is
// firing. Source alerts are indexed per rule by their equal-label values,
// so a check costs one map lookup per rule whose target matches.
type Inhibitor struct {
	rules []*inhibitRule
}

type inhibitRule struct {
	source, target labels.Matchers
	equal          []model.LabelName

	mu      sync.RWMutex
	sources map[string]map[model.Fingerprint]*Alert // by equalKey
}

// NewInhibitor returns an inhibitor for rules, with no source alerts yet.
func NewInhibitor(rules []*config.InhibitRule) *Inhibitor {
	ih := &Inhibitor{}
	for _, r := range rules {
		ih.rules = append(ih.rules, &inhibitRule{
			source:  r.SourceMatchers,
			target:  r.TargetMatchers,
			equal:   r.Equal,
			sources: map[string]map[model.Fingerprint]*Alert{},
		})
	}
	return ih
}

// equalKey joins the values of the equal labels. A missing label counts as
// the empty value, as in Alertmanager: two alerts that both lack it are
// equal on it.
func (r *inhibitRule) equalKey(ls model.LabelSet) string {
	switch len(r.equal) {
	case 0:
		return ""
	case 1:
		return string(ls[r.equal[0]])
	}
	var b strings.Builder
	for _, n := range r.equal {
		b.WriteString(string(ls[n]))
		b.WriteByte(0xff)
	}
	return b.String()
}

// observe records a received alert as a possible source.
func (ih *Inhibitor) observe(a *Alert) {
	for _, r := range ih.rules {
		if !r.source.Matches(a.Labels) {
			continue
		}
		key := r.equalKey(a.Labels)
		r.mu.Lock()
		m := r.sources[key]
		if m == nil {
			m = map[model.Fingerprint]*Alert{}
			r.sources[key] = m
		}
		if old, ok := m[a.fp]; !ok || !old.UpdatedAt.After(a.UpdatedAt) {
			m[a.fp] = a
		}
		r.mu.Unlock()
	}
}

// forget drops alerts the store no longer holds.
func (ih *Inhibitor) forget(a *Alert) {
	for _, r := range ih.rules {
		if !r.source.Matches(a.Labels) {
			continue
		}
		key := r.equalKey(a.Labels)
		r.mu.Lock()
		if m := r.sources[key]; m != nil && m[a.fp] == a {
			delete(m, a.fp)
			if len(m) == 0 {
				delete(r.sources, key)
			}
		}
		r.mu.Unlock()
	}
}

// Inhibited returns the fingerprint of an alert that inhibits lset at now,
// and whether there is one. An alert never inhibits itself, and where an
// alert matches both sides of a rule, only sources that do not also match
// the target count, as in Alertmanager.
func (ih *Inhibitor) Inhibited(lset model.LabelSet, now time.Time) (model.Fingerprint, bool) {
	for _, r := range ih.rules {
		if !r.target.Matches(lset) {
			continue
		}
		twoSided := r.source.Matches(lset)
		key := r.equalKey(lset)
		r.mu.RLock()
		for fp, src := range r.sources[key] {
			if src.ResolvedAt(now) || (twoSided && r.target.Matches(src.Labels)) {
				continue
			}
			r.mu.RUnlock()
			return fp, true
		}
		r.mu.RUnlock()
	}
	return 0, false
}
