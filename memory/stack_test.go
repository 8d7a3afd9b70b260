package memory

import "testing"

// deep recurses about as deep as a hook call's decoding, in frames of
// about a hundred bytes.
//
//go:noinline
func deep(n int) int {
	var pad [96]byte
	pad[n%len(pad)] = byte(n)
	if n == 0 {
		return int(pad[0])
	}
	return deep(n-1) + int(pad[n%len(pad)])
}

// BenchmarkGrowStack is a new goroutine that goes about 40 KiB deep, with
// its stack grown by doubling as it goes (doubling) and grown at once
// first (at-once). docs/performance.md has the figures.
func BenchmarkGrowStack(b *testing.B) {
	for _, c := range []struct {
		name string
		grow bool
	}{{"doubling", false}, {"at-once", true}} {
		b.Run(c.name, func(b *testing.B) {
			done := make(chan int)
			for b.Loop() {
				go func() {
					if c.grow {
						GrowStack()
					}
					done <- deep(300)
				}()
				<-done
			}
		})
	}
}
