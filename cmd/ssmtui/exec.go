package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

func init() {
	register(command{
		name:    "exec",
		summary: "run a command on an instance over SSH (exit status propagated)",
		run:     runExec,
	})
}

// runExec is `ssmtui exec TARGET -- CMD…`: the command runs without a PTY,
// its stdout and stderr are streamed, stdin is forwarded when it is not a
// terminal, and the process exits with the remote exit status (255 when the
// connection failed).
func runExec(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "ssmtui exec",
		"usage: ssmtui exec [flags] [USER@]TARGET -- COMMAND [ARG…]",
		"\nRuns COMMAND on TARGET over SSH inside a Session Manager session. The words are joined",
		"with spaces and run by the remote login shell, as with ssh. stdin is forwarded when it is",
		"not a terminal. The exit code is the remote command's; 255 means the connection failed.",
	)
	var f sshFlags
	f.register(fs)
	pos, rest, err := parseInterspersed(fs, args)
	if err != nil {
		return flagError(err)
	}
	if len(pos) == 0 {
		fs.Usage()
		return usageError("exec needs a TARGET and a command")
	}
	words := append(pos[1:], rest...)
	if len(words) == 0 {
		fs.Usage()
		return usageError("exec needs a command after TARGET (ssmtui exec %s -- uname -a)", pos[0])
	}
	log, closeLog := commandLogger(env, f.debug)
	defer closeLog()
	client, err := openSSH(ctx, env, f, pos[0], log)
	if err != nil {
		return err
	}
	defer client.Close()
	err = client.Exec(ctx, strings.Join(words, " "), env.stdin, env.stdout, env.stderr)
	if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return &exitError{code: 130, err: fmt.Errorf("interrupted; the remote command on %s was ended", client.InstanceID())}
	}
	return remoteResult(err, client.InstanceID())
}
