package backtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"time"
)

// WriteJSON writes rep as json.Marshal would, but one rule, notification
// and suppression at a time (each on a line of its own), so that a report
// with tens of thousands of notifications is not built in memory twice
// over: encoding one whole costs several times the report's size.
func WriteJSON(w io.Writer, rep *Report) error {
	bw := bufio.NewWriter(w)
	j := &jsonWriter{w: bw, enc: json.NewEncoder(bw)}
	b, err := json.Marshal(struct {
		From           time.Time `json:"from"`
		To             time.Time `json:"to"`
		Step           string    `json:"step,omitempty"`
		Evaluations    int       `json:"evaluations"`
		RangeQueries   int       `json:"range_queries"`
		InstantQueries int       `json:"instant_queries"`
	}{rep.From, rep.To, durationString(rep.Step, rep.Step > 0), rep.Evaluations, rep.RangeQueries, rep.InstantQueries})
	if err != nil {
		return err
	}
	// The head's fields, without its closing brace: the lists follow.
	j.raw(string(bytes.TrimSuffix(b, []byte("}"))) + `,"rules":[`)
	for i := range rep.Rules {
		j.item(i, rep.Rules[i])
	}
	j.raw(`],"receivers":[`)
	for i, r := range rep.Receivers {
		if i > 0 {
			j.raw(",")
		}
		name, err := json.Marshal(r.Name)
		if err != nil {
			return err
		}
		j.raw(`{"name":` + string(name) + `,"notifications":[`)
		for k := range r.Notifications {
			j.item(k, &r.Notifications[k])
		}
		j.raw(`],"suppressed":[`)
		for k := range r.Suppressed {
			j.item(k, &r.Suppressed[k])
		}
		j.raw("]}")
	}
	j.raw("]}\n")
	if j.err != nil {
		return j.err
	}
	return bw.Flush()
}

// jsonWriter writes JSON text and values, keeping the first error.
type jsonWriter struct {
	w   *bufio.Writer
	enc *json.Encoder
	err error
}

func (j *jsonWriter) raw(s string) {
	if j.err == nil {
		_, j.err = j.w.WriteString(s)
	}
}

// item writes the i-th element of a list (the encoder ends it with a
// newline, which JSON takes as white space).
func (j *jsonWriter) item(i int, v any) {
	if i > 0 {
		j.raw(",")
	}
	if j.err == nil {
		j.err = j.enc.Encode(v)
	}
}
