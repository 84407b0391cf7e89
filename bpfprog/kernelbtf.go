package bpfprog

import (
	"fmt"
	"os"
	"sync"
)

// vmlinuxBTF is where the kernel publishes its own BTF (CONFIG_DEBUG_INFO_BTF).
const vmlinuxBTF = "/sys/kernel/btf/vmlinux"

// kernelNames indexes the names of the kernel's BTF types, read on first
// use and kept: what a kfunc call's immediate (a vmlinux BTF type ID)
// names. On Linux 6.18 it holds 2.8 MiB (the string section and a name
// offset per type) of the 5.2 MiB file; cilium's btf.LoadSpec of the same
// file holds all of it and takes twice as long (BenchmarkKernelBTFNames).
var kernelNames struct {
	once  sync.Once
	names *btfNames
	err   error
}

// KernelTypeName names type id of the kernel's own BTF (vmlinux), as the
// immediate of a kfunc call gives it: ok false when the kernel has no BTF or
// no such named type. The first call reads /sys/kernel/btf/vmlinux (a few
// MiB, a few milliseconds); its names stay in memory for the process's life.
func KernelTypeName(id uint32) (name string, ok bool) {
	kernelNames.once.Do(func() {
		kernelNames.names, kernelNames.err = readBTFNamesFile(vmlinuxBTF)
	})
	if kernelNames.err != nil {
		return "", false
	}
	return kernelNames.names.name(id)
}

// readBTFNamesFile indexes the type names of the standalone BTF in file,
// keeping its string section only.
func readBTFNamesFile(file string) (*btfNames, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	b, err := parseBTFNames(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	b.strs = append([]byte(nil), b.strs...) // let the types go
	return b, nil
}
