package agent

import (
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	cfg, err := ParseConfig([]byte(`
metrics_addr = "127.0.0.1:9999"
frequency = 99
profile_interval = "30s"
otlp_endpoint = "http://127.0.0.1:4318"
pyroscope_url = "https://pyroscope.example:4040"
profile_dir = "/var/lib/bpfprof"
profile_keep = 3
retries = 0
send_timeout = "2s"
`), Defaults())
	if err != nil {
		t.Fatal(err)
	}
	want := Defaults()
	want.MetricsAddr = "127.0.0.1:9999"
	want.Frequency = 99
	want.ProfileInterval = Duration(30 * time.Second)
	want.OTLPEndpoint = "http://127.0.0.1:4318"
	want.PyroscopeURL = "https://pyroscope.example:4040"
	want.ProfileDir = "/var/lib/bpfprof"
	want.ProfileKeep = 3
	want.Retries = 0
	want.SendTimeout = Duration(2 * time.Second)
	if cfg != want {
		t.Errorf("got %+v\nwant %+v", cfg, want)
	}
	// Keys absent keep the base's values.
	cfg, err = ParseConfig([]byte("frequency = 49\n"), want)
	if err != nil || cfg.Frequency != 49 || cfg.ProfileDir != want.ProfileDir {
		t.Errorf("partial file: %+v, %v", cfg, err)
	}
}

func TestParseConfigErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"frequency = 0", "frequency must be above 0"},
		{"frequency = -1", "config:"},
		{"frequncy = 99", "unknown key frequncy"},
		{`profile_interval = "soon"`, "not a duration"},
		{`profile_interval = "10ms"`, "below 1s"},
		{`metrics_addr = "9464"`, "want host:port"},
		{`otlp_endpoint = "127.0.0.1:4318"`, "want an http:// or https:// URL"},
		{`pyroscope_url = "ftp://x"`, "want an http:// or https:// URL"},
		{"queue = 0", "queue must hold"},
		{"[section]\nx = 1", "unknown key"},
		{"= =", "config:"},
	} {
		_, err := ParseConfig([]byte(tc.in), Defaults())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one containing %q", tc.in, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: error of several lines: %q", tc.in, err)
		}
	}
}
