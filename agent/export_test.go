package agent

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/pprof/profile"
	pushv1 "github.com/grafana/pyroscope/api/gen/proto/go/push/v1"
	"github.com/grafana/pyroscope/api/gen/proto/go/push/v1/pushv1connect"
)

// fakeExporter fails while failing is set, blocks while gate is closed.
type fakeExporter struct {
	mu      sync.Mutex
	failing bool
	gate    chan struct{}
	got     []*Payload
	tries   int
}

func (f *fakeExporter) Name() string { return "fake" }

func (f *fakeExporter) Export(ctx context.Context, p *Payload) (int, error) {
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tries++
	if f.failing {
		return 0, errors.New("backend down")
	}
	f.got = append(f.got, p)
	return len(p.Gzipped), nil
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
	}
}

// TestSenderQueueBounded: a backend that hangs holds at most queue
// profiles (plus the one being sent); the oldest are dropped and counted,
// and enqueue never blocks.
func TestSenderQueueBounded(t *testing.T) {
	ex := &fakeExporter{gate: make(chan struct{})}
	s := newSender(ex, 2, 0, time.Hour, slog.New(slog.DiscardHandler))
	pls := make([]*Payload, 6)
	for i := range pls {
		pls[i] = &Payload{Gzipped: []byte{byte(i)}}
		s.enqueue(pls[i])
		if i == 0 {
			// The first is taken by the sending goroutine, which waits.
			waitFor(t, "first profile taken", func() bool { return len(s.q) == 0 })
		}
	}
	st := s.stats()
	if st.Queued != 2 || st.Dropped != 3 {
		t.Errorf("hung backend: %+v, want 2 queued and 3 dropped", st)
	}
	close(ex.gate)
	s.close(10 * time.Second)
	if len(ex.got) != 3 || ex.got[0] != pls[0] || ex.got[1] != pls[4] || ex.got[2] != pls[5] {
		t.Errorf("sent %d profiles, want the first and the two newest", len(ex.got))
	}
	if st := s.stats(); st.Sent != 3 || st.Dropped != 3 || st.Bytes != 3 {
		t.Errorf("after close: %+v", st)
	}
}

// TestSenderRetries: a failing send is tried 1+retries times, then the
// profile is dropped; the next one goes through once the backend is back.
func TestSenderRetries(t *testing.T) {
	ex := &fakeExporter{failing: true}
	s := newSender(ex, 4, 2, time.Second, slog.New(slog.DiscardHandler))
	s.backoff = time.Millisecond
	s.enqueue(&Payload{Gzipped: []byte("a")})
	waitFor(t, "profile dropped", func() bool { return s.stats().Dropped == 1 })
	if st := s.stats(); st.Failures != 3 || st.Sent != 0 {
		t.Errorf("%+v, want 3 failed tries", st)
	}
	ex.mu.Lock()
	ex.failing = false
	ex.mu.Unlock()
	s.enqueue(&Payload{Gzipped: []byte("bb")})
	waitFor(t, "profile sent", func() bool { return s.stats().Sent == 1 })
	s.close(time.Second)
	if st := s.stats(); st.Bytes != 2 || st.Dropped != 1 {
		t.Errorf("%+v", st)
	}
}

// TestSenderCloseGivesUp: close waits no longer than its grace for a
// backend that hangs.
func TestSenderCloseGivesUp(t *testing.T) {
	ex := &fakeExporter{gate: make(chan struct{})}
	s := newSender(ex, 4, 5, time.Hour, slog.New(slog.DiscardHandler))
	s.enqueue(&Payload{})
	s.enqueue(&Payload{})
	s.close(10 * time.Millisecond)
	if st := s.stats(); st.Sent != 0 || st.Dropped != 2 {
		t.Errorf("%+v, want both dropped", st)
	}
}

func TestDirExporterRotates(t *testing.T) {
	dir := t.TempDir()
	// Not ours: never removed.
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ex := &DirExporter{Dir: dir, Keep: 2}
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	pl := testProfile(t)
	for i := range 4 {
		p := *pl
		p.Start = start.Add(time.Duration(i) * time.Minute)
		n, err := ex.Export(context.Background(), &p)
		if err != nil || n != len(pl.Gzipped) {
			t.Fatalf("export %d: %d bytes, %v", i, n, err)
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	want := []string{"bpfprof-20260102T030605.000Z.pb.gz", "bpfprof-20260102T030705.000Z.pb.gz", "notes.txt"}
	if !slices.Equal(names, want) {
		t.Errorf("files %q, want %q", names, want)
	}
	f, err := os.Open(filepath.Join(dir, want[1]))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil || len(p.Sample) != 3 {
		t.Errorf("written profile: %v", err)
	}
}

// pushServer is a Pyroscope push endpoint: the handler of Pyroscope's own
// API module, standing in for the server, which cannot be installed here.
type pushServer struct {
	mu   sync.Mutex
	reqs []*pushv1.PushRequest
	srv  *http.Server
	addr string
}

func (p *pushServer) Push(_ context.Context, req *connect.Request[pushv1.PushRequest]) (*connect.Response[pushv1.PushResponse], error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reqs = append(p.reqs, req.Msg)
	return connect.NewResponse(&pushv1.PushResponse{}), nil
}

func (p *pushServer) received() []*pushv1.PushRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.reqs)
}

// startPushServer serves on addr ("127.0.0.1:0" for any port).
func startPushServer(t *testing.T, p *pushServer, addr string) {
	t.Helper()
	var ln net.Listener
	var err error
	// The port of a server just closed may take a moment to be free.
	for try := 0; try < 100; try++ {
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(pushv1connect.NewPusherServiceHandler(p))
	p.srv = &http.Server{Handler: mux}
	p.addr = ln.Addr().String()
	go p.srv.Serve(ln) //nolint:errcheck // ErrServerClosed
}

func (p *pushServer) stop() { p.srv.Close() }

func TestPyroscopeExporter(t *testing.T) {
	ps := &pushServer{}
	startPushServer(t, ps, "127.0.0.1:0")
	defer ps.stop()
	res := Resource{HostName: "node1", KernelRelease: "6.18.0", ServiceName: "bpfprof"}
	ex := NewPyroscopeExporter("http://"+ps.addr+"/", res)
	pl := testProfile(t)
	n, err := ex.Export(context.Background(), pl)
	if err != nil || n != len(pl.Gzipped) {
		t.Fatalf("%d bytes, %v", n, err)
	}
	reqs := ps.received()
	if len(reqs) != 1 || len(reqs[0].Series) != 1 || len(reqs[0].Series[0].Samples) != 1 {
		t.Fatalf("received %v", reqs)
	}
	ser := reqs[0].Series[0]
	labels := map[string]string{}
	for _, l := range ser.Labels {
		labels[l.Name] = l.Value
	}
	if labels["__name__"] != PyroscopeProfileName || labels["service_name"] != "bpfprof" || labels["host_name"] != "node1" {
		t.Errorf("labels %v", labels)
	}
	if !bytes.Equal(ser.Samples[0].RawProfile, pl.Gzipped) {
		t.Error("raw profile differs from the pprof sent")
	}
	p, err := profile.ParseData(ser.Samples[0].RawProfile)
	if err != nil || len(p.Sample) != 3 {
		t.Errorf("pushed profile does not parse: %v", err)
	}

	// Down: an error, not a hang.
	ps.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := ex.Export(ctx, pl); err == nil {
		t.Error("push to a stopped server succeeded")
	}
}
