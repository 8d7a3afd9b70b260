package fhir

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/balint-health/balint/jsonscan"
	"github.com/balint-health/balint/synth"
)

func TestFastPlansCompile(t *testing.T) {
	for typ, w := range wrappers {
		if w.plan == nil {
			t.Errorf("%v: no fast plan: %v", typ, w.err)
		}
	}
	if len(wrappers) != len(Kinds) {
		t.Errorf("%d fast plans for %d kinds", len(wrappers), len(Kinds))
	}
}

// sameReading decodes data as a prefetch part both ways, the fast reading
// and the v2 decoder's alone, and fails unless the two agree in every
// field, every skip and mend, and any error. Each reads its own copy of
// data, emptied before they are compared: a history keeps nothing of the
// bytes it was read from, whose buffer is the next call's once the call is
// done (hazard H54).
func SameReading(t *testing.T, key string, data []byte) {
	t.Helper()
	fast, strict := NewHistory(), NewHistory()
	fd, sd := bytes.Clone(data), bytes.Clone(data)
	pf, ef := fast.addBundle(key, fd)
	ps, es := strict.addBundleStrict(key, sd)
	clear(fd)
	clear(sd)
	if (ef == nil) != (es == nil) || ef != nil && ef.Error() != es.Error() {
		t.Fatalf("%s: errors differ: fast %v, v2 %v", key, ef, es)
	}
	if ef != nil {
		return
	}
	if pf != ps {
		t.Fatalf("%s: pages differ: fast %+v, v2 %+v", key, pf, ps)
	}
	// The v2 reading may leave a list empty rather than nil where it
	// tried a resource as the part's type first: the same history.
	for _, h := range []*History{fast, strict} {
		v := reflect.ValueOf(h).Elem()
		for i := range v.NumField() {
			if f := v.Field(i); f.Kind() == reflect.Slice && f.Len() == 0 && f.CanSet() {
				f.Set(reflect.Zero(f.Type()))
			}
		}
	}
	if !reflect.DeepEqual(fast, strict) {
		for _, k := range Kinds {
			if k.Count(fast) != k.Count(strict) {
				t.Fatalf("%s: %d %s fast, %d by v2", key, k.Count(fast), k.ResourceType, k.Count(strict))
			}
		}
		a, _ := json.Marshal(fast)
		b, _ := json.Marshal(strict)
		i := 0
		for i < min(len(a), len(b)) && a[i] == b[i] {
			i++
		}
		t.Fatalf("%s: histories differ at byte %d:\nfast %.300s\nv2   %.300s\nskipped fast %v v2 %v", key, i, a[max(0, i-100):], b[max(0, i-100):], fast.Skipped, strict.Skipped)
	}
}

// fastShare is how many of a Bundle's resources of the kinds Balint reads
// the fast decoder reads alone.
func FastShare(t *testing.T, data []byte) (fast, all int) {
	var b struct {
		Entry []struct {
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(data, &b); err != nil {
		t.Fatal(err)
	}
	for _, e := range b.Entry {
		k, ok := kindOf[firstType(e.Resource)]
		if !ok {
			continue
		}
		all++
		h := NewHistory()
		d := fastDec{Scanner: jsonscan.Scanner{Data: e.Resource}}
		if got := k.part.decode(h, d.value); got.err == nil && d.SkipSpace() == len(e.Resource) {
			fast++
		}
	}
	return fast, all
}

// TestFastDecode reads generated histories both ways: the fast decoder
// must read them alone, and agree with the v2 decoder (the outside
// records are read both ways in TestFastDecodeOutside).
func TestFastDecode(t *testing.T) {
	for seed := range int64(6) {
		rec := synth.Generate(synth.Options{Seed: seed, Now: now, Pattern: seed%2 == 0, Observations: 40})
		for key, part := range Prefetch(rec.OfType) {
			data, err := json.Marshal(part)
			if err != nil {
				t.Fatal(err)
			}
			SameReading(t, key, data)
			if f, all := FastShare(t, data); f != all {
				t.Errorf("seed %d %s: the fast decoder read %d of %d generated resources", seed, key, f, all)
			}
		}
		SameReading(t, "export", rec.Collection())
	}
}

// TestFastDecodeGivesUp: input the fast decoder does not handle goes to
// the v2 decoder, and the result is the v2 decoder's.
func TestFastDecodeGivesUp(t *testing.T) {
	obs := func(members string) string {
		return `{"resourceType":"Observation","id":"o","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"718-7"}]}` + members + `}`
	}
	for name, r := range map[string]string{
		"clean":                 obs(`,"valueQuantity":{"value":13.1,"unit":"g/dL"}`),
		"null":                  obs(`,"valueQuantity":null`),
		"null in array":         obs(`,"category":[null]`),
		"repeated member":       obs(`,"status":"preliminary"`),
		"repeated resourceType": obs(`,"resourceType":"Condition"`),
		"string number":         obs(`,"valueQuantity":{"value":"13.1"}`),
		"number as string":      obs(`,"valueString":5`),
		"escapes":               obs(`,"valueString":"a\"b\\c\/d\n\u00e9\ud83d\ude00"`),
		"lone surrogate":        obs(`,"valueString":"\ud800x"`),
		"invalid UTF-8":         obs(",\"valueString\":\"\xff\xfe\""),
		"escaped name":          obs(`,"value\u0053tring":"x"`),
		"name in other case":    obs(`,"Status":"cancelled"`),
		"unknown code":          obs(`,"interpretation":[{"coding":[{"code":"H"}]}],"status":"done"`),
		"unknown member":        obs(`,"_status":{"extension":[{"url":"x","valueString":"y"}]}`),
		"integer":               obs(`,"valueInteger":-0`),
		"integer fraction":      obs(`,"valueInteger":1.5`),
		"integer exponent":      obs(`,"valueInteger":1e2`),
		"big integer":           obs(`,"valueInteger":123456789012345678901234567890`),
		"bool":                  obs(`,"valueBoolean":"true"`),
		"deep":                  obs(`,"extension":` + strings.Repeat(`[`, 300) + strings.Repeat(`]`, 300)),
		"empty array":           obs(`,"category":[]`),
		"spaces":                " { \"resourceType\" : \"Observation\" , \"status\" : \"final\" , \"code\" : { } } ",
		"other type first":      `{"id":"x","resourceType":"Observation","status":"final","code":{}}`,
		"not an object":         `[1]`,
		"syntax":                obs(`,"valueString":"x`),
		"trailing comma":        obs(`,`),
		"contained":             obs(`,"contained":[{"resourceType":"Patient","id":"p"}]`),
	} {
		t.Run(name, func(t *testing.T) {
			SameReading(t, "observations", bundleOf(entry(r)))
			SameReading(t, "observations", bundleOf(entry(r), entry(obs(`,"id":"o2"`))))
		})
	}
	for name, b := range map[string]string{
		"entry not array":   `{"resourceType":"Bundle","entry":{}}`,
		"entry not object":  `{"resourceType":"Bundle","entry":[1,"x",{"resource":` + obs("") + `}]}`,
		"no resource":       `{"resourceType":"Bundle","entry":[{"search":{}}]}`,
		"two resources":     `{"resourceType":"Bundle","entry":[{"resource":` + obs("") + `,"resource":` + obs(`,"id":"p"`) + `}]}`,
		"links":             `{"resourceType":"Bundle","link":[{"relation":"next","url":"u"}],"entry":[]}`,
		"bad links":         `{"resourceType":"Bundle","link":{"relation":"next"},"entry":[]}`,
		"total":             `{"resourceType":"Bundle","total":"7","entry":[]}`,
		"trailing data":     `{"resourceType":"Bundle","entry":[]} {}`,
		"trailing garbage":  `{"resourceType":"Bundle","entry":[]}A`,
		"escaped entry":     `{"resourceType":"Bundle","\u0065ntry":[{"resource":` + obs("") + `}]}`,
		"invalid UTF-8":     "{\"resourceType\":\"Bundle\",\"x\xff\":1,\"entry\":[]}",
		"truncated":         `{"resourceType":"Bundle","entry":[{"resource":` + obs(""),
		"unused type":       `{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Medication","id":"m"}}]}`,
		"operation outcome": `{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"OperationOutcome"}}]}`,
	} {
		t.Run(name, func(t *testing.T) { SameReading(t, "observations", []byte(b)) })
	}
}

// Run with: go test ./fhir -run '^$' -fuzz '^FuzzFastDecode$' -fuzztime 60s
func FuzzFastDecode(f *testing.F) {
	rec := synth.Generate(synth.Options{Seed: 1, Now: now, Pattern: true, Observations: 3})
	f.Add(rec.Collection())
	f.Add(bundleOf(entry(`{"resourceType":"Observation","id":"x","status":"final","code":{},"valueQuantity":{"value":"x"}}`)))
	f.Add(bundleOf(entry(`{"resourceType":"Observation","id":"x","status":"final","code":{"text":"a\u00e9"},"valueInteger":3,"component":[{"code":{},"valueBoolean":true}]}`)))
	f.Fuzz(func(t *testing.T, data []byte) {
		if typ, err := resourceType(bytes.TrimSpace(data)); err != nil || typ != "Bundle" {
			return
		}
		SameReading(t, "observations", bytes.TrimSpace(data))
	})
}

// ResourceType is resourceType, for the tests of package fhir_test.
var ResourceType = resourceType
