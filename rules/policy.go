package rules

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/balint-health/balint/fhir"
	"go.yaml.in/yaml/v3"
)

//go:embed policy.yaml
var defaultPolicy []byte

// DefaultPolicyYAML is the embedded default policy, equal to the clinical
// basis.
func DefaultPolicyYAML() []byte { return bytes.Clone(defaultPolicy) }

// Policy is every threshold, window and code set of the rule.
type Policy struct {
	Windows     Windows             `yaml:"windows"`
	Thresholds  Thresholds          `yaml:"thresholds"`
	Snooze      Snooze              `yaml:"snooze"`
	Codes       Codes               `yaml:"codes"`
	Specialties map[string][]string `yaml:"specialties"`
	// ReferenceIntervals are the site's laboratory reference intervals,
	// used only for a result with neither an interpretation nor a usable
	// range of its own.
	ReferenceIntervals []ReferenceInterval `yaml:"reference_intervals"`
	Keywords           Keywords            `yaml:"keywords"`
	Unreadable         Unreadable          `yaml:"unreadable"`
	BodySystems        map[string]string   `yaml:"body_systems"`
	Categories         map[string]string   `yaml:"categories"`
	ExtraCriteria      []string            `yaml:"extra_criteria"`

	extra []*criterion
	sets  sets
	// specialty maps a code to the specialty it names.
	specialty map[string]string
	// expansions the code sets were compiled with.
	expansions Expansions
	// intervals are ReferenceIntervals by LOINC code.
	intervals map[string][]ReferenceInterval
}

// ReferenceInterval is one row of the site's reference-interval table:
// for a LOINC code in a unit, low and/or high, for one sex and an age band
// when given, and where the numbers come from.
type ReferenceInterval struct {
	LOINC  string `yaml:"loinc"`
	Unit   string `yaml:"unit"`
	Low    string `yaml:"low"`
	High   string `yaml:"high"`
	Sex    string `yaml:"sex"`     // male | female | "" (both)
	MinAge *int   `yaml:"min_age"` // years, inclusive
	MaxAge *int   `yaml:"max_age"` // years, inclusive
	Source string `yaml:"source"`
}

func (iv ReferenceInterval) validate() error {
	switch {
	case iv.LOINC == "":
		return errors.New("loinc: required")
	case iv.Unit == "":
		return errors.New("unit: required (UCUM)")
	case iv.Source == "":
		return errors.New("source: required: where the numbers come from")
	case iv.Low == "" && iv.High == "":
		return errors.New("low or high: required")
	case iv.Sex != "" && iv.Sex != "male" && iv.Sex != "female":
		return fmt.Errorf("sex: %q is neither male nor female", iv.Sex)
	case iv.MinAge != nil && iv.MaxAge != nil && *iv.MinAge > *iv.MaxAge:
		return errors.New("min_age is above max_age")
	}
	var bounds []fhir.Dec
	for _, b := range []string{iv.Low, iv.High} {
		if b == "" {
			continue
		}
		d, ok := fhir.ParseDec(b)
		if !ok {
			return fmt.Errorf("%q is not a number", b)
		}
		bounds = append(bounds, d)
	}
	if len(bounds) == 2 && bounds[0].Cmp(bounds[1]) > 0 {
		return errors.New("low is above high")
	}
	return nil
}

// Keywords name, in a display or text, what an exclusion's codes name.
type Keywords struct {
	Cancer    []string `yaml:"cancer"`
	Pregnancy []string `yaml:"pregnancy"`
	Hospice   []string `yaml:"hospice"`
}

// Unreadable says what an entry the history could not read does to the
// decision.
type Unreadable struct {
	// Action is "exclude" (do not fire) or "note" (fire, and say so).
	Action        string   `yaml:"action"`
	ResourceTypes []string `yaml:"resource_types"`
}

// Unreadable actions.
const (
	UnreadableExclude = "exclude"
	UnreadableNote    = "note"
)

// sets are the code sets, compiled.
type sets struct {
	normalInterp, criticalInterp, interpSystems, normalConclusions, diagnosticCategories,
	labCategories, referralCategories, primaryCare, pregnancy, cancer, hospice,
	mentalHealthReferrals, mentalHealthSpecialties, screening, chronic, review, notSpecialties *codeSet
}

// Windows are look-back periods.
type Windows struct {
	InvestigationsMonths int `yaml:"investigations_months"`
	SpecialtiesMonths    int `yaml:"specialties_months"`
	PrimaryCareMonths    int `yaml:"primary_care_months"`
	PregnancyMonths      int `yaml:"pregnancy_months"`
	// HospiceMonths 0: hospice care at any time excludes.
	HospiceMonths      int `yaml:"hospice_months,omitempty"`
	MentalHealthMonths int `yaml:"mental_health_months"`
	ScreeningMonths    int `yaml:"screening_months"`
	OpenRequestMonths  int `yaml:"open_request_months"`
	PendingReportDays  int `yaml:"pending_report_days"`
	SameTestDays       int `yaml:"same_test_days"`
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
	InterpretationSystems         []string `yaml:"interpretation_systems"`
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
	ChronicConditions             []string `yaml:"chronic_conditions"`
	ReviewRequests                []string `yaml:"review_requests"`
	NotSpecialties                []string `yaml:"not_specialties"`
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

// ParsePolicy reads and validates a policy, with the shipped value-set
// expansions. Errors name the field.
func ParsePolicy(data []byte) (*Policy, error) {
	return ParsePolicyWith(data, ShippedExpansions())
}

// ParsePolicyWith reads and validates a policy whose implicit value sets
// expand as exp says (a terminology server's expansions).
func ParsePolicyWith(data []byte, exp Expansions) (*Policy, error) {
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
	if err := p.compile(exp); err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	return &p, nil
}

// WithExpansions is the policy with its implicit value sets expanded as
// exp says, falling back, per value set, to the shipped expansion.
func (p *Policy) WithExpansions(exp Expansions) (*Policy, error) {
	merged := ShippedExpansions()
	maps.Copy(merged, exp)
	q := *p
	if err := q.compile(merged); err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	return &q, nil
}

// ValueSets are the canonical URLs of the implicit value sets the policy
// names, sorted: what a terminology server is asked to expand.
func (p *Policy) ValueSets() []string {
	seen := map[string]bool{}
	for _, set := range p.codeLists() {
		for _, e := range set.codes {
			if strings.HasPrefix(e, IsaPrefix) {
				seen[IsaURL(strings.TrimPrefix(e, IsaPrefix))] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

type codeList struct {
	field    string
	codes    []string
	keywords []string
	into     **codeSet
}

func (p *Policy) codeLists() []codeList {
	c, s := &p.Codes, &p.sets
	return []codeList{
		{"normal_interpretations", c.NormalInterpretations, nil, &s.normalInterp},
		{"critical_interpretations", c.CriticalInterpretations, nil, &s.criticalInterp},
		{"interpretation_systems", c.InterpretationSystems, nil, &s.interpSystems},
		{"normal_conclusions", c.NormalConclusions, nil, &s.normalConclusions},
		{"diagnostic_procedure_categories", c.DiagnosticProcedureCategories, nil, &s.diagnosticCategories},
		{"lab_observation_categories", c.LabObservationCategories, nil, &s.labCategories},
		{"referral_categories", c.ReferralCategories, nil, &s.referralCategories},
		{"primary_care_specialties", c.PrimaryCareSpecialties, nil, &s.primaryCare},
		{"pregnancy", c.Pregnancy, p.Keywords.Pregnancy, &s.pregnancy},
		{"cancer", c.Cancer, p.Keywords.Cancer, &s.cancer},
		{"hospice", c.Hospice, p.Keywords.Hospice, &s.hospice},
		{"mental_health_referrals", c.MentalHealthReferrals, nil, &s.mentalHealthReferrals},
		{"mental_health_specialties", c.MentalHealthSpecialties, nil, &s.mentalHealthSpecialties},
		// A screening is one whether recorded as an observation or a
		// procedure: both lists make one set.
		{"screening_observations", append(slices.Clone(c.ScreeningObservations), c.ScreeningProcedures...), nil, &s.screening},
		{"chronic_conditions", c.ChronicConditions, nil, &s.chronic},
		{"review_requests", c.ReviewRequests, nil, &s.review},
		{"not_specialties", c.NotSpecialties, nil, &s.notSpecialties},
	}
}

func (p *Policy) compile(exp Expansions) error {
	p.sets = sets{}
	for _, l := range p.codeLists() {
		set, err := compileSet(l.codes, exp)
		if err != nil {
			return fmt.Errorf("codes.%s: %w", l.field, err)
		}
		for _, k := range l.keywords {
			set.keywords = append(set.keywords, strings.ToLower(k))
		}
		*l.into = set
	}
	p.specialty = map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(p.Specialties)) {
		for _, code := range p.Specialties[name] {
			if other, ok := p.specialty[code]; ok {
				return fmt.Errorf("specialties: code %s is in both %s and %s", code, other, name)
			}
			p.specialty[code] = name
		}
	}
	p.expansions = exp
	p.intervals = map[string][]ReferenceInterval{}
	for _, iv := range p.ReferenceIntervals {
		p.intervals[iv.LOINC] = append(p.intervals[iv.LOINC], iv)
	}
	return nil
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
			tag := strings.Split(rt.Field(i).Tag.Get("yaml"), ",")
			field := sec.name + "." + tag[0]
			optional := slices.Contains(tag[1:], "omitempty")
			switch f := rv.Field(i); f.Kind() {
			case reflect.Int:
				if f.Int() < 0 || (f.Int() == 0 && !optional) {
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
	for i, iv := range p.ReferenceIntervals {
		if err := iv.validate(); err != nil {
			return fmt.Errorf("reference_intervals[%d]: %w", i, err)
		}
	}
	if a := p.Unreadable.Action; a != UnreadableExclude && a != UnreadableNote {
		return fmt.Errorf("unreadable.action: %q is neither %q nor %q", a, UnreadableExclude, UnreadableNote)
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
