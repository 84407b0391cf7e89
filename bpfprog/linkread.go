package bpfprog

import (
	"encoding/binary"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/bpfprof/bpfprof/internal/bpfabi"
)

// linkNameMax bounds the names read from links: tracepoint and function
// names, iterator targets, uprobe paths (PATH_MAX).
const linkNameMax = 4096

// listLinks reads every BPF link (BPF_LINK_GET_NEXT_ID), skipping links that
// vanish meanwhile. Names needing a lookup are resolved with r.
func listLinks(r *resolver) ([]Attach, error) {
	var out []Attach
	var id uint32
	str := make([]byte, linkNameMax)
	for {
		next, ok, err := bpfabi.NextID(unix.BPF_LINK_GET_NEXT_ID, id)
		if err != nil {
			return out, kernelError("listing BPF links", err)
		}
		if !ok {
			return out, nil
		}
		id = next
		fd, err := bpfabi.FDByID(unix.BPF_LINK_GET_FD_BY_ID, id)
		// ENOENT: the link went away since NextID. EAGAIN: it is still
		// being set up (its id is reserved before it is attached).
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EAGAIN) {
			continue
		}
		if err != nil {
			return out, kernelError("opening BPF link "+itoa(id), err)
		}
		raw, name, err := readLinkInfo(fd, str)
		closeFD(fd)
		if err != nil {
			// A link whose info cannot be read says nothing about
			// attach points; the program list is still right.
			continue
		}
		a, err := ParseLinkInfo(raw, name)
		if err != nil {
			continue
		}
		r.resolve(&a)
		a.Description = a.Describe()
		out = append(out, a)
	}
}

// readLinkInfo reads the struct bpf_link_info of a link fd and, for link types
// that have one, its name into str.
func readLinkInfo(fd int, str []byte) (raw, name []byte, err error) {
	buf := new([bpfabi.LinkInfoSize]byte)
	if err := bpfabi.ObjInfo(fd, unsafe.Pointer(buf), bpfabi.LinkInfoSize); err != nil {
		return nil, nil, err
	}
	bo := binary.NativeEndian
	typ := LinkType(bo.Uint32(buf[bpfabi.LinkInfoType:]))
	perf := PerfEventType(bo.Uint32(buf[bpfabi.LinkPerfEventType:]))
	ptrOff, lenOff, ok := linkNameBuffer(typ, perf)
	if !ok {
		return buf[:], nil, nil
	}
	// Second call with only the name buffer set in the union: the kernel
	// rejects a length without a pointer and vice versa, and the counts it
	// wrote in the first call would ask for arrays we do not want.
	clear(str)
	var second [bpfabi.LinkInfoSize]byte
	switch ptrOff {
	case int(unsafe.Offsetof(bpfabi.LinkInfoName16{}.Name)):
		req := &bpfabi.LinkInfoName16{Name: unsafe.Pointer(&str[0])}
		bo.PutUint32(req.Rest[lenOff-int(unsafe.Offsetof(req.Rest)):], uint32(len(str)))
		err = bpfabi.ObjInfo(fd, unsafe.Pointer(req), bpfabi.LinkInfoSize)
		req.Name = nil
		second = *(*[bpfabi.LinkInfoSize]byte)(unsafe.Pointer(req))
	case int(unsafe.Offsetof(bpfabi.LinkInfoName24{}.Name)):
		req := &bpfabi.LinkInfoName24{PerfType: uint32(perf), Name: unsafe.Pointer(&str[0])}
		bo.PutUint32(req.Rest[lenOff-int(unsafe.Offsetof(req.Rest)):], uint32(len(str)))
		err = bpfabi.ObjInfo(fd, unsafe.Pointer(req), bpfabi.LinkInfoSize)
		req.Name = nil
		second = *(*[bpfabi.LinkInfoSize]byte)(unsafe.Pointer(req))
	}
	if err != nil {
		// The attach point is still worth showing without its name.
		return buf[:], nil, nil
	}
	return second[:], str, nil
}

// resolver turns kernel handles in an Attach into names: interface index →
// name, cgroup ID → path, tracepoint → "system/name", BTF type → function.
// It caches within one listing.
type resolver struct {
	ifnames    map[uint32]string
	tpSystems  map[string]string
	cgroupRoot string
	cgroupDone bool
	btf        *btfCache
}

func newResolver(btf *btfCache) *resolver {
	return &resolver{ifnames: map[uint32]string{}, tpSystems: map[string]string{}, btf: btf}
}

func (r *resolver) resolve(a *Attach) {
	switch {
	case a.Ifindex != 0:
		a.Ifname = r.ifname(a.Ifindex)
	case a.CgroupID != 0:
		a.CgroupPath = r.cgroupPath(a.CgroupID)
	}
	switch {
	case a.LinkType == LinkPerfEvent && a.PerfEvent != nil && *a.PerfEvent == PerfEventTracepoint && a.Name != "":
		a.Name = r.tracepoint(a.Name)
	case a.LinkType == LinkTracing && a.TargetBTFID != 0:
		if names := r.btf.get(a.TargetObjID); names != nil {
			a.Name, _ = names.name(a.TargetBTFID)
		}
	}
}

func (r *resolver) ifname(index uint32) string {
	if name, ok := r.ifnames[index]; ok {
		return name
	}
	name := ""
	if ifc, err := net.InterfaceByIndex(int(index)); err == nil {
		name = ifc.Name
	}
	r.ifnames[index] = name
	return name
}

// tracepoint prefixes a tracepoint name with its system, which the link does
// not tell, by looking for events/*/NAME in tracefs (if it is mounted).
// Tracepoint names are unique across systems in one kernel.
func (r *resolver) tracepoint(name string) string {
	if strings.Contains(name, "/") {
		return name
	}
	if full, ok := r.tpSystems[name]; ok {
		return full
	}
	full := name
	for _, root := range []string{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"} {
		matches, _ := filepath.Glob(filepath.Join(root, "events", "*", name))
		if len(matches) == 1 {
			full = filepath.Base(filepath.Dir(matches[0])) + "/" + name
			break
		}
	}
	r.tpSystems[name] = full
	return full
}

// cgroupPath finds the path of a cgroup v2 by its ID, which is the file
// handle of its directory: open_by_handle_at on the cgroup2 mount, then
// read the path back from /proc/self/fd. Requires CAP_DAC_READ_SEARCH.
func (r *resolver) cgroupPath(id uint64) string {
	if !r.cgroupDone {
		r.cgroupRoot = cgroup2Mount()
		r.cgroupDone = true
	}
	if r.cgroupRoot == "" {
		return ""
	}
	mnt, err := openat(unix.AT_FDCWD, r.cgroupRoot, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return ""
	}
	defer closeFD(mnt)
	handle := make([]byte, 8)
	binary.NativeEndian.PutUint64(handle, id)
	const fileidKernfs = 0xfe // FILEID_KERNFS: a kernfs node's 64-bit ID
	fd, err := unix.OpenByHandleAt(mnt, unix.NewFileHandle(fileidKernfs, handle), unix.O_RDONLY|unix.O_CLOEXEC)
	if err != nil {
		return ""
	}
	defer closeFD(fd)
	path, err := os.Readlink("/proc/self/fd/" + itoa(uint32(fd)))
	if err != nil {
		return ""
	}
	rel := strings.TrimPrefix(path, r.cgroupRoot)
	if rel == "" {
		rel = "/"
	}
	return rel
}

// cgroup2Mount finds where the cgroup v2 hierarchy is mounted, or "".
func cgroup2Mount() string {
	raw, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	return findCgroup2(string(raw))
}

// findCgroup2 returns the mount point of the first cgroup2 file system in a
// mountinfo table: "id parent major:minor root mountpoint options ... -
// fstype source superoptions".
func findCgroup2(mountinfo string) string {
	for line := range strings.Lines(mountinfo) {
		before, after, ok := strings.Cut(line, " - ")
		if !ok || !strings.HasPrefix(after, "cgroup2 ") {
			continue
		}
		fields := strings.Fields(before)
		if len(fields) >= 5 {
			return unescapeMount(fields[4])
		}
	}
	return ""
}

// unescapeMount undoes the octal escapes (\040 for space) of mountinfo.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			v := 0
			ok := true
			for _, c := range s[i+1 : i+4] {
				if c < '0' || c > '7' {
					ok = false
					break
				}
				v = v*8 + int(c-'0')
			}
			if ok && v < 256 {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
