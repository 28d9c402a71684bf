package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/ssmtui/ssmtui/assets"
	"github.com/ssmtui/ssmtui/sandbox"
)

func init() {
	register(command{
		name:    "sandbox",
		summary: "run the local AWS sandbox and print the environment to use it",
		run:     runSandbox,
	})
}

// sandboxFlags are the flags of `ssmtui sandbox`.
type sandboxFlags struct {
	fleet, addr, tlsAddr     string
	noTLS, debug             bool
	pacing, agentVersion     string
	shellHandshake, legacyCC bool
	seed                     int64
	latency, toAgent, toCl   time.Duration
	drop, dup, reorder, acks float64
	reorderWindow            int
	killEvery                time.Duration

	// Inventory-side knobs (API latency, throttling, denied regions, generated fleets).
	apiLatency    time.Duration
	regionLatency string
	throttle      bool
	denyRegions   string
	generate      int
	sessionKMS    bool
	genRegions    int
	genAccounts   int
}

func (f *sandboxFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.fleet, "fleet", "", "fleet definition `file` (JSON, schema in assets/README.md); default: the built-in demo fleet")
	fs.StringVar(&f.addr, "addr", "127.0.0.1:0", "loopback `address` of the API and gateway port (http/ws)")
	fs.StringVar(&f.tlsAddr, "tls-addr", "127.0.0.1:0", "loopback `address` of the https/wss port")
	fs.BoolVar(&f.noTLS, "no-tls", false, "do not serve https/wss")
	fs.BoolVar(&f.debug, "debug", false, "log to stderr")
	fs.StringVar(&f.pacing, "agent-pacing", "none", "built-in agent output pacing: `real` (1024-byte chunks, 1 ms apart, like amazon-ssm-agent) or none")
	fs.StringVar(&f.agentVersion, "agent-version", sandbox.DefaultAgentVersion, "AgentVersion the built-in agent reports in the handshake")
	fs.BoolVar(&f.shellHandshake, "shell-handshake", false, "handshake for shell sessions too (default: legacy output-first path, like the real agent without KMS)")
	fs.BoolVar(&f.legacyCC, "legacy-channel-closed", false, "send channel_closed in the HeaderLength-112 NUL-padded form")
	fs.Int64Var(&f.seed, "seed", 1, "seed of the fault injector")
	fs.DurationVar(&f.latency, "latency", 0, "one-way latency added in both directions")
	fs.DurationVar(&f.toAgent, "latency-to-agent", 0, "one-way latency client→agent (overrides --latency)")
	fs.DurationVar(&f.toCl, "latency-to-client", 0, "one-way latency agent→client (overrides --latency)")
	fs.Float64Var(&f.drop, "drop", 0, "`fraction` of stream frames dropped before delivery")
	fs.Float64Var(&f.dup, "duplicate", 0, "`fraction` of stream frames delivered twice")
	fs.Float64Var(&f.reorder, "reorder", 0, "`fraction` of stream frames delivered late")
	fs.IntVar(&f.reorderWindow, "reorder-window", 3, "how many later frames overtake a reordered one")
	fs.Float64Var(&f.acks, "withhold-acks", 0, "`fraction` of acknowledge frames dropped")
	fs.DurationVar(&f.killEvery, "kill-client-every", 0, "drop each client websocket this long after it opened (clients must resume)")
	fs.DurationVar(&f.apiLatency, "api-latency", 0, "every AWS API answer leaves this `latency` after its call arrived")
	fs.StringVar(&f.regionLatency, "region-latency", "", "per-region API latency, `REGION=DURATION,…` (overrides --api-latency there)")
	fs.BoolVar(&f.throttle, "throttle", false, "enforce per-account, per-region token buckets that answer the real throttling errors")
	fs.StringVar(&f.denyRegions, "deny-region", "", "comma-separated `regions` where every account's API calls answer AccessDenied")
	fs.IntVar(&f.generate, "generate", 0, "serve a generated fleet of `N` instances instead of --fleet (for benchmarks and load)")
	fs.IntVar(&f.genRegions, "generate-regions", 17, "regions of the generated fleet")
	fs.IntVar(&f.genAccounts, "generate-accounts", 1, "accounts of the generated fleet")
	fs.BoolVar(&f.sessionKMS, "session-kms", false, "turn on KMS encryption in every account's Session Manager preferences (shell sessions run the KMS handshake)")
}

func (f *sandboxFlags) options(stderr io.Writer) (sandbox.Options, error) {
	var fleet *sandbox.Fleet
	var err error
	switch {
	case f.generate > 0 && f.fleet != "":
		return sandbox.Options{}, errors.New("--generate and --fleet are exclusive")
	case f.generate > 0:
		fleet = sandbox.GenerateFleet(sandbox.GenOptions{Instances: f.generate, NRegions: f.genRegions, Accounts: f.genAccounts, ManagedEvery: 25, Seed: uint64(f.seed)})
	case f.fleet != "":
		fleet, err = sandbox.LoadFleet(f.fleet)
	default:
		fleet, err = sandbox.ParseFleet(assets.DemoFleet)
	}
	if err != nil {
		return sandbox.Options{}, err
	}
	if f.sessionKMS {
		for i := range fleet.Accounts {
			a := &fleet.Accounts[i]
			if a.SessionKMSKeyID == "" && len(a.Regions) > 0 {
				a.SessionKMSKeyID = fmt.Sprintf("arn:aws:kms:%s:%s:key/5e55104e-0000-4000-8000-%012s", a.Regions[0], a.ID, a.ID)
			}
		}
		if err := fleet.Validate(); err != nil {
			return sandbox.Options{}, fmt.Errorf("--session-kms: %w", err)
		}
	}
	for _, r := range splitList(f.denyRegions) {
		for i := range fleet.Accounts {
			fleet.Accounts[i].DeniedRegions = append(fleet.Accounts[i].DeniedRegions, r)
		}
	}
	regionLatency := map[string]time.Duration{}
	for _, kv := range splitList(f.regionLatency) {
		region, d, ok := strings.Cut(kv, "=")
		dur, perr := time.ParseDuration(d)
		if !ok || perr != nil || region == "" {
			return sandbox.Options{}, fmt.Errorf("--region-latency: want REGION=DURATION, got %q", kv)
		}
		regionLatency[region] = dur
	}
	logger := slog.New(slog.DiscardHandler)
	if f.debug {
		logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	toAgent, toClient := f.latency, f.latency
	if f.toAgent > 0 {
		toAgent = f.toAgent
	}
	if f.toCl > 0 {
		toClient = f.toCl
	}
	opts := sandbox.Options{
		Fleet:  fleet,
		Addr:   f.addr,
		Logger: logger,
		Limits: sandbox.LimitOptions{
			Latency:       f.apiLatency,
			RegionLatency: regionLatency,
			Throttle:      f.throttle,
		},
		Gateway: sandbox.GatewayOptions{
			AgentPacing:         sandbox.Pacing(f.pacing),
			AgentVersion:        f.agentVersion,
			ShellHandshake:      f.shellHandshake,
			LegacyChannelClosed: f.legacyCC,
			DisableTLS:          f.noTLS,
			TLSAddr:             f.tlsAddr,
			Faults: sandbox.FaultOptions{
				Seed:            f.seed,
				LatencyToAgent:  toAgent,
				LatencyToClient: toClient,
				Drop:            f.drop,
				Duplicate:       f.dup,
				Reorder:         f.reorder,
				ReorderWindow:   f.reorderWindow,
				WithholdAcks:    f.acks,
				KillClientEvery: f.killEvery,
			},
		},
	}
	return opts, opts.Gateway.Validate()
}

// runSandbox serves the sandbox until ctx ends (SIGINT/SIGTERM), after
// printing `export NAME=VALUE` lines and "# sandbox ready" on stdout.
func runSandbox(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "ssmtui sandbox",
		"usage: ssmtui sandbox [flags]",
		"\nRuns a local AWS (SSM, EC2, STS, EC2 Instance Connect APIs, the Session Manager",
		"gateway, agents and SSH hosts) on loopback until interrupted. Evaluate its output",
		"in a shell (eval \"$(ssmtui sandbox)\" style) to point SDKs and the AWS CLI at it.",
	)
	var f sandboxFlags
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		return flagError(err)
	}
	if fs.NArg() > 0 {
		return usageError("unexpected argument %q", fs.Arg(0))
	}
	opts, err := f.options(env.stderr)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	sb, err := sandbox.Start(sctx, opts)
	cancel()
	if err != nil {
		return fmt.Errorf("start sandbox: %w", err)
	}
	var b strings.Builder
	for _, kv := range sb.Env() {
		name, value, _ := strings.Cut(kv, "=")
		fmt.Fprintf(&b, "export %s=%s\n", name, shellQuote(value))
	}
	b.WriteString("# sandbox ready\n")
	if _, err := io.WriteString(env.stdout, b.String()); err != nil {
		_ = sb.Close()
		return fmt.Errorf("print sandbox environment: %w", err)
	}
	<-ctx.Done()
	if err := sb.Close(); err != nil {
		return fmt.Errorf("stop sandbox: %w", err)
	}
	return nil
}

// shellQuote quotes v for a POSIX shell unless it is plainly safe.
func shellQuote(v string) string {
	safe := v != ""
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_-./:=@,+%", r)) {
			safe = false
			break
		}
	}
	if safe {
		return v
	}
	return "'" + strings.ReplaceAll(v, "'", `'\''`) + "'"
}
