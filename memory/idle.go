package memory

import "runtime/metrics"

// A collection the pacer starts during a call slows that call: with the
// service on one core the collector's worker and its assists take turns
// with it, and most of what it marks is the calls in flight. Started when
// the last call in flight has ended, a collection marks little more than
// the process's baseline and delays no call. So when a release leaves no
// call in flight and most of the heap's room before its next collection
// is used, the gate starts that collection then, a little early. It
// replaces one the pacer would have started soon, so collections come a
// quarter to a third more often, each cheaper (docs/performance.md, issue
// 18, sixth round).
//
// idleShare is how much of the room is used when the gate collects: the
// pacer starts its own collections before the room is spent, and at
// about nine tenths the gate was too late for most of them.
const idleShareNum, idleShareDen = 3, 4

// heapRoom is the heap as the collector paces it: live after the last
// collection, the goal the next one must finish by, and what is allocated
// now (live and dead objects not yet swept).
type heapRoom struct{ live, goal, now uint64 }

// due says whether a collection started now would come at most a quarter
// of the room early.
func (h heapRoom) due() bool {
	if h.goal <= h.live || h.now <= h.live {
		return false
	}
	return (h.now-h.live)*idleShareDen >= (h.goal-h.live)*idleShareNum
}

// collectIfDue starts a collection in the background when one is due and
// none started by the gate is running.
func (g *Gate) collectIfDue() {
	h, ok := g.heap()
	if !ok || !h.due() || !g.collecting.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer g.collecting.Store(false)
		g.collect()
	}()
}

// readHeap reads heapRoom from the runtime; false if this runtime does not
// give all three.
func readHeap() (heapRoom, bool) {
	s := [...]metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/heap/goal:bytes"}, {Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s[:])
	for _, v := range s {
		if v.Value.Kind() != metrics.KindUint64 {
			return heapRoom{}, false
		}
	}
	return heapRoom{live: s[0].Value.Uint64(), goal: s[1].Value.Uint64(), now: s[2].Value.Uint64()}, true
}
