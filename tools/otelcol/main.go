// Command otelcol is an OpenTelemetry Collector for bpfprof's tests: the
// OTLP receiver, and an exporter ("profilefile") that appends every batch
// of profiles it receives to a file as one line of OTLP JSON, for a test to
// read. It lives in a module of its own so that bpfprof's module does not
// carry the collector's dependencies. Run it with
// --feature-gates=service.profilesSupport.
package main

import (
	"context"
	"fmt"
	"os"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/xexporter"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/pdata/pprofile"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/service/telemetry/otelconftelemetry"
)

func main() {
	settings := otelcol.CollectorSettings{
		BuildInfo: component.BuildInfo{Command: "otelcol", Description: "bpfprof test collector", Version: "0.165.0"},
		Factories: factories,
		ConfigProviderSettings: otelcol.ConfigProviderSettings{
			ResolverSettings: confmap.ResolverSettings{
				ProviderFactories: []confmap.ProviderFactory{envprovider.NewFactory(), fileprovider.NewFactory()},
				DefaultScheme:     "env",
			},
		},
	}
	if err := otelcol.NewCommand(settings).Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "otelcol:", err)
		os.Exit(1)
	}
}

func factories() (otelcol.Factories, error) {
	recv := otlpreceiver.NewFactory()
	exp := newFileFactory()
	return otelcol.Factories{
		Receivers: map[component.Type]receiver.Factory{recv.Type(): recv},
		Exporters: map[component.Type]exporter.Factory{exp.Type(): exp},
		Telemetry: otelconftelemetry.NewFactory(),
	}, nil
}

// fileConfig is the profilefile exporter's configuration.
type fileConfig struct {
	// Path is the file the profiles are appended to.
	Path string `mapstructure:"path"`
}

func newFileFactory() xexporter.Factory {
	return xexporter.NewFactory(component.MustNewType("profilefile"),
		func() component.Config { return &fileConfig{} },
		xexporter.WithProfiles(func(_ context.Context, _ exporter.Settings, cfg component.Config) (xexporter.Profiles, error) {
			c := cfg.(*fileConfig)
			if c.Path == "" {
				return nil, fmt.Errorf("profilefile: path is required")
			}
			return &fileExporter{path: c.Path}, nil
		}, component.StabilityLevelDevelopment))
}

// fileExporter appends each batch as one JSON line.
type fileExporter struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

func (e *fileExporter) Start(context.Context, component.Host) error {
	f, err := os.OpenFile(e.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	e.f = f
	return nil
}

func (e *fileExporter) Shutdown(context.Context) error {
	if e.f == nil {
		return nil
	}
	return e.f.Close()
}

func (e *fileExporter) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (e *fileExporter) ConsumeProfiles(_ context.Context, pd pprofile.Profiles) error {
	b, err := (&pprofile.JSONMarshaler{}).MarshalProfiles(pd)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, err := e.f.Write(append(b, '\n')); err != nil {
		return err
	}
	return e.f.Sync()
}
