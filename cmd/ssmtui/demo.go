package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ssmtui/ssmtui/assets"
	"github.com/ssmtui/ssmtui/inventory"
	"github.com/ssmtui/ssmtui/sandbox"
	"github.com/ssmtui/ssmtui/ui"
)

func init() {
	register(command{
		name:    "demo",
		summary: "the picker against a built-in local sandbox fleet (no AWS account needed)",
		run:     runDemo,
	})
}

// demoEnvCleared are the variables `demo` clears for its own process so that
// nothing reaches AWS: every SDK call goes to the sandbox with the demo
// profiles' credentials, and no ambient credentials, profile, region or
// endpoint setting of the user's shell leaks in. Service-specific endpoints
// (AWS_ENDPOINT_URL_SSM, …) are cleared too, see demoClearedEnv.
var demoEnvCleared = []string{
	"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
	"AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_CA_BUNDLE",
	"AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
	"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
}

// demoClearedEnv returns demoEnvCleared plus every service-specific endpoint
// variable (AWS_ENDPOINT_URL_<SERVICE>) present in environ.
func demoClearedEnv(environ []string) []string {
	out := slices.Clone(demoEnvCleared)
	for _, kv := range environ {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AWS_ENDPOINT_URL_") {
			out = append(out, k)
		}
	}
	return out
}

// runDemo is `ssmtui demo`: the sandbox in-process with the embedded demo
// fleet, temporary AWS profiles pointing at it, and the same picker.
func runDemo(ctx context.Context, env *cliEnv, args []string) error {
	fset := flag.NewFlagSet("ssmtui demo", flag.ContinueOnError)
	fset.SetOutput(env.stderr)
	fleetFile := fset.String("fleet", "", "fleet definition `file` (JSON, schema in assets/README.md); default: the built-in demo fleet")
	fset.Usage = func() {
		fmt.Fprintln(env.stderr, "usage: ssmtui demo [--fleet FILE]")
		fmt.Fprintln(env.stderr, "\nRuns a local sandbox AWS (APIs, Session Manager gateway, agents and SSH hosts)")
		fmt.Fprintln(env.stderr, "inside this process and opens the picker on its fleet. Nothing reaches AWS.")
		fmt.Fprintln(env.stderr, "\nflags:")
		fset.PrintDefaults()
	}
	if err := fset.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return &exitError{code: 2}
	}
	if fset.NArg() > 0 {
		return &exitError{code: 2, err: fmt.Errorf("unexpected argument %q", fset.Arg(0))}
	}
	if err := requireTerminal(env); err != nil {
		return err
	}
	var fleet *sandbox.Fleet
	var err error
	if *fleetFile != "" {
		fleet, err = sandbox.LoadFleet(*fleetFile)
	} else {
		fleet, err = sandbox.ParseFleet(assets.DemoFleet)
	}
	if err != nil {
		return &exitError{code: 2, err: err}
	}

	log, closeLog := pickLogger(env.getenv)
	defer closeLog()
	cfgDir, err := os.UserConfigDir()
	if err != nil {
		return fmt.Errorf("locate user config dir: %w", err)
	}
	cfgDir = filepath.Join(cfgDir, "ssmtui")
	seed, err := demoKeySeed(filepath.Join(cfgDir, "demo-host-key-seed"))
	if err != nil {
		// Host keys then change each run and the user is asked again: worse,
		// not broken.
		log.Warn("demo host key seed not persisted", "err", err)
	}

	// On-prem (mi-) nodes have no EC2 Instance Connect: like real ones, they
	// accept an authorized key, here the demo's own.
	idFile, authKeys, err := demoIdentity(cfgDir)
	if err != nil {
		return err
	}

	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	sb, err := sandbox.Start(sctx, sandbox.Options{
		Fleet:   fleet,
		Logger:  log,
		Gateway: sandbox.GatewayOptions{DisableTLS: true},
		Hosts:   sandbox.HostOptions{KeySeed: seed, AuthorizedKeysFile: authKeys},
	})
	cancel()
	if err != nil {
		return fmt.Errorf("start demo sandbox: %w", err)
	}
	defer func() { _ = sb.Close() }()

	tmp, err := os.MkdirTemp("", "ssmtui-demo-")
	if err != nil {
		return fmt.Errorf("create demo AWS config dir: %w", err)
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	files, profiles, err := writeDemoAWSFiles(tmp, fleet, sb.URL())
	if err != nil {
		return err
	}
	vars := map[string]string{
		"AWS_CONFIG_FILE":             files.Config,
		"AWS_SHARED_CREDENTIALS_FILE": files.Credentials,
		"AWS_ENDPOINT_URL":            sb.URL(),
		"AWS_EC2_METADATA_DISABLED":   "true",
	}
	cleared := demoClearedEnv(os.Environ())
	restore, err := setProcessEnv(vars, cleared)
	if err != nil {
		return err
	}
	defer restore()
	denv := &cliEnv{stdin: env.stdin, stdout: env.stdout, stderr: env.stderr, getenv: func(k string) string {
		if v, ok := vars[k]; ok {
			return v
		}
		if slices.Contains(cleared, k) {
			return ""
		}
		return env.getenv(k)
	}}
	mfa := ui.NewMFA()
	return runPicker(ctx, denv, pickConfig{
		title:         "ssmtui demo",
		profiles:      profiles,
		mfa:           mfa,
		loadConfig:    pickerConfigLoader(denv, mfa),
		cacheDir:      "", // the sandbox answers at once; never mix demo rows into the real cache
		knownHosts:    filepath.Join(cfgDir, "demo_known_hosts"),
		identityFiles: []string{idFile},
		log:           log,
	})
}

// writeDemoAWSFiles writes an AWS config and credentials file in dir with
// one profile per fleet account (its profile name, static keys, first
// region, endpoint_url = the sandbox) and returns them with the profiles.
func writeDemoAWSFiles(dir string, fleet *sandbox.Fleet, endpoint string) (inventory.ProfileFiles, []inventory.Profile, error) {
	var conf, creds strings.Builder
	var profiles []inventory.Profile
	for i, a := range fleet.Accounts {
		name := a.Profile
		if name == "" {
			name = fmt.Sprintf("demo-%d", i+1)
		}
		region := "us-east-1"
		if len(a.Regions) > 0 {
			region = a.Regions[0]
		}
		secret := a.SecretAccessKey
		if secret == "" {
			secret = "sandbox-secret"
		}
		fmt.Fprintf(&conf, "[profile %s]\nregion = %s\nendpoint_url = %s\n\n", name, region, endpoint)
		fmt.Fprintf(&creds, "[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\n\n", name, a.AccessKeyID, secret)
		profiles = append(profiles, inventory.Profile{Name: name, Region: region})
	}
	files := inventory.ProfileFiles{Config: filepath.Join(dir, "config"), Credentials: filepath.Join(dir, "credentials")}
	if err := os.WriteFile(files.Config, []byte(conf.String()), 0o600); err != nil {
		return files, nil, fmt.Errorf("write demo AWS config: %w", err)
	}
	if err := os.WriteFile(files.Credentials, []byte(creds.String()), 0o600); err != nil {
		return files, nil, fmt.Errorf("write demo AWS credentials: %w", err)
	}
	return files, profiles, nil
}

// demoKeySeed reads the persisted host-key seed of the demo, creating it
// (32 random bytes, 0600, directory 0700) on first use, so the sandbox's
// host keys — and the demo's known_hosts — stay valid across runs. On
// error it still returns a usable random seed.
func demoKeySeed(path string) ([]byte, error) {
	if b, err := os.ReadFile(path); err == nil && len(b) >= 16 {
		return b, nil
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return randomSeed(), fmt.Errorf("read demo host key seed %s: %w", path, err)
	}
	seed := randomSeed()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return seed, fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	if err := os.WriteFile(path, seed, 0o600); err != nil {
		return seed, fmt.Errorf("write demo host key seed %s: %w", path, err)
	}
	return seed, nil
}

// demoIdentity returns the demo's SSH key file and the authorized_keys file
// holding its public half, creating both (ed25519, 0600) in dir on first use.
// The key only opens the demo sandbox's hosts.
func demoIdentity(dir string) (keyFile, authorizedKeys string, err error) {
	keyFile = filepath.Join(dir, "demo_id_ed25519")
	authorizedKeys = filepath.Join(dir, "demo_authorized_keys")
	if pemBytes, err := os.ReadFile(keyFile); err == nil {
		if signer, err := ssh.ParsePrivateKey(pemBytes); err == nil {
			line := ssh.MarshalAuthorizedKey(signer.PublicKey())
			if err := os.WriteFile(authorizedKeys, line, 0o600); err != nil {
				return "", "", fmt.Errorf("write demo authorized_keys: %w", err)
			}
			return keyFile, authorizedKeys, nil
		}
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("generate demo SSH key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "ssmtui demo")
	if err != nil {
		return "", "", fmt.Errorf("encode demo SSH key: %w", err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return "", "", fmt.Errorf("encode demo SSH public key: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("create %s: %w", dir, err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		return "", "", fmt.Errorf("write demo SSH key: %w", err)
	}
	if err := os.WriteFile(authorizedKeys, ssh.MarshalAuthorizedKey(sshPub), 0o600); err != nil {
		return "", "", fmt.Errorf("write demo authorized_keys: %w", err)
	}
	return keyFile, authorizedKeys, nil
}

func randomSeed() []byte {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go ≥ 1.24)
	return b
}

// setProcessEnv sets vars and unsets clear in this process's environment
// (the AWS SDK reads it) and returns a function restoring the previous
// values, so in-process callers (tests) are left as they were.
func setProcessEnv(vars map[string]string, clear []string) (restore func(), err error) {
	type saved struct {
		v  string
		ok bool
	}
	old := map[string]saved{}
	remember := func(k string) {
		if _, done := old[k]; !done {
			v, ok := os.LookupEnv(k)
			old[k] = saved{v, ok}
		}
	}
	restore = func() {
		for k, s := range old {
			if s.ok {
				_ = os.Setenv(k, s.v)
			} else {
				_ = os.Unsetenv(k)
			}
		}
	}
	for _, k := range clear {
		remember(k)
		if err := os.Unsetenv(k); err != nil {
			restore()
			return nil, fmt.Errorf("unset %s: %w", k, err)
		}
	}
	for k, v := range vars {
		remember(k)
		if err := os.Setenv(k, v); err != nil {
			restore()
			return nil, fmt.Errorf("set %s: %w", k, err)
		}
	}
	return restore, nil
}
