package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/ssmtui/ssmtui/inventory"
)

func init() {
	register(command{
		name:    "list",
		summary: "list SSM-managed instances over profiles and regions (table or --json)",
		run:     runList,
	})
}

// listFlags are the flags of `ssmtui list`.
type listFlags struct {
	profiles    string
	allProfiles bool
	regions     string
	json        bool
	filter      string
	tags        []string
	online      bool
	noCache     bool
	concurrency int
	timeout     time.Duration
}

func (f *listFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.profiles, "profile", "", "comma-separated AWS `profiles` (default: $AWS_PROFILE or default)")
	fs.BoolVar(&f.allProfiles, "all-profiles", false, "scan every profile of the shared config and credentials files")
	fs.StringVar(&f.regions, "region", "", "comma-separated `regions` to scan (default: every enabled region)")
	fs.BoolVar(&f.json, "json", false, "print one JSON array of instances (field names: inventory.Instance)")
	fs.StringVar(&f.filter, "filter", "", "keep instances whose name, ID, IP, DNS name, platform or tag values contain `text` (case-insensitive)")
	fs.Func("tag", "keep instances with tag `KEY=VALUE` (KEY alone: the tag exists); repeatable, all must match", func(s string) error {
		f.tags = append(f.tags, s)
		return nil
	})
	fs.BoolVar(&f.online, "online", false, "only instances whose SSM agent is Online")
	fs.BoolVar(&f.noCache, "no-cache", false, "do not show cached rows for regions that fail (the cache is still refreshed)")
	fs.IntVar(&f.concurrency, "concurrency", 16, "(profile, region) scans at once")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Second, "per API call timeout, retries included")
}

// runList implements `ssmtui list`. Per-region failures go to stderr; the
// exit code is 0 if any region answered live, 2 if none did.
func runList(ctx context.Context, env *cliEnv, args []string) error {
	var f listFlags
	fs := flag.NewFlagSet("ssmtui list", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		return flagError(err)
	}
	if fs.NArg() > 0 {
		return usageError("unexpected argument %q", fs.Arg(0))
	}
	match, err := f.matcher()
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	profiles, err := selectProfiles(env, f.profiles, f.allProfiles)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	mfa := stdinMFA(env)
	opts := inventory.Options{
		Profiles: profiles,
		Regions:  splitList(f.regions),
		LoadConfig: func(ctx context.Context, profile string) (aws.Config, error) {
			return loadAWSConfig(ctx, env, awsOptions{Profile: profile, MFA: mfa})
		},
		Concurrency:   f.concurrency,
		CallTimeout:   f.timeout,
		CacheDir:      cacheDir(env),
		SkipCacheRead: f.noCache,
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if err := opts.Validate(); err != nil {
		return &exitError{code: 2, err: err}
	}

	cached := map[string]inventory.Result{}
	var live []inventory.Result
	inventory.NewScanner(opts).Scan(ctx, func(r inventory.Result) {
		if r.FromCache {
			cached[r.Profile+"\x00"+r.Region] = r
			return
		}
		live = append(live, r)
	})

	var rows []inventory.Instance
	answered := 0
	for _, r := range live {
		if r.Partial != nil {
			fmt.Fprintf(env.stderr, "ssmtui list: warning: %v\n", r.Partial)
		}
		if r.Err == nil {
			answered++
			rows = append(rows, r.Instances...)
			continue
		}
		fmt.Fprintf(env.stderr, "ssmtui list: %v\n", r.Err)
		if c, ok := cached[r.Profile+"\x00"+r.Region]; ok && !f.noCache {
			fmt.Fprintf(env.stderr, "ssmtui list: showing %d cached rows for %s %s from %s ago\n",
				len(c.Instances), r.Profile, r.Region, time.Since(c.Fetched).Round(time.Second))
			rows = append(rows, c.Instances...)
		}
	}
	rows = slices.DeleteFunc(rows, func(in inventory.Instance) bool { return !match(in) })
	slices.SortFunc(rows, func(a, b inventory.Instance) int {
		return cmp.Or(cmp.Compare(a.Profile, b.Profile), cmp.Compare(a.Region, b.Region), cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID))
	})
	if f.json {
		err = writeJSON(env.stdout, rows)
	} else {
		err = writeTable(env.stdout, rows)
	}
	if err != nil {
		return fmt.Errorf("write list: %w", err)
	}
	if answered == 0 {
		return &exitError{code: 2, err: errors.New("no region answered")}
	}
	return nil
}

// matcher builds the row predicate of --filter, --tag and --online.
func (f *listFlags) matcher() (func(inventory.Instance) bool, error) {
	type tagWant struct {
		key, value string
		any        bool
	}
	var tags []tagWant
	for _, t := range f.tags {
		k, v, ok := strings.Cut(t, "=")
		if k == "" {
			return nil, fmt.Errorf("--tag %q: want KEY=VALUE or KEY", t)
		}
		tags = append(tags, tagWant{key: k, value: v, any: !ok})
	}
	text := strings.ToLower(f.filter)
	return func(in inventory.Instance) bool {
		if f.online && !in.Online() {
			return false
		}
		for _, t := range tags {
			v, ok := in.Tags[t.key]
			if t.key == "Name" && !ok && in.Name != "" {
				v, ok = in.Name, true
			}
			if !ok || (!t.any && v != t.value) {
				return false
			}
		}
		if text == "" {
			return true
		}
		fields := []string{in.Name, in.ID, in.PrivateIP, in.PublicIP, in.PrivateDNS, in.PublicDNS, in.ComputerName,
			in.PlatformName, in.Region, in.Profile}
		for _, v := range in.Tags {
			fields = append(fields, v)
		}
		return slices.ContainsFunc(fields, func(s string) bool { return strings.Contains(strings.ToLower(s), text) })
	}, nil
}

// writeJSON prints one array; its elements are inventory.Instance, whose
// JSON field names are the documented, stable interface of `list --json`.
func writeJSON(w io.Writer, rows []inventory.Instance) error {
	if rows == nil {
		rows = []inventory.Instance{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rows)
}

// writeTable prints the human table: Name, ID, private IP, platform, ping
// status, agent version (with * when an update is available), region,
// profile.
func writeTable(w io.Writer, rows []inventory.Instance) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tID\tPRIVATE IP\tPLATFORM\tPING\tAGENT\tREGION\tPROFILE")
	for _, in := range rows {
		platform := strings.TrimSpace(in.PlatformName + " " + in.PlatformVersion)
		if in.PlatformType == "Windows" {
			platform = in.PlatformName // "… Windows Server 2022 …" already names the release
		}
		agent := in.AgentVersion
		if agent != "" && !in.IsLatestVersion {
			agent += "*"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", dash(in.Name), in.ID, dash(in.PrivateIP), dash(platform),
			dash(in.PingStatus), dash(agent), in.Region, in.Profile)
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func splitList(s string) []string {
	var out []string
	for v := range strings.SplitSeq(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// cacheDir is the inventory cache directory: $SSMTUI_CACHE_DIR, else
// $XDG_CACHE_HOME/ssmtui/inventory, else the user cache dir.
func cacheDir(env *cliEnv) string {
	if d := env.getenv("SSMTUI_CACHE_DIR"); d != "" {
		return d
	}
	if d := env.getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "ssmtui", "inventory")
	}
	return inventory.DefaultCacheDir()
}
