package agent

import (
	"time"

	"github.com/bpfprof/bpfprof/internal/agentconfig"
)

// Config holds the agent's settings (see agentconfig.Config).
type Config = agentconfig.Config

// Duration is a time.Duration written as "30s" in a config file.
type Duration = agentconfig.Duration

// Defaults of the agent's settings (see package agentconfig).
const (
	DefaultMetricsAddr     = agentconfig.DefaultMetricsAddr
	DefaultFrequency       = agentconfig.DefaultFrequency
	DefaultProfileInterval = agentconfig.DefaultProfileInterval
	DefaultProfileKeep     = agentconfig.DefaultProfileKeep
	DefaultQueue           = agentconfig.DefaultQueue
	DefaultRetries         = agentconfig.DefaultRetries
	DefaultSendTimeout     = agentconfig.DefaultSendTimeout
	DefaultMaxPrograms     = agentconfig.DefaultMaxPrograms
)

// Defaults returns the settings the agent runs with when neither flags nor
// a config file set them.
func Defaults() Config { return agentconfig.Defaults() }

// ParseConfig reads a TOML config file over base: keys it sets replace
// base's, an unknown key or an invalid combination is a one-line error.
func ParseConfig(data []byte, base Config) (Config, error) {
	return agentconfig.ParseConfig(data, base)
}

// minWindow is the least retention of the agent's session.
const minWindow = time.Minute

// sessionWindow is the retention of the agent's live session (session.Options.Window):
// stacks, locations and programs not sampled for two profile intervals (at
// least a minute) are dropped, so that an agent that runs for weeks over
// processes and programs that come and go keeps bounded memory. Two intervals
// keep everything an interval's profile and a scrape's delta need.
func sessionWindow(c Config) time.Duration {
	return max(2*time.Duration(c.ProfileInterval), minWindow)
}
