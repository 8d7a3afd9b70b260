package synth

import (
	"bufio"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"
)

// ExportOptions describe a generated practice list.
type ExportOptions struct {
	Patients int
	Seed     int64
	Now      time.Time
	// Observations pads each history to at least this many Observations
	// (Options.Observations), for exports of a given size.
	Observations int
}

// Practice generates the histories of a practice list, seeded: about
// two in five have the pattern, and of those two in five also have one
// of the exclusions; the rest are controls.
func Practice(o ExportOptions) []*Record {
	rng := rand.New(rand.NewPCG(uint64(o.Seed), 0x51f15eed))
	out := make([]*Record, 0, o.Patients)
	for i := range o.Patients {
		po := Options{Seed: o.Seed*1_000_003 + int64(i), Now: o.Now, Observations: o.Observations, PadDays: 700}
		if rng.IntN(5) < 2 {
			po.Pattern = true
			if rng.IntN(5) < 2 {
				po.Exclusions = []Exclusion{AllExclusions[rng.IntN(len(AllExclusions))]}
			}
		}
		out = append(out, Generate(po))
	}
	return out
}

// WriteExport writes records as a FHIR Bulk Data export: one NDJSON file a
// resource type (Patient.ndjson, Observation.ndjson, ...), one resource a
// line, as $export writes them.
func WriteExport(dir string, records []*Record) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	type file struct {
		f *os.File
		w *bufio.Writer
	}
	files := map[string]*file{}
	var created error
write:
	for _, rec := range records {
		for _, res := range rec.Resources {
			fl := files[res.Type]
			if fl == nil {
				f, err := os.Create(filepath.Join(dir, res.Type+".ndjson"))
				if err != nil {
					created = err
					break write
				}
				fl = &file{f, bufio.NewWriterSize(f, 1<<20)}
				files[res.Type] = fl
			}
			fl.w.Write(res.JSON)
			fl.w.WriteByte('\n')
		}
	}
	// Every file opened is closed, also when another could not be made.
	errs := []error{created}
	for _, fl := range files {
		errs = append(errs, fl.w.Flush(), fl.f.Close())
	}
	return errors.Join(errs...)
}
