// Package installers puts Attesta on machines: hardened systemd units
// (systemd/), Debian packages built with nfpm (deb/), the example settings
// files the units read (config/), the Linux kiosk launcher (linux/), the
// Windows zip with its signed exe and PowerShell scripts (windows/), and
// dist.sh, which 'make dist' runs to build all of it into dist/.
//
// The Go code here is only tests, and they test the artifacts themselves,
// built once per run by dist.sh: both services installed, started,
// stopped and removed through kardianos/service; the .debs inspected and
// installed, upgraded, removed and purged; the linux/arm64 collector run
// under qemu-user against a native hub; the Windows exe checked as PE32+
// and its Authenticode signature verified; a database newer than the
// program refused with a clear message. Whatever changes the machine runs
// in a throwaway overlay of the root file system inside a private mount
// namespace (see sandbox_test.go), so the real /etc, /run and /var are
// never touched.
//
// A tool missing on a developer's machine (a cross compiler, qemu-user,
// osslsigncode, unshare, root) skips the tests that need it with the
// reason; with CI=true it fails them instead, so CI proves everything.
package installers
