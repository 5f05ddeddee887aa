package promapi

import (
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
)

// errNotVector is returned for results that are neither a vector nor a
// scalar, with the same text as Prometheus' rules.EngineQueryFunc.
var errNotVector = errors.New("rule result is not a vector or scalar")

// response is the decoded body of a /api/v1/query answer. Warnings and
// infos are skipped: they never fail a query.
type response struct {
	status    string
	errorType string
	errorMsg  string
	// resultType is empty when the body had no data.resultType.
	resultType string
	hasResult  bool
	vector     promql.Vector
	// matrix is only decoded by decodeRangeResponse (range.go).
	matrix promql.Matrix
}

// decoder turns response bodies into promql.Vectors. It is not safe for
// concurrent use; decoders are recycled through decoderPool so that the
// scratch space for strings and labels is reused across queries.
type decoder struct {
	s scanner
	// lbuf collects a sample's label names and values; they are turned into
	// one string so that a sample costs one string allocation plus the one
	// labels.ScratchBuilder.Labels makes.
	lbuf []byte
	// lofs holds the end offset in lbuf of each name and value.
	lofs []int
	lb   labels.ScratchBuilder
	// wantMatrix makes result decode a matrix instead of skipping it.
	wantMatrix bool
}

var decoderPool = sync.Pool{New: func() any { return new(decoder) }}

// decodeResponse decodes body. On success, the caller owns r.vector.
func decodeResponse(body []byte) (response, error) {
	d := decoderPool.Get().(*decoder)
	r, err := d.decode(body)
	d.s.buf = nil // do not keep the body alive from the pool
	decoderPool.Put(d)
	return r, err
}

func (d *decoder) decode(body []byte) (r response, err error) {
	d.s.reset(body)
	if err := d.s.consume('{'); err != nil {
		return r, err
	}
	for first := true; ; first = false {
		more, err := d.s.more('}', first)
		if err != nil {
			return r, err
		}
		if !more {
			break
		}
		k, err := d.s.key()
		if err != nil {
			return r, err
		}
		switch string(k) {
		case "status":
			r.status, err = d.word()
		case "errorType":
			r.errorType, err = d.str()
		case "error":
			r.errorMsg, err = d.str()
		case "data":
			err = d.data(&r)
		default:
			err = d.s.skip(1)
		}
		if err != nil {
			return r, err
		}
	}
	return r, d.s.end()
}

// str reads a string into a new Go string.
func (d *decoder) str() (string, error) {
	b, err := d.s.string()
	return string(b), err
}

// word reads a string that is usually one of a few known words, without
// allocating for those.
func (d *decoder) word() (string, error) {
	b, err := d.s.string()
	switch string(b) {
	case "success":
		return "success", err
	case "error":
		return "error", err
	case "vector":
		return "vector", err
	case "scalar":
		return "scalar", err
	case "matrix":
		return "matrix", err
	}
	return string(b), err
}

// data decodes the data object. Prometheus writes resultType before result;
// if another server does not, result is skipped over first and decoded once
// its type is known.
func (d *decoder) data(r *response) error {
	r.resultType, r.hasResult, r.vector = "", false, nil
	if d.s.null() {
		return nil
	}
	if err := d.s.consume('{'); err != nil {
		return err
	}
	deferred := -1
	for first := true; ; first = false {
		more, err := d.s.more('}', first)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		k, err := d.s.key()
		if err != nil {
			return err
		}
		switch string(k) {
		case "resultType":
			r.resultType, err = d.word()
		case "result":
			r.hasResult = true
			if r.resultType == "" {
				deferred = d.s.pos
				err = d.s.skip(2)
			} else {
				err = d.result(r)
			}
		default:
			err = d.s.skip(2)
		}
		if err != nil {
			return err
		}
	}
	if deferred < 0 || r.resultType == "" {
		return nil
	}
	end := d.s.pos
	d.s.pos = deferred
	err := d.result(r)
	d.s.pos = end
	return err
}

// result decodes data.result according to r.resultType. Matrix and string
// results are skipped: they are an error only if the query succeeded.
func (d *decoder) result(r *response) error {
	switch r.resultType {
	case "vector":
		return d.vector(r)
	case "scalar":
		t, f, err := d.pair()
		if err != nil {
			return fmt.Errorf("scalar: %w", err)
		}
		r.vector = promql.Vector{{T: t, F: f, Metric: labels.EmptyLabels()}}
		return nil
	case "matrix":
		if d.wantMatrix {
			return d.matrix(r)
		}
		return d.s.skip(2)
	default:
		return d.s.skip(2)
	}
}

func (d *decoder) vector(r *response) error {
	r.vector = nil
	vec := promql.Vector{}
	err := d.array(func() error {
		smpl, err := d.sample()
		if err != nil {
			return fmt.Errorf("sample %d: %w", len(vec), err)
		}
		vec = append(vec, smpl)
		return nil
	})
	if err != nil {
		return err
	}
	r.vector = vec
	return nil
}

// array decodes a JSON array, calling elem to decode each element.
func (d *decoder) array(elem func() error) error {
	if err := d.s.consume('['); err != nil {
		return err
	}
	for first := true; ; first = false {
		more, err := d.s.more(']', first)
		if err != nil {
			return err
		}
		if !more {
			return nil
		}
		if err := elem(); err != nil {
			return err
		}
	}
}

// sample decodes one element of a vector. A sample carrying a native
// histogram keeps its labels and timestamp but gets F = 0 and H = nil: alert
// rules only look at which series exist, and decoding histograms is not worth
// its cost here.
func (d *decoder) sample() (promql.Sample, error) {
	var smpl promql.Sample
	if err := d.s.consume('{'); err != nil {
		return smpl, err
	}
	hasValue, hasMetric := false, false
	for first := true; ; first = false {
		more, err := d.s.more('}', first)
		if err != nil {
			return smpl, err
		}
		if !more {
			break
		}
		k, err := d.s.key()
		if err != nil {
			return smpl, err
		}
		switch string(k) {
		case "metric":
			hasMetric = true
			smpl.Metric, err = d.metric()
		case "value":
			hasValue = true
			smpl.T, smpl.F, err = d.pair()
		case "histogram":
			hasValue = true
			smpl.T, err = d.histogram()
			smpl.F = 0
		default:
			err = d.s.skip(4)
		}
		if err != nil {
			return smpl, err
		}
	}
	if !hasValue {
		return smpl, errors.New("no value or histogram")
	}
	if !hasMetric {
		smpl.Metric = labels.EmptyLabels()
	}
	return smpl, nil
}

// metric decodes a label set. Labels with an empty value are dropped, as
// Prometheus treats them as absent; an empty name is an error.
func (d *decoder) metric() (labels.Labels, error) {
	d.lbuf, d.lofs = d.lbuf[:0], d.lofs[:0]
	if d.s.null() {
		return labels.EmptyLabels(), nil
	}
	if err := d.s.consume('{'); err != nil {
		return labels.EmptyLabels(), err
	}
	for first := true; ; first = false {
		more, err := d.s.more('}', first)
		if err != nil {
			return labels.EmptyLabels(), err
		}
		if !more {
			break
		}
		name, err := d.s.key()
		if err != nil {
			return labels.EmptyLabels(), err
		}
		start := len(d.lbuf)
		d.lbuf = append(d.lbuf, name...)
		nameEnd := len(d.lbuf)
		value, err := d.s.string()
		if err != nil {
			return labels.EmptyLabels(), fmt.Errorf("label value: %w", err)
		}
		switch {
		case len(value) == 0: // as in Prometheus, the same as no label
			d.lbuf = d.lbuf[:start]
		case nameEnd == start:
			return labels.EmptyLabels(), errors.New("empty label name")
		default:
			d.lbuf = append(d.lbuf, value...)
			d.lofs = append(d.lofs, nameEnd, len(d.lbuf))
		}
	}
	if len(d.lofs) == 0 {
		return labels.EmptyLabels(), nil
	}
	all := string(d.lbuf)
	d.lb.Reset()
	start := 0
	for i := 0; i < len(d.lofs); i += 2 {
		d.lb.Add(all[start:d.lofs[i]], all[d.lofs[i]:d.lofs[i+1]])
		start = d.lofs[i+1]
	}
	d.lb.Sort()
	ls := d.lb.Labels()
	if name, dup := ls.HasDuplicateLabelNames(); dup {
		return labels.EmptyLabels(), fmt.Errorf("duplicate label name %q", truncate(name, 64))
	}
	return ls, nil
}

// pair decodes a [timestamp, "value"] pair as used by vector samples and
// scalars.
func (d *decoder) pair() (int64, float64, error) {
	t, err := d.timestamp()
	if err != nil {
		return 0, 0, err
	}
	if err := d.s.consume(','); err != nil {
		return 0, 0, err
	}
	v, err := d.s.string()
	if err != nil {
		return 0, 0, err
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil {
		return 0, 0, fmt.Errorf("invalid sample value %q", truncate(string(v), 64))
	}
	return t, f, d.s.consume(']')
}

// histogram skips a [timestamp, {histogram}] pair and returns the timestamp.
func (d *decoder) histogram() (int64, error) {
	t, err := d.timestamp()
	if err != nil {
		return 0, err
	}
	if err := d.s.consume(','); err != nil {
		return 0, err
	}
	if d.s.peek() != '{' {
		return 0, d.s.syntaxErr("histogram object")
	}
	if err := d.s.skip(5); err != nil {
		return 0, err
	}
	return t, d.s.consume(']')
}

// timestamp reads the opening bracket of a pair and the timestamp in it.
func (d *decoder) timestamp() (int64, error) {
	if err := d.s.consume('['); err != nil {
		return 0, err
	}
	num, err := d.s.number()
	if err != nil {
		return 0, err
	}
	t, ok := parseMillis(num)
	if !ok {
		return 0, fmt.Errorf("timestamp %s out of range", truncate(string(num), 64))
	}
	return t, nil
}
