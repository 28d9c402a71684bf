// Command ssmtui is a terminal picker and toolkit for reaching EC2 and
// on-prem instances through AWS Systems Manager, with SSH carried over the
// Session Manager data channel in-process.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// command is one subcommand. run gets the arguments after the subcommand
// name and returns the process exit code through exitError (or nil for 0).
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *cliEnv, args []string) error
}

// cliEnv is what a subcommand may touch of the process: streams and
// environment, so tests can run subcommands in-process.
type cliEnv struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

var commands = map[string]command{}

// register adds a subcommand; each subcommand file calls it from init.
func register(c command) { commands[c.name] = c }

// exitError carries a process exit code through a subcommand's error return
// (for example the remote exit status of `ssmtui exec`).
type exitError struct {
	code int
	err  error // optional message already reported, or the cause
}

func (e *exitError) Error() string {
	if e.err != nil {
		return e.err.Error()
	}
	return fmt.Sprintf("exit status %d", e.code)
}

func (e *exitError) Unwrap() error { return e.err }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	env := &cliEnv{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	code := runMain(ctx, env, os.Args[1:])
	stop()
	os.Exit(code)
}

// runMain dispatches to a subcommand and maps its error to an exit code.
func runMain(ctx context.Context, env *cliEnv, args []string) int {
	name := "pick"
	if len(args) > 0 {
		switch args[0] {
		case "-h", "--help", "help":
			usage(env.stdout)
			return 0
		}
		if _, ok := commands[args[0]]; ok {
			name, args = args[0], args[1:]
		}
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(env.stderr, "ssmtui: unknown command %q\n", args[0])
		usage(env.stderr)
		return 2
	}
	err := c.run(ctx, env, args)
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintf(env.stderr, "ssmtui %s: %v\n", name, ee.err)
		}
		return ee.code
	}
	fmt.Fprintf(env.stderr, "ssmtui %s: %v\n", name, err)
	return 1
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: ssmtui [command] [flags]")
	fmt.Fprintln(w, "\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, commands[n].summary)
	}
}

// newFlagSet returns a subcommand's flag set: errors and help go to
// env.stderr, and -h prints the usage lines, then "flags:" and the defaults.
func newFlagSet(env *cliEnv, name string, usage ...string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.Usage = func() {
		for _, l := range usage {
			fmt.Fprintln(env.stderr, l)
		}
		fmt.Fprintln(env.stderr, "\nflags:")
		fs.PrintDefaults()
	}
	return fs
}
