package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/balint-health/balint/advice"
	"github.com/balint-health/balint/testing/ehr"
	"github.com/balint-health/balint/testing/pg"
)

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// balintBinary builds cmd/balint once per test run.
func balintBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "balint-bin")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "balint")
		out, err := exec.Command("go", "build", "-o", binary, "github.com/balint-health/balint/cmd/balint").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

type proc struct {
	URL string
	cmd *exec.Cmd
	env []string
	out *syncBuffer
}

func freeAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startProc runs the real binary with env and waits until it is ready.
func startProc(t testing.TB, env ...string) *proc {
	t.Helper()
	addr := freeAddr(t)
	p := &proc{URL: "http://" + addr, out: &syncBuffer{}, env: append([]string{"BALINT_ADDR=" + addr}, env...)}
	p.start(t)
	return p
}

func (p *proc) start(t testing.TB) {
	t.Helper()
	p.cmd = exec.Command(balintBinary(t))
	p.cmd.Env = append(os.Environ(), p.env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.cmd.Process.Kill(); p.cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if r, err := http.Get(p.URL + "/readyz"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("balint did not become ready: %s", p.out.String())
}

// kill9 kills the process without letting it flush or shut down.
func (p *proc) kill9(t *testing.T) {
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.cmd.Wait()
}

func (p *proc) call(t *testing.T, path, body, token string) response {
	var h []string
	if token != "" {
		h = []string{"Authorization", "Bearer " + token}
	}
	return do(t, http.MethodPost, p.URL+path, body, h...)
}

func TestSIGKILLKeepsAcknowledgedFeedback(t *testing.T) {
	stores := map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return "BALINT_SQLITE_PATH=" + filepath.Join(t.TempDir(), "b.db") },
		"postgres": func(t *testing.T) string { return "DATABASE_URL=" + pg.URL(t) },
	}
	for name, store := range stores {
		t.Run(name, func(t *testing.T) {
			p := startProc(t, "BALINT_DEV=true", store(t))
			c := cardsOf(t, p.call(t, "/cds-services/"+advice.ReviewID, patientView("demo-pattern", ""), ""))
			if len(c) != 1 {
				t.Fatalf("%d cards", len(c))
			}
			if r := p.call(t, "/cds-services/"+advice.ReviewID+"/feedback", feedback(c[0].UUID, "overridden", "already-addressed", time.Now()), ""); r.Status != 200 {
				t.Fatalf("feedback: %d", r.Status)
			}
			p.kill9(t)
			p.start(t)
			if c := cardsOf(t, p.call(t, "/cds-services/"+advice.ReviewID, patientView("demo-pattern", ""), "")); len(c) != 0 {
				t.Fatal("the snooze was lost with the process")
			}
		})
	}
}

// Two replicas on one Postgres: feedback given to one suppresses the card
// on the other, a jti used on one is refused by the other, and killing one
// loses nothing acknowledged.
func TestTwoReplicas(t *testing.T) {
	db := pg.URL(t)
	e := ehr.New(t, "https://ehr.example")
	issuers := filepath.Join(t.TempDir(), "issuers.yaml")
	os.WriteFile(issuers, []byte(fmt.Sprintf("- iss: %s\n  jwks_url: %s\n  fhir_servers: [\"https://fhir.ehr.example/r4\"]\n", e.Issuer, e.JWKSURL)), 0o600)
	const base = "https://balint.hospital.example"
	env := []string{"DATABASE_URL=" + db, "BALINT_ISSUERS=" + issuers, "BALINT_BASE_URL=" + base, "BALINT_DEMO=true"}
	a, b := startProc(t, env...), startProc(t, env...)
	tok := func() string { return e.Sign(t, e.Valid(base+"/cds-services", time.Now()), nil, nil, nil) }

	hookPath := "/cds-services/" + advice.ReviewID
	if r := a.call(t, hookPath, patientView("demo-pattern", ""), ""); r.Status != 401 {
		t.Fatalf("unsigned call to a production replica: %d", r.Status)
	}
	c := cardsOf(t, a.call(t, hookPath, patientView("demo-pattern", ""), tok()))
	if len(c) != 1 {
		t.Fatalf("%d cards on replica A", len(c))
	}
	if c2 := cardsOf(t, b.call(t, hookPath, patientView("demo-pattern", ""), tok())); len(c2) != 1 || c2[0].Summary != c[0].Summary {
		t.Fatal("replicas disagree on the card")
	}
	if r := a.call(t, hookPath+"/feedback", feedback(c[0].UUID, "overridden", "not-appropriate", time.Now()), tok()); r.Status != 200 {
		t.Fatalf("feedback on A: %d %s", r.Status, r.Body)
	}
	a.kill9(t)
	if c := cardsOf(t, b.call(t, hookPath, patientView("demo-pattern", ""), tok())); len(c) != 0 {
		t.Fatal("feedback given to A did not suppress the card on B")
	}
	a.start(t)
	used := tok()
	if r := a.call(t, hookPath, patientView("demo-control", ""), used); r.Status != 200 {
		t.Fatalf("first use on A: %d", r.Status)
	}
	if r := b.call(t, hookPath, patientView("demo-control", ""), used); r.Status != 401 {
		t.Fatalf("jti replayed on B: %d, want 401", r.Status)
	}
	for _, p := range []*proc{a, b} {
		if strings.Contains(p.out.String(), used) {
			t.Fatal("a replica logged the bearer token")
		}
	}
}

// The binary executes itself once at start so that every thread, the
// runtime's monitor among them, sleeps with BALINT_TIMER_SLACK of slack;
// with 0 it keeps what it inherited.
func TestTimerSlack(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("timer slack is Linux's")
	}
	inherited := readSlack(t, "/proc/self/timerslack_ns")
	for _, tc := range []struct {
		env  string
		want string
	}{
		{"", "1000000"}, // the default, 1ms
		{"BALINT_TIMER_SLACK=250us", "250000"},
		{"BALINT_TIMER_SLACK=0", inherited},
	} {
		t.Run(tc.want, func(t *testing.T) {
			env := []string{"BALINT_DEV=true", "BALINT_SQLITE_PATH=" + filepath.Join(t.TempDir(), "b.db")}
			if tc.env != "" {
				env = append(env, tc.env)
			}
			p := startProc(t, env...)
			tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", p.cmd.Process.Pid))
			if err != nil || len(tasks) < 2 {
				t.Fatalf("threads of %d: %v %v", p.cmd.Process.Pid, tasks, err)
			}
			for _, task := range tasks {
				if got := readSlack(t, "/proc/"+filepath.Base(task)+"/timerslack_ns"); got != tc.want {
					t.Errorf("thread %s: slack %s ns, want %s", filepath.Base(task), got, tc.want)
				}
			}
			if r := p.call(t, "/cds-services/"+advice.ReviewID, patientView("demo-pattern", ""), ""); r.Status != 200 {
				t.Fatalf("hook: %d", r.Status)
			}
		})
	}
}

func readSlack(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
