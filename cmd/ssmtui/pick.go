package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	tea "charm.land/bubbletea/v2"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/ssmtui/ssmtui/inventory"
	"github.com/ssmtui/ssmtui/session"
	"github.com/ssmtui/ssmtui/sshclient"
	"github.com/ssmtui/ssmtui/ui"
)

func init() {
	register(command{
		name:    "pick",
		summary: "pick an instance from every region of the chosen profiles and open a shell (default)",
		run:     runPick,
	})
}

// pickFlags are the flags of the picker (`ssmtui` and `ssmtui pick`).
type pickFlags struct {
	profiles    string // comma-separated, as given
	allProfiles bool
	regions     []string
}

// parsePickFlags parses the picker's flags. A nil error with help set means
// -h was given and usage was printed.
func parsePickFlags(args []string, stderr io.Writer) (f pickFlags, help bool, err error) {
	fs := flag.NewFlagSet("ssmtui pick", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var profiles, regions string
	fs.StringVar(&profiles, "profile", "", "comma-separated AWS `profiles` to scan (default: $AWS_PROFILE, else default)")
	fs.BoolVar(&f.allProfiles, "all-profiles", false, "scan every profile of the shared config and credentials files")
	fs.StringVar(&regions, "region", "", "comma-separated `regions` to scan (default: every enabled region)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: ssmtui [pick] [--profile a,b | --all-profiles] [--region r1,r2]")
		fmt.Fprintln(stderr, "\nLists every SSM-managed instance of the chosen profiles in all enabled regions;")
		fmt.Fprintln(stderr, "Enter opens an SSH shell over Session Manager and returns to the list.")
		fmt.Fprintln(stderr, "\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return f, true, nil
		}
		return f, false, &exitError{code: 2}
	}
	if fs.NArg() > 0 {
		return f, false, &exitError{code: 2, err: fmt.Errorf("unexpected argument %q (to connect directly use `ssmtui connect %s`)", fs.Arg(0), fs.Arg(0))}
	}
	if f.allProfiles && profiles != "" {
		return f, false, &exitError{code: 2, err: errors.New("--profile and --all-profiles exclude each other")}
	}
	f.profiles = profiles
	f.regions = splitList(regions)
	return f, false, nil
}

// pickConfig is everything the picker is built from; `pick` and `demo`
// fill it differently.
type pickConfig struct {
	title      string
	profiles   []inventory.Profile
	regions    []string
	loadConfig func(ctx context.Context, profile string) (aws.Config, error)
	cacheDir   string // "" disables the inventory cache
	knownHosts string // the ssmtui known_hosts file
	// identityFiles are extra SSH keys to offer (the demo's key).
	identityFiles []string
	dial          session.DialOptions
	log           *slog.Logger
	// mfa answers assume-role MFA prompts with the picker's modal; the
	// loadConfig above must use it (pickerConfigLoader(env, mfa)).
	mfa *ui.MFA
}

// errNoTerminal is returned when the picker is started without a terminal.
var errNoTerminal = errors.New("the picker needs a terminal on stdin and stdout; in scripts use `ssmtui list` or `ssmtui connect TARGET`")

// requireTerminal fails early, before any AWS call, when the picker could
// not draw or read keys.
func requireTerminal(env *cliEnv) error {
	if !isTerminal(env.stdin) || !isTerminal(env.stdout) {
		return &exitError{code: 2, err: errNoTerminal}
	}
	return nil
}

// runPick is `ssmtui` / `ssmtui pick`.
func runPick(ctx context.Context, env *cliEnv, args []string) error {
	f, help, err := parsePickFlags(args, env.stderr)
	if err != nil || help {
		return err
	}
	if err := requireTerminal(env); err != nil {
		return err
	}
	profiles, err := selectProfiles(env, f.profiles, f.allProfiles)
	if err != nil {
		return &exitError{code: 2, err: fmt.Errorf("choose AWS profiles: %w", err)}
	}
	kh, err := sshclient.DefaultKnownHostsPath()
	if err != nil {
		return fmt.Errorf("locate known_hosts: %w", err)
	}
	log, closeLog := pickLogger(env.getenv)
	defer closeLog()
	mfa := ui.NewMFA()
	return runPicker(ctx, env, pickConfig{
		title:      "ssmtui",
		profiles:   profiles,
		regions:    f.regions,
		loadConfig: pickerConfigLoader(env, mfa),
		cacheDir:   cacheDir(env),
		knownHosts: kh,
		log:        log,
		mfa:        mfa,
	})
}

// runPicker runs the picker until the user quits or ctx ends.
func runPicker(ctx context.Context, env *cliEnv, pc pickConfig) error {
	if pc.log == nil {
		pc.log = slog.New(slog.DiscardHandler)
	}
	if pc.mfa != nil {
		defer pc.mfa.Close() // however the program ends, no credential lookup waits for a code
	}
	hostKeys, err := sshclient.OpenHostKeys(pc.knownHosts)
	if err != nil {
		return fmt.Errorf("open known_hosts %s: %w", pc.knownHosts, err)
	}
	scanner := inventory.NewScanner(inventory.Options{
		Profiles:   pc.profiles,
		Regions:    pc.regions,
		LoadConfig: pc.loadConfig,
		CacheDir:   pc.cacheDir,
		Logger:     pc.log,
	})
	dial := pc.dial
	dial.Logger = pc.log
	conn := &sshConnector{loadConfig: pc.loadConfig, hostKeys: hostKeys, dial: dial, log: pc.log, identityFiles: pc.identityFiles}
	model := ui.New(ui.Options{Source: scanner, Connector: conn, Title: pc.title, EnableShell: true, EnableDoctor: true, MFA: pc.mfa})
	_, err = tea.NewProgram(model, tea.WithContext(ctx), tea.WithInput(env.stdin), tea.WithOutput(env.stdout)).Run()
	if err != nil && ctx.Err() != nil && errors.Is(err, tea.ErrProgramKilled) {
		return nil // interrupted (SIGINT/SIGTERM): a normal way out
	}
	if err != nil {
		return fmt.Errorf("run picker: %w", err)
	}
	return nil
}

// pickerConfigLoader loads a profile's aws.Config for the picker. An
// assume-role MFA prompt (mfa_serial) is answered in the picker's MFA modal
// (the terminal belongs to the TUI); with a nil mfa such profiles fail with a
// clear per-profile error. A profile's config is loaded once and reused by
// every scan and connect, so its credentials cache — and the role session
// an MFA code opened — lives as long as the picker: the user is asked again
// only when those credentials expire, or after declining.
func pickerConfigLoader(env *cliEnv, mfa *ui.MFA) func(ctx context.Context, profile string) (aws.Config, error) {
	o := awsOptions{}
	if mfa != nil {
		o.MFA = mfa.Func()
	}
	var mu sync.Mutex
	loaded := map[string]aws.Config{}
	return func(ctx context.Context, profile string) (aws.Config, error) {
		mu.Lock()
		defer mu.Unlock()
		if cfg, ok := loaded[profile]; ok {
			return cfg, nil
		}
		po := o
		po.Profile = profile
		cfg, err := loadAWSConfig(ctx, env, po)
		if err != nil {
			return aws.Config{}, err
		}
		loaded[profile] = cfg
		return cfg, nil
	}
}

// pickLogger returns the picker's logger: a file under the user cache dir
// when SSMTUI_LOG_LEVEL is set (debug, info, warn, error), else a discard
// logger — nothing may reach the terminal while the TUI owns it.
func pickLogger(getenv func(string) string) (*slog.Logger, func()) {
	discard := slog.New(slog.DiscardHandler)
	lvl := getenv("SSMTUI_LOG_LEVEL")
	if lvl == "" {
		return discard, func() {}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(lvl)); err != nil {
		return discard, func() {}
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return discard, func() {}
	}
	dir = filepath.Join(dir, "ssmtui")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return discard, func() {}
	}
	f, err := os.OpenFile(filepath.Join(dir, "ssmtui.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return discard, func() {}
	}
	return slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: level})), func() { _ = f.Close() }
}
