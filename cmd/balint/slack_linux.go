//go:build linux

package main

import (
	"fmt"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// raiseTimerSlack makes every thread of the process sleep with at least
// want of timer slack, by executing the binary again, in place, from a
// thread whose slack is want: a thread takes its slack from the thread
// that created it, and the runtime's monitor thread (sysmon) is created
// before any code of ours runs. That thread polls the scheduler every
// 20 µs while calls run, and each wake-up preempts a call on its core: on
// this project's VMs a sixth to a quarter of a typical call's CPU
// (docs/performance.md, seventh round). With the slack the kernel may end
// those sleeps up to want later; the service's own timers (deadlines,
// retry waits) are of tens of milliseconds or more. systemd's
// TimerSlackNSec= sets the same from outside, and a process started with
// that much slack already is not executed again.
//
// It returns whether the slack is in force; on an error the process goes
// on as it was.
func raiseTimerSlack(want time.Duration) (bool, error) {
	if want <= 0 {
		return false, nil
	}
	cur, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil {
		return false, fmt.Errorf("timer slack: %w", err)
	}
	if time.Duration(cur) >= want {
		return true, nil
	}
	// The running file itself, even if its path now names another (an
	// upgrade in place).
	const exe = "/proc/self/exe"
	// The slack set is this thread's, and execve keeps the calling thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(want), 0, 0, 0); err != nil {
		return false, fmt.Errorf("timer slack: %w", err)
	}
	err = unix.Exec(exe, os.Args, os.Environ())
	// Exec returns only when it failed; 0 gives the thread its slack back.
	unix.Prctl(unix.PR_SET_TIMERSLACK, 0, 0, 0, 0)
	return false, fmt.Errorf("timer slack: executing %s again: %w", exe, err)
}
