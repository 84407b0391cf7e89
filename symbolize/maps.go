package symbolize

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
)

// mapEntry is one line of /proc/PID/maps.
type mapEntry struct {
	start, limit uint64
	offset       uint64
	exec         bool
	major, minor uint32
	inode        uint64
	// path is the mapped file, a pseudo-path such as [vdso], or "" for
	// anonymous memory. A file deleted since it was mapped keeps the
	// kernel's " (deleted)" suffix.
	path string
}

// maxMapsLine bounds one line of maps: a path is at most PATH_MAX.
const maxMapsLine = 8192

// parseMaps reads /proc/PID/maps text ("START-LIMIT PERMS OFFSET MAJ:MIN
// INODE [PATH]" lines). Lines it cannot parse are counted in skipped. It
// returns an error only when reading fails; then the entries are nil.
func parseMaps(r io.Reader) (entries []mapEntry, skipped int, err error) {
	br := bufio.NewReaderSize(r, maxMapsLine)
	for {
		line, rerr := br.ReadSlice('\n')
		if errors.Is(rerr, bufio.ErrBufferFull) {
			skipped++
			for errors.Is(rerr, bufio.ErrBufferFull) {
				_, rerr = br.ReadSlice('\n')
			}
			if rerr == io.EOF {
				break
			}
			if rerr != nil {
				return nil, 0, fmt.Errorf("read maps: %w", rerr)
			}
			continue
		}
		if rerr != nil && rerr != io.EOF {
			return nil, 0, fmt.Errorf("read maps: %w", rerr)
		}
		if len(line) > 0 {
			if e, ok := parseMapsLine(line); ok {
				entries = append(entries, e)
			} else {
				skipped++
			}
		}
		if rerr == io.EOF {
			return entries, skipped, nil
		}
	}
	return entries, skipped, nil
}

// parseMapsLine parses one line of maps.
func parseMapsLine(line []byte) (e mapEntry, ok bool) {
	line = bytes.TrimSuffix(line, []byte("\n"))
	field := func() []byte {
		line = bytes.TrimLeft(line, " ")
		i := bytes.IndexByte(line, ' ')
		if i < 0 {
			i = len(line)
		}
		f := line[:i]
		line = line[i:]
		return f
	}
	rng, perms, off, dev, ino := field(), field(), field(), field(), field()
	lo, hi, found := bytes.Cut(rng, []byte("-"))
	if !found || len(perms) != 4 {
		return mapEntry{}, false
	}
	var maj, mn []byte
	if maj, mn, found = bytes.Cut(dev, []byte(":")); !found {
		return mapEntry{}, false
	}
	var good [6]bool
	e.start, good[0] = parseUint(lo, 16, 64)
	e.limit, good[1] = parseUint(hi, 16, 64)
	e.offset, good[2] = parseUint(off, 16, 64)
	var m64, n64 uint64
	m64, good[3] = parseUint(maj, 16, 32)
	n64, good[4] = parseUint(mn, 16, 32)
	e.inode, good[5] = parseUint(ino, 10, 64)
	for _, g := range good {
		if !g {
			return mapEntry{}, false
		}
	}
	if e.limit <= e.start {
		return mapEntry{}, false
	}
	e.major, e.minor = uint32(m64), uint32(n64)
	e.exec = perms[2] == 'x'
	// The path is the rest of the line after the padding; it may hold
	// spaces itself.
	e.path = string(bytes.TrimLeft(line, " "))
	return e, true
}

// parseUint parses an unsigned number of at most bits bits in base 10 or
// 16 without allocating.
func parseUint(b []byte, base, bits int) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		var d byte
		var ok bool
		if base == 16 {
			d, ok = hexDigit(c)
		} else {
			d, ok = c-'0', c >= '0' && c <= '9'
		}
		if !ok {
			return 0, false
		}
		if v > (math.MaxUint64-uint64(d))/uint64(base) {
			return 0, false
		}
		v = v*uint64(base) + uint64(d)
		if bits < 64 && v>>bits != 0 {
			return 0, false
		}
	}
	return v, true
}
