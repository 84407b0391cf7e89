package agentconfig

import (
	"strings"
	"testing"
)

// FuzzParseConfig checks that any file either fails with a one-line error
// or gives a configuration that validates.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("frequency = 99\nprofile_interval = \"1m\"\n"))
	f.Add([]byte("metrics_addr = \"127.0.0.1:9464\"\notlp_endpoint = \"http://h:4318\"\n"))
	f.Add([]byte("[x]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig(data, Defaults())
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error of several lines: %q", err)
			}
			if cfg != (Config{}) {
				t.Fatalf("error %v with a config %+v", err, cfg)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("parsed config does not validate: %v", err)
		}
	})
}
