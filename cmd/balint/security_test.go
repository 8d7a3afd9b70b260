package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/balint-health/balint/cards"
	balinthttp "github.com/balint-health/balint/http"

	"github.com/balint-health/balint/advice"
	"github.com/balint-health/balint/auth"
	"github.com/balint-health/balint/testing/ehr"
	"github.com/balint-health/balint/testing/listen"
)

// A hook call carrying a known FHIR token, a known EHR JWT and a known
// patient id leaves none of them in the logs.
func TestLogsCarryNoTokensOrPatientData(t *testing.T) {
	const patient = "pt-7Q3X9-SECRETID"
	const fhirToken = "fhir-access-token-SECRET-8842"
	fhirSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+fhirToken {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/fhir/Patient/") {
			fmt.Fprintf(w, `{"resourceType":"Patient","id":%q,"birthDate":"1980-02-03","name":[{"family":"Doe-Secret"}]}`, patient)
			return
		}
		fmt.Fprint(w, `{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"Observation","id":"o1","status":"bogus-status","code":{"text":"Hb"}}}]}`)
	}))
	defer fhirSrv.Close()
	e := ehr.New(t, "https://ehr.example")
	in := start(t, func(c *Config) {
		c.Dev = false
		c.Issuers = []auth.Issuer{{ID: e.Issuer, JWKSURL: e.JWKSURL, FHIRServers: []string{fhirSrv.URL + "/fhir"}}}
		c.AllowLoopbackFHIR = true
	})
	jwt := e.Sign(t, e.Valid(in.URL+"/cds-services", testNow), nil, nil, nil)
	body := `{"hook":"patient-view","hookInstance":"` + hookInstance + `","fhirServer":"` + fhirSrv.URL + `/fhir",` +
		`"fhirAuthorization":{"access_token":"` + fhirToken + `","token_type":"Bearer","expires_in":300,"scope":"patient/*.read","subject":"balint"},` +
		`"context":{"userId":"Practitioner/dr-1","patientId":"` + patient + `"}}`
	r := do(t, http.MethodPost, in.URL+"/cds-services/"+advice.ReviewID, body, "Authorization", "Bearer "+jwt)
	if r.Status != 200 {
		t.Fatalf("hook: %d %s", r.Status, r.Body)
	}
	// The same call replayed: rejected, and logged as such.
	do(t, http.MethodPost, in.URL+"/cds-services/"+advice.ReviewID, body, "Authorization", "Bearer "+jwt)
	logs := in.Logs.String()
	if !strings.Contains(logs, `"msg":"decision"`) || !strings.Contains(logs, `"reason":"replayed_jti"`) {
		t.Fatalf("the calls were not logged: %s", logs)
	}
	if !strings.Contains(logs, `"tenant":"tenant-1"`) || !strings.Contains(logs, `"iss":"https://ehr.example"`) {
		t.Error("the decision log does not record the caller's issuer and tenant")
	}
	// Every line of a request carries its id.
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		if (strings.Contains(line, `"msg":"decision"`) || strings.Contains(line, `"msg":"request"`)) && !strings.Contains(line, `"request_id":"`) {
			t.Errorf("log line without request id: %s", line)
		}
	}
	for _, secret := range []string{patient, fhirToken, jwt, strings.Split(jwt, ".")[1], "Doe-Secret", "1980-02-03", "bogus-status"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q", secret)
		}
	}
}

func TestRateLimitPerIssuer(t *testing.T) {
	in := start(t, func(c *Config) { c.RateLimit, c.RateBurst = 1, 3 })
	codes := map[int]int{}
	for i := 0; i < 6; i++ {
		codes[in.hook(t, advice.ReviewID, patientView("demo-control", "")).Status]++
	}
	if codes[200] != 3 || codes[http.StatusTooManyRequests] != 3 {
		t.Fatalf("statuses %v, want 3 x 200 then 429", codes)
	}
}

// A FHIR server that never answers: the hook answers 412 within its
// budget plus 500 ms.
func TestHookDeadlineOnSilentServer(t *testing.T) {
	silent := listen.Silent(t)
	for _, tc := range []struct {
		name         string
		budget, hook time.Duration
	}{
		{"FHIR budget", time.Second, 5 * time.Second},
		{"hook deadline shorter than the budget", 4 * time.Second, 700 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := start(t, func(c *Config) { c.FHIRBudget, c.HookTimeout = tc.budget, tc.hook })
			startT := time.Now()
			r := in.hook(t, advice.ReviewID, patientView("p1", `,"fhirServer":"http://`+silent+`/fhir"`))
			took := time.Since(startT)
			limit := min(tc.budget, tc.hook) + 500*time.Millisecond
			if r.Status != http.StatusPreconditionFailed || took > limit {
				t.Fatalf("status %d after %v (limit %v): %s", r.Status, took, limit, r.Body)
			}
			var e balinthttp.ErrorBody
			r.json(t, &e)
			if !strings.Contains(e.Error, "deadline exceeded") || strings.Contains(e.Error, "p1") {
				t.Fatalf("message %q", e.Error)
			}
		})
	}
}

func TestProductionRefusesToStartWithoutIssuers(t *testing.T) {
	cfg := defaults(t)
	cfg.Dev, cfg.SQLitePath = false, filepath.Join(t.TempDir(), "b.db")
	_, err := wire(t.Context(), cfg)
	if err == nil || !strings.Contains(err.Error(), "BALINT_ISSUERS") {
		t.Fatalf("%v", err)
	}
}

func TestInvalidPolicyRefusesToStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	os.WriteFile(path, []byte("windows:\n  investigations_months: -1\n"), 0o600)
	cfg := defaults(t)
	cfg.Dev, cfg.PolicyPath, cfg.SQLitePath = true, path, filepath.Join(t.TempDir(), "b.db")
	_, err := wire(t.Context(), cfg)
	if err == nil || !strings.Contains(err.Error(), "windows.investigations_months") {
		t.Fatalf("%v", err)
	}
}

func TestCORS(t *testing.T) {
	in := start(t, func(c *Config) { c.CORSOrigins = []string{"https://sandbox.cds-hooks.org"} })
	req, _ := http.NewRequest(http.MethodOptions, in.URL+"/cds-services/"+advice.ReviewID, nil)
	req.Header.Set("Origin", "https://sandbox.cds-hooks.org")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "https://sandbox.cds-hooks.org" {
		t.Fatalf("CORS headers %v", resp.Header)
	}
	off := start(t, nil)
	req, _ = http.NewRequest(http.MethodGet, off.URL+"/cds-services", nil)
	req.Header.Set("Origin", "https://evil.example")
	resp, _ = http.DefaultClient.Do(req)
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("CORS is on by default")
	}
}

// 5,000 calls with tokens that fail: after a burst, they are answered 429
// before any signature is checked; a caller with a valid token from
// another address is not slowed.
func TestFailedAuthenticationIsRateLimited(t *testing.T) {
	e := ehr.New(t, "https://ehr.example")
	stranger := ehr.New(t, "https://ehr.example") // same issuer name, keys the service does not know
	in := start(t, func(c *Config) {
		c.Dev = false
		c.Issuers = []auth.Issuer{{ID: e.Issuer, JWKSURL: e.JWKSURL}}
		c.TrustedProxies = []*net.IPNet{{IP: net.IPv4(127, 0, 0, 0), Mask: net.CIDRMask(8, 32)}}
		c.Demo = true
		// A slow rate, so the count does not depend on how fast this
		// machine (or the race detector) makes the calls.
		c.RateLimit, c.RateBurst = 1, 10
	})
	url := in.URL + "/cds-services/" + advice.ReviewID
	body := patientView("demo-pattern", "")
	limited := 0
	bad := stranger.Sign(t, stranger.Valid(in.URL+"/cds-services", testNow), nil, nil, nil)
	for i := 0; i < 5000; i++ {
		switch r := do(t, http.MethodPost, url, body, "Authorization", "Bearer "+bad, "X-Forwarded-For", "203.0.113.9"); r.Status {
		case 429:
			limited++
		case 401:
		default:
			t.Fatalf("call %d: %d", i, r.Status)
		}
	}
	checked := counter(t, in, "balint_jwt_rejections_total", `reason="bad_signature"`)
	if limited < 4800 || checked > 200 {
		t.Fatalf("%d of 5,000 failing calls limited, %v signatures checked", limited, checked)
	}
	good := e.Sign(t, e.Valid(in.URL+"/cds-services", testNow), nil, nil, nil)
	if r := do(t, http.MethodPost, url, body, "Authorization", "Bearer "+good, "X-Forwarded-For", "198.51.100.7"); r.Status != 200 {
		t.Fatalf("a valid caller from another address: %d %s", r.Status, r.Body)
	}
}

// Two EHRs with the same patient id: each is its own patient. EHR A's
// dismissal does not silence EHR B's card, and B cannot send feedback on
// A's card (404, as for a card never issued).
func TestTenantsAreKeptApart(t *testing.T) {
	a, b := ehr.New(t, "https://ehr-a.example"), ehr.New(t, "https://ehr-b.example")
	in := start(t, func(c *Config) {
		c.Dev = false
		c.Issuers = []auth.Issuer{{ID: a.Issuer, JWKSURL: a.JWKSURL}, {ID: b.Issuer, JWKSURL: b.JWKSURL}}
		c.Demo = true
	})
	call := func(e *ehr.EHR, path, body string) response {
		tok := e.Sign(t, e.Valid(in.URL+"/cds-services", testNow), nil, nil, nil)
		return do(t, http.MethodPost, in.URL+"/cds-services/"+path, body, "Authorization", "Bearer "+tok)
	}
	cardA := cardsOf(t, call(a, advice.ReviewID, patientView("demo-pattern", "")))
	if len(cardA) != 1 {
		t.Fatalf("EHR A: %d cards", len(cardA))
	}
	if r := call(b, advice.ReviewID+"/feedback", feedback(cardA[0].UUID, "overridden", cards.OverrideNotAppropriate, in.Clock.Now())); r.Status != http.StatusNotFound {
		t.Fatalf("EHR B's feedback on EHR A's card: %d", r.Status)
	}
	if r := call(a, advice.ReviewID+"/feedback", feedback(cardA[0].UUID, "overridden", cards.OverrideNotAppropriate, in.Clock.Now())); r.Status != 200 {
		t.Fatalf("EHR A's feedback: %d %s", r.Status, r.Body)
	}
	if c := cardsOf(t, call(a, advice.ReviewID, patientView("demo-pattern", ""))); len(c) != 0 {
		t.Fatal("EHR A's dismissal did not snooze its own patient")
	}
	if c := cardsOf(t, call(b, advice.ReviewID, patientView("demo-pattern", ""))); len(c) != 1 {
		t.Fatal("EHR A's dismissal silenced EHR B's patient of the same id")
	}
}
