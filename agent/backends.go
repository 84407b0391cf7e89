package agent

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"connectrpc.com/connect"
	pushv1 "github.com/grafana/pyroscope/api/gen/proto/go/push/v1"
	"github.com/grafana/pyroscope/api/gen/proto/go/push/v1/pushv1connect"
	typesv1 "github.com/grafana/pyroscope/api/gen/proto/go/types/v1"

	"github.com/bpfprof/bpfprof/internal/outfile"
)

// Resource describes the host profiles come from: OTLP resource attributes,
// Pyroscope labels.
type Resource struct {
	// HostName is host.name, KernelRelease os.version (uname -r),
	// ServiceName service.name.
	HostName, KernelRelease, ServiceName string
	// Version is the agent's version, service.version.
	Version string
}

// OTLPPath is where an OTLP/HTTP receiver takes profiles.
const OTLPPath = "/v1development/profiles"

// OTLPExporter posts profiles to an OpenTelemetry Collector's OTLP/HTTP
// receiver as binary protobuf.
type OTLPExporter struct {
	// URL is the receiver's full URL, ending in OTLPPath.
	URL      string
	Resource Resource
	Client   *http.Client
}

// NewOTLPExporter returns an exporter to the OTLP/HTTP receiver at endpoint
// (a base URL such as http://127.0.0.1:4318).
func NewOTLPExporter(endpoint string, res Resource) *OTLPExporter {
	return &OTLPExporter{
		URL:      strings.TrimSuffix(endpoint, "/") + OTLPPath,
		Resource: res,
		Client:   &http.Client{},
	}
}

// Name implements Exporter.
func (e *OTLPExporter) Name() string { return "otlp" }

// Export implements Exporter.
func (e *OTLPExporter) Export(ctx context.Context, p *Payload) (int, error) {
	raw, err := MarshalOTLP(p, e.Resource)
	if err != nil {
		return 0, err
	}
	// Gzipped, as OTLP/HTTP receivers accept: half the bytes of the
	// protobuf (its string table and samples repeat a lot).
	var body bytes.Buffer
	zw := gzip.NewWriter(&body)
	if _, err := zw.Write(raw); err != nil {
		return 0, err
	}
	if err := zw.Close(); err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.URL, bytes.NewReader(body.Bytes()))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Content-Encoding", "gzip")
	resp, err := e.Client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return 0, fmt.Errorf("POST %s: %s: %s", e.URL, resp.Status, strings.TrimSpace(string(msg)))
	}
	return body.Len(), nil
}

// PyroscopeExporter pushes profiles to a Pyroscope server through its
// push API (/push.v1.PusherService/Push), as gzipped pprof.
type PyroscopeExporter struct {
	client   pushv1connect.PusherServiceClient
	Resource Resource
}

// NewPyroscopeExporter returns an exporter to the Pyroscope server at base
// URL url.
func NewPyroscopeExporter(url string, res Resource) *PyroscopeExporter {
	return &PyroscopeExporter{
		client:   pushv1connect.NewPusherServiceClient(&http.Client{}, strings.TrimSuffix(url, "/")),
		Resource: res,
	}
}

// Name implements Exporter.
func (e *PyroscopeExporter) Name() string { return "pyroscope" }

// PyroscopeProfileName is the __name__ of the pushed series, Pyroscope's
// name for CPU profiles of processes.
const PyroscopeProfileName = "process_cpu"

// Export implements Exporter.
func (e *PyroscopeExporter) Export(ctx context.Context, p *Payload) (int, error) {
	req := &pushv1.PushRequest{Series: []*pushv1.RawProfileSeries{{
		Labels: []*typesv1.LabelPair{
			{Name: "__name__", Value: PyroscopeProfileName},
			{Name: "service_name", Value: e.Resource.ServiceName},
			{Name: "host_name", Value: e.Resource.HostName},
			{Name: "kernel_release", Value: e.Resource.KernelRelease},
		},
		Samples: []*pushv1.RawSample{{RawProfile: p.Gzipped}},
	}}}
	if _, err := e.client.Push(ctx, connect.NewRequest(req)); err != nil {
		return 0, fmt.Errorf("pyroscope push: %w", err)
	}
	return len(p.Gzipped), nil
}

// DirExporter writes each profile to a file of its own in a directory,
// named by the interval's start (bpfprof-20060102T150405Z.pb.gz), and
// removes the oldest beyond Keep.
type DirExporter struct {
	Dir  string
	Keep int
}

// Name implements Exporter.
func (e *DirExporter) Name() string { return "dir" }

const (
	dirPrefix = "bpfprof-"
	dirSuffix = ".pb.gz"
)

// Export implements Exporter.
func (e *DirExporter) Export(_ context.Context, p *Payload) (int, error) {
	name := filepath.Join(e.Dir, dirPrefix+p.Start.UTC().Format("20060102T150405.000Z")+dirSuffix)
	out, err := outfile.Create(name, nil)
	if err != nil {
		return 0, err
	}
	defer out.Abort()
	n, err := out.Commit(func(w io.Writer) error {
		_, err := w.Write(p.Gzipped)
		return err
	})
	if err != nil {
		return 0, err
	}
	return int(n), e.rotate()
}

// rotate removes the oldest profiles beyond Keep. The names sort by time.
func (e *DirExporter) rotate() error {
	entries, err := os.ReadDir(e.Dir)
	if err != nil {
		return err
	}
	var names []string
	for _, d := range entries {
		if n := d.Name(); d.Type().IsRegular() && strings.HasPrefix(n, dirPrefix) && strings.HasSuffix(n, dirSuffix) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for len(names) > e.Keep {
		if err := os.Remove(filepath.Join(e.Dir, names[0])); err != nil && !os.IsNotExist(err) {
			return err
		}
		names = names[1:]
	}
	return nil
}
