//go:build !linux

package main

import "time"

// raiseTimerSlack changes nothing: timer slack is Linux's (slack_linux.go).
func raiseTimerSlack(time.Duration) (bool, error) { return false, nil }
