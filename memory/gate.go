package memory

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/balint-health/balint/errs"
)

// PerByte is the memory a call holds per byte of FHIR JSON it has read:
// the raw bytes, the decoded resources and the decoder's garbage between
// collections. BenchmarkHookPeakHeap measures 2.7 to 2.8 on the generated
// 10,000-resource history, whose repeated elements the decoder shares,
// and 3.8 when nothing is shared, as in a record that repeats little
// (docs/performance.md); small calls take more per byte but little in
// all, which the gate's headroom covers.
const PerByte = 4

// ErrBusy refuses a call that the memory of the calls in flight leaves no
// room for.
var ErrBusy = errs.New(errs.Busy, "too many calls in flight; retry shortly")

// Gate holds the memory reserved by calls in flight.
type Gate struct {
	sem      *semaphore.Weighted
	capacity int64
	// wait is how long a call may queue for room before it is refused.
	wait time.Duration
	held atomic.Int64
	// calls is how many calls hold a ticket: when the last one ends the
	// gate may start a collection (idle.go).
	calls      atomic.Int64
	collecting atomic.Bool
	heap       func() (heapRoom, bool)
	collect    func()
}

// NewGate is a gate for capacity bytes of calls in flight, where a call
// queues at most wait for room.
func NewGate(capacity int64, wait time.Duration) *Gate {
	return &Gate{sem: semaphore.NewWeighted(capacity), capacity: capacity, wait: wait, heap: readHeap, collect: runtime.GC}
}

// Held is the bytes reserved now.
func (g *Gate) Held() int64 { return g.held.Load() }

// Admit reserves room for a call about to read jsonBytes of JSON, queueing
// while the gate is full, at most the gate's wait and never past ctx. A
// call larger than the whole gate is admitted alone.
func (g *Gate) Admit(ctx context.Context, jsonBytes int64) (*Ticket, error) {
	n := min(jsonBytes*PerByte, g.capacity)
	wctx, cancel := context.WithTimeout(ctx, g.wait)
	defer cancel()
	if err := g.sem.Acquire(wctx, n); err != nil {
		return nil, ErrBusy
	}
	g.held.Add(n)
	g.calls.Add(1)
	return &Ticket{g: g, held: n}, nil
}

// Ticket is one call's reservation.
type Ticket struct {
	g        *Gate
	mu       sync.Mutex
	held     int64
	released bool
}

// Grow reserves room for jsonBytes more of JSON read. It never waits: a
// call that held its share while waiting for more could wait on others
// that wait on it, so with the gate full the call is refused as busy.
// A nil ticket (a call without one) always grows.
func (t *Ticket) Grow(jsonBytes int64) error {
	if t == nil || jsonBytes <= 0 {
		return nil
	}
	n := jsonBytes * PerByte
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.released || !t.g.sem.TryAcquire(n) {
		return ErrBusy
	}
	t.held += n
	t.g.held.Add(n)
	return nil
}

// Release returns everything the ticket holds; later calls do nothing.
func (t *Ticket) Release() {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.released {
		return
	}
	t.released = true
	t.g.held.Add(-t.held)
	t.g.sem.Release(t.held)
	t.held = 0
	if t.g.calls.Add(-1) == 0 {
		t.g.collectIfDue()
	}
}

type ticketKey struct{}

// WithTicket carries a call's ticket to the code that reads its history.
func WithTicket(ctx context.Context, t *Ticket) context.Context {
	return context.WithValue(ctx, ticketKey{}, t)
}

// TicketFrom is the call's ticket; nil (which always grows) if none.
func TicketFrom(ctx context.Context) *Ticket {
	t, _ := ctx.Value(ticketKey{}).(*Ticket)
	return t
}
