package http

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/balint-health/balint/memory"
)

// TestBodyBuffers: a body read into a kept buffer is given back emptied,
// every byte of it, with the call's memory; a body too large to keep is let
// go once decoded and never given back (hazard H54).
func TestBodyBuffers(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int
		kept bool
	}{
		{"a typical body", 228 << 10, true},
		{"an empty body", 0, true},
		{"a body over the largest kept", maxPooled + 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sent := bytes.Repeat([]byte("x"), tc.size)
			req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(sent))
			c := echo.New().NewContext(req, httptest.NewRecorder())
			gate := memory.NewGate(64<<20, time.Second)
			ticket, err := gate.Admit(context.Background(), int64(tc.size))
			if err != nil {
				t.Fatal(err)
			}
			in, err := readBody(c)
			if err != nil || !bytes.Equal(in.data, sent) {
				t.Fatalf("read %d bytes, %v; sent %d", len(in.data), err, tc.size)
			}
			in.ticket = ticket
			buf, data := in.buf, in.data
			in.decoded()
			if kept := in.data != nil; kept != tc.kept {
				t.Fatalf("held after decoding: %v, want %v", kept, tc.kept)
			}
			in.release()
			if gate.Held() != 0 {
				t.Errorf("%d bytes still held after release", gate.Held())
			}
			if !tc.kept {
				return
			}
			if len(*buf) != 0 || cap(*buf) != cap(data) {
				t.Errorf("given back len %d cap %d, want the buffer read into (cap %d), empty", len(*buf), cap(*buf), cap(data))
			}
			if i := bytes.IndexFunc(data, func(r rune) bool { return r != 0 }); i >= 0 {
				t.Errorf("byte %d of the buffer given back is not cleared", i)
			}
		})
	}
}
