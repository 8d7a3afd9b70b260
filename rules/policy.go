package rules

import (
	"bytes"
	_ "embed"
	"fmt"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

//go:embed policy.yaml
var defaultPolicy []byte

// DefaultPolicyYAML is the embedded default policy, equal to the clinical
// basis.
func DefaultPolicyYAML() []byte { return bytes.Clone(defaultPolicy) }

// Policy is every threshold, window and code set of the rule.
type Policy struct {
	Windows       Windows           `yaml:"windows"`
	Thresholds    Thresholds        `yaml:"thresholds"`
	Snooze        Snooze            `yaml:"snooze"`
	Codes         Codes             `yaml:"codes"`
	BodySystems   map[string]string `yaml:"body_systems"`
	Categories    map[string]string `yaml:"categories"`
	ExtraCriteria []string          `yaml:"extra_criteria"`

	extra []*criterion
}

// Windows are look-back periods.
type Windows struct {
	InvestigationsMonths int `yaml:"investigations_months"`
	SpecialtiesMonths    int `yaml:"specialties_months"`
	PrimaryCareMonths    int `yaml:"primary_care_months"`
	PregnancyMonths      int `yaml:"pregnancy_months"`
	HospiceMonths        int `yaml:"hospice_months"`
	MentalHealthMonths   int `yaml:"mental_health_months"`
	ScreeningMonths      int `yaml:"screening_months"`
	OpenRequestMonths    int `yaml:"open_request_months"`
	PendingReportDays    int `yaml:"pending_report_days"`
	SameTestDays         int `yaml:"same_test_days"`
}

// Thresholds are the rule's counts.
type Thresholds struct {
	NormalInvestigations  int `yaml:"normal_investigations"`
	BodySystems           int `yaml:"body_systems"`
	PersistenceMonths     int `yaml:"persistence_months"`
	Specialties           int `yaml:"specialties"`
	PrimaryCareEncounters int `yaml:"primary_care_encounters"`
	MinAge                int `yaml:"min_age"`
}

// Snooze periods after a clinician overrides the card.
type Snooze struct {
	DismissedMonths int `yaml:"dismissed_months"`
	RedFlagMonths   int `yaml:"red_flag_months"`
}

// Codes are the code sets; codes are matched on their code value.
type Codes struct {
	InterpretationSystem          string   `yaml:"interpretation_system"`
	NormalInterpretations         []string `yaml:"normal_interpretations"`
	CriticalInterpretations       []string `yaml:"critical_interpretations"`
	NormalConclusions             []string `yaml:"normal_conclusions"`
	DiagnosticProcedureCategories []string `yaml:"diagnostic_procedure_categories"`
	LabObservationCategories      []string `yaml:"lab_observation_categories"`
	ReferralCategories            []string `yaml:"referral_categories"`
	PrimaryCareSpecialties        []string `yaml:"primary_care_specialties"`
	Pregnancy                     []string `yaml:"pregnancy"`
	Cancer                        []string `yaml:"cancer"`
	Hospice                       []string `yaml:"hospice"`
	MentalHealthReferrals         []string `yaml:"mental_health_referrals"`
	MentalHealthSpecialties       []string `yaml:"mental_health_specialties"`
	ScreeningObservations         []string `yaml:"screening_observations"`
	ScreeningProcedures           []string `yaml:"screening_procedures"`
}

// DefaultPolicy parses the embedded default.
func DefaultPolicy() *Policy {
	p, err := ParsePolicy(defaultPolicy)
	if err != nil {
		// The embedded default is tested; failing here is a build defect.
		panic("rules: embedded default policy: " + err.Error())
	}
	return p
}

// ParsePolicy reads and validates a policy. Errors name the field.
func ParsePolicy(data []byte) (*Policy, error) {
	var p Policy
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	extra, err := compileCriteria(p.ExtraCriteria)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	p.extra = extra
	return &p, nil
}

// validate requires every number positive and every code set non-empty,
// naming the first field that is not.
func (p *Policy) validate() error {
	for _, sec := range []struct {
		name string
		v    any
	}{{"windows", p.Windows}, {"thresholds", p.Thresholds}, {"snooze", p.Snooze}, {"codes", p.Codes}} {
		rv := reflect.ValueOf(sec.v)
		rt := rv.Type()
		for i := 0; i < rt.NumField(); i++ {
			field := sec.name + "." + strings.Split(rt.Field(i).Tag.Get("yaml"), ",")[0]
			switch f := rv.Field(i); f.Kind() {
			case reflect.Int:
				if f.Int() <= 0 {
					return fmt.Errorf("%s: must be a positive number (missing or %d)", field, f.Int())
				}
			case reflect.String:
				if f.String() == "" {
					return fmt.Errorf("%s: required", field)
				}
			case reflect.Slice:
				if f.Len() == 0 {
					return fmt.Errorf("%s: must list at least one code", field)
				}
			}
		}
	}
	if p.Thresholds.MinAge > 130 {
		return fmt.Errorf("thresholds.min_age: %d is not an age", p.Thresholds.MinAge)
	}
	return nil
}

// months is a fixed-length month, so windows are durations and the
// decision does not change when every date and now move together.
const month = time.Duration(30.4375 * 24 * float64(time.Hour))

// Months is n fixed-length months (30.4375 days each).
func Months(n int) time.Duration { return time.Duration(n) * month }

func months(n int) time.Duration { return Months(n) }
func days(n int) time.Duration   { return time.Duration(n) * 24 * time.Hour }
