package cdshooks

import (
	"reflect"
	"strings"
	"testing"
)

const validCtx = `"context":{"userId":"Practitioner/1","patientId":"p-1"}`

func req(body string) string {
	return `{"hook":"patient-view","hookInstance":"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",` + body + `}`
}

func TestDecodeRequest(t *testing.T) {
	tests := []struct {
		name, body, hook, field string
	}{
		{"valid", req(validCtx), "patient-view", ""},
		{"valid with prefetch null", req(validCtx + `,"prefetch":{"patient":null,"observations":{"resourceType":"Bundle"}}`), "patient-view", ""},
		{"invalid JSON", `{"hook":`, "patient-view", "body"},
		{"not an object", `[1,2]`, "patient-view", "body"},
		{"garbage", "\x00\x01binary", "patient-view", "body"},
		{"trailing data", req(validCtx) + `{}`, "patient-view", "body"},
		{"missing hook", `{"hookInstance":"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",` + validCtx + `}`, "patient-view", "hook"},
		{"wrong hook", req(validCtx), "order-select", "hook"},
		{"hook not a string", `{"hook":5}`, "patient-view", "hook"},
		{"missing hookInstance", `{"hook":"patient-view",` + validCtx + `}`, "patient-view", "hookInstance"},
		{"hookInstance not a uuid", `{"hook":"patient-view","hookInstance":"abc",` + validCtx + `}`, "patient-view", "hookInstance"},
		{"prefetch not an object", req(validCtx + `,"prefetch":[1]`), "patient-view", "prefetch"},
		{"prefetch value a string", req(validCtx + `,"prefetch":{"patient":"Patient/1"}`), "patient-view", "prefetch.patient"},
		{"a prefetch key the service did not ask for, not an object", req(validCtx + `,"prefetch":{"extra":[1,2],"note":"x"}`), "patient-view", ""},
		{"authorization without scope or subject", req(validCtx + `,"fhirServer":"https://e/fhir","fhirAuthorization":{"access_token":"t","token_type":"Bearer"}`), "patient-view", ""},
		{"encounter-start without encounterId", strings.Replace(req(validCtx), "patient-view", "encounter-start", 1), "encounter-start", "context.encounterId"},
		{"missing context", req(`"fhirServer":"https://ehr.example/fhir"`), "patient-view", "context"},
		{"context not an object", req(`"context":"x"`), "patient-view", "context"},
		{"missing patientId", req(`"context":{"userId":"Practitioner/1"}`), "patient-view", "context.patientId"},
		{"patientId with a slash", req(`"context":{"userId":"Practitioner/1","patientId":"1/../2"}`), "patient-view", "context.patientId"},
		{"patientId wrong type", req(`"context":{"userId":"Practitioner/1","patientId":7}`), "patient-view", "context.patientId"},
		{"missing userId", req(`"context":{"patientId":"1"}`), "patient-view", "context.userId"},
		{"bad fhirServer", req(validCtx + `,"fhirServer":"ftp://x"`), "patient-view", "fhirServer"},
		{"authorization without server", req(validCtx + `,"fhirAuthorization":{"access_token":"t","token_type":"Bearer","scope":"s","subject":"x"}`), "patient-view", "fhirAuthorization"},
		{"authorization without token", req(validCtx + `,"fhirServer":"https://e/fhir","fhirAuthorization":{"token_type":"Bearer","scope":"s","subject":"x"}`), "patient-view", "fhirAuthorization.access_token"},
		{"order-select without draftOrders", strings.Replace(req(`"context":{"userId":"Practitioner/1","patientId":"1","selections":["ServiceRequest/a"]}`), "patient-view", "order-select", 1), "order-select", "context.draftOrders"},
		{"order-select draftOrders not a Bundle", strings.Replace(req(`"context":{"userId":"Practitioner/1","patientId":"1","selections":["ServiceRequest/a"],"draftOrders":{"resourceType":"ServiceRequest"}}`), "patient-view", "order-select", 1), "order-select", "context.draftOrders.resourceType"},
		{"order-select selection not in drafts", strings.Replace(req(`"context":{"userId":"Practitioner/1","patientId":"1","selections":["ServiceRequest/b"],"draftOrders":{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"ServiceRequest","id":"a"}}]}}`), "patient-view", "order-select", 1), "order-select", "context.selections[0]"},
		{"order-select without selections", strings.Replace(req(`"context":{"userId":"Practitioner/1","patientId":"1","draftOrders":{"resourceType":"Bundle","entry":[]}}`), "patient-view", "order-select", 1), "order-select", "context.selections"},
		{"order-select valid", strings.Replace(req(`"context":{"userId":"Practitioner/1","patientId":"1","selections":["ServiceRequest/a"],"draftOrders":{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"ServiceRequest","id":"a"}}]}}`), "patient-view", "order-select", 1), "order-select", ""},
		{"valid, read whole by the v2 decoder", req(validCtx + `,"pre\u0066etch":{"patient":null}`), "patient-view", ""},
		{"valid with fhirAuthorization", req(validCtx + `,"fhirServer":"https://ehr/fhir","fhirAuthorization":{"access_token":"t","token_type":"Bearer","scope":"patient/*.read","subject":"s"}`), "patient-view", ""},
		{"order-sign valid without selections", strings.Replace(req(`"context":{"userId":"Practitioner/1","patientId":"1","draftOrders":{"resourceType":"Bundle","entry":[]}}`), "patient-view", "order-sign", 1), "order-sign", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			templates := map[string]string{"patient": "Patient/{{context.patientId}}"}
			body := []byte(tt.body)
			r, hc, err := DecodeRequest(body, tt.hook, templates, nil)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				// The prefetch apart, what is decoded keeps nothing of the
				// body: its buffer is the next call's once the call is done
				// (hazard H54).
				clear(body)
				want, wantHC, _ := DecodeRequest([]byte(tt.body), tt.hook, templates, nil)
				r.Prefetch, want.Prefetch = nil, nil
				if !reflect.DeepEqual(r, want) || !reflect.DeepEqual(hc, wantHC) {
					t.Fatalf("the request changed with the bytes it was read from:\n%+v\n%+v", r, hc)
				}
				return
			}
			fe, ok := err.(*FieldError)
			if !ok {
				t.Fatalf("error %v (%T), want a FieldError on %s", err, err, tt.field)
			}
			if fe.Field != tt.field || fe.Reason == "" {
				t.Fatalf("field %q (%s), want %q", fe.Field, fe.Reason, tt.field)
			}
		})
	}
}

func TestDecodeFeedback(t *testing.T) {
	const card = `"card":"4a7b8c9d-1e2f-4a5b-8c6d-7e8f9a0b1c2d"`
	tests := []struct{ name, body, field string }{
		{"accepted", `{"feedback":[{` + card + `,"outcome":"accepted","acceptedSuggestions":[{"id":"x"}],"outcomeTimestamp":"2026-11-25T10:00:00Z"}]}`, ""},
		{"overridden", `{"feedback":[{` + card + `,"outcome":"overridden","overrideReason":{"reason":{"code":"already-addressed"}},"outcomeTimestamp":"2026-11-25T10:00:00+01:00"}]}`, ""},
		{"empty", `{"feedback":[]}`, "feedback"},
		{"no card", `{"feedback":[{"outcome":"accepted","outcomeTimestamp":"2026-11-25T10:00:00Z"}]}`, "feedback[0].card"},
		{"bad outcome", `{"feedback":[{` + card + `,"outcome":"ignored","outcomeTimestamp":"2026-11-25T10:00:00Z"}]}`, "feedback[0].outcome"},
		{"override reason on accept", `{"feedback":[{` + card + `,"outcome":"accepted","overrideReason":{},"outcomeTimestamp":"2026-11-25T10:00:00Z"}]}`, "feedback[0].overrideReason"},
		{"no timestamp", `{"feedback":[{` + card + `,"outcome":"accepted"}]}`, "feedback[0].outcomeTimestamp"},
		{"bad timestamp", `{"feedback":[{` + card + `,"outcome":"accepted","outcomeTimestamp":"yesterday"}]}`, "feedback[0].outcomeTimestamp"},
		{"feedback not an array", `{"feedback":{}}`, "feedback"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeFeedback([]byte(tt.body))
			if tt.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			fe, ok := err.(*FieldError)
			if !ok || fe.Field != tt.field {
				t.Fatalf("error %v, want field %s", err, tt.field)
			}
		})
	}
}

func TestRender(t *testing.T) {
	hc := &HookContext{UserID: "Practitioner/abc", PatientID: "123", EncounterID: "e9"}
	tok := ContextTokens(hc)
	tok["balint.since"] = "2023-10-01"
	tests := []struct {
		tpl, want string
		partial   bool
		err       bool
	}{
		{"Patient/{{context.patientId}}", "Patient/123", false, false},
		{"Observation?subject=Patient/{{context.patientId}}&date=ge{{balint.since}}", "Observation?subject=Patient/123&date=ge2023-10-01", false, false},
		{"Practitioner/{{userPractitionerId}}", "Practitioner/abc", false, false},
		{"Encounter/{{ context.encounterId }}", "Encounter/e9", false, false},
		{"PractitionerRole?practitioner={{userPractitionerRoleId}}", "", false, true},
		{"Observation?date=ge{{balint.since}}&subject={{context.patientId}}", "", false, false},
		{"Patient/{{context.patientId", "", false, true},
	}
	for _, tt := range tests {
		got, err := Render(tt.tpl, tok, tt.partial)
		if tt.err != (err != nil) || (tt.want != "" && got != tt.want) {
			t.Errorf("Render(%q) = %q, %v", tt.tpl, got, err)
		}
	}
	partial, err := Render("Observation?subject=Patient/{{context.patientId}}&date=ge{{balint.since}}", Tokens{"balint.since": "2023-10-01"}, true)
	if err != nil || partial != "Observation?subject=Patient/{{context.patientId}}&date=ge2023-10-01" {
		t.Errorf("partial render = %q, %v", partial, err)
	}
	// A value cannot add a search parameter.
	evil, _ := Render("Observation?subject=Patient/{{context.patientId}}", Tokens{"context.patientId": "1&_include=*"}, false)
	if strings.Contains(evil, "&_include") {
		t.Errorf("value not escaped: %q", evil)
	}
}

func TestCardValidate(t *testing.T) {
	ok := Card{Summary: "s", Indicator: IndicatorInfo, Source: Source{Label: "x"}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	long := ok
	long.Summary = strings.Repeat("a", MaxSummaryLen)
	bad := []Card{long, {Summary: "s", Indicator: "urgent", Source: Source{Label: "x"}}, {Summary: "s", Indicator: IndicatorInfo},
		{Summary: "s", Indicator: IndicatorInfo, Source: Source{Label: "x"}, Suggestions: []Suggestion{{Label: "a"}}},
		{Summary: "s", Indicator: IndicatorInfo, Source: Source{Label: "x"}, Links: []Link{{Label: "a", URL: "u", Type: "web"}}}}
	for i, c := range bad {
		if err := c.Validate(); err == nil {
			t.Errorf("bad card %d accepted", i)
		}
	}
}
