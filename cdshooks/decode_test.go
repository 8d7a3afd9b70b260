package cdshooks

import (
	"reflect"
	"testing"
)

// sameRequest decodes body both ways, the prefetch found by the scanner
// and the whole body by the v2 decoder, and fails unless they agree.
func sameRequest(t *testing.T, body []byte) {
	t.Helper()
	var fast, whole Request
	ef, ew := decodeRequest(body, &fast, nil), decodeObject(body, &whole)
	if (ef == nil) != (ew == nil) || ef != nil && ef.Error() != ew.Error() {
		t.Fatalf("%q: errors differ: fast %v, whole %v", body, ef, ew)
	}
	if ef == nil && !reflect.DeepEqual(fast, whole) {
		t.Fatalf("%q: requests differ:\nfast  %+v\nwhole %+v", body, fast, whole)
	}
}

const call = `{"hook":"patient-view","hookInstance":"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea","context":{"userId":"Practitioner/1","patientId":"1"}`

func TestDecodeRequestPrefetch(t *testing.T) {
	for name, body := range map[string]string{
		"no prefetch":        call + `}`,
		"prefetch":           call + `,"prefetch":{"patient":{"resourceType":"Patient","id":"1"},"observations":null}}`,
		"prefetch first":     `{"prefetch":{"a":[1, 2 ,{}]} ,` + call[1:] + `}`,
		"empty prefetch":     call + `,"prefetch":{}}`,
		"null prefetch":      call + `,"prefetch":null}`,
		"array prefetch":     call + `,"prefetch":[]}`,
		"two prefetches":     call + `,"prefetch":{"a":1},"prefetch":{"b":2}}`,
		"repeated key":       call + `,"prefetch":{"a":1,"a":{"x":2}}}`,
		"escaped key":        call + `,"prefetch":{"p\u0061tient":{}}}`,
		"escaped name":       call + `,"pre\u0066etch":{"a":1}}`,
		"invalid UTF-8":      call + ",\"prefetch\":{\"a\":\"\xff\"}}",
		"lone surrogate":     call + `,"prefetch":{"a":"\udc00"}}`,
		"syntax in prefetch": call + `,"prefetch":{"a":[1,]}}`,
		"bad hook":           `{"hook":5,"prefetch":{"a":1}}`,
		"trailing data":      call + `,"prefetch":{}} x`,
		"truncated":          call + `,"prefetch":{"a":`,
		"whitespace":         " \n" + call + " , \"prefetch\" : { \"a\" : { } } } \n",
		"deep":               call + `,"prefetch":{"a":` + deep(10001) + `}}`,
		"nearly too deep":    call + `,"prefetch":{"a":` + deep(9997) + `}}`,
		"control in string":  call + ",\"prefetch\":{\"a\":\"\x01\"}}",
		"number":             call + `,"prefetch":{"a":-0.5e+7}}`,
		"bad number":         call + `,"prefetch":{"a":01}}`,
		"bad escape":         call + `,"prefetch":{"a":"\x"}}`,
		"not an object":      `[]`,
		"fhirAuthorization":  call + `,"fhirServer":"https://ehr/fhir","fhirAuthorization":{"access_token":"t","token_type":"Bearer"},"prefetch":{"a":{}}}`,
		"context after":      `{"prefetch":{"a":{}},"hook":"patient-view","context":5}`,
	} {
		t.Run(name, func(t *testing.T) { sameRequest(t, []byte(body)) })
	}
}

func deep(n int) string {
	b := make([]byte, 0, 2*n)
	for range n {
		b = append(b, '[')
	}
	for range n {
		b = append(b, ']')
	}
	return string(b)
}

// Run with: go test ./cdshooks -run '^$' -fuzz '^FuzzDecodeRequestPrefetch$' -fuzztime 60s
func FuzzDecodeRequestPrefetch(f *testing.F) {
	f.Add([]byte(call + `,"prefetch":{"patient":{"resourceType":"Patient","id":"1"},"x":null}}`))
	f.Add([]byte(call + `,"prefetch":{"a":"\u00e9\ud83d\ude00","b":[true,false,null,1.5e3]}}`))
	f.Fuzz(func(t *testing.T, body []byte) { sameRequest(t, body) })
}
