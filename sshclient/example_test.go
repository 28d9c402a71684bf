package sshclient_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/ssmtui/ssmtui/sshclient"
)

// The CLI path of "ssmtui connect": conn is a Session Manager port session to
// port 22 (session.Dial), push calls ec2instanceconnect SendSSHPublicKey and
// wraps sshclient.ErrEICUnsupported when the instance cannot use it. In the
// TUI the same Connect runs as a command with a modal Prompter, and the Shell
// goes to tea.Exec instead of Run.
func Example() {
	ctx := context.Background()
	var conn net.Conn // session.Dial(ctx, awsCfg, "i-0123456789abcdef0")
	push := func(ctx context.Context, osUser, authorizedKey string) error { return nil }

	hosts, err := sshclient.OpenHostKeys("") // os.UserConfigDir()/ssmtui/known_hosts
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	client, err := sshclient.Connect(ctx, conn, sshclient.Config{
		InstanceID:   "i-0123456789abcdef0",
		Name:         "web-1",
		PlatformName: "Ubuntu",
		HostKeys:     hosts,
		Prompter:     sshclient.TTYPrompter{},
		PushKey:      push,
		OnEvent:      func(e sshclient.Event) { fmt.Fprintln(os.Stderr, e.Message) },
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err) // *HostKeyMismatchError, *AuthError, … explain themselves
		return
	}
	defer client.Close()

	err = client.Shell().Run() // nil streams: os.Stdin, os.Stdout, os.Stderr
	var exit *sshclient.ExitError
	switch {
	case errors.Is(err, sshclient.ErrDisconnected), err == nil:
	case errors.As(err, &exit):
		os.Exit(exit.Code) // only main does this
	default:
		fmt.Fprintln(os.Stderr, err)
	}
}
