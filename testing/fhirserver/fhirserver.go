// Package fhirserver starts the real FHIR R4 test server (Medplum's router
// on Node, server.mjs beside this file) on 127.0.0.1 for integration
// tests, and loads generated histories into it with transaction bundles.
package fhirserver

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/balint-health/balint/synth"
)

// Server is a running test FHIR server.
type Server struct {
	// URL is the FHIR base, e.g. http://127.0.0.1:41234/fhir.
	URL string
	cmd *exec.Cmd
}

// Dir is the directory holding server.mjs and its node_modules.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

// Start runs the server for the test's lifetime, on the Node that `npm ci`
// installed beside it (package.json pins the version Medplum needs), else
// the one on PATH; server.mjs refuses a Node its packages do not support.
// Without node or the npm packages it skips, unless CI=true, where a
// missing component fails.
func Start(t testing.TB) *Server {
	t.Helper()
	node, err := filepath.Join(Dir(), "node_modules", ".bin", "node"), error(nil)
	if _, statErr := os.Stat(node); statErr != nil {
		node, err = exec.LookPath("node")
	}
	if err == nil {
		_, err = os.Stat(filepath.Join(Dir(), "node_modules", "@medplum", "fhir-router"))
	}
	if err != nil {
		msg := fmt.Sprintf("FHIR test server unavailable (node and `npm ci` in %s are needed): %v", Dir(), err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	cmd := exec.Command(node, "--experimental-websocket", "--no-warnings", filepath.Join(Dir(), "server.mjs"), "0")
	cmd.Dir = Dir()
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &Server{cmd: cmd}
	t.Cleanup(s.Stop)
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				lines <- u
			}
		}
		close(lines)
	}()
	select {
	case u, ok := <-lines:
		if !ok {
			t.Fatal("FHIR test server exited before listening")
		}
		s.URL = u
	case <-time.After(60 * time.Second):
		t.Fatal("FHIR test server did not start within 60 s")
	}
	return s
}

// Stop kills the server (tests use it to make the server disappear).
func (s *Server) Stop() {
	if s.cmd.Process != nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
	}
}

// Load puts a generated history into the server with transactions of at
// most 50 entries (Medplum's cap on updates per transaction).
func (s *Server) Load(t testing.TB, rec *synth.Record) {
	t.Helper()
	for i, tx := range rec.Transactions(50) {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, s.URL, bytes.NewReader(tx))
		req.Header.Set("Content-Type", "application/fhir+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("transaction %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("transaction %d: HTTP %d: %.500s", i, resp.StatusCode, body)
		}
		var b struct {
			Type  string `json:"type"`
			Entry []struct {
				Response struct {
					Status string `json:"status"`
				} `json:"response"`
			} `json:"entry"`
		}
		if err := json.Unmarshal(body, &b); err != nil || b.Type != "transaction-response" {
			t.Fatalf("transaction %d: unexpected response %.300s", i, body)
		}
		for j, e := range b.Entry {
			if !strings.HasPrefix(e.Response.Status, "20") {
				t.Fatalf("transaction %d entry %d: status %s", i, j, e.Response.Status)
			}
		}
	}
}
