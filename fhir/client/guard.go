package client

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/balint-health/balint/fhir"
)

// Guard is the SSRF allowlist: a FHIR server base is accepted only when its
// scheme and host equal an allowed base's and its path lies under that
// base's path. https is required except for loopback hosts, which are
// accepted only with AllowLoopback (tests, the local demo).
type Guard struct {
	bases         []*url.URL
	AllowLoopback bool
	// AnyLoopback accepts every loopback server, allowlisted or not
	// (development mode only).
	AnyLoopback bool
}

// NewGuard parses the allowed bases (e.g. from BALINT_FHIR_ALLOW).
func NewGuard(bases []string, allowLoopback bool) (*Guard, error) {
	g := &Guard{AllowLoopback: allowLoopback}
	for _, b := range bases {
		b = strings.TrimSpace(b)
		if b == "" {
			continue
		}
		u, err := url.Parse(b)
		if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			return nil, fmt.Errorf("allowed FHIR base %q: must be an absolute http(s) URL", b)
		}
		if u.Scheme == "http" && !isLoopback(u.Hostname()) {
			return nil, fmt.Errorf("allowed FHIR base %q: https is required except for loopback", b)
		}
		if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return nil, fmt.Errorf("allowed FHIR base %q: must have no query, fragment or credentials", b)
		}
		u.Path = strings.TrimSuffix(u.Path, "/")
		g.bases = append(g.bases, u)
	}
	return g, nil
}

// Check returns nil when raw may be requested.
func (g *Guard) Check(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("not an absolute URL")
	}
	if u.User != nil {
		return fmt.Errorf("URL carries credentials")
	}
	loop := isLoopback(u.Hostname())
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && loop && g.AllowLoopback:
	default:
		return fmt.Errorf("scheme %s not allowed for this host", u.Scheme)
	}
	if loop && !g.AllowLoopback {
		return fmt.Errorf("loopback servers are not allowed")
	}
	if loop && g.AnyLoopback {
		return nil
	}
	for _, b := range g.bases {
		if fhir.UnderBase(u, b) {
			return nil
		}
	}
	return fmt.Errorf("server is not on the allowlist")
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
