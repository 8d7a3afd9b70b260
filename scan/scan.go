package scan

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/balint-health/balint/bulk"
	"github.com/balint-health/balint/fhir"
	"github.com/balint-health/balint/metrics"
	"github.com/balint-health/balint/rules"
)

// Options are what a scan evaluates with.
type Options struct {
	Policy *rules.Policy
	Now    time.Time
	// Zone is the site's time zone (BALINT_TIMEZONE); nil is UTC.
	Zone *time.Location
	Bulk bulk.Options
}

// Result is one patient's decision, by codes and counts: no names, no
// dates, no values.
type Result struct {
	Patient string `json:"patient"` // Patient/<id>
	Fired   bool   `json:"fired"`
	// Unreadable: some of the patient's record could not be read, so the
	// patient is reported as such, never as "no pattern".
	Unreadable bool     `json:"unreadable,omitempty"`
	Unread     []string `json:"unread,omitempty"` // why, by place or type
	// Met are the criteria met: for a flagged patient, the reasons.
	Met             []string `json:"met,omitempty"`
	Exclusions      []string `json:"exclusions,omitempty"`
	Unmet           []string `json:"unmet,omitempty"`
	AgeBand         string   `json:"ageBand"`
	Sex             string   `json:"sex"`
	Investigations  int      `json:"investigations"`
	Normal          int      `json:"normal"`
	BodySystems     int      `json:"bodySystems"`
	Specialties     int      `json:"specialties"`
	PrimaryCare     int      `json:"primaryCare"`
	PersistenceDays int      `json:"persistenceDays"`
}

// Run evaluates every patient of the export in dir (of the shard the
// options name) and returns their results in order of patient, with what
// the reading found.
func Run(ctx context.Context, dir string, o Options) ([]Result, bulk.Stats, error) {
	var (
		mu      sync.Mutex
		results []Result
		wg      sync.WaitGroup
	)
	work := make(chan *bulk.Patient, 2*runtime.GOMAXPROCS(0))
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for pt := range work {
				r := Evaluate(pt, o)
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
			}
		})
	}
	stats, err := bulk.Group(ctx, dir, o.Bulk, func(pt *bulk.Patient) error {
		select {
		case work <- pt:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	close(work)
	wg.Wait()
	slices.SortFunc(results, func(a, b Result) int { return strings.Compare(a.Patient, b.Patient) })
	if err == nil && stats.Unattributed > 0 {
		err = fmt.Errorf("%w: %d, the first at %s (%s)", ErrUnattributed, stats.Unattributed, stats.UnattributedAt[0].At, stats.UnattributedAt[0].Reason)
	}
	return results, stats, err
}

// ErrUnattributed refuses a scan in which resources the rule reads name
// no patient: whichever patient they belong to would be judged without
// them (a Condition of cancer, an open referral), so no list is written.
var ErrUnattributed = errors.New("resources that name no patient: the list would judge their patients without them; fix the export")

// Evaluate runs the rule on one patient of an export, as the patient-view
// hook would on the same resources sent as prefetch.
func Evaluate(pt *bulk.Patient, o Options) Result {
	r := Result{Patient: "Patient/" + pt.ID, AgeBand: "unknown", Sex: "unknown"}
	h := fhir.NewHistory()
	if _, err := h.AddJSON("export", fhir.FromExport, fhir.Collection(pt.Resources)); err != nil {
		r.Unreadable, r.Unread = true, []string{"the patient's resources could not be read together"}
		return r
	}
	// What the decoder skipped, before the unreadable lines join it.
	decoded := h.Skipped
	for _, m := range pt.Unreadable {
		// The rule treats an entry it could not read as one that could
		// have carried an exclusion (unreadable_record).
		h.Skipped = append(h.Skipped, fhir.Skipped{Key: "export", ResourceType: "", Reason: m.Reason})
		r.Unread = append(r.Unread, m.At+": "+m.Reason)
	}
	if h.Patient == nil || h.Patient.Id == nil || *h.Patient.Id != pt.ID {
		r.Unreadable = true
		r.Unread = append(r.Unread, "no readable Patient resource for this id in the export")
		return r
	}
	if h.Patient.Gender != nil {
		r.Sex = h.Patient.Gender.Code()
	}
	d := rules.Evaluate(o.Policy, rules.Input{History: h, Now: o.Now, Zone: o.Zone})
	for _, s := range decoded {
		if s.Reason != fhir.ReasonUnusedType {
			r.Unread = append(r.Unread, fhir.KnownType(s.ResourceType)+": "+s.Reason)
		}
	}
	r.Unreadable = len(d.Unread) > 0 || len(pt.Unreadable) > 0
	f := d.Features
	r.Fired, r.Met, r.Exclusions, r.Unmet = d.Fire, d.Met(), d.Exclusions(), d.Unmet()
	r.AgeBand = metrics.AgeBand(f.Age)
	r.Investigations, r.Normal, r.BodySystems = f.Total, f.NormalCounted, f.Systems
	r.Specialties, r.PrimaryCare, r.PersistenceDays = f.Specialties, f.PrimaryCare, f.PersistenceDays
	return r
}
