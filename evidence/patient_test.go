package evidence

import (
	"testing"

	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// The name a clinician confirms is the official one, else the usual, else
// the first; old, maiden and anonymous names are never shown.
func TestPatientOf(t *testing.T) {
	s := func(v string) *string { return &v }
	use := func(u r4.NameUse) *r4.NameUse { return &u }
	tests := []struct {
		name string
		pt   *r4.Patient
		want Patient
	}{
		{"none", nil, Patient{}},
		{"official over usual", &r4.Patient{BirthDate: s("1980-05-14"), Name: []r4.HumanName{
			{Use: use(r4.NameUseUsual), Given: []string{"Jo"}, Family: s("Doe")},
			{Use: use(r4.NameUseOfficial), Given: []string{"Joanna", "May"}, Family: s("Doe")}}}, Patient{"Joanna May Doe", "1980-05-14"}},
		{"text wins over parts", &r4.Patient{Name: []r4.HumanName{{Text: s("Dr Joanna Doe"), Family: s("Doe")}}}, Patient{"Dr Joanna Doe", ""}},
		{"an old name is not shown", &r4.Patient{Name: []r4.HumanName{{Use: use(r4.NameUseOld), Family: s("Smith")}, {Family: s("Doe")}}}, Patient{"Doe", ""}},
	}
	for _, tt := range tests {
		if got := PatientOf(tt.pt); got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
	}
}
