package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/balint-health/balint/fhir"
)

// Request is what a hook call gives for loading one history.
type Request struct {
	// Server is the hook's fhirServer ("" when none was sent).
	Server string
	// ServerNotAllowed: Server is not one of the calling issuer's FHIR
	// servers, so it is never called.
	ServerNotAllowed bool
	// Token is fhirAuthorization.access_token ("" when none was sent).
	Token string
	// Queries maps prefetch keys to rendered FHIR queries.
	Queries map[string]string
	// Prefetch is what the CDS client prefetched. A missing key, an
	// OperationOutcome (the client's query failed) and the pages after a
	// prefetched page with a next link are fetched from Server; null is
	// no data.
	Prefetch map[string]json.RawMessage
	// Ahead is the prefetch as read ahead from the call's body, if it was
	// (ReadAhead).
	Ahead *Ahead
	// Issuer, Patient and TokenExpires scope reuse of fetched pages
	// (see Cache).
	Issuer, Patient string
	TokenExpires    time.Time
}

// TokenSource supplies a bearer token for a server when the hook sent
// none (SMART Backend Services).
type TokenSource interface {
	Token(ctx context.Context) (string, error)
}

// Loader builds histories from prefetch and FHIR servers.
type Loader struct {
	Guard  *Guard
	HTTP   *http.Client
	Limits Limits
	// Budget is the overall deadline for fetching one history.
	Budget time.Duration
	// Backend maps an allowlisted base (BaseKey) to its SMART Backend Services
	// token source, used when the hook carries no fhirAuthorization.
	Backend map[string]TokenSource
	// Local answers hooks that name no fhirServer and prefetch nothing
	// (the embedded demo). Nil: such hooks are errs.Unavailable.
	Local Searcher
	// Observe is passed to every HTTPSearcher.
	Observe func(resourceType string, d time.Duration, err error)
	// Cache, if set, keeps fetched pages for the next hooks of a session.
	Cache *Cache
}

// Load returns the patient's history. Any part that cannot be had is an
// *fhir.UnavailableError naming its key.
func (l *Loader) Load(ctx context.Context, r Request) (*fhir.History, error) {
	h, pages, err := decodePrefetch(r.Prefetch, r.Ahead)
	r.Ahead.drop()
	if err != nil {
		return nil, err
	}
	// fetch are the parts still to be read from the server, each from its
	// query or from where the prefetched pages stopped.
	type fetch struct {
		key, query, why string
	}
	var missing []fetch
	for _, k := range fhir.Kinds {
		if k.Query == "" {
			continue
		}
		raw, ok := r.Prefetch[k.Key]
		pg, decoded := pages[k.Key]
		switch {
		case !ok:
			missing = append(missing, fetch{k.Key, r.Queries[k.Key], "not prefetched"})
		case decoded:
			if pg.Next != "" {
				// A paged searchset: the rest is on the server, and a
				// critical result may be on page 2.
				missing = append(missing, fetch{k.Key, pg.Next, "the prefetch has more pages (a next link)"})
			}
		case isNull(raw):
			// CDS Hooks: null is the client saying it has no data for this
			// query. The part is empty.
		case fhir.IsOperationOutcome(raw):
			// The client's query failed: that is not "no data", and a
			// card must not rest on it. Read the part from the server.
			missing = append(missing, fetch{k.Key, r.Queries[k.Key], "the prefetch is an OperationOutcome (the client's query failed)"})
		}
	}
	if len(missing) == 0 {
		return h, nil
	}
	for _, m := range missing {
		if r.Server == "" && (l.Local == nil || m.why != "not prefetched") {
			return nil, &fhir.UnavailableError{Key: m.key, Reason: m.why + " and no fhirServer was given"}
		}
	}
	src, origin, err := l.searcher(ctx, r, missing[0].key)
	if err != nil {
		return nil, err
	}
	if l.Budget > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, l.Budget)
		defer cancel()
	}
	// Each part is fetched and decoded in its own goroutine, so decoding
	// one page overlaps the server's work on the others.
	scope := Scope{Issuer: r.Issuer, Server: r.Server, Patient: r.Patient, Token: r.Token, TokenExpires: r.TokenExpires}
	parts := make([]*fhir.History, len(missing))
	var total atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	for i, k := range missing {
		q := k.query
		if q == "" {
			return nil, &fhir.UnavailableError{Key: k.key, Reason: "no query for this part"}
		}
		part := fhir.NewHistory()
		parts[i] = part
		g.Go(func() error {
			add := func(b []byte) error {
				pg, err := part.AddJSON(k.key, origin, b)
				if err != nil {
					return &fhir.UnavailableError{Key: k.key, Reason: "response is not a FHIR Bundle", Err: err}
				}
				if max := l.Limits.MaxResources; max > 0 && total.Add(int64(pg.Entries)) > int64(max) {
					return &fhir.UnavailableError{Key: k.key, Reason: fmt.Sprintf("history larger than %d resources", max)}
				}
				return nil
			}
			if pages, ok := l.Cache.get(scope, q); ok {
				for _, b := range pages {
					if err := add(b); err != nil {
						return err
					}
				}
				return nil
			}
			var pages [][]byte
			err := src.Search(gctx, q, func(b []byte) error {
				pages = append(pages, b)
				return add(b)
			})
			var ue *fhir.UnavailableError
			if errors.As(err, &ue) {
				return err
			}
			if err != nil {
				return &fhir.UnavailableError{Key: k.key, Reason: reason(err, gctx), Err: err}
			}
			if origin == fhir.FromServer {
				l.Cache.put(scope, q, pages)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for _, p := range parts {
		h.Merge(p)
	}
	return h, nil
}

// decodePrefetch decodes the prefetched parts side by side (spread), each
// into a history of its own, merged in the order of fhir.Kinds: on two cores the
// observations and the orders, nearly all of a large call, decode at once.
// Merging is the same as decoding one part after another into one history
// as long as only the patient part holds a Patient (which history keeps
// which Patient depends on the order they are read); when another part
// holds one, the parts are decoded again one after another.
func decodePrefetch(prefetch map[string]json.RawMessage, ahead *Ahead) (*fhir.History, map[string]fhir.Page, error) {
	type part struct {
		key string
		raw json.RawMessage
		h   *fhir.History
		pg  fhir.Page
		err error
	}
	var parts, unread []*part
	for _, k := range fhir.Kinds {
		raw, ok := prefetch[k.Key]
		if k.Query == "" || !ok || isNull(raw) || fhir.IsOperationOutcome(raw) {
			continue
		}
		p := &part{key: k.Key, raw: raw}
		parts = append(parts, p)
		// Taking a part read ahead is only a wait: goroutines are for
		// the parts still to decode.
		var read bool
		if p.h, p.pg, read = ahead.take(p.key, p.raw); !read {
			unread = append(unread, p)
		}
	}
	var wg sync.WaitGroup
	spread(&wg, len(unread), func(i int) {
		p := unread[i]
		p.h = fhir.NewHistory()
		p.pg, p.err = p.h.AddJSON(p.key, fhir.FromPrefetch, p.raw)
	})
	wg.Wait()
	h, pages := fhir.NewHistory(), map[string]fhir.Page{}
	sequential := false
	for _, p := range parts {
		if p.err != nil {
			return nil, nil, notAResource(p.key, p.err)
		}
		pages[p.key] = p.pg
		sequential = sequential || (p.key != "patient" && p.h.Patient != nil)
	}
	for _, p := range parts {
		if !sequential {
			h.Merge(p.h)
		} else if _, err := h.AddJSON(p.key, fhir.FromPrefetch, p.raw); err != nil {
			return nil, nil, notAResource(p.key, err)
		}
	}
	return h, pages, nil
}

func notAResource(key string, err error) error {
	return &fhir.UnavailableError{Key: key, Reason: "prefetch is not a FHIR resource", Err: err}
}

func (l *Loader) searcher(ctx context.Context, r Request, key string) (Searcher, fhir.Origin, error) {
	if r.Server == "" {
		if l.Local != nil {
			return l.Local, fhir.FromDemo, nil
		}
		return nil, "", &fhir.UnavailableError{Key: key, Reason: "not prefetched and no fhirServer given"}
	}
	if r.ServerNotAllowed {
		return nil, "", &fhir.UnavailableError{Key: key, Reason: "fhirServer is not one of the calling issuer's FHIR servers", Err: ErrNotAllowed}
	}
	if err := l.Guard.Check(r.Server); err != nil {
		return nil, "", &fhir.UnavailableError{Key: key, Reason: "fhirServer refused: " + err.Error(), Err: ErrNotAllowed}
	}
	token := r.Token
	if token == "" {
		if ts := l.Backend[BaseKey(r.Server)]; ts != nil {
			t, err := ts.Token(ctx)
			if err != nil {
				return nil, "", &fhir.UnavailableError{Key: key, Reason: "backend services token could not be obtained", Err: err}
			}
			token = t
		}
	}
	var budget *atomic.Int64
	if l.Limits.MaxHistoryBytes > 0 {
		budget = new(atomic.Int64)
		budget.Store(l.Limits.MaxHistoryBytes)
	}
	return &HTTPSearcher{HTTP: l.HTTP, Base: r.Server, Token: token, Limits: l.Limits, Observe: l.Observe, Budget: budget}, fhir.FromServer, nil
}

// ErrNotAllowed marks a fhirServer the SSRF guard refused.
var ErrNotAllowed = errors.New("fhirServer not allowed")

func reason(err error, ctx context.Context) string {
	var se *searchError
	if errors.As(err, &se) {
		return se.reason
	}
	if ctx.Err() != nil {
		return "deadline exceeded"
	}
	return "search failed"
}

func isNull(raw json.RawMessage) bool {
	for _, c := range raw {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case 'n':
			return true
		}
		return false
	}
	return true
}
