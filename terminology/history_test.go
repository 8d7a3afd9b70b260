package terminology

import (
	"fmt"
	"testing"

	"github.com/balint-health/balint/fhir"
)

// conditionHistory is an adult with one active condition of this SNOMED
// code.
func conditionHistory(t *testing.T, code string) *fhir.History {
	t.Helper()
	h := fhir.NewHistory()
	b := fmt.Sprintf(`{"resourceType":"Bundle","type":"collection","entry":[
{"resource":{"resourceType":"Patient","id":"p","birthDate":"1970-01-01"}},
{"resource":{"resourceType":"Condition","id":"c","clinicalStatus":{"coding":[{"code":"active"}]},
 "code":{"coding":[{"system":"http://snomed.info/sct","code":%q}]}}}]}`, code)
	if _, err := h.AddJSON("all", fhir.FromPrefetch, []byte(b)); err != nil {
		t.Fatal(err)
	}
	return h
}
