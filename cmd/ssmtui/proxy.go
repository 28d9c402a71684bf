package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2instanceconnect"

	"github.com/ssmtui/ssmtui/inventory"
	"github.com/ssmtui/ssmtui/session"
	"github.com/ssmtui/ssmtui/sshclient"
)

func init() {
	register(command{
		name:    "proxy",
		summary: "stdin/stdout bridge to a port of an instance, for ssh -o ProxyCommand='ssmtui proxy %h %p'",
		run:     runProxy,
	})
}

// runProxy is `ssmtui proxy TARGET PORT`: an AWS-StartSSHSession port
// session whose bytes are stdin and stdout (ssm-protocol.md §9.3), a drop-in
// for the session-manager-plugin ProxyCommand. Nothing but the stream goes to
// stdout; diagnostics go to stderr. It ends when stdin ends, the remote port
// closes, or on SIGHUP/SIGINT/SIGTERM, and always ends the session
// (TerminateSession flag and API).
func runProxy(ctx context.Context, env *cliEnv, args []string) error {
	fs := flag.NewFlagSet("ssmtui proxy", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	var tf targetFlags
	tf.register(fs)
	debug := fs.Bool("debug", false, "log every step to stderr")
	eicKey := fs.String("eic-key", "", "push this public key `file` (e.g. ~/.ssh/id_ed25519.pub) for --user with EC2 Instance Connect before connecting")
	user := fs.String("user", "", "OS `user` the --eic-key is pushed for (use %r in ProxyCommand)")
	fs.Usage = func() {
		fmt.Fprintln(env.stderr, "usage: ssmtui proxy [flags] TARGET PORT")
		fmt.Fprintln(env.stderr, "\nBridges stdin/stdout to PORT on TARGET through Session Manager, for OpenSSH:")
		_, _ = io.WriteString(env.stderr, "  ssh -o ProxyCommand='ssmtui proxy %h %p' ec2-user@i-0123456789abcdef0\n")
		fmt.Fprintln(env.stderr, "scp, sftp and rsync work the same way. `ssmtui ssh-config` prints a ~/.ssh/config block.")
		fmt.Fprintln(env.stderr, "\nflags:")
		fs.PrintDefaults()
	}
	pos, rest, err := parseInterspersed(fs, args)
	if err != nil {
		return flagError(err)
	}
	if len(pos) != 2 || len(rest) > 0 {
		fs.Usage()
		return usageError("proxy takes TARGET and PORT")
	}
	target, port := pos[0], pos[1]
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return usageError("invalid port %q", port)
	}
	if (*eicKey == "") != (*user == "") {
		return usageError("--eic-key and --user go together (ProxyCommand ssmtui proxy --eic-key ~/.ssh/id_ed25519.pub --user %%r %%h %%p)")
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	log, closeLog := commandLogger(env, *debug)
	defer closeLog()
	// stdin carries the stream: no MFA prompt can read it.
	tc, err := newTargetCommand(env, tf, log, nil)
	if err != nil {
		return err
	}
	d := &sshDialer{loadConfig: tc.loadConfig, log: log}
	// Nobody waits for the proxy's goodbye (ssh has exited): give the
	// TerminateSession flag and call more time than interactive commands.
	d.dial.CloseTimeout = 5 * time.Second
	conn, err := retryStale(ctx, tc, target, func(inst inventory.Instance, cfg aws.Config) (*session.Conn, error) {
		if *eicKey != "" {
			if err := pushKeyFile(ctx, cfg, inst.ID, *user, *eicKey); err != nil {
				return nil, err
			}
		}
		return d.dialSession(ctx, cfg, inst, port)
	})
	if err != nil {
		return err
	}
	log.Debug("proxy session open", "target", target, "port", port, "session", conn.SessionID())
	return bridge(ctx, conn, env.stdin, env.stdout)
}

// bridge copies stdin to conn and conn to stdout until one side ends or ctx
// is done, then closes conn (ending the SSM session). A clean end of either
// side is not an error, except a remote end before any byte arrived: then
// nothing listened on the port. The stdin copier exits when stdin ends or
// conn is closed; a stdin that never ends is left to the process exit.
func bridge(ctx context.Context, conn *session.Conn, stdin io.Reader, stdout io.Writer) error {
	type result struct {
		n   int64
		err error
	}
	up := make(chan result, 1)
	down := make(chan result, 1)
	go func() {
		n, err := io.Copy(conn, stdin)
		up <- result{n, err}
	}()
	go func() {
		n, err := io.Copy(stdout, conn)
		down <- result{n, err}
	}()
	var err error
	select {
	case r := <-up:
		// channel_closed while writing is a clean remote end (errors.Is io.EOF).
		if r.err != nil && !errors.Is(r.err, io.EOF) {
			err = fmt.Errorf("forward stdin to %s: %w", conn.RemoteAddr(), r.err)
		}
	case r := <-down:
		switch {
		case r.err != nil && !errors.Is(r.err, io.EOF):
			err = fmt.Errorf("forward %s to stdout: %w", conn.RemoteAddr(), r.err)
		case r.n == 0:
			target, port := conn.RemoteAddr().String(), ""
			if a, ok := conn.RemoteAddr().(session.Addr); ok {
				target, port = a.Target, a.Port
			}
			err = fmt.Errorf("the session to %s ended before anything answered on port %s: is a server listening there? "+
				"(for a shell without SSH: ssmtui shell %s)", target, port, target)
		}
	case <-ctx.Done():
	}
	if cerr := conn.Close(); cerr != nil && err == nil && !errors.Is(cerr, net.ErrClosed) {
		err = fmt.Errorf("end session %s: %w", conn.SessionID(), cerr)
	}
	return err
}

// pushKeyFile pushes the OpenSSH public key in path for user with EC2
// Instance Connect, so that OpenSSH can log in with the matching private key
// within the next 60 seconds.
func pushKeyFile(ctx context.Context, cfg aws.Config, instanceID, user, path string) error {
	b, err := os.ReadFile(expandHome(path))
	if err != nil {
		return fmt.Errorf("read public key: %w", err)
	}
	line := strings.TrimSpace(string(b))
	push := pushKeyFunc(ec2instanceconnect.NewFromConfig(cfg), instanceFromID(instanceID, cfg.Region))
	if err := push(ctx, user, line); err != nil {
		if errors.Is(err, sshclient.ErrEICUnsupported) {
			return fmt.Errorf("%w; drop --eic-key and install your key on the instance instead", err)
		}
		return err
	}
	return nil
}

// expandHome expands a leading ~/ (ProxyCommand lines are not always run
// by a shell that does).
func expandHome(p string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return home + string(os.PathSeparator) + rest
		}
	}
	return p
}
