package fhir

// Kind is one part of a history: a prefetch key and the resource type it
// holds. The same keys name prefetch templates in discovery, parts of a
// History's Sources, and the queries run against a FHIR server.
type Kind struct {
	Key          string
	ResourceType string
}

// Kinds lists every part of a history, in a fixed order.
var Kinds = []Kind{
	{"patient", "Patient"},
	{"observations", "Observation"},
	{"reports", "DiagnosticReport"},
	{"encounters", "Encounter"},
	{"requests", "ServiceRequest"},
	{"conditions", "Condition"},
	{"procedures", "Procedure"},
}

// KindOf returns the prefetch key for a resource type, or "".
func KindOf(resourceType string) string {
	for _, k := range Kinds {
		if k.ResourceType == resourceType {
			return k.Key
		}
	}
	return ""
}
