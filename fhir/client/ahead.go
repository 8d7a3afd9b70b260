package client

import (
	"bytes"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/balint-health/balint/cdshooks"
	"github.com/balint-health/balint/fhir"
	"github.com/balint-health/balint/memory"
)

// Ahead is a hook call's prefetch read while the call itself is still
// being checked: the prefetched Bundles, found in the body by the name
// before each, are decoded in body order on as many goroutines as the
// process has cores. Nearly all of a large call is its Bundles, and the
// call's check is a pass over all of its bytes: the two now overlap
// instead of following each other.
//
// The check (cdshooks.DecodeRequest) still decides what the prefetch is.
// A part read ahead is used only if it is exactly the bytes the check gave
// for its key, read exactly as AddJSON reads them (fhir.ReadBundleAt); a
// part found in the wrong place, or not found, is decoded as before. So
// what is read ahead can make a call faster, never different.
type Ahead struct {
	wg    sync.WaitGroup
	parts map[string]*aheadPart // by prefetch key
}

type aheadPart struct {
	key     string
	done    chan struct{}
	at, end int    // where the Bundle begins and ends in the body; end 0 if it was not read
	span    []byte // body[at:end], until taken
	h       *fhir.History
	pg      fhir.Page
}

// ReadAhead starts reading the prefetched Bundles of a hook call's body;
// nil when it finds none. The body must not change until Wait returns.
func ReadAhead(body []byte) *Ahead {
	from := bytes.Index(body, []byte(`"prefetch"`))
	if from < 0 {
		return nil
	}
	var a *Ahead
	var order []*aheadPart
	// A Bundle begins {"resourceType":"Bundle". It is looked for by its
	// end, whose first byte is rare, and checked back to its brace:
	// looked for by the brace, the search stopped at every object of the
	// call (32 against 6 us for a typical call).
	head, tail := []byte(`{"resourceType":"`), []byte(`Bundle"`)
	for end := from + len(head); end <= len(body); end += len(tail) {
		i := bytes.Index(body[end:], tail)
		if i < 0 {
			break
		}
		end += i
		if !bytes.HasSuffix(body[:end], head) {
			continue
		}
		at := end - len(head)
		key := nameBefore(body[:at])
		if _, asked := prefetchKeys[key]; !asked || a != nil && a.parts[key] != nil {
			continue
		}
		if a == nil {
			a = &Ahead{parts: map[string]*aheadPart{}}
		}
		p := &aheadPart{key: key, done: make(chan struct{}), at: at}
		a.parts[key] = p
		order = append(order, p)
	}
	if a == nil {
		return nil
	}
	spread(&a.wg, len(order), func(i int) {
		p := order[i]
		defer close(p.done)
		h := fhir.NewHistory()
		if end, pg, ok := h.ReadBundleAt(p.key, fhir.FromPrefetch, body, p.at, cdshooks.PrefetchDepth); ok {
			p.span, p.h, p.pg, p.end = body[p.at:end], h, pg, end
		}
	})
	return a
}

// spread runs work(0) to work(n-1), in that order, on at most one
// goroutine per core the process may use. A goroutine per part grew a
// fresh stack for each (the decoder recurses), and parts beyond the cores
// only took turns on them.
func spread(wg *sync.WaitGroup, n int, work func(i int)) {
	var next atomic.Int64
	for range min(n, runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			memory.GrowStack()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				work(i)
			}
		})
	}
}

// prefetchKeys are the keys a prefetch holds.
var prefetchKeys = fhir.Templates()

// nameBefore is the member name whose value b is followed by, as in
// `"observations": ` before a Bundle; "" if b does not end so. It is a
// guess (the name may belong to a member other than the prefetch's),
// which take checks.
func nameBefore(b []byte) string {
	b = bytes.TrimRight(b, " \t\r\n")
	if len(b) == 0 || b[len(b)-1] != ':' {
		return ""
	}
	b = bytes.TrimRight(b[:len(b)-1], " \t\r\n")
	if len(b) < 2 || b[len(b)-1] != '"' {
		return ""
	}
	b = b[:len(b)-1]
	open := bytes.LastIndexByte(b, '"')
	if open < 0 {
		return ""
	}
	return string(b[open+1:])
}

// ValidAt is cdshooks.Read: where the Bundle read ahead from start ends,
// once it is read. Reading it checked every byte of it as the call's check
// would, so the check need not read it again.
func (a *Ahead) ValidAt(start int) (end int, ok bool) {
	if a == nil {
		return 0, false
	}
	for _, p := range a.parts {
		if p.at == start {
			<-p.done
			return p.end, p.end > 0
		}
	}
	return 0, false
}

// Wait returns once every part has been read. Its memory is the call's
// until then.
func (a *Ahead) Wait() {
	if a != nil {
		a.wg.Wait()
	}
}

// take is the history read ahead for key, once it is read, if it was read
// from exactly the bytes raw is.
func (a *Ahead) take(key string, raw []byte) (*fhir.History, fhir.Page, bool) {
	if a == nil || a.parts[key] == nil {
		return nil, fhir.Page{}, false
	}
	p := a.parts[key]
	<-p.done
	h, pg, span := p.h, p.pg, p.span
	p.h, p.span = nil, nil // the history is the caller's now, or garbage
	if h == nil || len(raw) == 0 || len(span) != len(raw) || &span[0] != &raw[0] {
		return nil, fhir.Page{}, false
	}
	return h, pg, true
}

// drop lets go of what was read ahead and not taken.
func (a *Ahead) drop() {
	if a == nil {
		return
	}
	a.Wait()
	clear(a.parts)
}
