package cdshooks_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/balint-health/balint/cdshooks"
	"github.com/balint-health/balint/testing/ehr"
)

// Fuzz targets; run each with, for example:
//
//	go test ./cdshooks -run '^$' -fuzz '^FuzzDecodeRequest$' -fuzztime 60s

func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(`{"hook":"patient-view","hookInstance":"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea","context":{"userId":"Practitioner/1","patientId":"1"}}`), "patient-view")
	f.Add([]byte(`{"hook":"order-select","hookInstance":"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea","context":{"userId":"Practitioner/1","patientId":"1","selections":["ServiceRequest/a"],"draftOrders":{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"ServiceRequest","id":"a"}}]}},"prefetch":{"p":null}}`), "order-select")
	f.Add([]byte(`{"hook":5,"context":[]}`), "patient-view")
	f.Add([]byte("\x00\xff{"), "order-sign")
	f.Fuzz(func(t *testing.T, body []byte, hook string) {
		req, hc, err := cdshooks.DecodeRequest(body, hook)
		if err != nil {
			if _, ok := err.(*cdshooks.FieldError); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		if req.Hook != hook || hc.PatientID == "" || strings.ContainsAny(hc.PatientID, "/?&#") {
			t.Fatalf("accepted %q for hook %q with patient %q", body, hook, hc.PatientID)
		}
	})
}

func FuzzRender(f *testing.F) {
	f.Add("Observation?subject=Patient/{{context.patientId}}&date=ge{{balint.since}}", "123")
	f.Add("Patient/{{context.patientId}}", "../../Practitioner/1?x=1&y={{")
	f.Add("{{{{}}}}{{", "")
	f.Fuzz(func(t *testing.T, tpl, value string) {
		tok := cdshooks.Tokens{"context.patientId": value, "balint.since": "2023-10-01"}
		out, err := cdshooks.Render(tpl, tok, false)
		if err != nil {
			return
		}
		// A value can never change the query's shape.
		if value != "" && strings.Contains(tpl, "{{context.patientId}}") && strings.ContainsAny(value, "&?#/") && strings.Contains(out, value) {
			t.Fatalf("value %q pasted unescaped into %q", value, out)
		}
		if _, err := cdshooks.Render(tpl, tok, true); err != nil {
			t.Fatalf("partial render fails where a full one succeeded: %v", err)
		}
	})
}

func FuzzVerify(f *testing.F) {
	e := ehr.New(f, "https://ehr.example")
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	replay, _ := cdshooks.NewMemoryReplay(100000)
	auth, err := cdshooks.NewAuthenticator(context.Background(), cdshooks.AuthConfig{
		Issuers:  []cdshooks.Issuer{{ID: e.Issuer, JWKSURL: e.JWKSURL}},
		Audience: "https://balint.example/cds-services", Replay: replay, Now: func() time.Time { return now },
	})
	if err != nil {
		f.Fatal(err)
	}
	valid := e.Sign(f, e.Valid("https://balint.example/cds-services", now), nil, nil, nil)
	f.Add("Bearer " + valid)
	f.Add("Bearer " + e.Sign(f, e.Valid("https://other", now), jwt.SigningMethodRS384, e.RSA, map[string]any{"kid": "rsa-1"}))
	f.Add("Bearer eyJhbGciOiJub25lIn0.eyJpc3MiOiJodHRwczovL2Voci5leGFtcGxlIn0.")
	f.Add("Basic dXNlcjpwYXNz")
	f.Fuzz(func(t *testing.T, header string) {
		cl, err := auth.Verify(context.Background(), header, "/svc")
		if err == nil && cl == nil {
			t.Fatal("no error and no claims")
		}
		// Only the seed token can ever be valid, and only once.
		if err == nil && strings.TrimPrefix(header, "Bearer ") != valid {
			t.Fatalf("accepted %q", header)
		}
	})
}
