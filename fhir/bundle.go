package fhir

import "encoding/json"

// Searchset wraps resources in a searchset Bundle, as a server or a CDS
// client's prefetch would send them.
func Searchset(resources []json.RawMessage) []byte {
	entries := make([]any, 0, len(resources))
	for _, r := range resources {
		entries = append(entries, map[string]any{"resource": r, "search": map[string]any{"mode": "match"}})
	}
	// Marshalling maps of raw JSON cannot fail.
	b, _ := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "searchset", "total": len(resources), "entry": entries})
	return b
}

// Prefetch builds a hook's prefetch object from resources by type: the
// Patient bare, every other kind as a searchset.
func Prefetch(byType func(resourceType string) []json.RawMessage) map[string]json.RawMessage {
	p := make(map[string]json.RawMessage, len(Kinds))
	for _, k := range Kinds {
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
