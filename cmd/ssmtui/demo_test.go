package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/crypto/ssh"

	"github.com/ssmtui/ssmtui/assets"
	"github.com/ssmtui/ssmtui/inventory"
	"github.com/ssmtui/ssmtui/sandbox"
)

func TestWriteDemoAWSFiles(t *testing.T) {
	fleet, err := sandbox.ParseFleet(assets.DemoFleet)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files, profiles, err := writeDemoAWSFiles(dir, fleet, "http://127.0.0.1:4567")
	if err != nil {
		t.Fatal(err)
	}
	if len(profiles) != len(fleet.Accounts) {
		t.Fatalf("%d profiles for %d accounts", len(profiles), len(fleet.Accounts))
	}
	// The files must read back, through the same parser the picker uses, as
	// exactly the fleet's profiles.
	got, err := inventory.LoadProfiles(files)
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range fleet.Accounts {
		if got[i].Name != a.Profile || got[i].Region != a.Regions[0] {
			t.Errorf("profile %d = %+v, want %s in %s", i, got[i], a.Profile, a.Regions[0])
		}
	}
	conf, _ := os.ReadFile(files.Config)
	creds, _ := os.ReadFile(files.Credentials)
	if n := strings.Count(string(conf), "endpoint_url = http://127.0.0.1:4567"); n != len(fleet.Accounts) {
		t.Errorf("endpoint_url lines = %d, want one per profile:\n%s", n, conf)
	}
	for _, a := range fleet.Accounts {
		if !strings.Contains(string(creds), "aws_access_key_id = "+a.AccessKeyID) {
			t.Errorf("credentials lack %s", a.AccessKeyID)
		}
	}
	for _, f := range []string{files.Config, files.Credentials} {
		if st, err := os.Stat(f); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v err %v, want 0600", f, st.Mode().Perm(), err)
		}
	}
}

func TestDemoKeySeedPersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "seed")
	a, err := demoKeySeed(path)
	if err != nil || len(a) != 32 {
		t.Fatalf("first seed: %d bytes, %v", len(a), err)
	}
	b, err := demoKeySeed(path)
	if err != nil || !bytes.Equal(a, b) {
		t.Fatalf("second run got another seed (%v)", err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("seed mode %v, want 0600", st.Mode().Perm())
	}
}

func TestDemoIdentityStable(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ssmtui")
	key1, auth1, err := demoIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	pub1, _ := os.ReadFile(auth1)
	key2, auth2, err := demoIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	pub2, _ := os.ReadFile(auth2)
	if key1 != key2 || !bytes.Equal(pub1, pub2) || !bytes.HasPrefix(pub1, []byte("ssh-ed25519 ")) {
		t.Fatalf("identity changed between runs or is not ed25519: %q vs %q", pub1, pub2)
	}
	pemBytes, err := os.ReadFile(key1)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(pemBytes)
	if err != nil {
		t.Fatalf("key file does not parse: %v", err)
	}
	if !bytes.Equal(ssh.MarshalAuthorizedKey(signer.PublicKey()), pub1) {
		t.Error("authorized_keys does not hold the key file's public key")
	}
	if st, _ := os.Stat(key1); st.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v", st.Mode().Perm())
	}
}

func TestSetProcessEnvRestores(t *testing.T) {
	t.Setenv("SSMTUI_T_KEEP", "old")
	t.Setenv("SSMTUI_T_CLEAR", "secret")
	os.Unsetenv("SSMTUI_T_NEW")
	restore, err := setProcessEnv(map[string]string{"SSMTUI_T_KEEP": "new", "SSMTUI_T_NEW": "x"}, []string{"SSMTUI_T_CLEAR"})
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("SSMTUI_T_KEEP") != "new" || os.Getenv("SSMTUI_T_NEW") != "x" {
		t.Error("vars not set")
	}
	if _, ok := os.LookupEnv("SSMTUI_T_CLEAR"); ok {
		t.Error("cleared var still set")
	}
	restore()
	if os.Getenv("SSMTUI_T_KEEP") != "old" || os.Getenv("SSMTUI_T_CLEAR") != "secret" {
		t.Error("previous values not restored")
	}
	if _, ok := os.LookupEnv("SSMTUI_T_NEW"); ok {
		t.Error("new var left behind")
	}
}

// waitText waits until s shows want at or after position from of its
// text, failing the test when ctx ends, and returns the index past the match.
func waitText(ctx context.Context, t *testing.T, s interface{ text() string }, from int, want string) int {
	t.Helper()
	for {
		txt := s.text()
		if from <= len(txt) {
			if i := strings.Index(txt[from:], want); i >= 0 {
				return from + i + len(want)
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %q: %v; screen:\n%s", want, ctx.Err(), txt)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// demoInstanceID returns the ID of a demo fleet instance by name.
func demoInstanceID(t *testing.T, name string) string {
	t.Helper()
	fleet, err := sandbox.ParseFleet(assets.DemoFleet)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range fleet.Accounts {
		for _, in := range a.Instances {
			if in.Name == name {
				return in.ID
			}
		}
	}
	t.Fatalf("no %s in the demo fleet", name)
	return ""
}

// TestDemoInProcessLifecycle runs `ssmtui demo` in-process on a pseudo-
// terminal: the temporary AWS profiles point at the sandbox, q quits with
// status 0, the temporary files are gone, the process environment is as it
// was, and the host-key seed and demo key persist for the next run. The
// connect flow on screen is TestDemoTmux's (a cell-diffing renderer's raw
// bytes are no screen to wait on).
func TestDemoInProcessLifecycle(t *testing.T) {
	home := t.TempDir()
	tmp := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("TMPDIR", tmp)
	t.Setenv("SSH_AUTH_SOCK", "")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAUSERSREALKEY0000") // must neither leak into the demo nor be lost
	t.Setenv("AWS_ENDPOINT_URL_SSM", "https://ssm.example.invalid")
	t.Setenv("TERM", "xterm-256color")

	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatalf("open a pseudo-terminal: %v", err)
	}
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 30, Cols: 120}); err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = io.Copy(io.Discard, ptmx) }()

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	env := &cliEnv{stdin: tty, stdout: tty, stderr: &stderr, getenv: os.Getenv}
	// On failure, the demo is stopped before its terminal is closed.
	done := runOnTerminal(t, ctx, cancel, env, []string{"demo"}, ptmx, tty)

	// While it runs: profiles for every account, pointing at a live sandbox,
	// and the process environment switched to them.
	var conf []byte
	for {
		if m, _ := filepath.Glob(filepath.Join(tmp, "ssmtui-demo-*", "credentials")); len(m) == 1 {
			conf, _ = os.ReadFile(filepath.Join(filepath.Dir(m[0]), "config"))
			if len(conf) > 0 && os.Getenv("AWS_CONFIG_FILE") != "" {
				break
			}
		}
		select {
		case <-ctx.Done():
			t.Fatal("the demo never wrote its AWS profiles")
		case <-time.After(20 * time.Millisecond):
		}
	}
	for _, want := range []string{"[profile demo-prod]", "[profile demo-dev]", "endpoint_url = http://127.0.0.1:"} {
		if !strings.Contains(string(conf), want) {
			t.Errorf("demo AWS config lacks %q:\n%s", want, conf)
		}
	}
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_ENDPOINT_URL_SSM"} {
		if got := os.Getenv(k); got != "" {
			t.Errorf("%s = %q inside the demo, want it cleared", k, got)
		}
	}
	if os.Getenv("AWS_EC2_METADATA_DISABLED") != "true" || !strings.HasPrefix(os.Getenv("AWS_ENDPOINT_URL"), "http://127.0.0.1:") {
		t.Error("demo must disable IMDS and point every service at the sandbox")
	}

	if _, err := ptmx.WriteString("q"); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("demo exit code %d; stderr: %s", code, stderr.String())
		}
	case <-ctx.Done():
		t.Fatal("demo did not quit")
	}
	if got := os.Getenv("AWS_ACCESS_KEY_ID"); got != "AKIAUSERSREALKEY0000" {
		t.Errorf("AWS_ACCESS_KEY_ID after demo = %q", got)
	}
	if got := os.Getenv("AWS_ENDPOINT_URL_SSM"); got != "https://ssm.example.invalid" {
		t.Errorf("AWS_ENDPOINT_URL_SSM after demo = %q", got)
	}
	for _, k := range []string{"AWS_CONFIG_FILE", "AWS_ENDPOINT_URL"} {
		if _, ok := os.LookupEnv(k); ok {
			t.Errorf("%s left set", k)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(tmp, "ssmtui-demo-*")); len(left) > 0 {
		t.Errorf("temp files left: %v", left)
	}
	for _, f := range []string{"demo-host-key-seed", "demo_id_ed25519", "demo_authorized_keys"} {
		if _, err := os.Stat(filepath.Join(home, ".config", "ssmtui", f)); err != nil {
			t.Errorf("%s not persisted: %v", f, err)
		}
	}
}

// TestDemoTmux is the end-to-end check of the built binary in tmux, as a
// user runs it. It skips only when tmux is missing and SSMTUI_E2E is unset.
func TestDemoTmux(t *testing.T) {
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		if os.Getenv("SSMTUI_E2E") != "" {
			t.Fatalf("SSMTUI_E2E is set but tmux is missing: %v", err)
		}
		t.Skip("tmux not installed (set SSMTUI_E2E=1 to require this test)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "ssmtui")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	home := filepath.Join(dir, "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "tmux.sock")
	session := "ssmtui-e2e"
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.CommandContext(ctx, tmux, append([]string{"-S", sock}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	cmd := "env HOME=" + home + " TERM=xterm-256color SSH_AUTH_SOCK= " + bin + " demo; echo demo-exited-$?; sleep 60"
	run("new-session", "-d", "-s", session, "-x", "120", "-y", "30", cmd)
	defer func() { _ = exec.Command(tmux, "-S", sock, "kill-server").Run() }()
	pane := &tmuxPane{ctx: ctx, t: t, run: run, target: session}
	keys := func(k ...string) { run(append([]string{"send-keys", "-t", session}, k...)...) }
	id := demoInstanceID(t, "dev-web-1")

	waitText(ctx, t, pane, 0, "dev-web-1")
	keys("/", "dev-web-1")
	waitText(ctx, t, pane, 0, "1/")
	keys("Enter")
	keys("Enter")
	waitText(ctx, t, pane, 0, "Unknown host key")
	keys("y")
	waitText(ctx, t, pane, 0, "@dev-web-1") // the remote prompt: the shell owns the terminal
	keys("echo marker-$SSMTUI_INSTANCE_ID", "Enter")
	waitText(ctx, t, pane, 0, "marker-"+id)
	keys("exit 7", "Enter")
	waitText(ctx, t, pane, 0, "dev-web-1 ("+id+"): exit 7")
	waitText(ctx, t, pane, 0, "10 regions") // the picker is back, status intact
	// An on-prem node: no EC2 Instance Connect, the demo's own key opens it.
	keys("/", "C-u", "dc-rack12-app", "Enter", "Enter")
	waitText(ctx, t, pane, 0, "Unknown host key")
	keys("y")
	waitText(ctx, t, pane, 0, "@dc-rack12-app")
	keys("exit", "Enter")
	waitText(ctx, t, pane, 0, "): exit 0")
	keys("q")
	waitText(ctx, t, pane, 0, "demo-exited-0")
}

// tmuxPane reads a tmux pane's visible screen.
type tmuxPane struct {
	ctx    context.Context
	t      *testing.T
	run    func(args ...string) string
	target string
}

func (p *tmuxPane) text() string { return p.run("capture-pane", "-p", "-t", p.target) }
