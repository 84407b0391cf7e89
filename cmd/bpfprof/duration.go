package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// parseDuration parses a duration as every bpfprof command takes it: a Go
// duration ("5s", "1m30s", "250ms") or a plain number of seconds ("5",
// "2.5"). It must be positive.
func parseDuration(s string) (time.Duration, error) {
	d, err := parseAnyDuration(s)
	if err == nil && d <= 0 {
		return 0, fmt.Errorf("duration %q is not positive", strings.TrimSpace(s))
	}
	return d, err
}

// parseAnyDuration parses a duration as parseDuration does, zero and
// negative ones included.
func parseAnyDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty duration; give seconds (5) or a Go duration (1m30s)")
	}
	var d time.Duration
	if secs, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(secs) || math.IsInf(secs, 0) || secs > math.MaxInt64/float64(time.Second) {
			return 0, fmt.Errorf("duration %q is out of range", s)
		}
		d = time.Duration(secs * float64(time.Second))
	} else {
		d, err = time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("bad duration %q; give seconds (5) or a Go duration (1m30s)", s)
		}
	}
	return d, nil
}
