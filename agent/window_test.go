package agent

import (
	"testing"
	"time"
)

func TestSessionWindow(t *testing.T) {
	for _, tc := range []struct{ interval, want time.Duration }{
		{time.Second, time.Minute},
		{30 * time.Second, time.Minute},
		{DefaultProfileInterval, 2 * DefaultProfileInterval},
		{10 * time.Minute, 20 * time.Minute},
	} {
		cfg := Defaults()
		cfg.ProfileInterval = Duration(tc.interval)
		if got := sessionWindow(cfg); got != tc.want {
			t.Errorf("profile interval %v: window %v, want %v", tc.interval, got, tc.want)
		}
	}
}
