package bulk

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/go-json-experiment/json/jsontext"
	"golang.org/x/sync/errgroup"

	"github.com/balint-health/balint/fhir"
)

// Options say which part of an export to read and how.
type Options struct {
	// Shard and Shards select the patients whose reference hashes to
	// shard Shard of Shards; Shards 0 or 1 reads every patient.
	Shard, Shards int
	// TempDir holds the bucket files (default os.TempDir()); they are
	// removed as they are read.
	TempDir string
	// BucketBytes is the most of the export one bucket should hold, and
	// so about the most Group holds in memory at once (default 64 MiB).
	BucketBytes int64
	// Progress, if set, is told how far the reading has come.
	Progress func(Progress)
}

// Progress is how far a Group has come.
type Progress struct {
	// Phase is "partition" (reading the export) or "evaluate".
	Phase          string
	BytesRead      int64
	BytesTotal     int64
	Lines          int64
	Patients       int64
	Buckets, Total int
}

// Malformed is a line that could not be read, by place, never content.
type Malformed struct {
	At     string `json:"at"` // file:line
	Reason string `json:"reason"`
}

// Stats are what the reading found, for the summary.
type Stats struct {
	// Lines are the resources kept for this shard, by type.
	Lines map[string]int64 `json:"lines"`
	// Malformed counts the lines that could not be read; MalformedAt lists
	// the first of them (a patient's own are also on that patient).
	Malformed   int64       `json:"malformed"`
	MalformedAt []Malformed `json:"malformedAt,omitempty"`
	// Unattributed counts resources of a type the rule reads that name no
	// patient (a Patient without id, a subject that is not Patient/id);
	// UnattributedAt lists the first of them.
	Unattributed   int64       `json:"unattributed"`
	UnattributedAt []Malformed `json:"unattributedAt,omitempty"`
	// IgnoredFiles are files of a type the rule does not read.
	IgnoredFiles []string `json:"ignoredFiles,omitempty"`
}

// maxListed is how many malformed lines the stats list by place.
const maxListed = 100

// FirstMalformed is the first of ms by place, as many as a summary lists:
// the same whichever order the files were read in, and whichever shards
// they were read by.
func FirstMalformed(ms []Malformed) []Malformed {
	ms = slices.Clone(ms)
	slices.SortFunc(ms, func(a, b Malformed) int { return strings.Compare(a.At, b.At) })
	ms = slices.CompactFunc(ms, func(a, b Malformed) bool { return a.At == b.At })
	return ms[:min(len(ms), maxListed)]
}

// listed adds m to a list of places that keeps only the first of them
// (FirstMalformed) once it holds twice as many.
func listed(ms []Malformed, m Malformed) []Malformed {
	if ms = append(ms, m); len(ms) > 2*maxListed {
		return FirstMalformed(ms)
	}
	return ms
}

// Patient is one patient's part of the export.
type Patient struct {
	ID string
	// Resources are the patient's lines, and the PractitionerRoles they
	// refer to, as read.
	Resources []json.RawMessage
	// Unreadable are the patient's lines that could not be read.
	Unreadable []Malformed
}

// Owns says whether a shard of shards evaluates the patient with this id.
func Owns(id string, shard, shards int) bool {
	return shards <= 1 || int(hashOf(id)%uint64(shards)) == shard
}

func hashOf(id string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(id))
	return h.Sum64()
}

// Group reads the export in dir and calls fn for each patient of the
// shard, one at a time, in order of patient id within each bucket.
//
// Memory: a first pass writes each line to one of B bucket files by a hash
// of its patient, with B chosen so a bucket holds about BucketBytes; the
// second pass reads one bucket at a time. What is held at once is one
// bucket and its index (BucketBytes, plus a few words a line), the
// patient fn is given, and the export's PractitionerRoles (one per
// clinician role, read in full because any patient may refer to them).
func Group(ctx context.Context, dir string, o Options, fn func(*Patient) error) (Stats, error) {
	if o.BucketBytes <= 0 {
		o.BucketBytes = 64 << 20
	}
	files, total, err := exportFiles(dir)
	if err != nil {
		return Stats{}, err
	}
	buckets := int(min(max(total/o.BucketBytes+1, 1), 4096))
	tmp, err := os.MkdirTemp(o.TempDir, "balint-scan-")
	if err != nil {
		return Stats{}, err
	}
	defer os.RemoveAll(tmp)
	p := &partition{o: o, dir: tmp, total: total, roles: map[string][]byte{}, stats: Stats{Lines: map[string]int64{}}}
	if err := p.open(buckets); err != nil {
		return Stats{}, err
	}
	// Files are read side by side, and their lines filed by a pool of
	// workers: an export is mostly one large Observation file.
	g, gctx := errgroup.WithContext(ctx)
	batches := make(chan batch, 2*runtime.GOMAXPROCS(0))
	for range runtime.GOMAXPROCS(0) {
		g.Go(func() error {
			for b := range batches {
				for i, line := range b.lines {
					if err := p.line(b.file, b.nums[i], line); err != nil {
						return err
					}
				}
			}
			return nil
		})
	}
	readers, rctx := errgroup.WithContext(gctx)
	readers.SetLimit(runtime.GOMAXPROCS(0))
	for _, f := range files {
		readers.Go(func() error { return p.readFile(rctx, f, batches) })
	}
	err = readers.Wait()
	close(batches)
	if werr := g.Wait(); err == nil {
		err = werr
	}
	if cerr := p.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return p.stats, err
	}
	p.stats.MalformedAt = FirstMalformed(p.stats.MalformedAt)
	p.stats.UnattributedAt = FirstMalformed(p.stats.UnattributedAt)
	slices.Sort(p.stats.IgnoredFiles)
	for i := range buckets {
		if err := ctx.Err(); err != nil {
			return p.stats, err
		}
		if err := p.evaluate(i, fn); err != nil {
			return p.stats, err
		}
		if o.Progress != nil {
			o.Progress(Progress{Phase: "evaluate", BytesRead: p.read.Load(), BytesTotal: total, Lines: p.lines.Load(),
				Patients: p.patients, Buckets: i + 1, Total: buckets})
		}
	}
	return p.stats, nil
}

// exportFiles are the NDJSON files of an export and their total size.
func exportFiles(dir string) ([]string, int64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, 0, err
	}
	var files []string
	var total int64
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !(strings.HasSuffix(name, ".ndjson") || strings.HasSuffix(name, ".ndjson.gz")) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return nil, 0, err
		}
		files = append(files, filepath.Join(dir, name))
		total += info.Size()
	}
	if len(files) == 0 {
		return nil, 0, fmt.Errorf("%s: no .ndjson or .ndjson.gz files", dir)
	}
	return files, total, nil
}

type partition struct {
	o       Options
	dir     string
	total   int64
	read    atomic.Int64
	lines   atomic.Int64
	buckets []*bucket

	mu       sync.Mutex // guards roles, stats, patients
	roles    map[string][]byte
	stats    Stats
	patients int64
}

type bucket struct {
	mu   sync.Mutex
	f    *os.File
	w    *bufio.Writer
	path string
}

func (p *partition) open(n int) error {
	for i := range n {
		path := filepath.Join(p.dir, fmt.Sprintf("%04d", i))
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		p.buckets = append(p.buckets, &bucket{f: f, w: bufio.NewWriterSize(f, 64<<10), path: path})
	}
	return nil
}

func (p *partition) close() error {
	var errs []error
	for _, b := range p.buckets {
		errs = append(errs, b.w.Flush(), b.f.Close())
	}
	return errors.Join(errs...)
}

// put writes one line to its patient's bucket: the patient id, a tab,
// 'r' and the resource, or 'x' and where an unreadable line is.
func (p *partition) put(id string, kind byte, line []byte) error {
	b := p.buckets[(hashOf(id)/uint64(max(p.o.Shards, 1)))%uint64(len(p.buckets))]
	b.mu.Lock()
	defer b.mu.Unlock()
	b.w.WriteString(id)
	b.w.WriteByte('\t')
	b.w.WriteByte(kind)
	b.w.Write(line)
	return b.w.WriteByte('\n')
}

// maxLine is the longest line read; a longer one is malformed.
const maxLine = 64 << 20

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n.Add(int64(n))
	return n, err
}

// batch is lines of one file, with their numbers (blank lines are not
// sent, so numbers need not follow one another).
type batch struct {
	file  string
	nums  []int
	lines [][]byte
}

// batchBytes is about how much of a file one batch carries.
const batchBytes = 1 << 20

// readFile reads a file's lines into batches for the workers, unless its
// first line says it holds a type the rule does not read.
func (p *partition) readFile(ctx context.Context, path string, out chan<- batch) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = countingReader{f, &p.read}
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return fmt.Errorf("%s: %w", filepath.Base(path), err)
		}
		defer zr.Close()
		r = zr
	}
	name := filepath.Base(path)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), maxLine)
	b := batch{file: name}
	var buf []byte
	send := func() error {
		if len(b.lines) > 0 {
			select {
			case out <- b:
			case <-ctx.Done():
				return ctx.Err()
			}
			if p.o.Progress != nil {
				p.o.Progress(Progress{Phase: "partition", BytesRead: p.read.Load(), BytesTotal: p.total, Lines: p.lines.Load()})
			}
		}
		b, buf = batch{file: name}, make([]byte, 0, batchBytes)
		return nil
	}
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		p.lines.Add(1)
		if n == 1 && !readsType(line) {
			// One type a file: a file that starts with a type the rule
			// does not read is not read further.
			p.mu.Lock()
			p.stats.IgnoredFiles = append(p.stats.IgnoredFiles, name)
			p.mu.Unlock()
			return nil
		}
		if len(buf)+len(line) > cap(buf) && len(b.lines) > 0 {
			if err := send(); err != nil {
				return err
			}
		}
		start := len(buf)
		buf = append(buf, line...)
		b.lines = append(b.lines, buf[start:len(buf):len(buf)])
		b.nums = append(b.nums, n)
	}
	if err := send(); err != nil {
		return err
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			p.malformed("", name+": after the last line read", "line longer than 64 MiB; the rest of the file is not read")
			return nil
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// head is what the first pass reads of a line: its type, id and the
// patient it names, read token by token, every other member skipped
// unread (the second pass decodes the line in full).
type head struct {
	ResourceType, ID, Ref string
}

var errNotResource = errors.New("not a JSON object")

func readHead(line []byte) (head, error) {
	var h head
	dec := jsontext.NewDecoder(bytes.NewReader(line), jsontext.AllowDuplicateNames(true))
	err := eachMember(dec, func(name string) error {
		switch name {
		case "resourceType", "id":
			v, err := dec.ReadToken()
			if err != nil {
				return err
			}
			if name == "id" {
				h.ID = v.String()
			} else {
				h.ResourceType = v.String()
			}
			return nil
		case "subject", "patient":
			if dec.PeekKind() != '{' {
				return dec.SkipValue()
			}
			var ref string
			err := eachMember(dec, func(name string) error {
				if name != "reference" {
					return dec.SkipValue()
				}
				v, err := dec.ReadToken()
				if err == nil {
					ref = v.String()
				}
				return err
			})
			if h.Ref == "" || name == "subject" {
				h.Ref = ref
			}
			return err
		}
		return dec.SkipValue()
	})
	return h, err
}

// eachMember reads a JSON object, handing each member's name to f, which
// reads or skips its value.
func eachMember(dec *jsontext.Decoder, f func(name string) error) error {
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return errNotResource
	}
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return err
		}
		// A token is valid only until the next read.
		if err := f(tok.String()); err != nil {
			return err
		}
	}
	_, err := dec.ReadToken()
	return err
}

// patientRef finds a Patient reference in a line that is not JSON, so
// that the patient is told of it rather than judged without it.
var patientRef = regexp.MustCompile(`"reference"\s*:\s*"(?:[^"]*/)?Patient/([A-Za-z0-9\-.]{1,64})"`)

// line files line n of file.
func (p *partition) line(file string, n int, line []byte) error {
	h, err := readHead(line)
	if err != nil || h.ResourceType == "" {
		id := ""
		if m := patientRef.FindSubmatch(line); m != nil {
			id = string(m[1])
		}
		return p.malformed(id, fmt.Sprintf("%s:%d", file, n), "not a FHIR resource")
	}
	if !fhir.Reads(h.ResourceType) {
		return nil
	}
	switch h.ResourceType {
	case "PractitionerRole":
		p.mu.Lock()
		p.roles[h.ID] = bytes.Clone(line)
		if p.o.Shard == 0 {
			// Every shard holds them all; one counts them.
			p.stats.Lines[h.ResourceType]++
		}
		p.mu.Unlock()
		return nil
	case "Patient":
		return p.keep(file, n, h.ID, h.ResourceType, line)
	}
	id, _ := patientID(h.Ref)
	return p.keep(file, n, id, h.ResourceType, line)
}

// readsType says whether a line is of a type the rule reads, or may be
// (a line that cannot be read is left to line to report).
func readsType(line []byte) bool {
	h, err := readHead(line)
	return err != nil || h.ResourceType == "" || fhir.Reads(h.ResourceType)
}

func (p *partition) keep(file string, n int, id, typ string, line []byte) error {
	if id == "" {
		// Shard 0 tells of it; every shard reads it.
		if p.o.Shard == 0 {
			p.mu.Lock()
			p.stats.Unattributed++
			p.stats.UnattributedAt = listed(p.stats.UnattributedAt, Malformed{At: fmt.Sprintf("%s:%d", file, n), Reason: typ + " names no Patient/id"})
			p.mu.Unlock()
		}
		return nil
	}
	if !Owns(id, p.o.Shard, p.o.Shards) {
		return nil
	}
	p.mu.Lock()
	p.stats.Lines[typ]++
	p.mu.Unlock()
	return p.put(id, 'r', line)
}

// malformed counts an unreadable line, with the shard that owns its
// patient (or shard 0 when it names none), and tells its patient.
func (p *partition) malformed(id, at, reason string) error {
	if id != "" && !Owns(id, p.o.Shard, p.o.Shards) || id == "" && p.o.Shard != 0 {
		return nil
	}
	m := Malformed{At: at, Reason: reason}
	p.mu.Lock()
	p.stats.Malformed++
	p.stats.MalformedAt = listed(p.stats.MalformedAt, m)
	p.mu.Unlock()
	if id == "" {
		return nil
	}
	b, _ := json.Marshal(m)
	return p.put(id, 'x', b)
}

// patientID is the id in a reference to a Patient: relative, absolute or
// versioned.
func patientID(ref string) (string, bool) {
	typ, id, ok := strings.Cut(fhir.LocalRef(ref), "/")
	if !ok || typ != "Patient" || id == "" || strings.ContainsAny(id, "?#") {
		return "", false
	}
	return id, true
}

// roleRef finds the PractitionerRoles a line refers to.
var roleRef = regexp.MustCompile(`"reference"\s*:\s*"(?:[^"]*/)?PractitionerRole/([A-Za-z0-9\-.]{1,64})"`)

// evaluate reads bucket i, groups its lines by patient and hands each
// patient to fn, in order of id.
func (p *partition) evaluate(i int, fn func(*Patient) error) error {
	path := p.buckets[i].path
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	os.Remove(path)
	// Each line is "id\tKbody": its patient, then 'r' and a resource or 'x'
	// and an unreadable line's place. Records are kept as offsets, which
	// the collector need not scan.
	type span struct{ from, to int }
	byID := map[string][]span{}
	for off := 0; off < len(data); {
		end := bytes.IndexByte(data[off:], '\n')
		if end < 0 {
			end = len(data) - off
		}
		line := data[off : off+end]
		if tab := bytes.IndexByte(line, '\t'); tab > 0 && tab+1 < len(line) {
			byID[string(line[:tab])] = append(byID[string(line[:tab])], span{off + tab + 1, off + end})
		}
		off += end + 1
	}
	ids := slices.Sorted(maps.Keys(byID))
	for _, id := range ids {
		pt := &Patient{ID: id}
		seenRole := map[string]bool{}
		for _, sp := range byID[id] {
			rec := data[sp.from:sp.to]
			kind, body := rec[0], rec[1:]
			if kind == 'x' {
				var m Malformed
				json.Unmarshal(body, &m)
				pt.Unreadable = append(pt.Unreadable, m)
				continue
			}
			pt.Resources = append(pt.Resources, body)
			if len(p.roles) == 0 || !bytes.Contains(body, []byte("PractitionerRole/")) {
				continue
			}
			for _, m := range roleRef.FindAllSubmatch(body, -1) {
				rid := string(m[1])
				if role, ok := p.roles[rid]; ok && !seenRole[rid] {
					seenRole[rid] = true
					pt.Resources = append(pt.Resources, role)
				}
			}
		}
		p.patients++
		if err := fn(pt); err != nil {
			return err
		}
	}
	return nil
}
