package bpfprog

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bpfprof/bpfprof/internal/bpfabi"
	"golang.org/x/sys/unix"
)

var (
	update  = flag.Bool("update", false, "rewrite golden files in testdata/")
	capture = flag.Bool("capture", false, "capture testdata/linkinfo/*.txt from links made on this kernel (root)")
)

// A link info fixture is the struct bpf_link_info bytes the kernel returned
// for a real link, and the name it copied out, as text:
//
//	# how the link was made
//	raw <hex>
//	name <string>
type linkFixture struct {
	comment string
	raw     []byte
	name    []byte
}

func readLinkFixture(path string) (linkFixture, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return linkFixture{}, err
	}
	var f linkFixture
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "#"):
			f.comment += line + "\n"
		case strings.HasPrefix(line, "raw "):
			if f.raw, err = hex.DecodeString(strings.TrimPrefix(line, "raw ")); err != nil {
				return f, fmt.Errorf("%s: %w", path, err)
			}
		case strings.HasPrefix(line, "name "):
			f.name = []byte(strings.TrimPrefix(line, "name "))
		}
	}
	return f, sc.Err()
}

func writeLinkFixture(path string, f linkFixture) error {
	var b bytes.Buffer
	b.WriteString(f.comment)
	fmt.Fprintf(&b, "raw %s\n", hex.EncodeToString(f.raw))
	if f.name != nil {
		fmt.Fprintf(&b, "name %s\n", unix.ByteSliceToString(f.name))
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// TestParseLinkInfo decodes link infos captured from real links (see
// TestCaptureLinkInfo) and compares description and JSON with
// testdata/TestParseLinkInfo.golden.
func TestParseLinkInfo(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "linkinfo", "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no fixtures in testdata/linkinfo")
	}
	slices.Sort(paths)
	var out bytes.Buffer
	for _, path := range paths {
		f, err := readLinkFixture(path)
		if err != nil {
			t.Fatal(err)
		}
		a, err := ParseLinkInfo(f.raw, f.name)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		a.Description = a.Describe()
		js, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&out, "%s\n\t%s\n\t%s\n", filepath.Base(path), a.Description, js)
	}
	golden := filepath.Join("testdata", t.Name()+".golden")
	if *update {
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Errorf("link infos differ from %s (run with -update if intended):\n got:\n%s\nwant:\n%s", golden, out.Bytes(), want)
	}
}

// linkInfoBytes builds a struct bpf_link_info: type, id, prog_id and union
// fields at their offsets, for link types this machine cannot make.
func linkInfoBytes(typ LinkType, fields map[int]any) []byte {
	raw := make([]byte, bpfabi.LinkInfoSize)
	bo := binary.NativeEndian
	bo.PutUint32(raw[0:], uint32(typ))
	bo.PutUint32(raw[4:], 3)
	bo.PutUint32(raw[8:], 42)
	for off, v := range fields {
		switch v := v.(type) {
		case uint32:
			bo.PutUint32(raw[off:], v)
		case int32:
			bo.PutUint32(raw[off:], uint32(v))
		case uint64:
			bo.PutUint64(raw[off:], v)
		}
	}
	return raw
}

// Link types that need hardware, kprobes or kernel modules this machine
// lacks, from layouts in include/uapi/linux/bpf.h.
func TestParseLinkInfoSynthetic(t *testing.T) {
	tests := []struct {
		name string
		raw  []byte
		str  string
		want string
	}{
		{"kprobe", linkInfoBytes(LinkPerfEvent, map[int]any{16: uint32(PerfEventKprobe), 36: uint32(0x10), 40: uint64(0xffffffff81000000)}),
			"do_sys_open", "kprobe do_sys_open+0x10"},
		{"kretprobe by address", linkInfoBytes(LinkPerfEvent, map[int]any{16: uint32(PerfEventKretprobe), 40: uint64(0xffffffff81000000)}),
			"", "kretprobe 0xffffffff81000000"},
		{"uprobe", linkInfoBytes(LinkPerfEvent, map[int]any{16: uint32(PerfEventUprobe), 36: uint32(0x1234)}),
			"/usr/bin/bash", "uprobe /usr/bin/bash+0x1234"},
		{"kprobe_multi", linkInfoBytes(LinkKprobeMulti, map[int]any{24: uint32(3), 28: uint32(1)}),
			"", "kretprobe_multi 3 functions"},
		{"uprobe_multi", linkInfoBytes(LinkUprobeMulti, map[int]any{52: uint32(2), 60: uint32(77)}),
			"/bin/true", "uprobe_multi /bin/true 2 offsets pid 77"},
		{"tracing fentry", linkInfoBytes(LinkTracing, map[int]any{16: uint32(AttachTraceFentry), 20: uint32(1), 24: uint32(1234)}),
			"", "fentry btf_id 1234 in btf 1"},
		{"struct_ops", linkInfoBytes(LinkStructOps, map[int]any{16: uint32(9)}), "", "struct_ops map 9"},
		{"netfilter", linkInfoBytes(LinkNetfilter, map[int]any{16: uint32(2), 20: uint32(1), 24: int32(-100)}),
			"", "netfilter ipv4 input priority -100"},
		{"netkit", linkInfoBytes(LinkNetkit, map[int]any{16: uint32(5), 20: uint32(AttachNetkitPeer)}),
			"", "netkit_peer ifindex 5"},
		{"sockmap", linkInfoBytes(LinkSockmap, map[int]any{16: uint32(8), 20: uint32(AttachSkSKBVerdict)}),
			"", "sk_skb_verdict map 8"},
		{"xdp detached", linkInfoBytes(LinkXDP, nil), "", "xdp (detached)"},
		{"unknown type", linkInfoBytes(LinkType(99), nil), "", "link type 99"},
		// An older kernel's shorter struct: union fields read as zero.
		{"short", linkInfoBytes(LinkCgroup, map[int]any{16: uint64(77)})[:20], "", "cgroup_inet_ingress cgroup id 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var str []byte
			if tt.str != "" {
				str = append([]byte(tt.str), 0, 'x')
			}
			a, err := ParseLinkInfo(tt.raw, str)
			if err != nil {
				t.Fatal(err)
			}
			if a.LinkID != 3 || a.ProgID != 42 {
				t.Errorf("link %d prog %d, want link 3 prog 42", a.LinkID, a.ProgID)
			}
			if got := a.Describe(); got != tt.want {
				t.Errorf("Describe = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDescribeResolved(t *testing.T) {
	ingress, tcx := AttachCgroupInetIngress, AttachTCXIngress
	tests := []struct {
		a    Attach
		want string
	}{
		{Attach{LinkType: LinkXDP, Ifindex: 1, Ifname: "lo"}, "xdp lo (ifindex 1)"},
		{Attach{LinkType: LinkTCX, Ifindex: 2, Ifname: "eth0", AttachType: &tcx}, "tcx_ingress eth0 (ifindex 2)"},
		{Attach{LinkType: LinkCgroup, CgroupID: 9, CgroupPath: "/system.slice", AttachType: &ingress}, "cgroup_inet_ingress cgroup /system.slice"},
		{Attach{LinkType: LinkTracing, Name: "do_unlinkat", TargetObjID: 1, TargetBTFID: 5}, "tracing do_unlinkat"},
	}
	for _, tt := range tests {
		if got := tt.a.Describe(); got != tt.want {
			t.Errorf("Describe(%+v) = %q, want %q", tt.a, got, tt.want)
		}
	}
}

func TestParseLinkInfoShort(t *testing.T) {
	if _, err := ParseLinkInfo(make([]byte, 15), nil); err == nil {
		t.Error("15 bytes: no error")
	}
}

func FuzzParseLinkInfo(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "linkinfo", "*.txt"))
	for _, p := range paths {
		if fx, err := readLinkFixture(p); err == nil {
			f.Add(fx.raw, fx.name)
		}
	}
	f.Fuzz(func(t *testing.T, raw, str []byte) {
		a, err := ParseLinkInfo(raw, str)
		if err != nil {
			if a != (Attach{}) {
				t.Fatal("error with a result")
			}
			return
		}
		a.Describe()
	})
}

func TestFindCgroup2(t *testing.T) {
	mountinfo := `22 1 0:21 / /proc rw,nosuid - proc proc rw
30 25 0:26 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu
35 25 0:31 / /sys/fs/cgroup/my\040unified rw,relatime - cgroup2 cgroup2 rw
`
	if got, want := findCgroup2(mountinfo), "/sys/fs/cgroup/my unified"; got != want {
		t.Errorf("findCgroup2 = %q, want %q", got, want)
	}
	if got := findCgroup2("22 1 0:21 / /proc rw - proc proc rw\n"); got != "" {
		t.Errorf("findCgroup2 without cgroup2 = %q", got)
	}
}
