package kernelmatrix

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Kernel is a kernel image unpacked from a Debian package.
type Kernel struct {
	// Package is the package the image came from
	// ("linux-image-6.1.0-57-amd64"), after following metapackages.
	Package string
	// Version is the package's version ("6.1.192-3").
	Version string
	// Image is the path of the unpacked bzImage (boot/vmlinuz-*).
	Image string
}

// maxMetaDepth bounds how many metapackages FetchKernel follows
// (linux-image-amd64 → linux-image-6.1.0-57-amd64 is one).
const maxMetaDepth = 3

// FetchKernel gets the kernel image package pkg with 'apt-get download' into
// cache (reusing a .deb already there) and unpacks its boot/vmlinuz-* with
// dpkg-deb. A metapackage such as linux-image-amd64 or linux-image-6.12-amd64
// holds no image: FetchKernel follows its first linux-image-* dependency.
func FetchKernel(pkg, cache string) (*Kernel, error) {
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return nil, fmt.Errorf("kernel %s: %w", pkg, err)
	}
	name := pkg
	for range maxMetaDepth + 1 {
		deb, err := download(name, cache)
		if err != nil {
			return nil, fmt.Errorf("kernel %s: %w", pkg, err)
		}
		img, err := extractImage(deb, filepath.Join(cache, name))
		if err != nil {
			return nil, fmt.Errorf("kernel %s: %s: %w", pkg, filepath.Base(deb), err)
		}
		if img != "" {
			version, err := debField(deb, "Version")
			if err != nil {
				return nil, fmt.Errorf("kernel %s: %w", pkg, err)
			}
			return &Kernel{Package: name, Version: version, Image: img}, nil
		}
		depends, err := debField(deb, "Depends")
		if err != nil {
			return nil, fmt.Errorf("kernel %s: %w", pkg, err)
		}
		next := imageDependency(depends)
		if next == "" {
			return nil, fmt.Errorf("kernel %s: %s holds no boot/vmlinuz-* and depends on no linux-image-* package (Depends: %s)", pkg, name, depends)
		}
		name = next
	}
	return nil, fmt.Errorf("kernel %s: more than %d metapackages deep", pkg, maxMetaDepth)
}

// imageDependency picks the first linux-image-* package of a Depends field
// ("linux-image-6.1.0-57-amd64 (= 6.1.192-3), foo | bar").
func imageDependency(depends string) string {
	for _, dep := range strings.Split(depends, ",") {
		for _, alt := range strings.Split(dep, "|") {
			name, _, _ := strings.Cut(strings.TrimSpace(alt), " ")
			name, _, _ = strings.Cut(name, ":")
			if strings.HasPrefix(name, "linux-image-") {
				return name
			}
		}
	}
	return ""
}

// download returns the cached .deb of pkg, fetching it with 'apt-get
// download' if there is none.
func download(pkg, cache string) (string, error) {
	if deb := cachedDeb(pkg, cache); deb != "" {
		return deb, nil
	}
	cmd := exec.Command("apt-get", "download", pkg)
	cmd.Dir = cache
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("apt-get download %s: %v: %s (is the package name right? try 'apt-get update')", pkg, err, lastLine(out))
	}
	if deb := cachedDeb(pkg, cache); deb != "" {
		return deb, nil
	}
	return "", fmt.Errorf("apt-get download %s left no %s_*.deb in %s", pkg, pkg, cache)
}

// cachedDeb returns the newest-named .deb of pkg in cache, or "".
func cachedDeb(pkg, cache string) string {
	// Debian escapes ':' in file names of versions with an epoch as %3a;
	// the package name itself has no '_'.
	matches, _ := filepath.Glob(filepath.Join(cache, globEscape(pkg)+"_*.deb"))
	if len(matches) == 0 {
		return ""
	}
	return matches[len(matches)-1]
}

// globEscape escapes the characters filepath.Match treats specially; '+'
// (linux-image-6.12.118+deb12-amd64) is not one.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// debField returns a control field of a .deb.
func debField(deb, field string) (string, error) {
	out, err := exec.Command("dpkg-deb", "--field", deb, field).Output()
	if err != nil {
		return "", fmt.Errorf("dpkg-deb --field %s %s: %w", filepath.Base(deb), field, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// extractImage unpacks boot/vmlinuz-* of deb into dir and returns its path,
// or "" if the package has none (a metapackage). An image unpacked before is
// reused.
func extractImage(deb, dir string) (string, error) {
	if imgs, _ := filepath.Glob(filepath.Join(dir, "vmlinuz-*")); len(imgs) == 1 {
		return imgs[0], nil
	}
	cmd := exec.Command("dpkg-deb", "--fsys-tarfile", deb)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("dpkg-deb: %w", err)
	}
	img, extractErr := extractFromTar(stdout, dir)
	// Drain what is left, so dpkg-deb exits.
	_, _ = io.Copy(io.Discard, stdout)
	if err := cmd.Wait(); err != nil {
		return "", fmt.Errorf("dpkg-deb --fsys-tarfile: %v: %s", err, lastLine(stderr.Bytes()))
	}
	return img, extractErr
}

// extractFromTar copies the first ./boot/vmlinuz-* regular file of a tar
// stream into dir.
func extractFromTar(r io.Reader, dir string) (string, error) {
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return "", nil
		}
		if err != nil {
			return "", fmt.Errorf("read package contents: %w", err)
		}
		name := strings.TrimPrefix(hdr.Name, "./")
		base := filepath.Base(name)
		if hdr.Typeflag != tar.TypeReg || filepath.Dir(name) != "boot" || !strings.HasPrefix(base, "vmlinuz-") {
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", err
		}
		dst := filepath.Join(dir, base)
		tmp := dst + ".tmp"
		f, err := os.Create(tmp)
		if err != nil {
			return "", err
		}
		if _, err := io.Copy(f, tr); err != nil {
			f.Close()
			os.Remove(tmp)
			return "", fmt.Errorf("unpack %s: %w", name, err)
		}
		if err := f.Close(); err != nil {
			os.Remove(tmp)
			return "", err
		}
		return dst, os.Rename(tmp, dst)
	}
}

// lastLine returns the last non-empty line of out.
func lastLine(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
