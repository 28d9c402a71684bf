package sshclient

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// hostSettings are the ~/.ssh/config values sshclient honours for a target.
type hostSettings struct {
	User           string   // first User that applies
	IdentityFiles  []string // every IdentityFile that applies, in file order, unexpanded
	IdentitiesOnly bool
}

// maxIncludeDepth bounds Include recursion (OpenSSH uses 16).
const maxIncludeDepth = 16

// sshConfigReader evaluates an OpenSSH client configuration for a set of
// names (the instance ID and the Name tag). It understands what sshclient
// needs and no more: Host blocks with wildcards and negation, "Match all" and
// "Match host", Include (relative to ~/.ssh, with globs), and the User,
// IdentityFile and IdentitiesOnly keywords. First obtained value wins, as in
// ssh_config(5). Other Match criteria (exec, user, …) are never evaluated:
// their blocks are treated as not matching, so a config can never run
// commands or change sshclient's behaviour in ways it cannot explain.
type sshConfigReader struct {
	sshDir  string   // base for relative Include paths
	aliases []string // names a Host pattern may match
	out     hostSettings
	userSet bool
	onlySet bool
}

// readSSHConfig evaluates the config file at file for aliases. A missing file
// yields empty settings and no error.
func readSSHConfig(file string, aliases []string) (hostSettings, error) {
	r := &sshConfigReader{sshDir: filepath.Dir(file), aliases: aliases}
	if err := r.readFile(file, 0); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return hostSettings{}, nil
		}
		return hostSettings{}, err
	}
	return r.out, nil
}

func (r *sshConfigReader) readFile(file string, depth int) error {
	if depth > maxIncludeDepth {
		return fmt.Errorf("read ssh config %s: Include nested deeper than %d", file, maxIncludeDepth)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	active := true // the implicit "Host *" at the top of every file
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for lineNo := 1; sc.Scan(); lineNo++ {
		key, args, err := splitConfigLine(sc.Text())
		if err != nil {
			return fmt.Errorf("read ssh config %s line %d: %w", file, lineNo, err)
		}
		switch key {
		case "":
			continue
		case "host":
			active = r.matchHost(args)
			continue
		case "match":
			active = r.matchMatch(args)
			continue
		}
		if !active {
			continue
		}
		switch key {
		case "include":
			for _, pattern := range args {
				if err := r.include(pattern, depth); err != nil {
					return err
				}
			}
		case "user":
			if !r.userSet && len(args) > 0 {
				r.out.User, r.userSet = args[0], true
			}
		case "identityfile":
			if len(args) > 0 {
				r.out.IdentityFiles = append(r.out.IdentityFiles, args[0])
			}
		case "identitiesonly":
			if !r.onlySet && len(args) > 0 {
				r.out.IdentitiesOnly, r.onlySet = strings.EqualFold(args[0], "yes"), true
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read ssh config %s: %w", file, err)
	}
	return nil
}

// include reads the files matching pattern; relative patterns are relative to
// the directory of the user config (~/.ssh), as in ssh_config(5).
func (r *sshConfigReader) include(pattern string, depth int) error {
	if strings.HasPrefix(pattern, "~/") {
		// The config directory stands in for ~/.ssh, so ~ is its parent.
		pattern = filepath.Join(filepath.Dir(r.sshDir), pattern[2:])
	} else if !filepath.IsAbs(pattern) {
		pattern = filepath.Join(r.sshDir, pattern)
	}
	files, err := filepath.Glob(pattern)
	if err != nil {
		return fmt.Errorf("expand ssh config Include %s: %w", pattern, err)
	}
	for _, f := range files {
		if err := r.readFile(f, depth+1); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// matchHost reports whether a Host line applies: some alias matches a
// positive pattern and no negated pattern.
func (r *sshConfigReader) matchHost(patterns []string) bool {
	for _, alias := range r.aliases {
		if alias != "" && matchPatternList(patterns, alias) {
			return true
		}
	}
	return false
}

// matchMatch evaluates "Match all" and "Match host a,b"; every other
// criterion makes the block inactive.
func (r *sshConfigReader) matchMatch(args []string) bool {
	if len(args) == 1 && strings.EqualFold(args[0], "all") {
		return true
	}
	if len(args) == 2 && strings.EqualFold(args[0], "host") {
		return r.matchHost(strings.Split(args[1], ","))
	}
	return false
}

// matchPatternList applies ssh_config(5) PATTERNS to one name.
func matchPatternList(patterns []string, name string) bool {
	matched := false
	name = strings.ToLower(name)
	for _, p := range patterns {
		neg := strings.HasPrefix(p, "!")
		p = strings.ToLower(strings.TrimPrefix(p, "!"))
		if ok, err := path.Match(p, name); err != nil || !ok {
			continue
		}
		if neg {
			return false
		}
		matched = true
	}
	return matched
}

// splitConfigLine returns the lower-cased keyword and its arguments. Blank
// lines and comments give an empty keyword. "Key value", "Key=value" and
// double-quoted arguments are accepted.
func splitConfigLine(line string) (string, []string, error) {
	line = strings.TrimSpace(line)
	if line == "" || strings.HasPrefix(line, "#") {
		return "", nil, nil
	}
	end := strings.IndexAny(line, " \t=")
	if end < 0 {
		return strings.ToLower(line), nil, nil
	}
	key := strings.ToLower(line[:end])
	rest := strings.TrimLeft(line[end:], " \t")
	if strings.HasPrefix(rest, "=") {
		rest = strings.TrimLeft(rest[1:], " \t")
	}
	var args []string
	for rest != "" {
		if rest[0] == '"' {
			i := strings.IndexByte(rest[1:], '"')
			if i < 0 {
				return "", nil, fmt.Errorf("unterminated quote in %q", line)
			}
			args = append(args, rest[1:i+1])
			rest = strings.TrimLeft(rest[i+2:], " \t")
			continue
		}
		i := strings.IndexAny(rest, " \t")
		if i < 0 {
			args = append(args, rest)
			break
		}
		args = append(args, rest[:i])
		rest = strings.TrimLeft(rest[i:], " \t")
	}
	return key, args, nil
}

// expandIdentityPath expands ~ and the ssh_config(5) tokens sshclient can
// know (%d home, %u local user, %h and %n the instance ID, %r the remote user,
// %%) in an IdentityFile value.
func expandIdentityPath(p, home, localUser, host, remoteUser string) string {
	if p == "~" {
		return home
	}
	if strings.HasPrefix(p, "~/") {
		p = filepath.Join(home, p[2:])
	}
	if !strings.Contains(p, "%") {
		return p
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] != '%' || i+1 == len(p) {
			b.WriteByte(p[i])
			continue
		}
		i++
		switch p[i] {
		case 'd':
			b.WriteString(home)
		case 'u':
			b.WriteString(localUser)
		case 'h', 'n':
			b.WriteString(host)
		case 'r':
			b.WriteString(remoteUser)
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			b.WriteByte(p[i])
		}
	}
	return b.String()
}
