package bpfprog

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/bpfprof/bpfprof/internal/bpfabi"
	"github.com/bpfprof/bpfprof/internal/errs"
)

// SelectorKind says how a Selector picks programs.
type SelectorKind int

// Selector kinds, after bpftool's PROG syntax.
const (
	// SelectAll picks every program: no selector was given.
	SelectAll SelectorKind = iota
	// SelectID picks the program with an ID: "id 42" or "42".
	SelectID
	// SelectName picks programs whose kernel name or full BTF name is
	// Name: "name bpfprof_hot_loop_socket".
	SelectName
	// SelectTag picks programs with a tag: "tag 0bd0168676c7c779".
	SelectTag
	// SelectPinned picks the program pinned at a bpffs path: "pinned
	// /sys/fs/bpf/prog".
	SelectPinned
)

// Selector picks programs, in bpftool's syntax. The zero Selector picks
// every program.
type Selector struct {
	Kind SelectorKind
	ID   ID
	// Name, Tag (lower-case hex) or Path, by Kind.
	Name, Tag, Path string
}

// SelectorUsage describes the selector syntax, for usage messages.
const SelectorUsage = "id ID | ID | name NAME | tag TAG | pinned PATH"

// ParseSelector parses a program selector at the start of args and returns
// the arguments after it. If args does not start with a selector keyword or
// a number, it returns the zero Selector (every program) and args
// unchanged, for the caller to judge. A keyword without a valid value is an
// error.
func ParseSelector(args []string) (Selector, []string, error) {
	if len(args) == 0 {
		return Selector{}, args, nil
	}
	if id, err := parseID(args[0]); err == nil {
		return Selector{Kind: SelectID, ID: id}, args[1:], nil
	}
	kw := args[0]
	switch kw {
	case "id", "name", "tag", "pinned":
	default:
		return Selector{}, args, nil
	}
	if len(args) < 2 || args[1] == "" {
		return Selector{}, args, fmt.Errorf("%q needs a value: %s", kw, SelectorUsage)
	}
	val, rest := args[1], args[2:]
	switch kw {
	case "id":
		id, err := parseID(val)
		if err != nil {
			return Selector{}, args, fmt.Errorf("bad program id %q: want a number from 1 to %d", val, uint32(1<<31-1))
		}
		return Selector{Kind: SelectID, ID: id}, rest, nil
	case "name":
		return Selector{Kind: SelectName, Name: val}, rest, nil
	case "tag":
		tag, err := parseTag(val)
		if err != nil {
			return Selector{}, args, err
		}
		return Selector{Kind: SelectTag, Tag: tag}, rest, nil
	default:
		return Selector{Kind: SelectPinned, Path: val}, rest, nil
	}
}

func parseID(s string) (ID, error) {
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil || v == 0 || v >= 1<<31 {
		return 0, errors.New("not a program id")
	}
	return ID(v), nil
}

// parseTag accepts a tag as 16 hex digits, optionally with ':' between the
// bytes, and returns it in lower case.
func parseTag(s string) (string, error) {
	t := strings.ToLower(strings.ReplaceAll(s, ":", ""))
	if b, err := hex.DecodeString(t); err != nil || len(b) != 8 {
		return "", fmt.Errorf("bad program tag %q: want 16 hex digits, as 'bpfprof list' shows", s)
	}
	return t, nil
}

// String gives the selector back in the syntax ParseSelector reads.
func (s Selector) String() string {
	switch s.Kind {
	case SelectID:
		return "id " + strconv.FormatUint(uint64(s.ID), 10)
	case SelectName:
		return "name " + s.Name
	case SelectTag:
		return "tag " + s.Tag
	case SelectPinned:
		return "pinned " + s.Path
	}
	return "all programs"
}

// Match reports whether p is selected. A SelectPinned selector matches
// nothing: resolve it to an ID first (Select and Find do).
func (s Selector) Match(p *Program) bool {
	switch s.Kind {
	case SelectAll:
		return true
	case SelectID:
		return p.ID == s.ID
	case SelectName:
		return p.Name == s.Name || p.FullName == s.Name
	case SelectTag:
		return p.Tag == s.Tag
	}
	return false
}

// Select returns the programs of a listing that sel picks, or an error
// matching ErrNotFound if there are none. A SelectPinned selector is
// resolved through the kernel (BPF_OBJ_GET on the path).
func Select(progs []Program, sel Selector) ([]Program, error) {
	if sel.Kind == SelectPinned {
		id, err := pinnedID(sel.Path)
		if err != nil {
			return nil, err
		}
		sel = Selector{Kind: SelectID, ID: id}
	}
	var out []Program
	for i := range progs {
		if sel.Match(&progs[i]) {
			out = append(out, progs[i])
		}
	}
	if len(out) == 0 && sel.Kind != SelectAll {
		return nil, notFound(sel)
	}
	return out, nil
}

// Find lists the programs sel picks, reading only the one program an ID or
// pinned selector names. None is an error matching ErrNotFound. Requires
// CAP_SYS_ADMIN.
func Find(sel Selector, opts ListOptions) ([]Program, error) {
	switch sel.Kind {
	case SelectID:
		p, err := Get(sel.ID, opts)
		if err != nil {
			return nil, err
		}
		return []Program{*p}, nil
	case SelectPinned:
		id, err := pinnedID(sel.Path)
		if err != nil {
			return nil, err
		}
		p, err := Get(id, opts)
		if err != nil {
			return nil, err
		}
		return []Program{*p}, nil
	}
	progs, err := List(opts)
	if err != nil || sel.Kind == SelectAll {
		return progs, err
	}
	return Select(progs, sel)
}

func notFound(sel Selector) error {
	return errs.New(ErrNotFound, fmt.Sprintf("no BPF program with %s; see 'bpfprof list'", sel))
}

// pinnedID opens the program pinned at path and returns its ID.
func pinnedID(path string) (ID, error) {
	fd, err := bpfabi.ObjGet(path, unix.BPF_F_RDONLY)
	switch {
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENOTDIR):
		return 0, errs.New(ErrNotFound, "no BPF program pinned at "+path)
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.EACCES):
		// BPF_OBJ_GET answers EACCES for a file outside bpffs; it needs
		// no capability, only read access to the file.
		return 0, errs.New(ErrNotFound, path+" is not a pinned BPF object on a bpffs mount, or not readable")
	case err != nil:
		return 0, kernelError("opening pinned BPF program "+path, err)
	}
	defer closeFD(fd)
	if target, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd)); err != nil || target != anonProg {
		return 0, errs.New(ErrNotFound, path+" is pinned, but not a BPF program")
	}
	var info bpfabi.ProgInfo
	if err := bpfabi.ObjInfo(fd, unsafe.Pointer(&info), unsafe.Sizeof(info)); err != nil {
		return 0, kernelError("reading pinned BPF program "+path, err)
	}
	return ID(info.ID), nil
}
