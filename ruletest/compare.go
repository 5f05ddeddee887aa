package ruletest

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
)

// firingAlert is an alert as compared: its labels (alertname included) and
// its expanded annotations.
type firingAlert struct {
	Labels, Annotations labels.Labels
}

func compareAlerts(a, b firingAlert) int {
	if c := labels.Compare(a.Labels, b.Labels); c != 0 {
		return c
	}
	return labels.Compare(a.Annotations, b.Annotations)
}

func (a firingAlert) equal(b firingAlert) bool {
	return labels.Equal(a.Labels, b.Labels) && labels.Equal(a.Annotations, b.Annotations)
}

// equalAlerts reports whether exp and got hold the same alerts, in any
// order, as promtool compares them.
func equalAlerts(exp, got []firingAlert) bool {
	exp, got = slices.Clone(exp), slices.Clone(got)
	slices.SortFunc(exp, compareAlerts)
	slices.SortFunc(got, compareAlerts)
	return slices.EqualFunc(exp, got, firingAlert.equal)
}

// sample is a query result or an expected sample as compared. Histogram
// is a native histogram in series notation, empty for a float sample.
type sample struct {
	Labels    labels.Labels
	Value     float64
	Histogram string
}

// equalSamples reports whether exp and got hold the same samples, in any
// order, as promtool compares them: values must be equal (NaN equals
// nothing), or with fuzzy one unit in the last place apart.
func equalSamples(exp, got []sample, fuzzy bool) bool {
	if len(exp) != len(got) {
		return false
	}
	exp, got = slices.Clone(exp), slices.Clone(got)
	byLabels := func(a, b sample) int { return labels.Compare(a.Labels, b.Labels) }
	slices.SortStableFunc(exp, byLabels)
	slices.SortStableFunc(got, byLabels)
	for i := range exp {
		if !labels.Equal(exp[i].Labels, got[i].Labels) || exp[i].Histogram != got[i].Histogram ||
			!equalFloat(exp[i].Value, got[i].Value, fuzzy) {
			return false
		}
	}
	return true
}

// equalFloat compares two values, allowing one unit in the last place with
// fuzzy (promtool's fuzzy_compare).
func equalFloat(x, y float64, fuzzy bool) bool {
	if x == y {
		return true
	}
	return fuzzy && (math.Nextafter(x, math.Inf(-1)) == y || math.Nextafter(x, math.Inf(1)) == y)
}

// diffAlerts describes how got differs from exp, one line per difference,
// each prefixed with indent: "- " an expected alert that did not fire,
// "+ " a firing alert that was not expected, "~ " an expected alert that
// fired with other labels or annotations (paired by the labels they
// share), followed by what differs.
func diffAlerts(exp, got []firingAlert, indent string) string {
	exp, got = unmatchedAlerts(exp, got)
	var b strings.Builder
	for _, p := range pairAlerts(exp, got) {
		switch {
		case p.got == nil:
			fmt.Fprintf(&b, "%s- %s\n", indent, p.exp.Labels)
			writeLabels(&b, indent+"    ", "", p.exp.Annotations)
		case p.exp == nil:
			fmt.Fprintf(&b, "%s+ %s\n", indent, p.got.Labels)
			writeLabels(&b, indent+"    ", "", p.got.Annotations)
		default:
			fmt.Fprintf(&b, "%s~ %s\n", indent, common(p.exp.Labels, p.got.Labels))
			writeLabelDiff(&b, indent+"    ", "labels:", p.exp.Labels, p.got.Labels)
			writeLabelDiff(&b, indent+"    ", "annotations:", p.exp.Annotations, p.got.Annotations)
		}
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// unmatchedAlerts drops the alerts found in both lists (as many times as
// they are in both).
func unmatchedAlerts(exp, got []firingAlert) (restExp, restGot []firingAlert) {
	used := make([]bool, len(got))
	for _, e := range exp {
		i := slices.IndexFunc(got, func(g firingAlert) bool { return g.equal(e) })
		for i >= 0 && used[i] {
			j := slices.IndexFunc(got[i+1:], func(g firingAlert) bool { return g.equal(e) })
			if j < 0 {
				i = -1
				break
			}
			i += 1 + j
		}
		if i < 0 {
			restExp = append(restExp, e)
			continue
		}
		used[i] = true
	}
	for i, g := range got {
		if !used[i] {
			restGot = append(restGot, g)
		}
	}
	return restExp, restGot
}

// alertPair is an expected alert, a firing one, or both when they look
// like the same alert with differences.
type alertPair struct {
	exp, got *firingAlert
}

// pairAlerts pairs each expected alert with the firing alert that has the
// same labels, or else shares most of them (at least half, alertname
// aside); the rest stay alone. Pairs come sorted by labels.
func pairAlerts(exp, got []firingAlert) []alertPair {
	slices.SortFunc(exp, compareAlerts)
	slices.SortFunc(got, compareAlerts)
	used := make([]bool, len(got))
	var out []alertPair
	for i := range exp {
		best, bestScore := -1, 0
		for j := range got {
			if used[j] {
				continue
			}
			score := similarity(exp[i].Labels, got[j].Labels)
			if score > bestScore {
				best, bestScore = j, score
			}
		}
		p := alertPair{exp: &exp[i]}
		if best >= 0 {
			used[best] = true
			p.got = &got[best]
		}
		out = append(out, p)
	}
	for j := range got {
		if !used[j] {
			out = append(out, alertPair{got: &got[j]})
		}
	}
	slices.SortStableFunc(out, func(a, b alertPair) int { return labels.Compare(a.labels(), b.labels()) })
	return out
}

func (p alertPair) labels() labels.Labels {
	if p.exp != nil {
		return p.exp.Labels
	}
	return p.got.Labels
}

// similarity scores how alike two alerts' labels are: 0 when they should
// not be paired, the highest for equal labels.
func similarity(a, b labels.Labels) int {
	if labels.Equal(a, b) {
		return math.MaxInt
	}
	shared, total := 0, 0
	a.Range(func(l labels.Label) {
		if l.Name == labels.AlertName {
			return
		}
		total++
		if b.Get(l.Name) == l.Value {
			shared++
		}
	})
	total = max(total, b.Len()-1)
	if shared == 0 || 2*shared < total {
		return 0
	}
	return shared
}

// common returns the labels a and b share.
func common(a, b labels.Labels) labels.Labels {
	bld := labels.NewScratchBuilder(a.Len())
	a.Range(func(l labels.Label) {
		if b.Has(l.Name) && b.Get(l.Name) == l.Value {
			bld.Add(l.Name, l.Value)
		}
	})
	return bld.Labels()
}

// writeLabels writes one line per label, name="value".
func writeLabels(b *strings.Builder, indent, sign string, ls labels.Labels) {
	ls.Range(func(l labels.Label) {
		fmt.Fprintf(b, "%s%s%s=%q\n", indent, sign, l.Name, l.Value)
	})
}

// writeLabelDiff writes, under title, the labels of exp that got lacks or
// has with another value ("- ") and those of got that differ ("+ ").
func writeLabelDiff(b *strings.Builder, indent, title string, exp, got labels.Labels) {
	only := func(a, other labels.Labels) labels.Labels {
		bld := labels.NewScratchBuilder(0)
		a.Range(func(l labels.Label) {
			if !other.Has(l.Name) || other.Get(l.Name) != l.Value {
				bld.Add(l.Name, l.Value)
			}
		})
		return bld.Labels()
	}
	missing, extra := only(exp, got), only(got, exp)
	if missing.IsEmpty() && extra.IsEmpty() {
		return
	}
	fmt.Fprintf(b, "%s%s\n", indent, title)
	writeLabels(b, indent+"  ", "- ", missing)
	writeLabels(b, indent+"  ", "+ ", extra)
}

// diffSamples describes how got differs from exp: "- " for an expected
// sample not in the result (or with another value), "+ " for a result
// sample not expected, sorted by labels.
func diffSamples(exp, got []sample, fuzzy bool, indent string) string {
	used := make([]bool, len(got))
	type line struct {
		sign string
		s    sample
	}
	var lines []line
	for _, e := range exp {
		i := slices.IndexFunc(got, func(g sample) bool { return g.equal(e, fuzzy) })
		for i >= 0 && used[i] {
			j := slices.IndexFunc(got[i+1:], func(g sample) bool { return g.equal(e, fuzzy) })
			if j < 0 {
				i = -1
				break
			}
			i += 1 + j
		}
		if i >= 0 {
			used[i] = true
			continue
		}
		lines = append(lines, line{"- ", e})
	}
	for i, g := range got {
		if !used[i] {
			lines = append(lines, line{"+ ", g})
		}
	}
	slices.SortStableFunc(lines, func(a, b line) int {
		if c := labels.Compare(a.s.Labels, b.s.Labels); c != 0 {
			return c
		}
		return strings.Compare(b.sign, a.sign) // "- " before "+ "
	})
	var b strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&b, "%s%s%s\n", indent, l.sign, l.s)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func (s sample) equal(o sample, fuzzy bool) bool {
	return labels.Equal(s.Labels, o.Labels) && s.Histogram == o.Histogram && equalFloat(s.Value, o.Value, fuzzy)
}

// String writes the sample as labels and value (or histogram).
func (s sample) String() string {
	if s.Histogram != "" {
		return s.Labels.String() + " " + s.Histogram
	}
	return s.Labels.String() + " " + formatValue(s.Value)
}

// formatValue writes v exactly (the shortest text that reads back as v),
// without an exponent for everyday magnitudes.
func formatValue(v float64) string {
	if a := math.Abs(v); a == 0 || (a >= 1e-4 && a < 1e21) {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// count writes n and the noun, in the plural unless n is 1.
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
