package main

import (
	"errors"
	"flag"
	"os"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfigureDevelopmentOnlyWhenBare(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		dev  bool
		addr string
	}{
		{"bare go run", nil, true, "127.0.0.1:8080"},
		{"an address given", map[string]string{"BALINT_ADDR": ":8080"}, false, ":8080"},
		{"issuers given", map[string]string{"BALINT_ISSUERS": "testdata/issuers.yaml"}, false, ":8080"},
		{"the image", map[string]string{"BALINT_ADDR": ":8080", "BALINT_DEV": "false"}, false, ":8080"},
		{"explicit", map[string]string{"BALINT_ADDR": ":9000", "BALINT_DEV": "true"}, true, ":9000"},
	}
	for _, tt := range tests {
		cfg, addr, _, err := configure(nil, env(tt.env))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if cfg.Dev != tt.dev || addr != tt.addr {
			t.Errorf("%s: dev=%v addr=%s, want %v %s", tt.name, cfg.Dev, addr, tt.dev, tt.addr)
		}
	}
}

func TestConfigureDefaults(t *testing.T) {
	cfg, addr, _, err := configure(nil, env(map[string]string{"BALINT_ADDR": ":8080"}))
	if err != nil {
		t.Fatal(err)
	}
	if addr != ":8080" || cfg.Dev || cfg.Demo || cfg.HookTimeout != 5*time.Second || cfg.FHIRBudget != 4*time.Second ||
		cfg.BodyLimit != "16M" || cfg.SQLitePath != "balint.db" || !cfg.PublicDiscovery || len(cfg.CORSOrigins) != 0 ||
		cfg.TimerSlack != time.Millisecond {
		t.Fatalf("defaults %+v addr %s", cfg, addr)
	}
}

func TestConfigureFromEnvAndFlags(t *testing.T) {
	cfg, addr, _, err := configure([]string{"--dev", "--addr", "127.0.0.1:9"}, env(map[string]string{
		"BALINT_ADDR": ":7", "BALINT_FHIR_ALLOW": "https://a/fhir, https://b/fhir", "BALINT_HOOK_TIMEOUT": "2s",
		"BALINT_CORS_ORIGINS": "https://sandbox.cds-hooks.org", "BALINT_TRUSTED_PROXIES": "10.0.0.0/8",
		"BALINT_TIMER_SLACK": "0",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if addr != "127.0.0.1:9" || !cfg.Dev || len(cfg.FHIRAllow) != 2 || cfg.HookTimeout != 2*time.Second ||
		cfg.CORSOrigins[0] != "https://sandbox.cds-hooks.org" || len(cfg.TrustedProxies) != 1 || cfg.TimerSlack != 0 {
		t.Fatalf("%+v", cfg)
	}
}

func TestConfigureErrorsNameTheVariable(t *testing.T) {
	for name, value := range map[string]string{
		"BALINT_HOOK_TIMEOUT": "soon", "BALINT_DEV": "maybe", "BALINT_RATE_LIMIT": "-1",
		"BALINT_TRUSTED_PROXIES": "10.0.0.0", "BALINT_ISSUERS": "/nonexistent.yaml", "BALINT_LOG_LEVEL": "loud",
		"BALINT_TIMER_SLACK": "20ms",
	} {
		_, _, _, err := configure(nil, env(map[string]string{name: value}))
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%s: %v", name, value, err)
		}
	}
}

// The README's configuration table lists every variable the code reads.
func TestREADMEListsEveryVariable(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range Env {
		if !strings.Contains(string(readme), "| `"+e.Name+"` |") {
			t.Errorf("README lacks %s", e.Name)
		}
	}
}

// Links lead where the service is served: with an address and no public
// URL, the public URL is that address; a given one always wins.
func TestBaseURLFollowsTheAddress(t *testing.T) {
	tests := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{nil, nil, "http://127.0.0.1:8080"}, // a bare run listens on loopback
		{[]string{"--addr", ":9000"}, nil, "http://localhost:9000"},
		{[]string{"--addr", "127.0.0.1:8091"}, nil, "http://127.0.0.1:8091"},
		{nil, map[string]string{"BALINT_ADDR": "10.0.0.5:8080"}, "http://10.0.0.5:8080"},
		{[]string{"--addr", ":9000"}, map[string]string{"BALINT_BASE_URL": "https://balint.example/"}, "https://balint.example"},
		{[]string{"--addr", ":9000", "--base-url", "https://b.example"}, nil, "https://b.example"},
	}
	for _, tt := range tests {
		cfg, _, _, err := configure(tt.args, func(k string) string { return tt.env[k] })
		if err != nil {
			t.Fatal(err)
		}
		if cfg.BaseURL != tt.want {
			t.Errorf("%v %v: base URL %s, want %s", tt.args, tt.env, cfg.BaseURL, tt.want)
		}
	}
}

// --help prints usage and is not an error; an unknown flag is a usage
// error (exit status 2 in main).
func TestHelpAndUnknownFlags(t *testing.T) {
	if _, _, _, err := configure([]string{"--help"}, func(string) string { return "" }); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	var ue *usageError
	if _, _, _, err := configure([]string{"--bogus"}, func(string) string { return "" }); !errors.As(err, &ue) {
		t.Fatalf("--bogus: %v", err)
	}
	for _, want := range []string{"-addr", "-dev", "BALINT_ISSUERS", "DATABASE_URL", "Example"} {
		if !strings.Contains(usage(), want) {
			t.Errorf("usage lacks %q", want)
		}
	}
}
