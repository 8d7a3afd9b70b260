package fhir_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/balint-health/balint/fhir"
	"github.com/balint-health/balint/testing/outside"
)

// TestFastDecodeOutside reads every outside record both ways, as sent
// and compacted: they may send the fast decoder back to the v2 decoder,
// but the two readings must agree everywhere, and most of them must be
// the fast decoder's alone.
func TestFastDecodeOutside(t *testing.T) {
	var fast, all int
	for _, file := range outside.Files(t, "*") {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(file)
		data := raw
		if typ, _ := fhir.ResourceType(bytes.TrimSpace(raw)); typ != "Bundle" {
			data = []byte(`{"resourceType":"Bundle","type":"searchset","entry":[{"resource":` + string(raw) + `}]}`)
		}
		t.Run(name, func(t *testing.T) {
			for _, key := range []string{"observations", "export"} {
				fhir.SameReading(t, key, data)
			}
			var compact bytes.Buffer
			if json.Compact(&compact, data) == nil {
				fhir.SameReading(t, "observations", compact.Bytes())
				f, a := fhir.FastShare(t, compact.Bytes())
				fast, all = fast+f, all+a
			}
		})
	}
	t.Logf("outside records: the fast decoder read %d of %d resources alone", fast, all)
	if all > 0 && fast*10 < all*9 {
		t.Errorf("the fast decoder read only %d of %d outside resources", fast, all)
	}
}
