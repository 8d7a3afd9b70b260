// Package listen gives tests loopback peers that misbehave on purpose: a
// server that accepts connections and never answers, one that counts
// every connection made to it (to prove none was), and one that streams
// gigabytes.
package listen

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// Silent accepts connections on 127.0.0.1 and never answers; it returns
// the address.
func Silent(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	return ln.Addr().String()
}

type counting struct {
	net.Listener
	n *atomic.Int64
}

func (c counting) Accept() (net.Conn, error) {
	conn, err := c.Listener.Accept()
	if err == nil {
		c.n.Add(1)
	}
	return conn, err
}

// Recording starts an HTTP server on 127.0.0.1 that counts the
// connections made to it.
func Recording(t testing.TB, h http.Handler) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n := &atomic.Int64{}
	s := httptest.NewUnstartedServer(h)
	s.Listener = counting{Listener: ln, n: n}
	s.Start()
	t.Cleanup(s.Close)
	return s, n
}

// Streaming starts an HTTP server on 127.0.0.1 that answers every request
// with one FHIR searchset Bundle of about 2 GB, written as fast as the
// reader takes it; it returns the server and the bytes written so far.
func Streaming(t testing.TB) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var sent atomic.Int64
	chunk := []byte(strings.Repeat(`{"resource":{"resourceType":"Encounter","id":"e","status":"finished","class":{"code":"AMB"}}},`, 1000))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/fhir+json")
		io.WriteString(w, `{"resourceType":"Bundle","type":"searchset","entry":[`)
		for written := int64(0); written < 2<<30; {
			n, err := w.Write(chunk)
			written += int64(n)
			sent.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &sent
}
