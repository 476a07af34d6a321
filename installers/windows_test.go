package installers

import (
	"archive/zip"
	"bytes"
	"debug/pe"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestWindowsZip opens the Windows zip from dist: the collector is a
// PE32+ program for x86-64 carrying the version, and it and both
// PowerShell scripts hold Authenticode signatures that osslsigncode
// verifies against the build's test CA, and that a changed byte breaks.
func TestWindowsZip(t *testing.T) {
	zipPath := artifact(t, "windows", "attesta-collector_VERSION_windows_amd64.zip")
	need(t, "osslsigncode")
	dir := t.TempDir()
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		unzip(t, f, filepath.Join(dir, f.Name))
	}
	zr.Close()
	slices.Sort(names)
	if want := []string{"attesta-collector.exe", "attesta-kiosk.ps1", "install.ps1"}; !slices.Equal(names, want) {
		t.Fatalf("the zip holds %v, want %v", names, want)
	}

	exe := filepath.Join(dir, "attesta-collector.exe")
	f, err := pe.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	oh, ok := f.OptionalHeader.(*pe.OptionalHeader64)
	f.Close()
	switch {
	case f.Machine != pe.IMAGE_FILE_MACHINE_AMD64:
		t.Fatalf("machine %#x, want AMD64", f.Machine)
	case !ok || oh.Magic != 0x20b:
		t.Fatalf("not PE32+: optional header %T", f.OptionalHeader)
	case oh.Subsystem != pe.IMAGE_SUBSYSTEM_WINDOWS_CUI:
		t.Fatalf("subsystem %d, want the console (it is run from PowerShell and by the service manager)", oh.Subsystem)
	case oh.DataDirectory[pe.IMAGE_DIRECTORY_ENTRY_SECURITY].Size == 0:
		t.Fatal("no certificate table: the exe is not signed")
	}
	if b, _ := os.ReadFile(exe); !bytes.Contains(b, []byte(version)) {
		t.Errorf("the exe does not carry version %s", version)
	}

	ca := filepath.Join(dist.build, "sign", "test-ca.pem")
	for _, name := range names {
		out, err := exec.Command("osslsigncode", "verify", "-CAfile", ca, "-in", filepath.Join(dir, name)).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Signature verification: ok") || !strings.Contains(string(out), "Subject: /O=Attesta/CN=Attesta TEST code signing\n") {
			t.Errorf("osslsigncode verify %s: %v\n%s", name, err, out)
		}
	}

	// The check can fail: one changed byte of code, and the digest no longer matches.
	b, _ := os.ReadFile(exe)
	b[oh.SizeOfHeaders+1024] ^= 0xff
	tampered := filepath.Join(dir, "tampered.exe")
	os.WriteFile(tampered, b, 0o644)
	if out, err := exec.Command("osslsigncode", "verify", "-CAfile", ca, "-in", tampered).CombinedOutput(); err == nil {
		t.Errorf("osslsigncode verified a tampered exe:\n%s", out)
	}
}

func unzip(t *testing.T, f *zip.File, dst string) {
	t.Helper()
	r, err := f.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := io.Copy(w, r); err != nil {
		t.Fatal(err)
	}
}
