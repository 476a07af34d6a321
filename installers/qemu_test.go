package installers

import (
	"debug/elf"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/attesta/attesta/shared/e2e"
)

// TestArm64CollectorUnderQemu runs the linux/arm64 collector from dist
// under qemu-user, enrolls it at a native hub on loopback, captures a
// consent and sees it arrive at the hub: the cross-built program, cgo
// SQLite included, works, not only links.
func TestArm64CollectorUnderQemu(t *testing.T) {
	if runtime.GOARCH == "arm64" {
		t.Skip("skipped: this machine is arm64; there is nothing to emulate")
	}
	hubBin := artifact(t, "linux-"+runtime.GOARCH, "attesta-hub_VERSION_linux_"+runtime.GOARCH)
	armBin := artifact(t, "linux-arm64", "attesta-collector_VERSION_linux_arm64")
	need(t, "qemu-aarch64")
	const sysroot = "/usr/aarch64-linux-gnu" // libc6-arm64-cross
	if _, err := os.Stat(sysroot + "/lib/ld-linux-aarch64.so.1"); err != nil {
		missing(t, "libc6-arm64-cross is not installed (no "+sysroot+"/lib/ld-linux-aarch64.so.1)")
	}
	f, err := elf.Open(armBin)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if f.Machine != elf.EM_AARCH64 {
		t.Fatalf("%s is %v, not arm64", armBin, f.Machine)
	}

	// The e2e harness runs "the collector" as a program path: give it one
	// that runs the arm64 program under qemu.
	wrapper := filepath.Join(t.TempDir(), "attesta-collector")
	script := "#!/bin/sh\nexec qemu-aarch64 -L " + sysroot + " '" + armBin + "' \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(run(t, wrapper, "version")); got != version {
		t.Fatalf("arm64 attesta-collector version printed %q, want %q", got, version)
	}
	saved := e2e.Binaries
	t.Cleanup(func() { e2e.Binaries = saved })
	e2e.Binaries.Hub, e2e.Binaries.Collector = hubBin, wrapper

	hub := e2e.NewHub(t)
	c := e2e.EnrollCollector(t, hub.URL(), hub.EnrollCode("Arm64 kiosk"))
	c.Start()
	if exe := emulator(armBin); !strings.HasSuffix(exe, "/qemu-aarch64") {
		t.Fatalf("the running collector is %q, not the arm64 program under qemu-aarch64", exe)
	}
	id, err := c.Capture()
	if err != nil {
		t.Fatal(err)
	}
	e2e.Eventually(t, 60*time.Second, "the arm64 collector's consent at the hub", func() (bool, string) {
		evs, err := hub.Events()
		if err != nil {
			return false, err.Error()
		}
		for _, e := range evs {
			if e.ID == id && e.Collector == c.ID {
				return true, ""
			}
		}
		return false, "not yet"
	})
	c.Stop()
	hub.Stop()
}

// emulator is the executable of the running process whose command line
// names prog: qemu-aarch64 when prog runs emulated.
func emulator(prog string) string {
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		cmdline, _ := os.ReadFile(p + "/cmdline")
		if strings.Contains(string(cmdline), prog+"\x00run\x00") {
			exe, _ := os.Readlink(p + "/exe")
			return exe
		}
	}
	return ""
}
