package terminology

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/balint-health/balint/rules"
)

// Client asks one terminology server for expansions.
type Client struct {
	// Base is the server's FHIR base URL.
	Base string
	HTTP *http.Client
	// Timeout bounds one value set's expansion, all pages included.
	Timeout time.Duration
}

// pageSize is how many codes are asked for per page; a server may send
// fewer, and the client pages on until it has them all.
const pageSize = 1000

// maxCodes bounds an expansion: a value set larger than this is not what
// the policy meant (a filter gone wrong), and is refused.
const maxCodes = 200_000

// Expand returns the codes of the value set at canonical url, as a FHIR
// ValueSet with its expansion (the form the store keeps and
// rules.ParseExpansion reads).
func (c *Client) Expand(ctx context.Context, vsURL string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	type contains struct {
		System   string     `json:"system,omitempty"`
		Code     string     `json:"code,omitempty"`
		Display  string     `json:"display,omitempty"`
		Contains []contains `json:"contains,omitempty"`
	}
	type valueSet struct {
		ResourceType string `json:"resourceType"`
		URL          string `json:"url"`
		Expansion    struct {
			Timestamp string     `json:"timestamp,omitempty"`
			Total     *int       `json:"total,omitempty"`
			Offset    int        `json:"offset,omitempty"`
			Contains  []contains `json:"contains"`
		} `json:"expansion"`
	}
	var all valueSet
	all.ResourceType, all.URL = "ValueSet", vsURL
	for offset := 0; ; {
		q := url.Values{"url": {vsURL}, "count": {strconv.Itoa(pageSize)}, "offset": {strconv.Itoa(offset)}}
		u := strings.TrimRight(c.Base, "/") + "/ValueSet/$expand?" + q.Encode()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, fmt.Errorf("terminology: %w", err)
		}
		req.Header.Set("Accept", "application/fhir+json")
		resp, err := c.HTTP.Do(req)
		if err != nil {
			return nil, fmt.Errorf("terminology: expand %s: %w", vsURL, err)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("terminology: expand %s: %w", vsURL, err)
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("terminology: expand %s: status %d", vsURL, resp.StatusCode)
		}
		var page valueSet
		if err := json.Unmarshal(body, &page); err != nil || page.ResourceType != "ValueSet" {
			return nil, fmt.Errorf("terminology: expand %s: the answer is not a ValueSet", vsURL)
		}
		all.Expansion.Timestamp = page.Expansion.Timestamp
		all.Expansion.Contains = append(all.Expansion.Contains, page.Expansion.Contains...)
		offset += len(page.Expansion.Contains)
		if offset > maxCodes {
			return nil, fmt.Errorf("terminology: expand %s: more than %d codes", vsURL, maxCodes)
		}
		if len(page.Expansion.Contains) == 0 || page.Expansion.Total == nil || offset >= *page.Expansion.Total {
			break
		}
	}
	if len(all.Expansion.Contains) == 0 {
		return nil, fmt.Errorf("terminology: expand %s: no codes", vsURL)
	}
	n := len(all.Expansion.Contains)
	all.Expansion.Total = &n
	return json.Marshal(all)
}

// Cache keeps expansions between refreshes and instances.
type Cache interface {
	PutExpansion(ctx context.Context, url string, body []byte, at time.Time) error
	Expansions(ctx context.Context) (map[string][]byte, error)
}

// Refresher keeps the policy's value sets expanded.
type Refresher struct {
	// Client is nil when no terminology server is configured: the kept and
	// shipped expansions are used as they are.
	Client *Client
	Cache  Cache
	// Policy is the policy as parsed; each refresh recompiles it.
	Policy *rules.Policy
	// Apply installs a recompiled policy.
	Apply  func(*rules.Policy)
	Now    func() time.Time
	Logger *slog.Logger
}

// Refresh expands every value set the policy names, keeps what the server
// returned, and applies the policy compiled with the best expansion of
// each: fetched now, else kept, else shipped. An error means the policy
// could not be compiled at all; a server that fails is only logged.
func (r *Refresher) Refresh(ctx context.Context) error {
	if r.Client != nil {
		for _, u := range r.Policy.ValueSets() {
			body, err := r.Client.Expand(ctx, u)
			if err == nil {
				_, _, err = rules.ParseExpansion(body)
			}
			if err == nil {
				err = r.Cache.PutExpansion(ctx, u, body, r.Now())
			}
			if err != nil {
				r.Logger.LogAttrs(ctx, slog.LevelWarn, "value set not expanded; using the kept or shipped expansion",
					slog.String("valueSet", u), slog.String("error", err.Error()))
			}
		}
	}
	kept, err := r.Cache.Expansions(ctx)
	if err != nil {
		return err
	}
	exp := rules.Expansions{}
	for u, body := range kept {
		url, codes, err := rules.ParseExpansion(body)
		if err != nil || url != u {
			r.Logger.LogAttrs(ctx, slog.LevelWarn, "kept expansion unreadable; ignored", slog.String("valueSet", u))
			continue
		}
		exp[u] = codes
	}
	p, err := r.Policy.WithExpansions(exp)
	if err != nil {
		return err
	}
	r.Apply(p)
	return nil
}

// Run refreshes every interval until ctx ends.
func (r *Refresher) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := r.Refresh(ctx); err != nil && !errors.Is(err, context.Canceled) {
				r.Logger.LogAttrs(ctx, slog.LevelError, "value sets not refreshed", slog.String("error", err.Error()))
			}
		}
	}
}
