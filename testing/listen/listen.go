// Package listen gives tests loopback peers that misbehave on purpose: a
// server that accepts connections and never answers, and one that counts
// every connection made to it (to prove none was).
package listen

import (
	"net"
	"net/http"
	"net/http/httptest"
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
