package symbolize

import (
	"encoding/binary"
	"os"
)

// Offline is what a Symbolizer needs to resolve a recording made earlier or
// on another machine (a perf.data file) rather than follow this one: it
// then reads no process from /proc and lists no loaded BPF program, learns
// processes from the MMAP2, COMM and FORK records alone, opens mapped files
// by their recorded path (checking the build ID where one was recorded),
// and takes BPF program info from Program.
type Offline struct {
	// Program returns the recorded info of BPF program id; an error
	// matching errs.ErrNotFound when none was recorded (its JIT images
	// are then named by their KSYMBOL records only).
	Program func(id uint32) (*ProgInfo, error)
	// KernelSymbols says the recording's kernel is the running one: its
	// symbols are read from /proc/kallsyms (and the vDSO from this
	// process). Otherwise kernel frames are "[unknown]" in the kernel's
	// mapping, with their addresses.
	KernelSymbols bool
	// Kallsyms, if set, is a copy of the recording machine's
	// /proc/kallsyms (perf's build-ID cache keeps one per kernel, as
	// DebugDir/[kernel.kallsyms]/<build ID>/kallsyms): kernel frames are
	// named from it, as they were then, and KernelSymbols is ignored.
	Kallsyms string
	// KernelText is the address of _text on the recording machine, 0 if
	// unknown: kernel addresses are moved by its distance to this boot's
	// _text (KASLR) before they are looked up.
	KernelText uint64
	// BuildIDs gives the recorded build ID (hex) of mapped files by path:
	// a file on this machine with another build ID is not used.
	BuildIDs map[string]string
	// DebugDir is perf's build-ID cache (~/.debug): a file with a
	// recorded build ID is also looked for as
	// DebugDir/.build-id/<first 2 hex digits>/<the rest>/elf, where
	// perf record keeps copies of the binaries it saw. "" looks nowhere.
	DebugDir string
}

// ProgInfo is the info of one BPF program that symbolizing needs: its JIT
// images, BTF func and line info and the JIT line table.
type ProgInfo = progInfo

// ProgFunc is one BTF func info record of a ProgInfo.
type ProgFunc = progFunc

// ProgLine is one BTF line info record of a ProgInfo.
type ProgLine = progLine

// offlineProgs is the progSource of a recording: nothing to list, info
// from the recording.
type offlineProgs struct{ o *Offline }

func (offlineProgs) next(uint32) (uint32, bool, error) { return 0, false, nil }
func (p offlineProgs) info(id uint32) (*progInfo, error) {
	return p.o.Program(id)
}

// RunningKernelBuildID returns the build ID (hex) of the running kernel,
// from /sys/kernel/notes, to compare with a recording's.
func RunningKernelBuildID() (string, bool) {
	notes, err := os.ReadFile("/sys/kernel/notes")
	if err != nil {
		return "", false
	}
	return parseBuildIDNote(notes, binary.NativeEndian)
}
