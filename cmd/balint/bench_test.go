package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/balint-health/balint/advice"
	"github.com/balint-health/balint/cdshooks"
	"github.com/balint-health/balint/fhir"
	"github.com/balint-health/balint/fhir/client"
	"github.com/balint-health/balint/rules"
	"github.com/balint-health/balint/synth"
	"github.com/balint-health/balint/testing/fhirserver"
	"github.com/balint-health/balint/testing/floor"
)

// benchSizes are the benchmark histories: named by their size in
// resources, made of the generator's pattern patient padded with
// Observations (and an order for each). 10,000 is the 5,000-Observation
// history (about 7 MB) the prefetch target is stated for. The exact count
// is reported as the "resources" metric.
var benchSizes = []struct{ name, obs int }{{300, 150}, {5000, 2500}, {10000, 5000}, {20000, 10000}}

// hookBody is a patient-view call with a generated pattern history
// prefetched.
func hookBody(obs int) (body []byte, resources int) {
	rec := synth.Generate(synth.Options{Seed: 3, Now: testNow, PatientID: "bench-1", Pattern: true, Observations: obs})
	pre, _ := json.Marshal(fhir.Prefetch(rec.OfType))
	return []byte(patientView("bench-1", `,"prefetch":`+string(pre))), len(rec.Resources)
}

// eachSize runs a sub-benchmark per size; a history is generated only for
// the sizes selected by -bench.
func eachSize(b *testing.B, run func(b *testing.B, body []byte, obs int)) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("resources=%d", size.name), func(b *testing.B) {
			body, n := hookBody(size.obs)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			b.ResetTimer()
			run(b, body, size.obs)
			b.ReportMetric(float64(n), "resources")
		})
	}
}

// BenchmarkDecodeFloor is encoding/json decoding the hook body into the
// smallest structs that hold what the rule reads: the floor the prefetch
// target is measured against.
func BenchmarkDecodeFloor(b *testing.B) {
	eachSize(b, func(b *testing.B, body []byte, obs int) {
		for b.Loop() {
			var h floor.Hook
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
			req, _, err := cdshooks.DecodeRequest(body, "patient-view", fhir.Templates(), nil)
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
	in := start(b, unlimited)
	eachSize(b, func(b *testing.B, body []byte, obs int) {
		for b.Loop() {
			req := httptest.NewRequest(http.MethodPost, "/cds-services/"+advice.ReviewID, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			in.Handler.ServeHTTP(w, req)
			if w.Code != 200 || !bytes.Contains(w.Body.Bytes(), []byte(`"summary"`)) {
				b.Fatalf("%d %.200s", w.Code, w.Body.Bytes())
			}
		}
	})
}

// BenchmarkHookPeakHeap is the most heap one patient-view call holds at
// once, against the size of its JSON. The heap is sampled every 100 µs with
// the collector running at 10 % growth so that it tracks what is live:
// peak/json counts every heap object not yet swept (an upper bound),
// live/json what the collector found reachable (the peak of the live heap
// at each collection).
func BenchmarkHookPeakHeap(b *testing.B) {
	in := start(b, unlimited)
	eachSize(b, func(b *testing.B, body []byte, obs int) {
		var worst, worstLive uint64
		for b.Loop() {
			peak, live := peakHeap(func() {
				req := httptest.NewRequest(http.MethodPost, "/cds-services/"+advice.ReviewID, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				w := httptest.NewRecorder()
				in.Handler.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatalf("%d %.200s", w.Code, w.Body.Bytes())
				}
			})
			worst, worstLive = max(worst, peak), max(worstLive, live)
		}
		b.ReportMetric(float64(worst)/(1<<20), "peak-heap-MiB")
		b.ReportMetric(float64(worst)/float64(len(body)), "peak/json")
		b.ReportMetric(float64(worstLive)/float64(len(body)), "live/json")
	})
}

// peakHeap runs run and returns the most heap it added at once: all heap
// objects, and the live heap as the collector measured it.
func peakHeap(run func()) (objects, live uint64) {
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	runtime.GC()
	sample := []rtmetrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/live:bytes"}}
	rtmetrics.Read(sample)
	base, baseLive := sample[0].Value.Uint64(), sample[1].Value.Uint64()
	var peak, peakLive atomic.Uint64
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(100 * time.Microsecond)
		defer t.Stop()
		for {
			rtmetrics.Read(sample)
			peak.Store(max(peak.Load(), sample[0].Value.Uint64()))
			peakLive.Store(max(peakLive.Load(), sample[1].Value.Uint64()))
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	run()
	close(done)
	<-stopped
	return max(peak.Load(), base) - base, max(peakLive.Load(), baseLive) - baseLive
}

// BenchmarkFHIRFallback is a patient-view call with nothing prefetched
// against the real test FHIR server, beside each of the queries it runs,
// run alone one after another: the target is the hook within 1.2x the
// slowest of them.
func BenchmarkFHIRFallback(b *testing.B) {
	s := fhirserver.Start(b)
	// The test server takes seconds over a 5,000-resource history; the
	// ratio, not the service's deadlines, is measured here.
	in := start(b, func(c *Config) { unlimited(c); c.HookTimeout, c.FHIRBudget = time.Minute, time.Minute })
	policy := rules.DefaultPolicy()
	for _, size := range benchSizes[:2] {
		b.Run(fmt.Sprintf("resources=%d", size.name), func(b *testing.B) {
			// Padding inside a year, so that the dated queries return all of it.
			rec := synth.Generate(synth.Options{Seed: 5, Now: testNow, Pattern: true, Observations: size.obs, PadDays: 365})
			s.Load(b, rec)
			since := advice.Since(policy, testNow)
			body := patientView(rec.PatientID, `,"fhirServer":"`+s.URL+`"`)
			b.ResetTimer()
			var slowest, sum, hook time.Duration
			for b.Loop() {
				var worst time.Duration
				for _, tmpl := range fhir.Templates() {
					q := strings.NewReplacer("{{context.patientId}}", rec.PatientID, "{{balint.since}}", since).Replace(tmpl)
					srch := &client.HTTPSearcher{HTTP: http.DefaultClient, Base: s.URL, Limits: client.DefaultLimits}
					t0 := time.Now()
					if err := srch.Search(context.Background(), q, func([]byte) error { return nil }); err != nil {
						b.Fatal(err)
					}
					d := time.Since(t0)
					worst, sum = max(worst, d), sum+d
				}
				slowest += worst
				t0 := time.Now()
				r := in.hook(b, advice.ReviewID, body)
				hook += time.Since(t0)
				if r.Status != 200 || !bytes.Contains(r.Body, []byte(`"summary"`)) {
					b.Fatalf("%d %.300s", r.Status, r.Body)
				}
			}
			n := float64(b.N)
			b.ReportMetric(float64(slowest.Milliseconds())/n, "slowest-query-ms")
			b.ReportMetric(float64(sum.Milliseconds())/n, "all-queries-ms")
			b.ReportMetric(float64(hook.Milliseconds())/n, "hook-ms")
			b.ReportMetric(float64(hook)/float64(slowest), "hook/slowest")
			b.ReportMetric(float64(len(rec.Resources)), "resources")
		})
	}
}

// unlimited lifts the per-caller rate limit, which a benchmark's loop
// would otherwise run into.
func unlimited(c *Config) { c.RateLimit = 0 }
