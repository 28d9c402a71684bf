package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/ssmtui/ssmtui/inventory"
)

// TestPickAsksMFAInModal runs the picker on a pseudo-terminal with an
// assume-role profile that has mfa_serial: the picker shows its MFA modal,
// the code typed there reaches the sandbox's AssumeRole (which checks for
// six digits), and the role account's instances are listed (the scan
// writes them to the cache).
func TestPickAsksMFAInModal(t *testing.T) {
	home, sb, files := startDemoSandbox(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f, err := os.OpenFile(files.Config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString("[profile dev-admin]\nrole_arn = arn:aws:iam::444455556666:role/Admin\nsource_profile = demo-prod\n" +
		"mfa_serial = arn:aws:iam::111122223333:mfa/demo\nregion = eu-west-2\nendpoint_url = " + sb.URL() + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	vars := map[string]string{
		"AWS_CONFIG_FILE": files.Config, "AWS_SHARED_CREDENTIALS_FILE": files.Credentials, "AWS_ENDPOINT_URL": sb.URL(),
		"AWS_EC2_METADATA_DISABLED": "true", "SSMTUI_CACHE_DIR": cache, "HOME": home, "TERM": "xterm-256color",
	}

	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatalf("open a pseudo-terminal: %v", err)
	}
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 30, Cols: 140}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var screen bytes.Buffer
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			mu.Lock()
			screen.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	env := &cliEnv{stdin: tty, stdout: tty, stderr: io.Discard, getenv: func(k string) string { return vars[k] }}
	done := runOnTerminal(t, ctx, cancel, env, []string{"--profile", "dev-admin", "--region", "eu-west-2"}, ptmx, tty)

	// The modal names the profile's mfa_serial (a word the picker shows
	// nowhere else; the area behind it is blank while the scan waits).
	for {
		mu.Lock()
		shown := strings.Contains(screen.String(), "mfa_serial")
		mu.Unlock()
		if shown {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the picker never showed the MFA modal")
		case <-time.After(20 * time.Millisecond):
		}
	}
	if _, err := ptmx.WriteString("123456\r"); err != nil {
		t.Fatal(err)
	}
	var results []inventory.Result
	for {
		if results, err = inventory.LoadCache(cache, "dev-admin"); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no inventory cache written for dev-admin: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	var names []string
	for _, r := range results {
		if r.Err != nil {
			t.Errorf("%s/%s: %v", r.Profile, r.Region, r.Err)
		}
		for _, in := range r.Instances {
			names = append(names, in.Name)
		}
	}
	if !strings.Contains(strings.Join(names, ","), "staging-web-1") {
		t.Errorf("role account not listed through the MFA profile: %v", names)
	}
	if _, err := ptmx.WriteString("q"); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit code %d", code)
		}
	case <-ctx.Done():
		t.Fatal("picker did not quit")
	}
}

// TestPickerConfigLoaderLoadsOnce: every scan and connect of the picker gets
// the same config (and so the same credentials cache) for a profile, so an
// assume-role MFA code is asked for once, not at every refresh or connect.
func TestPickerConfigLoaderLoadsOnce(t *testing.T) {
	listEnv(t)
	env := &cliEnv{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, getenv: os.Getenv}
	load := pickerConfigLoader(env, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, err := load(ctx, "demo-prod")
	if err != nil {
		t.Fatal(err)
	}
	b, err := load(ctx, "demo-prod")
	if err != nil {
		t.Fatal(err)
	}
	if a.Credentials == nil || a.Credentials != b.Credentials {
		t.Fatal("a second load of the profile made a new credentials cache")
	}
	c, err := load(ctx, "demo-dev")
	if err != nil {
		t.Fatal(err)
	}
	if c.Credentials == a.Credentials {
		t.Fatal("two profiles share a credentials cache")
	}
}
