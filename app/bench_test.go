package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/balint-health/balint/fhir"
	"github.com/balint-health/balint/services"
	"github.com/balint-health/balint/synth"
)

// BenchmarkHookPrefetch is a whole patient-view call with everything
// prefetched: decoding, the rule, the card, the evidence snapshot and the
// SQLite writes, through the echo stack (no network).
func BenchmarkHookPrefetch(b *testing.B) {
	in := start(b, nil)
	for _, obs := range []int{100, 1000, 5000} {
		rec := synth.Generate(synth.Options{Seed: 3, Now: testNow, PatientID: "bench-1", Pattern: true, Observations: obs})
		pre, _ := json.Marshal(fhir.Prefetch(rec.OfType))
		body := []byte(patientView("bench-1", `,"prefetch":`+string(pre)))
		b.Run(fmt.Sprintf("observations=%d", obs), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/cds-services/"+services.ReviewID, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				w := httptest.NewRecorder()
				in.Handler.ServeHTTP(w, req)
				if w.Code != 200 || !bytes.Contains(w.Body.Bytes(), []byte(`"summary"`)) {
					b.Fatalf("%d %.200s", w.Code, w.Body.Bytes())
				}
			}
			b.ReportMetric(float64(len(rec.Resources)), "resources")
		})
	}
}
