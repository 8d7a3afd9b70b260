package main

import (
	"bufio"
	"fmt"
	"math"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/balint-health/balint/advice"
	"github.com/balint-health/balint/testing/listen"
)

// containerLimit is the pod's memory limit in deploy/kubernetes, and
// GOMEMLIMIT below is what main sets under it (90%).
const containerLimit = 512 << 20

// BenchmarkWorstCaseMemory runs the real binary as the container would
// (GOMEMLIMIT from a 512 MiB limit, every other setting its default) and
// sends 16 worst-case calls at once, twice over: 8 naming a FHIR server
// that streams 2 GB, 8 carrying a prefetch just under the 16 MiB body
// limit. It reports the process's peak RSS (VmHWM) and fails at or over
// the container's limit. Figures: SECURITY.md.
func BenchmarkWorstCaseMemory(b *testing.B) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		b.Skip("needs /proc for the peak RSS")
	}
	stream, _ := listen.Streaming(b)
	p := startProc(b, "BALINT_DEV=true", "BALINT_ALLOW_LOOPBACK_FHIR=true", "BALINT_FHIR_ALLOW="+stream.URL+"/fhir",
		"BALINT_SQLITE_PATH="+b.TempDir()+"/balint.db", "BALINT_RATE_LIMIT=0", "BALINT_LOG_LEVEL=error",
		fmt.Sprintf("GOMEMLIMIT=%dMiB", containerLimit*9/10>>20))
	streaming := patientView("p1", `,"fhirServer":"`+stream.URL+`/fhir"`)
	large := largePrefetch(b, 15<<20)
	statuses := map[int]int{}
	var mu sync.Mutex
	b.ResetTimer()
	for range b.N {
		for range 2 {
			var wg sync.WaitGroup
			for i := range 16 {
				body := streaming
				if i%2 == 1 {
					body = large
				}
				wg.Go(func() {
					r, err := http.Post(p.URL+"/cds-services/"+advice.ReviewID, "application/json", strings.NewReader(body))
					if err != nil {
						b.Error(err)
						return
					}
					r.Body.Close()
					mu.Lock()
					statuses[r.StatusCode]++
					mu.Unlock()
				})
			}
			wg.Wait()
		}
	}
	b.StopTimer()
	peak := peakRSS(b, p.cmd.Process.Pid)
	b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
	b.Logf("statuses %v, peak RSS %d MiB of the %d MiB limit", statuses, peak>>20, containerLimit>>20)
	if peak >= containerLimit {
		b.Fatalf("peak RSS %d MiB, at or over the container's %d MiB", peak>>20, containerLimit>>20)
	}
	if statuses[http.StatusInternalServerError] > 0 || statuses[http.StatusOK] == 0 {
		b.Fatalf("statuses %v: want some answered, none failed", statuses)
	}
}

// largePrefetch is a patient-view call whose prefetch holds normal
// Observations up to about size bytes.
func largePrefetch(b *testing.B, size int) string {
	var sb strings.Builder
	sb.WriteString(`{"hook":"patient-view","hookInstance":"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea","context":{"userId":"Practitioner/1","patientId":"p1"},"prefetch":{` +
		`"patient":{"resourceType":"Patient","id":"p1","gender":"female","birthDate":"1980-01-01"},` +
		`"observations":{"resourceType":"Bundle","type":"searchset","entry":[`)
	for i := 0; sb.Len() < size; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"resource":{"resourceType":"Observation","id":"o%d","status":"final","category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"laboratory"}]}],"code":{"coding":[{"system":"http://loinc.org","code":"2951-2"}]},"subject":{"reference":"Patient/p1"},"effectiveDateTime":"2026-01-%02dT10:00:00Z","valueQuantity":{"value":140,"unit":"mmol/L","system":"http://unitsofmeasure.org","code":"mmol/L"},"interpretation":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation","code":"N"}]}]}}`, i, i%28+1)
	}
	sb.WriteString(`]}}}`)
	return sb.String()
}

// peakRSS is a process's high-water resident set, from /proc.
func peakRSS(b *testing.B, pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb << 10
		}
	}
	b.Fatal("no VmHWM")
	return 0
}

// TestPaceCollector: the slower pace comes with a memory limit, the
// container's if there is one, else what the process is built to hold; a
// GOGC the operator set is left as it is.
func TestPaceCollector(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(math.MaxInt64))
	pace := func() int {
		old := debug.SetGCPercent(100)
		debug.SetGCPercent(old)
		return old
	}
	env := func(gogc string) func(string) string {
		return func(k string) string {
			if k == "GOGC" {
				return gogc
			}
			return ""
		}
	}
	cfg := Config{FHIRCacheMB: 16}
	for _, tc := range []struct {
		name      string
		gogc      string
		limit     int64 // in force before
		wantPace  int
		wantLimit int64
	}{
		{"no limit", "", math.MaxInt64, gcPercent, baseline + 1<<30 + 16<<20},
		{"a container's limit", "", 460 << 20, gcPercent, 460 << 20},
		{"GOGC set", "150", math.MaxInt64, 100, math.MaxInt64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			debug.SetGCPercent(100)
			debug.SetMemoryLimit(tc.limit)
			paceCollector(cfg, env(tc.gogc))
			if got := pace(); got != tc.wantPace {
				t.Errorf("GOGC %d, want %d", got, tc.wantPace)
			}
			if got := debug.SetMemoryLimit(-1); got != tc.wantLimit {
				t.Errorf("memory limit %d MiB, want %d MiB", got>>20, tc.wantLimit>>20)
			}
		})
	}
}
