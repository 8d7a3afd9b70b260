// Command scanfloor is the floor of balint scan (scripts/scan-bench): it
// reads every line of a Bulk Data export and decodes it into the smallest
// structs the rule needs (floor.Resource), on all cores, and prints the
// resources and the seconds it took.
package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/balint-health/balint/testing/floor"
)

func main() {
	files, _ := filepath.Glob(filepath.Join(os.Args[1], "*.ndjson"))
	start := time.Now()
	lines := make(chan []byte, 1024)
	var n, bad atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for l := range lines {
				if floor.Resource(l) != nil {
					bad.Add(1)
				}
				n.Add(1)
			}
		})
	}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			lines <- append([]byte(nil), sc.Bytes()...)
		}
		fh.Close()
	}
	close(lines)
	wg.Wait()
	fmt.Printf("%d %.3f %d\n", n.Load(), time.Since(start).Seconds(), bad.Load())
}
