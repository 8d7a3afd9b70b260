package fhir

import (
	"encoding/json"
	"strconv"
)

// Searchset wraps resources in a searchset Bundle, as a server or a CDS
// client's prefetch would send them: resourceType, type and total ahead of
// the entries, in the order FHIR servers write them.
func Searchset(resources []json.RawMessage) []byte {
	return bundle(`{"resourceType":"Bundle","type":"searchset","total":`+strconv.Itoa(len(resources))+`,"entry":[`,
		resources, `,"search":{"mode":"match"}}`)
}

// Collection wraps resources in a collection Bundle: entries and nothing
// more, for resources that came together some other way (an export).
func Collection(resources []json.RawMessage) []byte {
	return bundle(`{"resourceType":"Bundle","type":"collection","entry":[`, resources, `}`)
}

func bundle(head string, resources []json.RawMessage, entryEnd string) []byte {
	// Sized once: a history's part is megabytes, and growing the buffer
	// step by step copies it again and again.
	n := len(head) + 2
	for _, r := range resources {
		n += len(`{"resource":`) + len(r) + len(entryEnd) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, head...)
	for i, r := range resources {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"resource":`...)
		b = append(b, r...)
		b = append(b, entryEnd...)
	}
	return append(b, "]}"...)
}

// Prefetch builds a hook's prefetch object from resources by type: the
// Patient bare, every other kind as a searchset.
func Prefetch(byType func(resourceType string) []json.RawMessage) map[string]json.RawMessage {
	p := make(map[string]json.RawMessage, len(Kinds))
	for _, k := range Kinds {
		if k.Query == "" {
			continue
		}
		rs := byType(k.ResourceType)
		if k.ResourceType == "Patient" {
			if len(rs) > 0 {
				p[k.Key] = rs[0]
			}
			continue
		}
		p[k.Key] = Searchset(rs)
	}
	return p
}
