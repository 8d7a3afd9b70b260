package memory

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestGate(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name string
		// run does its steps on a gate of 40 MiB that queues 20 ms, and
		// says what it found wrong.
		run func(g *Gate) string
	}{
		{"calls within the gate are admitted side by side", func(g *Gate) string {
			a, err1 := g.Admit(context.Background(), 4*mib)
			b, err2 := g.Admit(context.Background(), 5*mib)
			if err1 != nil || err2 != nil || g.Held() != 36*mib {
				return "not both admitted for 36 MiB"
			}
			a.Release()
			b.Release()
			if g.Held() != 0 {
				return "memory held after both released"
			}
			return ""
		}},
		{"a full gate queues, then refuses as busy", func(g *Gate) string {
			a, _ := g.Admit(context.Background(), 8*mib)
			start := time.Now()
			_, err := g.Admit(context.Background(), 3*mib)
			if !errors.Is(err, ErrBusy) || time.Since(start) < 20*time.Millisecond {
				return "not refused as busy after queueing"
			}
			a.Release()
			if _, err := g.Admit(context.Background(), 3*mib); err != nil {
				return "not admitted once room was released"
			}
			return ""
		}},
		{"a queued call is admitted when room is released", func(g *Gate) string {
			a, _ := g.Admit(context.Background(), 8*mib)
			time.AfterFunc(5*time.Millisecond, a.Release)
			if _, err := g.Admit(context.Background(), 8*mib); err != nil {
				return "refused though room came while it queued"
			}
			return ""
		}},
		{"a call larger than the gate is admitted alone", func(g *Gate) string {
			a, err := g.Admit(context.Background(), 100*mib)
			if err != nil || g.Held() != 40*mib {
				return "not admitted alone"
			}
			if _, err := g.Admit(context.Background(), 1); !errors.Is(err, ErrBusy) {
				return "another call admitted beside it"
			}
			a.Release()
			return ""
		}},
		{"growing past the gate fails at once and keeps what was held", func(g *Gate) string {
			a, _ := g.Admit(context.Background(), 2*mib)
			if err := a.Grow(5 * mib); err != nil {
				return "growth within the gate refused"
			}
			start := time.Now()
			if err := a.Grow(5 * mib); !errors.Is(err, ErrBusy) || time.Since(start) > 5*time.Millisecond {
				return "growth past the gate not refused at once"
			}
			if g.Held() != 28*mib {
				return "a refused growth changed what is held"
			}
			a.Release()
			a.Release()
			if g.Held() != 0 {
				return "released twice, or not at all"
			}
			if err := a.Grow(1); !errors.Is(err, ErrBusy) || g.Held() != 0 {
				return "a released ticket grew"
			}
			return ""
		}},
		{"a call without a ticket is never limited", func(g *Gate) string {
			var none *Ticket
			if none.Grow(1<<40) != nil || TicketFrom(context.Background()) != nil {
				return "a nil ticket refused"
			}
			none.Release()
			return ""
		}},
		{"the ticket travels in the context", func(g *Gate) string {
			a, _ := g.Admit(context.Background(), 1)
			if TicketFrom(WithTicket(context.Background(), a)) != a {
				return "ticket lost"
			}
			return ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if wrong := tt.run(NewGate(40*mib, 20*time.Millisecond)); wrong != "" {
				t.Fatal(wrong)
			}
		})
	}
}
