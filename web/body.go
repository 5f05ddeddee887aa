package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
)

// errBodyType is the error of a JSON endpoint given another Content-Type.
var errBodyType = errors.New(`the body must be JSON, sent with "Content-Type: application/json"`)

// bodyError is a request body that cannot be used, with the status to
// answer.
type bodyError struct {
	status int
	err    error
}

func (e *bodyError) Error() string { return e.err.Error() }
func (e *bodyError) Unwrap() error { return e.err }

// jsonContentType reports whether r declares a JSON body. A plain HTML form
// cannot send this type to another site without a CORS preflight, which is
// why JSON endpoints insist on it (as Alertmanager's API does, with 415).
func jsonContentType(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

// readJSON decodes the body of r, which must be exactly one JSON value of
// type application/json, into v. Unknown object fields are refused when
// strict is set.
func readJSON(r *http.Request, v any, strict bool) error {
	var buf bytes.Buffer
	if err := readJSONBody(r, &buf); err != nil {
		return err
	}
	return decodeJSON(buf.Bytes(), v, strict)
}

// readJSONBody reads the body of r, which must be of type
// application/json, into buf.
func readJSONBody(r *http.Request, buf *bytes.Buffer) error {
	if !jsonContentType(r) {
		return &bodyError{http.StatusUnsupportedMediaType, errBodyType}
	}
	if _, err := buf.ReadFrom(r.Body); err != nil {
		return &bodyError{bodyStatus(err), fmt.Errorf("reading the body: %w", err)}
	}
	return nil
}

// decodeJSON decodes body, which must be exactly one JSON value, into v.
func decodeJSON(body []byte, v any, strict bool) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			err = errors.New("the body is empty")
		}
		return &bodyError{http.StatusBadRequest, fmt.Errorf("invalid JSON body: %w", err)}
	}
	// One value and nothing after it: a second value would otherwise be
	// ignored silently.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &bodyError{http.StatusBadRequest, fmt.Errorf("invalid JSON body: data after the value at offset %d", dec.InputOffset())}
	}
	return nil
}

// bodyErrorStatus returns the status for an error of readJSON.
func bodyErrorStatus(err error) int {
	var be *bodyError
	if errors.As(err, &be) {
		return be.status
	}
	return http.StatusBadRequest
}
