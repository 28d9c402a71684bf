package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/ssmtui/ssmtui/assets"
	"github.com/ssmtui/ssmtui/inventory"
	"github.com/ssmtui/ssmtui/sandbox"
)

func TestParsePickFlags(t *testing.T) {
	for name, tc := range map[string]struct {
		args    []string
		want    pickFlags
		code    int // exit code of a usage error, 0 for none
		help    bool
		errText string
	}{
		"none":         {args: nil},
		"lists":        {args: []string{"--profile", "a,b", "--region", "eu-west-1, us-east-1"}, want: pickFlags{profiles: "a,b", regions: []string{"eu-west-1", "us-east-1"}}},
		"all profiles": {args: []string{"--all-profiles"}, want: pickFlags{allProfiles: true}},
		"exclusive":    {args: []string{"--all-profiles", "--profile", "a"}, code: 2, errText: "exclude each other"},
		"stray arg":    {args: []string{"i-0123"}, code: 2, errText: "ssmtui connect i-0123"},
		"bad flag":     {args: []string{"--nope"}, code: 2},
		"help":         {args: []string{"-h"}, help: true},
	} {
		t.Run(name, func(t *testing.T) {
			var stderr bytes.Buffer
			got, help, err := parsePickFlags(tc.args, &stderr)
			if help != tc.help {
				t.Errorf("help = %v", help)
			}
			if tc.code != 0 {
				var ee *exitError
				if !errors.As(err, &ee) || ee.code != tc.code || !strings.Contains(ee.Error(), tc.errText) {
					t.Fatalf("err = %v, want exit %d mentioning %q", err, tc.code, tc.errText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.profiles != tc.want.profiles ||
				strings.Join(got.regions, ",") != strings.Join(tc.want.regions, ",") || got.allProfiles != tc.want.allProfiles {
				t.Errorf("flags = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestPickInProcess runs the default command (no subcommand) on a pseudo-
// terminal against a sandbox, with --profile and --region limiting the
// scan: the inventory cache it writes holds exactly that profile's chosen
// regions, and q quits with status 0. (Screen contents are checked by the
// tmux test: a cell-diffing renderer's raw bytes are no screen.)
func TestPickInProcess(t *testing.T) {
	home, _, files := startDemoSandbox(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cache := t.TempDir()
	vars := map[string]string{
		"AWS_CONFIG_FILE": files.Config, "AWS_SHARED_CREDENTIALS_FILE": files.Credentials,
		"AWS_EC2_METADATA_DISABLED": "true", "SSMTUI_CACHE_DIR": cache, "HOME": home, "TERM": "xterm-256color",
	}

	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatalf("open a pseudo-terminal: %v", err)
	}
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 30, Cols: 140}); err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = io.Copy(io.Discard, ptmx) }()
	env := &cliEnv{stdin: tty, stdout: tty, stderr: io.Discard, getenv: func(k string) string { return vars[k] }}
	done := runOnTerminal(t, ctx, cancel, env, []string{"--profile", "demo-dev", "--region", "us-east-1,eu-west-2"}, ptmx, tty)
	// The scan writes the cache once every chosen region has answered.
	var results []inventory.Result
	for {
		if results, err = inventory.LoadCache(cache, "demo-dev"); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no inventory cache written: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	var regions []string
	for _, r := range results {
		regions = append(regions, r.Region)
	}
	slices.Sort(regions)
	if got := strings.Join(regions, ","); got != "eu-west-2,us-east-1" {
		t.Errorf("scanned regions %s, want only eu-west-2,us-east-1", got)
	}
	if _, err := inventory.LoadCache(cache, "demo-prod"); err == nil {
		t.Error("profile demo-prod scanned without being chosen")
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

func TestPickerNeedsTerminal(t *testing.T) {
	for _, args := range [][]string{nil, {"pick"}, {"demo"}} {
		var stderr bytes.Buffer
		env := &cliEnv{stdin: strings.NewReader(""), stdout: io.Discard, stderr: &stderr, getenv: func(string) string { return "" }}
		if code := runMain(context.Background(), env, args); code != 2 || !strings.Contains(stderr.String(), "needs a terminal") {
			t.Errorf("%v without a terminal: exit %d, stderr %q", args, code, stderr.String())
		}
	}
}

// startDemoSandbox gives the test a temporary HOME without AWS variables,
// a demo-fleet sandbox (plain http) and AWS files pointing at it.
func startDemoSandbox(t *testing.T) (home string, sb *sandbox.Sandbox, files inventory.ProfileFiles) {
	t.Helper()
	home = t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", "")
	for _, k := range demoEnvCleared {
		t.Setenv(k, "")
	}
	fleet, err := sandbox.ParseFleet(assets.DemoFleet)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sb, err = sandbox.Start(ctx, sandbox.Options{Fleet: fleet, Gateway: sandbox.GatewayOptions{DisableTLS: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	files, _, err = writeDemoAWSFiles(t.TempDir(), fleet, sb.URL())
	if err != nil {
		t.Fatal(err)
	}
	return home, sb, files
}

// runOnTerminal runs ssmtui args in-process on env and returns its exit
// code. When the test ends it cancels ctx (cancel), waits up to 20 s for
// the command, then closes the terminal's two ends.
func runOnTerminal(t *testing.T, ctx context.Context, cancel context.CancelFunc, env *cliEnv, args []string, ptmx, tty io.Closer) <-chan int {
	t.Helper()
	done := make(chan int, 1)
	finished := make(chan struct{})
	go func() {
		done <- runMain(ctx, env, args)
		close(finished)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-finished:
		case <-time.After(20 * time.Second):
		}
		_ = tty.Close()
		_ = ptmx.Close()
	})
	return done
}
