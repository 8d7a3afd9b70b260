package main

import (
	"bufio"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/balint-health/balint/advice"
)

// counter reads one sample from /metrics; labels is the label set as
// Prometheus prints it, sorted by name.
func counter(t *testing.T, in *instance, name, labels string) float64 {
	t.Helper()
	r := do(t, http.MethodGet, in.URL+"/metrics", "")
	sc := bufio.NewScanner(strings.NewReader(string(r.Body)))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, name+"{"+labels+"} ") {
			v, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(line, name+"{"+labels+"}")), 64)
			return v
		}
	}
	return 0
}

func TestMetricsAfterHook(t *testing.T) {
	in := start(t, nil)
	in.reviewCards(t, "demo-pattern")
	in.reviewCards(t, "demo-critical")
	r := do(t, http.MethodGet, in.URL+"/metrics", "")
	body := string(r.Body)
	for _, want := range []string{
		`balint_http_request_duration_seconds_bucket{route="/cds-services/:id",service="` + advice.ReviewID + `",status="200",le="0.5"}`,
		`balint_decisions_total{fired="true",service="balint-review"} 1`,
		`balint_decisions_total{fired="false",service="balint-review"} 1`,
		`balint_decision_reasons_total{age_band=`,
		`reason="critical_result"`,
		`balint_history_resources_total{origin="demo",resource_type="Observation"}`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(body, "demo-pattern") {
		t.Error("/metrics names a patient")
	}
}

// With BALINT_ADMIN_ADDR, /metrics and /readyz are served on the admin
// address only; the public port serves neither.
func TestAdminAddress(t *testing.T) {
	in := start(t, func(c *Config) { c.AdminAddr = "127.0.0.1:0" })
	for _, path := range []string{"/metrics", "/readyz"} {
		if r := do(t, http.MethodGet, in.URL+path, ""); r.Status != http.StatusNotFound {
			t.Errorf("public %s: %d", path, r.Status)
		}
	}
	if r := do(t, http.MethodGet, in.URL+"/healthz", ""); r.Status != 200 {
		t.Errorf("public /healthz: %d", r.Status)
	}
	admin := httptest.NewServer(in.Admin)
	defer admin.Close()
	for _, path := range []string{"/metrics", "/readyz", "/healthz"} {
		if r := do(t, http.MethodGet, admin.URL+path, ""); r.Status != 200 {
			t.Errorf("admin %s: %d", path, r.Status)
		}
	}
	if r := do(t, http.MethodGet, admin.URL+"/cds-services", ""); r.Status != http.StatusNotFound {
		t.Errorf("admin serves the hooks: %d", r.Status)
	}
}

// Every label value comes from a closed set: a call carrying hundreds of
// invented resource types and malformed invented elements adds a handful
// of series ("other"), never one per value sent.
func TestMetricLabelsAreClosedSets(t *testing.T) {
	in := start(t, nil)
	before := strings.Count(string(do(t, http.MethodGet, in.URL+"/metrics", "").Body), "\n")
	var entries []string
	for i := range 500 {
		entries = append(entries, fmt.Sprintf(`{"resource":{"resourceType":"Invented%d","id":"x%d"}}`, i, i),
			fmt.Sprintf(`{"resource":{"resourceType":"Encounter","id":"e%d","status":"finished","class":{"code":"AMB"},"invented%d":{"x":1},"period":{"start":"2026-01-01","bogus%d":true}}}`, i, i, i))
	}
	body := `{"hook":"patient-view","hookInstance":"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea","context":{"userId":"Practitioner/1","patientId":"p1"},"prefetch":{` +
		`"patient":{"resourceType":"Patient","id":"p1","gender":"female","birthDate":"1980-01-01"},` +
		`"encounters":{"resourceType":"Bundle","type":"searchset","entry":[` + strings.Join(entries, ",") + `]}}}`
	if r := in.hook(t, advice.ReviewID, body); r.Status != http.StatusOK {
		t.Fatalf("status %d: %s", r.Status, r.Body)
	}
	page := string(do(t, http.MethodGet, in.URL+"/metrics", "").Body)
	if strings.Contains(page, "Invented") || strings.Contains(page, "invented") || strings.Contains(page, "bogus") {
		t.Error("/metrics carries a value the call sent")
	}
	if !strings.Contains(page, `resource_type="other"`) {
		t.Error("the invented types were not counted as other")
	}
	if added := strings.Count(page, "\n") - before; added > 200 {
		t.Errorf("one call added %d lines to /metrics", added)
	}
}
