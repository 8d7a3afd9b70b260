package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/balint-health/balint/bulk"
	"github.com/balint-health/balint/fhir"
	"github.com/balint-health/balint/fhir/client"
	"github.com/balint-health/balint/metrics"
	"github.com/balint-health/balint/rules"
	"github.com/balint-health/balint/scan"
	"github.com/balint-health/balint/store"
	"github.com/balint-health/balint/terminology"
	"golang.org/x/term"
)

// scanUsage is the subcommand's help.
const scanUsage = `Usage:
  balint scan [--now YYYY-MM-DD] [--shard K/N] [--out DIR] EXPORT_DIR
  balint scan [--now ...] [--shard K/N] [--out DIR] --fhir-base URL [--group ID] [--export-dir DIR]
  balint scan merge --out DIR SHARD_OUT_DIR...

Runs the rule over every patient of a FHIR Bulk Data export: a folder of
NDJSON files, one resource type per file, gzip accepted. Writes into --out
(default scan-out):
  flagged.ndjson, flagged.csv  the patients who meet the rule: reference,
                               counts, age band, sex (no names)
  group.json                   the same patients as a FHIR Group
  decisions.ndjson             every patient's decision, by codes
  unreadable.ndjson            patients with records that could not be read
                               (reported, never counted as "no pattern")
  summary.json                 firings, exclusions and unmet criteria, by age
                               band and sex; lines read and malformed (file:line)

  --shard K/N   evaluate only the patients whose reference hashes to shard K
                of N (0 <= K < N): N workers read the same export, then
                "balint scan merge" joins their --out folders.
  --fhir-base   start $export on this FHIR server (SMART Backend Services
                credentials from BALINT_BACKEND_SERVICES when it has some),
                download into --export-dir, then scan.
The rule is the service's: BALINT_POLICY and BALINT_TIMEZONE apply, and the
value sets are expanded as the service's are (BALINT_TERMINOLOGY_URL, else
those kept in its database, DATABASE_URL or BALINT_SQLITE_PATH when that file
exists, else the shipped ones).
`

// scanCmd runs "balint scan".
func scanCmd(ctx context.Context, args []string, getenv func(string) string, stderr *os.File) error {
	if len(args) > 0 && args[0] == "merge" {
		fs := flag.NewFlagSet("scan merge", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		out := fs.String("out", "scan-out", "folder for the merged result")
		if err := fs.Parse(args[1:]); err != nil {
			return &usageError{err}
		}
		if fs.NArg() == 0 {
			return &usageError{errors.New("scan merge: name the shards' output folders")}
		}
		return scan.Merge(*out, fs.Args())
	}
	fs := flag.NewFlagSet("scan", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var (
		now       = fs.String("now", "", "evaluate as of this day, YYYY-MM-DD (default today)")
		shard     = fs.String("shard", "", "K/N: evaluate only shard K of N")
		out       = fs.String("out", "scan-out", "output folder")
		tmp       = fs.String("tmp", "", "folder for the scan's temporary bucket files (default the system's)")
		base      = fs.String("fhir-base", "", "FHIR server to run $export on")
		group     = fs.String("group", "", "with --fhir-base: export this Group's patients only")
		exportDir = fs.String("export-dir", "export", "with --fhir-base: where the export is downloaded")
		timeout   = fs.Duration("timeout", 12*time.Hour, "with --fhir-base: the longest the export may take")
	)
	if err := fs.Parse(args); err != nil {
		return &usageError{err}
	}
	cfg, _, _, err := configure(nil, getenv)
	if err != nil {
		return err
	}
	policy, _, err := loadPolicy(cfg.PolicyPath)
	if err != nil {
		return err
	}
	if policy, err = scanValueSets(ctx, cfg, policy, stderr); err != nil {
		return err
	}
	o := scan.Options{Policy: policy, Now: time.Now(), Zone: cfg.Zone, Bulk: bulk.Options{TempDir: *tmp}}
	if *now != "" {
		t, err := time.ParseInLocation("2006-01-02", *now, cfg.Zone)
		if err != nil {
			return &usageError{fmt.Errorf("--now: %w", err)}
		}
		o.Now = t.Add(12 * time.Hour)
	}
	if *shard != "" {
		k, n, ok := parseShard(*shard)
		if !ok {
			return &usageError{fmt.Errorf("--shard %q: want K/N with 0 <= K < N", *shard)}
		}
		o.Bulk.Shard, o.Bulk.Shards = k, n
	}
	dir := fs.Arg(0)
	switch {
	case *base != "" && fs.NArg() == 0:
		dir = *exportDir
		ectx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		if err := export(ectx, cfg, *base, *group, dir, stderr); err != nil {
			return err
		}
	case *base == "" && fs.NArg() == 1:
	default:
		return &usageError{errors.New("scan: name one export folder, or --fhir-base")}
	}
	if isTerminal(stderr) {
		o.Bulk.Progress = progressPrinter(stderr, time.Now())
	}
	results, stats, err := scan.Run(ctx, dir, o)
	if o.Bulk.Progress != nil {
		fmt.Fprintln(stderr)
	}
	if err != nil {
		return err
	}
	s, err := scan.Write(*out, results, stats, o.Now)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "balint scan: %d patients, %d meet the rule, %d with unreadable records, %d malformed lines; results in %s\n",
		s.Patients, s.Fired, s.Unreadable, stats.Malformed, *out)

	return nil
}

// scanValueSets compiles the policy with the value set expansions the
// service would use, so the scan and the hooks judge the same codes: the
// terminology server's when one is configured, else those the service
// kept in its database, else the shipped ones.
func scanValueSets(ctx context.Context, cfg Config, p *rules.Policy, stderr io.Writer) (*rules.Policy, error) {
	var cache terminology.Cache = memoryCache{}
	dbURL := cfg.DatabaseURL
	if dbURL == "" {
		if _, err := os.Stat(cfg.SQLitePath); err == nil {
			dbURL = cfg.SQLitePath
		}
	}
	if dbURL != "" {
		st, err := store.Open(ctx, dbURL)
		if err != nil {
			return nil, fmt.Errorf("the service's database, for its value sets: %w", err)
		}
		defer st.Close()
		cache = st
	} else if cfg.TerminologyURL == "" {
		return p, nil
	}
	r := &terminology.Refresher{Cache: cache, Policy: p, Apply: func(np *rules.Policy) { p = np }, Now: time.Now,
		Logger: slog.New(slog.NewTextHandler(stderr, nil))}
	if cfg.TerminologyURL != "" {
		r.Client = &terminology.Client{Base: cfg.TerminologyURL, HTTP: &http.Client{}, Timeout: 10 * time.Second}
	}
	return p, r.Refresh(ctx)
}

// memoryCache keeps expansions for one scan when there is no database.
type memoryCache map[string][]byte

func (m memoryCache) PutExpansion(_ context.Context, url string, body []byte, _ time.Time) error {
	m[url] = body
	return nil
}

func (m memoryCache) Expansions(context.Context) (map[string][]byte, error) { return m, nil }

func parseShard(s string) (k, n int, ok bool) {
	a, b, found := strings.Cut(s, "/")
	k, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	return k, n, found && err1 == nil && err2 == nil && n > 0 && k >= 0 && k < n
}

// export runs $export on base with the service's backend credentials for
// it, if any, into dir.
func export(ctx context.Context, cfg Config, base, group, dir string, stderr io.Writer) error {
	httpClient := &http.Client{Transport: &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: time.Minute,
	}}
	cfg.FHIRAllow = append(cfg.FHIRAllow, base)
	loader, err := wireLoader(cfg, httpClient, metrics.New())
	if err != nil {
		return err
	}
	if err := loader.Guard.Check(base); err != nil {
		return fmt.Errorf("--fhir-base: %w", err)
	}
	e := &bulk.Exporter{HTTP: httpClient, Types: types(), Progress: func(p string) { fmt.Fprintln(stderr, "$export:", p) }}
	if ts := loader.Backend[client.BaseKey(base)]; ts != nil {
		e.Token = ts.Token
	}
	m, err := e.Export(ctx, base, group, dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "balint scan: exported %d files as of %s into %s\n", len(m.Output), m.TransactionTime, dir)
	return nil
}

// types are the resource types the rule reads, asked for by _type.
func types() []string {
	var out []string
	for _, k := range fhir.Kinds {
		out = append(out, k.ResourceType)
	}
	return out
}

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// progressPrinter prints, at most once a second, resources read a second,
// patients done and the time left, on one line of a terminal.
func progressPrinter(w io.Writer, start time.Time) func(bulk.Progress) {
	var mu sync.Mutex
	var last time.Time
	return func(p bulk.Progress) {
		mu.Lock()
		defer mu.Unlock()
		now := time.Now()
		if now.Sub(last) < time.Second {
			return
		}
		last = now
		el := now.Sub(start).Seconds()
		done := float64(p.BytesRead) / float64(max(p.BytesTotal, 1)) / 2
		if p.Phase == "evaluate" {
			done = 0.5 + float64(p.Buckets)/float64(max(p.Total, 1))/2
		}
		eta := "?"
		if done > 0.01 {
			eta = (time.Duration(el/done*(1-done)) * time.Second).Round(time.Second).String()
		}
		fmt.Fprintf(w, "\r%s: %.0f resources/s, %d patients done, %.0f%%, about %s left   ", p.Phase, float64(p.Lines)/el, p.Patients, done*100, eta)
	}
}
