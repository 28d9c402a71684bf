package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"regexp"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2instanceconnect"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"

	"github.com/ssmtui/ssmtui/doctor"
	"github.com/ssmtui/ssmtui/inventory"
	"github.com/ssmtui/ssmtui/session"
	"github.com/ssmtui/ssmtui/sshclient"
	"github.com/ssmtui/ssmtui/ui"
)

// This file is the one path from "an instance" to "an SSM session carrying
// SSH": target resolution (cache, then live), session.Dial, sshclient.Connect
// with EC2 Instance Connect, and the error messages that name the cause and
// the next step. `connect`, `exec`, `proxy`, `shell` and the picker (through
// sshConnector, the ui.Connector) all go through it.

// instanceIDPattern matches EC2 instance IDs and managed-node IDs.
var instanceIDPattern = regexp.MustCompile(`^(i-[0-9a-f]{8}([0-9a-f]{9})?|mi-[0-9a-f]{17})$`)

// targetFlags are the flags every command that takes a TARGET shares.
type targetFlags struct {
	profile string
	region  string
	noCache bool
}

func (f *targetFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.profile, "profile", "", "AWS `profile` (default: $AWS_PROFILE, else default)")
	fs.StringVar(&f.region, "region", "", "AWS `region` of the instance (with an instance ID this skips the fleet scan)")
	fs.BoolVar(&f.noCache, "no-cache", false, "ignore the inventory cache when resolving TARGET")
}

// parseInterspersed parses fs over args allowing flags after positional
// arguments (`ssmtui connect web --user ubuntu`). Everything after a "--"
// is returned in rest, untouched.
func parseInterspersed(fs *flag.FlagSet, args []string) (pos, rest []string, err error) {
	for i, a := range args {
		if a == "--" {
			rest = args[i+1:]
			args = args[:i]
			break
		}
	}
	for {
		if err := fs.Parse(args); err != nil {
			return nil, nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, rest, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// flagError turns a flag.Parse error into the exit code 2 convention
// (usage already printed by the FlagSet); -h exits 0.
func flagError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return &exitError{code: 0}
	}
	return &exitError{code: 2}
}

// usageError reports a wrong command line (exit code 2).
func usageError(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

// profileFor returns the profile a command uses: --profile, else
// $AWS_PROFILE, else "default", with its SSO flag from the shared files.
// implicit reports a "default" that is in no shared file: the SDK then gets
// no profile name, so environment credentials work without [default].
func profileFor(env *cliEnv, name string) (p inventory.Profile, implicit bool, err error) {
	if name == "" {
		name = env.getenv("AWS_PROFILE")
	}
	if name == "" {
		name = "default"
	}
	all, err := inventory.LoadProfiles(inventory.DefaultProfileFiles(env.getenv))
	if err != nil {
		return inventory.Profile{}, false, fmt.Errorf("read AWS profiles: %w", err)
	}
	var names []string
	for _, k := range all {
		if k.Name == name {
			return k, false, nil
		}
		names = append(names, k.Name)
	}
	if name == "default" {
		// Environment credentials (or an instance role) still work.
		return inventory.Profile{Name: name}, true, nil
	}
	return inventory.Profile{}, false, &exitError{code: 2, err: fmt.Errorf("unknown AWS profile %q (known: %s)", name, strings.Join(names, ", "))}
}

// resolver finds the instance a TARGET names.
type resolver struct {
	profile    inventory.Profile
	region     string
	cacheDir   string // "" disables the cache
	noCache    bool
	loadConfig func(ctx context.Context, profile string) (aws.Config, error)
	log        *slog.Logger
	cached     bool // the last resolve answered from the cache
}

// resolve maps target to an instance: the inventory cache first, then (for
// an instance ID with a region) one DescribeInstanceInformation call, else a
// live scan of the profile's regions (only --region when given).
func (r *resolver) resolve(ctx context.Context, target string) (inventory.Instance, error) {
	isID := instanceIDPattern.MatchString(target)
	r.cached = false
	if !r.noCache && r.cacheDir != "" {
		if inst, ok := r.fromCache(target, isID); ok {
			r.log.Debug("target resolved from cache", "target", target, "instance", inst.ID, "region", inst.Region)
			r.cached = true
			return inst, nil
		}
	}
	if isID && r.region != "" {
		return r.describeOne(ctx, target)
	}
	return r.scan(ctx, target)
}

// fromCache resolves target among the cached instances of the profile. Only
// an unambiguous hit counts; anything else falls through to a live lookup.
func (r *resolver) fromCache(target string, isID bool) (inventory.Instance, bool) {
	results, err := inventory.LoadCache(r.cacheDir, r.profile.Name)
	if err != nil {
		r.log.Debug("inventory cache not used", "profile", r.profile.Name, "err", err)
		return inventory.Instance{}, false
	}
	var insts []inventory.Instance
	for _, res := range results {
		if r.region != "" && res.Region != r.region {
			continue
		}
		insts = append(insts, res.Instances...)
	}
	inst, err := inventory.Resolve(insts, target)
	if err != nil {
		return inventory.Instance{}, false
	}
	if isID && inst.ID != target {
		return inventory.Instance{}, false
	}
	return inst, true
}

// describeOne looks up one instance ID in one region. When the lookup is
// not allowed or finds nothing, the instance is still returned with what is
// known (ID, region, profile): StartSession gives the authoritative answer.
// Credential failures are returned, classified.
func (r *resolver) describeOne(ctx context.Context, id string) (inventory.Instance, error) {
	inst := inventory.Instance{ID: id, Region: r.region, Profile: r.profile.Name}
	cfg, err := r.loadConfig(ctx, r.profile.Name)
	if err != nil {
		return inst, inventory.ClassifyCredentialsError(r.profile, err)
	}
	cfg.Region = r.region
	out, err := ssm.NewFromConfig(cfg).DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{
		Filters: []ssmtypes.InstanceInformationStringFilter{{Key: aws.String("InstanceIds"), Values: []string{id}}},
	})
	if err != nil {
		var ae smithy.APIError
		if !errors.As(err, &ae) {
			if ctx.Err() != nil {
				return inst, ctx.Err()
			}
			return inst, inventory.ClassifyCredentialsError(r.profile, err)
		}
		r.log.Debug("describe instance failed; connecting with defaults", "instance", id, "err", err)
		return inst, nil
	}
	for _, ii := range out.InstanceInformationList {
		if aws.ToString(ii.InstanceId) != id {
			continue
		}
		inst.PingStatus = string(ii.PingStatus)
		inst.PlatformName = aws.ToString(ii.PlatformName)
		inst.PlatformType = string(ii.PlatformType)
		inst.AgentVersion = aws.ToString(ii.AgentVersion)
		inst.ComputerName = aws.ToString(ii.ComputerName)
		inst.PrivateIP = aws.ToString(ii.IPAddress)
		inst.Name = aws.ToString(ii.Name)
		if ii.LastPingDateTime != nil {
			inst.LastPing = *ii.LastPingDateTime
		}
	}
	return inst, nil
}

// scan lists the profile's regions live and resolves target among them.
func (r *resolver) scan(ctx context.Context, target string) (inventory.Instance, error) {
	opts := inventory.Options{
		Profiles:      []inventory.Profile{r.profile},
		LoadConfig:    r.loadConfig,
		CacheDir:      r.cacheDir,
		SkipCacheRead: true,
		Logger:        r.log,
	}
	if r.region != "" {
		opts.Regions = []string{r.region}
	}
	var (
		insts  []inventory.Instance
		failed []string
		fatal  error
		ok     int
	)
	inventory.NewScanner(opts).Scan(ctx, func(res inventory.Result) {
		if res.FromCache {
			return
		}
		if res.Err != nil {
			if res.Region == "" {
				fatal = res.Err // the whole profile failed (credentials, SSO)
			} else {
				failed = append(failed, res.Err.Error())
			}
			return
		}
		ok++
		insts = append(insts, res.Instances...)
	})
	if ctx.Err() != nil {
		return inventory.Instance{}, ctx.Err()
	}
	if fatal != nil {
		return inventory.Instance{}, fatal
	}
	inst, err := inventory.Resolve(insts, target)
	if err == nil {
		return inst, nil
	}
	var nf *inventory.NotFoundError
	if errors.As(err, &nf) && len(failed) > 0 {
		if ok == 0 {
			return inventory.Instance{}, fmt.Errorf("find %q: no region of profile %s could be listed: %s", target, r.profile.Name, strings.Join(failed, "; "))
		}
		return inventory.Instance{}, fmt.Errorf("%w (%d region(s) could not be listed: %s)", err, len(failed), strings.Join(failed, "; "))
	}
	return inventory.Instance{}, err
}

// sshDialer is the connect path shared by the commands and the picker:
// StartSession(AWS-StartSSHSession) → session.Conn → sshclient.Connect with
// EC2 Instance Connect first.
type sshDialer struct {
	loadConfig func(ctx context.Context, profile string) (aws.Config, error)
	hostKeys   *sshclient.HostKeys
	dial       session.DialOptions
	log        *slog.Logger

	user             string   // --user; "" means ~/.ssh/config, then the platform default
	identityFiles    []string // -i
	acceptNewHostKey bool     // --accept-new-host-key
	noEIC            bool     // --no-eic: never push a key
	// wrapConn, if set, wraps the SSM connection before SSH runs over it
	// (benchmarks count round trips with it).
	wrapConn func(*session.Conn) net.Conn
}

// awsConfigFor returns the aws.Config of inst's profile in inst's region.
func (d *sshDialer) awsConfigFor(ctx context.Context, inst inventory.Instance) (aws.Config, error) {
	cfg, err := d.loadConfig(ctx, inst.Profile)
	if err != nil {
		return aws.Config{}, err
	}
	if inst.Region != "" {
		cfg.Region = inst.Region
	}
	return cfg, nil
}

// dialSession opens the SSM port session to port on inst (stdio mode).
func (d *sshDialer) dialSession(ctx context.Context, cfg aws.Config, inst inventory.Instance, port string) (*session.Conn, error) {
	opts := d.dial
	opts.DocumentName = session.DocumentSSH
	opts.Parameters = map[string][]string{"portNumber": {port}}
	if opts.Logger == nil {
		opts.Logger = d.log
	}
	conn, err := session.Dial(ctx, cfg, inst.ID, opts)
	if err != nil {
		return nil, explainSessionError(err, inst, session.DocumentSSH)
	}
	return conn, nil
}

// connectSSHWith runs the whole path with cfg (inst's profile and region)
// and returns an authenticated client: StartSession(AWS-StartSSHSession,
// port 22), then SSH with an EC2 Instance Connect key pushed for the
// resolved login (unless noEIC), ssh-agent and key files. p answers
// host-key and passphrase questions (nil: nobody can); onEvent receives
// progress. Errors name the cause and the next step.
func (d *sshDialer) connectSSHWith(ctx context.Context, cfg aws.Config, inst inventory.Instance, p sshclient.Prompter, onEvent func(sshclient.Event)) (*sshclient.Client, error) {
	scfg := sshclient.Config{
		InstanceID:       inst.ID,
		Name:             inst.Name,
		PlatformName:     inst.PlatformName,
		User:             d.user,
		HostKeys:         d.hostKeys,
		AcceptNewHostKey: d.acceptNewHostKey,
		Prompter:         p,
		IdentityFiles:    d.identityFiles,
		OnEvent:          onEvent,
		Logger:           d.log,
	}
	if !d.noEIC {
		scfg.PushKey = pushKeyFunc(ec2instanceconnect.NewFromConfig(cfg), inst)
	}
	// The key push overlaps StartSession and the data-channel handshake
	// instead of following the SSH key exchange: one round trip less.
	pushCtx, cancelPush := context.WithCancel(ctx)
	scfg.EarlyEIC = sshclient.StartEIC(pushCtx, scfg)
	sconn, err := d.dialSession(ctx, cfg, inst, "22")
	if err != nil {
		cancelPush()
		return nil, err
	}
	defer cancelPush()
	var inner net.Conn = sconn
	if d.wrapConn != nil {
		inner = d.wrapConn(sconn)
	}
	conn := &watchConn{Conn: inner}
	client, err := sshclient.Connect(ctx, conn, scfg)
	if err != nil {
		return nil, explainSSHError(err, conn, inst)
	}
	return client, nil
}

// watchConn remembers the first I/O error of the SSM connection and whether
// any byte arrived, so a failed SSH handshake can say "nothing listens on
// port 22" instead of "EOF".
type watchConn struct {
	net.Conn
	mu      sync.Mutex
	gotData bool
	ioErr   error
}

func (w *watchConn) Read(p []byte) (int, error) {
	n, err := w.Conn.Read(p)
	w.record(n > 0, err)
	return n, err
}

func (w *watchConn) Write(p []byte) (int, error) {
	n, err := w.Conn.Write(p)
	w.record(false, err)
	return n, err
}

func (w *watchConn) record(data bool, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if data {
		w.gotData = true
	}
	if err != nil && w.ioErr == nil {
		w.ioErr = err
	}
}

func (w *watchConn) state() (gotData bool, ioErr error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.gotData, w.ioErr
}

// errNoSSHServer reports a port session whose agent could not reach an SSH
// server on the instance.
var errNoSSHServer = errors.New("nothing answered on port 22")

// explainSSHError adds the cause and the next step to a failed SSH
// connection over an SSM session.
func explainSSHError(err error, conn *watchConn, inst inventory.Instance) error {
	gotData, ioErr := conn.state()
	var cc *session.ChannelClosedError
	if !gotData && ioErr != nil && (errors.As(ioErr, &cc) || errors.As(err, &cc) || errors.Is(ioErr, io.EOF)) {
		why := ""
		if cc != nil && strings.TrimSpace(cc.Output) != "" {
			why = " (agent: " + strings.TrimSpace(cc.Output) + ")"
		}
		return fmt.Errorf("ssh to %s: %w: the SSM session opened but the agent could not reach an SSH server on the instance%s; "+
			"start sshd there, or use a plain Session Manager shell: ssmtui shell %s", inst.ID, errNoSSHServer, why, inst.ID)
	}
	var mismatch *sshclient.HostKeyMismatchError
	var auth *sshclient.AuthError
	switch {
	case errors.As(err, &mismatch):
		return err // names both fingerprints and `ssmtui known-hosts forget ID`
	case errors.As(err, &auth):
		return err // names the instance, the user, what was tried and how to pick another user
	case errors.Is(err, sshclient.ErrHostKeyUnknown):
		return fmt.Errorf("ssh to %s: %w; run from a terminal to confirm the key, or pass --accept-new-host-key", inst.ID, err)
	}
	return fmt.Errorf("ssh to %s: %w", inst.ID, err)
}

// explainedError is a failure whose message was rewritten for the user
// (cause and next step) while the original error stays in the chain for
// errors.Is and errors.As.
type explainedError struct {
	msg string
	err error
}

func (e *explainedError) Error() string { return e.msg }
func (e *explainedError) Unwrap() error { return e.err }

// explainSessionError turns a failed StartSession or data channel into a
// message naming cause and next step; the typed cause stays in the chain.
func explainSessionError(err error, inst inventory.Instance, document string) error {
	label := inst.ID
	if inst.Name != "" {
		label = fmt.Sprintf("%s (%s)", inst.ID, inst.Name)
	}
	where := strings.TrimPrefix(fmt.Sprintf("%s/%s", inst.Profile, inst.Region), "/")
	awsSaid := ""
	var ae smithy.APIError
	if errors.As(err, &ae) {
		awsSaid = fmt.Sprintf(" [%s: %s]", ae.ErrorCode(), ae.ErrorMessage())
	}
	explain := func(format string, args ...any) error {
		return &explainedError{msg: fmt.Sprintf(format, args...) + awsSaid, err: err}
	}
	var ke *session.KMSError
	if errors.As(err, &ke) {
		// Before the ErrAccessDenied case: this denial is about the KMS key
		// of the account's Session Manager preferences, not StartSession.
		if ke.Code == "AccessDeniedException" {
			return explain("%s in %s: this account encrypts Session Manager shells with KMS key %s, and the credentials need kms:GenerateDataKey on it (key policy or IAM); ask your AWS admin",
				label, where, ke.KeyID)
		}
		return fmt.Errorf("open SSM session to %s: %w", label, err)
	}
	switch {
	case errors.Is(err, session.ErrTargetNotConnected):
		if inst.PingStatus != "" && inst.PingStatus != "Online" {
			last := ""
			if !inst.LastPing.IsZero() {
				last = ", last ping " + inst.LastPing.UTC().Format("2006-01-02 15:04 UTC")
			}
			return explain("%s in %s is offline: its SSM agent is %s%s; start the instance or its amazon-ssm-agent and retry (ssmtui doctor %s explains more)",
				label, where, inst.PingStatus, last, inst.ID)
		}
		return explain("%s in %s is not connected to Session Manager: the instance may be stopped, its agent down, or it lives in another region or account (try --region, or ssmtui list)",
			label, where)
	case errors.Is(err, session.ErrAccessDenied):
		return explain("access denied starting a session on %s in %s: the credentials need ssm:StartSession on the instance and on the document %s (and ssm:TerminateSession); ask your AWS admin",
			label, where, document)
	case errors.Is(err, session.ErrInvalidDocument):
		return explain("session document %s is not available in %s", document, where)
	case errors.Is(err, session.ErrThrottled):
		return explain("StartSession for %s was throttled in %s; retry in a moment", label, where)
	}
	var se *session.StartError
	if errors.As(err, &se) && ae == nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		// Not an answer from AWS: credentials could not be obtained or signed.
		return inventory.ClassifyCredentialsError(inventory.Profile{Name: inst.Profile}, err)
	}
	return fmt.Errorf("open SSM session to %s: %w", label, err)
}

// eicAPI is the part of the EC2 Instance Connect client the connect path
// uses.
type eicAPI interface {
	SendSSHPublicKey(ctx context.Context, in *ec2instanceconnect.SendSSHPublicKeyInput,
		optFns ...func(*ec2instanceconnect.Options)) (*ec2instanceconnect.SendSSHPublicKeyOutput, error)
}

// pushKeyFunc returns sshclient's PushKey for inst: SendSSHPublicKey with
// the resolved login. Failures that mean "this instance cannot use EC2
// Instance Connect" (mi- nodes, no EIC package, not permitted) wrap
// sshclient.ErrEICUnsupported so that agent and key files are tried next.
func pushKeyFunc(api eicAPI, inst inventory.Instance) func(ctx context.Context, osUser, authorizedKey string) error {
	return func(ctx context.Context, osUser, authorizedKey string) error {
		if strings.HasPrefix(inst.ID, "mi-") {
			return fmt.Errorf("push key to %s: managed (on-prem) node: %w", inst.ID, sshclient.ErrEICUnsupported)
		}
		_, err := api.SendSSHPublicKey(ctx, &ec2instanceconnect.SendSSHPublicKeyInput{
			InstanceId:     aws.String(inst.ID),
			InstanceOSUser: aws.String(osUser),
			SSHPublicKey:   aws.String(authorizedKey),
		})
		if err == nil {
			return nil
		}
		var ae smithy.APIError
		if errors.As(err, &ae) {
			switch ae.ErrorCode() {
			case "EC2InstanceUnavailableException", "EC2InstanceTypeNotSupportedException",
				"AccessDeniedException", "AuthException", "EC2InstanceNotFoundException",
				"EC2InstanceStateInvalidException":
				return fmt.Errorf("push key to %s: %s: %w", inst.ID, ae.ErrorCode(), sshclient.ErrEICUnsupported)
			}
		}
		return fmt.Errorf("push key to %s: %w", inst.ID, err)
	}
}

// instanceFromID is the instance known only by ID and region.
func instanceFromID(id, region string) inventory.Instance {
	return inventory.Instance{ID: id, Region: region}
}

// cliEvents returns an OnEvent that reports what the user must know on
// stderr (the EIC fallback, a stored host key); with verbose, every phase.
func cliEvents(stderr io.Writer, verbose bool) func(sshclient.Event) {
	return func(e sshclient.Event) {
		switch {
		case verbose:
		case e.Kind == sshclient.EventEICFallback, e.Kind == sshclient.EventHostKeyAdded:
		default:
			return
		}
		fmt.Fprintf(stderr, "ssmtui: %s\n", e.Message)
	}
}

// sshConnector is the picker's ui.Connector (used by `ssmtui` and `ssmtui
// demo`): ModeSSH goes through the same path as `ssmtui connect`, ModeShell
// opens a plain Session Manager shell like `ssmtui shell`.
type sshConnector struct {
	loadConfig func(ctx context.Context, profile string) (aws.Config, error)
	hostKeys   *sshclient.HostKeys
	dial       session.DialOptions
	log        *slog.Logger
	// identityFiles are key files offered after EIC and the agent (the
	// demo's own key for its on-prem nodes).
	identityFiles []string
}

var _ ui.Connector = (*sshConnector)(nil)

// Connect implements ui.Connector.
func (c *sshConnector) Connect(ctx context.Context, inst inventory.Instance, mode ui.Mode, p ui.Prompter, progress func(string)) (ui.Session, error) {
	log := c.log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &sshDialer{loadConfig: c.loadConfig, hostKeys: c.hostKeys, dial: c.dial, log: log, identityFiles: c.identityFiles}
	cfg, err := d.awsConfigFor(ctx, inst)
	if err != nil {
		return nil, inventory.ClassifyCredentialsError(inventory.Profile{Name: inst.Profile}, err)
	}
	if mode == ui.ModeDoctor {
		progress(fmt.Sprintf("diagnosing %s (%s, %s)", inst.ID, inst.Region, inst.Profile))
		rep, err := doctor.Diagnose(ctx, doctorClients(cfg, inst.Region), inst.ID)
		if err != nil {
			return nil, err
		}
		return &doctorView{rep: rep}, nil
	}
	if mode == ui.ModeShell {
		progress(fmt.Sprintf("starting Session Manager shell (%s, %s)", inst.Region, inst.Profile))
		sh, err := openSSMShell(ctx, cfg, inst, c.dial, log)
		if err != nil {
			return nil, err
		}
		return &shellRunner{sess: sh}, nil
	}
	progress(fmt.Sprintf("starting SSM session (%s, %s)", inst.Region, inst.Profile))
	client, err := d.connectSSHWith(ctx, cfg, inst, hostPrompter{p: p, inst: inst}, func(e sshclient.Event) { progress(e.Message) })
	if err != nil {
		return nil, err
	}
	return &sshSession{Shell: client.Shell(), client: client}, nil
}

// sshSession is a connected shell: Run (from sshclient.Shell) takes over
// the terminal; Close ends the SSH client and with it the SSM session.
type sshSession struct {
	*sshclient.Shell
	client *sshclient.Client
}

// Close implements ui.Session.
func (s *sshSession) Close() error { return s.client.Close() }

// hostPrompter adapts the picker's modals (ui.Prompter) to sshclient's
// Prompter, adding the instance's region and account to the host-key
// question.
type hostPrompter struct {
	p    ui.Prompter
	inst inventory.Instance
}

// ConfirmHostKey implements sshclient.Prompter.
func (h hostPrompter) ConfirmHostKey(ctx context.Context, k sshclient.HostKeyPrompt) (bool, error) {
	return h.p.ConfirmHostKey(ctx, ui.HostKey{
		InstanceID: k.InstanceID, Name: k.Name, Region: h.inst.Region, Account: h.inst.Account,
		KeyType: k.KeyType, Fingerprint: k.Fingerprint,
	})
}

// Passphrase implements sshclient.Prompter; declining the modal skips that
// key file (sshclient.ErrPromptCancelled).
func (h hostPrompter) Passphrase(ctx context.Context, prompt string) ([]byte, error) {
	b, err := h.p.Passphrase(ctx, prompt)
	if errors.Is(err, ui.ErrPromptCancelled) {
		return nil, sshclient.ErrPromptCancelled
	}
	return b, err
}

// isTerminal reports whether r is a terminal file.
func isTerminal(r any) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// commandLogger is the logger of a non-TUI command: with --debug, debug
// logs on stderr (the user asked for them, raw mode or not); otherwise the
// picker's log file when SSMTUI_LOG_LEVEL is set, else nothing — a shell in
// raw mode must not be interleaved with log lines. Call the returned func
// when the command ends.
func commandLogger(env *cliEnv, debug bool) (*slog.Logger, func()) {
	if debug {
		return slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: slog.LevelDebug})), func() {}
	}
	return pickLogger(env.getenv)
}

// targetCommand is what every TARGET command builds from its flags.
type targetCommand struct {
	env        *cliEnv
	log        *slog.Logger
	loadConfig func(ctx context.Context, profile string) (aws.Config, error)
	resolver   *resolver
}

// newTargetCommand prepares resolution for tf. The profile must exist.
// mfa answers an assume-role MFA prompt (nil: such profiles fail clearly).
func newTargetCommand(env *cliEnv, tf targetFlags, log *slog.Logger, mfa func(string) (string, error)) (*targetCommand, error) {
	p, implicit, err := profileFor(env, tf.profile)
	if err != nil {
		return nil, err
	}
	loadConfig := func(ctx context.Context, profile string) (aws.Config, error) {
		if implicit && profile == p.Name {
			profile = ""
		}
		return loadAWSConfig(ctx, env, awsOptions{Profile: profile, MFA: mfa})
	}
	return &targetCommand{
		env:        env,
		log:        log,
		loadConfig: loadConfig,
		resolver: &resolver{
			profile: p, region: tf.region, noCache: tf.noCache,
			cacheDir: inventory.DefaultCacheDir(), loadConfig: loadConfig, log: log,
		},
	}, nil
}

// resolve resolves target and loads the aws.Config of its profile and
// region; credential failures are classified (SSO: "run aws sso login").
func (tc *targetCommand) resolve(ctx context.Context, target string) (inventory.Instance, aws.Config, error) {
	inst, err := tc.resolver.resolve(ctx, target)
	if err != nil {
		return inst, aws.Config{}, err
	}
	return tc.configFor(ctx, inst)
}

// retryStale runs open on target's instance; when that instance came from
// the inventory cache and Session Manager says it is not connected, the
// cache may be stale (instance replaced, moved, or now offline): target is
// looked up live once and, if that finds something different, open runs
// again on it (so the error, if any, reflects the live state).
func retryStale[T any](ctx context.Context, tc *targetCommand, target string, open func(inventory.Instance, aws.Config) (T, error)) (T, error) {
	inst, cfg, err := tc.resolve(ctx, target)
	if err != nil {
		var zero T
		return zero, err
	}
	v, err := open(inst, cfg)
	if err == nil || !tc.resolver.cached || !errors.Is(err, session.ErrTargetNotConnected) {
		return v, err
	}
	live := *tc.resolver
	live.noCache = true
	fresh, lerr := live.resolve(ctx, target)
	if lerr != nil || (fresh.ID == inst.ID && fresh.Region == inst.Region && fresh.PingStatus == inst.PingStatus) {
		return v, err
	}
	tc.log.Debug("cached target was stale; retrying with the live inventory", "target", target, "cached", inst.ID, "live", fresh.ID)
	_, fcfg, cerr := tc.configFor(ctx, fresh)
	if cerr != nil {
		return v, err
	}
	return open(fresh, fcfg)
}

// configFor loads the aws.Config of inst's profile in inst's region.
func (tc *targetCommand) configFor(ctx context.Context, inst inventory.Instance) (inventory.Instance, aws.Config, error) {
	cfg, err := tc.loadConfig(ctx, inst.Profile)
	if err != nil {
		return inst, aws.Config{}, inventory.ClassifyCredentialsError(tc.resolver.profile, err)
	}
	cfg.Region = inst.Region
	return inst, cfg, nil
}
