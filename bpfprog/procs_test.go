package bpfprog

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestParseFDInfo(t *testing.T) {
	tests := []struct {
		file string
		want FDInfo
	}{
		{"prog.txt", FDInfo{Object: FDProg, ProgID: 2410, HasProgID: true, Memlock: 4096, HasMemlock: true}},
		// Links list the program they run (Linux 5.7+).
		{"link-perf.txt", FDInfo{Object: FDLink, ProgID: 2410, HasProgID: true, LinkID: 119, HasLinkID: true}},
		// Older kernels, or links without a program, give only link_id.
		{"link-without-prog-id.txt", FDInfo{Object: FDLink, LinkID: 7, HasLinkID: true}},
		// A map has memlock but no program.
		{"map.txt", FDInfo{Object: FDMap, Memlock: 82960, HasMemlock: true}},
		{"stats.txt", FDInfo{}},
		// Bad numbers and lines without a colon are skipped; an ID
		// beyond 32 bits is not an ID.
		{"garbage.txt", FDInfo{}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata", "fdinfo", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, err := ParseFDInfo(f)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("ParseFDInfo = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseFDInfoNoTrailingNewline(t *testing.T) {
	got, err := ParseFDInfo(strings.NewReader("memlock:\t8192\nprog_id:\t5"))
	if err != nil {
		t.Fatal(err)
	}
	want := FDInfo{ProgID: 5, HasProgID: true, Memlock: 8192, HasMemlock: true}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func FuzzParseFDInfo(f *testing.F) {
	for _, name := range []string{"prog.txt", "link-perf.txt", "garbage.txt"} {
		raw, err := os.ReadFile(filepath.Join("testdata", "fdinfo", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		fi, err := ParseFDInfo(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		if !fi.HasProgID && fi.ProgID != 0 || !fi.HasLinkID && fi.LinkID != 0 || !fi.HasMemlock && fi.Memlock != 0 {
			t.Errorf("value without Has flag: %+v", fi)
		}
	})
}

// fakeProc builds a /proc-like tree: fds maps a pid to its fds, each with
// the symlink target and the fdinfo text.
type fakeFD struct {
	target string
	fdinfo string
}

func fakeProc(t *testing.T, comms map[string]string, fds map[string]map[string]fakeFD) string {
	t.Helper()
	root := t.TempDir()
	mustDo := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for pid, comm := range comms {
		dir := filepath.Join(root, pid)
		mustDo(os.MkdirAll(filepath.Join(dir, "fd"), 0o755))
		mustDo(os.MkdirAll(filepath.Join(dir, "fdinfo"), 0o755))
		mustDo(os.WriteFile(filepath.Join(dir, "comm"), []byte(comm+"\n"), 0o644))
		for fd, f := range fds[pid] {
			mustDo(os.Symlink(f.target, filepath.Join(dir, "fd", fd)))
			mustDo(os.WriteFile(filepath.Join(dir, "fdinfo", fd), []byte(f.fdinfo), 0o644))
		}
	}
	// Not processes: skipped.
	mustDo(os.MkdirAll(filepath.Join(root, "self"), 0o755))
	mustDo(os.WriteFile(filepath.Join(root, "uptime"), []byte("1 2\n"), 0o644))
	// A process that has gone: no fd directory.
	mustDo(os.MkdirAll(filepath.Join(root, "999"), 0o755))
	return root
}

func TestScanProcs(t *testing.T) {
	progFD := func(id, memlock string) fakeFD {
		return fakeFD{anonProg, "pos:\t0\nprog_type:\t1\nmemlock:\t" + memlock + "\nprog_id:\t" + id + "\n"}
	}
	root := fakeProc(t,
		map[string]string{"10": "loader", "20": "agent", "30": "bash"},
		map[string]map[string]fakeFD{
			"10": {
				"3": progFD("7", "4096"),
				"4": progFD("7", "4096"), // same program twice: one entry
				"5": progFD("8", "8192"),
				"6": {"anon_inode:bpf-map", "map_id:\t3\nmemlock:\t320\n"},
			},
			"20": {
				// A link naming its program: the holder counts for it.
				"7": {anonLink, "link_type:\tperf\nlink_id:\t50\nprog_id:\t8\n"},
				// A link that does not: resolved through the link list.
				"8": {anonLink, "link_type:\traw_tracepoint\nlink_id:\t51\n"},
				"9": {"/dev/null", "pos:\t0\n"},
			},
			"30": {
				"0": {"/dev/pts/0", "pos:\t0\n"},
			},
		})
	h, err := scanProcs(root, 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	loader, agent := Proc{PID: 10, Comm: "loader"}, Proc{PID: 20, Comm: "agent"}
	wantProgs := map[ID][]Proc{7: {loader}, 8: {loader, agent}}
	if !reflect.DeepEqual(sortedProcs(h.progs), wantProgs) {
		t.Errorf("progs = %v, want %v", h.progs, wantProgs)
	}
	if want := map[uint32][]Proc{51: {agent}}; !reflect.DeepEqual(h.links, want) {
		t.Errorf("links = %v, want %v", h.links, want)
	}
	if want := map[ID]uint64{7: 4096, 8: 8192}; !reflect.DeepEqual(h.memlock, want) {
		t.Errorf("memlock = %v, want %v", h.memlock, want)
	}

	// join maps the link-only holder to the link's program.
	progs := []Program{{ID: 7}, {ID: 8}, {ID: 9}}
	join(progs, h, []Attach{{LinkID: 51, ProgID: 9}, {LinkID: 50, ProgID: 8}})
	if want := []Proc{agent}; !reflect.DeepEqual(progs[2].Procs, want) {
		t.Errorf("program 9 procs = %v, want %v", progs[2].Procs, want)
	}
	if want := []Proc{loader, agent}; !reflect.DeepEqual(progs[1].Procs, want) {
		t.Errorf("program 8 procs = %v, want %v", progs[1].Procs, want)
	}
}

func sortedProcs(m map[ID][]Proc) map[ID][]Proc {
	out := map[ID][]Proc{}
	for id, procs := range m {
		p := slices.Clone(procs)
		slices.SortFunc(p, func(a, b Proc) int { return a.PID - b.PID })
		out[id] = p
	}
	return out
}

func TestScanProcsMissingRoot(t *testing.T) {
	if _, err := scanProcs(filepath.Join(t.TempDir(), "nope"), 1, 0); err == nil {
		t.Error("scanProcs of a missing directory: no error")
	}
}

// A process with more fds than one chunk is spread over the workers.
func TestScanProcsManyFDs(t *testing.T) {
	fds := map[string]fakeFD{}
	for i := range 3*fdChunkSize + 5 {
		fds[strconv.Itoa(i)] = fakeFD{anonProg, "prog_type:\t1\nmemlock:\t4096\nprog_id:\t" + strconv.Itoa(1000+i) + "\n"}
	}
	// Other fds among them, read as fdinfo once the process is known to
	// be mostly BPF fds: a map (memlock, no program) and a file.
	fds["1000"] = fakeFD{"anon_inode:bpf-map", "map_type:\t1\nmemlock:\t320\nmap_id:\t3\n"}
	fds["1001"] = fakeFD{"/dev/null", "pos:\t0\nflags:\t02\n"}
	fds["1002"] = fakeFD{anonLink, "link_type:\tperf\nlink_id:\t9\nprog_id:\t1003\n"}
	root := fakeProc(t, map[string]string{"7": "holder"}, map[string]map[string]fakeFD{"7": fds})
	for _, workers := range []int{1, 2, 8} {
		h, err := scanProcs(root, workers, 0)
		if err != nil {
			t.Fatal(err)
		}
		const progs = 3*fdChunkSize + 5
		if len(h.progs) != progs || len(h.memlock) != progs {
			t.Errorf("%d workers: %d programs, %d memlocks, want %d", workers, len(h.progs), len(h.memlock), progs)
		}
		for id, procs := range h.progs {
			if len(procs) != 1 || procs[0] != (Proc{PID: 7, Comm: "holder"}) {
				t.Errorf("%d workers: program %d held by %v", workers, id, procs)
			}
		}
	}
}

// A scan is done only once every process and chunk has been scanned, and
// close releases the fd directories of chunks no worker took.
func TestProcScanSteps(t *testing.T) {
	fds := map[string]fakeFD{}
	for i := range 3*fdChunkSize + 5 {
		fds[strconv.Itoa(i)] = fakeFD{anonProg, "prog_type:\t1\nmemlock:\t4096\nprog_id:\t" + strconv.Itoa(1000+i) + "\n"}
	}
	root := fakeProc(t, map[string]string{"7": "holder"}, map[string]map[string]fakeFD{"7": fds})
	openFDs := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	before := openFDs()

	// Stopped once the holder's first chunk is scanned: its other chunks
	// are left.
	ps := newProcScan(root, 0)
	s := newProcScanner()
	for len(ps.queued) == 0 {
		if !ps.step(s) {
			t.Fatal("scan ended without reaching the holder")
		}
	}
	if len(ps.queued) != 3 || ps.done() {
		t.Errorf("%d chunks queued, done %v; want 3, not done", len(ps.queued), ps.done())
	}
	ps.close()
	if n := openFDs(); n != before {
		t.Errorf("%d fds open after close, %d before", n, before)
	}

	// Run to the end.
	ps = newProcScan(root, 0)
	s = newProcScanner()
	steps := 0
	for ps.step(s) {
		steps++
	}
	// Every name in the directory (some are not processes) and 3 chunks.
	if want := len(ps.names) + 3; steps != want || !ps.done() {
		t.Errorf("%d steps, done %v; want %d steps, done", steps, ps.done(), want)
	}
	ps.close()
	if len(s.h.progs) != 3*fdChunkSize+5 {
		t.Errorf("%d programs found", len(s.h.progs))
	}
	if n := openFDs(); n != before {
		t.Errorf("%d fds open after the scan, %d before", n, before)
	}

	// A proc mount that cannot be listed: the first step says so.
	ps = newProcScan(filepath.Join(t.TempDir(), "nope"), 0)
	if ps.step(newProcScanner()) || !ps.done() || ps.err == nil {
		t.Errorf("scan of a missing directory: err %v, done %v", ps.err, ps.done())
	}
	ps.close()
}

func TestReadShort(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w.WriteString("link_id:\t7\nprog_id:\t12345\n")
	w.Close()
	// A file longer than the buffer is cut after its last whole line.
	got, ok := readShort(int(r.Fd()), make([]byte, 20))
	if !ok || string(got) != "link_id:\t7\n" {
		t.Errorf("readShort = %q, %v", got, ok)
	}
}

// scanProcs runs a whole procScan as List does: it reads, for every process under procRoot (normally "/proc"),
// which BPF programs and links its file descriptors hold. Processes that
// exit during the scan or whose fds cannot be read are skipped: without
// root only the caller's own processes show.
//
// It runs once per listing over every fd on the machine, so it uses raw
// syscalls, one readlink per fd, and reads fdinfo only for BPF fds; and it
// spreads the fds over workers goroutines in chunks, as one process may
// hold thousands of them.
//
// The process with PID skip, if any, is left out.
func scanProcs(procRoot string, workers int, skip int) (*holders, error) {
	ps := newProcScan(procRoot, skip)
	h := runScan(ps, workers)
	if ps.err != nil {
		return nil, ps.err
	}
	return h, nil
}
