package main

import (
	"context"
	"fmt"

	"golang.org/x/crypto/ssh"

	"github.com/ssmtui/ssmtui/sshclient"
)

func init() {
	register(command{
		name:    "known-hosts",
		summary: "show or forget host keys in ssmtui's known_hosts (known-hosts forget ID, known-hosts list ID, known-hosts path)",
		run:     runKnownHosts,
	})
}

// runKnownHosts is `ssmtui known-hosts forget ID…`, `known-hosts list
// ID…` and `known-hosts path`: the file sshclient checks host keys
// against (os.UserConfigDir()/ssmtui/known_hosts, keyed by instance ID).
// A changed host key makes connecting fail and names `forget` (see
// sshclient.ForgetCommand).
func runKnownHosts(_ context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "ssmtui known-hosts",
		"usage: ssmtui known-hosts forget INSTANCE-ID…   remove stored host keys (after an instance was rebuilt)",
		"       ssmtui known-hosts list INSTANCE-ID…     show stored keys and fingerprints",
		"       ssmtui known-hosts path                  print the file's path",
	)
	file := fs.String("file", "", "known_hosts `file` (default: the user config dir's ssmtui/known_hosts)")
	pos, _, err := parseInterspersed(fs, args)
	if err != nil {
		return flagError(err)
	}
	if len(pos) == 0 {
		fs.Usage()
		return usageError("known-hosts needs a subcommand: forget, list or path")
	}
	hk, err := sshclient.OpenHostKeys(*file)
	if err != nil {
		return fmt.Errorf("open known_hosts: %w", err)
	}
	switch sub, ids := pos[0], pos[1:]; sub {
	case "forget":
		if len(ids) == 0 {
			return usageError("known-hosts forget needs an instance ID")
		}
		for _, id := range ids {
			n, err := hk.Forget(id)
			if err != nil {
				return fmt.Errorf("forget host keys of %s: %w", id, err)
			}
			if n == 0 {
				fmt.Fprintf(env.stderr, "no host key stored for %s in %s\n", id, hk.Path())
				continue
			}
			fmt.Fprintf(env.stderr, "removed %d host key(s) of %s from %s; the next connection asks again\n", n, id, hk.Path())
		}
		return nil
	case "list":
		if len(ids) == 0 {
			return usageError("known-hosts list needs an instance ID (the file is %s)", hk.Path())
		}
		for _, id := range ids {
			keys, err := hk.Known(id)
			if err != nil {
				return fmt.Errorf("read host keys of %s: %w", id, err)
			}
			for _, k := range keys {
				fmt.Fprintf(env.stdout, "%s %s %s\n", id, k.Key.Type(), ssh.FingerprintSHA256(k.Key))
			}
		}
		return nil
	case "path":
		fmt.Fprintln(env.stdout, hk.Path())
		return nil
	default:
		fs.Usage()
		return usageError("unknown known-hosts subcommand %q", sub)
	}
}
