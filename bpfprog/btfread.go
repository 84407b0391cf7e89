package bpfprog

import (
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/bpfprof/bpfprof/internal/bpfabi"
)

// btfCache holds the BTF objects read during one listing, by BTF ID: the
// programs of one object file share one. Safe for concurrent use.
type btfCache struct {
	mu    sync.Mutex
	names map[uint32]*btfNames // nil value: could not be read
}

func newBTFCache() *btfCache { return &btfCache{names: map[uint32]*btfNames{}} }

// get returns the type names of BTF object id, or nil if it cannot be read or
// parsed (split BTF of kernel modules is not supported).
func (c *btfCache) get(id uint32) *btfNames {
	if id == 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if b, ok := c.names[id]; ok {
		return b
	}
	b := loadBTFNames(id)
	c.names[id] = b
	return b
}

// loadBTFNames reads BTF object id from the kernel and indexes its names.
func loadBTFNames(id uint32) *btfNames {
	raw, ok := readBTF(id)
	if !ok {
		return nil
	}
	b, err := parseBTFNames(raw)
	if err != nil {
		return nil
	}
	return b
}

// readBTF reads the raw bytes of BTF object id, false if it cannot be read
// or is not standalone (split BTF of kernel modules continues vmlinux's
// type IDs and strings). Requires CAP_SYS_ADMIN.
func readBTF(id uint32) ([]byte, bool) {
	fd, err := bpfabi.FDByID(unix.BPF_BTF_GET_FD_BY_ID, id)
	if err != nil {
		return nil, false
	}
	defer closeFD(fd)
	name := make([]byte, 64)
	info := bpfabi.BTFInfo{Name: unsafe.Pointer(&name[0]), NameLen: uint32(len(name))}
	if err := bpfabi.ObjInfo(fd, unsafe.Pointer(&info), unsafe.Sizeof(info)); err != nil || info.BTFSize == 0 {
		return nil, false
	}
	if info.KernelBTF != 0 && unix.ByteSliceToString(name) != "vmlinux" {
		return nil, false
	}
	raw := make([]byte, info.BTFSize)
	info = bpfabi.BTFInfo{BTF: unsafe.Pointer(&raw[0]), BTFSize: uint32(len(raw))}
	if err := bpfabi.ObjInfo(fd, unsafe.Pointer(&info), unsafe.Sizeof(info)); err != nil || int(info.BTFSize) != len(raw) {
		return nil, false
	}
	return raw, true
}
