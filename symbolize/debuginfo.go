package symbolize

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"

	"github.com/ulikunitz/xz"
)

// DefaultDebugDir is where distributions install separate debug info
// (libc6-dbg, *-dbgsym, *-debuginfo): by build ID under .build-id/, and by
// path.
const DefaultDebugDir = "/usr/lib/debug"

// maxMiniDebugInfo bounds the decompressed size of .gnu_debugdata.
const maxMiniDebugInfo = 64 << 20

// debugLink reads the .gnu_debuglink section: the name of the separate
// debug file and the CRC-32 of its contents.
func debugLink(f *elf.File) (name string, crc uint32, ok bool) {
	s := f.Section(".gnu_debuglink")
	if s == nil || s.Type == elf.SHT_NOBITS {
		return "", 0, false
	}
	data, err := s.Data()
	if err != nil {
		return "", 0, false
	}
	return parseDebugLink(data, f.ByteOrder)
}

// parseDebugLink parses .gnu_debuglink contents: a NUL-terminated file
// name, padding to 4 bytes, and a 4-byte CRC.
func parseDebugLink(data []byte, order binary.ByteOrder) (string, uint32, bool) {
	n := bytes.IndexByte(data, 0)
	if n <= 0 {
		return "", 0, false
	}
	off := align4(uint64(n) + 1)
	if off+4 > uint64(len(data)) {
		return "", 0, false
	}
	name := string(data[:n])
	if name != filepath.Base(name) || name == "." || name == ".." {
		return "", 0, false // a name, never a path
	}
	return name, order.Uint32(data[off:]), true
}

// debugCandidate is a place the separate debug file of an object may be.
type debugCandidate struct {
	path string
	// byLink says the place comes from .gnu_debuglink: without a build
	// ID to compare, the file's CRC must match.
	byLink bool
}

// debugCandidates lists, in gdb's and perf's order, where the debug file
// of the object at path may be: by build ID under each debug directory,
// then by debug link next to the object, in .debug/ beside it, and under
// each debug directory at the object's path.
func debugCandidates(path, buildID, link string, dirs []string) []debugCandidate {
	var out []debugCandidate
	if len(buildID) > 2 {
		for _, d := range dirs {
			out = append(out, debugCandidate{path: filepath.Join(d, ".build-id", buildID[:2], buildID[2:]+".debug")})
		}
	}
	if link != "" && filepath.IsAbs(path) {
		dir := filepath.Dir(path)
		out = append(out,
			debugCandidate{path: filepath.Join(dir, link), byLink: true},
			debugCandidate{path: filepath.Join(dir, ".debug", link), byLink: true})
		for _, d := range dirs {
			out = append(out, debugCandidate{path: filepath.Join(d, dir, link), byLink: true})
		}
	}
	return out
}

// debugFile is an opened separate debug file.
type debugFile struct {
	path string
	f    *os.File
	elf  *elf.File
}

func (d *debugFile) Close() error {
	if d == nil {
		return nil
	}
	return d.f.Close()
}

// openDebugFile opens the separate debug file of an object whose build ID
// (may be "") and debug link are given, found under dirs. The file must
// be the object's: the same build ID where both have one, else the CRC of
// the debug link. self is the object's own path, never its own debug
// file. nil if there is none.
func openDebugFile(self, path, buildID, link string, crc uint32, dirs []string) *debugFile {
	for _, c := range debugCandidates(path, buildID, link, dirs) {
		if c.path == self || c.path == path {
			continue
		}
		f, err := os.Open(c.path)
		if err != nil {
			continue
		}
		ef, err := elf.NewFile(f)
		if err != nil {
			f.Close()
			continue
		}
		id := elfBuildID(ef)
		switch {
		case buildID != "" && id != "":
			if id != buildID {
				f.Close()
				continue
			}
		case c.byLink:
			if sum, err := fileCRC(f); err != nil || sum != crc {
				f.Close()
				continue
			}
		default:
			f.Close()
			continue
		}
		return &debugFile{path: c.path, f: f, elf: ef}
	}
	return nil
}

// fileCRC is the CRC-32 (IEEE) of a whole file, as .gnu_debuglink holds.
func fileCRC(f *os.File) (uint32, error) {
	h := crc32.NewIEEE()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, 1<<62)); err != nil {
		return 0, err
	}
	return h.Sum32(), nil
}

// miniDebugInfo decompresses .gnu_debugdata, the xz-compressed ELF file
// with the local function symbols that Fedora and others leave in stripped
// binaries (MiniDebugInfo). nil if there is none or it is corrupt.
func miniDebugInfo(f *elf.File) *elf.File {
	s := f.Section(".gnu_debugdata")
	if s == nil || s.Type == elf.SHT_NOBITS {
		return nil
	}
	data, err := miniDebugData(s.Open())
	if err != nil {
		return nil
	}
	ef, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return nil
	}
	return ef
}

// miniDebugData decompresses an xz stream of at most maxMiniDebugInfo
// bytes.
func miniDebugData(r io.Reader) ([]byte, error) {
	xr, err := xz.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("gnu_debugdata: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(xr, maxMiniDebugInfo+1))
	if err != nil {
		return nil, fmt.Errorf("gnu_debugdata: %w", err)
	}
	if len(data) > maxMiniDebugInfo {
		return nil, errors.New("gnu_debugdata: too large")
	}
	return data, nil
}

// hasDWARF reports whether f holds DWARF debug info with line tables.
func hasDWARF(f *elf.File) bool {
	for _, name := range []string{".debug_info", ".zdebug_info"} {
		if s := f.Section(name); s != nil && s.Type != elf.SHT_NOBITS && s.Size > 0 {
			return true
		}
	}
	return false
}

// dwarfSize is the bytes of the DWARF sections of f, uncompressed: what
// reading its DWARF holds in memory.
func dwarfSize(f *elf.File) int {
	n := 0
	for _, s := range f.Sections {
		if s.Type != elf.SHT_NOBITS && len(s.Name) > 7 && (s.Name[:7] == ".debug_" || s.Name[:8] == ".zdebug_") {
			n += int(s.Size)
		}
	}
	return n
}
