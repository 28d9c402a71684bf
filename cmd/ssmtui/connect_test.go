package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/ssmtui/ssmtui/inventory"
	"github.com/ssmtui/ssmtui/sandbox"
	"github.com/ssmtui/ssmtui/session"
	"github.com/ssmtui/ssmtui/sshclient"
	"github.com/ssmtui/ssmtui/ui"
)

// The connect-path fleet: one account, two enabled regions and a denied
// one, with the knobs the failure tests need.
const (
	cxProfile   = "cx"
	cxAccount   = "111122223333"
	cxAKID      = "AKIACONNECTTEST0001"
	cxWeb       = "i-0a0000000000000a1" // Amazon Linux, us-east-1
	cxAPI       = "i-0b0000000000000b2" // Ubuntu, eu-west-1
	cxLost      = "i-0c0000000000000c3" // agent ConnectionLost
	cxNoSSH     = "i-0d0000000000000d4" // nothing on port 22
	cxNoEIC     = "i-0e0000000000000e5" // EC2 Instance Connect unsupported
	cxDupEast   = "i-0f0000000000000f6" // "worker" in us-east-1
	cxDupWest   = "i-0f0000000000000f7" // "worker" in eu-west-1
	cxDenied    = "i-090000000000000a8" // in the denied region
	cxDeniedReg = "ap-south-1"
)

func cxFleet() *sandbox.Fleet {
	return &sandbox.Fleet{Accounts: []sandbox.Account{{
		ID: cxAccount, Profile: cxProfile, AccessKeyID: cxAKID, SecretAccessKey: "cx-secret",
		UserARN:       "arn:aws:iam::" + cxAccount + ":user/tester",
		Regions:       []string{"us-east-1", "eu-west-1", cxDeniedReg},
		DeniedRegions: []string{cxDeniedReg},
		Instances: []sandbox.Instance{
			{ID: cxWeb, Region: "us-east-1", Name: "web", PlatformName: "Amazon Linux", PrivateIP: "10.0.1.10"},
			{ID: cxAPI, Region: "eu-west-1", Name: "api", PlatformName: "Ubuntu", PrivateIP: "10.1.2.20"},
			{ID: cxLost, Region: "us-east-1", Name: "batch", PlatformName: "Amazon Linux", PingStatus: "ConnectionLost"},
			{ID: cxNoSSH, Region: "us-east-1", Name: "appliance", PlatformName: "Amazon Linux", NoSSH: true},
			{ID: cxNoEIC, Region: "us-east-1", Name: "legacy", PlatformName: "Amazon Linux", EICUnsupported: true},
			{ID: cxDupEast, Region: "us-east-1", Name: "worker", PlatformName: "Amazon Linux"},
			{ID: cxDupWest, Region: "eu-west-1", Name: "worker", PlatformName: "Amazon Linux"},
			{ID: cxDenied, Region: cxDeniedReg, Name: "secret", PlatformName: "Amazon Linux"},
		},
	}}}
}

// cxEnv is a hermetic environment around a sandbox: temporary HOME, XDG
// dirs (so known_hosts, ~/.ssh and the inventory cache are temporary), AWS
// shared files with one static-key profile, AWS_ENDPOINT_URL, IMDS off and
// no ssh-agent. The process environment is set with t.Setenv, so tests using
// it are not parallel; subprocesses (ssh) inherit it.
type cxEnv struct {
	sb    *sandbox.Sandbox
	home  string
	files inventory.ProfileFiles
}

func newCxEnv(t testing.TB, opts sandbox.Options) *cxEnv {
	t.Helper()
	if opts.Fleet == nil {
		opts.Fleet = cxFleet()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sb, err := sandbox.Start(ctx, opts)
	if err != nil {
		t.Fatalf("start sandbox: %v", err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	home := t.TempDir()
	e := &cxEnv{sb: sb, home: home, files: inventory.ProfileFiles{
		Config: filepath.Join(home, ".aws", "config"), Credentials: filepath.Join(home, ".aws", "credentials"),
	}}
	var cfg, creds strings.Builder
	for _, a := range opts.Fleet.Accounts {
		cfg.WriteString("[profile " + a.Profile + "]\nregion = us-east-1\n\n")
		creds.WriteString("[" + a.Profile + "]\naws_access_key_id = " + a.AccessKeyID + "\naws_secret_access_key = " + a.SecretAccessKey + "\n\n")
	}
	cxWrite(t, e.files.Config, cfg.String())
	cxWrite(t, e.files.Credentials, creds.String())
	for k, v := range map[string]string{
		"HOME": home, "XDG_CONFIG_HOME": filepath.Join(home, ".config"), "XDG_CACHE_HOME": filepath.Join(home, ".cache"),
		"AWS_CONFIG_FILE": e.files.Config, "AWS_SHARED_CREDENTIALS_FILE": e.files.Credentials,
		"AWS_ENDPOINT_URL": sb.URL(), "AWS_EC2_METADATA_DISABLED": "true", "AWS_PROFILE": cxProfile,
		"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "",
		"AWS_REGION": "", "AWS_DEFAULT_REGION": "", "AWS_CA_BUNDLE": "", "AWS_MAX_ATTEMPTS": "",
		"AWS_ENDPOINT_URL_SSM": "", "AWS_ENDPOINT_URL_EC2": "", "AWS_ENDPOINT_URL_STS": "",
		"AWS_ENDPOINT_URL_EC2_INSTANCE_CONNECT": "", "SSH_AUTH_SOCK": "", "SSMTUI_LOG_LEVEL": "",
	} {
		t.Setenv(k, v)
	}
	if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	return e
}

func cxWrite(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// cxResult is one in-process run of the CLI.
type cxResult struct {
	stdout, stderr string
	code           int
}

// run runs ssmtui in-process with stdin (nil: empty) and a deadline.
func (e *cxEnv) run(t testing.TB, stdin io.Reader, args ...string) cxResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	var out, errb bytes.Buffer
	env := &cliEnv{stdin: stdin, stdout: &out, stderr: &errb, getenv: os.Getenv}
	code := runMain(ctx, env, args)
	if ctx.Err() != nil {
		t.Fatalf("ssmtui %s: did not finish in time (stderr %q)", strings.Join(args, " "), errb.String())
	}
	return cxResult{out.String(), errb.String(), code}
}

// cxCLIEnv is a cliEnv on the process environment with empty stdin and
// discarded output, for calling helpers such as loadAWSConfig directly.
func cxCLIEnv() *cliEnv {
	return &cliEnv{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, getenv: os.Getenv}
}

// knownHostsPath is the temp HOME's ssmtui known_hosts.
func (e *cxEnv) knownHostsPath() string {
	return filepath.Join(e.home, ".config", "ssmtui", "known_hosts")
}

// trustHost stores the sandbox host key of id, as a first connection would.
func (e *cxEnv) trustHost(t testing.TB, id string) {
	t.Helper()
	hk, err := sshclient.OpenHostKeys(e.knownHostsPath())
	if err != nil {
		t.Fatal(err)
	}
	key, err := e.sb.HostPublicKey(id)
	if err != nil {
		t.Fatal(err)
	}
	if err := hk.Add(id, key); err != nil {
		t.Fatal(err)
	}
}

func wantContains(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s does not contain %q:\n%s", what, w, got)
		}
	}
}

// TestConnectNonTTYRunsShellThroughEIC drives `connect` with a piped
// stdin: the remote login shell (no PTY, like ssh -T) reads the script,
// the key came from EC2 Instance Connect, the host key is stored on first
// use, and the exit code is the shell's.
func TestConnectNonTTYRunsShellThroughEIC(t *testing.T) {
	e := newCxEnv(t, sandbox.Options{})
	script := "echo id=$SSMTUI_INSTANCE_ID user=$USER\nexit 3\n"
	r := e.run(t, strings.NewReader(script), "connect", "--accept-new-host-key", "web")
	if r.code != 3 {
		t.Fatalf("exit code %d, want 3 (stderr %q)", r.code, r.stderr)
	}
	wantContains(t, "stdout", r.stdout, "id="+cxWeb+" user=ec2-user")
	wantContains(t, "stderr", r.stderr, "host key") // TOFU is reported
	// The host key was stored under the instance ID.
	kh, err := os.ReadFile(e.knownHostsPath())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(kh), cxWeb+" ssh-ed25519 ") {
		t.Fatalf("known_hosts = %q", kh)
	}
	// A second connection uses the stored key (no flag needed) and exits 0.
	r = e.run(t, strings.NewReader("exit\n"), "connect", cxWeb, "--region", "us-east-1")
	if r.code != 0 {
		t.Fatalf("second connect: code %d stderr %q", r.code, r.stderr)
	}
}

// TestExecExitCodes: the process exit code is the remote one, output is
// streamed to the right stream, stdin is forwarded.
func TestExecExitCodes(t *testing.T) {
	e := newCxEnv(t, sandbox.Options{Hosts: sandbox.HostOptions{ExtraUsers: []string{"deploy"}}})
	e.trustHost(t, cxWeb)
	e.trustHost(t, cxAPI)
	for name, tc := range map[string]struct {
		args       []string
		stdin      string
		code       int
		out, errs  string
		notInOut   string
		wantRegion string
	}{
		"zero":          {args: []string{"web", "--", "echo", "hello"}, out: "hello\n"},
		"three":         {args: []string{"web", "--", "echo out; echo err >&2; exit 3"}, code: 3, out: "out\n", errs: "err\n", notInOut: "err"},
		"sigint is 130": {args: []string{"web", "--", "kill -INT $$"}, code: 130},
		"exit 130":      {args: []string{"web", "--", "exit 130"}, code: 130},
		"stdin":         {args: []string{"web", "--", "tr a-z A-Z"}, stdin: "piped data\n", out: "PIPED DATA\n"},
		"by IP":         {args: []string{"10.1.2.20", "--", "echo $SSMTUI_INSTANCE_ID"}, out: cxAPI + "\n"},
		"ubuntu user":   {args: []string{"api", "--", "echo $USER"}, out: "ubuntu\n"},
		"user@target":   {args: []string{"deploy@api", "--", "echo $USER"}, out: "deploy\n"},
	} {
		t.Run(name, func(t *testing.T) {
			var in io.Reader
			if tc.stdin != "" {
				in = strings.NewReader(tc.stdin)
			}
			r := e.run(t, in, append([]string{"exec"}, tc.args...)...)
			if r.code != tc.code {
				t.Fatalf("exit code %d, want %d (stderr %q)", r.code, tc.code, r.stderr)
			}
			if tc.out != "" && r.stdout != tc.out {
				t.Errorf("stdout %q, want %q", r.stdout, tc.out)
			}
			if tc.errs != "" && !strings.Contains(r.stderr, tc.errs) {
				t.Errorf("stderr %q, want %q in it", r.stderr, tc.errs)
			}
			if tc.notInOut != "" && strings.Contains(r.stdout, tc.notInOut) {
				t.Errorf("stdout %q contains %q", r.stdout, tc.notInOut)
			}
		})
	}
}

// TestConnectFailures: every failure names its cause and the next step,
// with the documented exit code.
func TestConnectFailures(t *testing.T) {
	e := newCxEnv(t, sandbox.Options{})
	for _, id := range []string{cxWeb, cxAPI, cxNoEIC, cxNoSSH} {
		e.trustHost(t, id)
	}
	for name, tc := range map[string]struct {
		args  []string
		code  int
		wants []string
	}{
		"offline": {
			args: []string{"exec", "batch", "--", "true"}, code: 255,
			wants: []string{cxLost, "offline", "ConnectionLost", "amazon-ssm-agent"},
		},
		"unknown id with region": {
			args: []string{"exec", "--region", "us-east-1", "i-0123456789abcdef0", "--", "true"}, code: 255,
			wants: []string{"TargetNotConnected", "--region"},
		},
		"access denied": {
			args: []string{"exec", "--region", cxDeniedReg, cxDenied, "--", "true"}, code: 255,
			wants: []string{"access denied", "ssm:StartSession", session.DocumentSSH, cxDenied},
		},
		"no sshd": {
			args: []string{"exec", "appliance", "--", "true"}, code: 255,
			wants: []string{"could not reach an SSH server", "ssmtui shell " + cxNoSSH},
		},
		"wrong user": {
			args: []string{"exec", "--user", "nosuchuser", "web", "--", "true"}, code: 255,
			wants: []string{`as "nosuchuser"`, "--user", "refused"},
		},
		"eic unsupported falls back": {
			args: []string{"exec", "legacy", "--", "true"}, code: 255,
			wants: []string{"EC2 Instance Connect", "refused"},
		},
		"ambiguous name": {
			args: []string{"exec", "worker", "--", "true"}, code: 255,
			wants: []string{cxDupEast, cxDupWest, "us-east-1", "eu-west-1", "instance ID"},
		},
		"unknown name": {
			args: []string{"exec", "wbe", "--", "true"}, code: 255,
			wants: []string{`no instance matches "wbe"`, "web", cxDeniedReg},
		},
		"usage": {args: []string{"exec", "web"}, code: 2, wants: []string{"needs a command"}},
	} {
		t.Run(name, func(t *testing.T) {
			r := e.run(t, nil, tc.args...)
			t.Logf("stderr: %s", r.stderr)
			if r.code != tc.code {
				t.Fatalf("exit code %d, want %d (stderr %q)", r.code, tc.code, r.stderr)
			}
			wantContains(t, "stderr", r.stderr, tc.wants...)
			if r.stdout != "" {
				t.Errorf("stdout not empty: %q", r.stdout)
			}
		})
	}

	// An expired SSO session names the login command, by name and by ID.
	cfg, err := os.ReadFile(e.files.Config)
	if err != nil {
		t.Fatal(err)
	}
	cxWrite(t, e.files.Config, string(cfg)+`[profile sso-dev]
sso_session = corp
sso_account_id = 444455556666
sso_role_name = Developer
region = us-east-1

[sso-session corp]
sso_start_url = https://corp.awsapps.com/start
sso_region = eu-west-1
`)
	cxWrite(t, filepath.Join(e.home, ".aws", "sso", "cache", "ee0bfd2552fbd840c02cc48b6e823320543c450f.json"),
		`{"accessToken":"expired","expiresAt":"2020-01-01T00:00:00Z","region":"eu-west-1","startUrl":"https://corp.awsapps.com/start"}`)
	for _, args := range [][]string{
		{"exec", "--profile", "sso-dev", "web", "--", "true"},
		{"exec", "--profile", "sso-dev", "--region", "us-east-1", cxWeb, "--", "true"},
		{"shell", "--profile", "sso-dev", "web"},
		{"proxy", "--profile", "sso-dev", cxWeb, "22"},
	} {
		r := e.run(t, nil, args...)
		if r.code == 0 || r.stdout != "" {
			t.Fatalf("%v: %+v", args, r)
		}
		wantContains(t, strings.Join(args, " "), r.stderr, "aws sso login --profile sso-dev")
	}

	// A changed host key fails closed and names the command that forgets it.
	hk, err := sshclient.OpenHostKeys(e.knownHostsPath())
	if err != nil {
		t.Fatal(err)
	}
	other, err := e.sb.HostPublicKey(cxAPI)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hk.Forget(cxWeb); err != nil {
		t.Fatal(err)
	}
	if err := hk.Add(cxWeb, other); err != nil {
		t.Fatal(err)
	}
	r := e.run(t, nil, "exec", "--accept-new-host-key", "web", "--", "echo should-not-run")
	if r.code != 255 || r.stdout != "" {
		t.Fatalf("changed host key: %+v", r)
	}
	wantContains(t, "stderr", r.stderr, "has changed", "ssmtui known-hosts forget "+cxWeb, e.knownHostsPath())

	// The forget command the mismatch names repairs it.
	r = e.run(t, nil, "known-hosts", "forget", cxWeb)
	if r.code != 0 || !strings.Contains(r.stderr, "removed 1 host key") {
		t.Fatalf("forget: %+v", r)
	}
	r = e.run(t, nil, "exec", "--accept-new-host-key", "web", "--", "echo ok")
	if r.code != 0 || r.stdout != "ok\n" {
		t.Fatalf("after forget: %+v", r)
	}
}

// TestResolveFromCacheSkipsScan: once the inventory is cached, a Name
// resolves without listing regions; an ID with --region never scans.
func TestResolveFromCacheSkipsScan(t *testing.T) {
	e := newCxEnv(t, sandbox.Options{})
	e.trustHost(t, cxWeb)
	if r := e.run(t, nil, "exec", "web", "--", "true"); r.code != 0 {
		t.Fatalf("first exec: %+v", r)
	}
	before := e.sb.Stats().Calls["ssm.DescribeInstanceInformation"]
	if r := e.run(t, nil, "exec", "web", "--", "true"); r.code != 0 {
		t.Fatalf("cached exec: %+v", r)
	}
	if after := e.sb.Stats().Calls["ssm.DescribeInstanceInformation"]; after != before {
		t.Fatalf("DescribeInstanceInformation calls %d → %d: the cache was not used", before, after)
	}
	e2 := newCxEnv(t, sandbox.Options{})
	e2.trustHost(t, cxWeb)
	if r := e2.run(t, nil, "exec", "--region", "us-east-1", cxWeb, "--", "true"); r.code != 0 {
		t.Fatalf("exec by ID: %+v", r)
	}
	st := e2.sb.Stats()
	if st.Calls["ec2.DescribeRegions"] != 0 || st.Calls["ec2.DescribeInstances"] != 0 || st.Calls["ssm.DescribeInstanceInformation"] != 1 {
		t.Fatalf("an instance ID with --region scanned: %v", st.Calls)
	}
}

// TestExplainSessionErrorKeepsCause: the typed cause survives the message.
func TestExplainSessionErrorKeepsCause(t *testing.T) {
	err := explainSessionError(&session.StartError{Target: cxWeb, Code: "TargetNotConnected", Err: errors.New("x")},
		inventory.Instance{ID: cxWeb, PingStatus: "ConnectionLost"}, session.DocumentSSH)
	if !errors.Is(err, session.ErrTargetNotConnected) {
		t.Fatalf("lost the cause: %v", err)
	}
}

// fakePrompter answers the picker's modals.
type fakePrompter struct {
	trust bool
	asked []ui.HostKey
}

func (f *fakePrompter) ConfirmHostKey(_ context.Context, k ui.HostKey) (bool, error) {
	f.asked = append(f.asked, k)
	return f.trust, nil
}

func (f *fakePrompter) Passphrase(context.Context, string) ([]byte, error) {
	return nil, ui.ErrPromptCancelled
}

// TestConnectorSSHModeForPicker: the picker's Connector asks about an
// unknown host key through the UI prompter (with region and account), and
// its Session runs the remote shell and reports the exit status as
// *sshclient.ExitError; declining the key fails with ErrHostKeyRejected.
func TestConnectorSSHModeForPicker(t *testing.T) {
	e := newCxEnv(t, sandbox.Options{})
	hk, err := sshclient.OpenHostKeys(e.knownHostsPath())
	if err != nil {
		t.Fatal(err)
	}
	c := &sshConnector{
		loadConfig: func(ctx context.Context, profile string) (aws.Config, error) {
			return loadAWSConfig(ctx, cxCLIEnv(), awsOptions{Profile: profile})
		},
		hostKeys: hk,
	}
	inst := inventory.Instance{ID: cxWeb, Name: "web", Region: "us-east-1", Profile: cxProfile, Account: cxAccount, PlatformName: "Amazon Linux"}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	no := &fakePrompter{trust: false}
	if _, err := c.Connect(ctx, inst, ui.ModeSSH, no, func(string) {}); !errors.Is(err, sshclient.ErrHostKeyRejected) {
		t.Fatalf("declined host key: err = %v", err)
	}

	yes := &fakePrompter{trust: true}
	var phases []string
	sess, err := c.Connect(ctx, inst, ui.ModeSSH, yes, func(s string) { phases = append(phases, s) })
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if len(yes.asked) != 1 || yes.asked[0].Region != "us-east-1" || yes.asked[0].Account != cxAccount || !strings.HasPrefix(yes.asked[0].Fingerprint, "SHA256:") {
		t.Fatalf("host-key prompt = %+v", yes.asked)
	}
	if len(phases) < 2 {
		t.Fatalf("progress phases = %q", phases)
	}
	var out bytes.Buffer
	sess.SetStdin(strings.NewReader("echo on-$SSMTUI_INSTANCE_ID\nexit 5\n"))
	sess.SetStdout(&out)
	sess.SetStderr(io.Discard)
	var ee *sshclient.ExitError
	if err := sess.Run(); !errors.As(err, &ee) || ee.Code != 5 {
		t.Fatalf("Run = %v, want exit 5", err)
	}
	wantContains(t, "output", out.String(), "on-"+cxWeb)
}

// TestEICUnsupportedFallsBackToKeyFile: an instance without EC2 Instance
// Connect is reached with ~/.ssh/id_ed25519, and the fallback is announced.
func TestEICUnsupportedFallsBackToKeyFile(t *testing.T) {
	keyDir := t.TempDir()
	_, authLine := cxUserKey(t, keyDir, "id_ed25519")
	authFile := filepath.Join(keyDir, "authorized_keys")
	cxWrite(t, authFile, authLine)
	e := newCxEnv(t, sandbox.Options{Hosts: sandbox.HostOptions{AuthorizedKeysFile: authFile}})
	for _, f := range []string{"id_ed25519", "id_ed25519.pub"} {
		b, err := os.ReadFile(filepath.Join(keyDir, f))
		if err != nil {
			t.Fatal(err)
		}
		cxWrite(t, filepath.Join(e.home, ".ssh", f), string(b))
	}
	e.trustHost(t, cxNoEIC)
	r := e.run(t, nil, "exec", "legacy", "--", "echo via-key")
	if r.code != 0 || r.stdout != "via-key\n" {
		t.Fatalf("exec: %+v", r)
	}
	wantContains(t, "stderr", r.stderr, "EC2 Instance Connect is not supported", "key files")
}

// TestStaleCacheIsLookedUpAgain: the cache says "web" is an instance that
// no longer exists; StartSession answers TargetNotConnected, the target is
// looked up live once, and the command reaches the real "web".
func TestStaleCacheIsLookedUpAgain(t *testing.T) {
	e := newCxEnv(t, sandbox.Options{})
	e.trustHost(t, cxWeb)
	cacheDir := inventory.DefaultCacheDir()
	gone := inventory.Instance{ID: "i-0a0000000000000ff", Name: "web", Region: "us-east-1", Profile: cxProfile, PingStatus: "Online"}
	if err := inventory.SaveCache(cacheDir, cxProfile, []inventory.Result{{Profile: cxProfile, Region: "us-east-1", Instances: []inventory.Instance{gone}, Fetched: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	r := e.run(t, nil, "exec", "web", "--", "echo $SSMTUI_INSTANCE_ID")
	if r.code != 0 || r.stdout != cxWeb+"\n" {
		t.Fatalf("exec with a stale cache: %+v", r)
	}
	st := e.sb.Stats()
	if st.Calls["ssm.StartSession"] != 2 || st.Calls["ssm.DescribeInstanceInformation"] == 0 {
		t.Fatalf("calls %v: want a failed StartSession, a live scan and a second StartSession", st.Calls)
	}
	// The live scan refreshed the cache: the next run needs no scan.
	before := e.sb.Stats().Calls["ssm.DescribeInstanceInformation"]
	if r := e.run(t, nil, "exec", "web", "--", "true"); r.code != 0 {
		t.Fatalf("%+v", r)
	}
	if after := e.sb.Stats().Calls["ssm.DescribeInstanceInformation"]; after != before {
		t.Fatalf("cache not refreshed: DescribeInstanceInformation %d → %d", before, after)
	}
}

// TestExecInterrupted: cancelling the command's context (SIGINT in main)
// ends the remote command's session and exits 130 at once.
func TestExecInterrupted(t *testing.T) {
	e := newCxEnv(t, sandbox.Options{})
	e.trustHost(t, cxWeb)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	outR, outW := io.Pipe()
	var errb bytes.Buffer
	done := make(chan int, 1)
	go func() {
		env := &cliEnv{stdin: strings.NewReader(""), stdout: outW, stderr: &errb, getenv: os.Getenv}
		done <- runMain(ctx, env, []string{"exec", "web", "--", "echo started; sleep 60; echo finished"})
		_ = outW.Close()
	}()
	var out bytes.Buffer
	copied := make(chan struct{})
	go func() {
		_, _ = io.Copy(&out, io.TeeReader(outR, &signalWriter{want: "started\n", ch: cancel}))
		close(copied)
	}()
	select {
	case code := <-done:
		if code != 130 {
			t.Fatalf("exit code %d, want 130 (stderr %q)", code, errb.String())
		}
	case <-time.After(45 * time.Second):
		t.Fatal("exec did not end after the interrupt")
	}
	<-copied
	if strings.Contains(out.String(), "finished") || !strings.Contains(errb.String(), "interrupted") {
		t.Fatalf("stdout %q stderr %q", out.String(), errb.String())
	}
	waitCalls(t, e.sb, "ssm.TerminateSession", 1)
}

// signalWriter calls ch once the bytes written so far contain want.
type signalWriter struct {
	buf  bytes.Buffer
	want string
	ch   func()
	once sync.Once
}

func (s *signalWriter) Write(p []byte) (int, error) {
	s.buf.Write(p)
	if strings.Contains(s.buf.String(), s.want) {
		s.once.Do(s.ch)
	}
	return len(p), nil
}

// failConn is a net.Conn whose reads and writes fail with fixed errors
// after returning data once.
type failConn struct {
	net.Conn
	data            []byte
	readErr, wrtErr error
}

func (f *failConn) Read(p []byte) (int, error) {
	if len(f.data) > 0 {
		n := copy(p, f.data)
		f.data = f.data[n:]
		return n, nil
	}
	return 0, f.readErr
}

func (f *failConn) Write(p []byte) (int, error) {
	if f.wrtErr != nil {
		return 0, f.wrtErr
	}
	return len(p), nil
}

// TestExplainSSHErrorNoServer: a channel that closed before any SSH byte
// arrived — seen by a read or by a write — means nothing listens on port 22;
// after the server's banner it is an ordinary SSH failure.
func TestExplainSSHErrorNoServer(t *testing.T) {
	closed := &session.ChannelClosedError{SessionID: "s-1", Output: "Unable to start the port session: connection refused"}
	opErr := &net.OpError{Op: "write", Net: "ssm", Err: closed}
	inst := inventory.Instance{ID: cxNoSSH}
	for name, tc := range map[string]struct {
		conn     *failConn
		noServer bool
		output   bool
	}{
		"read EOF first":            {conn: &failConn{readErr: io.EOF}, noServer: true},
		"write sees channel_closed": {conn: &failConn{readErr: io.EOF, wrtErr: opErr}, noServer: true, output: true},
		"after the banner":          {conn: &failConn{data: []byte("SSH-2.0-x\r\n"), readErr: io.EOF}},
	} {
		t.Run(name, func(t *testing.T) {
			w := &watchConn{Conn: tc.conn}
			buf := make([]byte, 64)
			_, _ = w.Write([]byte("SSH-2.0-ssmtui\r\n"))
			for {
				if _, err := w.Read(buf); err != nil {
					break
				}
			}
			err := explainSSHError(fmt.Errorf("ssh handshake: %w", io.EOF), w, inst)
			if got := errors.Is(err, errNoSSHServer); got != tc.noServer {
				t.Fatalf("no-server = %v, want %v: %v", got, tc.noServer, err)
			}
			if tc.output != strings.Contains(err.Error(), "connection refused") {
				t.Fatalf("agent output shown = %v, want %v: %v", !tc.output, tc.output, err)
			}
		})
	}
}
