package http

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/balint-health/balint/advice"
	"github.com/balint-health/balint/cdshooks"
	"github.com/balint-health/balint/metrics"
)

type stubAdvisor struct{}

func (stubAdvisor) Hook(id string) (string, bool) { return "patient-view", id == "svc" }
func (stubAdvisor) Discovery() cdshooks.Discovery { return cdshooks.Discovery{} }
func (stubAdvisor) Answer(context.Context, *advice.Call) (*cdshooks.Response, error) {
	return &cdshooks.Response{}, nil
}
func (stubAdvisor) Feedback(context.Context, string, string, []cdshooks.Feedback) error { return nil }

// Every route of the table names its span and its metric label by its
// table path, whatever the URL carries; a URL no route matches is
// "unmatched" in both.
func TestRouteTableNamesSpansAndMetrics(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(prev) })

	m := metrics.New()
	s := New(Config{BodyLimit: "1M", HookTimeout: time.Second}, Deps{
		Advisor: stubAdvisor{}, Metrics: m, Logger: slog.New(slog.DiscardHandler),
		Ready: func(context.Context) error { return nil },
	})
	concrete := map[string]string{":id": "svc", ":token": "eyJhbGciOi.secret.sig"}
	routes := s.routes()
	if len(routes) == 0 {
		t.Fatal("empty route table")
	}
	type call struct{ method, url, name string }
	var calls []call
	for _, r := range routes {
		u := r.Path
		for param, v := range concrete {
			u = strings.ReplaceAll(u, param, v)
		}
		calls = append(calls, call{r.Method, u, r.Path})
	}
	calls = append(calls, call{http.MethodGet, "/some/long/path/that/is/not/ours", unmatched},
		call{http.MethodGet, "/cds-services/svc/feedback/extra", unmatched})
	for _, c := range calls {
		seen := len(rec.Ended())
		body := strings.NewReader(`{}`)
		w := httptest.NewRecorder()
		s.Handler.ServeHTTP(w, httptest.NewRequest(c.method, c.url, body))
		spans := rec.Ended()[seen:]
		if len(spans) != 1 || spans[0].Name() != c.method+" "+c.name {
			names := []string{}
			for _, sp := range spans {
				names = append(names, sp.Name())
			}
			t.Errorf("%s %s: spans %v, want %q", c.method, c.url, names, c.method+" "+c.name)
		}
		var counted float64
		for _, svc := range []string{"", "svc", "unknown"} {
			counted += testutil.ToFloat64(m.Requests.WithLabelValues(c.name, svc, strconv.Itoa(w.Code)))
		}
		if counted == 0 {
			t.Errorf("%s %s: no request counted under route %q (status %d)", c.method, c.url, c.name, w.Code)
		}
	}
}
