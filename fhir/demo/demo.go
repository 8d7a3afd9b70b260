// Package demo serves the embedded demo patients (written by
// `go generate ./fhir/demo` from the synth generator) as an in-process FHIR
// search source, so demo hook calls take the same history path as a real
// server. Dates move forward with the clock so the demo never ages out of
// the rule's windows.
package demo

//go:generate go run ../../cmd/balint-synth -demo data

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/balint-health/balint/fhir"
	"github.com/balint-health/balint/fhir/client"
	"github.com/balint-health/balint/synth"
)

//go:embed data/*.json
var files embed.FS

// Source answers FHIR searches for the demo patients.
type Source struct {
	Now func() time.Time

	mu    sync.Mutex
	shift int // days the cached copy is moved by
	byPID map[string]map[string][]json.RawMessage
}

// New returns a demo source on the given clock.
func New(now func() time.Time) *Source {
	return &Source{Now: now, shift: -1}
}

// PatientIDs lists the demo patients.
func PatientIDs() []string {
	var ids []string
	for _, p := range synth.DemoPatients {
		ids = append(ids, p.ID)
	}
	return ids
}

// Search implements client.Searcher for "Type?patient=ID..." searches and
// "Patient/ID" reads. Search parameters other than patient are not applied:
// the rule applies its own windows.
func (s *Source) Search(ctx context.Context, query string, page func([]byte) error) error {
	data, err := s.data()
	if err != nil {
		return err
	}
	path, rawq, _ := strings.Cut(strings.TrimPrefix(query, "/"), "?")
	typ, id, isRead := strings.Cut(path, "/")
	if isRead {
		if typ != "Patient" || data[id] == nil {
			return client.Failure("HTTP 404")
		}
		return page(data[id]["Patient"][0])
	}
	q, err := url.ParseQuery(rawq)
	if err != nil {
		return client.Failure("HTTP 400")
	}
	pid := strings.TrimPrefix(q.Get("patient"), "Patient/")
	if pid == "" {
		pid = strings.TrimPrefix(q.Get("subject"), "Patient/")
	}
	return page(fhir.Searchset(data[pid][typ]))
}

func (s *Source) data() (map[string]map[string][]json.RawMessage, error) {
	days := int(s.Now().UTC().Sub(synth.DemoEpoch).Hours() / 24)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byPID != nil && s.shift == days {
		return s.byPID, nil
	}
	out := map[string]map[string][]json.RawMessage{}
	for _, id := range PatientIDs() {
		b, err := files.ReadFile("data/" + id + ".json")
		if err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
		var bundle struct {
			Entry []struct {
				Resource map[string]any `json:"resource"`
			} `json:"entry"`
		}
		if err := json.Unmarshal(b, &bundle); err != nil {
			return nil, fmt.Errorf("demo %s: %w", id, err)
		}
		byType := map[string][]json.RawMessage{}
		for _, e := range bundle.Entry {
			moved, _ := json.Marshal(shiftDates(e.Resource, days))
			t, _ := e.Resource["resourceType"].(string)
			byType[t] = append(byType[t], moved)
		}
		out[id] = byType
	}
	s.byPID, s.shift = out, days
	return out, nil
}

// shiftDates moves every FHIR date and dateTime in v by days.
func shiftDates(v any, days int) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = shiftDates(e, days)
		}
	case []any:
		for i, e := range x {
			x[i] = shiftDates(e, days)
		}
	case string:
		if t, err := time.Parse(time.RFC3339, x); err == nil {
			return t.AddDate(0, 0, days).Format(time.RFC3339)
		}
		if len(x) == 10 {
			if t, err := time.Parse("2006-01-02", x); err == nil {
				return t.AddDate(0, 0, days).Format("2006-01-02")
			}
		}
	}
	return v
}
