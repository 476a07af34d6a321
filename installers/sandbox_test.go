package installers

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sandbox is a throwaway copy of this machine's root file system for
// tests that install things: an overlay of / whose writable layer is a
// tmpfs, in a private mount namespace held open by a sleeping process.
// Commands chrooted into it see the real /usr, /etc and /var; whatever
// they write (dpkg's database, users, init scripts, runlevel links,
// /var/lib) lands in the tmpfs and vanishes with the namespace. /run and
// /tmp are empty, so no systemd is seen to run, and kardianos/service
// falls back to SysV init as it does where systemd is not PID 1.
type sandbox struct {
	t      *testing.T
	holder *exec.Cmd
	root   string // the overlay, as the holder sees it
}

func newSandbox(t *testing.T) *sandbox {
	t.Helper()
	needRoot(t)
	need(t, "unshare", "nsenter", "chroot", "sleep")
	holder := exec.Command("unshare", "--mount", "--propagation", "private", "--", "sleep", "3600")
	// If this test process dies, so does the namespace.
	holder.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := holder.Start(); err != nil {
		t.Fatalf("unshare: %v", err)
	}
	dir := t.TempDir()
	s := &sandbox{t: t, holder: holder, root: filepath.Join(dir, "root")}
	t.Cleanup(s.close)

	// Mounting before unshare(2) has happened would mount on this machine
	// itself: wait until the holder runs sleep in a mount namespace of its own.
	self, _ := os.Readlink("/proc/self/ns/mnt")
	deadline := time.Now().Add(10 * time.Second)
	for {
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", holder.Process.Pid))
		ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", holder.Process.Pid))
		if strings.TrimSpace(string(comm)) == "sleep" && ns != "" && ns != self {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("unshare did not enter a mount namespace of its own (comm %q, ns %q)", comm, ns)
		}
		time.Sleep(10 * time.Millisecond)
	}
	setup := `set -eu
D=$1
mount -t tmpfs -o mode=0755 attesta-sandbox "$D"
mkdir "$D/upper" "$D/work" "$D/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$D/upper,workdir=$D/work" "$D/root"
mount -t proc proc "$D/root/proc"
mount --rbind /dev "$D/root/dev"
mount --rbind /sys "$D/root/sys"
mount -t tmpfs -o mode=0755 tmpfs "$D/root/run"
mount -t tmpfs -o mode=1777 tmpfs "$D/root/tmp"
# Look like a machine, not a container: kardianos treats every process in
# a container as started from a terminal.
rm -f "$D/root/.dockerenv"
# Start from a machine without Attesta, whatever this one has (whiteouts:
# the real files stay).
rm -rf "$D/root/etc/attesta" "$D/root/var/lib/attesta-hub" "$D/root/var/lib/attesta-collector" \
	"$D/root"/etc/init.d/attesta-* "$D/root"/etc/rc?.d/*attesta-* "$D/root"/etc/systemd/system/attesta-* \
	"$D/root"/usr/local/bin/attesta-*
`
	out, err := s.nsenter("sh", "-c", setup, "sh", dir).CombinedOutput()
	if err != nil {
		missing(t, fmt.Sprintf("cannot make an overlay root in a mount namespace here: %v\n%s", err, out))
	}
	return s
}

func (s *sandbox) nsenter(args ...string) *exec.Cmd {
	cmd := exec.Command("nsenter", append([]string{"-t", strconv.Itoa(s.holder.Process.Pid), "-m", "--"}, args...)...)
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C",
		"HOME=/root", "DEBIAN_FRONTEND=noninteractive"}
	return cmd
}

// Command is a command chrooted into the sandbox.
func (s *sandbox) Command(name string, args ...string) *exec.Cmd {
	return s.nsenter(append([]string{"chroot", s.root, name}, args...)...)
}

// Run runs a command in the sandbox and returns its combined output; a
// failure fails the test.
func (s *sandbox) Run(name string, args ...string) string {
	s.t.Helper()
	out, err := s.Command(name, args...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("in sandbox: %s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// RunErr runs a command in the sandbox and returns its output and error.
func (s *sandbox) RunErr(name string, args ...string) (string, error) {
	out, err := s.Command(name, args...).CombinedOutput()
	return string(out), err
}

// Path is where this process reaches the sandbox's path p: through the
// holder's root, which sees the namespace's mounts.
func (s *sandbox) Path(p string) string {
	return fmt.Sprintf("/proc/%d/root%s%s", s.holder.Process.Pid, s.root, p)
}

// Exists reports whether p exists in the sandbox (links are not followed).
func (s *sandbox) Exists(p string) bool {
	_, err := os.Lstat(s.Path(p))
	return err == nil
}

// CopyIn copies a file of this machine to p in the sandbox.
func (s *sandbox) CopyIn(src, p string, mode os.FileMode) {
	s.t.Helper()
	b, err := os.ReadFile(src)
	if err == nil {
		err = os.MkdirAll(filepath.Dir(s.Path(p)), 0o755)
	}
	if err == nil {
		err = os.WriteFile(s.Path(p), b, mode)
	}
	if err != nil {
		s.t.Fatal(err)
	}
}

// close ends every process in the namespace (daemons the test started and
// did not stop, after a failure), then the holder; the mounts go with them.
func (s *sandbox) close() {
	ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", s.holder.Process.Pid))
	if err == nil {
		procs, _ := filepath.Glob("/proc/[0-9]*")
		for _, p := range procs {
			pid, _ := strconv.Atoi(filepath.Base(p))
			if pid == s.holder.Process.Pid {
				continue
			}
			if l, _ := os.Readlink(p + "/ns/mnt"); l == ns {
				s.t.Logf("sandbox: killing pid %d left running", pid)
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	s.holder.Process.Kill()
	s.holder.Wait()
}
