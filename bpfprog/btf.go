package bpfprog

import (
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// A minimal reader of raw BTF (as BPF_OBJ_GET_INFO_BY_FD returns it): just
// enough to name a type by ID and look up a string. list needs the names of
// main functions whose kernel name is truncated, and ReadDetail the names of
// functions and the text of source lines, the moment a program loads;
// parsing the whole BTF with cilium/ebpf/btf would cost more than the rest
// of either. Func types (for signatures) are cilium's.

const (
	btfMagic      = 0xeb9f
	btfHeaderSize = 24
	btfTypeSize   = 12 // struct btf_type: name_off, info, size/type
)

var errBadBTF = errors.New("malformed BTF")

// btfNames indexes the types of one BTF blob by ID.
type btfNames struct {
	strs    []byte
	nameOff []uint32 // by type ID - 1
}

// parseBTFNames indexes raw, a standalone (not split) BTF blob in native byte
// order. It never panics: bad input gives an error wrapping errBadBTF.
func parseBTFNames(raw []byte) (*btfNames, error) {
	if len(raw) < btfHeaderSize {
		return nil, fmt.Errorf("%w: %d bytes, shorter than its header", errBadBTF, len(raw))
	}
	bo := binary.NativeEndian
	if bo.Uint16(raw) != btfMagic {
		return nil, fmt.Errorf("%w: bad magic %#x", errBadBTF, bo.Uint16(raw))
	}
	hdrLen := uint64(bo.Uint32(raw[4:]))
	typeOff, typeLen := uint64(bo.Uint32(raw[8:])), uint64(bo.Uint32(raw[12:]))
	strOff, strLen := uint64(bo.Uint32(raw[16:])), uint64(bo.Uint32(raw[20:]))
	size := uint64(len(raw))
	if hdrLen < btfHeaderSize || hdrLen > size ||
		hdrLen+typeOff+typeLen > size || hdrLen+strOff+strLen > size {
		return nil, fmt.Errorf("%w: sections out of bounds", errBadBTF)
	}
	types := raw[hdrLen+typeOff : hdrLen+typeOff+typeLen]
	b := &btfNames{strs: raw[hdrLen+strOff : hdrLen+strOff+strLen]}
	for off := 0; off < len(types); {
		if len(types)-off < btfTypeSize {
			return nil, fmt.Errorf("%w: truncated type %d", errBadBTF, len(b.nameOff)+1)
		}
		nameOff := bo.Uint32(types[off:])
		info := bo.Uint32(types[off+4:])
		kind, vlen := (info>>24)&0x1f, int(info&0xffff)
		extra, err := btfExtraSize(kind, vlen)
		if err != nil {
			return nil, fmt.Errorf("type %d: %w", len(b.nameOff)+1, err)
		}
		b.nameOff = append(b.nameOff, nameOff)
		off += btfTypeSize + extra
	}
	return b, nil
}

// btfExtraSize returns the size of the data following a struct btf_type of
// the given kind.
func btfExtraSize(kind uint32, vlen int) (int, error) {
	switch kind {
	case 1, 14, 17: // INT, VAR, DECL_TAG: one u32
		return 4, nil
	case 2, 7, 8, 9, 10, 11, 12, 16, 18: // PTR, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT, FUNC, FLOAT, TYPE_TAG
		return 0, nil
	case 3: // ARRAY: struct btf_array
		return 12, nil
	case 4, 5, 15, 19: // STRUCT, UNION (btf_member), DATASEC (btf_var_secinfo), ENUM64 (btf_enum64)
		return 12 * vlen, nil
	case 6, 13: // ENUM (btf_enum), FUNC_PROTO (btf_param)
		return 8 * vlen, nil
	}
	return 0, fmt.Errorf("%w: unknown kind %d", errBadBTF, kind)
}

// name returns the name of type id, or false if there is no such type or it
// has no name.
func (b *btfNames) name(id uint32) (string, bool) {
	if id == 0 || uint64(id) > uint64(len(b.nameOff)) {
		return "", false
	}
	off := b.nameOff[id-1]
	if uint64(off) >= uint64(len(b.strs)) {
		return "", false
	}
	s := unix.ByteSliceToString(b.strs[off:])
	return s, s != ""
}

// str returns the string at off in the string section, false if off is
// out of bounds.
func (b *btfNames) str(off uint32) (string, bool) {
	if uint64(off) >= uint64(len(b.strs)) {
		return "", false
	}
	return unix.ByteSliceToString(b.strs[off:]), true
}
