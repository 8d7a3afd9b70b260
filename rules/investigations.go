package rules

import (
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/balint-health/balint/fhir"
)

// Verdict is an investigation's normality.
type Verdict string

const (
	Normal   Verdict = "normal"
	Abnormal Verdict = "abnormal"
	Critical Verdict = "critical"
	Unknown  Verdict = "unknown"
)

// Investigation is one test episode: a report with its analytes, a group of
// loose lab results, or a diagnostic procedure.
type Investigation struct {
	// Ref is the resource the episode is named by ("DiagnosticReport/1").
	Ref string `json:"ref"`
	// Refs are every resource it rests on (report, analytes, procedure).
	Refs    []string    `json:"refs"`
	Codes   []fhir.Code `json:"codes"`
	Display string      `json:"display"`
	Date    time.Time   `json:"date"`
	// System is the body system or category it counts under.
	System  string  `json:"system"`
	Kind    string  `json:"kind"` // lab | imaging | procedure
	Verdict Verdict `json:"verdict"`
	// Evidence says, per analyte or conclusion, why the verdict.
	Evidence []string `json:"evidence"`
	// Pending: preliminary, partial or registered; never normal.
	Pending bool `json:"pending,omitempty"`
	// Monitoring: ordered for a chronic condition; never counted.
	Monitoring bool `json:"monitoring,omitempty"`
	// SiteTable: a result was judged against the site's reference-interval
	// table, having no range of its own.
	SiteTable bool `json:"siteTable,omitempty"`
}

// keys identify "the same test": any code value it shares with another
// (a LOINC code on one, the same LOINC code beside a local code on the
// other). One with no code is only ever the same as itself.
func (i *Investigation) keys() []string {
	if len(i.Codes) == 0 {
		return []string{i.Ref}
	}
	out := make([]string, 0, len(i.Codes))
	for _, c := range i.Codes {
		out = append(out, c.Code)
	}
	return out
}

// SameTest reports whether two investigations share a coding.
func (i *Investigation) SameTest(codes []fhir.Code) bool {
	for _, a := range i.Codes {
		for _, b := range codes {
			if a.Code == b.Code && (a.System == b.System || a.System == "" || b.System == "") {
				return true
			}
		}
	}
	return false
}

// index finds the resources that references name.
type index struct {
	fhir.Index
	conditions []r4.Condition
}

func newIndex(h *fhir.History) *index { return &index{fhir.NewIndex(h), h.Conditions} }

// key is the "Type/id" of the resource r names, however r is written
// (relative, absolute, versioned, urn:uuid): compare references by it.
func (ix *index) key(r r4.Reference) string { return ix.Canonical(fhir.Ref(r)) }

func (ix *index) observation(ref string) *r4.Observation {
	return fhir.Lookup[r4.Observation](ix.Index, ref)
}

func (ix *index) request(ref string) *r4.ServiceRequest {
	return fhir.Lookup[r4.ServiceRequest](ix.Index, ref)
}

func (ix *index) condition(ref string) *r4.Condition {
	return fhir.Lookup[r4.Condition](ix.Index, ref)
}

// reader turns a history's resources into investigations: what it needs
// beyond the policy is where references lead, the site's zone, and the
// patient a reference range may apply to.
type reader struct {
	p   *Policy
	ix  *index
	loc *time.Location
	now time.Time
	pt  *r4.Patient
	// siteTable is set when a verdict used the site's reference table, for
	// the investigation being read.
	siteTable bool
}

func (r *reader) investigations(h *fhir.History) []Investigation {
	p := r.p
	var out []Investigation
	member := map[string]bool{}
	for i := range h.DiagnosticReports {
		for _, ref := range h.DiagnosticReports[i].Result {
			member[r.ix.key(ref)] = true
		}
	}
	for i := range h.Observations {
		for _, ref := range h.Observations[i].HasMember {
			member[r.ix.key(ref)] = true
		}
	}
	byReport := map[string]int{}
	for i := range h.DiagnosticReports {
		dr := &h.DiagnosticReports[i]
		if dr.Status == r4.DiagnosticReportStatusCancelled || dr.Status == r4.DiagnosticReportStatusEnteredInError {
			continue
		}
		inv := r.report(dr)
		byReport[inv.Ref] = len(out)
		out = append(out, inv)
	}
	// Loose lab results: panels (hasMember) stand alone; the rest group by
	// order, else by category and the site's calendar day.
	loose := make([]labResult, 0, len(h.Observations))
	groupOf := make(map[string]int32, len(h.Observations))
	var order []string
	for i := range h.Observations {
		o := &h.Observations[i]
		ref := fhir.RefTo("Observation", o.Id)
		if member[ref] || !isLab(o, p) || !usableObservation(o) {
			continue
		}
		var g string
		switch {
		case len(o.HasMember) > 0:
			g = ref
		case len(o.BasedOn) > 0:
			g = r.ix.key(o.BasedOn[0])
		default:
			g = "day:" + fhir.FirstCode(o.Category) + ":" + fhir.ObservationDate(o, r.loc).Format("2006-01-02")
		}
		k, ok := groupOf[g]
		if !ok {
			k = int32(len(order))
			groupOf[g] = k
			order = append(order, g)
		}
		loose = append(loose, labResult{o, ref, k})
	}
	order, groups, heads := r.current(order, byGroup(loose, len(order)))
	// Grown once: an Investigation is large, and a history of thousands of
	// orders makes thousands of them.
	out = slices.Grow(out, len(order)+len(h.Procedures))
	n := len(out)
	out = out[:n+len(order)]
	r.groups(out[n:], order, groups, heads)
	for i := range h.Procedures {
		pr := &h.Procedures[i]
		if pr.Status != r4.EventStatusCompleted || !isDiagnosticProcedure(pr, p) {
			continue
		}
		ref := fhir.RefTo("Procedure", pr.Id)
		linked := false
		for _, rep := range pr.Report {
			if k, ok := byReport[r.ix.key(rep)]; ok {
				out[k].Refs = append(out[k].Refs, ref)
				out[k].Kind = "procedure"
				out[k].Codes = append(out[k].Codes, fhir.Codings(pr.Code)...)
				linked = true
			}
		}
		if linked {
			continue
		}
		codes := fhir.Codings(pr.Code)
		out = append(out, Investigation{
			Ref: ref, Refs: []string{ref}, Codes: codes, Display: fhir.Display(pr.Code),
			Date: fhir.ProcedureDate(pr, r.loc), System: p.systemOf(codes, nil, fhir.Concepts(pr.Category)),
			Kind: "procedure", Verdict: Unknown, Evidence: []string{"no report of this procedure in the record"},
			Monitoring: r.forChronicCondition(pr.ReasonReference, pr.ReasonCode),
		})
	}
	sortInvestigations(out)
	return out
}

// sortInvestigations orders investigations by date, then by name: a total
// order, so the result is the same whatever the sort. An Investigation is
// about 200 bytes, so the sort moves indexes, and each value moves once.
func sortInvestigations(invs []Investigation) {
	order := make([]int32, len(invs))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int {
		if c := invs[a].Date.Compare(invs[b].Date); c != 0 {
			return c
		}
		return strings.Compare(invs[a].Ref, invs[b].Ref)
	})
	// Place each value where the order says, following each cycle of the
	// permutation once; a placed index is marked -1.
	for i := range invs {
		if order[i] < 0 || int(order[i]) == i {
			continue
		}
		held := invs[i]
		j := i
		for {
			k := int(order[j])
			order[j] = -1
			if k == i {
				invs[j] = held
				break
			}
			invs[j] = invs[k]
			j = k
		}
	}
}

// report is one DiagnosticReport as an investigation: its results, and its
// coded conclusion, which can make it abnormal however normal the results.
func (r *reader) report(dr *r4.DiagnosticReport) Investigation {
	ref := fhir.RefTo("DiagnosticReport", dr.Id)
	inv := Investigation{
		Ref: ref, Refs: []string{ref}, Codes: fhir.Codings(&dr.Code), Display: fhir.Display(&dr.Code),
		Date: fhir.ReportDate(dr, r.loc), Kind: "lab",
	}
	if len(dr.Result) == 0 {
		inv.Kind = "imaging"
	}
	switch dr.Status {
	case r4.DiagnosticReportStatusRegistered, r4.DiagnosticReportStatusPartial, r4.DiagnosticReportStatusPreliminary:
		inv.Pending = true
		inv.Verdict = Unknown
		inv.Evidence = []string{"report is " + dr.Status.Code() + ", not final"}
		inv.System = r.p.systemOf(inv.Codes, nil, dr.Category)
		return inv
	case r4.DiagnosticReportStatusUnknown:
		inv.Verdict = Unknown
		inv.Evidence = []string{"report status is unknown"}
		inv.System = r.p.systemOf(inv.Codes, nil, dr.Category)
		return inv
	}
	inv.Monitoring = r.monitoring(dr.BasedOn)
	var analytes []*r4.Observation
	if len(dr.Result) > 0 {
		inv.Verdict = Normal
		for _, res := range dr.Result {
			o := r.ix.observation(fhir.Ref(res))
			if o == nil {
				inv.Evidence = append(inv.Evidence, "result "+fhir.Ref(res)+" is not in the record")
				inv.Verdict = worst(inv.Verdict, Unknown)
				continue
			}
			inv.Refs = append(inv.Refs, fhir.Ref(res))
			members, missing := r.membersOf(o)
			analytes = append(analytes, members...)
			inv.Evidence = append(inv.Evidence, missing...)
			if len(missing) > 0 {
				inv.Verdict = worst(inv.Verdict, Unknown)
			}
		}
		v, ev := r.analyteVerdict(analytes)
		inv.Evidence = append(inv.Evidence, ev...)
		inv.Verdict = worst(inv.Verdict, v)
		inv.SiteTable = r.siteTable
		if len(dr.ConclusionCode) > 0 {
			// A conclusion can only say more than the results: an
			// abnormal one makes the report abnormal, a normal one never
			// makes unknown results normal.
			if cv, cev := r.conclusionVerdict(dr); cv == Abnormal || cv == Critical {
				inv.Verdict = worst(inv.Verdict, cv)
				inv.Evidence = append(inv.Evidence, cev...)
			}
		}
	} else {
		inv.Verdict, inv.Evidence = r.conclusionVerdict(dr)
	}
	inv.System = r.p.systemOf(inv.Codes, analytes, dr.Category)
	return inv
}

// membersOf expands a panel Observation into its members, and says which
// members the record does not hold (their results are then unknown).
func (r *reader) membersOf(o *r4.Observation) ([]*r4.Observation, []string) {
	if len(o.HasMember) == 0 {
		return []*r4.Observation{o}, nil
	}
	var out []*r4.Observation
	var missing []string
	for _, m := range o.HasMember {
		if mo := r.ix.observation(fhir.Ref(m)); mo != nil {
			out = append(out, mo)
		} else {
			missing = append(missing, "member "+fhir.Ref(m)+" is not in the record")
		}
	}
	return out, missing
}

// labResult is a loose lab result, with its reference (made once: a
// history holds thousands) and the group it is read in.
type labResult struct {
	o     *r4.Observation
	ref   string
	group int32
}

// byGroup lays the results out group after group, each group's in record
// order, in one array: a history of thousands of orders has thousands of
// groups, most of one result, and a list of its own for each was most of
// what grouping allocated.
func byGroup(results []labResult, groups int) [][]labResult {
	at := make([]int32, groups+1)
	for _, lr := range results {
		at[lr.group+1]++
	}
	for g := range groups {
		at[g+1] += at[g]
	}
	laid := make([]labResult, len(results))
	next := slices.Clone(at[:groups])
	for _, lr := range results {
		laid[next[lr.group]] = lr
		next[lr.group]++
	}
	out := make([][]labResult, groups)
	for g := range out {
		out[g] = laid[at[g]:at[g+1]:at[g+1]]
	}
	return out
}

// groupHead is what a lab group's place in the decision turns on: its
// date, its latest result's, and whether a result of it is still pending
// (preliminary or registered).
type groupHead struct {
	date    time.Time
	pending bool
}

// current keeps, of the lab groups, those the decision reads: those dated
// within the investigations window, and those pending at any date (the
// open work-up exclusion reads them). The rest are neither counted nor
// shown, and most of a long record is older than the window, so they are
// not read further (H55). order and groups are compacted in place.
func (r *reader) current(order []string, groups [][]labResult) ([]string, [][]labResult, []groupHead) {
	heads := make([]groupHead, 0, len(order))
	for i, results := range groups {
		var hd groupHead
		for j, lr := range results {
			o := lr.o
			if d := fhir.ObservationDate(o, r.loc); j == 0 || d.After(hd.date) {
				hd.date = d
			}
			if o.Status == r4.ObservationStatusPreliminary || o.Status == r4.ObservationStatusRegistered {
				hd.pending = true
			}
		}
		if hd.pending || r.inInvestigationsWindow(hd.date) {
			order[len(heads)], groups[len(heads)] = order[i], results
			heads = append(heads, hd)
		}
	}
	return order[:len(heads)], groups[:len(heads)], heads
}

// groupsPerWorker is the fewest lab groups worth a goroutine: below it,
// starting one costs more than it saves.
const groupsPerWorker = 256

// groups reads each lab group into its slot of out. A large history is
// read on every core: each worker has a reader of its own (for its
// site-table flag) and writes only its own slots, so the result is the
// same as one reader's, in the same order.
func (r *reader) groups(out []Investigation, order []string, groups [][]labResult, heads []groupHead) {
	workers := min(runtime.GOMAXPROCS(0), len(order)/groupsPerWorker)
	if workers < 2 {
		for i, g := range order {
			out[i] = r.group(g, groups[i], heads[i])
		}
		return
	}
	// Groups are taken in blocks from a shared counter, because they
	// differ in size (a panel of twenty against one result).
	const block = 64
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		w := *r
		w.siteTable = false
		wg.Go(func() {
			for {
				start := int(next.Add(block)) - block
				if start >= len(order) {
					return
				}
				for i := start; i < min(start+block, len(order)); i++ {
					out[i] = w.group(order[i], groups[i], heads[i])
				}
			}
		})
	}
	wg.Wait()
}

func (r *reader) group(g string, results []labResult, hd groupHead) Investigation {
	first := results[0].o
	inv := Investigation{Ref: results[0].ref, Kind: "lab", Date: hd.date, Pending: hd.pending,
		Refs: make([]string, 0, len(results)+1)}
	var held [4]*r4.Observation // most groups are one result
	analytes := held[:0]
	var missing []string
	for _, lr := range results {
		o := lr.o
		inv.Refs = append(inv.Refs, lr.ref)
		if len(o.HasMember) == 0 {
			analytes = append(analytes, o) // as membersOf, without a list per result
		} else {
			members, miss := r.membersOf(o)
			analytes = append(analytes, members...)
			missing = append(missing, miss...)
		}
	}
	sr := r.ix.request(g)
	switch {
	case sr != nil && sr.Code != nil:
		inv.Codes, inv.Display = fhir.Codings(sr.Code), fhir.Display(sr.Code)
		inv.Refs = append(inv.Refs, g)
		inv.Monitoring = r.forChronicCondition(sr.ReasonReference, sr.ReasonCode)
	case len(results) == 1:
		inv.Codes, inv.Display = fhir.Codings(&first.Code), fhir.Display(&first.Code)
	default:
		var parts []string
		for _, lr := range results {
			parts = append(parts, fhir.Display(&lr.o.Code))
		}
		inv.Codes = []fhir.Code{{Code: "group:" + g}}
		inv.Display = strings.Join(parts, ", ")
	}
	inv.System = r.p.systemOf(inv.Codes, analytes, first.Category)
	inv.Verdict, inv.Evidence = r.analyteVerdict(analytes)
	inv.SiteTable = r.siteTable
	if len(missing) > 0 {
		inv.Verdict = worst(inv.Verdict, Unknown)
		inv.Evidence = append(missing, inv.Evidence...)
	}
	return inv
}

// analyteVerdict: critical beats abnormal beats unknown beats normal; no
// analytes at all is unknown.
func (r *reader) analyteVerdict(obs []*r4.Observation) (Verdict, []string) {
	r.siteTable = false
	if len(obs) == 0 {
		return Unknown, []string{"no results"}
	}
	v := Normal
	ev := make([]string, 0, len(obs))
	for _, o := range obs {
		var av Verdict
		av, ev = r.observationVerdict(o, ev)
		v = worst(v, av)
	}
	return v, ev
}

var rank = map[Verdict]int{Normal: 0, Unknown: 1, Abnormal: 2, Critical: 3}

func worst(a, b Verdict) Verdict {
	if rank[b] > rank[a] {
		return b
	}
	return a
}

func isLab(o *r4.Observation, p *Policy) bool {
	if len(o.Category) == 0 {
		return true
	}
	return p.sets.labCategories.coded(o.Category...)
}

func usableObservation(o *r4.Observation) bool {
	return o.Status != r4.ObservationStatusCancelled && o.Status != r4.ObservationStatusEnteredInError
}

func isDiagnosticProcedure(pr *r4.Procedure, p *Policy) bool {
	return pr.Category != nil && p.sets.diagnosticCategories.coded(*pr.Category)
}

// monitoring: an order this result answers was placed for a chronic
// condition on the policy's list.
func (r *reader) monitoring(basedOn []r4.Reference) bool {
	for _, b := range basedOn {
		if sr := r.ix.request(fhir.Ref(b)); sr != nil && r.forChronicCondition(sr.ReasonReference, sr.ReasonCode) {
			return true
		}
	}
	return false
}

// forChronicCondition: the reason names an active Condition that is on the
// policy's list of chronic conditions, by reference, or by a code the
// patient has such a condition for. A symptom problem ("chest pain") is
// never chronic here, however long it has been active.
func (r *reader) forChronicCondition(refs []r4.Reference, reasonCodes []r4.CodeableConcept) bool {
	chronic := r.p.sets.chronic
	for _, ref := range refs {
		if c := r.ix.condition(fhir.Ref(ref)); c != nil && active(c) && chronic.concept(c.Code) {
			return true
		}
	}
	if !chronic.coded(reasonCodes...) {
		return false
	}
	want := fhir.CodesOf(reasonCodes...)
	for i := range r.ix.conditions {
		if c := &r.ix.conditions[i]; active(c) && c.Code != nil && chronic.coded(*c.Code) && slices.ContainsFunc(fhir.CodesOf(*c.Code), func(x string) bool { return slices.Contains(want, x) }) {
			return true
		}
	}
	return false
}

// active: a Condition still present (active, recurrence, relapse), or one
// with no clinical status and no abatement.
func active(c *r4.Condition) bool {
	if c.ClinicalStatus == nil {
		return c.AbatementDateTime == nil && c.AbatementString == nil && c.AbatementPeriod == nil &&
			c.AbatementAge == nil && c.AbatementRange == nil
	}
	return hasCode(c.ClinicalStatus, "active", "recurrence", "relapse")
}

// systemOf is the body system of a test: the first of its codes (the
// test's own, then its analytes') the policy maps, else the first category
// the policy names, else the category itself.
func (p *Policy) systemOf(testCodes []fhir.Code, analytes []*r4.Observation, categories []r4.CodeableConcept) string {
	for _, c := range testCodes {
		if s, ok := p.BodySystems[c.Code]; ok {
			return s
		}
	}
	for _, o := range analytes {
		for _, c := range o.Code.Coding {
			if s, ok := p.BodySystems[fhir.String(c.Code)]; ok {
				return s
			}
		}
	}
	first := ""
	for _, cc := range categories {
		for _, c := range cc.Coding {
			code := fhir.String(c.Code)
			if s, ok := p.Categories[code]; ok {
				return s
			}
			if first == "" {
				first = code
			}
		}
	}
	if first != "" {
		return first
	}
	return "Other"
}
