package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

func init() {
	register(command{
		name:    "ssh-config",
		summary: "print the ~/.ssh/config block that makes ssh, scp, sftp and rsync reach i-*/mi-* through ssmtui",
		run:     runSSHConfig,
	})
}

// runSSHConfig prints a Host block for ~/.ssh/config whose ProxyCommand is
// `ssmtui proxy %h %p`, passing --profile and --region through.
func runSSHConfig(_ context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "ssmtui ssh-config",
		"usage: ssmtui ssh-config [flags] >> ~/.ssh/config",
		"\nPrints a Host block so that `ssh ec2-user@i-0123…`, scp, sftp and rsync go through",
		"Session Manager via `ssmtui proxy` (no session-manager-plugin, no AWS CLI).",
	)
	profile := fs.String("profile", "", "AWS `profile` the proxy uses (default: the proxy's $AWS_PROFILE, else default)")
	region := fs.String("region", "", "AWS `region` the proxy looks in (default: every enabled region, through the inventory cache)")
	hosts := fs.String("host", "i-* mi-*", "Host `patterns` of the block")
	binary := fs.String("binary", "", "ssmtui `path` in the ProxyCommand (default: this executable)")
	eicKey := fs.String("eic-key", "", "public key `file` to push with EC2 Instance Connect for the login user (%r) on every connection")
	if err := fs.Parse(args); err != nil {
		return flagError(err)
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return usageError("ssh-config takes no arguments")
	}
	bin := *binary
	if bin == "" {
		bin = "ssmtui"
		if exe, err := os.Executable(); err == nil {
			if abs, err := filepath.EvalSymlinks(exe); err == nil && !strings.Contains(abs, string(os.PathSeparator)+"go-build") {
				bin = abs
			}
		}
	}
	proxy := []string{quoteSSHArg(bin), "proxy"}
	if *profile != "" {
		proxy = append(proxy, "--profile", quoteSSHArg(*profile))
	}
	if *region != "" {
		proxy = append(proxy, "--region", quoteSSHArg(*region))
	}
	if *eicKey != "" {
		proxy = append(proxy, "--eic-key", quoteSSHArg(*eicKey), "--user", "%r")
	}
	proxy = append(proxy, "%h", "%p")
	w := env.stdout
	fmt.Fprintln(w, "# ssmtui: SSH through AWS Systems Manager Session Manager (no plugin, no inbound port 22).")
	fmt.Fprintln(w, "# Replaces the `aws ssm start-session ... AWS-StartSSHSession` ProxyCommand recipe.")
	if *profile == "" && *region == "" {
		fmt.Fprintln(w, "# Add --profile P and --region R after `proxy` to pin an account and region.")
	}
	fmt.Fprintf(w, "Host %s\n", *hosts)
	fmt.Fprintf(w, "    ProxyCommand %s\n", strings.Join(proxy, " "))
	fmt.Fprintln(w, "    # Session Manager ends idle sessions (20 minutes by default); SSH keepalives are stream data, which counts as activity.")
	fmt.Fprintln(w, "    ServerAliveInterval 30")
	fmt.Fprintln(w, "    ServerAliveCountMax 3")
	fmt.Fprintln(w, "    # Each instance ID names one instance: accepting a new instance's first key is the usual choice; a changed key still fails.")
	fmt.Fprintln(w, "    StrictHostKeyChecking accept-new")
	return nil
}

// quoteSSHArg quotes s for a ProxyCommand line (run by /bin/sh) when it
// contains characters the shell would interpret.
func quoteSSHArg(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`!*?[]{}()<>|&;#") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
