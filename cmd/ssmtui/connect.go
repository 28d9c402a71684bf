package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/ssmtui/ssmtui/inventory"
	"github.com/ssmtui/ssmtui/sshclient"
)

func init() {
	register(command{
		name:    "connect",
		summary: "SSH shell on an instance over Session Manager (TARGET: instance ID, Name tag, IP or DNS name)",
		run:     runConnect,
	})
}

// sshFlags are the SSH options of connect and exec.
type sshFlags struct {
	targetFlags
	user      string
	identity  stringList
	acceptNew bool
	noEIC     bool
	debug     bool
}

func (f *sshFlags) register(fs *flag.FlagSet) {
	f.targetFlags.register(fs)
	fs.StringVar(&f.user, "user", "", "login `user` (default: ~/.ssh/config, else the platform's usual user: ec2-user, ubuntu, admin, …)")
	fs.StringVar(&f.user, "l", "", "same as --user")
	fs.Var(&f.identity, "i", "identity `file` to offer after EC2 Instance Connect and the agent, before ~/.ssh/config's and the default keys (repeatable)")
	fs.BoolVar(&f.acceptNew, "accept-new-host-key", false, "store an unknown host key without asking (a changed key still fails)")
	fs.BoolVar(&f.noEIC, "no-eic", false, "do not push a temporary key with EC2 Instance Connect; use the agent and key files only")
	fs.BoolVar(&f.debug, "debug", false, "log every step to stderr")
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return fmt.Sprint([]string(*s)) }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// exitTransport is the exit code of a failure that is not the remote
// command's (as OpenSSH: 255), so scripts can tell them apart.
const exitTransport = 255

// transportError marks err as a connection failure (exit code 255).
func transportError(err error) error {
	if err == nil {
		return nil
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return err
	}
	return &exitError{code: exitTransport, err: err}
}

// remoteResult maps the outcome of a remote shell or command to the process
// exit code: the remote status, 255 for a lost connection.
func remoteResult(err error, target string) error {
	var ee *sshclient.ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ee):
		return &exitError{code: ee.Code}
	case errors.Is(err, sshclient.ErrDisconnected):
		return &exitError{code: exitTransport, err: fmt.Errorf("connection to %s closed (~.)", target)}
	}
	return transportError(err)
}

// openSSH resolves target and connects over SSH with f's options. A
// target of the form user@target sets the login, as with ssh (--user wins).
func openSSH(ctx context.Context, env *cliEnv, f sshFlags, target string, log *slog.Logger) (*sshclient.Client, error) {
	if user, host, ok := strings.Cut(target, "@"); ok && user != "" && host != "" {
		target = host
		if f.user == "" {
			f.user = user
		}
	}
	tc, err := newTargetCommand(env, f.targetFlags, log, terminalMFA(env))
	if err != nil {
		return nil, err
	}
	hostKeys, err := sshclient.OpenHostKeys("")
	if err != nil {
		return nil, fmt.Errorf("open known_hosts: %w", err)
	}
	d := &sshDialer{
		loadConfig: tc.loadConfig, hostKeys: hostKeys, log: log,
		user: f.user, identityFiles: f.identity, acceptNewHostKey: f.acceptNew, noEIC: f.noEIC,
	}
	var p sshclient.Prompter
	if hasTTY() {
		p = sshclient.TTYPrompter{}
	}
	client, err := retryStale(ctx, tc, target, func(inst inventory.Instance, cfg aws.Config) (*sshclient.Client, error) {
		log.Debug("target resolved", "target", target, "instance", inst.ID, "region", inst.Region, "profile", inst.Profile)
		return d.connectSSHWith(ctx, cfg, inst, p, cliEvents(env.stderr, f.debug))
	})
	if err != nil {
		return nil, transportError(err)
	}
	return client, nil
}

// hasTTY reports whether the process has a controlling terminal to ask on.
func hasTTY() bool {
	f, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return false
	}
	_ = f.Close()
	return true
}

// runConnect is `ssmtui connect TARGET`.
func runConnect(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "ssmtui connect",
		"usage: ssmtui connect [flags] [USER@]TARGET",
		"\nOpens an SSH shell on TARGET (instance ID, Name tag, private IP or DNS name) through a",
		"Session Manager session: no session-manager-plugin, no inbound port 22. A temporary key is",
		"pushed with EC2 Instance Connect; ssh-agent and key files are the fallback. The exit code is",
		"the remote shell's; 255 means the connection failed.",
	)
	var f sshFlags
	f.register(fs)
	pos, rest, err := parseInterspersed(fs, args)
	if err != nil {
		return flagError(err)
	}
	if len(pos) != 1 || len(rest) > 0 {
		fs.Usage()
		return usageError("connect takes exactly one TARGET (to run a command use `ssmtui exec TARGET -- CMD`)")
	}
	log, closeLog := commandLogger(env, f.debug)
	defer closeLog()
	client, err := openSSH(ctx, env, f, pos[0], log)
	if err != nil {
		return err
	}
	defer client.Close()
	stop := context.AfterFunc(ctx, func() { _ = client.Close() })
	defer stop()
	sh := client.Shell()
	sh.SetStdin(env.stdin)
	sh.SetStdout(env.stdout)
	sh.SetStderr(env.stderr)
	return remoteResult(sh.Run(), client.InstanceID())
}
