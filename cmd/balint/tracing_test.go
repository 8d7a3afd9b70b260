package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/balint-health/balint/advice"
)

// Spans for the inbound hook and each outbound FHIR call, in one trace,
// named by route (never by a URL with an id in it).
func TestTraces(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(prev) })

	fhirSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/fhir/Patient/") {
			fmt.Fprint(w, `{"resourceType":"Patient","id":"p9","birthDate":"1970-01-01"}`)
			return
		}
		fmt.Fprint(w, `{"resourceType":"Bundle","type":"searchset","entry":[]}`)
	}))
	defer fhirSrv.Close()
	in := start(t, nil)
	r := in.hook(t, advice.ReviewID, patientView("p9", `,"fhirServer":"`+fhirSrv.URL+`/fhir"`))
	if r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	spans := rec.Ended()
	var inbound, outbound int
	trace := ""
	for _, s := range spans {
		switch {
		case s.Name() == "POST /cds-services/:id":
			inbound++
			trace = s.SpanContext().TraceID().String()
		case strings.HasPrefix(s.Name(), "HTTP GET") || s.Name() == "GET":
			outbound++
		}
		if strings.Contains(s.Name(), "p9") {
			t.Errorf("span name %q carries the patient id", s.Name())
		}
	}
	if inbound != 1 || outbound != 7 {
		names := []string{}
		for _, s := range spans {
			names = append(names, s.Name())
		}
		t.Fatalf("%d inbound and %d outbound spans: %v", inbound, outbound, names)
	}
	for _, s := range spans {
		if s.SpanContext().TraceID().String() != trace {
			t.Errorf("span %q is in another trace", s.Name())
		}
	}
}
