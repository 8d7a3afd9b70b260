package client

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/balint-health/balint/fhir"
	"github.com/balint-health/balint/synth"
)

// sequentially is how prefetch was read before parts were decoded side
// by side: one part after another into one history.
func sequentially(t *testing.T, prefetch map[string]json.RawMessage) *fhir.History {
	h := fhir.NewHistory()
	for _, k := range fhir.Kinds {
		raw, ok := prefetch[k.Key]
		if k.Query == "" || !ok || isNull(raw) || fhir.IsOperationOutcome(raw) {
			continue
		}
		if _, err := h.AddJSON(k.Key, fhir.FromPrefetch, raw); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// TestPrefetchSideBySide: decoding the parts side by side and merging
// them gives the history that reading them one after another gives,
// resources in several parts, Patients in the wrong part and duplicates
// across parts included.
func TestPrefetchSideBySide(t *testing.T) {
	now := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	bundle := func(resources ...string) json.RawMessage {
		b := `{"resourceType":"Bundle","type":"searchset","entry":[`
		for i, r := range resources {
			if i > 0 {
				b += ","
			}
			b += `{"resource":` + r + `}`
		}
		return json.RawMessage(b + `]}`)
	}
	obs := func(id, status string) string {
		return `{"resourceType":"Observation","id":"` + id + `","status":"` + status + `","code":{"text":"x"}}`
	}
	pt := func(id string) string { return `{"resourceType":"Patient","id":"` + id + `"}` }
	role := `{"resourceType":"PractitionerRole","id":"r1"}`
	cases := map[string]map[string]json.RawMessage{
		"duplicates across parts": {
			"observations": bundle(obs("a", "final"), obs("b", "final")),
			"reports":      bundle(obs("b", "final"), obs("c", "entered-in-error"), obs("a", "bogus")),
		},
		"included roles in two parts": {
			"encounters": bundle(role, `{"resourceType":"Encounter","id":"e","status":"finished","class":{}}`),
			"requests":   bundle(role, `{"resourceType":"PractitionerRole","id":"r2"}`),
		},
		"patients in other parts": {
			"patient":      json.RawMessage(pt("p1")),
			"observations": bundle(pt("p2"), pt("p1"), obs("a", "final")),
		},
		"a patient only elsewhere": {
			"conditions": bundle(pt("p3")),
		},
		"null and outcome": {
			"observations": json.RawMessage(`null`),
			"reports":      json.RawMessage(`{"resourceType":"OperationOutcome"}`),
			"conditions":   bundle(),
		},
	}
	for seed := range int64(4) {
		rec := synth.Generate(synth.Options{Seed: seed, Now: now, Pattern: seed%2 == 0, Observations: 30})
		pre := map[string]json.RawMessage{}
		for k, v := range fhir.Prefetch(rec.OfType) {
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			pre[k] = b
		}
		cases["generated "+string(rune('0'+seed))] = pre
	}
	for name, pre := range cases {
		t.Run(name, func(t *testing.T) {
			got, _, err := decodePrefetch(pre, nil)
			if err != nil {
				t.Fatal(err)
			}
			want := sequentially(t, pre)
			if !reflect.DeepEqual(dropEmpty(got), dropEmpty(want)) {
				a, _ := json.Marshal(got)
				b, _ := json.Marshal(want)
				t.Fatalf("side by side:\n%s\none after another:\n%s", a, b)
			}
		})
	}
}

// dropEmpty makes empty lists nil: a list tried and taken back is empty
// where one never tried is nil, and the two are the same history. It also
// drops the set of resources seen, which a merged history holds part by
// part and a history read alone in one piece: the resources held are what
// is compared.
func dropEmpty(h *fhir.History) *fhir.History {
	v := reflect.ValueOf(h).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		switch {
		case v.Type().Field(i).Name == "seen":
			reflect.NewAt(f.Type(), f.Addr().UnsafePointer()).Elem().SetZero()
		case f.Kind() == reflect.Slice && f.Len() == 0 && f.CanSet():
			f.Set(reflect.Zero(f.Type()))
		}
	}
	return h
}
