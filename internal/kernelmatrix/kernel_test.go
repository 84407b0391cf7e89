package kernelmatrix

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestImageDependency(t *testing.T) {
	for depends, want := range map[string]string{
		"linux-image-6.1.0-57-amd64 (= 6.1.192-3)":                                 "linux-image-6.1.0-57-amd64",
		"initramfs-tools | linux-initramfs-tool, linux-image-6.12.118+deb12-amd64": "linux-image-6.12.118+deb12-amd64",
		"kmod, linux-base (>= 4.3~)":                                               "",
		"":                                                                         "",
		"linux-image-6.1.0-57-amd64:amd64":                                         "linux-image-6.1.0-57-amd64",
	} {
		if got := imageDependency(depends); got != want {
			t.Errorf("imageDependency(%q) = %q, want %q", depends, got, want)
		}
	}
}

func tarOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestExtractFromTar(t *testing.T) {
	dir := t.TempDir()
	img, err := extractFromTar(bytes.NewReader(tarOf(t, map[string]string{
		"./boot/config-6.1.0-57-amd64":  "CONFIG",
		"./boot/vmlinuz-6.1.0-57-amd64": "bzImage",
		"./usr/share/doc/x/vmlinuz-y":   "no",
	})), dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "vmlinuz-6.1.0-57-amd64"); img != want {
		t.Fatalf("image %q, want %q", img, want)
	}
	if b, err := os.ReadFile(img); err != nil || string(b) != "bzImage" {
		t.Errorf("image holds %q, %v", b, err)
	}
	// A metapackage: no image, no error.
	img, err = extractFromTar(bytes.NewReader(tarOf(t, map[string]string{"./usr/share/doc/linux-image-amd64/copyright": "c"})), t.TempDir())
	if img != "" || err != nil {
		t.Errorf("metapackage: %q, %v", img, err)
	}
	if _, err := extractFromTar(bytes.NewReader([]byte("not a tar file at all, but long enough to be read as a header block"+string(make([]byte, 600)))), t.TempDir()); err == nil {
		t.Error("garbage: no error")
	}
}

func TestCachedDeb(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"linux-image-6.12.118+deb12-amd64_6.12.118-1~deb12u1_amd64.deb", "linux-image-6.12-amd64_6.12.118-1_amd64.deb"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got := filepath.Base(cachedDeb("linux-image-6.12-amd64", dir)); got != "linux-image-6.12-amd64_6.12.118-1_amd64.deb" {
		t.Errorf("metapackage: %s", got)
	}
	if got := filepath.Base(cachedDeb("linux-image-6.12.118+deb12-amd64", dir)); got != "linux-image-6.12.118+deb12-amd64_6.12.118-1~deb12u1_amd64.deb" {
		t.Errorf("image: %s", got)
	}
	if got := cachedDeb("linux-image-6.1.0-57-amd64", dir); got != "" {
		t.Errorf("missing: %s", got)
	}
}
