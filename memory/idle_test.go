package memory

import (
	"context"
	"testing"
	"time"
)

// TestCollectsWhenTheLastCallEnds: the gate starts a collection when a
// release leaves no call in flight and three quarters of the heap's room
// before the next collection is used, and only then.
func TestCollectsWhenTheLastCallEnds(t *testing.T) {
	used := func(n uint64) heapRoom { return heapRoom{live: 4 << 20, goal: 20 << 20, now: 4<<20 + n<<20} } // 16 MiB of room
	tests := []struct {
		name    string
		heap    heapRoom
		read    bool // the runtime gives the three figures
		others  int  // calls still in flight when one ends
		running bool // a collection the gate started has not ended
		want    bool
	}{
		{"the last call ends, three quarters of the room used", used(12), true, 0, false, true},
		{"the last call ends, the room spent", used(17), true, 0, false, true},
		{"the last call ends, half the room used", used(8), true, 0, false, false},
		{"another call still in flight", used(14), true, 1, false, false},
		{"the gate's last collection still running", used(14), true, 0, true, false},
		{"the runtime does not give the figures", used(14), false, 0, false, false},
		{"less allocated than was live (swept since)", heapRoom{live: 8 << 20, goal: 20 << 20, now: 6 << 20}, true, 0, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewGate(64<<20, time.Second)
			g.heap = func() (heapRoom, bool) { return tt.heap, tt.read }
			started := make(chan struct{}, 1)
			g.collect = func() { started <- struct{}{} }
			g.collecting.Store(tt.running)
			var tickets []*Ticket
			for range tt.others + 1 {
				tk, err := g.Admit(context.Background(), 1<<20)
				if err != nil {
					t.Fatal(err)
				}
				tickets = append(tickets, tk)
			}
			tickets[0].Release()
			tickets[0].Release() // a second release is not a second call ending
			wait := 50 * time.Millisecond
			if tt.want {
				wait = 5 * time.Second
			}
			got := false
			select {
			case <-started:
				got = true
			case <-time.After(wait):
			}
			if got != tt.want {
				t.Fatalf("collection started: %v, want %v", got, tt.want)
			}
		})
	}
}

// TestReadHeap: this runtime gives the figures the gate paces by.
func TestReadHeap(t *testing.T) {
	h, ok := readHeap()
	if !ok || h.goal == 0 || h.now == 0 || h.live > h.goal {
		t.Fatalf("heap %+v, %v", h, ok)
	}
}
