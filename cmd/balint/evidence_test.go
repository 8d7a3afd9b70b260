package main

import (
	"context"
	"encoding/base64"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/balint-health/balint/cdshooks"
)

var countedMark = regexp.MustCompile(`<circle class="inv verdict-normal counted"`)

func evidenceLink(t *testing.T, in *instance, patient string) (string, cdshooks.Card) {
	t.Helper()
	c := in.reviewCards(t, patient)
	if len(c) != 1 || len(c[0].Links) != 1 {
		t.Fatalf("cards %+v", c)
	}
	return c[0].Links[0].URL, c[0]
}

func countedIn(detail string) int { return strings.Count(detail, ", normal\n") }

func TestEvidencePage(t *testing.T) {
	in := start(t, nil)
	link, card := evidenceLink(t, in, "demo-pattern")
	r := do(t, http.MethodGet, link, "")
	if r.Status != 200 || !strings.Contains(r.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("%d %s", r.Status, r.Header.Get("Content-Type"))
	}
	page := string(r.Body)
	if got, want := len(countedMark.FindAllString(page, -1)), countedIn(card.Detail); got != want || want < 3 {
		t.Fatalf("%d counted marks on the page, the card lists %d", got, want)
	}
	for _, absent := range []string{"demo-pattern", "<script", "http://", "https://"} {
		if strings.Contains(strings.ReplaceAll(page, `xmlns="http://www.w3.org/2000/svg"`, ""), absent) {
			t.Errorf("page contains %q (no patient id, scripts or remote resources)", absent)
		}
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	// Two identifiers at the top, so the clinician can confirm the patient.
	if !regexp.MustCompile(`<strong>Patient\d{4} Synthetic</strong> · born \d{4}-\d{2}-\d{2} <span class="check">Check this is your patient.</span>`).MatchString(page) {
		t.Error("the page does not start with the patient's name and birth date")
	}
	if strings.Contains(link, "demo-pattern") {
		t.Errorf("link names the patient: %s", link)
	}
}

func TestEvidenceAsSMARTLink(t *testing.T) {
	in := start(t, func(c *Config) { c.SMARTLaunchURL = "https://apps.hospital.example/balint/launch" })
	c := in.reviewCards(t, "demo-pattern")
	l := c[0].Links[0]
	if l.Type != "smart" || l.URL != "https://apps.hospital.example/balint/launch" || !strings.HasPrefix(l.AppContext, in.URL+"/evidence/") {
		t.Fatalf("link %+v", l)
	}
	if r := do(t, http.MethodGet, l.AppContext, ""); r.Status != 200 {
		t.Fatalf("page from appContext: %d", r.Status)
	}
}

func TestEvidenceTokenRefused(t *testing.T) {
	in := start(t, nil)
	link, _ := evidenceLink(t, in, "demo-pattern")
	tok := link[strings.LastIndex(link, "/")+1:]
	parts := strings.Split(tok, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	forged := strings.Replace(string(payload), `"sub":"`, `"sub":"0`, 1)
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(forged)) + "." + parts[2]
	for name, u := range map[string]string{
		"tampered payload": in.URL + "/evidence/" + tampered,
		"bad signature":    in.URL + "/evidence/" + parts[0] + "." + parts[1] + ".AAAA",
		"garbage":          in.URL + "/evidence/not-a-token",
		"guessable id":     in.URL + "/evidence/1",
	} {
		if r := do(t, http.MethodGet, u, ""); r.Status != http.StatusForbidden {
			t.Errorf("%s: %d", name, r.Status)
		}
	}
	// The link lasts a clinic session (BALINT_EVIDENCE_TTL, 8 hours).
	ttl := defaults(t).EvidenceTTL
	in.Clock.Add(ttl - time.Minute)
	if r := do(t, http.MethodGet, link, ""); r.Status != http.StatusOK {
		t.Errorf("a link a minute before it expires: %d", r.Status)
	}
	in.Clock.Add(2 * time.Minute)
	if r := do(t, http.MethodGet, link, ""); r.Status != http.StatusForbidden {
		t.Errorf("expired link: %d", r.Status)
	}
}

// browser is headless Chromium, started as this machine's probe starts it;
// without it the test skips, or fails with CI=true.
type browser struct {
	t    *testing.T
	bin  string
	dir  string
	args []string
	ctx  context.Context
}

func headless(t *testing.T) *browser {
	t.Helper()
	bin := os.Getenv("BALINT_CHROMIUM")
	if bin == "" {
		bin, _ = exec.LookPath("chromium")
	}
	if bin == "" {
		msg := "chromium not installed (apt-get install chromium; bash scripts/test does it)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	return &browser{t: t, bin: bin, dir: dir, ctx: ctx, args: []string{"--headless", "--no-sandbox", "--disable-gpu",
		"--disable-background-networking", "--no-first-run", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + filepath.Join(dir, "profile"), "--window-size=1000,900"}}
}

// dom is the page at url as the browser rendered it.
func (b *browser) dom(url string) string {
	b.t.Helper()
	out, err := exec.CommandContext(b.ctx, b.bin, append(b.args, "--dump-dom", url)...).Output()
	if err != nil {
		b.t.Fatalf("dump-dom %s: %v", url, err)
	}
	return string(out)
}

// screenshot saves the page at url as name.png (also in
// BALINT_SCREENSHOT_DIR when set) and checks it is a real picture.
func (b *browser) screenshot(url, name string) {
	b.t.Helper()
	shot := filepath.Join(b.dir, name+".png")
	if out, err := exec.CommandContext(b.ctx, b.bin, append(b.args, "--screenshot="+shot, url)...).CombinedOutput(); err != nil {
		b.t.Fatalf("screenshot: %v: %s", err, out)
	}
	if st, err := os.Stat(shot); err != nil || st.Size() < 5000 {
		b.t.Fatalf("screenshot %v (%v)", st, err)
	}
	if out := os.Getenv("BALINT_SCREENSHOT_DIR"); out != "" {
		data, _ := os.ReadFile(shot)
		os.WriteFile(filepath.Join(out, name+".png"), data, 0o644)
	}
}

// The page in a real browser: headless Chromium loads the link from a
// card, takes a screenshot, and the rendered SVG has one filled mark per
// counted investigation.
func TestEvidencePageInChromium(t *testing.T) {
	b := headless(t)
	in := start(t, nil)
	link, card := evidenceLink(t, in, "demo-pattern")
	b.screenshot(link, "evidence")
	dom := b.dom(link)
	if got, want := len(countedMark.FindAllString(dom, -1)), countedIn(card.Detail); got != want {
		t.Fatalf("rendered SVG has %d counted marks, the card lists %d", got, want)
	}
	if !strings.Contains(dom, `<svg id="timeline"`) {
		t.Fatal("no timeline in the rendered page")
	}
	if !strings.Contains(dom, "Check this is your patient.") {
		t.Fatal("the rendered page does not show whose it is")
	}
	// An expired link in the browser is refused too.
	in.Clock.Add(defaults(t).EvidenceTTL + time.Minute)
	if !strings.Contains(b.dom(link), "expired or is not valid") {
		t.Fatal("expired link rendered the page")
	}
}

// What a clinician reads on the page: each encounter tick names its date
// and service, monitoring of known conditions is folded under one line,
// dates do not wrap, and the page prints on A4.
func TestEvidencePageForClinicians(t *testing.T) {
	b := headless(t)
	in := start(t, nil)
	link, _ := evidenceLink(t, in, "demo-diabetes")
	b.screenshot(link, "evidence-monitoring")
	dom := b.dom(link)
	if !regexp.MustCompile(`<summary>\d+ results monitoring known conditions \(not counted\)</summary>`).MatchString(dom) {
		t.Error("monitoring results are not folded under one line")
	}
	if !regexp.MustCompile(`<line class="enc [a-z-]+"[^>]*><title>\d{1,2} [A-Z][a-z]{2} \d{4}: [^<]+</title>`).MatchString(dom) {
		t.Error("encounter ticks do not name their date and service")
	}
	for _, css := range []string{"td.date{white-space:nowrap}", "@page{size:A4"} {
		if !strings.Contains(dom, css) {
			t.Errorf("page lacks %q", css)
		}
	}
}

// /rule in a real browser: the site's numbers and code sets as tables.
func TestRulePageInChromium(t *testing.T) {
	b := headless(t)
	in := start(t, nil)
	b.screenshot(in.URL+"/rule", "rule")
	dom := b.dom(in.URL + "/rule")
	for _, want := range []string{"<table>", "Normal investigations needed", "Active cancer", "policy.yaml"} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered /rule lacks %q", want)
		}
	}
}
