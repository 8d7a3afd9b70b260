package evidence

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestToken(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	tok, err := Sign(secret, "snap-1", now, now.Add(10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if id, err := Verify(secret, tok, now.Add(9*time.Minute)); err != nil || id != "snap-1" {
		t.Fatalf("%q %v", id, err)
	}
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.RegisteredClaims{Subject: "snap-1", Audience: jwt.ClaimStrings{audience},
		ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	other, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{Subject: "snap-1", Audience: jwt.ClaimStrings{"elsewhere"},
		ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))}).SignedString(secret)
	noExp, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{Subject: "snap-1", Audience: jwt.ClaimStrings{audience}}).SignedString(secret)
	for name, c := range map[string]struct {
		secret []byte
		tok    string
		at     time.Time
	}{
		"expired":      {secret, tok, now.Add(11 * time.Minute)},
		"other secret": {[]byte("another secret, another instance"), tok, now},
		"alg none":     {secret, none, now},
		"other aud":    {secret, other, now},
		"no exp":       {secret, noExp, now},
		"truncated":    {secret, tok[:len(tok)-3], now},
	} {
		if _, err := Verify(c.secret, c.tok, c.at); !errors.Is(err, ErrToken) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestRender(t *testing.T) {
	now := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	s := Snapshot{Now: now, WindowStart: now.AddDate(-2, 0, 0), WindowMonths: 24, Fired: true,
		Investigations: []Point{
			{Date: now.AddDate(0, -20, 0), Display: "CBC <script>", System: "Blood count", Verdict: "normal", Counted: true},
			{Date: now.AddDate(0, -10, 0), Display: "TSH", System: "Thyroid", Verdict: "abnormal"},
			{Date: now.AddDate(0, -5, 0), Display: "CBC", System: "Blood count", Verdict: "normal", Note: "same test"},
		},
		Encounters: []Tick{{Date: now.AddDate(0, -3, 0), PrimaryCare: true}},
	}
	b, err := Render(s)
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	if n := strings.Count(page, `class="inv verdict-normal counted"`); n != 1 {
		t.Errorf("%d counted marks", n)
	}
	if n := strings.Count(page, "<circle"); n != 3 {
		t.Errorf("%d marks, want 3", n)
	}
	if strings.Contains(page, "<script>") {
		t.Error("display text not escaped")
	}
	if !strings.Contains(page, `class="enc primary-care"`) || strings.Count(page, `<g class="row">`) != 2 {
		t.Error("rows or encounter ticks missing")
	}
}
