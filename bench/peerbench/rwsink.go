package main

import (
	"io"
	"net/http"
	"sync"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
)

// rwSink is a remote-write receiver that decodes each request (snappy,
// protobuf) and counts the samples, as a real one must read them.
type rwSink struct {
	mu       sync.Mutex
	samples  int
	requests int
	bad      int
}

func (s *rwSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	var wr prompb.WriteRequest
	if err == nil {
		var raw []byte
		if raw, err = snappy.Decode(nil, b); err == nil {
			err = wr.Unmarshal(raw)
		}
	}
	n := 0
	for _, ts := range wr.Timeseries {
		n += len(ts.Samples)
	}
	s.mu.Lock()
	s.requests++
	if err != nil {
		s.bad++
	}
	s.samples += n
	s.mu.Unlock()
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// counts returns the samples and requests taken so far, and the bad ones.
func (s *rwSink) counts() (samples, requests, bad int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.samples, s.requests, s.bad
}
