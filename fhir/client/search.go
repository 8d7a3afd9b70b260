package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/balint-health/balint/fhir"
	"github.com/balint-health/balint/memory"
)

// Limits bound what one history may cost.
type Limits struct {
	// PageSize is the _count sent when a query has none.
	PageSize int
	// MaxPages is the most pages followed for one query.
	MaxPages int
	// MaxResources is the most entries accepted for one history.
	MaxResources int
	// MaxPageBytes is the most bytes read from one response, and
	// MaxHistoryBytes from all the responses of one history: a server
	// streaming gigabytes costs at most this much memory per hook.
	MaxPageBytes    int64
	MaxHistoryBytes int64
	// Retries is how many times a failed GET is tried again.
	Retries int
	// Backoff is the first retry's wait; it doubles, with jitter.
	Backoff time.Duration
}

// DefaultLimits are sized for a 10,000-resource history.
var DefaultLimits = Limits{
	PageSize:        1000,
	MaxPages:        100,
	MaxResources:    15000,
	MaxPageBytes:    64 << 20,
	MaxHistoryBytes: 64 << 20,
	Retries:         2,
	Backoff:         100 * time.Millisecond,
}

// Searcher runs one FHIR search, handing each page's raw Bundle to page in
// order. Implemented over HTTP here and in-process by the demo.
type Searcher interface {
	Search(ctx context.Context, query string, page func([]byte) error) error
}

// HTTPSearcher searches one FHIR server over HTTP.
type HTTPSearcher struct {
	HTTP   *http.Client
	Base   string
	Token  string
	Limits Limits
	// Observe, if set, is told of every page fetched (for metrics).
	Observe func(resourceType string, d time.Duration, err error)
	// Budget, if set, is the bytes the history may still read, shared by
	// the searches of one history (Limits.MaxHistoryBytes).
	Budget *atomic.Int64
}

// searchError is a failure with a reason safe to show and log.
type searchError struct {
	reason string
	err    error
}

func (e *searchError) Error() string { return e.reason }
func (e *searchError) Unwrap() error { return e.err }

func fail(reason string, err error) error { return &searchError{reason: reason, err: err} }

// Search follows Bundle.link[next] within the limits, refusing a next link
// that leaves the base or repeats. query is relative to the base, or an
// absolute URL under it: the next link of a page the CDS client
// prefetched, to read on from.
func (s *HTTPSearcher) Search(ctx context.Context, query string, page func([]byte) error) error {
	base := strings.TrimSuffix(s.Base, "/")
	next := base + "/" + strings.TrimPrefix(withCount(query, s.Limits.PageSize), "/")
	if strings.HasPrefix(query, "https://") || strings.HasPrefix(query, "http://") {
		next = query
	}
	seen := map[string]bool{}
	typ := resourceTypeOf(strings.TrimPrefix(query, base))
	for n := 0; next != ""; n++ {
		if n >= s.Limits.MaxPages {
			return fail(fmt.Sprintf("more than %d pages", s.Limits.MaxPages), nil)
		}
		if seen[next] {
			return fail("paging loop (a next link repeated)", nil)
		}
		seen[next] = true
		if !underBase(next, base) {
			return fail("next link leaves the FHIR server's base", nil)
		}
		start := time.Now()
		body, err := s.get(ctx, next)
		if s.Observe != nil {
			s.Observe(typ, time.Since(start), err)
		}
		if err != nil {
			return err
		}
		var links struct {
			ResourceType string `json:"resourceType"`
			Link         []struct {
				Relation string `json:"relation"`
				URL      string `json:"url"`
			} `json:"link"`
		}
		if err := json.Unmarshal(body, &links); err != nil || links.ResourceType == "" {
			return fail("response is not a FHIR resource", err)
		}
		if err := page(body); err != nil {
			return err
		}
		next = ""
		for _, l := range links.Link {
			if l.Relation == "next" {
				next = l.URL
			}
		}
	}
	return nil
}

func (s *HTTPSearcher) get(ctx context.Context, u string) ([]byte, error) {
	wait := s.Limits.Backoff
	for attempt := 0; ; attempt++ {
		body, retryAfter, err := s.getOnce(ctx, u)
		if err == nil {
			return body, nil
		}
		var se *searchError
		retryable := errors.As(err, &se) && se.err == errRetryable
		if !retryable || attempt >= s.Limits.Retries || ctx.Err() != nil {
			return nil, err
		}
		d := wait + time.Duration(rand.Int64N(int64(wait)/2+1))
		if retryAfter > d {
			d = retryAfter
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, fail("deadline exceeded", ctx.Err())
		case <-time.After(d):
		}
		wait *= 2
	}
}

var errRetryable = errors.New("retryable")

var (
	errRedirectOutside  = errors.New("redirect outside the FHIR server's base")
	errTooManyRedirects = errors.New("too many redirects")
)

var errOverBudget = errors.New("history byte budget spent")

// budgetReader spends a history's byte budget as it reads, so that the
// searches of one history, running side by side, cannot each read the
// whole of it.
type budgetReader struct {
	r io.Reader
	b *atomic.Int64
}

func (br budgetReader) Read(p []byte) (int, error) {
	n, err := br.r.Read(p)
	if br.b.Add(-int64(n)) < 0 {
		return n, errOverBudget
	}
	return n, err
}

// ticketReader reserves, as it reads, the memory of what it reads from
// the call's share of the memory gate: a server streaming without end
// fills the call's share and then fails the call, never the process.
type ticketReader struct {
	r io.Reader
	t *memory.Ticket
}

func (tr ticketReader) Read(p []byte) (int, error) {
	n, err := tr.r.Read(p)
	if gerr := tr.t.Grow(int64(n)); gerr != nil {
		return n, gerr
	}
	return n, err
}

// client is the HTTP client for this server: it follows a redirect only
// under the server's base (the token goes with it, and Go's own rule would
// send it to another port of the same host), at most five, and never with
// a Referer, which would carry the patient id of the query.
func (s *HTTPSearcher) client() *http.Client {
	base := strings.TrimSuffix(s.Base, "/")
	c := *s.HTTP
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 5 {
			return errTooManyRedirects
		}
		if !underBase(req.URL.String(), base) {
			return errRedirectOutside
		}
		req.Header.Del("Referer")
		return nil
	}
	return &c
}

func (s *HTTPSearcher) getOnce(ctx context.Context, u string) ([]byte, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, fail("bad query URL", err)
	}
	req.Header.Set("Accept", "application/fhir+json")
	if s.Token != "" {
		req.Header.Set("Authorization", "Bearer "+s.Token)
	}
	resp, err := s.client().Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, 0, fail("deadline exceeded", ctx.Err())
		}
		if errors.Is(err, errRedirectOutside) || errors.Is(err, errTooManyRedirects) {
			return nil, 0, fail("redirected outside the FHIR server's base", err)
		}
		// Refused, reset or dropped connections are worth another try: a
		// GET is idempotent.
		return nil, 0, &searchError{reason: "connection failed", err: errRetryable}
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		return nil, retryAfter(resp.Header.Get("Retry-After")), &searchError{reason: "HTTP " + strconv.Itoa(resp.StatusCode), err: errRetryable}
	default:
		return nil, 0, fail("HTTP "+strconv.Itoa(resp.StatusCode), nil)
	}
	var r io.Reader = resp.Body
	if s.Budget != nil {
		r = budgetReader{r, s.Budget}
	}
	if t := memory.TicketFrom(ctx); t != nil {
		r = ticketReader{r, t}
	}
	body, err := io.ReadAll(io.LimitReader(r, s.Limits.MaxPageBytes+1))
	if errors.Is(err, errOverBudget) {
		return nil, 0, fail("history larger than its byte limit", nil)
	}
	if errors.Is(err, memory.ErrBusy) {
		return nil, 0, fail("too many calls in flight", err)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, 0, fail("deadline exceeded", ctx.Err())
		}
		return nil, 0, &searchError{reason: "connection failed while reading", err: errRetryable}
	}
	if int64(len(body)) > s.Limits.MaxPageBytes {
		return nil, 0, fail("response larger than the page limit", nil)
	}
	return body, 0, nil
}

func retryAfter(h string) time.Duration {
	if secs, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second
	}
	return 0
}

// withCount adds _count to a search query that has none.
func withCount(query string, n int) string {
	path, q, _ := strings.Cut(query, "?")
	if n <= 0 || !strings.Contains(query, "?") && strings.Contains(path, "/") {
		return query // a read (Type/id), not a search
	}
	v, _ := url.ParseQuery(q)
	if v.Has("_count") {
		return query
	}
	if q == "" {
		return path + "?_count=" + strconv.Itoa(n)
	}
	return query + "&_count=" + strconv.Itoa(n)
}

func resourceTypeOf(query string) string {
	t, _, _ := strings.Cut(strings.TrimPrefix(query, "/"), "?")
	t, _, _ = strings.Cut(t, "/")
	return t
}

func underBase(u, base string) bool {
	pu, err1 := url.Parse(u)
	pb, err2 := url.Parse(base)
	if err1 != nil || err2 != nil {
		return false
	}
	return fhir.UnderBase(pu, pb)
}

// Failure returns a search error whose reason is shown to the caller;
// for Searchers outside this package.
func Failure(reason string) error { return fail(reason, nil) }
