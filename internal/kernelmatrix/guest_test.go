package kernelmatrix

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bpfprof/bpfprof/internal/testutil"
)

func TestConstantsMatchTestutil(t *testing.T) {
	if guestEnv != testutil.GuestEnv || marker != testutil.GuestMarker {
		t.Errorf("guestEnv %q marker %q; testutil has %q %q", guestEnv, marker, testutil.GuestEnv, testutil.GuestMarker)
	}
}

func TestBuildInitramfs(t *testing.T) {
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		testutil.SkipOrFail(t, "no busybox (apt-get install busybox-static)")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "x.test")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "initramfs.cpio")
	err = BuildInitramfs(out, busybox, []Binary{{Package: Package{Dir: "cmd/x", Tests: []string{"TestA", "TestB"}}, Path: bin}})
	if err != nil {
		t.Fatal(err)
	}
	list, err := exec.Command(busybox, "cpio", "-t", "-F", out).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"init", "bin/busybox", "src/cmd/x/x.test"} {
		if !strings.Contains("\n"+string(list), "\n"+want+"\n") {
			t.Errorf("initramfs lacks %s:\n%s", want, list)
		}
	}
	extract := t.TempDir()
	cmd := exec.Command(busybox, "cpio", "-i", "-d", "-F", out, "init")
	cmd.Dir = extract
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, msg)
	}
	init, err := os.ReadFile(filepath.Join(extract, "init"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"runpkg 'cmd/x' 'x.test' '^(TestA|TestB)$'", "mount -t bpf bpf /sys/fs/bpf", "mount -t cgroup2", "poweroff -f"} {
		if !strings.Contains(string(init), want) {
			t.Errorf("init lacks %q:\n%s", want, init)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("staging left behind: %v", entries)
	}
}
