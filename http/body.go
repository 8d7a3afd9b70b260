package http

import (
	"io"
	"slices"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/balint-health/balint/errs"
	"github.com/balint-health/balint/memory"
)

// A body is a call's request body, read into a buffer kept between calls,
// with the memory the call was admitted for. A typical hook body is a
// quarter of the bytes its call allocates, and every byte allocated brings
// the next collection, which the slowest calls wait behind, closer.
//
// The buffer may be given to the next call once nothing reads it: the
// decoders copy every string they keep, so the history, the decision and
// the response hold no view of it, and only the read-ahead and the
// decoding itself read it (hazard H54).
type body struct {
	data   []byte
	buf    *[]byte
	ticket *memory.Ticket
}

// bodies holds the buffers between calls.
var bodies = sync.Pool{New: func() any { return new([]byte) }}

// maxPooled is the largest buffer kept: the large histories are rare, and
// a buffer kept is memory the call budget no longer counts.
const maxPooled = 1 << 20

// decoded is told when the decoders have their views of the body (the
// prefetch's slices, the read-ahead): a body too large to be kept for the
// next call is then left to them, and is garbage once they have read it,
// not held to the call's end; at 10,000 resources that is 0.45 times the
// JSON more live heap while the rule runs (docs/performance.md).
func (b *body) decoded() {
	if cap(b.data) > maxPooled {
		b.data, b.buf = nil, nil
	}
}

// release gives back the call's memory and its buffer, emptied: the pool
// then holds no patient's record between calls, and a view of the body
// that outlived the call reads zeros, which the golden tests see, rather
// than the next caller's patient.
func (b *body) release() {
	b.ticket.Release()
	if b.buf != nil && cap(b.data) <= maxPooled {
		clear(b.data)
		*b.buf = b.data[:0]
		bodies.Put(b.buf)
	}
	b.data, b.buf = nil, nil
}

// readBody reads a body within the body limit; a body that cannot be read
// is invalid, one over the limit the limit's 413.
func readBody(c echo.Context) (*body, error) {
	buf := bodies.Get().(*[]byte)
	data, err := readAll(c.Request().Body, *buf, c.Request().ContentLength)
	if err != nil {
		(&body{data: data, buf: buf}).release()
		if _, ok := err.(*echo.HTTPError); ok {
			return nil, err
		}
		return nil, errs.New(errs.Invalid, "request body could not be read")
	}
	return &body{data: data, buf: buf}, nil
}

// readAll reads a body into buf, or into one buffer of the announced size
// when buf is smaller (the body limit has already refused a larger
// announcement), instead of growing one step by step: a hook body is
// megabytes, and every doubling is a copy and transient garbage.
func readAll(r io.Reader, buf []byte, announced int64) ([]byte, error) {
	b := buf[:0]
	if want := int(max(announced, 512)) + 1; cap(b) < want {
		b = make([]byte, 0, want)
	}
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			b = slices.Grow(b, len(b))
		}
	}
}
