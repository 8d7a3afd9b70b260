package scan

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/balint-health/balint/bulk"
)

// The files a scan writes into its output folder.
const (
	DecisionsFile  = "decisions.ndjson" // every patient
	FlaggedFile    = "flagged.ndjson"   // the patients who meet the rule
	FlaggedCSV     = "flagged.csv"
	GroupFile      = "group.json" // the same patients as a FHIR Group
	UnreadableFile = "unreadable.ndjson"
	SummaryFile    = "summary.json"
)

// Summary counts a scan's decisions, overall and by age band and sex.
type Summary struct {
	Now        string `json:"now"`
	Patients   int    `json:"patients"`
	Fired      int    `json:"fired"`
	Unreadable int    `json:"unreadable"`
	// Exclusions and Unmet count the patients each code applied to.
	Exclusions map[string]int `json:"exclusions"`
	Unmet      map[string]int `json:"unmet"`
	// ByAgeSex is the same, by age band then sex, for bias audits.
	ByAgeSex map[string]map[string]*Counts `json:"byAgeSex"`
	Read     bulk.Stats                    `json:"read"`
}

// Counts are the decisions of one group of patients.
type Counts struct {
	Patients   int            `json:"patients"`
	Fired      int            `json:"fired"`
	Unreadable int            `json:"unreadable"`
	Exclusions map[string]int `json:"exclusions,omitempty"`
	Unmet      map[string]int `json:"unmet,omitempty"`
}

func (c *Counts) add(r Result) {
	c.Patients++
	if r.Fired {
		c.Fired++
	}
	if r.Unreadable {
		c.Unreadable++
	}
	for _, e := range r.Exclusions {
		if c.Exclusions == nil {
			c.Exclusions = map[string]int{}
		}
		c.Exclusions[e]++
	}
	for _, u := range r.Unmet {
		if c.Unmet == nil {
			c.Unmet = map[string]int{}
		}
		c.Unmet[u]++
	}
}

// Summarize counts results.
func Summarize(results []Result, stats bulk.Stats, now time.Time) Summary {
	var all Counts
	s := Summary{Now: now.UTC().Format(time.RFC3339), ByAgeSex: map[string]map[string]*Counts{}, Read: stats}
	for _, r := range results {
		all.add(r)
		if s.ByAgeSex[r.AgeBand] == nil {
			s.ByAgeSex[r.AgeBand] = map[string]*Counts{}
		}
		c := s.ByAgeSex[r.AgeBand][r.Sex]
		if c == nil {
			c = &Counts{}
			s.ByAgeSex[r.AgeBand][r.Sex] = c
		}
		c.add(r)
	}
	s.Patients, s.Fired, s.Unreadable = all.Patients, all.Fired, all.Unreadable
	s.Exclusions, s.Unmet = orEmpty(all.Exclusions), orEmpty(all.Unmet)
	return s
}

func orEmpty(m map[string]int) map[string]int {
	if m == nil {
		return map[string]int{}
	}
	return m
}

// Write writes a scan's results (in order of patient) into dir, and
// returns the summary it wrote.
func Write(dir string, results []Result, stats bulk.Stats, now time.Time) (Summary, error) {
	s := Summarize(results, stats, now)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return s, err
	}
	var flagged, unreadable []Result
	for _, r := range results {
		if r.Fired {
			flagged = append(flagged, r)
		}
		if r.Unreadable {
			unreadable = append(unreadable, r)
		}
	}
	return s, errors.Join(
		writeNDJSON(filepath.Join(dir, DecisionsFile), results),
		writeNDJSON(filepath.Join(dir, FlaggedFile), flagged),
		writeNDJSON(filepath.Join(dir, UnreadableFile), unreadable),
		writeCSV(filepath.Join(dir, FlaggedCSV), flagged),
		writeJSON(filepath.Join(dir, GroupFile), group(flagged, now)),
		writeJSON(filepath.Join(dir, SummaryFile), s),
	)
}

func writeNDJSON(path string, rs []Result) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for _, r := range rs {
		if err := enc.Encode(r); err != nil {
			f.Close()
			return err
		}
	}
	return errors.Join(w.Flush(), f.Close())
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func writeCSV(path string, rs []Result) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	w.Write([]string{"patient", "investigations", "normal", "body_systems", "specialties", "primary_care", "persistence_days", "criteria_met", "age_band", "sex"})
	for _, r := range rs {
		w.Write([]string{r.Patient, strconv.Itoa(r.Investigations), strconv.Itoa(r.Normal), strconv.Itoa(r.BodySystems),
			strconv.Itoa(r.Specialties), strconv.Itoa(r.PrimaryCare), strconv.Itoa(r.PersistenceDays), strings.Join(r.Met, " "), r.AgeBand, r.Sex})
	}
	w.Flush()
	return errors.Join(w.Error(), f.Close())
}

// group is the flagged patients as a FHIR R4 Group ready for a worklist:
// type person, actual, one member each.
func group(flagged []Result, now time.Time) map[string]any {
	members := make([]map[string]any, 0, len(flagged))
	for _, r := range flagged {
		members = append(members, map[string]any{"entity": map[string]string{"reference": r.Patient}})
	}
	return map[string]any{
		"resourceType": "Group",
		"type":         "person",
		"actual":       true,
		"name":         "Balint: repeated normal investigations, " + now.UTC().Format("2006-01-02"),
		"quantity":     len(flagged),
		"member":       members,
	}
}

// Merge joins the outputs of the shards of one export (each folder as
// Write left it) into dir: the same files one unsharded run writes.
func Merge(dir string, shards []string) error {
	var results []Result
	var stats bulk.Stats
	stats.Lines = map[string]int64{}
	var now time.Time
	for i, sd := range shards {
		rs, err := readNDJSON(filepath.Join(sd, DecisionsFile))
		if err != nil {
			return err
		}
		results = append(results, rs...)
		b, err := os.ReadFile(filepath.Join(sd, SummaryFile))
		if err != nil {
			return err
		}
		var s Summary
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("%s: %w", filepath.Join(sd, SummaryFile), err)
		}
		t, err := time.Parse(time.RFC3339, s.Now)
		if err != nil {
			return fmt.Errorf("%s: now: %w", sd, err)
		}
		if i > 0 && !t.Equal(now) {
			return fmt.Errorf("%s was scanned as of %s, %s as of %s: shards of one scan share --now", sd, s.Now, shards[0], now.Format(time.RFC3339))
		}
		now = t
		for typ, n := range s.Read.Lines {
			stats.Lines[typ] += n
		}
		stats.Malformed += s.Read.Malformed
		stats.MalformedAt = append(stats.MalformedAt, s.Read.MalformedAt...)
		stats.Unattributed += s.Read.Unattributed
		stats.UnattributedAt = append(stats.UnattributedAt, s.Read.UnattributedAt...)
		stats.IgnoredFiles = append(stats.IgnoredFiles, s.Read.IgnoredFiles...)
	}
	stats.MalformedAt = bulk.FirstMalformed(stats.MalformedAt)
	stats.UnattributedAt = bulk.FirstMalformed(stats.UnattributedAt)
	slices.Sort(stats.IgnoredFiles)
	stats.IgnoredFiles = slices.Compact(stats.IgnoredFiles)
	slices.SortFunc(results, func(a, b Result) int { return strings.Compare(a.Patient, b.Patient) })
	for i := 1; i < len(results); i++ {
		if results[i].Patient == results[i-1].Patient {
			return fmt.Errorf("%s is in two shards: merge the shards of one scan, each once", results[i].Patient)
		}
	}
	_, err := Write(dir, results, stats, now)
	return err
}

func readNDJSON(path string) ([]Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Result
	dec := json.NewDecoder(bufio.NewReader(f))
	for dec.More() {
		var r Result
		if err := dec.Decode(&r); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, r)
	}
	return out, nil
}
