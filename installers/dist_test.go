package installers

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
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

// TestVersionFromGit runs version.sh, which names releases when VERSION is
// not given, in a scratch repository through a release's life.
func TestVersionFromGit(t *testing.T) {
	need(t, "git")
	script, _ := filepath.Abs("version.sh")
	repo := t.TempDir()
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
		cmd.Dir = repo
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	describe := func() string {
		t.Helper()
		cmd := exec.Command("bash", script)
		cmd.Dir = repo
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("version.sh: %v\n%s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	commit := func(file string) {
		t.Helper()
		os.WriteFile(filepath.Join(repo, file), []byte(file), 0o644)
		git("add", file)
		git("commit", "-q", "-m", file)
	}

	git("init", "-q")
	commit("a")
	if got, want := describe(), "0.0.0+git."+git("rev-parse", "--short=12", "HEAD"); got != want {
		t.Errorf("before any tag: %q, want %q", got, want)
	}
	git("tag", "v1.2.0")
	if got := describe(); got != "1.2.0" {
		t.Errorf("on v1.2.0: %q", got)
	}
	commit("b")
	commit("c")
	if got, want := describe(), "1.2.0+2.g"+git("rev-parse", "--short", "HEAD"); got != want {
		t.Errorf("2 commits after v1.2.0: %q, want %q", got, want)
	}
	os.WriteFile(filepath.Join(repo, "c"), []byte("changed"), 0o644)
	if got := describe(); !strings.HasSuffix(got, ".dirty") {
		t.Errorf("with uncommitted changes: %q, want a .dirty suffix", got)
	}
	// Debian must order them as they were made.
	if _, err := exec.LookPath("dpkg"); err == nil {
		if err := exec.Command("dpkg", "--compare-versions", "1.2.0+2.gabc", "gt", "1.2.0").Run(); err != nil {
			t.Error("dpkg does not sort 1.2.0+2.gabc after 1.2.0")
		}
		if err := exec.Command("dpkg", "--compare-versions", "1.2.0", "gt", "0.0.0+git.abc").Run(); err != nil {
			t.Error("dpkg does not sort 1.2.0 after 0.0.0+git.abc")
		}
	}
}
