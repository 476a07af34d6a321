package installers

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// version is what the artifacts under test are built as; it must reach
// both programs' version commands and the packages.
const version = "1.2.3+test"

// dist is what TestMain built, once for the whole run.
var dist struct {
	dir   string // dist.sh's $DIST
	build string // dist.sh's $BUILD (the test CA is in build/sign)
	// steps maps each dist.sh step to its outcome: nil when built, else why not.
	steps map[string]error
}

// steps are dist.sh's steps in order, with the tools each needs beyond Go
// and the step it builds on.
var steps = []struct {
	name, after string
	tools       []string
}{
	{"linux-amd64", "", []string{cc("amd64")}},
	{"linux-arm64", "", []string{cc("arm64")}},
	{"deb-amd64", "linux-amd64", []string{"readelf"}},
	{"deb-arm64", "linux-arm64", []string{"readelf"}},
	{"windows", "", []string{"x86_64-w64-mingw32-gcc", "osslsigncode", "openssl", "zip"}},
	{"sums", "", []string{"sha256sum"}},
}

// cc is the C compiler dist.sh uses for linux/arch (SQLite is cgo).
func cc(arch string) string {
	if arch == runtime.GOARCH {
		return "gcc"
	}
	return map[string]string{"amd64": "x86_64-linux-gnu-gcc", "arm64": "aarch64-linux-gnu-gcc"}[arch]
}

// missingTool is a step that could not run here for want of a tool.
type missingTool struct{ tool string }

func (m missingTool) Error() string { return m.tool + " is not installed" }

func TestMain(m *testing.M) {
	flag.Parse()
	tmp, err := os.MkdirTemp("", "attesta-dist-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	dist.dir, dist.build = filepath.Join(tmp, "dist"), filepath.Join(tmp, "build")
	dist.steps = map[string]error{}
	start := time.Now()
	for _, s := range steps {
		if err := dist.steps[s.after]; s.after != "" && err != nil {
			dist.steps[s.name] = err // a deb needs its arch's programs
			continue
		}
		dist.steps[s.name] = runStep(s.name, s.tools)
	}
	fmt.Fprintf(os.Stderr, "installers: dist.sh built the artifacts in %s\n", time.Since(start).Round(100*time.Millisecond))
	code := m.Run()
	os.RemoveAll(tmp)
	os.Exit(code)
}

func runStep(name string, tools []string) error {
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			return missingTool{tool}
		}
	}
	cmd := exec.Command("bash", "dist.sh", name)
	cmd.Env = append(os.Environ(), "VERSION="+version, "DIST="+dist.dir, "BUILD="+dist.build)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("dist.sh %s: %v\n%s", name, err, out)
	}
	return nil
}

// inCI reports whether missing tools must fail the tests rather than skip them.
func inCI() bool { return os.Getenv("CI") == "true" }

// need skips t, or fails it under CI, unless every tool is on PATH.
func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			missing(t, tool+" is not installed")
		}
	}
}

// needRoot skips t, or fails it under CI, unless it runs as root.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		missing(t, "needs root")
	}
}

func missing(t *testing.T, why string) {
	t.Helper()
	if inCI() {
		t.Fatalf("%s (CI=true: CI must run this test; .ci/run installs what it needs)", why)
	}
	t.Skipf("skipped: %s", why)
}

// built returns the dist folder once step has been built; a step that
// failed fails t, one that lacked a tool skips it (fails it under CI).
func built(t *testing.T, step string) string {
	t.Helper()
	err, ok := dist.steps[step]
	switch {
	case !ok:
		t.Fatalf("no dist.sh step %q", step)
	case err == nil:
		return dist.dir
	}
	if m, ok := err.(missingTool); ok {
		missing(t, "dist.sh "+step+": "+m.Error())
	}
	t.Fatal(err)
	return ""
}

// artifact is the path of a file in dist, named as dist.sh names it.
func artifact(t *testing.T, step, name string) string {
	t.Helper()
	p := filepath.Join(built(t, step), strings.ReplaceAll(name, "VERSION", version))
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("dist.sh %s did not make %s: %v", step, filepath.Base(p), err)
	}
	return p
}

// run runs a command and returns its combined output; failure fails t.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}
