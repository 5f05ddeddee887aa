package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"

	"github.com/alerter/alerter/silences"
)

// SilenceStore is what the API needs of the silences.
type SilenceStore interface {
	Set(ctx context.Context, sil silences.Silence) (string, error)
	Expire(ctx context.Context, id string) error
	Get(id string) (silences.Silence, error)
	Query(opts ...silences.QueryOption) []silences.Silence
	Mutes(lset model.LabelSet) []string
}

type matcherJSON struct {
	Name    string `json:"name"`
	Value   string `json:"value"`
	IsRegex bool   `json:"isRegex"`
	IsEqual *bool  `json:"isEqual,omitempty"`
}

type silenceJSON struct {
	ID          string         `json:"id,omitempty"`
	Matchers    []matcherJSON  `json:"matchers"`
	StartsAt    time.Time      `json:"startsAt"`
	EndsAt      time.Time      `json:"endsAt"`
	CreatedBy   string         `json:"createdBy"`
	Comment     string         `json:"comment"`
	Annotations model.LabelSet `json:"annotations,omitempty"`
}

type gettableSilence struct {
	silenceJSON
	Status struct {
		State silences.State `json:"state"`
	} `json:"status"`
	UpdatedAt time.Time `json:"updatedAt"`
}

func silenceView(s silences.Silence, now time.Time) gettableSilence {
	var g gettableSilence
	g.ID, g.StartsAt, g.EndsAt = s.ID, s.StartsAt, s.EndsAt
	g.CreatedBy, g.Comment, g.UpdatedAt = s.CreatedBy, s.Comment, s.UpdatedAt
	g.Annotations = model.LabelSet{}
	g.Status.State = s.State(now)
	g.Matchers = make([]matcherJSON, len(s.Matchers))
	for i, m := range s.Matchers {
		eq := m.Type == labels.MatchEqual || m.Type == labels.MatchRegexp
		g.Matchers[i] = matcherJSON{
			Name: m.Name, Value: m.Value, IsEqual: &eq,
			IsRegex: m.Type == labels.MatchRegexp || m.Type == labels.MatchNotRegexp,
		}
	}
	return g
}

func (h *handler) getSilences(w http.ResponseWriter, r *http.Request) {
	ms, err := parseFilter(h.opts.MatcherSyntax, r.URL.Query()["filter"])
	if err != nil {
		apiError(w, http.StatusBadRequest, err)
		return
	}
	now := time.Now()
	out := []gettableSilence{}
	for _, s := range h.opts.Silences.Query() {
		if !silenceMatchesFilter(s, ms) {
			continue
		}
		out = append(out, silenceView(s, now))
	}
	sortSilences(out)
	writeJSON(w, http.StatusOK, out)
}

// silenceMatchesFilter is Alertmanager's filter for silences: every filter
// matcher must match the value of the silence's matcher of the same name.
func silenceMatchesFilter(s silences.Silence, filter labels.Matchers) bool {
	for _, f := range filter {
		found := false
		for _, m := range s.Matchers {
			if m.Name == f.Name && f.Matches(m.Value) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// sortSilences orders silences as Alertmanager does: active ones ending
// soonest first, then pending ones starting soonest, then expired ones
// that ended most recently.
func sortSilences(ss []gettableSilence) {
	rank := map[silences.State]int{silences.StateActive: 0, silences.StatePending: 1, silences.StateExpired: 2}
	sort.SliceStable(ss, func(i, j int) bool {
		a, b := ss[i], ss[j]
		if ra, rb := rank[a.Status.State], rank[b.Status.State]; ra != rb {
			return ra < rb
		}
		switch a.Status.State {
		case silences.StateActive:
			return a.EndsAt.Before(b.EndsAt)
		case silences.StatePending:
			return a.StartsAt.Before(b.StartsAt)
		default:
			return a.EndsAt.After(b.EndsAt)
		}
	})
}

func (h *handler) postSilence(w http.ResponseWriter, r *http.Request) {
	var in silenceJSON
	if err := readJSON(r, &in, false); err != nil {
		apiError(w, bodyErrorStatus(err), err)
		return
	}
	sil, err := silenceFromJSON(in)
	if err == nil {
		for _, m := range sil.Matchers {
			if !h.opts.MatcherSyntax.ValidLabelName(m.Name) {
				err = fmt.Errorf("matcher %s: invalid label name %q in classic mode", m, m.Name)
				break
			}
		}
	}
	if err != nil {
		apiError(w, http.StatusBadRequest, err)
		return
	}
	id, err := h.opts.Silences.Set(r.Context(), sil)
	if err != nil {
		apiError(w, silenceErrorStatus(err), err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"silenceID": id})
}

func silenceFromJSON(in silenceJSON) (silences.Silence, error) {
	sil := silences.Silence{
		ID: in.ID, StartsAt: in.StartsAt, EndsAt: in.EndsAt, CreatedBy: in.CreatedBy, Comment: in.Comment,
	}
	if len(in.Matchers) == 0 {
		return sil, errors.New("silence has no matchers")
	}
	for i, mj := range in.Matchers {
		eq := mj.IsEqual == nil || *mj.IsEqual
		t := labels.MatchEqual
		switch {
		case mj.IsRegex && eq:
			t = labels.MatchRegexp
		case mj.IsRegex:
			t = labels.MatchNotRegexp
		case !eq:
			t = labels.MatchNotEqual
		}
		m, err := labels.NewMatcher(t, mj.Name, mj.Value)
		if err != nil {
			return sil, fmt.Errorf("matcher %d (%s): %w", i, mj.Name, err)
		}
		sil.Matchers = append(sil.Matchers, m)
	}
	if in.StartsAt.IsZero() || in.EndsAt.IsZero() {
		return sil, errors.New("startsAt and endsAt are required")
	}
	return sil, nil
}

func silenceErrorStatus(err error) int {
	var ve *silences.ValidationError
	switch {
	case errors.As(err, &ve), errors.Is(err, silences.ErrExpired):
		return http.StatusBadRequest
	case errors.Is(err, silences.ErrNotFound):
		return http.StatusNotFound
	default:
		return http.StatusInternalServerError
	}
}

func (h *handler) getSilence(w http.ResponseWriter, r *http.Request) {
	s, err := h.opts.Silences.Get(r.PathValue("id"))
	if err != nil {
		apiError(w, silenceErrorStatus(err), err)
		return
	}
	writeJSON(w, http.StatusOK, silenceView(s, time.Now()))
}

func (h *handler) deleteSilence(w http.ResponseWriter, r *http.Request) {
	if err := h.opts.Silences.Expire(r.Context(), r.PathValue("id")); err != nil {
		apiError(w, silenceErrorStatus(err), err)
		return
	}
	w.WriteHeader(http.StatusOK)
}
