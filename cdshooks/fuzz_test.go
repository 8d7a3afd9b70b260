package cdshooks_test

import (
	"strings"
	"testing"

	"github.com/balint-health/balint/cdshooks"
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
		req, hc, err := cdshooks.DecodeRequest(body, hook, map[string]string{"patient": "Patient/{{context.patientId}}"}, nil)
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
