package evidence

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"sort"
	"time"

	"github.com/balint-health/balint/errs"
)

// Store gives back snapshots not yet expired.
type Store interface {
	Evidence(ctx context.Context, id string, now time.Time) ([]byte, error)
}

// Stored is a snapshot as it is kept, until Expires.
type Stored struct {
	ID      string
	Body    []byte
	Expires time.Time
}

// Pages makes snapshots and links to them, and serves them.
type Pages struct {
	Store  Store
	Secret []byte
	// BaseURL is this service's public URL (links are absolute).
	BaseURL string
	TTL     time.Duration
	Now     func() time.Time
}

// Path is where the page is served; the token follows it.
const Path = "/evidence/"

// Link makes a snapshot's stored form and the signed URL to its page. The
// page is there once the caller has stored it, in the same transaction
// as the cards that link to it (store.DB.Issue).
func (p *Pages) Link(s Snapshot) (Stored, string, error) {
	body, err := json.Marshal(s)
	if err != nil {
		return Stored{}, "", fmt.Errorf("evidence: %w", err)
	}
	idb := make([]byte, 16)
	if _, err := rand.Read(idb); err != nil {
		return Stored{}, "", fmt.Errorf("evidence: id: %w", err)
	}
	id := hex.EncodeToString(idb)
	now := p.Now()
	exp := now.Add(p.TTL)
	tok, err := Sign(p.Secret, id, now, exp)
	if err != nil {
		return Stored{}, "", err
	}
	return Stored{ID: id, Body: body, Expires: exp}, p.BaseURL + Path + tok, nil
}

// Page returns the page a signed link names. A token that is expired,
// tampered with or names no stored snapshot is errs.Forbidden, and looks
// the same whichever it was.
func (p *Pages) Page(ctx context.Context, token string) ([]byte, error) {
	now := p.Now()
	id, err := Verify(p.Secret, token, now)
	if err != nil {
		return nil, errs.Forbidden
	}
	body, err := p.Store.Evidence(ctx, id, now)
	if err != nil {
		return nil, errs.Forbidden
	}
	var s Snapshot
	if err := json.Unmarshal(body, &s); err != nil {
		return nil, fmt.Errorf("evidence: stored snapshot: %w", err)
	}
	return Render(s)
}

// ExpiredPage is shown for a link that no longer works.
const ExpiredPage = `<!doctype html><html lang="en"><meta charset="utf-8"><title>Link expired</title>
<body style="font-family:sans-serif;margin:2rem"><h1>This link has expired or is not valid</h1>
<p>Evidence links work for a few minutes after the card is shown. Open the card again in the record to get a new link.</p></body></html>`

// Layout of the timeline, in SVG user units.
const (
	labelW = 190
	plotW  = 740
	rowH   = 34
	topH   = 40
)

type row struct {
	Name   string
	Y      int
	Points []dot
}

type dot struct {
	X, Y    int
	Class   string
	Fill    string
	Title   string
	Counted bool
}

type tick struct {
	X     int
	Class string
	Title string
}

type gridline struct {
	X     int
	Label string
}

type view struct {
	Snapshot
	Rows      []row
	Ticks     []tick
	Grid      []gridline
	Width     int
	Height    int
	PlotLeft  int
	PlotRight int
	EncY      int
	EncBottom int
	Counted   int
	// Listed are the investigations in the table; Monitoring those of
	// known conditions, folded under one line.
	Listed, Monitoring []Point
}

var colours = map[string]string{"normal": "#2e7d32", "abnormal": "#e65100", "critical": "#b71c1c", "unknown": "#757575"}

// Render draws the page for a snapshot.
func Render(s Snapshot) ([]byte, error) {
	v := view{Snapshot: s, PlotLeft: labelW, PlotRight: labelW + plotW, Width: labelW + plotW + 20}
	span := s.Now.Sub(s.WindowStart)
	x := func(t time.Time) int {
		if span <= 0 {
			return labelW
		}
		f := float64(t.Sub(s.WindowStart)) / float64(span)
		f = max(0, min(1, f))
		return labelW + int(f*plotW)
	}
	bySystem := map[string][]Point{}
	for _, pt := range s.Investigations {
		bySystem[pt.System] = append(bySystem[pt.System], pt)
	}
	names := make([]string, 0, len(bySystem))
	for n := range bySystem {
		names = append(names, n)
	}
	sort.Strings(names)
	for i, n := range names {
		r := row{Name: n, Y: topH + i*rowH + rowH/2}
		for _, pt := range bySystem[n] {
			cls := "inv verdict-" + string(pt.Verdict)
			if pt.Counted {
				cls += " counted"
				v.Counted++
			}
			title := pt.Date.Format("2 Jan 2006") + ": " + pt.Display + " (" + string(pt.Verdict)
			if pt.Note != "" {
				title += "; " + pt.Note
			}
			r.Points = append(r.Points, dot{X: x(pt.Date), Y: r.Y, Class: cls, Fill: colours[string(pt.Verdict)], Title: title + ")", Counted: pt.Counted})
		}
		v.Rows = append(v.Rows, r)
	}
	v.EncY = topH + len(names)*rowH + 10
	v.EncBottom = v.EncY + 20
	for _, e := range s.Encounters {
		cls, what := "enc specialist", e.Specialty
		if e.PrimaryCare {
			cls = "enc primary-care"
		}
		if what == "" {
			what = "encounter"
		}
		v.Ticks = append(v.Ticks, tick{X: x(e.Date), Class: cls, Title: e.Date.Format("2 Jan 2006") + ": " + what})
	}
	for _, pt := range s.Investigations {
		if pt.Monitoring {
			v.Monitoring = append(v.Monitoring, pt)
		} else {
			v.Listed = append(v.Listed, pt)
		}
	}
	for t := time.Date(s.WindowStart.Year(), s.WindowStart.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, 1, 0); t.Before(s.Now); t = t.AddDate(0, 1, 0) {
		if t.Month()%3 == 1 {
			v.Grid = append(v.Grid, gridline{X: x(t), Label: t.Format("Jan 06")})
		}
	}
	v.Height = v.EncY + 50
	var b bytes.Buffer
	if err := page.Execute(&b, v); err != nil {
		return nil, fmt.Errorf("evidence: render: %w", err)
	}
	return b.Bytes(), nil
}

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Balint: investigations timeline</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:1.5rem;color:#212121;max-width:1000px}
h1{font-size:1.3rem}.muted{color:#555}.legend span{margin-right:1.2rem}
svg text{font-size:12px;fill:#333}.grid{stroke:#e0e0e0}.window{stroke:#1565c0;stroke-dasharray:4 3}
.enc.primary-care{stroke:#6a1b9a}.enc.specialist{stroke:#00838f}
table{border-collapse:collapse;margin-top:1rem}td,th{border-bottom:1px solid #ddd;padding:.25rem .6rem;text-align:left;font-size:.9rem}
td.date{white-space:nowrap}.patient{font-size:1.1rem}.check{color:#555;font-size:.9rem;margin-left:.5rem}
@page{size:A4;margin:15mm}
@media print{body{margin:0;max-width:none}svg{max-width:100%;height:auto}details.monitoring{display:block}details.monitoring>summary{list-style:none}}
</style></head><body>
<p class="patient">{{if .Patient.Name}}<strong>{{.Patient.Name}}</strong>{{else}}<strong>Name not recorded</strong>{{end}} · born {{if .Patient.BirthDate}}{{.Patient.BirthDate}}{{else}}(not recorded){{end}} <span class="check">Check this is your patient.</span></p>
<h1>Investigations in the last {{.WindowMonths}} months</h1>
<p class="muted">{{if .Fired}}The card fired on the {{.Counted}} filled dots.{{else}}The rule did not fire.{{end}}
Filled dots counted toward the rule; rings did not (repeat within the window, monitoring, or not final).
Normal results do not mean the symptoms are not real.</p>
<p class="legend"><span style="color:#2e7d32">● normal</span><span style="color:#e65100">● abnormal</span><span style="color:#b71c1c">● critical</span><span style="color:#757575">● unknown</span><span style="color:#6a1b9a">| primary care</span><span style="color:#00838f">| specialist</span></p>
<svg id="timeline" xmlns="http://www.w3.org/2000/svg" width="{{.Width}}" height="{{.Height}}" viewBox="0 0 {{.Width}} {{.Height}}" role="img" aria-label="Timeline of investigations">
{{range .Grid}}<line class="grid" x1="{{.X}}" x2="{{.X}}" y1="20" y2="{{$.Height}}"/><text x="{{.X}}" y="14" text-anchor="middle">{{.Label}}</text>
{{end}}<line class="window" x1="{{.PlotLeft}}" x2="{{.PlotLeft}}" y1="20" y2="{{.Height}}"/><text x="{{.PlotLeft}}" y="{{.Height}}" dy="-4" dx="4">window start</text>
{{range .Rows}}<g class="row"><text x="4" y="{{.Y}}" dy="4">{{.Name}}</text><line class="grid" x1="{{$.PlotLeft}}" x2="{{$.PlotRight}}" y1="{{.Y}}" y2="{{.Y}}"/>
{{range .Points}}<circle class="{{.Class}}" cx="{{.X}}" cy="{{.Y}}" r="7" {{if .Counted}}fill="{{.Fill}}"{{else}}fill="white" stroke="{{.Fill}}" stroke-width="2"{{end}}><title>{{.Title}}</title></circle>
{{end}}</g>
{{end}}<text x="4" y="{{.EncY}}" dy="10">Encounters</text>
{{range .Ticks}}<line class="{{.Class}}" x1="{{.X}}" x2="{{.X}}" y1="{{$.EncY}}" y2="{{$.EncBottom}}" stroke-width="2"><title>{{.Title}}</title></line>
{{end}}</svg>
<h2>Rule</h2><ul>{{range .Criteria}}<li>{{.}}</li>{{end}}</ul>
{{if .Specialties}}<h2>Specialties</h2><ul>{{range .Specialties}}<li>{{.}}</li>{{end}}</ul>{{end}}
<h2>Investigations</h2><table><tr><th>Date</th><th>Test</th><th>System</th><th>Result</th><th>Counted</th></tr>
{{range .Listed}}<tr><td class="date">{{.Date.Format "2 Jan 2006"}}</td><td>{{.Display}}</td><td>{{.System}}</td><td>{{.Verdict}}</td><td>{{if .Counted}}yes{{else}}no{{if .Note}} ({{.Note}}){{end}}{{end}}</td></tr>
{{end}}</table>
{{if .Monitoring}}<details class="monitoring"><summary>{{len .Monitoring}} results monitoring known conditions (not counted)</summary><table>
{{range .Monitoring}}<tr><td class="date">{{.Date.Format "2 Jan 2006"}}</td><td>{{.Display}}</td><td>{{.System}}</td><td>{{.Verdict}}</td></tr>
{{end}}</table></details>{{end}}
</body></html>
`))
