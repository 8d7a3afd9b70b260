package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/balint-health/balint/cdshooks"
	"github.com/balint-health/balint/fhir"
	"github.com/balint-health/balint/fhir/client"
	"github.com/balint-health/balint/services"
	"github.com/balint-health/balint/synth"
)

// benchSizes are the padded Observations of the benchmark histories: about
// 300, 5,000 and 20,000 resources, and the 5,000-Observation history
// (10,012 resources, about 7 MB) the prefetch target is stated for.
var benchSizes = []int{150, 2500, 5000, 10000}

// hookBody is a patient-view call with a generated pattern history
// prefetched; the generator adds an order for every padded Observation.
func hookBody(obs int) (body []byte, resources int) {
	rec := synth.Generate(synth.Options{Seed: 3, Now: testNow, PatientID: "bench-1", Pattern: true, Observations: obs})
	pre, _ := json.Marshal(fhir.Prefetch(rec.OfType))
	return []byte(patientView("bench-1", `,"prefetch":`+string(pre))), len(rec.Resources)
}

func eachSize(b *testing.B, run func(b *testing.B, body []byte, obs int)) {
	for _, obs := range benchSizes {
		body, n := hookBody(obs)
		b.Run(fmt.Sprintf("resources=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			run(b, body, obs)
		})
	}
}

// BenchmarkDecodeFloor is encoding/json decoding the hook body into the
// smallest structs that hold what the rule reads: the floor the prefetch
// target is measured against.
func BenchmarkDecodeFloor(b *testing.B) {
	eachSize(b, func(b *testing.B, body []byte, obs int) {
		for b.Loop() {
			var h floorHook
			if err := json.Unmarshal(body, &h); err != nil || len(h.Prefetch["observations"].Entry) < obs {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDecode is what the service does with the same body before the
// rule runs: the hook call validated, every prefetch value decoded into the
// history.
func BenchmarkDecode(b *testing.B) {
	var l client.Loader
	eachSize(b, func(b *testing.B, body []byte, obs int) {
		for b.Loop() {
			req, _, err := cdshooks.DecodeRequest(body, "patient-view")
			if err != nil {
				b.Fatal(err)
			}
			h, err := l.Load(context.Background(), client.Request{Prefetch: req.Prefetch})
			if err != nil || len(h.Observations) < obs {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkHook is a whole patient-view call with everything prefetched:
// decoding, the rule, the card, the evidence snapshot and the SQLite
// writes, through the echo stack and its middleware (no network).
func BenchmarkHook(b *testing.B) {
	in := start(b, nil)
	eachSize(b, func(b *testing.B, body []byte, obs int) {
		for b.Loop() {
			req := httptest.NewRequest(http.MethodPost, "/cds-services/"+services.ReviewID, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			in.Handler.ServeHTTP(w, req)
			if w.Code != 200 || !bytes.Contains(w.Body.Bytes(), []byte(`"summary"`)) {
				b.Fatalf("%d %.200s", w.Code, w.Body.Bytes())
			}
		}
	})
}
