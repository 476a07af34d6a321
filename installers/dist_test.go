package installers

import (
	"debug/elf"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// TestDist checks what 'make dist' promises: every artifact, nothing else,
// each in SHA256SUMS with its right sum, and the version reaching the
// programs through -ldflags.
func TestDist(t *testing.T) {
	for _, s := range steps {
		built(t, s.name)
	}
	want := []string{"SHA256SUMS"}
	for _, arch := range []string{"amd64", "arm64"} {
		for _, p := range []string{"hub", "collector"} {
			want = append(want, "attesta-"+p+"_"+version+"_linux_"+arch, "attesta-"+p+"_"+version+"_"+arch+".deb")
		}
	}
	want = append(want, "attesta-collector_"+version+"_windows_amd64.zip")
	slices.Sort(want)
	entries, err := os.ReadDir(dist.dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if !slices.Equal(got, want) {
		t.Fatalf("dist holds\n  %v\nwant\n  %v", got, want)
	}

	sums, _ := os.ReadFile(artifact(t, "sums", "SHA256SUMS"))
	if n := strings.Count(string(sums), "\n"); n != len(want)-1 {
		t.Fatalf("SHA256SUMS has %d lines for %d artifacts:\n%s", n, len(want)-1, sums)
	}
	check := exec.Command("sha256sum", "--check", "--strict", "SHA256SUMS")
	check.Dir = dist.dir
	if out, err := check.CombinedOutput(); err != nil {
		t.Fatalf("sha256sum --check: %v\n%s", err, out)
	}

	for _, arch := range []string{"amd64", "arm64"} {
		for _, p := range []string{"hub", "collector"} {
			bin := artifact(t, "linux-"+arch, "attesta-"+p+"_VERSION_linux_"+arch)
			wantMachine := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[arch]
			f, err := elf.Open(bin)
			if err != nil {
				t.Fatal(err)
			}
			if f.Machine != wantMachine || f.Class != elf.ELFCLASS64 {
				t.Errorf("%s is %v %v, want %v", bin, f.Class, f.Machine, wantMachine)
			}
			f.Close()
			if arch == runtime.GOARCH {
				if out := strings.TrimSpace(run(t, bin, "version")); out != version {
					t.Errorf("attesta-%s version printed %q, want %q (-ldflags -X)", p, out, version)
				}
			}
		}
	}
}
