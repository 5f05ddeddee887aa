package silences

import (
	"regexp/syntax"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"
	promlabels "github.com/prometheus/prometheus/model/labels"
)

// entry is a stored silence with what matching needs, computed once when
// the silence is stored. Entries are immutable: the index shares them
// between versions and readers.
type entry struct {
	Silence
	// options are the ways the silence can be filed in the index, one per
	// matcher that matches only a known set of non-empty values.
	options [][]indexKey
	// check is Matchers with the cheap comparisons first.
	check []matcher
}

// matcher is a labels.Matcher with a literal prefix that every value its
// regexp matches starts with, checked before running the regexp: most
// values fail there, at a fraction of the regexp's cost.
type matcher struct {
	*labels.Matcher
	name   model.LabelName
	prefix string
}

func (m *matcher) matches(v string) bool {
	switch m.Type {
	case labels.MatchRegexp:
		if !strings.HasPrefix(v, m.prefix) {
			return false
		}
	case labels.MatchNotRegexp:
		if !strings.HasPrefix(v, m.prefix) {
			return true
		}
	}
	return m.Matches(v)
}

func newEntry(sil Silence) *entry {
	e := &entry{Silence: sil, check: make([]matcher, len(sil.Matchers))}
	for i, m := range sil.Matchers {
		e.check[i] = matcher{Matcher: m, name: model.LabelName(m.Name)}
		switch {
		case m.Type == labels.MatchEqual && m.Value != "":
			e.options = append(e.options, []indexKey{{m.Name, m.Value}})
		case m.Type == labels.MatchRegexp:
			if keys := setKeys(m); keys != nil {
				e.options = append(e.options, keys)
			}
		}
		if m.Type == labels.MatchRegexp || m.Type == labels.MatchNotRegexp {
			e.check[i].prefix = literalPrefix(m.Value)
		}
	}
	slices.SortStableFunc(e.check, func(a, b matcher) int { return matchCost(a) - matchCost(b) })
	return e
}

// matchCost orders matchers for checking: comparisons, then regexps with
// a prefix to reject on, then other regexps.
func matchCost(m matcher) int {
	switch {
	case m.Type == labels.MatchEqual || m.Type == labels.MatchNotEqual:
		return 0
	case m.prefix != "":
		return 1
	default:
		return 2
	}
}

// matches reports whether e's matchers all match lset (a missing label is
// the empty value).
func (e *entry) matches(lset model.LabelSet) bool { return e.matchesFrom(lset, 0) }

// matchesFrom is matches for check[from:], the others known to match.
func (e *entry) matchesFrom(lset model.LabelSet, from int) bool {
	for i := from; i < len(e.check); i++ {
		if !e.check[i].matches(string(lset[e.check[i].name])) {
			return false
		}
	}
	return true
}

// mutes reports whether e mutes lset at now.
func (e *entry) mutes(lset model.LabelSet, now time.Time) bool {
	return e.active(now) && e.matches(lset)
}

// setKeys returns the keys for a regexp matcher that matches only a finite
// set of non-empty strings (Prometheus' analysis, which it relies on to
// look up series by such regexps), or nil. This only chooses candidates:
// the matcher itself still decides.
func setKeys(m *labels.Matcher) []indexKey {
	fm, err := promlabels.NewFastRegexMatcher(m.Value)
	if err != nil {
		return nil
	}
	set := fm.SetMatches()
	if len(set) == 0 || slices.Contains(set, "") {
		return nil
	}
	keys := make([]indexKey, 0, len(set))
	for _, v := range set {
		if k := (indexKey{m.Name, v}); !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys
}

// literalPrefix returns a string that every value the (fully anchored)
// regexp expr matches starts with: its leading case-sensitive literal,
// as in "db-1.*". It returns "" when there is none.
func literalPrefix(expr string) string {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return ""
	}
	for (re.Op == syntax.OpConcat || re.Op == syntax.OpCapture) && len(re.Sub) > 0 {
		re = re.Sub[0]
	}
	if re.Op == syntax.OpLiteral && re.Flags&syntax.FoldCase == 0 {
		return string(re.Rune)
	}
	return ""
}
