package client

import (
	"encoding/json"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/balint-health/balint/cdshooks"
	"github.com/balint-health/balint/fhir"
	"github.com/balint-health/balint/synth"
)

// TestReadAhead: a prefetch read ahead of the call's check gives the
// history, pages and errors the check's own parts give, whether the guess
// of where each part is was right (the Bundles are taken), wrong (a name
// found inside another part), or not made (a Bundle written with spaces,
// or not a Bundle the reader can read).
func TestReadAhead(t *testing.T) {
	now := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	call := func(prefetch string) string {
		return `{"hook":"patient-view","hookInstance":"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea","context":{"userId":"Practitioner/1","patientId":"p1"},"prefetch":` + prefetch + `}`
	}
	generated := func(seed int64, indent bool) (string, int) {
		rec := synth.Generate(synth.Options{Seed: seed, Now: now, PatientID: "p1", Pattern: true, Observations: 40})
		pre := fhir.Prefetch(rec.OfType)
		bundles := 0
		for _, v := range pre {
			if strings.HasPrefix(string(v), `{"resourceType":"Bundle"`) {
				bundles++
			}
		}
		var b []byte
		if indent {
			b, _ = json.MarshalIndent(pre, "", "  ")
		} else {
			b, _ = json.Marshal(pre)
		}
		return call(string(b)), bundles
	}
	patient := `"patient":{"resourceType":"Patient","id":"p1"}`
	obs := `{"resource":{"resourceType":"Observation","id":"o1","status":"final","code":{"text":"x"}}}`
	obs2 := strings.Replace(obs, "o1", "o2", 1)
	cases := []struct {
		name  string
		body  string
		taken int // parts the guess must find
	}{
		{"a name inside an earlier part", call(`{` + patient + `,"conditions":{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Condition","id":"c","observations":{"resourceType":"Bundle","entry":[` + obs + `]}}}]},"observations":{"resourceType":"Bundle","entry":[` + obs2 + `]}}`), 1},
		{"spaces around the names", call(`{ ` + patient + ` , "observations" :  {"resourceType":"Bundle","entry":[` + obs + `]} }`), 1},
		{"resourceType not first", call(`{` + patient + `,"observations":{"entry":[` + obs + `],"resourceType":"Bundle"}}`), 0},
		{"an entry list that is not a list", call(`{` + patient + `,"observations":{"resourceType":"Bundle","entry":{}}}`), 0},
		{"a next link", call(`{` + patient + `,"observations":{"resourceType":"Bundle","link":[{"relation":"next","url":"https://ehr/fhir/Observation?page=2"}],"entry":[` + obs + `]}}`), 1},
		{"null and an outcome", call(`{` + patient + `,"observations":null,"reports":{"resourceType":"OperationOutcome"}}`), 0},
		{"no prefetch", `{"hook":"patient-view","hookInstance":"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea","context":{"userId":"Practitioner/1","patientId":"p1"}}`, 0},
	}
	for seed := range int64(3) {
		body, n := generated(seed, false)
		cases = append(cases, struct {
			name  string
			body  string
			taken int
		}{fmt.Sprintf("generated %d", seed), body, n})
		body, _ = generated(seed, true)
		cases = append(cases, struct {
			name  string
			body  string
			taken int
		}{fmt.Sprintf("generated %d, indented", seed), body, 0})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(tc.body)
			req := sameRequest(t, body)
			if req == nil {
				t.Fatal("the call was refused")
			}
			a := ReadAhead(body)
			taken := 0
			for key, raw := range req.Prefetch {
				if _, _, ok := a.take(key, raw); ok {
					taken++
				}
			}
			if taken != tc.taken {
				t.Errorf("%d parts read ahead and taken, want %d", taken, tc.taken)
			}
			got, gotPages, gotErr := decodePrefetch(req.Prefetch, ReadAhead(body))
			want, wantPages, wantErr := decodePrefetch(req.Prefetch, nil)
			if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
				t.Fatalf("error %v, want %v", gotErr, wantErr)
			}
			if gotErr != nil {
				return
			}
			if !reflect.DeepEqual(gotPages, wantPages) {
				t.Errorf("pages %+v, want %+v", gotPages, wantPages)
			}
			if !reflect.DeepEqual(dropEmpty(got), dropEmpty(want)) {
				a, _ := json.Marshal(got)
				b, _ := json.Marshal(want)
				t.Fatalf("read ahead:\n%.2000s\nnot:\n%.2000s", a, b)
			}
			if strings.Contains(tc.name, "generated") && got.Len() < 80 {
				t.Fatalf("%d resources: the generated history was not read", got.Len())
			}
		})
	}
}

// sameRequest checks the call's reading with what is read ahead against
// its reading alone: the same request, or the same error (nil then).
func sameRequest(t *testing.T, body []byte) *cdshooks.Request {
	t.Helper()
	a := ReadAhead(body)
	defer a.Wait()
	got, _, gotErr := cdshooks.DecodeRequest(body, "patient-view", fhir.Templates(), a.ValidAt)
	want, _, wantErr := cdshooks.DecodeRequest(body, "patient-view", fhir.Templates(), nil)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("%.300q: error %v, want %v", body, gotErr, wantErr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%.300q: the requests differ", body)
	}
	return got
}

// TestReadAheadChecksAsTheCallDoes: a Bundle read ahead is passed over by
// the call's check only if the check would have found it valid: JSON
// errors inside it, and nesting one level too deep, are refused as before.
func TestReadAheadChecksAsTheCallDoes(t *testing.T) {
	bundle := func(resource string) string {
		return `{"resourceType":"Bundle","entry":[{"resource":` + resource + `}]}`
	}
	call := func(observations string) string {
		return `{"hook":"patient-view","hookInstance":"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea","context":{"userId":"Practitioner/1","patientId":"p1"},"prefetch":{"patient":{"resourceType":"Patient","id":"p1"},"observations":` + observations + `}}`
	}
	obs := func(extension string) string {
		return `{"resourceType":"Observation","id":"o","status":"final","code":{"text":"x"},"extension":` + extension + `}`
	}
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	// The call, the prefetch, the Bundle, its entry list, the entry and
	// the resource are six levels; the rest of the 10,000 are the
	// extension's.
	for name, body := range map[string]string{
		"valid":                  call(bundle(obs(`[]`))),
		"as deep as allowed":     call(bundle(obs(deep(10000 - 6)))),
		"one level too deep":     call(bundle(obs(deep(10000 - 5)))),
		"a syntax error":         call(bundle(obs(`[1,]`))),
		"a bad number":           call(bundle(obs(`[01]`))),
		"a control character":    call(bundle(obs("[\"\x01\"]"))),
		"invalid UTF-8":          call(bundle(obs("[\"\xff\"]"))),
		"a lone surrogate":       call(bundle(obs(`["\udc00"]`))),
		"a bad escape":           call(bundle(obs(`["\x"]`))),
		"truncated":              call(bundle(obs(`[`)))[:200],
		"garbage after a Bundle": strings.Replace(call(bundle(obs(`[]`))), `]}]}}`, `]}]}x}`, 1),
		"a repeated key":         strings.Replace(call(bundle(obs(`[]`))), `"observations":`, `"observations":{"resourceType":"Bundle"},"observations":`, 1),
		"an escaped key":         strings.Replace(call(bundle(obs(`[]`))), `"observations":`, `"observ\u0061tions":`, 1),
	} {
		t.Run(name, func(t *testing.T) { sameRequest(t, []byte(body)) })
	}
}

// Run with: go test ./fhir/client -run '^$' -fuzz '^FuzzReadAhead$' -fuzztime 60s
func FuzzReadAhead(f *testing.F) {
	f.Add([]byte(`{"hook":"patient-view","hookInstance":"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea","context":{"userId":"Practitioner/1","patientId":"p1"},"prefetch":{"patient":{"resourceType":"Patient","id":"p1"},"observations":{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Observation","id":"o","status":"final","code":{"text":"x"},"valueQuantity":{"value":1.5}}}]}}}`))
	f.Add([]byte(`{"prefetch":{"requests":{"resourceType":"Bundle","link":[{"relation":"next","url":"x"}],"entry":[{"resource":{"resourceType":"ServiceRequest","id":"s"}}]},"observations":{"resourceType":"Bundle","entry":[null,{}]}},"hook":"patient-view","hookInstance":"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea","context":{"userId":"Practitioner/1","patientId":"p1"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req := sameRequest(t, body)
		if req == nil {
			return
		}
		got, gotPages, gotErr := decodePrefetch(req.Prefetch, ReadAhead(body))
		want, wantPages, wantErr := decodePrefetch(req.Prefetch, nil)
		if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || !reflect.DeepEqual(gotPages, wantPages) {
			t.Fatalf("%q: error %v, pages %v; want %v, %v", body, gotErr, gotPages, wantErr, wantPages)
		}
		if gotErr == nil && !reflect.DeepEqual(dropEmpty(got), dropEmpty(want)) {
			t.Fatalf("%q: the histories differ", body)
		}
	})
}

// TestSpread: every part is worked on once, in order of index on each
// goroutine, by no more goroutines than the process has cores.
func TestSpread(t *testing.T) {
	for _, procs := range []int{1, 2, 4} {
		for _, n := range []int{0, 1, 3, 9, 100} {
			t.Run(fmt.Sprintf("cores=%d/parts=%d", procs, n), func(t *testing.T) {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
				var (
					wg            sync.WaitGroup
					mu            sync.Mutex
					done          = make([]int, n)
					running, most int
				)
				spread(&wg, n, func(i int) {
					mu.Lock()
					running++
					most = max(most, running)
					done[i]++
					mu.Unlock()
					time.Sleep(100 * time.Microsecond)
					mu.Lock()
					running--
					mu.Unlock()
				})
				wg.Wait()
				for i, d := range done {
					if d != 1 {
						t.Errorf("part %d worked on %d times", i, d)
					}
				}
				if most > procs {
					t.Errorf("%d parts at once on %d cores", most, procs)
				}
			})
		}
	}
}
