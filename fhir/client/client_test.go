package client

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/balint-health/balint/errs"
	"github.com/balint-health/balint/fhir"
	"github.com/balint-health/balint/memory"
	"github.com/balint-health/balint/testing/listen"
)

func TestGuard(t *testing.T) {
	g, err := NewGuard([]string{"https://ehr.example.org/fhir/r4", "http://127.0.0.1:9000/fhir"}, true)
	if err != nil {
		t.Fatal(err)
	}
	strict, _ := NewGuard([]string{"https://ehr.example.org/fhir/r4", "http://127.0.0.1:9000/fhir"}, false)
	tests := []struct {
		url       string
		ok, okStr bool
	}{
		{"https://ehr.example.org/fhir/r4", true, true},
		{"https://ehr.example.org/fhir/r4/", true, true},
		{"https://ehr.example.org/fhir/r4/tenant1", true, true},
		{"https://EHR.example.org/fhir/r4", true, true},
		{"https://ehr.example.org/fhir/r4x", false, false},
		{"https://ehr.example.org/fhir", false, false},
		{"http://ehr.example.org/fhir/r4", false, false},
		{"https://ehr.example.org.evil.com/fhir/r4", false, false},
		{"https://user:pw@ehr.example.org/fhir/r4", false, false},
		{"https://ehr.example.org:8443/fhir/r4", false, false},
		{"http://169.254.169.254/", false, false},
		{"http://127.0.0.1:9000/fhir", true, false},
		{"http://127.0.0.1:9001/fhir", false, false},
		{"http://localhost:9000/fhir", false, false},
		{"not a url", false, false},
	}
	for _, tt := range tests {
		if err := g.Check(tt.url); (err == nil) != tt.ok {
			t.Errorf("loopback allowed: %s: %v", tt.url, err)
		}
		if err := strict.Check(tt.url); (err == nil) != tt.okStr {
			t.Errorf("loopback refused: %s: %v", tt.url, err)
		}
	}
	dev := &Guard{AllowLoopback: true, AnyLoopback: true}
	for url, ok := range map[string]bool{"http://127.0.0.1:1234/fhir": true, "http://localhost/x": true, "https://ehr.example.org/fhir/r4": false, "http://169.254.169.254/": false} {
		if err := dev.Check(url); (err == nil) != ok {
			t.Errorf("dev guard: %s: %v", url, err)
		}
	}
	for _, bad := range []string{"http://ehr.example.org/fhir", "ftp://x/y", "https://x/y?q=1"} {
		if _, err := NewGuard([]string{bad}, false); err == nil {
			t.Errorf("allowlist entry %s accepted", bad)
		}
	}
}

func onePatientQueries() map[string]string { return queries("p1") }

func TestSSRFRefusedWithoutConnecting(t *testing.T) {
	s, conns := listen.Recording(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	l := testLoader(t, "http://127.0.0.1:1/fhir") // allowlist names another port
	for _, server := range []string{s.URL + "/fhir", "http://169.254.169.254/", "https://evil.example.com/fhir"} {
		_, err := l.Load(context.Background(), Request{Server: server, Queries: onePatientQueries()})
		var ue *fhir.UnavailableError
		if !errors.As(err, &ue) || !errors.Is(err, ErrNotAllowed) {
			t.Errorf("%s: %v", server, err)
		}
	}
	if n := conns.Load(); n != 0 {
		t.Fatalf("%d connections reached a server that is not allowlisted", n)
	}
}

func searchset(entries int, next string) string {
	var b strings.Builder
	b.WriteString(`{"resourceType":"Bundle","type":"searchset",`)
	if next != "" {
		fmt.Fprintf(&b, `"link":[{"relation":"next","url":%q}],`, next)
	}
	b.WriteString(`"entry":[`)
	for i := 0; i < entries; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"resource":{"resourceType":"Encounter","id":"e%d-%d","status":"finished","class":{"code":"AMB"}}}`, time.Now().UnixNano(), i)
	}
	b.WriteString("]}")
	return b.String()
}

func runSearch(t *testing.T, h http.HandlerFunc, lim Limits) (int, error) {
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	srch := &HTTPSearcher{HTTP: s.Client(), Base: s.URL + "/fhir", Token: "secret-token", Limits: lim}
	n := 0
	err := srch.Search(context.Background(), "Encounter?subject=Patient/p1", func([]byte) error { n++; return nil })
	return n, err
}

func TestSearchPagingAndFailures(t *testing.T) {
	lim := DefaultLimits
	lim.Backoff = time.Millisecond
	t.Run("headers and count", func(t *testing.T) {
		n, err := runSearch(t, func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Accept") != "application/fhir+json" || r.Header.Get("Authorization") != "Bearer secret-token" || r.URL.Query().Get("_count") != "1000" {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			fmt.Fprint(w, searchset(1, ""))
		}, lim)
		if err != nil || n != 1 {
			t.Fatalf("%d pages, %v", n, err)
		}
	})
	t.Run("retries 503 then succeeds", func(t *testing.T) {
		var calls atomic.Int64
		n, err := runSearch(t, func(w http.ResponseWriter, r *http.Request) {
			if calls.Add(1) <= 2 {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			fmt.Fprint(w, searchset(1, ""))
		}, lim)
		if err != nil || n != 1 || calls.Load() != 3 {
			t.Fatalf("%d pages, %d calls, %v", n, calls.Load(), err)
		}
	})
	t.Run("gives up after retries", func(t *testing.T) {
		var calls atomic.Int64
		_, err := runSearch(t, func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			w.WriteHeader(http.StatusTooManyRequests)
		}, lim)
		if err == nil || calls.Load() != int64(lim.Retries+1) || !strings.Contains(err.Error(), "HTTP 429") {
			t.Fatalf("%d calls, %v", calls.Load(), err)
		}
	})
	t.Run("no retry on 401", func(t *testing.T) {
		var calls atomic.Int64
		_, err := runSearch(t, func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			w.WriteHeader(http.StatusUnauthorized)
		}, lim)
		if err == nil || calls.Load() != 1 {
			t.Fatalf("%d calls, %v", calls.Load(), err)
		}
	})
	t.Run("follows next", func(t *testing.T) {
		n, err := runSearch(t, func(w http.ResponseWriter, r *http.Request) {
			page := r.URL.Query().Get("page")
			next := ""
			if page != "3" {
				next = "http://" + r.Host + "/fhir/Encounter?page=" + map[string]string{"": "2", "2": "3"}[page]
			}
			fmt.Fprint(w, searchset(2, next))
		}, lim)
		if err != nil || n != 3 {
			t.Fatalf("%d pages, %v", n, err)
		}
	})
	t.Run("loop", func(t *testing.T) {
		_, err := runSearch(t, func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, searchset(1, "http://"+r.Host+"/fhir/Encounter?page=same"))
		}, lim)
		if err == nil || !strings.Contains(err.Error(), "loop") {
			t.Fatal(err)
		}
	})
	t.Run("next leaves the base", func(t *testing.T) {
		_, err := runSearch(t, func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, searchset(1, "http://169.254.169.254/latest/meta-data"))
		}, lim)
		if err == nil || !strings.Contains(err.Error(), "leaves") {
			t.Fatal(err)
		}
	})
	t.Run("page cap", func(t *testing.T) {
		capped := lim
		capped.MaxPages = 5
		var i atomic.Int64
		_, err := runSearch(t, func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, searchset(1, fmt.Sprintf("http://%s/fhir/Encounter?page=%d", r.Host, i.Add(1))))
		}, capped)
		if err == nil || !strings.Contains(err.Error(), "more than 5 pages") {
			t.Fatal(err)
		}
	})
	t.Run("garbage", func(t *testing.T) {
		_, err := runSearch(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "<html>oops</html>") }, lim)
		if err == nil || !strings.Contains(err.Error(), "not a FHIR resource") {
			t.Fatal(err)
		}
	})
	t.Run("oversized page", func(t *testing.T) {
		small := lim
		small.MaxPageBytes = 100
		_, err := runSearch(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, searchset(20, "")) }, small)
		if err == nil || !strings.Contains(err.Error(), "page limit") {
			t.Fatal(err)
		}
	})
}

func TestResourceCap(t *testing.T) {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/fhir/Patient/") {
			fmt.Fprint(w, `{"resourceType":"Patient","id":"p1"}`)
			return
		}
		fmt.Fprint(w, searchset(30, ""))
	}))
	defer s.Close()
	l := testLoader(t, s.URL+"/fhir")
	l.Limits.MaxResources = 100
	_, err := l.Load(context.Background(), Request{Server: s.URL + "/fhir", Queries: onePatientQueries()})
	if err == nil || !strings.Contains(err.Error(), "larger than 100 resources") {
		t.Fatal(err)
	}
}

// A server that accepts and never answers: the load fails within its
// budget, naming the part that could not be had.
func TestNeverAnsweringServer(t *testing.T) {
	base := "http://" + listen.Silent(t) + "/fhir"
	l := testLoader(t, base)
	l.Budget = 500 * time.Millisecond
	start := time.Now()
	_, err := l.Load(context.Background(), Request{Server: base, Queries: onePatientQueries()})
	took := time.Since(start)
	var ue *fhir.UnavailableError
	if !errors.As(err, &ue) || ue.Reason != "deadline exceeded" {
		t.Fatalf("%v", err)
	}
	if took > l.Budget+500*time.Millisecond {
		t.Fatalf("took %v with a budget of %v", took, l.Budget)
	}
	if strings.Contains(err.Error(), "p1") {
		t.Fatalf("error names the patient: %v", err)
	}
}

func TestBackendServicesToken(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	var tokenCalls atomic.Int64
	var fhirAuth atomic.Value
	mux := http.NewServeMux()
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		tokenCalls.Add(1)
		r.ParseForm()
		if r.Form.Get("grant_type") != "client_credentials" || r.Form.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		var claims jwt.RegisteredClaims
		_, err := jwt.ParseWithClaims(r.Form.Get("client_assertion"), &claims, func(*jwt.Token) (any, error) { return &key.PublicKey, nil },
			jwt.WithValidMethods([]string{"ES384"}), jwt.WithAudience("http://"+r.Host+"/token"), jwt.WithIssuer("balint"))
		if err != nil || claims.Subject != "balint" || claims.ID == "" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, `{"access_token":"backend-token","token_type":"bearer","expires_in":300}`)
	})
	mux.HandleFunc("/fhir/", func(w http.ResponseWriter, r *http.Request) {
		fhirAuth.Store(r.Header.Get("Authorization"))
		if strings.HasPrefix(r.URL.Path, "/fhir/Patient/") {
			fmt.Fprint(w, `{"resourceType":"Patient","id":"p1"}`)
			return
		}
		fmt.Fprint(w, searchset(0, ""))
	})
	s := httptest.NewServer(mux)
	defer s.Close()
	l := testLoader(t, s.URL+"/fhir")
	l.Backend = map[string]TokenSource{s.URL + "/fhir": &BackendServices{HTTP: s.Client(), TokenURL: s.URL + "/token", ClientID: "balint", Scope: "system/*.read", Key: key}}
	for i := 0; i < 3; i++ {
		if _, err := l.Load(context.Background(), Request{Server: s.URL + "/fhir", Queries: onePatientQueries()}); err != nil {
			t.Fatal(err)
		}
	}
	if got := fhirAuth.Load(); got != "Bearer backend-token" {
		t.Fatalf("FHIR server saw %v", got)
	}
	if n := tokenCalls.Load(); n != 1 {
		t.Fatalf("token fetched %d times, want once (cached until expiry)", n)
	}
}

func TestWithCount(t *testing.T) {
	tests := map[string]string{
		"Observation?subject=Patient/1": "Observation?subject=Patient/1&_count=50",
		"Observation?_count=7":          "Observation?_count=7",
		"Observation":                   "Observation?_count=50",
		"Patient/1":                     "Patient/1",
	}
	for in, want := range tests {
		if got := withCount(in, 50); got != want {
			t.Errorf("withCount(%q) = %q, want %q", in, got, want)
		}
	}
}

// A FHIR server's redirect is followed only under its base: never to
// another port of the same host (which would receive the token), never
// outside the base's path, never with a Referer (which would carry the
// patient id); and dot segments, plain or percent-encoded, in fhirServer
// or a next link never pass the allowlist.
func TestRedirectsAndPathEscapes(t *testing.T) {
	var otherHits atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { otherHits.Add(1) }))
	defer other.Close()
	var referers, tokens []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		referers = append(referers, r.Header.Get("Referer"))
		tokens = append(tokens, r.Header.Get("Authorization"))
		mu.Unlock()
		switch {
		case strings.HasPrefix(r.URL.Path, "/fhir/Encounter"):
			http.Redirect(w, r, other.URL+"/fhir/Encounter?"+r.URL.RawQuery, http.StatusFound)
		case strings.HasPrefix(r.URL.Path, "/fhir/Procedure"):
			http.Redirect(w, r, "/admin/Procedure", http.StatusFound)
		case strings.HasPrefix(r.URL.Path, "/fhir/Condition"):
			http.Redirect(w, r, "/fhir/moved/Condition?"+r.URL.RawQuery, http.StatusFound)
		case strings.HasPrefix(r.URL.Path, "/fhir/moved/Condition"):
			fmt.Fprint(w, `{"resourceType":"Bundle","type":"searchset","entry":[]}`)
		case strings.HasPrefix(r.URL.Path, "/fhir/Observation"):
			fmt.Fprintf(w, `{"resourceType":"Bundle","type":"searchset","link":[{"relation":"next","url":%q}],"entry":[]}`, "http://"+r.Host+"/fhir/%2e%2e/admin/Observation")
		default:
			fmt.Fprint(w, `{"resourceType":"Bundle","type":"searchset","entry":[]}`)
		}
	}))
	defer srv.Close()
	s := &HTTPSearcher{HTTP: srv.Client(), Base: srv.URL + "/fhir", Token: "secret-token", Limits: DefaultLimits}
	for query, want := range map[string]string{
		"Encounter?subject=Patient/p1":   "redirected outside",
		"Procedure?subject=Patient/p1":   "redirected outside",
		"Observation?subject=Patient/p1": "next link leaves",
		"Condition?subject=Patient/p1":   "",
	} {
		err := s.Search(context.Background(), query, func([]byte) error { return nil })
		if (want == "" && err != nil) || (want != "" && (err == nil || !strings.Contains(err.Error(), want))) {
			t.Errorf("%s: %v, want %q", query, err, want)
		}
	}
	if n := otherHits.Load(); n != 0 {
		t.Fatalf("a redirect to another port was followed %d times", n)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, r := range referers {
		if r != "" {
			t.Errorf("request %d carried a Referer: %s", i, r)
		}
		if tokens[i] != "Bearer secret-token" {
			t.Errorf("request %d without the token: %q", i, tokens[i])
		}
	}
	g, err := NewGuard([]string{srv.URL + "/fhir"}, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, escape := range []string{srv.URL + "/fhir/../admin", srv.URL + "/fhir/%2e%2e/admin", srv.URL + "/fhir/%2E%2E/admin", srv.URL + "/fhir/a%2F..%2Fb", srv.URL + "/fhir/./x"} {
		if err := g.Check(escape); err == nil {
			t.Errorf("%s passed the allowlist", escape)
		}
	}
	if err := g.Check(srv.URL + "/fhir/r4"); err != nil {
		t.Errorf("a path under the base: %v", err)
	}
}

// A FHIR server streaming 2 GB: the history reads at most its byte limit
// and the query fails, naming it; the rest is never read.
func TestStreamingGigabytesIsBounded(t *testing.T) {
	srv, sent := listen.Streaming(t)
	l := testLoader(t, srv.URL+"/fhir")
	l.Limits.MaxPageBytes, l.Limits.MaxHistoryBytes = 64<<20, 8<<20
	_, err := l.Load(context.Background(), Request{Server: srv.URL + "/fhir", Queries: onePatientQueries()})
	var ue *fhir.UnavailableError
	if !errors.As(err, &ue) || !strings.Contains(ue.Reason, "history larger than its byte limit") {
		t.Fatalf("%v, want unavailable: history larger than its byte limit", err)
	}
	// The server writes into socket buffers ahead of the reader, but stops
	// when the reader goes: far from 2 GB.
	time.Sleep(100 * time.Millisecond)
	if n := sent.Load(); n > 256<<20 {
		t.Fatalf("the server sent %d MiB before the hook gave up", n>>20)
	}
}

// The same stream read for a call holding a memory ticket: the call's
// share of the gate fills first, and the call is refused as busy (503),
// whatever the history limit would have allowed.
func TestStreamingFillsOnlyTheCallsShare(t *testing.T) {
	srv, _ := listen.Streaming(t)
	l := testLoader(t, srv.URL+"/fhir")
	gate := memory.NewGate(16<<20, time.Millisecond)
	ticket, err := gate.Admit(context.Background(), 1<<10)
	if err != nil {
		t.Fatal(err)
	}
	_, err = l.Load(memory.WithTicket(context.Background(), ticket), Request{Server: srv.URL + "/fhir", Queries: onePatientQueries()})
	if !errors.Is(err, errs.Busy) {
		t.Fatalf("%v, want busy", err)
	}
	if gate.Held() > 16<<20 {
		t.Fatalf("%d bytes held, over the gate", gate.Held())
	}
	ticket.Release()
	if gate.Held() != 0 {
		t.Fatalf("%d bytes held after release", gate.Held())
	}
}
