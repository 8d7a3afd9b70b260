package bulk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Exporter runs a FHIR Bulk Data $export (the Bulk Data Access IG): the
// kick-off, status polling as the server paces it (Retry-After), the
// manifest, and the downloads, with the access token where the manifest
// requires one.
type Exporter struct {
	HTTP *http.Client
	// Token, if set, gives the access token (SMART Backend Services).
	Token func(ctx context.Context) (string, error)
	// Types are the resource types asked for (_type).
	Types []string
	// Wait is how long to wait between polls when the server does not
	// say (default 2 s).
	Wait time.Duration
	// Progress, if set, is told what the server says of its progress.
	Progress func(string)
}

// Manifest is the completed export's manifest.
type Manifest struct {
	TransactionTime     string `json:"transactionTime"`
	Request             string `json:"request"`
	RequiresAccessToken bool   `json:"requiresAccessToken"`
	Output              []File `json:"output"`
	Error               []File `json:"error"`
}

// File is one file of a manifest.
type File struct {
	Type  string `json:"type"`
	URL   string `json:"url"`
	Count int    `json:"count,omitempty"`
}

// ErrExportErrors refuses an export whose server reported errors: some
// patients' records would be incomplete, and an incomplete record must
// never be judged as "no pattern" or as a pattern.
var ErrExportErrors = errors.New("the server reported errors in the export")

// Export exports the server's patients (or one Group's, when group is
// set) into dir and returns the manifest.
func (e *Exporter) Export(ctx context.Context, base, group, dir string) (*Manifest, error) {
	base = strings.TrimSuffix(base, "/")
	kick := base + "/Patient/$export"
	if group != "" {
		kick = base + "/Group/" + url.PathEscape(group) + "/$export"
	}
	q := url.Values{"_outputFormat": {"application/fhir+ndjson"}}
	if len(e.Types) > 0 {
		q.Set("_type", strings.Join(e.Types, ","))
	}
	resp, err := e.do(ctx, http.MethodGet, kick+"?"+q.Encode(), true, map[string]string{"Accept": "application/fhir+json", "Prefer": "respond-async"})
	if err != nil {
		return nil, fmt.Errorf("$export kick-off: %w", err)
	}
	status := resp.Header.Get("Content-Location")
	if resp.StatusCode != http.StatusAccepted || status == "" {
		why := outcome(resp)
		resp.Body.Close()
		return nil, fmt.Errorf("$export kick-off: HTTP %d%s, want 202 with Content-Location", resp.StatusCode, why)
	}
	resp.Body.Close()
	if status, err = resolve(kick, status); err != nil {
		return nil, fmt.Errorf("$export kick-off: Content-Location: %w", err)
	}
	m, err := e.poll(ctx, status)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	for i, f := range m.Output {
		name := fmt.Sprintf("%s.%d.ndjson", f.Type, i)
		if err := e.download(ctx, base, f.URL, m.RequiresAccessToken, filepath.Join(dir, name)); err != nil {
			return nil, fmt.Errorf("$export output %s: %w", name, err)
		}
	}
	for i, f := range m.Error {
		// Kept beside the export for whoever looks into it; not .ndjson,
		// so the scan does not read them as resources.
		name := fmt.Sprintf("error.%d.ndjson.txt", i)
		if err := e.download(ctx, base, f.URL, m.RequiresAccessToken, filepath.Join(dir, name)); err != nil {
			return nil, fmt.Errorf("$export error file: %w", err)
		}
	}
	// The server may now delete the files (the IG's DELETE on the status
	// URL); a server that does not is no reason to fail.
	if resp, err := e.do(ctx, http.MethodDelete, status, true, nil); err == nil {
		resp.Body.Close()
	}
	if len(m.Error) > 0 {
		return m, fmt.Errorf("%w: %d error files (kept in %s as error.*.ndjson.txt)", ErrExportErrors, len(m.Error), dir)
	}
	return m, nil
}

// poll asks the status URL until the export is complete, waiting as long
// as the server's Retry-After says.
func (e *Exporter) poll(ctx context.Context, status string) (*Manifest, error) {
	wait := e.Wait
	if wait <= 0 {
		wait = 2 * time.Second
	}
	for {
		resp, err := e.do(ctx, http.MethodGet, status, true, map[string]string{"Accept": "application/json"})
		if err != nil {
			return nil, fmt.Errorf("$export status: %w", err)
		}
		switch resp.StatusCode {
		case http.StatusOK:
			var m Manifest
			err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&m)
			resp.Body.Close()
			if err != nil {
				return nil, fmt.Errorf("$export manifest: %w", err)
			}
			return &m, nil
		case http.StatusAccepted, http.StatusTooManyRequests:
			if e.Progress != nil && resp.Header.Get("X-Progress") != "" {
				e.Progress(resp.Header.Get("X-Progress"))
			}
			d := retryAfter(resp.Header.Get("Retry-After"), wait)
			resp.Body.Close()
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(d):
			}
		default:
			why := outcome(resp)
			resp.Body.Close()
			return nil, fmt.Errorf("$export status: HTTP %d%s", resp.StatusCode, why)
		}
	}
}

func (e *Exporter) download(ctx context.Context, base, u string, token bool, path string) error {
	if token && !sameOrigin(base, u) && !strings.HasPrefix(u, "https://") {
		return fmt.Errorf("%s: the token is sent only over https or to the FHIR server itself", u)
	}
	resp, err := e.do(ctx, http.MethodGet, u, token, map[string]string{"Accept": "application/fhir+ndjson"})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d%s", resp.StatusCode, outcome(resp))
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (e *Exporter) do(ctx context.Context, method, u string, withToken bool, header map[string]string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if withToken && e.Token != nil {
		tok, err := e.Token(ctx)
		if err != nil {
			return nil, fmt.Errorf("access token: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	c := e.HTTP
	if c == nil {
		c = http.DefaultClient
	}
	return c.Do(req)
}

// outcome is the first issue's diagnostics of an OperationOutcome body,
// for an error message.
func outcome(resp *http.Response) string {
	var oo struct {
		Issue []struct {
			Diagnostics string `json:"diagnostics"`
			Details     struct {
				Text string `json:"text"`
			} `json:"details"`
		} `json:"issue"`
	}
	if json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&oo) != nil || len(oo.Issue) == 0 {
		return ""
	}
	return ": " + strings.TrimSpace(oo.Issue[0].Diagnostics+" "+oo.Issue[0].Details.Text)
}

func retryAfter(h string, def time.Duration) time.Duration {
	h = strings.TrimSpace(h)
	if secs, err := strconv.Atoi(h); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(time.Until(t), 0)
	}
	return def
}

func resolve(base, ref string) (string, error) {
	b, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	r, err := url.Parse(ref)
	if err != nil {
		return "", err
	}
	return b.ResolveReference(r).String(), nil
}

func sameOrigin(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	return err1 == nil && err2 == nil && ua.Scheme == ub.Scheme && ua.Host == ub.Host
}
