package bulk

import "testing"

func TestReadHead(t *testing.T) {
	tests := []struct {
		line string
		want head
		bad  bool
	}{
		{`{"resourceType":"Observation","id":"o1","subject":{"reference":"Patient/p1","display":"x"},"code":{"text":"y"}}`, head{"Observation", "o1", "Patient/p1"}, false},
		{`{"id":"c1","patient":{"reference":"Patient/p2"},"resourceType":"AllergyIntolerance"}`, head{"AllergyIntolerance", "c1", "Patient/p2"}, false},
		{`{"resourceType":"Encounter","patient":{"reference":"Patient/a"},"subject":{"reference":"Patient/b"}}`, head{"Encounter", "", "Patient/b"}, false},
		{`{"resourceType":"Patient","id":"p1","name":[{"family":"X"}]}`, head{"Patient", "p1", ""}, false},
		{`{"resourceType":"Observation","subject":"Patient/p1"}`, head{"Observation", "", ""}, false},
		{`[1,2]`, head{}, true},
		{`{"resourceType":"Observation","id":`, head{}, true},
	}
	for _, tt := range tests {
		got, err := readHead([]byte(tt.line))
		if (err != nil) != tt.bad || (!tt.bad && got != tt.want) {
			t.Errorf("readHead(%s) = %+v, %v", tt.line, got, err)
		}
	}
}

func TestPatientID(t *testing.T) {
	tests := []struct {
		ref, id string
		ok      bool
	}{
		{"Patient/p1", "p1", true},
		{"https://ehr.example/fhir/Patient/p1", "p1", true},
		{"Patient/p1/_history/2", "p1", true},
		{"Patient/p1/x", "", false},
		{"Group/g1", "", false},
		{"RelatedPatient/x", "", false},
		{"urn:uuid:1234", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		if id, ok := patientID(tt.ref); id != tt.id || ok != tt.ok {
			t.Errorf("patientID(%q) = %q, %v", tt.ref, id, ok)
		}
	}
}

// Every patient belongs to exactly one shard, and shards are about even.
func TestOwns(t *testing.T) {
	counts := make([]int, 4)
	for i := range 4000 {
		id := string(rune('a'+i%26)) + string(rune('0'+i%10)) + string(rune(i))
		n := 0
		for k := range 4 {
			if Owns(id, k, 4) {
				counts[k]++
				n++
			}
		}
		if n != 1 || !Owns(id, 0, 1) {
			t.Fatalf("%q owned by %d shards", id, n)
		}
	}
	for k, c := range counts {
		if c < 800 || c > 1200 {
			t.Errorf("shard %d has %d of 4000", k, c)
		}
	}
}
