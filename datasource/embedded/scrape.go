package embedded

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/textparse"
	"github.com/prometheus/prometheus/promql"
)

// scraper turns a Gatherer's metrics into samples the way a Prometheus
// scrape with default settings does: it encodes them in the text exposition
// format and parses that with Prometheus' own parser (so that le and quantile
// values are normalised as Prometheus 3 stores them), honours exposed
// timestamps, and attaches the target labels with honor_labels: false.
type scraper struct {
	gatherer prometheus.Gatherer
	target   labels.Labels
	up       labels.Labels
	buf      bytes.Buffer
	lastErr  string // last gather error logged, "" while gathers work

	conflicts []labels.Label // scratch space of withTarget
}

// newScraper returns nil if there is nothing to gather.
func newScraper(g prometheus.Gatherer, target labels.Labels) *scraper {
	if g == nil {
		return nil
	}
	up := labels.NewBuilder(target).Set(model.MetricNameLabel, "up").Labels()
	return &scraper{gatherer: g, target: target, up: up}
}

// scrape gathers once and returns the samples, at ts (Unix ms) unless a
// metric carries its own timestamp. Any gather error fails the whole scrape,
// as client_golang's HTTP handler answers 500 on one by default.
func (s *scraper) scrape(ts int64) ([]promql.Sample, error) {
	mfs, err := s.gatherer.Gather()
	if err != nil {
		return nil, fmt.Errorf("gather: %w", err)
	}
	s.buf.Reset()
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&s.buf, mf); err != nil {
			return nil, fmt.Errorf("encode %s: %w", mf.GetName(), err)
		}
	}
	p := textparse.NewPromParser(s.buf.Bytes(), labels.NewSymbolTable(), false)
	var (
		out  []promql.Sample
		lset labels.Labels
		b    = labels.NewBuilder(labels.EmptyLabels())
	)
	for {
		e, err := p.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("parse: %w", err)
		}
		if e != textparse.EntrySeries {
			continue
		}
		_, tp, v := p.Series()
		p.Labels(&lset)
		t := ts
		if tp != nil {
			t = *tp
		}
		out = append(out, promql.Sample{T: t, F: v, Metric: s.withTarget(b, lset)})
	}
}

// withTarget adds the target labels to lset. Exposed labels that clash with
// a target label are kept as exported_<name>, resolved shortest name first,
// as Prometheus' mutateSampleLabels does.
func (s *scraper) withTarget(b *labels.Builder, lset labels.Labels) labels.Labels {
	b.Reset(lset)
	s.conflicts = s.conflicts[:0]
	s.target.Range(func(l labels.Label) {
		if v := lset.Get(l.Name); v != "" {
			s.conflicts = append(s.conflicts, labels.Label{Name: l.Name, Value: v})
		}
		b.Set(l.Name, l.Value)
	})
	slices.SortStableFunc(s.conflicts, func(a, b labels.Label) int { return len(a.Name) - len(b.Name) })
	for _, l := range s.conflicts {
		name := l.Name
		for {
			name = model.ExportedLabelPrefix + name
			if b.Get(name) == "" {
				b.Set(name, l.Value)
				break
			}
		}
	}
	return b.Labels()
}
