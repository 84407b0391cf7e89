package agent

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"
	"go.opentelemetry.io/collector/pdata/pprofile"
	"go.opentelemetry.io/collector/pdata/pprofile/pprofileotlp"

	"github.com/bpfprof/bpfprof/pprof"
)

// testProfile is a small profile: two BPF lines and a kernel frame, with
// labels, as pprof.Build makes them.
func testProfile(t *testing.T) *Payload {
	t.Helper()
	m := &profile.Mapping{ID: 1, Start: 0x1000, Limit: 0x2000, File: "[bpf]"}
	hot := &profile.Function{ID: 1, Name: "hot_loop", SystemName: "bpf_prog_abc_hot_loop", Filename: "testdata/hot.bpf.c", StartLine: 10}
	kern := &profile.Function{ID: 2, Name: "__sys_bpf", Filename: "[kernel.kallsyms]"}
	l1 := &profile.Location{ID: 1, Mapping: m, Address: 0x1010, Line: []profile.Line{{Function: hot, Line: 20}}}
	l2 := &profile.Location{ID: 2, Mapping: m, Address: 0x1020, Line: []profile.Line{{Function: hot, Line: 21}}}
	l3 := &profile.Location{ID: 3, Mapping: m, Address: 0x1500, Line: []profile.Line{{Function: kern}}}
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		PeriodType: &profile.ValueType{Type: "cpu", Unit: "nanoseconds"},
		Period:     10101010,
		Mapping:    []*profile.Mapping{m},
		Function:   []*profile.Function{hot, kern},
		Location:   []*profile.Location{l1, l2, l3},
		Sample: []*profile.Sample{
			{Location: []*profile.Location{l1, l3}, Value: []int64{7, 70}, Label: map[string][]string{pprof.LabelProgName: {"hot_loop"}}, NumLabel: map[string][]int64{pprof.LabelProgID: {42}}},
			{Location: []*profile.Location{l2, l3}, Value: []int64{2, 20}, NumLabel: map[string][]int64{pprof.LabelProgID: {42}}},
			{Location: []*profile.Location{l3}, Value: []int64{1, 10}},
		},
	}
	if err := p.CheckValid(); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := pprof.Write(&buf, p); err != nil {
		t.Fatal(err)
	}
	start := time.Unix(1700000000, 0)
	return &Payload{Profile: p, Gzipped: buf.Bytes(), Start: start, End: start.Add(time.Minute)}
}

// TestOTLPRoundTrip converts a profile to OTLP, encodes and decodes it as
// a collector would, and finds the same samples, lines and attributes.
func TestOTLPRoundTrip(t *testing.T) {
	pl := testProfile(t)
	res := Resource{HostName: "node1", KernelRelease: "6.18.0", ServiceName: "bpfprof", Version: "v1"}
	body, err := MarshalOTLP(pl, res)
	if err != nil {
		t.Fatal(err)
	}
	req := pprofileotlp.NewExportRequest()
	if err := req.UnmarshalProto(body); err != nil {
		t.Fatal(err)
	}
	pd := req.Profiles()
	if n := pd.ProfileCount(); n != 2 {
		t.Fatalf("%d profiles, want one per sample type (2)", n)
	}
	attrs := pd.ResourceProfiles().At(0).Resource().Attributes()
	for k, want := range map[string]string{"host.name": "node1", "os.version": "6.18.0", "service.name": "bpfprof", "service.version": "v1"} {
		if v, ok := attrs.Get(k); !ok || v.Str() != want {
			t.Errorf("resource %s = %v, want %q", k, v.AsString(), want)
		}
	}
	dict := pd.Dictionary()
	strs := dict.StringTable()
	if strs.At(0) != "" || dict.StackTable().At(0).LocationIndices().Len() != 0 {
		t.Error("index 0 of the tables is not the zero value")
	}
	prof := pd.ResourceProfiles().At(0).ScopeProfiles().At(0).Profiles().At(1)
	if got := strs.At(int(prof.SampleType().TypeStrindex())); got != "cpu" {
		t.Errorf("second profile's sample type %q, want cpu", got)
	}
	if prof.DurationNano() != uint64(time.Minute) || prof.Time().AsTime() != pl.Start.UTC() {
		t.Errorf("time %v duration %d", prof.Time().AsTime(), prof.DurationNano())
	}
	lines := LeafLines(pd, 1, nil)
	if len(lines) != 3 || lines[0] != (LineCount{Function: "hot_loop", File: "testdata/hot.bpf.c", Line: 20, Value: 70}) ||
		lines[1].Line != 21 || lines[1].Value != 20 || lines[2].Function != "__sys_bpf" {
		t.Errorf("leaf lines %+v", lines)
	}
	only42 := LeafLines(pd, 0, func(attrs map[string]any) bool { return attrs[pprof.LabelProgID] == int64(42) })
	if len(only42) != 2 || only42[0].Value != 7 || only42[1].Value != 2 {
		t.Errorf("lines of program 42: %+v", only42)
	}
	// The JSON a collector's exporter writes decodes to the same.
	js, err := (&pprofile.JSONMarshaler{}).MarshalProfiles(pd)
	if err != nil {
		t.Fatal(err)
	}
	back, err := (&pprofile.JSONUnmarshaler{}).UnmarshalProfiles(js)
	if err != nil {
		t.Fatal(err)
	}
	if got := LeafLines(back, 1, nil); len(got) != 3 || got[0] != lines[0] {
		t.Errorf("after JSON: %+v", got)
	}
}

// TestOTLPExporter posts to an OTLP/HTTP endpoint as a collector's receiver
// takes it: protobuf, gzipped, at /v1development/profiles.
func TestOTLPExporter(t *testing.T) {
	var got pprofile.Profiles
	var gotPath, gotType string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath, gotType = r.URL.Path, r.Header.Get("Content-Type")
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		b, err := io.ReadAll(zr)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req := pprofileotlp.NewExportRequest()
		if err := req.UnmarshalProto(b); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		got = req.Profiles()
	}))
	defer srv.Close()
	ex := NewOTLPExporter(srv.URL+"/", Resource{ServiceName: "bpfprof"})
	n, err := ex.Export(context.Background(), testProfile(t))
	if err != nil || n == 0 {
		t.Fatalf("%d bytes, %v", n, err)
	}
	if gotPath != OTLPPath || gotType != "application/x-protobuf" || got.SampleCount() != 6 {
		t.Errorf("path %q, type %q, %d samples", gotPath, gotType, got.SampleCount())
	}
	// A receiver's refusal is an error with its status.
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "profiles not enabled", http.StatusNotFound)
	}))
	defer bad.Close()
	if _, err := NewOTLPExporter(bad.URL, Resource{}).Export(context.Background(), testProfile(t)); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("refused: %v", err)
	}
}
